"""Sign-in and sign-out: OpenID Connect (ProConnect) and the demo's e-mail sign-in."""

from __future__ import annotations

from typing import Any

__all__ = ["route_handlers"]

route_handlers: list[Any] = []
