"""The headline counts of the home page and DINUM's dashboard: afresh on every view, each read from an index."""

from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from profiles.models import Agent
from talents.kernel.db import session_scope, utcnow
from talents.review import AVAILABLE_AGENTS, LIVE_AGENTS, ReviewService

sys.path.insert(0, str(Path(__file__).parent.parent / "workflow"))
from factories import make_agent  # noqa: E402

pytestmark = pytest.mark.integration

TODAY = date(2027, 1, 10)


def _figures(engine):
    with session_scope(engine, read_only=True) as s:
        return ReviewService(s).figures(today=TODAY)


def test_the_counts_follow_each_change_at_once(engine):
    kept = make_agent(engine, "kept")
    make_agent(engine, "over", windows=[(TODAY - timedelta(days=60), TODAY - timedelta(days=1), 1.0)])
    assert (_figures(engine)["agents"], _figures(engine)["available_agents"]) == (2, 1)
    make_agent(engine, "new")
    assert (_figures(engine)["agents"], _figures(engine)["available_agents"]) == (3, 2)
    with session_scope(engine) as s:
        s.execute(sa.update(Agent).where(Agent.id == kept).values(erased_at=utcnow()))
    assert _figures(engine)["agents"] == 2


@pytest.mark.parametrize("backend", ["sqlite"])
def test_sqlite_counts_from_the_indexes_alone(engine):
    def plan(statement: sa.Select) -> str:
        sql = statement.compile(engine, compile_kwargs={"literal_binds": True})
        with engine.connect() as conn:
            return " ".join(str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))

    assert "COVERING INDEX ix_agent_erased_at" in plan(LIVE_AGENTS)
    available = AVAILABLE_AGENTS.params(today=TODAY, floor=0.5)
    assert "COVERING INDEX ix_availability_agent_end_share" in plan(available)


def test_the_skills_supply_counts_each_skill_at_its_own_level_in_one_pass(engine):
    from factories import make_need

    make_need(engine, "n1", roles=[{"title": "Dév", "count": 2, "skills": [("python", 4, True), ("sql", 2, False)]},
                                   {"title": "Données", "count": 1, "skills": [("sql", 3, True)]}])
    make_agent(engine, "both", skills=[("python", 4), ("sql", 2)])  # sql below 3, the lowest level asked: 2
    make_agent(engine, "python low", skills=[("python", 3), ("sql", 5)])
    make_agent(engine, "gone", skills=[("python", 5), ("sql", 5)],
               windows=[(TODAY - timedelta(days=60), TODAY - timedelta(days=1), 1.0)])
    with session_scope(engine, read_only=True) as s:
        rows = ReviewService(s).skills_supply_demand(today=TODAY)
    assert [(r["skill_id"], r["seats"], r["level"], r["supply"]) for r in rows] == [
        ("sql", 3, 2, 2), ("python", 2, 4, 1)]
