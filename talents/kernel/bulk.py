"""The bulk contract's common parts: reading documents line by line and reporting bad lines."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from talents.kernel.fields import nul_path

__all__ = [
    "ImportReport",
    "LineError",
    "Progress",
    "count_lines",
    "describe_validation_error",
    "read_csv_lines",
    "read_jsonl",
    "read_records",
]

Progress = Callable[[int], None]
"""Called with the number of lines just processed (drives the CLI progress bar)."""


@dataclass(frozen=True)
class LineError:
    line: int
    reason: str
    external_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "reason": self.reason, "external_id": self.external_id}


@dataclass
class ImportReport:
    """What an import did: counts, every bad line with its number and reason, and the warnings of lines
    imported with a change (two names of one skill merged, say)."""

    lines: int = 0
    created: int = 0
    updated: int = 0
    errors: list[LineError] = field(default_factory=list)
    warnings: list[LineError] = field(default_factory=list)

    def merge(self, other: ImportReport) -> None:
        """Add another report's counts, errors and warnings (lines are counted by the caller)."""
        self.created += other.created
        self.updated += other.updated
        self.errors.extend(other.errors)
        self.warnings.extend(other.warnings)

    @property
    def imported(self) -> int:
        return self.created + self.updated

    def to_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "created": self.created,
            "updated": self.updated,
            "imported": self.imported,
            "rejected": len(self.errors),
            "errors": [e.to_dict() for e in self.errors],
            "warnings": [w.to_dict() for w in self.warnings],
        }


def describe_validation_error(exc: ValidationError) -> str:
    """One readable sentence per problem, naming the field: ``skills.1.level: Input should be ≤ 5``."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ())) or "document"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def read_jsonl(stream: IO[str]) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """Yields (line number, document, error) for every non-blank line of a JSON Lines stream."""
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, None, f"invalid JSON: {exc.msg} at column {exc.colno}"
            continue
        except RecursionError:
            yield number, None, "invalid JSON: nested too deeply"
            continue
        if not isinstance(doc, dict):
            yield number, None, "each line must be a JSON object"
            continue
        yield number, doc, _nul_error(doc)


def _nul_error(doc: dict[str, Any]) -> str | None:
    """A line with a NUL character (``\\u0000``) is refused by name; the database would refuse its batch."""
    where = nul_path(doc)
    return None if where is None else f"{where}: NUL characters (\\u0000) are not allowed"


def read_csv_lines(stream: IO[str]) -> Iterator[tuple[int, dict[str, str], str | None]]:
    """Yields (line number in the file, row, error) for a CSV with a header line."""
    sample = stream.read(4096)
    if stream.seekable():
        stream.seek(0)
    else:  # read the sniffed sample again, in front of the rest
        stream = io.StringIO(sample + stream.read())
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel  # type: ignore[assignment]
    reader = csv.DictReader(stream, dialect=dialect)
    for row in reader:
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue
        extra = row.pop(None, None)  # type: ignore[call-overload]
        yield reader.line_num, row, ("too many columns" if extra else _nul_error(row))


def read_records(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """JSON Lines by default; CSV when the file name ends in ``.csv``."""
    with path.open(encoding="utf-8-sig", newline="") as stream:
        if path.suffix.lower() == ".csv":
            yield from read_csv_lines(stream)
        else:
            yield from read_jsonl(stream)


def count_lines(path: Path) -> int:
    """Lines in a file, for the progress bar's total (fast: counts newline bytes)."""
    with path.open("rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
