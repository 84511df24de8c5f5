"""``talents agents import`` killed (SIGKILL) in the middle of a batch, on PostgreSQL.

Each batch is one transaction: the agents of the batches committed before the kill are there whole (every
skill, every window), the batch being written is not there at all. Running the import again completes it;
a third run changes nothing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from faults_support import backend_alive, count, wait_until, waiting_on_a_transaction
from sqlmodel import Session

from profiles.models import Agent

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]
AGENTS = 1500
BATCH = 200
SKILLS = ("Python", "SQL", "Docker", "Figma", "Scrum", "RGAA")
STOP_AT = 1100  # an agent in the middle of the sixth batch (lines 1000–1199)


def _line(i: int) -> dict[str, object]:
    return {
        "external_id": f"imp-{i}",
        "name": f"Agent {i}",
        "email": f"agent.{i}@interieur.gouv.fr",
        "ministry": "Ministère de l'Intérieur",
        "skills": [{"name": n, "level": 1 + (i + k) % 5} for k, n in enumerate(SKILLS)],
        "availability": [{"start": "2027-01-04", "end": "2027-06-30", "share": 0.6 + (i % 4) / 10}],
    }


def _import(path: Path, env: dict[str, str], *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - our own command line
        [sys.executable, "-m", "talents.cli", "agents", "import", str(path), *extra],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def _finish(proc: subprocess.Popen[bytes]) -> dict[str, int]:
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err.decode()[-3000:]
    return json.loads(out)  # type: ignore[no-any-return]


def _contents(engine: sa.Engine) -> list[tuple[object, ...]]:
    """Every agent with its skills and windows, as they read back."""
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT a.external_id, a.email, s.skill_id, s.level, w.start_date, w.end_date, w.share "
            "FROM agent a JOIN agent_skill s ON s.agent_id = a.id JOIN availability w ON w.agent_id = a.id "
            "ORDER BY 1, 3, 5")).all()]


def _half_written(engine: sa.Engine) -> int:
    return count(engine, f"""
        SELECT count(*) FROM agent a
        WHERE (SELECT count(*) FROM agent_skill s WHERE s.agent_id = a.id) <> {len(SKILLS)}
           OR (SELECT count(*) FROM availability w WHERE w.agent_id = a.id) <> 1""")


def test_an_import_killed_mid_batch_leaves_whole_agents_and_a_rerun_completes_it(
    engine: sa.Engine, tmp_path: Path
) -> None:
    path = tmp_path / "agents.jsonl"
    path.write_text("".join(json.dumps(_line(i)) + "\n" for i in range(AGENTS)))
    env = {**os.environ, "TALENTS_DATABASE_URL": engine.url.render_as_string(hide_password=False),
           "TALENTS_DATABASE_LOCK_TIMEOUT_S": "120"}

    # Someone else is inserting agent imp-1100 and has not committed: the import's sixth batch waits on that
    # key, its first hundred agents already written — and is killed there.
    with Session(engine) as other:
        other.add(Agent(external_id=f"imp-{STOP_AT}", email="autre@interieur.gouv.fr", name="Autre",
                        ministry="Intérieur"))
        other.flush()
        proc = _import(path, env, "--batch-size", str(BATCH))
        try:
            pid = wait_until(lambda: proc.poll() is not None or waiting_on_a_transaction(engine), 120,
                             "the import to reach the agent being inserted elsewhere")
            assert proc.poll() is None, proc.communicate()[1].decode()[-3000:]
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        other.rollback()
    wait_until(lambda: not backend_alive(engine, pid), 60, "the killed import's session to end")

    done = (STOP_AT // BATCH) * BATCH
    assert count(engine, "SELECT count(*) FROM agent") == done  # whole batches, not one agent more
    assert _half_written(engine) == 0

    rerun = _finish(_import(path, env, "--json"))
    assert (rerun["created"], rerun["updated"], rerun["rejected"]) == (AGENTS - done, done, 0)
    assert count(engine, "SELECT count(*) FROM agent") == AGENTS
    assert count(engine, "SELECT count(*) FROM agent_skill") == AGENTS * len(SKILLS)
    assert count(engine, "SELECT count(*) FROM availability") == AGENTS
    assert _half_written(engine) == 0
    imported = _contents(engine)

    third = _finish(_import(path, env, "--json"))
    assert (third["created"], third["updated"], third["rejected"]) == (0, AGENTS, 0)
    assert _contents(engine) == imported  # idempotent: the same rows again
