"""How quick this machine is at the moment of a benchmark: the same pure-Python work, timed in the same run.

The machines here are shared: within one morning the same code answered 195 to 300 requests a second of the load
mix. Printed beside a benchmark's figures, this pace tells a slow moment of the machine from a slower program.
"""

from __future__ import annotations

import statistics
import time

ADDITIONS = 10_000_000


def interpreter_seconds(additions: int = ADDITIONS, rounds: int = 3) -> float:
    """Seconds this interpreter takes to add up ``additions`` integers in a loop (the median of ``rounds``)."""

    def once() -> float:
        began, total = time.perf_counter(), 0
        for i in range(additions):
            total += i
        return time.perf_counter() - began

    return statistics.median(once() for _ in range(rounds))


def pace(seconds: float, additions: int = ADDITIONS) -> str:
    """The pace as printed: ``10 million additions in 0.34 s``."""
    return f"{additions / 1e6:g} million additions in {seconds:.2f} s"
