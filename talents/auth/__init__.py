"""Sign-in (OpenID Connect / ProConnect, local demo sign-in), sessions, API tokens, roles and rules."""
