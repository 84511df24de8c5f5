"""CPU per request of each kind of request of the load mix, in process, on a database already filled.

    talents demo --agents 100000                          # on TALENTS_DATABASE_URL
    python -m bench.mix_cpu [--repeat 20]

Signs in through the demo sign-in as an agent of the pool and as DINUM (who may open every need's page), then
asks each kind of request of ``python -m bench.load``'s mix ``--repeat`` times through the app (Litestar's test
client: no network, no locust), in the mix's order: the agent's reads and edits, then the lead's pages and
rankings. Every round begins with the agent's edits, so that the need's page and the rankings find a new state of
the index, as they do under the mix. Prints the process's CPU milliseconds (``time.process_time``) and the wall
time per request, beside ``GET /healthz`` (the framework's floor) in the same run.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

from bench.in_process import demo_client, repeat_from


def _agent(url: str) -> tuple[int, str]:
    """An agent of the pool who signs in and edits: public, with a window above the floor and a skill."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        row = conn.execute(sa.text(
            "SELECT a.id, a.email FROM agent a WHERE a.visibility = 'public' "
            "AND EXISTS (SELECT 1 FROM availability w WHERE w.agent_id = a.id AND w.share > 0.5) "
            "AND EXISTS (SELECT 1 FROM agent_skill s WHERE s.agent_id = a.id) ORDER BY a.id LIMIT 1 OFFSET 500"
        )).one()
    engine.dispose()
    return int(row[0]), str(row[1])


def main(argv: list[str] | None = None) -> int:
    repeat = repeat_from(__doc__.split("\n")[0], argv)
    client_in_process = demo_client()
    # imported once the client set the environment the app's settings are read from
    from talents.kernel.settings import get_settings

    agent_id, email = _agent(get_settings().db.database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with client_in_process as client:
        def sign_in(who: str, role: str) -> tuple[dict[str, str], str]:
            client.cookies.clear()
            if client.post("/auth/demo", data={"email": who, "role": role, "next": "/"}).status_code != 200:
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
        for _ in range(repeat):
            for name, cookies, method, url, body in requests:
                client.cookies.clear()
                client.cookies.update(cookies)
                headers = {"X-CSRF-Token": csrf} if method != "GET" else {}
                c0, w0 = time.process_time(), time.perf_counter()
                answer = client.request(method, url, json=body() if body else None, headers=headers)
                cpu[name].append(1000 * (time.process_time() - c0))
                wall[name].append(1000 * (time.perf_counter() - w0))
                if answer.status_code >= 400:
                    raise SystemExit(f"{method} {url}: {answer.status_code} {answer.text[:300]}")
    print(f"{'request':40} {'cpu ms':>8} {'wall ms':>8}   (median of {repeat}; load {os.getloadavg()[0]:.1f})")
    for name, *_ in requests:
        print(f"{name:40} {statistics.median(cpu[name]):8.2f} {statistics.median(wall[name]):8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
