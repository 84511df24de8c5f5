"""End to end with the real allocation workflow: its events become the right mails, with the approval link."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlmodel import select

from notifications.channels import EmailChannel
from notifications.dispatcher import dispatch_once
from notifications.models import Notification
from talents.kernel.db import session_scope
from talents.kernel.principal import AGENT, Principal
from talents.workflow import service as workflow

pytestmark = pytest.mark.integration


def test_a_proposal_then_its_acceptance_mail_the_agent_the_lead_and_the_manager(engine, configure, smtp_server):
    from needs.models import Need, Role
    from profiles.models import Agent, Availability

    with session_scope(engine) as s:
        agent = Agent(name="Alice Martin", ministry="Intérieur", email="alice@interieur.gouv.fr",
                      manager_email="chef@interieur.gouv.fr")
        need = Need(title="Équipe flash Urgence", priority=1, start=date(2027, 1, 4), end=date(2027, 3, 31),
                    lead_email="lead@numerique.gouv.fr")
        s.add(agent)
        s.add(need)
        s.flush()
        role = Role(need_id=need.id, position=0, title="Développeuse", count=1, share=0.6)
        s.add(role)
        s.add(Availability(agent_id=agent.id, start=date(2026, 12, 1), end=date(2027, 6, 30), share=1.0))
        s.flush()
        ids = (need.id, role.id, agent.id)
    with session_scope(engine) as s:
        a = workflow.AssignmentService(s).propose(*ids, "reviewer@numerique.gouv.fr")
        assignment_id = a.id
    with session_scope(engine) as s:
        workflow.AssignmentService(s).accept(
            assignment_id, Principal("alice@interieur.gouv.fr", frozenset({AGENT}), agent_id=ids[2]))

    with session_scope(engine) as s:
        got = sorted((r.kind, r.recipient) for r in s.exec(select(Notification).where(Notification.channel == "email")))
    assert got == [
        ("assignment.accepted", "lead@numerique.gouv.fr"),
        ("assignment.approval_requested", "chef@interieur.gouv.fr"),
        ("assignment.proposed", "alice@interieur.gouv.fr"),
        ("assignment.proposed", "lead@numerique.gouv.fr"),
    ]
    assert dispatch_once(engine, datetime.now(UTC), {"email": EmailChannel(smtp_server.url)}).sent == 4
    mails = {(str(m["To"]), m["Subject"]): m for m in smtp_server.wait_for(4)}
    manager = mails[("chef@interieur.gouv.fr", "Accord demandé : Alice Martin pour Équipe flash Urgence")]
    text = manager.get_body(("plain",)).get_content()
    assert "Répondre à la demande : http" in text
    assert "60 % de son temps de travail" in text.replace("\xa0", " ").replace("\u202f", " ")
    agent_mail = mails[("alice@interieur.gouv.fr", "Proposition : Équipe flash Urgence")]
    assert "Vous êtes proposé·e" in agent_mail.get_body(("plain",)).get_content()
