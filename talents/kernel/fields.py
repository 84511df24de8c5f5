"""Field types shared by the schemas of every package."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

__all__ = ["Email", "is_valid_email"]

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
