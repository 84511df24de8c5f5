"""DINUM's skills supply: available agents at the level asked, each agent once, on SQLite and PostgreSQL."""

from datetime import date, timedelta

import pytest

from needs.models import Need, Role, RoleSkill
from profiles.models import Agent, AgentSkill, Availability
from talents.kernel.db import session_scope
from talents.kernel.settings import get_settings
from talents.review import ReviewService

pytestmark = pytest.mark.integration

TODAY = date(2027, 1, 10)
LATER, PAST = TODAY + timedelta(days=90), TODAY - timedelta(days=1)


def test_skills_supply_counts_available_agents_at_the_level_asked_once_each(engine):
    floor = get_settings().matching.floor
    agents = {  # name: (level of python, windows as (end, share))
        "counted": (4, [(LATER, 1.0)]),
        "two windows, counted once": (5, [(LATER, 1.0), (LATER + timedelta(days=30), 0.8)]),
        "one window over, one to come": (3, [(PAST, 1.0), (LATER, 1.0)]),
        "below the level": (2, [(LATER, 1.0)]),
        "window over": (4, [(PAST, 1.0)]),
        "share at the floor": (4, [(LATER, floor)]),
        "no window": (4, []),
    }
    with session_scope(engine) as s:
        need = Need(external_id="n1", title="Besoin", priority=2, start=TODAY, end=LATER)
        s.add(need)
        s.flush()
        role = Role(need_id=need.id, position=0, title="Dév", count=2, share=0.6)
        s.add(role)
        s.flush()
        s.add(RoleSkill(role_id=role.id, skill_id="python", level=3, required=True, typed="python"))
        for i, (name, (level, windows)) in enumerate(agents.items()):
            agent = Agent(external_id=f"a{i}", email=f"a{i}@agents.gouv.fr", name=name, ministry="Intérieur")
            s.add(agent)
            s.flush()
            s.add(AgentSkill(agent_id=agent.id, skill_id="python", level=level, typed="python"))
            s.add(AgentSkill(agent_id=agent.id, skill_id="sql", level=5, typed="sql"))  # not asked: no line
            for end, share in windows:
                s.add(Availability(agent_id=agent.id, start=PAST - timedelta(days=30), end=end, share=share))
    with session_scope(engine) as s:
        rows = ReviewService(s).skills_supply_demand(today=TODAY)
    assert [(r["skill_id"], r["seats"], r["level"], r["supply"], r["ratio"]) for r in rows] == [
        ("python", 2, 3, 3, 1.5)]
