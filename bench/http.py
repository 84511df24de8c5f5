"""HTTP cost per request on one worker, beside the framework's ceiling (``/healthz``) in the same run.

    python -m bench.http                       # embedded SQLite, 3 000 demo agents
    python -m bench.http --backend postgres    # PostgreSQL (TALENTS_BENCH_POSTGRES_URL, default local server)

Seeds the demo data into a fresh database, starts ``talents serve`` on 127.0.0.1, and drives it with wrk
(Debian package ``wrk``) at 1, 4 and 8 connections. Prints requests per second, p50 and p99 for each
request, and the ratio of its throughput to ``/healthz``'s at the same connection count. Goals (one worker):
simple reads ≥ 500 req/s with p99 ≤ 25 ms, a ranking over 3 000 agents ≥ 150 req/s, throughput that grows
from 1 to 8 connections.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass
class Figure:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(url: str, connections: int, seconds: float, token: str) -> Figure:
    out = subprocess.run(  # noqa: S603 - a fixed command line
        ["wrk", f"-t{min(connections, 2)}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
         "-H", f"Authorization: Bearer {token}", url],
        capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*?timeout (\d+)", out)
    return Figure(rps, p50, p99, (int(bad.group(1)) if bad else 0) + (int(errors.group(1)) if errors else 0))


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


def _targets(base: str, token: str) -> list[tuple[str, str]]:
    headers = {"Authorization": f"Bearer {token}"}
    need = httpx.get(f"{base}/api/v1/needs?limit=1", headers=headers, timeout=30).json()["data"][0]["id"]
    agent = httpx.get(f"{base}/api/v1/agents?limit=1", headers=headers, timeout=30).json()["data"][0]["id"]
    # The first ranking builds the index: warm it before measuring.
    httpx.get(f"{base}/api/v1/needs/{need}/roles/0/candidates?top=20", headers=headers, timeout=120)
    return [
        ("GET /healthz (ceiling)", f"{base}/healthz"),
        ("GET /api/v1/needs?limit=20", f"{base}/api/v1/needs?limit=20"),
        ("GET /api/v1/agents/{id}", f"{base}/api/v1/agents/{agent}"),
        ("GET …/roles/0/candidates?top=20", f"{base}/api/v1/needs/{need}/roles/0/candidates?top=20"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--agents", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", default="1,4,8")
    parser.add_argument("--workers", type=int, default=1)
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
        print(f"{args.backend}, {args.workers} worker(s), {args.agents} agents, wrk {args.seconds:.0f} s per cell")
        print(f"{'request':36}" + "".join(f"{f'{c} conn.: req/s  p50  p99 (×ceiling)':>42}" for c in conns))
        ceiling: dict[int, float] = {}
        for label, target in _targets(f"http://127.0.0.1:{port}", token):
            cells = []
            for c in conns:
                fig = wrk(target, c, args.seconds, token)
                ceiling.setdefault(c, fig.rps)
                err = f" {fig.errors} err" if fig.errors else ""
                ratio = fig.rps / ceiling[c]
                cells.append(f"{fig.rps:8.0f} {fig.p50_ms:6.1f} {fig.p99_ms:6.1f} ms ({ratio:4.2f}){err}")
            print(f"{label:36}" + "".join(f"{cell:>42}" for cell in cells), flush=True)
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
