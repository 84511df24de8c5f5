"""The taxonomy over HTTP: listing, autocomplete, normalisation, curation (create, update, merge)."""

import pytest

pytestmark = pytest.mark.integration


def test_the_default_taxonomy_is_loaded_on_first_start(admin_client):
    page = admin_client.get("/api/v1/taxonomy/skills", params={"limit": 1}).json()
    assert page["count"] >= 250
    assert admin_client.get("/api/v1/taxonomy/skills/kubernetes").json()["label_en"] == "Kubernetes"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("k8s", "kubernetes"),
        ("JS", "javascript"),
        ("dev front", "developpement-front-end"),
        ("RSSI", "rssi"),
        ("pyhton", "python"),
        ("MARCHÉS PUBLICS", "marches-publics"),
        ("publics marchés", "marches-publics"),
    ],
)
def test_typed_skills_resolve_to_the_taxonomy(admin_client, typed, expected):
    body = admin_client.get("/api/v1/taxonomy/resolve", params={"q": typed}).json()
    assert (body["skill_id"], body["status"]) == (expected, "matched")
    assert 0 < body["confidence"] <= 1


def test_nonsense_resolves_to_pending(admin_client):
    body = admin_client.get("/api/v1/taxonomy/resolve", params={"q": "zzqx wobble"}).json()
    assert body["skill_id"] is None and body["status"] == "pending"


def test_suggest_offers_autocomplete(admin_client):
    suggestions = admin_client.get("/api/v1/taxonomy/suggest", params={"q": "kube", "limit": 5}).json()
    assert suggestions[0]["skill_id"] == "kubernetes" and len(suggestions) <= 5
    assert admin_client.get("/api/v1/taxonomy/suggest", params={"q": ""}).status_code == 400


def test_curation_create_update_and_merge_a_pending_skill(admin_client):
    agent = admin_client.post(
        "/api/v1/agents",
        json={
            "name": "Lou",
            "email": "lou@culture.gouv.fr",
            "ministry": "Ministère de la Culture",
            "skills": [{"name": "Numérisation patrimoniale", "level": 4}],
        },
    ).json()
    pending_id = agent["skills"][0]["skill_id"]
    created = admin_client.post(
        "/api/v1/taxonomy/skills",
        json={
            "id": "numerisation-patrimoine",
            "label_fr": "Numérisation du patrimoine",
            "category": "Données et IA",
            "related": ["open-data"],
        },
    )
    assert created.status_code == 201, created.text
    assert (
        admin_client.post(
            "/api/v1/taxonomy/skills", json={"id": "numerisation-patrimoine", "label_fr": "x"}
        ).status_code
        == 409
    )
    merged = admin_client.post(
        f"/api/v1/taxonomy/skills/{pending_id}/merge", json={"target_id": "numerisation-patrimoine"}
    ).json()
    assert "Numérisation patrimoniale" in merged["aliases"]
    skills = admin_client.get(f"/api/v1/agents/{agent['id']}/skills").json()
    assert [s["skill_id"] for s in skills] == ["numerisation-patrimoine"]
    assert admin_client.get(f"/api/v1/taxonomy/skills/{pending_id}").status_code == 404
    # The new alias now resolves, for everyone.
    assert (
        admin_client.get("/api/v1/taxonomy/resolve", params={"q": "Numérisation patrimoniale"}).json()["skill_id"]
        == "numerisation-patrimoine"
    )


def test_bad_curation_input(admin_client):
    assert admin_client.post("/api/v1/taxonomy/skills", json={"id": "Bad Id!", "label_fr": "x"}).status_code == 400
    response = admin_client.post("/api/v1/taxonomy/skills", json={"id": "ok", "label_fr": "x", "related": ["nope"]})
    assert response.status_code == 422 and response.json()["field"] == "related"
    assert admin_client.delete("/api/v1/taxonomy/skills/python").status_code == 204
    admin_client.post(
        "/api/v1/agents",
        json={"name": "A", "email": "a@pm.gouv.fr", "ministry": "DINUM", "skills": [{"name": "Django", "level": 3}]},
    )
    assert admin_client.delete("/api/v1/taxonomy/skills/django").status_code == 409
