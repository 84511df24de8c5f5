"""Every API route × every role × someone else's object: who must be refused.

The routes come from the application's own route table, so a new route is walked as soon as it exists; a
route with no expectation below fails the test until someone states who may call it.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from talents.auth.testing import auth_headers, issue_token
from talents.kernel.access import declared_rule

pytestmark = pytest.mark.integration

DENIED = {401, 403, 404}
ACTORS = ("anonymous", "agent", "manager", "lead", "reviewer", "admin")

# For each route: the actors (besides reviewer and admin) that may call it on SOMEONE ELSE's object.
# "signed" = every signed-in actor (agent, manager, lead); their handler filters what they see.
SIGNED = frozenset({"agent", "manager", "lead"})
A, T, P, N = "/api/v1/agents", "/api/v1/taxonomy", "/api/v1/projects", "/api/v1/needs"
OPEN_TO: dict[tuple[str, str], frozenset[str]] = {
    ("GET", A): frozenset({"lead"}),
    ("POST", A): frozenset({"agent"}),  # their own profile only (checked on the body)
    ("POST", f"{A}/import"): frozenset(),
    ("GET", f"{A}/{{agent_id:int}}"): frozenset({"lead"}),
    ("PATCH", f"{A}/{{agent_id:int}}"): frozenset(),
    ("DELETE", f"{A}/{{agent_id:int}}"): frozenset(),
    ("GET", f"{A}/{{agent_id:int}}/skills"): frozenset({"lead"}),
    ("POST", f"{A}/{{agent_id:int}}/skills"): frozenset(),
    ("PATCH", f"{A}/{{agent_id:int}}/skills/{{skill_row_id:int}}"): frozenset(),
    ("DELETE", f"{A}/{{agent_id:int}}/skills/{{skill_row_id:int}}"): frozenset(),
    ("GET", f"{A}/{{agent_id:int}}/availability"): frozenset({"lead"}),
    ("POST", f"{A}/{{agent_id:int}}/availability"): frozenset(),
    ("PUT", f"{A}/{{agent_id:int}}/availability/{{window_id:int}}"): frozenset(),
    ("DELETE", f"{A}/{{agent_id:int}}/availability/{{window_id:int}}"): frozenset(),
    ("GET", f"{T}/skills"): SIGNED,
    ("GET", f"{T}/suggest"): SIGNED,
    ("GET", f"{T}/resolve"): SIGNED,
    ("GET", f"{T}/skills/{{skill_id:str}}"): SIGNED,
    ("POST", f"{T}/skills"): frozenset(),
    ("PATCH", f"{T}/skills/{{skill_id:str}}"): frozenset(),
    ("DELETE", f"{T}/skills/{{skill_id:str}}"): frozenset(),
    ("POST", f"{T}/skills/{{skill_id:str}}/merge"): frozenset(),
    ("POST", f"{T}/import"): frozenset(),
    ("GET", P): SIGNED,
    ("POST", P): frozenset({"lead"}),
    ("GET", f"{P}/{{project_id:int}}"): SIGNED,
    ("PATCH", f"{P}/{{project_id:int}}"): frozenset(),
    ("DELETE", f"{P}/{{project_id:int}}"): frozenset(),
    ("GET", N): SIGNED,
    ("POST", N): frozenset({"lead"}),
    ("POST", f"{N}/import"): frozenset(),
    ("GET", f"{N}/{{need_id:int}}"): SIGNED,
    ("PATCH", f"{N}/{{need_id:int}}"): frozenset(),
    ("DELETE", f"{N}/{{need_id:int}}"): frozenset(),
    ("GET", f"{N}/{{need_id:int}}/roles"): SIGNED,
    ("POST", f"{N}/{{need_id:int}}/roles"): frozenset(),
    ("GET", f"{N}/{{need_id:int}}/roles/{{position:int}}"): SIGNED,
    ("PATCH", f"{N}/{{need_id:int}}/roles/{{position:int}}"): frozenset(),
    ("DELETE", f"{N}/{{need_id:int}}/roles/{{position:int}}"): frozenset(),
    ("GET", f"{N}/{{need_id:int}}/roles/{{position:int}}/candidates"): frozenset(),
    ("GET", f"{N}/{{need_id:int}}/team"): frozenset(),
    # the caller's own things
    ("GET", "/api/v1/me"): SIGNED,
    ("GET", "/api/v1/me/export"): SIGNED,
    ("DELETE", "/api/v1/me"): SIGNED,
    ("GET", "/api/v1/me/notifications"): SIGNED,
    ("GET", "/api/v1/me/notifications/unread-count"): SIGNED,
    ("POST", "/api/v1/me/notifications/{notification_id:int}/read"): SIGNED,  # 404 unless theirs
    ("POST", "/api/v1/me/notifications/read-all"): SIGNED,
    ("GET", "/api/v1/me/notification-preferences"): SIGNED,
    ("PUT", "/api/v1/me/notification-preferences"): SIGNED,
    # workflow: lists are filtered to what the caller may see; objects of others are refused
    ("GET", "/api/v1/assignments"): SIGNED,
    ("POST", "/api/v1/assignments"): frozenset({"lead"}),  # their own needs: checked by the workflow service
    ("GET", "/api/v1/assignments/{assignment_id:int}"): frozenset(),
    ("POST", "/api/v1/assignments/{assignment_id:int}/accept"): frozenset(),
    ("POST", "/api/v1/assignments/{assignment_id:int}/decline"): frozenset(),
    ("POST", "/api/v1/assignments/{assignment_id:int}/activate"): frozenset(),
    ("POST", "/api/v1/assignments/{assignment_id:int}/complete"): frozenset(),
    ("POST", "/api/v1/assignments/{assignment_id:int}/withdraw"): frozenset(),
    ("POST", "/api/v1/assignments/{assignment_id:int}/approval-link"): frozenset(),
    ("POST", "/api/v1/allocations/runs"): frozenset(),
    ("GET", "/api/v1/allocations/runs"): frozenset(),
    ("POST", "/api/v1/allocations/overrides"): frozenset(),
    ("GET", "/api/v1/audit"): frozenset(),
    ("GET", "/api/v1/review/summary"): frozenset(),
    ("GET", "/api/v1/review/fte.csv"): frozenset(),
    ("GET", "/api/v1/audit/export.csv"): frozenset(),
}
ADMIN_ONLY_PREFIX = "/api/v1/admin/"
# Only the assigned agent answers a proposal: reviewers and admins are refused there too (domain rule).
AGENT_ONLY = {("POST", "/api/v1/assignments/{assignment_id:int}/accept"),
              ("POST", "/api/v1/assignments/{assignment_id:int}/decline")}


def _admins_only(rule: Any) -> bool:
    return bool(rule is not None and rule.roles and "reviewer" not in rule.roles)


def _api_routes(app: Any) -> list[tuple[str, str, Any]]:
    out = []
    for route in app.routes:
        if not route.path.startswith("/api/"):
            continue
        for method, handler in getattr(route, "route_handler_map", {}).items():
            if method in ("OPTIONS", "HEAD"):
                continue
            out.append((method, route.path, handler[0] if isinstance(handler, tuple) else handler))
    # unsafe last, deletes at the very end, erasing one's own account last of all: earlier checks see the
    # objects (and the callers) intact
    order = {"GET": 0, "POST": 1, "PUT": 1, "PATCH": 1, "DELETE": 2}
    return sorted(out, key=lambda r: (3 if (r[0], r[1]) == ("DELETE", "/api/v1/me") else order.get(r[0], 1), r[1]))


def _world(client: Any, admin: dict[str, str]) -> dict[str, Any]:
    """Objects that belong to someone else: the owner's profile, the owner-lead's project and need."""
    start = date.today() + timedelta(days=30)
    agent = client.post(A, json={
        "name": "Owner Agent", "email": "owner@agents.gouv.fr", "ministry": "Intérieur",
        "skills": [{"name": "Python", "level": 4}],
        "availability": [{"start": start.isoformat(), "end": (start + timedelta(days=90)).isoformat(),
                          "share": 0.8}]}, headers=admin)
    assert agent.status_code == 201, agent.text
    agent_body = agent.json()
    project = client.post(P, json={"name": "Owner project", "ministry": "Intérieur",
                                   "lead_email": "owner-lead@x.gouv.fr"}, headers=admin)
    assert project.status_code == 201, project.text
    need = client.post(N, json={
        "title": "Owner need", "ministry": "Intérieur", "lead_email": "owner-lead@x.gouv.fr",
        "project_id": project.json()["id"], "start": start.isoformat(),
        "end": (start + timedelta(days=30)).isoformat(),
        "roles": [{"title": "Dev", "count": 1, "share": 0.6, "skills": [{"name": "Python", "level": 3}]}]},
        headers=admin)
    assert need.status_code == 201, need.text
    assignment = client.post("/api/v1/assignments", json={"need_id": need.json()["id"], "role": 0,
                                                          "agent_id": agent_body["id"]}, headers=admin)
    params = {
        "agent_id": agent_body["id"],
        "skill_row_id": agent_body["skills"][0]["id"],
        "window_id": agent_body["availability"][0]["id"],
        "project_id": project.json()["id"],
        "need_id": need.json()["id"],
        "position": 0,
        "skill_id": agent_body["skills"][0]["skill_id"],
        "assignment_id": assignment.json()["id"] if assignment.status_code < 300 else 999_999,
        "token_id": 1, "user_id": 1, "notification_id": 999_999, "delivery_id": 999_999,
    }
    return params


def _fill(template: str, params: dict[str, Any]) -> str:
    import re

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in params, f"the matrix does not know how to fill {{{name}}} in {template}: add it to _world"
        return str(params[name])

    return re.sub(r"\{(\w+):\w+\}", value, template)


@pytest.fixture
def world(client, engine):
    admin = auth_headers(issue_token(engine, "admin@x.gouv.fr", "admin"))
    params = _world(client, admin)
    spare = client.post("/api/v1/admin/tokens", json={"email": "spare@x.gouv.fr"}, headers=admin).json()
    params["token_id"] = spare["id"]
    headers: dict[str, dict[str, str]] = {"anonymous": {}, "admin": admin}
    for actor, roles in (("agent", ("agent",)), ("manager", ("manager",)), ("lead", ("lead",)),
                         ("reviewer", ("reviewer",))):
        headers[actor] = auth_headers(issue_token(engine, f"other-{actor}@x.gouv.fr", *roles))
    # the other agent has a profile of their own, so that "own profile" rules have someone to compare
    mine = client.post(A, json={"name": "Other", "email": "other-agent@x.gouv.fr", "ministry": "Culture"},
                       headers=headers["agent"])
    assert mine.status_code == 201, mine.text
    return params, headers


def test_every_api_route_has_a_stated_expectation(client):
    missing = []
    for method, path, handler in _api_routes(client.app):
        if path.startswith(ADMIN_ONLY_PREFIX) or (method, path) in OPEN_TO:
            continue
        rule = declared_rule(handler)
        if rule is None or not rule.public:
            missing.append(f"{method} {path}")
    assert not missing, "say who may call these routes (tests/auth/test_auth_matrix.py OPEN_TO): " + \
        ", ".join(missing)


def test_every_api_route_declares_its_rule_beside_itself(client):
    # The default rule (any signed-in principal) is a fallback, not a statement: each route says who may call it.
    silent = [f"{method} {path}" for method, path, handler in _api_routes(client.app) if declared_rule(handler) is None]
    assert not silent, "declare opt=rule(...) on these routes: " + ", ".join(silent)


def test_every_route_refuses_whoever_may_not_touch_someone_elses_object(client, world):
    params, headers = world
    failures = []
    for method, template, handler in _api_routes(client.app):
        rule = declared_rule(handler)
        if rule is not None and rule.public:
            continue
        url = _fill(template, params)
        allowed = OPEN_TO.get((method, template), frozenset())
        for actor in ACTORS:
            kwargs: dict[str, Any] = {"headers": headers[actor]}
            if method in ("POST", "PUT", "PATCH"):
                kwargs["json"] = {}
            status = client.request(method, url, **kwargs).status_code
            if status >= 500:
                failures.append(f"{actor:9} {method} {url}: {status} (server error)")
            elif actor == "anonymous":
                if status != 401:
                    failures.append(f"{actor:9} {method} {url}: {status}, expected 401")
            elif (method, template) in AGENT_ONLY and actor in ("reviewer", "admin"):
                if status != 403:
                    failures.append(f"{actor:9} {method} {url}: {status}, expected 403 (the agent answers)")
            elif actor == "admin" or (actor == "reviewer" and not _admins_only(rule)):
                if status in (401, 403):
                    failures.append(f"{actor:9} {method} {url}: {status}, expected to be let through")
            elif actor == "reviewer":
                if status != 403:
                    failures.append(f"{actor:9} {method} {url}: {status}, expected 403 (admins only)")
            elif actor not in allowed and status not in DENIED:
                failures.append(f"{actor:9} {method} {url}: {status}, expected 401/403/404")
            elif actor in allowed and status in (401, 403):
                failures.append(f"{actor:9} {method} {url}: {status}, expected to be let through")
    assert not failures, "\n".join(failures)


def test_the_owner_is_let_through_on_their_own_profile(client, world):
    params, headers = world
    other = client.get("/api/v1/me", headers=headers["agent"]).json()
    assert other["agent_id"] is not None
    own = f"{A}/{other['agent_id']}"
    assert client.get(own, headers=headers["agent"]).status_code == 200
    assert client.patch(own, json={"bio": "Data engineer"}, headers=headers["agent"]).status_code == 200
    assert client.get(f"{A}/{params['agent_id']}", headers=headers["agent"]).status_code == 403


def test_a_lead_writes_their_own_needs_and_projects_not_others(client, world, engine):
    params, headers = world
    owner = auth_headers(issue_token(engine, "owner-lead@x.gouv.fr", "lead"))
    need = f"{N}/{params['need_id']}"
    assert client.patch(need, json={"title": "Renamed"}, headers=owner).status_code == 200
    assert client.patch(need, json={"title": "Hijack"}, headers=headers["lead"]).status_code == 403
    assert client.patch(need, json={"priority": 1}, headers=owner).status_code == 403
    assert client.patch(need, json={"priority": 1}, headers=headers["reviewer"]).status_code == 200
    assert client.patch(f"{P}/{params['project_id']}", json={"description": "x"}, headers=owner).status_code == 200
    assert client.get(f"{N}/{params['need_id']}/roles/0/candidates", headers=owner).status_code == 200
    created = client.post(P, json={"name": "Mine", "ministry": "Culture"}, headers=headers["lead"])
    assert created.status_code == 201 and created.json()["lead_email"] == "other-lead@x.gouv.fr"
    stolen = client.post(P, json={"name": "Not mine", "ministry": "Culture", "lead_email": "owner-lead@x.gouv.fr"},
                         headers=headers["lead"])
    assert stolen.status_code == 403
    into_other = client.post(N, json={"title": "x", "project_id": params["project_id"], "start": "2030-01-01",
                                      "end": "2030-02-01"}, headers=headers["lead"])
    assert into_other.status_code == 403


def test_an_agent_creates_only_their_own_profile(client, world):
    _, headers = world
    body = {"name": "Someone", "email": "someone-else@x.gouv.fr", "ministry": "Culture"}
    assert client.post(A, json=body, headers=headers["agent"]).status_code == 403


def test_the_projects_lead_leads_its_needs_everywhere(client, engine):
    """One answer to "who leads this need": a need without a lead of its own is led by its project's lead,
    on the API, on the need's page and in the workflow."""
    admin = auth_headers(issue_token(engine, "admin@x.gouv.fr", "admin"))
    project = client.post(P, json={"name": "P", "ministry": "Culture", "lead_email": "project-lead@x.gouv.fr"},
                          headers=admin).json()
    need = client.post(N, json={"title": "Sans porteur propre", "project_id": project["id"], "start": "2030-01-01",
                                "end": "2030-02-01", "roles": [{"title": "Dev", "share": 0.6}]},
                       headers=admin).json()
    assert need["lead_email"] is None
    lead = auth_headers(issue_token(engine, "project-lead@x.gouv.fr", "lead"))
    assert client.patch(f"{N}/{need['id']}", json={"title": "Renommé"}, headers=lead).status_code == 200
    assert client.get(f"{N}/{need['id']}/team", headers=lead).status_code == 200
    page = client.get(f"/besoins/{need['id']}", headers={**lead, "Accept": "text/html"})
    assert page.status_code == 200
    assert "visibles du porteur du besoin" not in page.text  # the ranked candidates are shown to the lead
    agent = client.post(A, json={"name": "Agent", "email": "agent-p@x.gouv.fr", "ministry": "Culture"},
                        headers=admin).json()
    proposed = client.post("/api/v1/assignments", json={"need_id": need["id"], "role": 0, "agent_id": agent["id"]},
                           headers=lead)
    assert proposed.status_code not in (401, 403, 404), proposed.text


def test_a_lead_does_not_write_the_ministries_pledges(client, engine):
    lead = auth_headers(issue_token(engine, "porteur@x.gouv.fr", "lead"))
    pledges = [{"ministry": "Culture", "fte": 5}]
    created = client.post(P, json={"name": "P", "ministry": "Culture", "pledges": pledges}, headers=lead)
    assert created.status_code == 403 and created.json()["field"] == "pledges"
    mine = client.post(P, json={"name": "P", "ministry": "Culture"}, headers=lead).json()
    changed = client.patch(f"{P}/{mine['id']}", json={"pledges": pledges}, headers=lead)
    assert changed.status_code == 403 and changed.json()["field"] == "pledges"
    reviewer = auth_headers(issue_token(engine, "revue@x.gouv.fr", "reviewer"))
    assert client.patch(f"{P}/{mine['id']}", json={"pledges": pledges}, headers=reviewer).status_code == 200
