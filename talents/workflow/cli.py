"""``talents allocate`` (the bulk contract, docs/design.md) and ``talents jobs workflow``."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from talents.cli_support import prepare, quiet_stdout
from talents.kernel.db import get_engine, session_scope
from talents.kernel.errors import DomainError
from talents.ranking import resolve_need
from talents.workflow.allocation import run_allocation
from talents.workflow.allocation_job import run_scheduled_allocation

__all__ = ["contract_view", "register"]


def contract_view(result: dict[str, Any]) -> dict[str, Any]:
    """The bulk-contract document: the five keys per assignment, extra top-level keys after the four."""
    return {
        "assignments": [
            {k: a[k] for k in ("need", "role", "agent", "share", "score")} for a in result["assignments"]
        ],
        "unfilled": [
            {k: u[k] for k in ("need", "role", "seats", "reason", "why")} for u in result["unfilled"]
        ],
        "objective": result["objective"],
        "bound": result["bound"],
        "gap": result["gap"],
        "status": result["status"],
        "dry_run": result["dry_run"],
        "run_id": result["run_id"],
        "proposed": [
            {k: a[k] for k in ("need", "role", "agent", "share", "score")} for a in result["proposed"]
        ],
        "withdrawn": [
            {k: w[k] for k in ("need", "role", "agent", "reason", "why")} for w in result["withdrawn"]
        ],
        "skipped": [
            {k: s.get(k) for k in ("kind", "need", "role", "agent", "skipped_because")}
            for s in result.get("skipped", [])
        ],
    }


def allocate(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Compute and print the diff; write nothing")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (the bulk contract)")] = False,
    need: Annotated[
        list[str] | None,
        typer.Option("--need", help="Limit the run to these needs (id or external id; repeatable)"),
    ] = None,
) -> None:
    """Allocate open seats of open needs by government priority; propose (or, with --dry-run, show)."""
    quiet_stdout()
    prepare()
    need_ids = None
    if need:
        try:
            with session_scope() as session:
                need_ids = [int(resolve_need(session, n).id) for n in need]  # type: ignore[arg-type]
        except DomainError as exc:
            typer.echo(f"error: {exc.message}", err=True)
            raise typer.Exit(2) from exc
    result = run_allocation(get_engine(), actor="cli", dry_run=dry_run, need_ids=need_ids)
    view = contract_view(result)
    if as_json:
        typer.echo(json.dumps(view, ensure_ascii=False))
        return
    head = "dry run — nothing written" if dry_run else f"run {result['run_id']}"
    typer.echo(
        f"{head}: {len(result['proposed'])} proposed, {len(result['withdrawn'])} withdrawn, "
        f"{sum(u['seats'] for u in result['unfilled'])} seats unfilled; objective {result['objective']:.4f}"
        + (f", bound {result['bound']:.4f}" if result["bound"] is not None else "")
    )
    for a in view["proposed"]:
        typer.echo(f"  + {a['need']} role {a['role']}: {a['agent']} ({a['score']:.3f})")
    for w in view["withdrawn"]:
        typer.echo(f"  - {w['need']} role {w['role']}: {w['agent']} — {w['why']}")
    for u in view["unfilled"]:
        typer.echo(f"  ∅ {u['need']} role {u['role']}: {u['seats']} seat(s) — {u['why']}")


def workflow_tick() -> None:
    """What the scheduler runs: expiries, activations, pending priority-1 triggers, a full run."""
    quiet_stdout()
    prepare()
    typer.echo(json.dumps(run_scheduled_allocation(get_engine()), ensure_ascii=False, default=str))


def register(app: typer.Typer) -> None:
    app.command("allocate")(allocate)
    app.command("workflow-tick")(workflow_tick)
