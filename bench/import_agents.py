"""Bulk import speed: agents per second into SQLite, beside a baseline and a lower bound.

    python -m bench.import_agents [--agents 100000] [--skills 6]

- engine: ``AgentImporter`` exactly as ``talents agents import`` runs it (validation, normalisation,
  upsert by external id, one transaction a batch);
- baseline: the obvious ORM way, one ``session.add`` per agent, skill and window (on a sample,
  extrapolated, labelled so);
- lower bound: the same rows written by raw ``sqlite3.executemany`` with no parsing, validation or
  normalisation at all — what the disk and SQLite alone cost.
Ratios are printed against the lower bound; machines here are shared, so compare ratios, not seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import tempfile
import time
from datetime import date
from pathlib import Path

SKILLS = ("Python", "SQL", "Docker", "Figma", "Scrum", "RGAA", "Kubernetes", "React", "dev front", "pyhton")


def _document(i: int, skills: int) -> dict:
    return {
        "external_id": f"ext-{i}",
        "name": f"Agent {i}",
        "email": f"agent{i}@numerique.gouv.fr",
        "ministry": "DINUM",
        "skills": [{"name": SKILLS[(i + k) % len(SKILLS)], "level": 1 + (i + k) % 5} for k in range(skills)],
        "availability": [{"start": "2027-01-01", "end": "2027-06-30", "share": 0.6}],
    }


def _fresh_database(directory: Path, name: str) -> str:
    from talents.kernel.db import migrate, session_scope
    from talents.kernel.settings import reset_settings

    url = f"sqlite:///{directory / name}"
    os.environ["TALENTS_DATABASE_URL"] = url
    reset_settings()
    migrate(url)
    from profiles.taxonomy import TaxonomyService
    from talents.kernel.db import get_engine

    with session_scope(get_engine(url)) as session:
        TaxonomyService(session).ensure_default()
    return url


def run_engine(path: Path, url: str) -> float:
    from profiles.importer import AgentImporter
    from talents.kernel.bulk import read_records
    from talents.kernel.db import get_engine

    start = time.perf_counter()
    report = AgentImporter(get_engine(url)).run(read_records(path))
    elapsed = time.perf_counter() - start
    assert not report.errors, report.errors[:3]
    return elapsed


def run_orm_baseline(documents: list[dict], url: str) -> float:
    from profiles.models import Agent, AgentSkill, Availability
    from talents.kernel.db import get_engine, session_scope

    start = time.perf_counter()
    for doc in documents:
        with session_scope(get_engine(url)) as session:
            agent = Agent(
                external_id=doc["external_id"], name=doc["name"], email=doc["email"], ministry=doc["ministry"]
            )
            session.add(agent)
            session.flush()
            for k, s in enumerate(doc["skills"]):
                session.add(
                    AgentSkill(
                        agent_id=agent.id,
                        skill_id=("python", "sql", "docker", "figma", "scrum", "rgaa", "kubernetes", "react")[k % 8],
                        level=s["level"],
                        typed=s["name"],
                    )
                )
            for w in doc["availability"]:
                session.add(
                    Availability(
                        agent_id=agent.id,
                        start=date.fromisoformat(w["start"]),
                        end=date.fromisoformat(w["end"]),
                        share=w["share"],
                    )
                )
    return time.perf_counter() - start


def run_lower_bound(documents: list[dict], db_path: Path) -> float:
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    ids = ("python", "sql", "docker", "figma", "scrum", "rgaa", "kubernetes", "react")
    start = time.perf_counter()
    with conn:
        conn.executemany(
            "INSERT INTO agent (id, external_id, name, email, ministry, service, grade, location, remote, visibility, "
            "bio, languages, created_at, updated_at) VALUES (?, ?, ?, ?, ?, '', '', '', 1, 'public', '', '[]', "
            "'2026-01-01', '2026-01-01')",
            [(i + 1, d["external_id"], d["name"], d["email"], d["ministry"]) for i, d in enumerate(documents)],
        )
        conn.executemany(
            "INSERT INTO agent_skill (agent_id, skill_id, typed, confidence, level, endorsements) "
            "VALUES (?, ?, ?, 1, ?, 0)",
            [
                (i + 1, ids[k % 8], s["name"], s["level"])
                for i, d in enumerate(documents)
                for k, s in enumerate(d["skills"])
            ],
        )
        conn.executemany(
            "INSERT INTO availability (agent_id, start_date, end_date, share) VALUES (?, ?, ?, ?)",
            [(i + 1, w["start"], w["end"], w["share"]) for i, d in enumerate(documents) for w in d["availability"]],
        )
    conn.close()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=100_000)
    parser.add_argument("--skills", type=int, default=6)
    parser.add_argument("--baseline-sample", type=int, default=2_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="talents-bench-") as tmp:
        directory = Path(tmp)
        documents = [_document(i, args.skills) for i in range(args.agents)]
        path = directory / "agents.jsonl"
        path.write_text("\n".join(json.dumps(d) for d in documents) + "\n", encoding="utf-8")

        url = _fresh_database(directory, "engine.db")
        engine_s = run_engine(path, url)
        upsert_s = run_engine(path, url)  # the same file again: every line is an update

        _fresh_database(directory, "bound.db")
        bound_s = run_lower_bound(documents, directory / "bound.db")

        sample = documents[: args.baseline_sample]
        orm_url = _fresh_database(directory, "orm.db")
        orm_s = run_orm_baseline(sample, orm_url) * (args.agents / len(sample))

    n = args.agents
    rows = [
        ("engine: talents agents import (new agents)", engine_s),
        ("engine: same file again (all upserts)", upsert_s),
        (f"baseline: ORM, one transaction an agent (sample of {len(sample)}, extrapolated)", orm_s),
        ("lower bound: raw sqlite3 executemany, no validation", bound_s),
    ]
    print(f"Bulk import of {n:,} agents × {args.skills} skills + 1 window, SQLite (WAL)")
    print(f"{'':75} {'seconds':>9} {'agents/s':>10} {'× bound':>8}")
    for label, seconds in rows:
        print(f"{label:75} {seconds:9.2f} {n / seconds:10,.0f} {seconds / bound_s:8.1f}")


if __name__ == "__main__":
    main()
