"""The names in a need's « Suivi des places »: every seat holder's read in one query, an erased agent unnamed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from profiles.models import Agent
from talents.kernel.db import session_scope, utcnow
from talents.web.lead import _names

sys.path.insert(0, str(Path(__file__).parent.parent / "workflow"))
from factories import make_agent  # noqa: E402

pytestmark = pytest.mark.integration


def test_seat_holders_are_named_in_one_query_and_an_erased_agent_by_number(engine):
    named = make_agent(engine, "nommee", name="Camille Martin")
    erased = make_agent(engine, "effacee", name="Dominique Petit")
    with session_scope(engine) as s:
        s.execute(sa.update(Agent).where(Agent.id == erased).values(erased_at=utcnow()))
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    with session_scope(engine, read_only=True) as s:
        names = _names(s, {named, erased, 999_999})
    assert names == {named: "Camille Martin", erased: f"agent {erased}", 999_999: "agent 999999"}
    assert sum("FROM agent" in sql for sql in statements) == 1
    with session_scope(engine, read_only=True) as s:
        assert _names(s, set()) == {}
