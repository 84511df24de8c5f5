"""A write by a caller with credentials is one transaction: who calls, the rate counter, the route's rule and the
handler's writes committed together. A refused or failing write still counts its hit, and writes nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine, event

from profiles.service import AgentService
from talents.auth.models import RateBucket
from talents.kernel.settings import reset_settings

pytestmark = pytest.mark.integration

_BUCKETS = RateBucket.__table__  # type: ignore[attr-defined]
_REVIEWER = "rev@talents.gouv.fr"


@pytest.fixture
def limited(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TALENTS_WRITE_RATE_PER_MINUTE", "3")
    reset_settings()
    yield
    monkeypatch.undo()
    reset_settings()


def _hits(engine: Engine, email: str) -> int:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(_BUCKETS.c.hits).where(_BUCKETS.c.key == f"write:{email}")).scalars().all()
    return sum(rows)


def _bio(engine: Engine, agent_id: int) -> str | None:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT bio FROM agent WHERE id = :id"), {"id": agent_id}).scalar_one()


def _agent(client: Any, admin: dict[str, str]) -> int:
    created = client.post("/api/v1/agents", headers=admin,
                          json={"name": "Ada", "email": "ada@agents.gouv.fr", "ministry": "Culture", "bio": "avant"})
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


class _WriteTransactions:
    """Counts the engine's transactions that may write, begun and committed."""

    def __init__(self, engine: Engine) -> None:
        self.engine, self.begun, self.committed = engine, 0, 0

    def _begin(self, conn: sa.Connection) -> None:
        self.begun += not conn.get_execution_options().get("talents_read_only")

    def _commit(self, conn: sa.Connection) -> None:
        self.committed += not conn.get_execution_options().get("talents_read_only")

    def __enter__(self) -> _WriteTransactions:
        event.listen(self.engine, "begin", self._begin)
        event.listen(self.engine, "commit", self._commit)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "begin", self._begin)
        event.remove(self.engine, "commit", self._commit)


def test_an_edit_is_one_transaction(client: Any, engine: Engine, admin: dict[str, str],
                                    as_role: Any) -> None:
    agent_id = _agent(client, admin)
    reviewer = as_role(_REVIEWER, "reviewer")
    client.patch(f"/api/v1/agents/{agent_id}", headers=reviewer, json={"bio": "first"})  # the token's first use
    with _WriteTransactions(engine) as seen:
        edited = client.patch(f"/api/v1/agents/{agent_id}", headers=reviewer, json={"bio": "après"})
    assert edited.status_code == 200, edited.text
    assert (seen.begun, seen.committed) == (1, 1)
    assert _bio(engine, agent_id) == "après" and _hits(engine, _REVIEWER) == 2


def test_a_refused_edit_still_counts_its_hit(client: Any, engine: Engine, admin: dict[str, str], as_role: Any,
                                             limited: None) -> None:
    agent_id = _agent(client, admin)
    reviewer = as_role(_REVIEWER, "reviewer")
    statuses = [
        client.patch(f"/api/v1/agents/{agent_id + 1000}", headers=reviewer, json={"bio": "x"}).status_code,  # 404
        client.patch(f"/api/v1/agents/{agent_id}", headers=reviewer, json={"bio": "y" * 5000}).status_code,  # 400
        client.patch(f"/api/v1/agents/{agent_id}", headers=reviewer, json={"bio": "ok"}).status_code,
        client.patch(f"/api/v1/agents/{agent_id}", headers=reviewer, json={"bio": "too many"}).status_code,
    ]
    assert statuses == [404, 400, 200, 429]
    assert _hits(engine, _REVIEWER) == 4  # each refusal counted once, by the gate or by its handler
    assert _bio(engine, agent_id) == "ok"


def test_an_edit_failing_in_its_handler_writes_nothing_and_counts_its_hit(
        client: Any, engine: Engine, admin: dict[str, str], as_role: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    agent_id = _agent(client, admin)
    reviewer = as_role(_REVIEWER, "reviewer")
    update = AgentService.update

    def update_then_fail(self: AgentService, *args: Any, **kwargs: Any) -> Any:
        update(self, *args, **kwargs)
        self.session.flush()  # written in the transaction, then undone by the rollback
        raise RuntimeError("the handler fails after its write")

    monkeypatch.setattr(AgentService, "update", update_then_fail)
    failed = client.patch(f"/api/v1/agents/{agent_id}", headers=reviewer, json={"bio": "jamais"})
    assert failed.status_code == 500
    assert _bio(engine, agent_id) == "avant" and _hits(engine, _REVIEWER) == 1
