"""DINUM's figures over the whole pool, kept per worker: the same while the database's change stamps stay the
same, counted again once they moved and the kept ones are older than the bound, equal to a fresh count."""

from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

import talents.review as review
from needs.models import RoleUpdate
from needs.service import NeedService
from profiles.models import SkillUpdate
from profiles.service import AgentService
from profiles.taxonomy import SkillResolver, TaxonomyService
from talents.kernel.db import session_scope
from talents.review import ReviewService

sys.path.insert(0, str(Path(__file__).parent.parent / "workflow"))
from factories import make_agent, make_need  # noqa: E402

pytestmark = pytest.mark.integration

TODAY = date(2027, 1, 10)


@pytest.fixture
def counts(monkeypatch: pytest.MonkeyPatch) -> list[date]:
    """The days the pool was counted for, one entry per count."""
    done: list[date] = []
    real = ReviewService.skills_supply_demand

    def counting(self: ReviewService, limit: int = 15, today: date | None = None) -> list[dict[str, object]]:
        done.append(today or date.today())
        return real(self, limit, today)

    monkeypatch.setattr(ReviewService, "skills_supply_demand", counting)
    return done


def _pool(engine: sa.Engine, today: date = TODAY) -> review.PoolFigures:
    with session_scope(engine, read_only=True) as s:
        return ReviewService(s).pool(today)


def test_kept_within_the_bound_then_counted_again_once_the_stamps_moved(engine, counts, monkeypatch):
    make_need(engine, "n1")
    make_agent(engine, "a1")
    first = _pool(engine)
    assert (first.agents, first.available_agents, [s["supply"] for s in first.skills_supply_demand]) == (1, 1, [1])
    make_agent(engine, "a2")  # as another worker would: only the database knows
    assert _pool(engine) == first and len(counts) == 1  # within the bound: the kept figures, and when they were counted
    monkeypatch.setattr(review, "POOL_MAX_AGE_S", 0.0)
    again = _pool(engine)
    assert (again.agents, again.available_agents, again.skills_supply_demand[0]["supply"]) == (2, 2, 2)
    assert len(counts) == 2 and again.as_of > first.as_of
    # Nothing changed since: the stamps say so, the figures are those of now without a count.
    still = _pool(engine)
    assert len(counts) == 2 and still.as_of > again.as_of
    assert (still.agents, still.skills_supply_demand) == (again.agents, again.skills_supply_demand)
    assert len({*counts, TODAY}) == 1
    _pool(engine, TODAY + timedelta(days=1))  # another day: windows may have ended
    assert len(counts) == 3


@pytest.mark.parametrize("change", ["agent deleted", "role asks more seats", "skill relabelled"])
def test_every_change_the_figures_read_moves_the_stamps(engine, counts, monkeypatch, change):
    monkeypatch.setattr(review, "POOL_MAX_AGE_S", 0.0)
    need = make_need(engine, "n1")
    gone = make_agent(engine, "a1")
    make_agent(engine, "a2")
    before = _pool(engine)
    with session_scope(engine) as s:
        if change == "agent deleted":  # a deleted row leaves no stamp: the count tells
            AgentService(s).delete(gone)
        elif change == "role asks more seats":
            NeedService(s, SkillResolver(s)).update_role(need, 0, RoleUpdate(count=3))
        else:
            TaxonomyService(s).update("python", SkillUpdate(label_fr="Python 3"))
    after = _pool(engine)
    assert len(counts) == 2
    with session_scope(engine, read_only=True) as s:
        fresh = ReviewService(s)
        assert (after.agents, after.available_agents) == tuple(fresh.figures(TODAY)[k]
                                                               for k in ("agents", "available_agents"))
        assert list(after.skills_supply_demand) == fresh.skills_supply_demand(today=TODAY)
    assert after != before


def test_the_summary_shows_the_same_figures_as_a_fresh_count(engine):
    make_need(engine, "n1", roles=[{"title": "Dév", "count": 2, "skills": [("python", 4, True), ("sql", 2, False)]}])
    make_agent(engine, "both", skills=[("python", 4), ("sql", 2)])
    make_agent(engine, "low", skills=[("python", 3)])
    with session_scope(engine, read_only=True) as s:
        service = ReviewService(s)
        summary, dashboard = service.summary(), service.dashboard()
        assert summary["figures"] == service.figures()
        assert summary["skills_supply_demand"] == service.skills_supply_demand()
        assert dashboard["skills_supply_demand"] == summary["skills_supply_demand"]
        assert dashboard["time_to_staff_by_priority"] == [
            {"priority": p, "days": service.time_to_staff_days(p)} for p in (1, 2, 3, 4)]
