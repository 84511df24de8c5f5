"""Nobody approves their own release: approval links go to the need's lead and DINUM, never to the agent; the
manager is someone else than the agent and is not chosen by the agent."""

from __future__ import annotations

import pytest
from factories import make_agent, make_need
from wfhelpers import LEAD_EMAIL

from talents.auth.testing import auth_headers, issue_token
from talents.kernel.db import session_scope
from talents.kernel.principal import MANAGER, Principal
from talents.workflow.service import AssignmentService

pytestmark = pytest.mark.integration
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"])


def _accepted(client, engine, agent_email: str, **agent: object) -> tuple[int, int, dict[str, str]]:
    agent_id = make_agent(engine, "x", email=agent_email, **agent)  # type: ignore[arg-type]
    need_id = make_need(engine, "n1")
    reviewer = auth_headers(issue_token(engine, "revue@numerique.gouv.fr", "reviewer"))
    proposed = client.post("/api/v1/assignments", json={"need_id": need_id, "role": 0, "agent_id": agent_id},
                           headers=reviewer)
    assert proposed.status_code == 201, proposed.text
    me = auth_headers(issue_token(engine, agent_email, "agent"))
    aid = proposed.json()["id"]
    accepted = client.post(f"/api/v1/assignments/{aid}/accept", json={}, headers=me)
    assert accepted.status_code == 200, accepted.text
    return agent_id, aid, me


@SQLITE_ONLY
def test_an_agent_never_obtains_the_approval_link_of_their_own_assignment(client, engine):
    _, aid, me = _accepted(client, engine, "x@agents.gouv.fr")
    refused = client.post(f"/api/v1/assignments/{aid}/approval-link", headers=me)
    assert refused.status_code == 403
    lead = auth_headers(issue_token(engine, LEAD_EMAIL, "lead"))
    link = client.post(f"/api/v1/assignments/{aid}/approval-link", headers=lead)
    assert link.status_code == 200 and "/manager/approvals/" in link.json()["approval_url"]


@SQLITE_ONLY
def test_an_agent_who_also_leads_the_need_does_not_get_their_own_link(client, engine):
    _, aid, _ = _accepted(client, engine, LEAD_EMAIL)
    both = auth_headers(issue_token(engine, LEAD_EMAIL, "agent", "lead"))
    assert client.post(f"/api/v1/assignments/{aid}/approval-link", headers=both).status_code == 403


@SQLITE_ONLY
def test_an_agent_does_not_choose_their_manager_and_nobody_is_their_own(client, engine):
    agent_id = make_agent(engine, "x", email="x@agents.gouv.fr", manager_email=None)
    me = auth_headers(issue_token(engine, "x@agents.gouv.fr", "agent"))
    chosen = client.patch(f"/api/v1/agents/{agent_id}", json={"manager_email": "ami@agents.gouv.fr"}, headers=me)
    assert chosen.status_code == 403 and chosen.json()["field"] == "manager_email"
    reviewer = auth_headers(issue_token(engine, "revue@numerique.gouv.fr", "reviewer"))
    self_managed = client.patch(f"/api/v1/agents/{agent_id}", json={"manager_email": "X@agents.gouv.fr"},
                                headers=reviewer)
    assert self_managed.status_code == 422 and self_managed.json()["field"] == "manager_email"
    set_by_dinum = client.patch(f"/api/v1/agents/{agent_id}", json={"manager_email": "chef@agents.gouv.fr"},
                                headers=reviewer)
    assert set_by_dinum.status_code == 200 and set_by_dinum.json()["manager_email"] == "chef@agents.gouv.fr"
    # the agent may still edit the rest of their profile, and send back the manager they were given
    same = client.patch(f"/api/v1/agents/{agent_id}", json={"bio": "Data", "manager_email": "chef@agents.gouv.fr"},
                        headers=me)
    assert same.status_code == 200, same.text


@SQLITE_ONLY
def test_a_link_is_never_sent_to_the_agent_named_as_their_own_manager(client, engine, events):
    # a profile written before the rule existed, with the agent as their own manager
    _accepted(client, engine, "x@agents.gouv.fr", manager_email="x@agents.gouv.fr")
    assert events.last("assignment.approval_requested").data["manager_email"] is None


@SQLITE_ONLY
def test_a_lead_assigned_to_their_own_need_does_not_endorse_themselves(client, engine):
    agent_id, aid, _ = _accepted(client, engine, LEAD_EMAIL)
    reviewer = auth_headers(issue_token(engine, "revue@numerique.gouv.fr", "reviewer"))
    link = client.post(f"/api/v1/assignments/{aid}/approval-link", headers=reviewer).json()["approval_url"]
    path = "/manager/" + link.split("/manager/", 1)[1]
    assert client.post(path, json={"decision": "approve"}).status_code == 200
    assert client.post(f"/api/v1/assignments/{aid}/activate", headers=reviewer).status_code == 200
    both = auth_headers(issue_token(engine, LEAD_EMAIL, "agent", "lead"))
    own = client.post(f"/api/v1/assignments/{aid}/complete", json={"feedback": "Parfait", "endorse": ["python"]},
                      headers=both)
    assert own.status_code == 403
    profile = client.get(f"/api/v1/agents/{agent_id}", headers=reviewer).json()
    assert all(s["endorsements"] == 0 for s in profile["skills"])


@SQLITE_ONLY
def test_an_agent_recorded_as_their_own_manager_has_no_request_to_approve(client, engine):
    _, aid, me = _accepted(client, engine, "x@agents.gouv.fr", manager_email="x@agents.gouv.fr")
    waiting = client.get("/responsable", headers={**me, "Accept": "text/html"})
    assert waiting.status_code in (200, 403)
    assert "/manager/approvals/" not in waiting.text
    with session_scope(engine) as s:
        assert AssignmentService(s).waiting_for(Principal("x@agents.gouv.fr", frozenset({MANAGER}))) == []
