"""CPU per request of each kind of request of the load mix, in process, on a database already filled.

    talents demo --agents 100000                          # on TALENTS_DATABASE_URL
    python -m bench.mix_cpu [--repeat 20]

Signs in through the demo sign-in as an agent of the pool and as DINUM (who may open every need's page), then
asks each kind of request of ``python -m bench.load``'s mix ``--repeat`` times through the app (Litestar's test
client: no network, no locust), in the mix's order: the agent's reads and edits, then the lead's pages and
rankings. Every round begins with the agent's edits, so that the need's page and the rankings find a new state of
the index, as they do under the mix. Prints the process's CPU milliseconds (``time.process_time``) and the wall
time per request, beside ``GET /healthz`` (the framework's floor) in the same run.

``--http``: the same requests to ``talents serve`` (one worker) on 127.0.0.1 over HTTP, and the server process's
CPU per request (mean: the kernel counts it in 10 ms steps) — what a request costs the server, without the test
client's own cost that the in-process figures carry (about 2 ms, ``GET /healthz``'s); on PostgreSQL, the database
server's CPU per request beside it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bench.in_process import demo_client, served_client
from bench.load import database_cpu_seconds


def _agent(url: str) -> tuple[int, str]:
    """An agent of the pool who signs in and edits: public, with a window above the floor and a skill."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        agents = conn.execute(sa.text("SELECT count(*) FROM agent")).scalar_one()
        row = conn.execute(sa.text(
            "SELECT a.id, a.email FROM agent a WHERE a.visibility = 'public' "
            "AND EXISTS (SELECT 1 FROM availability w WHERE w.agent_id = a.id AND w.share > 0.5) "
            "AND EXISTS (SELECT 1 FROM agent_skill s WHERE s.agent_id = a.id) ORDER BY a.id LIMIT 1 OFFSET :skip"
        ), {"skip": min(500, agents // 4)}).one()  # past the demo's own people, in a pool of any size
    engine.dispose()
    return int(row[0]), str(row[1])


@contextmanager
def _in_process() -> Iterator[tuple[Any, Callable[[], float]]]:
    with demo_client() as client:
        yield client, time.process_time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--http", action="store_true", help="ask talents serve over HTTP; its CPU per request")
    args = parser.parse_args(argv)
    repeat = args.repeat
    url = os.environ.get("TALENTS_DATABASE_URL", "sqlite:///./talents.db")
    agent_id, email = _agent(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with (served_client() if args.http else _in_process()) as (client, cpu_seconds):
        def sign_in(who: str, role: str) -> tuple[dict[str, str], str]:
            client.cookies.clear()
            signed = client.post("/auth/demo", data={"email": who, "role": role, "next": "/"}, follow_redirects=True)
            if signed.status_code != 200:
                raise SystemExit("demo sign-in refused (is TALENTS_DEMO allowed here?)")
            return dict(client.cookies), client.get("/api/v1/me").json()["csrf_token"]

        agent_cookies, csrf = sign_in(email, "agent")
        base = f"/api/v1/agents/{agent_id}"
        window = client.get(f"{base}/availability").json()[0]
        skill = client.get(f"{base}/skills").json()[0]
        lead_cookies, _ = sign_in("pilotage.dinum@numerique.gouv.fr", "reviewer")
        need = client.get("/api/v1/needs?limit=1").json()["data"][0]["id"]
        client.get(f"/besoins/{need}")  # the ranking index ready (built or loaded) before any timing
        edits = iter(range(10**9))
        requests: list[tuple[str, dict[str, str], str, str, Any]] = [
            ("GET /healthz", agent_cookies, "GET", "/healthz", None),
            ("PATCH /api/v1/agents/{id}", agent_cookies, "PATCH", base,
             lambda: {"bio": f"Disponible pour une équipe flash (mise à jour {next(edits)})."}),
            ("PUT …/availability/{window}", agent_cookies, "PUT", f"{base}/availability/{window['id']}",
             lambda: {"start": window["start"], "end": window["end"], "share": 0.6 + 0.2 * (next(edits) % 2)}),
            ("PATCH …/skills/{row}", agent_cookies, "PATCH", f"{base}/skills/{skill['id']}",
             lambda: {"level": 3 + next(edits) % 2}),
            ("GET /mon-espace", agent_cookies, "GET", "/mon-espace", None),
            ("GET /api/v1/agents/{id}", agent_cookies, "GET", base, None),
            ("GET /api/v1/agents/{id}/availability", agent_cookies, "GET", f"{base}/availability", None),
            ("GET /besoins/{id}", lead_cookies, "GET", f"/besoins/{need}", None),
            ("GET …/roles/0/candidates?top=20", lead_cookies, "GET",
             f"/api/v1/needs/{need}/roles/0/candidates?top=20", None),
            ("GET /api/v1/needs?limit=20", lead_cookies, "GET", "/api/v1/needs?limit=20", None),
            ("GET /porteur", lead_cookies, "GET", "/porteur", None),
        ]
        cpu: dict[str, list[float]] = {r[0]: [] for r in requests}
        wall: dict[str, list[float]] = {r[0]: [] for r in requests}
        database: dict[str, list[float]] = {r[0]: [] for r in requests}
        # Over HTTP on PostgreSQL: the database server's CPU too (its processes on this machine, when readable).
        database_cpu = database_cpu_seconds if args.http and url.startswith("postgres") else (lambda: None)
        for _ in range(repeat):
            for name, cookies, method, url, body in requests:
                client.cookies.clear()
                client.cookies.update(cookies)
                headers = {"X-CSRF-Token": csrf} if method != "GET" else {}
                d0, c0, w0 = database_cpu(), cpu_seconds(), time.perf_counter()
                answer = client.request(method, url, json=body() if body else None, headers=headers)
                wall[name].append(1000 * (time.perf_counter() - w0))
                cpu[name].append(1000 * (cpu_seconds() - c0))
                if d0 is not None and (d1 := database_cpu()) is not None:
                    database[name].append(1000 * (d1 - d0))
                if answer.status_code >= 400:
                    raise SystemExit(f"{method} {url}: {answer.status_code} {answer.text[:300]}")
    # The server's CPU comes in clock ticks: only a mean over the rounds says what a request costs.
    average = statistics.fmean if args.http else statistics.median
    whose = "server cpu ms" if args.http else "cpu ms"
    on_database = all(database.values())
    print(f"{'request':40} {whose:>13} {'wall ms':>8}" + (f" {'database cpu ms':>15}" if on_database else "")
          + f"   ({average.__name__} of {repeat}; load {os.getloadavg()[0]:.1f})")
    for name, *_ in requests:
        print(f"{name:40} {average(cpu[name]):13.2f} {statistics.median(wall[name]):8.2f}"
              + (f" {average(database[name]):15.2f}" if on_database else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
