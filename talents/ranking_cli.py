"""``talents match``: ranked eligible candidates of a role, per the bulk contract (docs/design.md)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from talents.cli_support import prepare, quiet_stdout
from talents.kernel.db import read_connection
from talents.kernel.errors import DomainError
from talents.ranking_index import RankingReader, find_need, find_role

__all__ = ["register"]


def match(
    need: Annotated[str, typer.Argument(help="The need: numeric database id, else external id")],
    role: Annotated[int, typer.Option("--role", min=0, help="Role position in the need (0-based)")] = 0,
    top: Annotated[int, typer.Option("--top", min=1, max=10_000, help="How many candidates")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (the bulk contract)")] = False,
) -> None:
    """Rank the eligible candidates of role N of a need, best first.

    With --json: ``[{"agent": external_id, "score": float, "explanation": {...}}]``.
    """
    quiet_stdout()
    prepare(reading=True)
    try:
        # Core queries on a plain connection: a repeat call reads the kept index and the few rows the ranking
        # needs, without building the models' classes (most of the time a call took was imports)
        with read_connection() as conn:
            reader = RankingReader(conn)
            row = find_need(conn, need)
            result = reader.rank(row, find_role(conn, row.id, role), top=top, near_misses=0)
            reader.cache.save_if_changed()  # the next call loads it instead of catching up again
    except DomainError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    if as_json:
        out = [
            {"agent": c["agent"], "score": c["score"], "explanation": c["explanation"]}
            for c in result["candidates"]
        ]
        typer.echo(json.dumps(out, ensure_ascii=False))
        return
    typer.echo(f"{result['role_title']} ({result['share']:.0%}, {result['start']} → {result['end']})")
    for i, c in enumerate(result["candidates"], 1):
        ex = c["explanation"]
        held = [f"{m['label']} {m['agent_level']}/{m['required_level']}" for m in ex["matched"]]
        held += [f"{m['label']} {m['agent_level']}/{m['required_level']} (sous le niveau)" for m in ex["below_level"]]
        skills = ", ".join(held)
        typer.echo(f"{i:3}. {c['score']:.3f}  {c['agent']:24} {c['name']:30} {skills}")
    if not result["candidates"]:
        typer.echo("no eligible candidate")


def register(app: typer.Typer) -> None:
    app.command("match")(match)
