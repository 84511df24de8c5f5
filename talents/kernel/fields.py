"""Field types shared by the schemas of every package."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

__all__ = ["Email"]

# Syntax only, on purpose: one local part, one "@", a dotted domain, no spaces or control characters.
# Deliverability is proven by the mail itself; a full RFC 5322 parser costs ~0.3 ms a call, which
# dominates a 100 000-line import.
_EMAIL = re.compile(r"[^@\s\x00-\x1f\x7f<>,;:\"()\[\]\\]{1,64}@(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,63}")


def _check_email(value: str) -> str:
    value = value.strip()
    if not _EMAIL.fullmatch(value):
        raise ValueError("value is not a valid e-mail address")
    local, domain = value.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


Email = Annotated[str, Field(max_length=254), AfterValidator(_check_email)]
