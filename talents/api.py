"""Shared pieces of the HTTP API: the database session dependency and the page schema."""

from __future__ import annotations

from collections.abc import Generator
from typing import Annotated, Generic, TypeVar

from litestar.params import Parameter
from pydantic import BaseModel
from sqlmodel import Session

from talents.db import get_engine

__all__ = ["Limit", "Offset", "Page", "provide_db_session"]

T = TypeVar("T")

Limit = Annotated[int, Parameter(ge=1, le=500, description="Items per page")]
Offset = Annotated[int, Parameter(ge=0, le=10_000_000, description="Items to skip")]


class Page(BaseModel, Generic[T]):
    """A page of a list: the items, the total matching count, and where the page starts."""

    data: list[T]
    count: int
    limit: int
    offset: int


def provide_db_session() -> Generator[Session, None, None]:
    """One session per request, committed when the handler succeeds, rolled back otherwise."""
    session = Session(get_engine(), expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
