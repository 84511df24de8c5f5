"""``talents notifications …``: dispatch the outbox by hand, see its state, retry failed deliveries, send a test."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import sqlalchemy as sa
import typer
from sqlmodel import col

from notifications import outbox
from notifications.channels import build_channels
from notifications.dispatcher import dispatch_once
from notifications.models import Notification
from notifications.outbox import Recipient, enqueue
from talents.kernel.db import get_engine, migrate, session_scope, utcnow
from talents.kernel.events import Event
from talents.kernel.fields import is_valid_email

__all__ = ["register"]

notifications_app = typer.Typer(help="Notifications: outbox, dispatch, retries.", no_args_is_help=True)


def _engine() -> Any:
    migrate()
    outbox.install()
    return get_engine()


@notifications_app.command("dispatch")
def dispatch(
    loop: Annotated[bool, typer.Option("--loop", help="Keep dispatching every few seconds")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between rounds with --loop")] = 5.0,
) -> None:
    """Send the due deliveries once (or in a loop). Safe beside other dispatchers and the scheduler."""
    engine, channels = _engine(), build_channels()
    if not channels:
        typer.echo(
            "no channel configured (TALENTS_SMTP_URL, TALENTS_WEBHOOK_URL, TALENTS_MATRIX_*): "
            "deliveries stay in the outbox",
            err=True,
        )
    while True:
        report = dispatch_once(engine, None, channels)
        typer.echo(json.dumps(report.to_dict()))
        if not loop:
            return
        time.sleep(interval)


@notifications_app.command("status")
def status() -> None:
    """Count deliveries by channel and status."""
    engine = _engine()
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(col(Notification.channel), col(Notification.status), sa.func.count()).group_by(
                col(Notification.channel), col(Notification.status)
            )
        ).all()
    typer.echo(json.dumps({f"{c}.{s}": n for c, s, n in rows}, indent=2, sort_keys=True))


@notifications_app.command("retry-failed")
def retry_failed() -> None:
    """Queue every failed delivery again (same idempotency keys)."""
    engine = _engine()
    with engine.begin() as conn:
        n = conn.execute(
            sa.update(Notification)
            .where(col(Notification.status) == "failed")
            .values(status="pending", attempts=0, next_attempt_at=utcnow(), lease_until=None, claimed_by=None)
        ).rowcount
    typer.echo(f"{n} deliveries queued again")


@notifications_app.command("send-test")
def send_test(address: Annotated[str, typer.Argument(help="Where to send a test e-mail")]) -> None:
    """Queue a test e-mail (and webhook/Matrix message) and dispatch it now: checks the settings end to end."""
    if not is_valid_email(address.strip().lower(), ascii_only=True):
        raise typer.BadParameter("not a plain e-mail address")
    engine = _engine()
    with session_scope(engine) as session:
        enqueue(
            session,
            Event("need.created", {"need_title": "Message de test", "priority": 3}),
            recipients=[Recipient(address.strip().lower(), deferrable=False)],
        )
    typer.echo(json.dumps(dispatch_once(engine, None, build_channels()).to_dict()))


def register(app: typer.Typer) -> None:
    outbox.install()  # CLI commands publish events too (imports, allocation): their deliveries go with them
    app.add_typer(notifications_app, name="notifications")
