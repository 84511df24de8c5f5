"""Team proposal for a whole need: fill every seat of every role from one index (a :class:`Ranker`).

Rules:

* an agent holds at most ``max_roles_per_agent`` seats of the team (default 1: no agent twice);
* an agent's capacity is respected across roles: when an agent may take several roles, each further
  role is checked against availability minus commitments minus the shares the team already gave them;
* a higher-priority role (1 is highest) is filled first: with one seat per agent, seats are assigned
  jointly (Hungarian algorithm, ``scipy.optimize.linear_sum_assignment``) maximising, lexicographically,
  filled seats by priority and then the sum of scores;
* unfilled seats are reported with a reason, and the team's joint skill coverage is computed.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from matching.availability import DEFAULT_FLOOR, above_floor, eligibility
from matching.ranker import Ranker, RoleRanking
from matching.types import Commitment, RoleRequirement

__all__ = ["TeamProposal", "TeamSeat", "UnfilledSeat", "propose_team"]


@dataclass(frozen=True, slots=True)
class TeamSeat:
    """One filled seat: role, seat number within the role (0-based), agent, score, explanation."""

    role_id: str
    seat: int
    agent_id: str
    score: float
    explanation: dict[str, Any]


@dataclass(frozen=True, slots=True)
class UnfilledSeat:
    """A seat left empty, with the reason in French."""

    role_id: str
    seat: int
    reason: str


@dataclass(slots=True)
class TeamProposal:
    """Seats filled, seats left empty, and skill coverage per role and for the whole team.

    ``coverage`` = ``{"team": {"covered": [...], "missing": [...], "ratio": float},
    "by_role": {role_id: {"covered": [...], "missing": [...], "ratio": float}}}`` where a skill counts as
    covered when a member holds it, directly or through a related skill.
    """

    seats: list[TeamSeat] = field(default_factory=list)
    unfilled: list[UnfilledSeat] = field(default_factory=list)
    coverage: dict[str, Any] = field(default_factory=dict)


def _priority_bonus(priority: int) -> float:
    # Filling one seat of priority p outweighs filling nine of priority p+1, whatever the scores (≤ 1).
    return 10.0 ** (5 - min(max(int(priority), 1), 4))


def propose_team(
    index: Ranker,
    roles: Sequence[RoleRequirement],
    *,
    fairness: bool = True,
    floor: float = DEFAULT_FLOOR,
    today: date | None = None,
    exclude: Collection[str] = (),
    max_roles_per_agent: int = 1,
    pool: int = 20,
    rankings: Sequence[RoleRanking] | None = None,
) -> TeamProposal:
    """Propose members for every seat of ``roles`` (see the module docstring for the rules).

    ``pool`` extra candidates per role are ranked beyond the seats, so that a role whose best
    candidates went to another role still finds members. ``rankings``: the roles' rankings, one per role in
    order, when the caller has them already (a page that shows them): each ranked with the same ``exclude``,
    ``fairness``, ``floor`` and ``today``, and at least as deep as the seats of the role and of the team plus
    ``pool``; ranked here otherwise.
    """
    proposal = TeamProposal()
    total_seats = sum(max(r.count, 0) for r in roles)
    rankings = rankings if rankings is not None else [
        index.rank(
            r,
            top=max(r.count, 0) + total_seats + pool,
            near_misses=0,
            exclude=exclude,
            fairness=fairness,
            floor=floor,
            today=today,
        )
        for r in roles
    ]
    seats = [(ri, s) for ri, r in enumerate(roles) for s in range(max(r.count, 0))]
    chosen: dict[tuple[int, int], tuple[str, float, dict[str, Any]]] = {}
    if max_roles_per_agent <= 1:
        agents = sorted({c.agent_id for rk in rankings for c in rk.candidates})
        col = {a: i for i, a in enumerate(agents)}
        if seats and agents:
            value = np.zeros((len(seats), len(agents)))
            for si, (ri, _) in enumerate(seats):
                for c in rankings[ri].candidates:
                    value[si, col[c.agent_id]] = _priority_bonus(roles[ri].priority) + c.score
            rows, cols = linear_sum_assignment(-value)
            by_role: dict[int, list[tuple[str, float, dict[str, Any]]]] = {}
            for si, ai in zip(rows.tolist(), cols.tolist(), strict=True):
                if value[si, ai] > 0:
                    ri = seats[si][0]
                    cand = next(c for c in rankings[ri].candidates if c.agent_id == agents[ai])
                    by_role.setdefault(ri, []).append((cand.agent_id, cand.score, cand.explanation))
            for ri, members in by_role.items():  # best member in seat 0
                for s, m in enumerate(sorted(members, key=lambda x: (-x[1], x[0]))):
                    chosen[(ri, s)] = m
    else:
        taken: dict[str, list[Commitment]] = {}
        order = sorted(range(len(roles)), key=lambda i: (roles[i].priority, i))
        for ri in order:
            role = roles[ri]
            seat = 0
            for c in rankings[ri].candidates:
                if seat >= role.count:
                    break
                extra = taken.get(c.agent_id, [])
                if len(extra) >= max_roles_per_agent:
                    continue
                if extra:
                    profile = index.profile(c.agent_id)
                    if profile is None:
                        continue
                    el = eligibility(
                        profile.availability,
                        (*profile.commitments, *extra),
                        role.start,
                        role.end,
                        role.share,
                        floor,
                    )
                    if not el.eligible:
                        continue
                taken.setdefault(c.agent_id, []).append(Commitment(role.start, role.end, role.share))
                chosen[(ri, seat)] = (c.agent_id, c.score, c.explanation)
                seat += 1
    for ri, s in seats:
        role = roles[ri]
        if (ri, s) in chosen:
            aid, score, expl = chosen[(ri, s)]
            proposal.seats.append(TeamSeat(role.role_id, s, aid, score, expl))
        elif not above_floor(role.share, floor):
            proposal.unfilled.append(
                UnfilledSeat(role.role_id, s, f"La part demandée ({role.share:.0%}) n'excède pas le plancher")
            )
        elif not rankings[ri].candidates:
            proposal.unfilled.append(UnfilledSeat(role.role_id, s, "Aucun agent éligible pour ce rôle"))
        else:
            proposal.unfilled.append(
                UnfilledSeat(role.role_id, s, "Aucun agent éligible restant pour ce siège")
            )
    proposal.coverage = _coverage(roles, proposal.seats)
    return proposal


def _coverage(roles: Sequence[RoleRequirement], seats: Sequence[TeamSeat]) -> dict[str, Any]:
    by_role: dict[str, Any] = {}
    team_covered: set[str] = set()
    asked: list[str] = []
    for role in roles:
        members = [s for s in seats if s.role_id == role.role_id]
        covered: set[str] = set()
        for m in members:
            covered |= {x["skill_id"] for x in m.explanation.get("matched", [])}
            covered |= {x["skill_id"] for x in m.explanation.get("related", [])}
        skills = [r.skill_id for r in role.skills]
        asked.extend(s for s in skills if s not in asked)
        team_covered |= covered
        by_role[role.role_id] = {
            "covered": [s for s in skills if s in covered],
            "missing": [s for s in skills if s not in covered],
            "ratio": round(sum(s in covered for s in skills) / len(skills), 4) if skills else 1.0,
        }
    return {
        "team": {
            "covered": [s for s in asked if s in team_covered],
            "missing": [s for s in asked if s not in team_covered],
            "ratio": round(sum(s in team_covered for s in asked) / len(asked), 4) if asked else 1.0,
        },
        "by_role": by_role,
    }
