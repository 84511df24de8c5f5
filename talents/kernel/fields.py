"""Field types and input rules shared by the schemas of every package."""

from __future__ import annotations

import re
import types
from datetime import date, timedelta
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel, Field, ValidationInfo, field_validator

from talents.kernel.errors import ValidationFailedError

__all__ = [
    "FIRST_DAY",
    "LAST_DAY",
    "MAX_PERIOD",
    "Email",
    "ProgrammeDate",
    "StrictNumbers",
    "check_period",
    "is_valid_email",
    "nul_path",
    "period_end",
    "refuse_nulls",
    "same_email",
]

# Syntax only, on purpose: one local part, one "@", a dotted domain, no spaces or control characters.
# Deliverability is proven by the mail itself; a full RFC 5322 parser costs ~0.3 ms a call, which
# dominates a 100 000-line import.
_EMAIL = re.compile(r"[^@\s\x00-\x1f\x7f<>,;:\"()\[\]\\]{1,64}@(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,63}")


def is_valid_email(value: str, *, ascii_only: bool = False) -> bool:
    """A plain ``local@domain`` address: no display name, no spaces, no control characters, nothing a mail
    header could abuse. ``ascii_only`` for what is sent by mail (no SMTPUTF8 relay is assumed)."""
    if len(value) > 254 or (ascii_only and not value.isascii()):
        return False
    return bool(_EMAIL.fullmatch(value))


def _check_email(value: str) -> str:
    value = value.strip()
    if not is_valid_email(value):
        raise ValueError("value is not a valid e-mail address")
    local, domain = value.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


Email = Annotated[str, Field(max_length=254), AfterValidator(_check_email)]
"""An e-mail address (syntax checked, domain lower-cased)."""

# The programme's calendar: periods and windows fall within these days, and last no longer than MAX_PERIOD
# (year 1 to 9999 would be accepted by the types, and day-by-day availability arithmetic over it takes seconds).
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2100, 12, 31)
MAX_PERIOD = timedelta(days=5 * 366)


def _in_programme_years(day: date) -> date:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"date must be between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}")
    return day


ProgrammeDate = Annotated[date, AfterValidator(_in_programme_years)]
"""A day of a need's period or of an availability window (2000–2100)."""


def check_period(start: date, end: date) -> None:
    """``end`` not before ``start``, and the period no longer than :data:`MAX_PERIOD` (ValueError if not)."""
    if end < start:
        raise ValueError("end must not be before start")
    if end - start > MAX_PERIOD:
        raise ValueError(f"the period must not last more than {MAX_PERIOD.days // 366} years")


def period_end(cls: type, end: date, info: ValidationInfo) -> date:
    """A field validator of ``end`` (``field_validator("end")(period_end)``): the period it closes is one of
    the programme's (errors are then reported on ``end``)."""
    start = info.data.get("start")
    if isinstance(start, date):
        check_period(start, end)
    return end


def _number_kind(annotation: Any, *, items: bool = False) -> type | None:
    """``int`` or ``float`` for a numeric field — with ``items``, for a list of numbers — optional or annotated,
    else None."""
    if get_origin(annotation) is Annotated:
        return _number_kind(get_args(annotation)[0], items=items)
    if get_origin(annotation) in (Union, types.UnionType):
        kinds = {_number_kind(a, items=items) for a in get_args(annotation) if a is not type(None)}
        return kinds.pop() if len(kinds) == 1 else None
    if items:
        args = get_args(annotation)
        return _number_kind(args[0]) if get_origin(annotation) in (list, tuple, set, frozenset) and args else None
    return annotation if annotation in (int, float) else None


class StrictNumbers(BaseModel):
    """Numbers are numbers: ``true`` is not taken as 1 (nor ``false`` as 0) by a numeric field, nor by an item
    of a list of numbers."""

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name) if info.field_name is not None else None
        if field is None:
            return value
        if isinstance(value, bool):
            kind = _number_kind(field.annotation)
            if kind is not None:
                raise ValueError(f"must be {'an integer' if kind is int else 'a number'}, not a boolean")
        elif isinstance(value, list | tuple) and any(isinstance(v, bool) for v in value):
            kind = _number_kind(field.annotation, items=True)
            if kind is not None:
                raise ValueError(f"must be a list of {'integers' if kind is int else 'numbers'}, not booleans")
        return value


def nul_path(value: Any, path: str = "") -> str | None:
    """Where a NUL character (``\\u0000``) hides in a decoded document (``skills.0.name``), else None.

    Databases refuse it (PostgreSQL) or keep it invisibly (SQLite): it is refused at the door, by name."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return where or "body"
        elif isinstance(item, dict):
            for key, child in item.items():
                name = f"{where}.{key}" if where else str(key)
                if isinstance(key, str) and "\x00" in key:
                    return name
                stack.append((name, child))
        elif isinstance(item, list):
            stack.extend((f"{where}.{i}" if where else str(i), child) for i, child in enumerate(item))
    return None


def refuse_nulls(changes: dict[str, Any], *required: str) -> None:
    """A partial update may leave a field out, not set a required one to null (422 naming it)."""
    for name in required:
        if name in changes and changes[name] is None:
            raise ValidationFailedError(f"{name} cannot be null", field=name)


def same_email(a: str | None, b: str | None) -> bool:
    """Two addresses name the same mailbox (case and surrounding spaces aside); an empty one matches nothing."""
    return bool(a and b) and str(a).strip().lower() == str(b).strip().lower()
