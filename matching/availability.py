"""Availability arithmetic: free share of time per day, eligibility for a role's period.

Periods are inclusive on both ends. A day's free share is the sum of declared availability windows
covering it (capped at 1.0) minus the shares committed to overlapping assignments.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from matching.types import AvailabilityWindow, Commitment

__all__ = [
    "DEFAULT_FLOOR",
    "FreeSegment",
    "Eligibility",
    "free_segments",
    "eligibility",
    "min_free_share",
    "above_floor",
]

DEFAULT_FLOOR = 0.5
_EPS = 1e-9
_ONE_DAY = timedelta(days=1)


def above_floor(share: float, floor: float = DEFAULT_FLOOR) -> bool:
    """A contribution counts only strictly above the policy floor."""
    return share > floor + _EPS


@dataclass(frozen=True, slots=True)
class FreeSegment:
    """A maximal run of days [start, end] over which the free share is constant."""

    start: date
    end: date
    free: float


def free_segments(
    availability: Iterable[AvailabilityWindow],
    commitments: Iterable[Commitment],
    start: date,
    end: date,
) -> list[FreeSegment]:
    """Free share on every day of [start, end], as constant segments covering the whole period."""
    if end < start:
        return []
    deltas: dict[date, float] = {start: 0.0}
    commit_deltas: dict[date, float] = {}
    for w in availability:
        if w.end < start or w.start > end:
            continue
        s, e = max(w.start, start), min(w.end, end)
        deltas[s] = deltas.get(s, 0.0) + w.share
        if e < end:  # past the period nothing is read; also avoids overflowing date.max
            deltas[e + _ONE_DAY] = deltas.get(e + _ONE_DAY, 0.0) - w.share
    for c in commitments:
        if c.end < start or c.start > end:
            continue
        s, e = max(c.start, start), min(c.end, end)
        commit_deltas[s] = commit_deltas.get(s, 0.0) + c.share
        deltas.setdefault(s, 0.0)
        if e < end:
            commit_deltas[e + _ONE_DAY] = commit_deltas.get(e + _ONE_DAY, 0.0) - c.share
            deltas.setdefault(e + _ONE_DAY, 0.0)
    points = sorted(d for d in deltas if d <= end)
    segments: list[FreeSegment] = []
    declared = committed = 0.0
    for i, day in enumerate(points):
        declared += deltas.get(day, 0.0)
        committed += commit_deltas.get(day, 0.0)
        seg_end = points[i + 1] - _ONE_DAY if i + 1 < len(points) else end
        free = round(min(declared, 1.0) - committed, 9)
        if segments and abs(segments[-1].free - free) < _EPS and segments[-1].end + _ONE_DAY == day:
            segments[-1] = FreeSegment(segments[-1].start, seg_end, segments[-1].free)
        else:
            segments.append(FreeSegment(day, seg_end, free))
    return segments


def min_free_share(
    availability: Iterable[AvailabilityWindow],
    commitments: Iterable[Commitment],
    start: date,
    end: date,
) -> float:
    """The smallest free share over any day of [start, end]."""
    segs = free_segments(availability, commitments, start, end)
    return min((s.free for s in segs), default=0.0)


@dataclass(frozen=True, slots=True)
class Eligibility:
    """Whether an agent can take a role's share on every day of its period, and by how much they miss."""

    eligible: bool
    min_free: float
    short_days: int
    first_short_day: date | None
    segments: tuple[FreeSegment, ...]


def eligibility(
    availability: Iterable[AvailabilityWindow],
    commitments: Iterable[Commitment],
    start: date,
    end: date,
    share: float,
    floor: float = DEFAULT_FLOOR,
) -> Eligibility:
    """Eligible when the role's share is above the floor and free share ≥ share on every day."""
    segs = tuple(free_segments(availability, commitments, start, end))
    short = [s for s in segs if s.free + _EPS < share]
    short_days = sum((s.end - s.start).days + 1 for s in short)
    min_free = min((s.free for s in segs), default=0.0)
    ok = above_floor(share, floor) and not short and bool(segs)
    return Eligibility(ok, min_free, short_days, short[0].start if short else None, segs)
