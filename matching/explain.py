"""Explanations of a score and near-miss reasons, built only for the agents a ranking returns.

The explanation separates skills matched directly (with levels), matched through a related or
normalised skill, held below the required level, and missing; its JSON shape is documented in
``docs/matching.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np

from matching.availability import DEFAULT_FLOOR, Eligibility, eligibility
from matching.index import EPS, IndexBase, RoleVector
from matching.scoring import interest_factor, level_credit, recency_factor
from matching.types import AgentSkill, CandidateProfile, RoleRequirement

__all__ = ["ExplainingIndex", "NearMiss"]


@dataclass(frozen=True, slots=True)
class NearMiss:
    """An agent who misses the role by a little; ``reasons`` say how, in French."""

    agent_id: str
    score: float
    reasons: list[str]
    explanation: dict[str, Any]


class ExplainingIndex(IndexBase):
    """Adds explanations and near-miss reasons to the index."""

    def _text_similarity(self, profile: CandidateProfile, rv: RoleVector) -> float:
        if rv.text_weight <= 0:
            return 0.0
        row = self.row_of_.get(profile.agent_id)
        if row is not None and self.profiles_[row] is profile:  # indexed: reuse the stored text vector
            _, cols, vals, _ = self._gather(np.array([row], dtype=np.int64))
            keep = cols < self.text_features
            tcols, tvals = cols[keep], vals[keep]
        else:
            tcols, tvals = self._text_row(None, profile.text)
        return float(tvals @ rv.vector[tcols]) / rv.text_weight if tcols.size else 0.0

    def _near_misses(
        self,
        rows: np.ndarray,
        score: np.ndarray,
        text: np.ndarray,
        role: RoleRequirement,
        rv: RoleVector,
        limit: int,
        floor: float,
        today: date,
        fairness: bool,
    ) -> list[NearMiss]:
        if rows.size == 0:
            return []
        out: list[NearMiss] = []
        for i in np.argsort(-score, kind="stable").tolist():
            if len(out) >= limit:
                break
            row = int(rows[i])
            profile = self.profiles_[row]
            if profile is None:
                continue
            el = eligibility(profile.availability, profile.commitments, role.start, role.end, role.share, floor)
            reasons = self._miss_reasons(profile, role, el)
            if reasons:
                expl = self._explain(profile, role, rv, today, fairness, floor, el, float(text[i]))
                out.append(NearMiss(profile.agent_id, float(score[i]), reasons, expl))
        return out

    def _miss_reasons(self, profile: CandidateProfile, role: RoleRequirement, el: Eligibility) -> list[str]:
        """French reasons when the agent misses by a little on exactly one point, else ``[]``."""
        held = {s.skill_id: s for s in profile.skills}
        low = []
        for r in role.skills:
            if r.required:
                s = held.get(r.skill_id)
                level = s.level if s else 0
                if level < r.level:
                    low.append((r, level))
        if el.eligible:
            if len(low) == 1 and low[0][1] == low[0][0].level - 1:
                r, level = low[0]
                label = self.taxonomy_.label(r.skill_id)
                return [f"Niveau {level} en {label} pour un niveau {r.level} requis"]
            return []
        if low:
            return []
        share = role.share
        short = [s for s in el.segments if s.free + EPS < share]
        if not short:
            return []
        short_days = sum((s.end - s.start).days + 1 for s in short)
        last_short = max(s.end for s in short)
        first_short = min(s.start for s in short)
        # a late start: every short day sits at the beginning of the period
        late = first_short == role.start and short_days == (last_short - role.start).days + 1
        if late and short_days <= self.near_miss_days:
            first_ok = last_short + timedelta(days=1)
            return [
                f"Disponible seulement à partir du {first_ok:%d/%m/%Y}, "
                f"soit {short_days} jour{'s' if short_days > 1 else ''} après le début du rôle"
            ]
        # an early end: every short day sits at the end
        early = last_short == role.end and short_days == (role.end - first_short).days + 1
        if early and short_days <= self.near_miss_days:
            last_ok = first_short - timedelta(days=1)
            return [
                f"Disponibilité jusqu'au {last_ok:%d/%m/%Y} seulement, "
                f"soit {short_days} jour{'s' if short_days > 1 else ''} avant la fin du rôle"
            ]
        if el.min_free + self.near_miss_share + EPS >= share and el.min_free > 0:
            return [f"Temps libre de {round(el.min_free * 100)} % au plus bas pour {round(share * 100)} % demandés"]
        return []


    # ================================================================== explanations
    def _explain(
        self,
        profile: CandidateProfile,
        role: RoleRequirement,
        rv: RoleVector,
        today: date | None = None,
        fairness: bool = True,
        floor: float = DEFAULT_FLOOR,
        eligibility_: Eligibility | None = None,
        text_sim: float | None = None,
    ) -> dict[str, Any]:
        """The explanation of one agent's score for a role (shape documented in ``docs/matching.md``).

        ``eligibility_`` and ``text_sim`` let a ranking pass what it already computed.
        """
        today = today or role.start
        held = {s.skill_id: s for s in profile.skills}
        matched: list[dict[str, Any]] = []
        related: list[dict[str, Any]] = []
        below: list[dict[str, Any]] = []
        missing: list[dict[str, Any]] = []
        fit = 0.0
        for j, req in enumerate(role.skills):
            k = rv.skill_idx[j]
            direct = held.get(req.skill_id)
            best, how = 0.0, None
            if direct is not None:
                best = self._credit(direct, req.level, 1.0, today)
                how = ("direct", direct, 1.0, "")
            for t, (sim, source) in (self.related_.get(k, {}) if k >= 0 else {}).items():
                other = held.get(self.skill_ids_[t])
                if other is not None:
                    c = self._credit(other, req.level, sim, today)
                    if c > best + EPS:
                        best, how = c, ("related", other, sim, source)
            fit += float(rv.weights[j]) * best
            base = {
                "skill_id": req.skill_id,
                "label": self.taxonomy_.label(req.skill_id),
                "required_level": req.level,
                "required": req.required,
                "weight": round(float(rv.weights[j]), 4),
            }
            if how is None:
                missing.append(base)
            elif direct is not None and (how[0] == "direct" or direct.level < req.level):
                # Held directly: matched at or above the required level, else below level (both levels
                # shown) even when a related skill earned more credit.
                held_entry = base | {
                    "agent_level": direct.level,
                    "credit": round(best, 4),
                    "last_used": direct.last_used.isoformat() if direct.last_used else None,
                    "interest": direct.interest,
                }
                (matched if direct.level >= req.level else below).append(held_entry)
            else:
                s = how[1]
                related.append(
                    base
                    | {
                        "via_skill_id": s.skill_id,
                        "via_label": self.taxonomy_.label(s.skill_id),
                        "agent_level": s.level,
                        "source": how[3],
                        "similarity": round(how[2], 4),
                        "credit": round(best, 4),
                    }
                )
        if text_sim is None:
            text_sim = self._text_similarity(profile, rv)
        row = self.row_of_.get(profile.agent_id)
        if not fairness:
            fair = 1.0
        elif row is not None and self.profiles_[row] is profile:
            fair = float(self.fair_[row])
        else:
            fair = float(self._fairness(profile.open_proposals))
        score = min(1.0, max(0.0, (rv.skill_weight * fit + rv.text_weight * text_sim) * fair))
        el = eligibility_ or eligibility(
            profile.availability, profile.commitments, role.start, role.end, role.share, floor
        )
        return {
            "score": round(score, 6),
            "parts": {
                "skills": round(fit, 6),
                "text": round(text_sim, 6),
                "skills_weight": round(rv.skill_weight, 6),
                "text_weight": round(rv.text_weight, 6),
                "fairness_factor": round(fair, 6),
            },
            "matched": matched,
            "related": related,
            "below_level": below,
            "missing": missing,
            "availability": {
                "start": role.start.isoformat(),
                "end": role.end.isoformat(),
                "share": role.share,
                "eligible": el.eligible,
                "min_free": round(el.min_free, 6),
                "short_days": el.short_days,
                "segments": [
                    {"start": s.start.isoformat(), "end": s.end.isoformat(), "free": round(s.free, 6)}
                    for s in el.segments
                ],
            },
            "fairness": {
                "applied": fairness,
                "open_proposals": profile.open_proposals,
                "factor": round(fair, 6),
            },
        }

    def _credit(self, s: AgentSkill, required_level: int, sim: float, today: date) -> float:
        return (
            sim
            * level_credit(s.level, required_level)
            * interest_factor(s.interest)
            * recency_factor(s.last_used, today, self.recency_half_life_years, self.recency_floor)
        )

