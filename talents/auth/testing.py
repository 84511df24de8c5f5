"""Helpers for test suites: real users and real API tokens, written straight into the database.

    from talents.auth.testing import issue_token, auth_headers
    token = issue_token(engine, "lead@example.gouv.fr", "lead")
    client.get("/api/v1/needs", headers=auth_headers(token))
"""

from __future__ import annotations

from sqlalchemy import Engine

from talents.auth.service import TokenService, UserService
from talents.kernel.db import session_scope

__all__ = ["auth_headers", "issue_token"]


def issue_token(engine: Engine, email: str, *roles: str, name: str = "test") -> str:
    """Create (or complete) the user ``email`` with ``roles`` and return a new API token for it."""
    with session_scope(engine) as session:
        user = UserService(session).ensure(email, roles)
        return TokenService(session).create(user, name).token


def auth_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
