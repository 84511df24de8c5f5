"""What every command of the ``talents`` command line shares: database preparation, logs, progress, reports."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from talents.kernel.db import at_head, migrate, read_connection, session_scope
from talents.kernel.logs import configure_logging
from talents.kernel.settings import get_settings
from talents.ranking_tables import skill

if TYPE_CHECKING:
    from talents.kernel.bulk import ImportReport

__all__ = ["err", "existing", "prepare", "print_report", "progress_bar", "quiet_stdout"]

err = Console(stderr=True)


def prepare(*, reading: bool = False) -> None:
    """Every command creates or migrates the database as needed, and loads the default taxonomy.

    ``reading``: a command that only reads (``talents match``) compares the database's revision with the head
    known to the code and runs Alembic only when they differ (importing it and walking the migrations
    costs more than the command's own work on a repeat call), and goes on at once when the taxonomy is loaded."""
    current = reading and at_head()
    if current and _has_active_skill():
        return
    if not current:
        migrate()
    # imported here: the taxonomy service brings the profiles' models, which a prepared database does not need
    from profiles.taxonomy import TaxonomyService

    with session_scope() as session:
        TaxonomyService(session).ensure_default()


def _has_active_skill() -> bool:
    """Whether the taxonomy is loaded (what :meth:`TaxonomyService.ensure_default` checks first), in one query."""
    with read_connection() as conn:
        return conn.execute(sa.select(skill.c.id).where(skill.c.status == "active").limit(1)).first() is not None


def quiet_stdout() -> None:
    """Logs go to stderr: with --json, stdout carries the document only."""
    settings = get_settings()
    configure_logging(settings.app.log_level, settings.app.log_json)


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A progress bar on a terminal; silence when the output is redirected."""
    if not sys.stderr.isatty():
        yield lambda _n: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


def print_report(report: ImportReport, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        err.print(
            f"{report.lines} lines: {report.created} created, {report.updated} updated, {len(report.errors)} rejected"
        )
        for e in report.errors[:200]:
            err.print(f"  line {e.line}: {e.reason}", markup=False)
        for w in report.warnings[:200]:
            err.print(f"  line {w.line} (imported, warning): {w.reason}", markup=False)
        if len(report.errors) > 200:
            err.print(f"  … and {len(report.errors) - 200} more (use --json for all)")


def existing(path: Path) -> Path:
    if not path.is_file():
        raise typer.BadParameter(f"{path} is not a readable file")
    return path
