"""CPU per request of DINUM's requests of the load mix, in process, on a database already filled.

    talents demo --agents 100000                          # on TALENTS_DATABASE_URL
    python -m bench.review [--repeat 20]

Signs in as a reviewer through the demo sign-in and asks each request ``--repeat`` times through the app (Litestar's
test client: no network), printing the process's CPU milliseconds (``time.process_time``) and the wall time per
request. The dashboard and the summary are timed twice: as most views find them (the pool's figures kept), and as
a view that counts them again (the kept ones dropped before each request: once every ``POOL_MAX_AGE_S`` seconds
per worker while the pool changes). On PostgreSQL the counting runs in the database server: compare the wall time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from bench.in_process import demo_client, repeat_from


def _time(client: Any, url: str, repeat: int, before: Callable[[], None] = lambda: None) -> tuple[float, float]:
    client.get(url)
    cpu = wall = 0.0
    for _ in range(repeat):
        before()
        c0, w0 = time.process_time(), time.perf_counter()
        answer = client.get(url)
        cpu, wall = cpu + time.process_time() - c0, wall + time.perf_counter() - w0
        if answer.status_code != 200:
            raise SystemExit(f"{url}: {answer.status_code}")
    return 1000 * cpu / repeat, 1000 * wall / repeat


def main(argv: list[str] | None = None) -> int:
    repeat = repeat_from(__doc__.split("\n")[0], argv)
    client_in_process = demo_client()
    # imported once the client set the environment the app's settings are read from
    from talents.review import forget_pool_figures

    with client_in_process as client:
        signed = client.post("/auth/demo", data={"email": "pilotage.dinum@numerique.gouv.fr", "role": "reviewer",
                                                 "next": "/"})
        if signed.status_code != 200:
            raise SystemExit(f"demo sign-in: {signed.status_code} (is TALENTS_DEMO allowed here?)")
        need = client.get("/api/v1/needs?limit=1").json()["data"][0]["id"]
        client.get(f"/besoins/{need}")  # the ranking index ready (built or loaded) before any timing
        time.sleep(float(os.environ.get("BENCH_REVIEW_SETTLE_S", "20")))  # and written to its file
        rows = [("GET /healthz", "/healthz", None), ("GET /pilotage", "/pilotage", None),
                ("GET /pilotage, counted again", "/pilotage", forget_pool_figures),
                ("GET /api/v1/review/summary", "/api/v1/review/summary", None),
                ("GET /api/v1/review/summary, counted again", "/api/v1/review/summary", forget_pool_figures),
                ("GET /pilotage/besoins/{id}", f"/pilotage/besoins/{need}", None),
                ("GET /api/v1/assignments?limit=20", "/api/v1/assignments?limit=20", None)]
        print(f"{'request':44s} {'CPU ms':>7s} {'wall ms':>8s}")
        for label, url, before in rows:
            cpu, wall = _time(client, url, repeat, before or (lambda: None))
            print(f"{label:44s} {cpu:7.1f} {wall:8.1f}")
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
