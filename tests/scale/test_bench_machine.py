"""The machine's pace printed beside the benchmarks' figures measures the interpreter's work, as said."""

from __future__ import annotations

from bench.machine import interpreter_seconds, pace


def test_the_pace_grows_with_the_work_and_reads_as_printed() -> None:
    small, large = interpreter_seconds(20_000, rounds=1), interpreter_seconds(2_000_000, rounds=1)
    assert 0 < small < large, (small, large)
    assert pace(0.3412) == "10 million additions in 0.34 s"
    assert pace(1.0, additions=2_500_000) == "2.5 million additions in 1.00 s"
