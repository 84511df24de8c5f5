"""Ranking service: ranked candidates, the solver's scores and team proposals, from the database.

The kept indexes, their refresh from the database's change stamps and the ranking of one role are
:mod:`talents.ranking_index` (Core queries only, shared with ``talents match``); this module adds what needs the
models: a need or a role as a model instance, the solver's view of a role, the team proposal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from sqlmodel import Session, col, select

from matching.availability import eligibility
from matching.ranking import Ranking
from matching.team import TeamProposal, propose_team
from matching.types import RoleRequirement
from needs.models import Need, Role
from talents.assignments.exclusions import need_standing
from talents.kernel.errors import NotFoundError
from talents.ranking_index import (
    IndexState,
    RankingCache,
    RankingReader,
    agent_label,
    find_need,
    get_ranking_cache,
    requirement_key,
    to_candidate,
    to_requirement,
)

__all__ = [
    "RankingCache",
    "RankingService",
    "agent_label",
    "get_ranking_cache",
    "resolve_need",
    "to_candidate",
    "to_requirement",
]


def resolve_need(session: Session, ref: str | int) -> Need:
    """A need by numeric database id first, then by external id."""
    need = session.get(Need, find_need(session, ref).id)
    assert need is not None
    return need


TEAM_POOL = 20  # a role's candidates ranked beyond the team's seats (see matching.team.propose_team)


# --------------------------------------------------------------------------- the service
class RankingService(RankingReader):
    """Ranked candidates of a role (:class:`RankingReader`), the solver's scores and team proposals."""

    session: Session

    def roles(self, need: Need) -> list[Role]:
        return list(self.session.exec(select(Role).where(Role.need_id == need.id).order_by(col(Role.position))).all())

    def role_at(self, need: Need, position: int) -> Role:
        role = self.session.exec(select(Role).where(Role.need_id == need.id, Role.position == position)).first()
        if role is None:
            raise NotFoundError(f"need {need.id} has no role at position {position}", field="role")
        return role

    def scores_for(
        self,
        need: Need,
        role: Role,
        top: int,
        include: Iterable[int] = (),
        refresh: bool = True,
        exclude: Iterable[int] = (),
    ) -> dict[int, float]:
        """The solver's view of a role: top-``top`` eligible agents against fixed commitments, but those of
        ``exclude`` (who declined, were refused or removed), plus the exact scores of ``include`` (agents
        holding an open proposal on it) when they are still eligible."""
        req = self.role_requirement(need, role)
        state = self.cache.current(self.session) if refresh else self.cache.state
        assert state is not None, "refresh the cache before scores_for(refresh=False)"
        index = state.allocation
        out: dict[int, float] = {}
        if top > 0:
            left_out = [str(a) for a in exclude]
            ranking = index.rank(req, top=top, near_misses=0, floor=self.floor, exclude=left_out)
            out = {int(c.agent_id): float(c.score) for c in ranking.candidates}
        for aid in include:
            if aid in out:
                continue
            profile = index.profile(str(aid))
            if profile is None:
                continue
            el = eligibility(profile.availability, profile.commitments, req.start, req.end, req.share, self.floor)
            missing_required = any(
                r.required and not any(s.skill_id == r.skill_id and s.level >= r.level for s in profile.skills)
                for r in req.skills
            )
            if el.eligible and not missing_required:
                out[aid] = float(index.explain(profile, req, eligibility_=el, floor=self.floor)["score"])
        return out

    def team(self, need: Need) -> dict[str, Any]:
        """A team proposal for every open seat of the need (members already on it are kept apart)."""
        return self.need_view(need, top=0, near_misses=0)[1]

    def need_view(
        self, need: Need, top: int = 10, near_misses: int = 5
    ) -> tuple[dict[int, dict[str, Any]], dict[str, Any]]:
        """What a need's page shows: every role ranked (by position: its first ``top`` candidates and its near
        misses, as :meth:`rank`) and the team proposal, the team built from those same rankings: one ranking
        of each role, on one state of the index."""
        roles = self.roles_of_need(need)
        while True:
            # The state may lag on profile edits (``lag_s``), never on the need's seats and who it leaves out.
            state = self.current()
            left_out, taken = need_standing(self.session.connection(), need.id)  # type: ignore[arg-type]
            exclude = [str(a) for a in sorted(left_out)]
            reqs = [replace(req, count=max(int(r.count) - taken.get(r.id, 0), 0)) for r, req in roles]
            # As deep as the team needs (its seats, every seat of the need, a pool), and as the page shows: the
            # seats of the roles as posted, not those left open, so that a proposal or an answer on one role does
            # not change how deep (so which kept ranking) the others need. A ranking reads no seat count.
            seats = sum(int(r.count) for r, _ in roles)
            depth = [max(top, int(r.count) + seats + TEAM_POOL) for r, _ in roles]
            rankings = [self.ranked_on(state, req, k, near_misses, exclude)
                        for (_, req), k in zip(roles, depth, strict=True)]
            proposal = self._team_of(state, reqs, depth, near_misses, exclude, rankings)
            # Only who the page shows is checked against deletions (the rankings' first ``top``, their near misses,
            # the team): a deleted agent deeper in a ranking is checked once something would bring them into view.
            shown = {int(c.agent_id) for rk in rankings for c in (*rk.candidates[:top], *rk.near_misses)}
            if not self.cache.drop_gone(self.session, shown | {int(s.agent_id) for s in proposal.seats}):
                break
        ranked = {r.position: self._laid_out(need, r, rk, top) for (r, _), rk in zip(roles, rankings, strict=True)}
        names, ext = self.cache.labels(int(s.agent_id) for s in proposal.seats)
        pos = {str(r.id): r.position for r, _ in roles}
        team = {
            "need_id": need.id,
            "need": need.external_id or str(need.id),
            "seats": [
                {
                    "role": pos[s.role_id],
                    "role_id": int(s.role_id),
                    "seat": s.seat,
                    "agent": agent_label(ext.get(int(s.agent_id)), int(s.agent_id)),
                    "agent_id": int(s.agent_id),
                    "name": names.get(int(s.agent_id), ""),
                    "score": round(float(s.score), 6),
                    "explanation": s.explanation,
                }
                for s in proposal.seats
            ],
            "unfilled": [
                {"role": pos[u.role_id], "role_id": int(u.role_id), "seat": u.seat, "reason": u.reason}
                for u in proposal.unfilled
            ],
            "coverage": proposal.coverage,
            "already_staffed": {pos[str(k)]: v for k, v in taken.items() if str(k) in pos},
        }
        return ranked, team

    def _team_of(self, state: IndexState, reqs: list[RoleRequirement], depth: list[int], near_misses: int,
                 exclude: list[str], rankings: list[Ranking]) -> TeamProposal:
        """The team of those rankings, kept with them: as long as the same rankings are kept, so is their team (the
        entry holds the rankings, so that their ids in the key are not taken by others)."""
        key = ("team", today(), tuple(map(requirement_key, reqs)), tuple(depth), near_misses, tuple(exclude),
               self.floor, tuple(map(id, rankings)))
        proposal, _ = self.kept(state, key, lambda: (propose_team(
            state.interactive, reqs, exclude=exclude, floor=self.floor, pool=TEAM_POOL, rankings=rankings), rankings),
            holds=lambda value, *_: value)
        return proposal  # type: ignore[no-any-return]


def today() -> date:
    """The service's calendar day (UTC)."""
    return datetime.now(UTC).date()
