"""The pages over HTTP (the whole app, a real database): forms need their CSRF token, refusals come back as French
pages beside the form with nothing written, and each user reaches only their own pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from talents.kernel.settings import reset_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def demo(engine, monkeypatch) -> Iterator[None]:
    monkeypatch.setenv("TALENTS_DEMO", "true")
    reset_settings()
    yield
    monkeypatch.delenv("TALENTS_DEMO")
    reset_settings()


def _signed_in(email: str, role: str) -> Any:
    from litestar.testing import TestClient

    from talents.app import create_app

    client = TestClient(create_app())
    client.__enter__()
    answer = client.post("/auth/demo", data={"email": email, "role": role, "next": "/mon-espace"})
    assert answer.status_code == 200
    return client


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page's forms carry a CSRF token"
    return found.group(1)


def test_an_agent_creates_a_profile_and_the_floor_is_refused_in_french(demo):
    client = _signed_in("lea.agent@numerique.gouv.fr", "agent")
    try:
        space = client.get("/mon-espace")
        assert space.status_code == 200 and "Créer mon profil" in space.text
        without = client.post("/mon-espace/profil", data={"name": "Léa", "ministry": "DINUM"},
                              follow_redirects=False)
        assert without.status_code == 403  # no CSRF token, nothing written
        token = _csrf(space.text)
        made = client.post("/mon-espace/profil", data={"csrf_token": token, "name": "Léa Agent",
                                                        "ministry": "DINUM"}, follow_redirects=False)
        assert made.status_code == 303 and made.headers["location"] == "/mon-espace?ok=profil"
        refused = client.post("/mon-espace/disponibilites", data={
            "csrf_token": token, "start": "2027-01-04", "end": "2027-03-31", "share": "50"})
        assert refused.status_code == 422
        assert "supérieure à 50" in refused.text and "moitié du temps de travail" in refused.text
        assert "Aucune période déclarée" in refused.text  # nothing half-written
        bad_date = client.post("/mon-espace/disponibilites", data={
            "csrf_token": token, "start": "2027-13-45", "end": "2027-03-31", "share": "80"})
        assert bad_date.status_code == 422 and "« date de début » doit être une date" in bad_date.text
        kept = client.post("/mon-espace/disponibilites", data={
            "csrf_token": token, "start": "2027-01-04", "end": "2027-03-31", "share": "80"})
        assert kept.status_code == 200 and "4 janvier 2027" in kept.text
    finally:
        client.__exit__(None, None, None)


def test_each_user_reaches_only_their_pages(demo):
    agent = _signed_in("theo.agent@numerique.gouv.fr", "agent")
    try:
        menu = agent.get("/").text
        assert "Mon espace" in menu and "Pilotage DINUM" not in menu and "Mes projets" not in menu
        for path in ("/pilotage", "/pilotage/allocation", "/pilotage/competences", "/porteur", "/responsable"):
            answer = agent.get(path)
            assert answer.status_code == 403 and "Accès réservé" in answer.text, path
    finally:
        agent.__exit__(None, None, None)
    lead = _signed_in("lina.porteuse@numerique.gouv.fr", "lead")
    try:
        page = lead.get("/porteur")
        token = _csrf(page.text)
        made = lead.post("/porteur/besoins", data={"csrf_token": token, "title": "Besoin de Lina",
                                                    "start": "2027-01-04", "end": "2027-03-31"},
                         follow_redirects=False)
        assert made.status_code == 303
        need_path = made.headers["location"].split("?")[0]
    finally:
        lead.__exit__(None, None, None)
    other = _signed_in("noe.porteur@numerique.gouv.fr", "lead")
    try:
        assert other.get(need_path).status_code == 403  # another lead's need
    finally:
        other.__exit__(None, None, None)
    reviewer = _signed_in("dinum@numerique.gouv.fr", "reviewer")
    try:
        assert "Allocation" in reviewer.get("/").text
        dashboard = reviewer.get("/pilotage")
        # The pool's figures are kept a few seconds: the page says when they were counted.
        assert dashboard.status_code == 200 and re.search(r"chiffres au \d\d:\d\d:\d\d", dashboard.text)
        need_id = need_path.rstrip("/").rsplit("/", 1)[1]
        review = reviewer.get(f"/pilotage/besoins/{need_id}")
        assert review.status_code == 200
        changed = reviewer.post(f"/pilotage/besoins/{need_id}/arbitrage", data={
            "csrf_token": _csrf(review.text), "action": "priorite", "priority": "1", "reason": "crise sanitaire"})
        assert changed.status_code == 200
        journal = changed.text.split('id="journal"', 1)[1]
        assert "changement de priorité : 3 → 1" in journal and "crise sanitaire" in journal
        assert "dinum@numerique.gouv.fr" in journal
        table = reviewer.get("/pilotage/export/etp-projets.csv")
        assert table.status_code == 200 and table.headers["content-type"] == "text/csv; charset=utf-8"
        assert table.text.splitlines()[0].startswith("projet,ETP nécessaires")
    finally:
        reviewer.__exit__(None, None, None)


def test_my_manager_is_shown_read_only_with_who_changes_it(demo, engine):
    from sqlmodel import Session, select

    from profiles.models import Agent

    client = _signed_in("ines.agent@numerique.gouv.fr", "agent")
    try:
        token = _csrf(client.get("/mon-espace").text)
        made = client.post("/mon-espace/profil", data={"csrf_token": token, "name": "Inès Agent",
                                                        "ministry": "DINUM"}, follow_redirects=False)
        assert made.status_code == 303
        with Session(engine) as db:  # DINUM records the manager (the API's PATCH, by an admin)
            agent = db.exec(select(Agent).where(Agent.email == "ines.agent@numerique.gouv.fr")).one()
            agent.manager_email = "chef.ines@numerique.gouv.fr"
            db.add(agent)
            db.commit()
        space = client.get("/mon-espace").text
        shown = space.split('id="profil-responsable"', 1)[1].split("</div>", 1)[0]
        assert "chef.ines@numerique.gouv.fr" in shown and "Seule la DINUM peut le" in shown
        assert 'name="manager_email"' not in space  # nothing to edit that would be refused
        # what each visibility does: « ministère » is seen by every ministry's leads, like « public »
        assert "comme « public », visible des porteurs de projet de tous les ministères" in space
        saved = client.post("/mon-espace/profil", data={"csrf_token": token, "name": "Inès Agent",
                                                         "ministry": "DINUM", "visibility": "ministry"},
                            follow_redirects=False)
        assert saved.status_code == 303
        with Session(engine) as db:
            agent = db.exec(select(Agent).where(Agent.email == "ines.agent@numerique.gouv.fr")).one()
            assert (agent.visibility, agent.manager_email) == ("ministry", "chef.ines@numerique.gouv.fr")
    finally:
        client.__exit__(None, None, None)
