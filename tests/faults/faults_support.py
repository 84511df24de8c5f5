"""What the fault tests share: a TCP proxy that can go down, lock probes, the 100 % rule as a query, seeds."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import Engine

from needs.models import Need, Role, RoleSkill
from profiles.models import Agent, AgentSkill, Availability
from talents.assignments.models import Assignment
from talents.kernel.db import session_scope

T = TypeVar("T")

LIVE = "('proposed', 'accepted', 'approved', 'active')"


def wait_until(check: Callable[[], T], timeout: float, what: str, every: float = 0.05) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


# --------------------------------------------------------------------------- PostgreSQL probes
def waiting_on(engine: Engine, table: str) -> int | None:
    """The backend pid waiting for a lock on ``table`` (None if nobody waits)."""
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT pid FROM pg_locks WHERE relation = CAST(:t AS regclass) AND NOT granted "
                    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) LIMIT 1"),
            {"t": table},
        ).scalar()


def waiting_on_a_transaction(engine: Engine) -> int | None:
    """The backend pid waiting for another transaction to end (a row lock, a unique key being inserted)."""
    with engine.connect() as conn:
        return conn.execute(
            # Sessions of this database only: other suites may share the server.
            sa.text("SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'transactionid' AND NOT l.granted AND a.datname = current_database() "
                    "AND l.pid <> pg_backend_pid() LIMIT 1")
        ).scalar()


def holds_write_lock(engine: Engine, pid: int, table: str) -> bool:
    """Whether backend ``pid`` has written to ``table`` in its open transaction."""
    with engine.connect() as conn:
        return bool(conn.execute(
            sa.text("SELECT count(*) FROM pg_locks WHERE pid = :pid AND relation = CAST(:t AS regclass) "
                    "AND mode = 'RowExclusiveLock' AND granted"),
            {"pid": pid, "t": table},
        ).scalar())


def backend_alive(engine: Engine, pid: int) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                                 {"pid": pid}).scalar())


@contextlib.contextmanager
def table_locked_against_writes(engine: Engine, table: str) -> Iterator[sa.Connection]:
    """Hold ``LOCK TABLE … IN SHARE MODE`` (reads go on, the first insert waits) until the block ends."""
    with engine.connect() as conn:
        conn.execute(sa.text(f'LOCK TABLE "{table}" IN SHARE MODE'))
        try:
            yield conn
        finally:
            conn.rollback()


def count(engine: Engine, sql: str, **params: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(sql), params).scalar_one())


def overcommitted(engine: Engine) -> list[tuple[Any, ...]]:
    """The 100 % rule as one query: (agent, day, committed share, declared share) wherever the live
    assignments of an agent add up above 100 % or above what the agent declared for that day."""
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(f"""
            WITH days AS (
                SELECT a.agent_id, d::date AS day, sum(a.share) AS committed
                FROM assignment a, generate_series(a.start_date, a.end_date, interval '1 day') AS d
                WHERE a.state IN {LIVE}
                GROUP BY a.agent_id, d::date
            )
            SELECT days.agent_id, days.day, days.committed,
                   (SELECT coalesce(max(w.share), 0) FROM availability w
                    WHERE w.agent_id = days.agent_id AND days.day BETWEEN w.start_date AND w.end_date) AS declared
            FROM days
            WHERE days.committed > 1 + 1e-9
               OR days.committed > (SELECT coalesce(max(w.share), 0) FROM availability w
                                    WHERE w.agent_id = days.agent_id
                                      AND days.day BETWEEN w.start_date AND w.end_date) + 1e-9
            ORDER BY 1, 2 LIMIT 20
        """)).all()]


# --------------------------------------------------------------------------- data
def seed_staffing(engine: Engine, agents: int = 60, needs: int = 14, busy: int = 12) -> dict[str, list[int]]:
    """Agents who know Python (every other one SQL too), free all 2027; needs of two roles of two seats at
    60 % over overlapping periods (an agent fits one seat at a time). The first ``busy`` agents already hold
    an accepted 60 % seat over the whole year: they have no room left for a second 60 % seat."""
    out: dict[str, list[int]] = {"agents": [], "needs": []}
    with session_scope(engine) as s:
        for i in range(agents):
            a = Agent(external_id=f"f{i}", email=f"f{i}@agents.gouv.fr", name=f"Agent {i}", ministry="Intérieur",
                      manager_email="chef@interieur.gouv.fr")
            s.add(a)
            s.flush()
            s.add(AgentSkill(agent_id=a.id, skill_id="python", level=3 + i % 3, typed="python"))
            if i % 2:
                s.add(AgentSkill(agent_id=a.id, skill_id="sql", level=2 + i % 4, typed="sql"))
            s.add(Availability(agent_id=a.id, start=date(2027, 1, 1), end=date(2027, 12, 31), share=1.0))
            out["agents"].append(int(a.id))  # type: ignore[arg-type]
        if busy:
            held, held_roles = _need(s, "held", "Mission en cours", 2, date(2027, 1, 1), date(2027, 12, 31),
                         (("Développeur", "python", busy),))
            for agent_id in out["agents"][:busy]:
                s.add(Assignment(need_id=held.id, role_id=held_roles[0], agent_id=agent_id, share=0.6,  # type: ignore[arg-type]
                                 start=held.start, end=held.end, state="accepted", created_by="test"))
        for j in range(needs):
            start = date(2027, 2, 1) + timedelta(days=7 * j)
            n, _ = _need(s, f"b{j}", f"Équipe flash {j}", 2 + j % 3, start, start + timedelta(days=90),
                      (("Développeur", "python", 2), ("Données", "sql", 2)))
            out["needs"].append(int(n.id))  # type: ignore[arg-type]
    return out


def _need(s: Any, ext: str, title: str, priority: int, start: date, end: date,
          roles: tuple[tuple[str, str, int], ...]) -> tuple[Need, list[int]]:
    n = Need(external_id=ext, title=title, priority=priority, start=start, end=end,
             lead_email="lead@numerique.gouv.fr", status="open")
    s.add(n)
    s.flush()
    role_ids = []
    for position, (role_title, skill, seats) in enumerate(roles):
        r = Role(need_id=n.id, position=position, title=role_title, count=seats, share=0.6)
        s.add(r)
        s.flush()
        s.add(RoleSkill(role_id=r.id, skill_id=skill, level=2, required=True, typed=skill))
        role_ids.append(int(r.id))  # type: ignore[arg-type]
    return n, role_ids


# --------------------------------------------------------------------------- a TCP proxy that can go down
class TcpProxy:
    """127.0.0.1:``port`` → ``target``, in a thread of its own. ``stop()`` is the database going away: the
    port refuses connections and every open one is cut; ``silence()`` is a host that no longer answers;
    ``start()`` brings it back on the same port."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.connections = 0
        self.silent = False

    def start(self) -> TcpProxy:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True))
            ready.set()
            self._loop.run_forever()
            self._loop.close()

        self._thread = threading.Thread(target=run, name="tcp-proxy", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self.silent:  # taken, never answered: a database host that does not respond
            self._writers.add(client_w)
            return
        try:
            server_r, server_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.close()
            return
        self._writers |= {client_w, server_w}

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            w.close()

        await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w))
        self._writers -= {client_w, server_w}

    def silence(self) -> None:
        """Cut every open connection and answer nothing on new ones (until :meth:`stop`)."""
        loop = self._loop
        assert loop is not None

        async def mute() -> None:
            self.silent = True
            for w in list(self._writers):
                w.transport.abort()
            self._writers.clear()

        asyncio.run_coroutine_threadsafe(mute(), loop).result(10)

    def stop(self) -> None:
        loop = self._loop
        if loop is None or self._thread is None:
            return

        async def down() -> None:
            assert self._server is not None
            self._server.close()
            for w in list(self._writers):
                w.transport.abort()  # a reset, as when the server's host goes away
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(down(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(10)
        self._loop = self._thread = self._server = None
        self._writers.clear()
        self.silent = False
