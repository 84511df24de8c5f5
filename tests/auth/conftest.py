"""Fixtures of the auth tests: real users and tokens in the database, an app client per backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from talents.auth.testing import auth_headers, issue_token


@pytest.fixture
def token_for(engine: Engine) -> Callable[..., str]:
    """``token_for("x@y.fr", "lead")``: a real API token for that user and roles."""

    def make(email: str, *roles: str) -> str:
        return issue_token(engine, email, *roles)

    return make


@pytest.fixture
def as_role(token_for: Callable[..., str]) -> Callable[..., dict[str, str]]:
    """Authorization headers of a fresh user holding ``roles``."""

    def make(email: str, *roles: str) -> dict[str, str]:
        return auth_headers(token_for(email, *roles))

    return make


@pytest.fixture
def admin(as_role: Callable[..., dict[str, str]]) -> dict[str, str]:
    return as_role("admin@talents.gouv.fr", "admin")


@pytest.fixture
def sqlite_client(sqlite_engine: Engine) -> Iterator[Any]:
    from litestar.testing import TestClient

    from talents.app import create_app

    with TestClient(create_app()) as c:
        yield c
