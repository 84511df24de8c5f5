"""The load harness (``python -m bench.load``) still runs: a few seconds at a tiny size on SQLite.

Not a speed test: it checks that the users of the mix sign in and do their work without a single error, and
that the ceiling's bare app answers, so that the benchmark cannot rot between two runs of its real figures.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.load import run_backend, table

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_the_mix_of_users_runs_against_a_served_app_without_an_error(tmp_path: Path) -> None:
    said: list[str] = []
    # Unpaced (rps=0): every user works without a pause, so each kind does something within the 3 seconds.
    [result] = run_backend("sqlite", [1], agents=200, users=5, rates=[0], seconds="3s", ceiling=True,
                           tmp=tmp_path, spawn_rate=5, settle_s=1, say=said.append)
    report = "\n".join(said + table([result], 5, "3s", 200, 1))

    mix = result.mix
    assert mix.requests > 0, report
    assert mix.failures == 0, report
    done = {row["Name"] for row in mix.rows if int(row["Request Count"])}
    # Agents, leads (rankings over the pool, the need's page…) and DINUM all did something.
    agents = {"GET /mon-espace", "GET /api/v1/agents/{id}", "PATCH /api/v1/agents/{id}"}
    leads = {"GET /api/v1/needs/{id}/roles/{n}/candidates", "GET /besoins/{id}", "GET /porteur"}
    dinum = {"GET /pilotage", "GET /api/v1/review/summary", "GET /pilotage/besoins/{id}", "GET /api/v1/assignments"}
    for kind in (agents, leads, dinum):
        assert kind & done, report
    # the rankings the workers answered during the run, read from /metrics (kept, carried or computed)
    assert sum(result.rankings.values()) > 0, report
    assert result.ceiling is not None and result.ceiling.requests > 0 and result.ceiling.failures == 0, report


def test_the_cpu_of_each_request_of_the_mix_is_read_from_the_served_app(tmp_path: Path, monkeypatch,
                                                                         capsys) -> None:
    """``python -m bench.mix_cpu --http`` on a tiny pool: every request of the mix answered (the benchmark stops at
    the first error), and the server's CPU per request printed for each."""
    import subprocess
    import sys

    from bench import mix_cpu

    url = f"sqlite:///{tmp_path / 'mix.db'}"
    monkeypatch.setenv("TALENTS_DATABASE_URL", url)
    monkeypatch.setenv("TALENTS_RANKING_INDEX_DIR", str(tmp_path / "index"))
    subprocess.run([sys.executable, "-m", "talents.cli", "demo", "--agents", "300"], check=True,
                   capture_output=True)
    assert mix_cpu.main(["--http", "--repeat", "3"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert "server cpu ms" in printed[0], printed
    rows = {line[:40].strip(): line[40:].split() for line in printed[1:]}
    assert {"GET /healthz", "GET /besoins/{id}", "PATCH …/skills/{row}"} <= set(rows), printed
    assert all(float(cpu) >= 0 and float(wall) > 0 for cpu, wall in rows.values()), printed
