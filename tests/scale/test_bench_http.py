"""The per-request benchmark's arithmetic (``python -m bench.http``): which measurement a cell shows, and the goals."""

from __future__ import annotations

from bench.http import Figure, median_round, verdicts


def test_a_cell_shows_its_round_of_median_throughput_with_every_rounds_errors() -> None:
    rounds = [Figure(480.0, 2.0, 9.0, 0), Figure(620.0, 1.5, 30.0, 1), Figure(530.0, 1.8, 12.0, 0)]
    cell = median_round(rounds)
    assert (cell.rps, cell.p99_ms) == (530.0, 12.0)  # the middle one, with its own latency
    assert cell.errors == 1
    assert median_round([Figure(500.0, 1, 2, 0), Figure(400.0, 1, 2, 0)]).rps == 400.0  # even: the lower one


def test_a_fall_from_one_connection_count_to_the_next_fails_the_growth_goal() -> None:
    def cells(*rps: float) -> dict[int, Figure]:
        return {c: Figure(r, 1.0, 10.0, 0) for c, r in zip((1, 4, 8), rps, strict=True)}

    said = verdicts([("GET /a", "simple", cells(510, 530, 520)), ("GET /b", "simple", cells(510, 430, 600))])
    growth = [line for line in said if "grows" in line]
    assert growth[0].endswith(": met")  # 530 → 520 is within the noise allowed
    assert "NOT met (falls 1→4)" in growth[1]
    assert any("GET /a: 530 req/s, p99 10.0 ms at 4 conn.: met" in line for line in said)
