"""``talents tokens …`` (API tokens) and ``talents gdpr …`` (retention purge)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from talents.auth.retention import purge
from talents.auth.service import TokenService, UserService
from talents.kernel.db import migrate, session_scope, utcnow
from talents.kernel.errors import DomainError

__all__ = ["register"]

tokens_app = typer.Typer(help="API tokens (stored hashed; shown once).", no_args_is_help=True)
gdpr_app = typer.Typer(help="Personal data: retention.", no_args_is_help=True)


def _prepare() -> None:
    migrate()


@tokens_app.command("create")
def tokens_create(
    email: Annotated[str, typer.Option(help="Whose token (the user is created if needed)")],
    role: Annotated[list[str] | None, typer.Option(help="Role to grant (repeatable): agent, manager, lead, "
                                                        "reviewer, admin")] = None,
    name: Annotated[str, typer.Option(help="What the token is for")] = "",
) -> None:
    """Create a token and print it ALONE on the last line (it is never shown again)."""
    _prepare()
    try:
        with session_scope() as session:
            user = UserService(session).ensure(email, role or [])
            issued = TokenService(session).create(user, name)
            typer.echo(f"token #{issued.row.id} for {user.email} (roles: {', '.join(user.roles) or 'none'}), "
                       f"prefix {issued.row.prefix}", err=True)
            token = issued.token
    except DomainError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(token)


@tokens_app.command("revoke")
def tokens_revoke(
    token: Annotated[str, typer.Argument(help="The token's id (see `talents tokens list`) or the token itself")],
) -> None:
    """Revoke a token, by id or by value."""
    _prepare()
    try:
        with session_scope() as session:
            service = TokenService(session)
            row = service.revoke(int(token)) if token.isdigit() else service.revoke_value(token.strip())
            token_id = row.id
    except DomainError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"token #{token_id} revoked")


@tokens_app.command("list")
def tokens_list(
    email: Annotated[str | None, typer.Option(help="Only this user's tokens")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List tokens: id, owner, prefix, name, dates (never the token values)."""
    _prepare()
    with session_scope() as session:
        rows = TokenService(session).list(email)
    if as_json:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in rows], indent=2))
        return
    for r in rows:
        state = f"revoked {r.revoked_at:%Y-%m-%d}" if r.revoked_at else "active"
        used = f"{r.last_used_at:%Y-%m-%d %H:%M}" if r.last_used_at else "never"
        typer.echo(f"{r.id:>5}  {r.email:40} {r.prefix}…  {state:18} used {used:16}  {r.name}")


@gdpr_app.command("purge")
def gdpr_purge(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Delete what has outlived its retention period (see TALENTS_RETENTION_* settings)."""
    _prepare()
    with session_scope() as session:
        counts = purge(session, utcnow())
    typer.echo(json.dumps(counts) if as_json else ", ".join(f"{k}: {v}" for k, v in counts.items()))


def register(app: typer.Typer) -> None:
    app.add_typer(tokens_app, name="tokens")
    app.add_typer(gdpr_app, name="gdpr")
