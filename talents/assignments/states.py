"""The states of an assignment, by what they mean for an agent's time and for the automatic runs.

Apart from the tables (:mod:`talents.assignments.models`) so that the ranking's read path, which needs the
states but not the models, imports no ORM class."""

from __future__ import annotations

__all__ = ["ALL_STATES", "COMMITTED_STATES", "FIXED_STATES", "OPEN_STATES", "PENDING_STATES", "TERMINAL_STATES"]

# States that hold an agent's time (count against the 100 % rule).
COMMITTED_STATES: tuple[str, ...] = ("proposed", "accepted", "approved", "active")
# States an automatic run may still change (only for a higher priority).
OPEN_STATES: tuple[str, ...] = ("proposed",)
# Committed states an automatic run never moves (the solver's fixed commitments, with forced ones).
FIXED_STATES: tuple[str, ...] = ("accepted", "approved", "active")
# States from which a lead or reviewer may still withdraw (the assignment has not started).
PENDING_STATES: tuple[str, ...] = ("proposed", "accepted", "approved")
TERMINAL_STATES: tuple[str, ...] = ("declined", "refused", "completed", "withdrawn", "expired")
ALL_STATES: tuple[str, ...] = COMMITTED_STATES + TERMINAL_STATES
