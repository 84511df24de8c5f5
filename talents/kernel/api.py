"""Shared pieces of the HTTP API: the database session dependency and the page schema."""

from __future__ import annotations

import io
from collections.abc import Generator
from typing import Annotated, Any, Generic, TypeVar

from litestar import Request
from litestar.params import Parameter
from pydantic import BaseModel
from sqlmodel import Session

from talents.kernel.bulk import read_csv_lines, read_jsonl
from talents.kernel.db import get_engine
from talents.kernel.errors import ValidationFailedError

__all__ = ["Limit", "Offset", "Page", "provide_db_session", "read_upload_records"]

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


async def read_upload_records(request: Request) -> tuple[list[tuple[int, Any, str | None]], bool]:
    """The lines of an uploaded document: CSV when the content type says so, JSON Lines otherwise."""
    raw = await request.body()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailedError("body: the document must be UTF-8 text", field="body") from exc
    is_csv = "csv" in (request.headers.get("content-type") or "")
    stream = io.StringIO(text, newline="")
    records = list(read_csv_lines(stream) if is_csv else read_jsonl(stream))
    return records, is_csv
