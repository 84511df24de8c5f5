"""Agents over HTTP: create, read, update, delete, list with filters; skills and availability; bad input."""

import pytest

pytestmark = pytest.mark.integration

AGENT = {
    "name": "Camille Martin",
    "email": "camille.martin@interieur.gouv.fr",
    "ministry": "Ministère de l'Intérieur",
    "location": "Lyon",
    "skills": [{"name": "Python", "level": 4}, {"name": "djnago", "level": 3}, {"name": "k8s", "level": 2}],
    "availability": [{"start": "2027-01-04", "end": "2027-06-30", "share": 0.6}],
}


def _create(client, **overrides):
    response = client.post("/api/v1/agents", json={**AGENT, **overrides})
    assert response.status_code == 201, response.text
    return response.json()


def test_an_agent_is_created_with_skills_normalised_against_the_taxonomy(admin_client):
    agent = _create(admin_client)
    by_id = {s["skill_id"]: s for s in agent["skills"]}
    assert set(by_id) == {"python", "django", "kubernetes"}
    assert by_id["django"]["typed"] == "djnago" and by_id["django"]["confidence"] < 1
    assert by_id["kubernetes"]["level"] == 2
    assert agent["availability"] == [
        {"id": agent["availability"][0]["id"], "start": "2027-01-04", "end": "2027-06-30", "share": 0.6}
    ]


def test_an_unknown_skill_is_kept_pending_for_curation_never_dropped(admin_client):
    agent = _create(admin_client, skills=[{"name": "Tressage de paniers quantiques", "level": 2}])
    (skill,) = agent["skills"]
    assert skill["status"] == "pending" and skill["skill_id"].startswith("pending:")
    pending = admin_client.get("/api/v1/taxonomy/skills", params={"status": "pending"}).json()
    assert [s["label_fr"] for s in pending["data"]] == ["Tressage de paniers quantiques"]


def test_read_update_delete(admin_client):
    agent = _create(admin_client)
    url = f"/api/v1/agents/{agent['id']}"
    assert admin_client.get(url).json()["email"] == AGENT["email"]
    updated = admin_client.patch(url, json={"location": "Paris", "remote": False}).json()
    assert (updated["location"], updated["remote"], updated["name"]) == ("Paris", False, AGENT["name"])
    assert admin_client.delete(url).status_code == 204
    assert admin_client.get(url).status_code == 404


def test_list_is_paginated_and_filterable(admin_client):
    for i in range(5):
        _create(
            admin_client,
            email=f"a{i}@finances.gouv.fr",
            name=f"Agent {i}",
            ministry="Ministère de l'Économie et des Finances" if i % 2 else "DINUM",
            skills=[{"name": "Python" if i < 3 else "Figma", "level": 2 + i % 3}],
        )
    page = admin_client.get("/api/v1/agents", params={"limit": 2, "offset": 0}).json()
    assert (len(page["data"]), page["count"], page["limit"]) == (2, 5, 2)
    assert admin_client.get("/api/v1/agents", params={"ministry": "DINUM"}).json()["count"] == 3
    assert admin_client.get("/api/v1/agents", params={"skill": "python"}).json()["count"] == 3
    assert admin_client.get("/api/v1/agents", params={"skill": "Python", "min_level": 4}).json()["count"] == 1
    assert admin_client.get("/api/v1/agents", params={"q": "agent 4"}).json()["count"] == 1


def test_skills_and_availability_have_their_own_routes(admin_client):
    agent = _create(admin_client, skills=[], availability=[])
    base = f"/api/v1/agents/{agent['id']}"
    skill = admin_client.post(f"{base}/skills", json={"name": "PostgreSQL", "level": 3, "interest": 5}).json()
    assert skill["skill_id"] == "postgresql"
    assert admin_client.patch(f"{base}/skills/{skill['id']}", json={"level": 5}).json()["level"] == 5
    window = admin_client.post(
        f"{base}/availability", json={"start": "2027-02-01", "end": "2027-03-31", "share": 0.8}
    ).json()
    moved = admin_client.put(
        f"{base}/availability/{window['id']}", json={"start": "2027-02-15", "end": "2027-04-30", "share": 1.0}
    ).json()
    assert (moved["start"], moved["share"]) == ("2027-02-15", 1.0)
    assert len(admin_client.get(f"{base}/skills").json()) == 1
    assert admin_client.delete(f"{base}/skills/{skill['id']}").status_code == 204
    assert admin_client.delete(f"{base}/availability/{window['id']}").status_code == 204
    assert admin_client.get(f"{base}/availability").json() == []


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"skills": [{"name": "Python", "level": 6}]}, "skills.0.level"),
        ({"skills": [{"name": "Python", "level": 0}]}, "skills.0.level"),
        ({"availability": [{"start": "2027-01-01", "end": "2027-02-01", "share": 1.5}]}, "availability.0.share"),
        ({"availability": [{"start": "2027-01-01", "end": "2027-02-01", "share": 0}]}, "availability.0.share"),
        ({"name": ""}, "name"),
        ({"visibility": "everyone"}, "visibility"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_field(admin_client, payload, field):
    response = admin_client.post("/api/v1/agents", json={**AGENT, **payload})
    assert response.status_code == 400, response.text
    assert field in {e.get("key") for e in response.json()["extra"]}


def test_availability_ending_before_it_starts_is_refused_with_the_reason(admin_client):
    response = admin_client.post(
        "/api/v1/agents", json={**AGENT, "availability": [{"start": "2027-03-01", "end": "2027-02-01", "share": 0.6}]}
    )
    assert response.status_code == 400
    assert "end must not be before start" in response.text


def test_duplicate_email_is_a_conflict_naming_the_field(admin_client):
    _create(admin_client)
    response = admin_client.post("/api/v1/agents", json={**AGENT, "email": AGENT["email"].upper()})
    assert response.status_code == 409
    assert response.json()["field"] == "email"


def test_the_same_skill_twice_on_a_profile_is_a_conflict(admin_client):
    agent = _create(admin_client)
    response = admin_client.post(f"/api/v1/agents/{agent['id']}/skills", json={"name": "python 3", "level": 2})
    assert response.status_code == 409


def test_unknown_agent_is_404(admin_client):
    assert admin_client.get("/api/v1/agents/999999").status_code == 404
    assert admin_client.patch("/api/v1/agents/999999", json={"name": "x"}).status_code == 404
