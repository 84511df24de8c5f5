"""What a team proposal asks of an index (:class:`matching.ranking.CandidateIndex` is one).

The team builder (:mod:`matching.team`) depends on this small interface, not on the ranking module, so that
the ranking may offer team proposals without an import cycle between the two.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date
from typing import Any, Protocol

from matching.types import CandidateProfile, RoleRequirement

__all__ = ["RankedCandidate", "Ranker", "RoleRanking"]


class RankedCandidate(Protocol):
    """An eligible agent for a role, its score in [0, 1] and its explanation."""

    @property
    def agent_id(self) -> str: ...

    @property
    def score(self) -> float: ...

    @property
    def explanation(self) -> dict[str, Any]: ...


class RoleRanking(Protocol):
    """A role's eligible candidates, best first."""

    @property
    def candidates(self) -> Sequence[RankedCandidate]: ...


class Ranker(Protocol):
    """Ranks agents for a role and hands out the profiles it indexed."""

    def rank(
        self,
        role: RoleRequirement,
        top: int = ...,
        near_misses: int = ...,
        exclude: Collection[str] = ...,
        fairness: bool = ...,
        floor: float = ...,
        today: date | None = ...,
    ) -> RoleRanking: ...

    def profile(self, agent_id: str) -> CandidateProfile | None: ...
