"""``talents match``: ranked eligible candidates of a role, per the bulk contract (docs/design.md)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from talents.cli_support import prepare, quiet_stdout
from talents.kernel.db import session_scope
from talents.kernel.errors import DomainError
from talents.ranking import RankingService, resolve_need

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
        with session_scope() as session:
            service = RankingService(session)
            row = resolve_need(session, need)
            result = service.rank(row, service.role_at(row, role), top=top, near_misses=0)
            service.cache.save_if_changed()  # the next call loads it instead of catching up again
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
