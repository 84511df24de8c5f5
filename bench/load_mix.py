"""Locust users for ``python -m bench.load``: a mix of what the users of Talents do, over HTTP.

Run by :mod:`bench.load` (``locust -f bench/load_mix.py --headless …``), which prepares the database and writes
the plan that this file reads from ``TALENTS_LOAD_PLAN`` (a JSON file): the agents and leads to sign in as, the
needs, and the pace (tasks a second per user, 0 for as fast as possible).

- :class:`AgentUser` signs in through the demo sign-in as an agent of the pool, then reads « Mon espace », reads
  its profile and availability through the API, edits its bio, an availability window and a skill level.
- :class:`LeadUser` signs in as the lead of a need, opens the need's page (ranked candidates of every role over
  the whole pool), asks the API for a role's candidates, lists needs, opens « Mes projets », and proposes the
  best candidate nobody has proposed yet into an open seat (with every seat held, withdraws an accepted agent).
- :class:`AnswerUser` is an agent who got a proposal: signs in, opens « Mon espace », accepts or declines.
- :class:`ReviewerUser` is DINUM: the review dashboard, its summary, a need's review page, the assignments.
- :class:`CeilingUser` asks a bare endpoint the same way, for the ceiling.

Every response of 400 or above counts as an error; the proposal a lead makes is checked before it is answered.
"""

from __future__ import annotations

import itertools
import json
import os
import random
from collections import deque
from typing import Any

import gevent
from locust import FastHttpUser, constant, constant_throughput, events, task
from locust.env import Environment

PLAN: dict[str, Any] = json.loads(open(os.environ["TALENTS_LOAD_PLAN"], encoding="utf-8").read())  # noqa: SIM115
# Tasks a second of one user of each kind (0: no pause), so that the kinds share the load as real use does.
RATES: dict[str, float] = PLAN["rates"]

# Shared by the users of this locust process: who is signed in or already proposed (never proposed again, so
# that a proposal is never refused for a reason of the load test's own making), and proposals to answer.
_agents = itertools.cycle(PLAN["agents"])
_leads = itertools.cycle(PLAN["leads"])
TAKEN: set[int] = {a["id"] for a in PLAN["agents"]} | set(PLAN["taken"])
PROPOSALS: deque[dict[str, Any]] = deque()
ACCEPTED: list[dict[str, Any]] = []
# Open seats of each (need, role position), as the leads know them from their proposals and the answers.
SEATS: dict[tuple[int, int], int] = {(lead["need_id"], r): n for lead in PLAN["leads"]
                                     for r, n in enumerate(lead["seats"])}
EMAILS: dict[str, str] = PLAN["emails"]  # every agent's e-mail by id: where the proposal's e-mail would go


_ERRORS = open(PLAN["errors_file"], "a", encoding="utf-8") if PLAN.get("errors_file") else None  # noqa: SIM115


@events.request.add_listener
def _keep_error(request_type: str, name: str, response: Any = None, exception: Any = None, **_: Any) -> None:
    """Each error with the start of its answer, for the harness to show beside the server's log."""
    if exception is not None and _ERRORS is not None:
        body = getattr(response, "text", None) or ""
        _ERRORS.write(json.dumps({"request": name, "error": str(exception)[:200],
                                  "status": getattr(response, "status_code", None), "body": body[:500]}) + "\n")
        _ERRORS.flush()


@events.spawning_complete.add_listener
def _count_from_the_steady_state(user_count: int, **_: Any) -> None:
    """Statistics start ``settle_s`` (from the plan) after every user started: the sign-in rush and the first
    rankings of every role are the run's start, not the steady use the figures describe. (Errors are kept from
    the start: see :func:`_keep_error`.)"""
    settle = float(PLAN.get("settle_s", 0))
    if settle > 0 and _ENV is not None and _ENV.runner is not None:
        gevent.spawn_later(settle, _ENV.runner.stats.reset_all)


_ENV: Environment | None = None


@events.init.add_listener
def _keep_environment(environment: Environment, **_: Any) -> None:
    global _ENV
    _ENV = environment


def _pace(kind: str) -> Any:
    return constant_throughput(RATES[kind]) if RATES[kind] > 0 else constant(0)


class _SignedIn(FastHttpUser):
    abstract = True
    csrf = ""

    def sign_in(self, email: str, role: str) -> dict[str, Any]:
        """The demo sign-in form, then ``/api/v1/me`` for the CSRF token and the linked agent."""
        self.client.cookiejar.clear()
        with self.client.post("/auth/demo", data={"email": email, "role": role, "next": "/"},
                              allow_redirects=False, name="POST /auth/demo (sign-in)",
                              catch_response=True) as response:
            if response.status_code != 303:
                response.failure(f"sign-in answered {response.status_code}")
        response = self.client.get("/api/v1/me", name="GET /api/v1/me")
        me = response.json() if response.status_code == 200 else {}  # else counted as an error already
        self.csrf = me.get("csrf_token") or ""
        return me

    def write(self, method: str, path: str, name: str, body: dict[str, Any]) -> Any:
        return self.client.request(method, path, name=name, json=body, headers={"X-CSRF-Token": self.csrf})


class AgentUser(_SignedIn):
    fixed_count = PLAN["users"]["AgentUser"]
    wait_time = _pace("AgentUser")

    def on_start(self) -> None:
        who = next(_agents)
        self.agent_id = who["id"]
        self.sign_in(who["email"], "agent")
        base = f"/api/v1/agents/{self.agent_id}"
        self.windows = self.client.get(f"{base}/availability", name="GET /api/v1/agents/{id}/availability").json()
        self.skills = self.client.get(f"{base}/skills", name="GET /api/v1/agents/{id}/skills").json()
        self.edits = itertools.count()

    @task(3)
    def my_space(self) -> None:
        self.client.get("/mon-espace", name="GET /mon-espace")

    @task(2)
    def read_profile(self) -> None:
        self.client.get(f"/api/v1/agents/{self.agent_id}", name="GET /api/v1/agents/{id}")

    @task(1)
    def read_availability(self) -> None:
        self.client.get(f"/api/v1/agents/{self.agent_id}/availability", name="GET /api/v1/agents/{id}/availability")

    @task(1)
    def edit_bio(self) -> None:
        self.write("PATCH", f"/api/v1/agents/{self.agent_id}", "PATCH /api/v1/agents/{id}",
                   {"bio": f"Disponible pour une équipe flash (mise à jour {next(self.edits)})."})

    @task(1)
    def edit_availability(self) -> None:
        if not self.windows:
            return
        w = self.windows[0]
        share = 0.8 if w["share"] < 0.8 else 0.6  # above the 50 % floor either way
        self.write("PUT", f"/api/v1/agents/{self.agent_id}/availability/{w['id']}",
                   "PUT /api/v1/agents/{id}/availability/{window}", {"start": w["start"], "end": w["end"],
                                                                     "share": share})
        w["share"] = share

    @task(1)
    def edit_skill(self) -> None:
        if not self.skills:
            return
        s = random.choice(self.skills)
        level = 4 if (s.get("level") or 3) != 4 else 3
        self.write("PATCH", f"/api/v1/agents/{self.agent_id}/skills/{s['id']}",
                   "PATCH /api/v1/agents/{id}/skills/{row}", {"level": level})
        s["level"] = level


class LeadUser(_SignedIn):
    fixed_count = PLAN["users"]["LeadUser"]
    wait_time = _pace("LeadUser")

    def on_start(self) -> None:
        lead = next(_leads)
        self.need_id, self.roles = lead["need_id"], len(lead["seats"])
        self.sign_in(lead["email"], "lead")

    def _candidates(self, role: int) -> Any:
        return self.client.get(f"/api/v1/needs/{self.need_id}/roles/{role}/candidates?top=20",
                               name="GET /api/v1/needs/{id}/roles/{n}/candidates")

    @task(4)
    def need_page(self) -> None:
        self.client.get(f"/besoins/{self.need_id}", name="GET /besoins/{id}")

    @task(8)
    def candidates(self) -> None:
        self._candidates(random.randrange(self.roles))

    @task(4)
    def needs_list(self) -> None:
        self.client.get("/api/v1/needs?limit=20", name="GET /api/v1/needs")

    @task(3)
    def my_projects(self) -> None:
        self.client.get("/porteur", name="GET /porteur")

    @task(1)
    def propose(self) -> None:
        """The best candidate nobody proposed yet, into a seat left open; with every seat held, the lead
        withdraws an accepted agent (the need changed) to make room."""
        open_roles = [r for r in range(self.roles) if SEATS[(self.need_id, r)] > 0]
        if not open_roles:
            self._withdraw()
            return
        role = random.choice(open_roles)
        ranked = self._candidates(role).json()
        pick = next((c["agent_id"] for c in ranked.get("candidates", []) if c["agent_id"] not in TAKEN), None)
        if pick is None or SEATS[(self.need_id, role)] <= 0:  # another user of this lead took the seat meanwhile
            return
        TAKEN.add(pick)
        SEATS[(self.need_id, role)] -= 1
        with self.client.post("/api/v1/assignments", name="POST /api/v1/assignments (propose)",
                              json={"need_id": self.need_id, "role": role, "agent_id": pick,
                                    "reason": "Profil proche du besoin"},
                              headers={"X-CSRF-Token": self.csrf}, catch_response=True) as response:
            if response.status_code < 400:
                body = response.json()
                if body.get("state") != "proposed":
                    response.failure(f"a new proposal is {body.get('state')!r}")
                else:
                    PROPOSALS.append({"id": body["id"], "agent_id": pick, "seat": (self.need_id, role)})

    def _withdraw(self) -> None:
        mine = [a for a in ACCEPTED if a["seat"][0] == self.need_id]
        if not mine:
            return
        held = mine[0]
        ACCEPTED.remove(held)
        response = self.write("POST", f"/api/v1/assignments/{held['id']}/withdraw",
                              "POST /api/v1/assignments/{id}/withdraw",
                              {"reason": "Le besoin a évolué : le rôle est réorganisé"})
        if response.status_code < 400:
            SEATS[held["seat"]] += 1


class AnswerUser(_SignedIn):
    """An agent who received a proposal (by e-mail, in the real service) and answers it."""

    fixed_count = PLAN["users"]["AnswerUser"]
    wait_time = _pace("AnswerUser")

    @task
    def answer(self) -> None:
        if not PROPOSALS:
            return
        proposal = PROPOSALS.popleft()
        self.sign_in(EMAILS[str(proposal["agent_id"])], "agent")
        self.client.get("/mon-espace", name="GET /mon-espace")
        decision = random.choice(("accept", "decline"))
        body = {} if decision == "accept" else {"reason": "Pas disponible sur cette période"}
        with self.client.post(f"/api/v1/assignments/{proposal['id']}/{decision}", json=body,
                              name=f"POST /api/v1/assignments/{{id}}/{decision}", headers={"X-CSRF-Token": self.csrf},
                              catch_response=True) as response:
            if response.status_code >= 400:
                return
            state = response.json().get("state")
            if state not in ("accepted", "declined"):
                response.failure(f"the answer left the proposal {state!r}")
            elif state == "declined":
                SEATS[proposal["seat"]] += 1  # the seat is open again
            else:
                ACCEPTED.append(proposal)


class ReviewerUser(_SignedIn):
    fixed_count = PLAN["users"]["ReviewerUser"]
    wait_time = _pace("ReviewerUser")

    def on_start(self) -> None:
        self.sign_in(PLAN["reviewer"], "reviewer")

    @task(2)
    def dashboard(self) -> None:
        self.client.get("/pilotage", name="GET /pilotage")

    @task(1)
    def summary(self) -> None:
        self.client.get("/api/v1/review/summary", name="GET /api/v1/review/summary")

    @task(1)
    def need_review(self) -> None:
        self.client.get(f"/pilotage/besoins/{random.choice(PLAN['needs'])}", name="GET /pilotage/besoins/{id}")

    @task(1)
    def assignments(self) -> None:
        self.client.get("/api/v1/assignments?limit=20", name="GET /api/v1/assignments")


class CeilingUser(FastHttpUser):
    """The same client and pace against one trivial JSON endpoint: what the machine and the server can do."""

    wait_time = constant(0)

    @task
    def ping(self) -> None:
        self.client.get("/ping", name="GET /ping")
