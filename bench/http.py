"""HTTP cost per request on one worker, beside the framework's ceiling (``/healthz``) in the same run.

    python -m bench.http                       # embedded SQLite, 3 000 demo agents
    python -m bench.http --backend postgres    # PostgreSQL (TALENTS_BENCH_POSTGRES_URL, default local server)

Seeds the demo data into a fresh database, starts ``talents serve`` on 127.0.0.1, and drives it with wrk
(Debian package ``wrk``) at 1, 4 and 8 connections, in ``--rounds`` rounds that go through the connection counts in
turn (1, 4, 8, 1, 4, 8, …), so that a moment when the machine is busy does not land on one count only; each cell is
the round of median throughput. Prints requests per second, p50 and p99 for each
request, the ratio of its throughput to ``/healthz``'s at the same connection count (``/healthz`` is asked
without credentials: the framework's ceiling), and the server's CPU milliseconds per request. Then the goals
(one worker), each with whether this run met it: simple reads ≥ 500 req/s with p99 ≤ 25 ms, a ranking over
3 000 agents ≥ 150 req/s, throughput that grows — never falls — from 1 to 8 connections. The load average is
printed beside the figures: on a busy machine compare the ratios and the CPU time, not the rates.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import sqlalchemy as sa

from bench.machine import interpreter_seconds, pace

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass
class Figure:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int = 0
    cpu_ms: float = 0.0  # the server's CPU time per request (what a busy machine changes least)


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _ms(text: str) -> float:
    found = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if found is None:  # no request answered in the cell: wrk prints no figure
        return float("nan")
    value, unit = found.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


SIMPLE_READ_RPS, SIMPLE_READ_P99_MS, RANKING_RPS = 500.0, 25.0, 150.0
GROWTH_TOLERANCE = 0.05  # a step down smaller than this is the noise of a run, not a fall


def wrk(url: str, connections: int, seconds: float, token: str | None) -> Figure:
    auth = ["-H", f"Authorization: Bearer {token}"] if token else []
    out = subprocess.run(  # noqa: S603 - a fixed command line
        # A 30 s timeout: a slow answer is measured, not counted as an error (wrk's default gives up at 2 s).
        ["wrk", f"-t{min(connections, 2)}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "30s",
         "--latency", *auth, url],
        capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return Figure(rps, p50, p99, (int(bad.group(1)) if bad else 0) + (sum(map(int, errors.groups())) if errors else 0),
                  requests)


def median_round(figures: list[Figure]) -> Figure:
    """The measurement of median throughput (the lower one of an even count), errors counted over all of them."""
    ranked = sorted(figures, key=lambda f: f.rps)
    middle = ranked[(len(ranked) - 1) // 2]
    return replace(middle, errors=sum(f.errors for f in figures))


def _database(backend: str, tmp: Path) -> tuple[str, str | None]:
    """The database URL, and the PostgreSQL database to drop afterwards."""
    if backend == "sqlite":
        return f"sqlite:///{tmp / 'bench.db'}", None
    admin_url = os.environ.get("TALENTS_BENCH_POSTGRES_URL", DEFAULT_PG)
    name = f"talents_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url.replace("postgresql://", "postgresql+psycopg://", 1),
                             isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}", name


def _drop(name: str) -> None:
    admin_url = os.environ.get("TALENTS_BENCH_POSTGRES_URL", DEFAULT_PG)
    admin = sa.create_engine(admin_url.replace("postgresql://", "postgresql+psycopg://", 1),
                             isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _talents(env: dict[str, str], *args: str) -> str:
    return subprocess.run([sys.executable, "-m", "talents.cli", *args], cwd=ROOT, env=env, check=True,  # noqa: S603
                          capture_output=True, text=True).stdout


def _token(env: dict[str, str]) -> str:
    code = ("from talents.auth.testing import issue_token; from talents.kernel.db import get_engine; "
            "print(issue_token(get_engine(), 'bench@numerique.gouv.fr', 'admin', 'reviewer'))")
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True,  # noqa: S603
                          capture_output=True, text=True).stdout.strip().splitlines()[-1]


def _serve(env: dict[str, str], port: int, workers: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "talents.cli", "serve", "--port", str(port),  # noqa: S603
                             "--workers", str(workers)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("the server did not start")


def _targets(base: str, token: str) -> list[tuple[str, str, str]]:
    """(label, URL, kind): kind is ``ceiling``, ``simple`` or ``ranking``."""
    headers = {"Authorization": f"Bearer {token}"}
    need = httpx.get(f"{base}/api/v1/needs?limit=1", headers=headers, timeout=30).json()["data"][0]["id"]
    agent = httpx.get(f"{base}/api/v1/agents?limit=1", headers=headers, timeout=30).json()["data"][0]["id"]
    # The first ranking builds the index: warm it before measuring.
    httpx.get(f"{base}/api/v1/needs/{need}/roles/0/candidates?top=20", headers=headers, timeout=120)
    return [
        ("GET /healthz (ceiling)", f"{base}/healthz", "ceiling"),
        ("GET /api/v1/needs?limit=20", f"{base}/api/v1/needs?limit=20", "simple"),
        ("GET /api/v1/agents/{id}", f"{base}/api/v1/agents/{agent}", "simple"),
        ("GET …/roles/0/candidates?top=20", f"{base}/api/v1/needs/{need}/roles/0/candidates?top=20", "ranking"),
    ]


def _cell(f: Figure, ceiling: float) -> str:
    err = f" {f.errors} err" if f.errors else ""
    return f"{f.rps:8.0f} {f.p50_ms:6.1f} {f.p99_ms:6.1f} ms ({f.rps / ceiling:4.2f}) {f.cpu_ms:5.2f}{err}"


def _load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + f", {pace(interpreter_seconds())}"


def verdicts(rows: list[tuple[str, str, dict[int, Figure]]]) -> list[str]:
    """The goals, each with the cell that meets it best and whether this run met it."""
    out = []

    def mark(ok: bool) -> str:
        return "met" if ok else "NOT met"

    for label, kind, cells in rows:
        clean = {c: f for c, f in cells.items() if not f.errors}
        if kind == "simple":
            ok = [c for c, f in clean.items() if f.rps >= SIMPLE_READ_RPS and f.p99_ms <= SIMPLE_READ_P99_MS]
            best = max(ok or clean, key=lambda c: clean[c].rps, default=None)
            seen = (f"{clean[best].rps:.0f} req/s, p99 {clean[best].p99_ms:.1f} ms at {best} conn."
                    if best is not None else "errors in every cell")
            out.append(f"  simple read ≥ {SIMPLE_READ_RPS:.0f} req/s with p99 ≤ {SIMPLE_READ_P99_MS:.0f} ms — "
                       f"{label}: {seen}: {mark(bool(ok))}")
        elif kind == "ranking":
            best = max(clean, key=lambda c: clean[c].rps, default=None)
            seen = f"{clean[best].rps:.0f} req/s at {best} conn." if best is not None else "errors in every cell"
            out.append(f"  ranking over the agents ≥ {RANKING_RPS:.0f} req/s — {label}: best {seen}: "
                       f"{mark(best is not None and clean[best].rps >= RANKING_RPS)}")
    for label, kind, cells in rows:
        if kind == "ceiling":
            continue
        conns = sorted(cells)
        falls = [f"{a}→{b}" for a, b in itertools.pairwise(conns)
                 if cells[b].rps < cells[a].rps * (1 - GROWTH_TOLERANCE)]
        errors = sum(f.errors for f in cells.values())
        figures = " → ".join(f"{cells[c].rps:.0f}" for c in conns)
        grows = not falls and not errors
        why = "; ".join([*([f"falls {', '.join(falls)}"] if falls else []), *([f"{errors} errors"] if errors else [])])
        out.append(f"  throughput grows from {conns[0]} to {conns[-1]} conn. — {label}: {figures} req/s: {mark(grows)}"
                   + (f" ({why})" if why else ""))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--agents", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", default="1,4,8")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3, help="measurements of each cell, the median shown")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    tmp = Path(tempfile.mkdtemp(prefix="talents-bench-http-"))
    url, dropme = _database(args.backend, tmp)
    env = {**os.environ, "TALENTS_DATABASE_URL": url, "TALENTS_ENV": "development", "TALENTS_LOG_LEVEL": "WARNING",
           "TALENTS_WRITE_RATE_PER_MINUTE": "1000000"}
    port = 18000 + os.getpid() % 1000
    proc = None
    try:
        _talents(env, "demo", "--agents", str(args.agents))
        token = _token(env)
        proc = _serve(env, port, args.workers)
        conns = [int(c) for c in args.connections.split(",")]
        print(f"{args.backend}, {args.workers} worker(s), {args.agents} agents, wrk {args.seconds:.0f} s per cell, "
              f"median of {args.rounds} rounds, {_load()}")
        print(f"{'request':36}" + "".join(f"{f'{c} conn.: req/s  p50  p99 (×ceiling) cpu ms':>50}" for c in conns))
        ceiling: dict[int, float] = {}
        rows: list[tuple[str, str, dict[int, Figure]]] = []
        for label, target, kind in _targets(f"http://127.0.0.1:{port}", token):
            rounds: dict[int, list[Figure]] = {c: [] for c in conns}
            for _ in range(max(1, args.rounds)):
                for c in conns:
                    # The ceiling is the framework's: no credentials to look up.
                    before = _cpu_s(proc.pid)
                    fig = wrk(target, c, args.seconds, None if kind == "ceiling" else token)
                    fig.cpu_ms = (_cpu_s(proc.pid) - before) * 1000 / max(fig.requests, 1)
                    rounds[c].append(fig)
            cells = {c: median_round(figs) for c, figs in rounds.items()}
            for c in conns:
                ceiling.setdefault(c, cells[c].rps)
            rows.append((label, kind, cells))
            print(f"{label:36}" + "".join(_cell(f, ceiling[c]).rjust(50) for c, f in cells.items()), flush=True)
        print(f"goals (one worker), {_load()}:")
        print("\n".join(verdicts(rows)))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
        if dropme:
            _drop(dropme)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
