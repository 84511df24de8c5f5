"""GDPR: export and erasure of one's own data."""

from __future__ import annotations

from typing import Any

__all__ = ["route_handlers"]

route_handlers: list[Any] = []
