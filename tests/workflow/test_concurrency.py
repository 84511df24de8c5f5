"""Concurrent allocation runs, accepts, manager approvals, overrides and proposals, behind a barrier, in
threads and in processes, on PostgreSQL and on SQLite (WAL): no agent ever above 100 % on any day, no
seat over-filled, no write lost, and every failure a clean 409."""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any
from urllib.parse import urlparse

import pytest
from concurrency_ops import close_needs, execute, overcommitted, round_needs
from factories import make_agent
from sqlmodel import col, select

from needs.models import Role
from talents.assignments.models import COMMITTED_STATES, Assignment, AuditEvent
from talents.kernel.db import session_scope
from talents.kernel.events import Event, subscribe, unsubscribe
from talents.workflow.service import AssignmentService

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BASE = date(2028, 1, 3)
AGENTS = ("c0", "c1", "c2", "c3")
# Rounds per mode and backend; TALENTS_TEST_ROUNDS scales them (e.g. 200 for a long soak).
ROUNDS = int(os.environ.get("TALENTS_TEST_ROUNDS", "15"))


# --------------------------------------------------------------------------- process workers
def _worker(url: str, barrier: Any, inbox: Any, outbox: Any) -> None:
    from talents.kernel import db as dbmod

    for e in list(dbmod._engines.values()):  # never reuse the parent's connections
        e.dispose(close=False)
    dbmod._engines.clear()
    engine = dbmod.get_engine(url)
    while True:
        job = inbox.get()
        if job is None:
            return
        i, op, args = job
        try:
            barrier.wait(timeout=60)
        except threading.BrokenBarrierError:
            outbox.put((i, ("err", "BrokenBarrier", 500, "barrier broken")))
            continue
        outbox.put((i, execute(engine, op, args)))


class _Processes:
    def __init__(self, url: str, n: int) -> None:
        ctx = mp.get_context("fork")
        self.barrier = ctx.Barrier(n)
        self.inboxes = [ctx.Queue() for _ in range(n)]
        self.outbox = ctx.Queue()
        self.procs = [ctx.Process(target=_worker, args=(url, self.barrier, q, self.outbox)) for q in self.inboxes]
        for p in self.procs:
            p.start()

    def fire(self, ops: list[tuple[str, dict[str, Any]]]) -> list[tuple[Any, ...]]:
        for i, (q, (op, args)) in enumerate(zip(self.inboxes, ops, strict=True)):
            q.put((i, op, args))
        results = dict(self.outbox.get(timeout=120) for _ in ops)
        return [results[i] for i in range(len(ops))]

    def close(self) -> None:
        for q in self.inboxes:
            q.put(None)
        for p in self.procs:
            p.join(10)
            if p.is_alive():
                p.terminate()


class _Threads:
    def __init__(self, engine: Any, n: int) -> None:
        self.engine = engine
        self.barrier = threading.Barrier(n)
        self.pool = ThreadPoolExecutor(n)

    def _one(self, op: str, args: dict[str, Any]) -> tuple[Any, ...]:
        self.barrier.wait(timeout=60)
        return execute(self.engine, op, args)

    def fire(self, ops: list[tuple[str, dict[str, Any]]]) -> list[tuple[Any, ...]]:
        return [f.result(timeout=120) for f in [self.pool.submit(self._one, op, a) for op, a in ops]]

    def close(self) -> None:
        self.pool.shutdown()


# --------------------------------------------------------------------------- the test
@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_concurrent_runs_accepts_approvals_and_overrides_never_overcommit_nor_lose_writes(engine, mode, monkeypatch):
    from talents.kernel.settings import reset_settings

    # The greedy tiers only: the exact model's child process would cost more than the rest of a round.
    monkeypatch.setenv("TALENTS_ALLOCATION_EXACT", "false")
    reset_settings()
    rng = random.Random(f"{mode}-{engine.dialect.name}")
    agents = {ext: make_agent(engine, ext, skills=[("python", 4)],
                              windows=[(date(2028, 1, 1), date(2029, 12, 31), 1.0)]) for ext in AGENTS}
    by_id = {v: k for k, v in agents.items()}
    links: list[str] = []

    def capture(_s: Any, event: Event) -> None:
        if event.kind == "assignment.approval_requested":
            links.append(urlparse(event.data["approval_url"]).path.rsplit("/", 1)[1])

    subscribe(capture)
    url = engine.url.render_as_string(hide_password=False)
    runner = _Threads(engine, 6) if mode == "threads" else _Processes(url, 6)
    totals = {"ok": 0, "409": 0, "503": 0}
    try:
        for r in range(ROUNDS):
            lo, hi = round_needs(engine, r, BASE)
            with session_scope(engine) as s:  # two proposals on the low-priority need, one accepted
                svc = AssignmentService(s)
                role = s.exec(select(Role).where(Role.need_id == lo)).one()
                first, second = (svc.propose(lo, role.id, agents[ext], "setup")
                                 for ext in rng.sample(AGENTS, 2))
                svc.accept(first.id, _agent_principal(by_id[first.agent_id]))
            token = links[-1]
            ops = [
                ("run", {"need_ids": [hi, lo]}),
                ("run", {"need_ids": [hi]}),
                ("accept", {"assignment_id": second.id, "ext": by_id[second.agent_id]}),
                ("approve", {"token": token}),
                ("force", {"agent_id": agents[rng.choice(AGENTS)], "need_id": rng.choice([hi, lo])}),
                ("propose", {"agent_id": agents[rng.choice(AGENTS)], "need_id": rng.choice([hi, lo])}),
            ]
            rng.shuffle(ops)
            results = runner.fire(ops)
            _check_round(engine, r, ops, results, totals)
            close_needs(engine, [lo, hi])
    finally:
        runner.close()
        unsubscribe(capture)
    assert totals["ok"] > totals["409"] > 0, totals  # real contention happened, and most calls succeeded
    # A lock wait that runs out is a clean refusal (nothing written), but a rare one: not a queue that never moves.
    assert totals["503"] * 10 <= totals["ok"] + totals["409"], totals


def _agent_principal(ext: str) -> Any:
    from concurrency_ops import agent_p

    return agent_p(ext)


def _check_round(engine: Any, r: int, ops: list[tuple[str, dict[str, Any]]], results: list[tuple[Any, ...]],
                 totals: dict[str, int]) -> None:
    for (op, _args), res in zip(ops, results, strict=True):
        if res[0] == "err":
            assert res[2] in (409, 503), f"round {r}: {op} failed uncleanly: {res}"
            totals[str(res[2])] += 1
        else:
            totals["ok"] += 1
    assert overcommitted(engine) == [], f"round {r}"
    with session_scope(engine) as s:
        subjects = [str(res[1].get("id", res[1].get("run_id"))) for res in results if res[0] == "ok"]
        audited = {(e.action, e.subject_id)
                   for e in s.exec(select(AuditEvent).where(col(AuditEvent.subject_id).in_(subjects or ["-"])))}
        for (op, args), res in zip(ops, results, strict=True):
            if res[0] != "ok":
                continue
            out = res[1]
            if op in ("accept", "approve"):
                a = s.get(Assignment, out["id"])
                allowed = ("accepted", "approved") if op == "accept" else ("approved",)
                assert a.state in allowed, f"round {r}: a successful {op} was lost: {a.state}"
                action = "assignment.accepted" if op == "accept" else "assignment.approved"
                assert (action, str(a.id)) in audited
            elif op in ("force", "propose"):
                a = s.get(Assignment, out["id"])
                assert a is not None
                if op == "force":
                    assert a.forced and a.state in COMMITTED_STATES, f"round {r}: forced one moved: {a.state}"
                elif a.state not in COMMITTED_STATES:  # only a later run may have withdrawn it, and said so
                    assert a.state == "withdrawn" and ("assignment.withdrawn", str(a.id)) in audited
            elif op == "run":
                made = s.exec(select(Assignment).where(Assignment.run_id == out["run_id"])).all()
                assert len(made) == out["proposed"], f"round {r}: run lost proposals"
                assert ("allocation.run", out["run_id"]) in audited


@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_racing_for_one_agent_exactly_one_commitment_wins_each_round(engine, mode):
    """Four callers at once try to commit the same agent (60 %) to four overlapping needs: one wins."""
    solo = make_agent(engine, "solo", skills=[("python", 4)], windows=[(date(2028, 1, 1), date(2028, 12, 31), 1.0)])
    needs = [_need(engine, i) for i in range(4)]
    url = engine.url.render_as_string(hide_password=False)
    runner = _Threads(engine, 4) if mode == "threads" else _Processes(url, 4)
    rounds = 2 * ROUNDS
    try:
        for r in range(rounds):
            ops = [("force" if (r + i) % 2 else "propose", {"agent_id": solo, "need_id": n})
                   for i, n in enumerate(needs)]
            results = runner.fire(ops)
            wins = [res[1] for res in results if res[0] == "ok"]
            assert len(wins) == 1, f"round {r}: {results}"
            assert all(res[2] == 409 for res in results if res[0] == "err"), f"round {r}: {results}"
            assert overcommitted(engine) == [], f"round {r}"
            with session_scope(engine) as s:
                live = s.exec(select(Assignment).where(Assignment.agent_id == solo,
                                                       col(Assignment.state).in_(COMMITTED_STATES))).all()
                assert [a.id for a in live] == [wins[0]["id"]]
            assert execute(engine, "remove", {"assignment_id": wins[0]["id"]})[0] == "ok"
    finally:
        runner.close()


def _need(engine: Any, i: int) -> int:
    from factories import make_need

    return make_need(engine, f"race-{i}", start=date(2028, 3, 1 + i), end=date(2028, 3, 20 + i),
                     roles=[{"share": 0.6, "count": 1, "skills": [("python", 3, True)]}])
