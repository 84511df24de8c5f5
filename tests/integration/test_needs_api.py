"""Projects with FTE pledges, needs and roles over HTTP; the policy floor; bad input."""

import pytest

pytestmark = pytest.mark.integration

NEED = {
    "title": "Équipe flash — téléservice de crise",
    "priority": 1,
    "start": "2027-01-04",
    "end": "2027-03-31",
    "roles": [
        {
            "title": "Développeur·se back-end",
            "count": 2,
            "share": 0.8,
            "skills": [{"name": "Python", "level": 4, "weight": 2, "required": True}, {"name": "Django", "level": 3}],
        },
        {"title": "Designer", "share": 0.6, "skills": [{"name": "UX design", "level": 3}]},
    ],
}


def test_project_with_pledges_per_ministry(admin_client):
    project = admin_client.post(
        "/api/v1/projects",
        json={
            "name": "Pilotage par la donnée",
            "ministry": "DINUM",
            "fte_needed": 6,
            "pledges": [
                {"ministry": "DINUM", "fte": 2},
                {"ministry": "Ministère de l'Économie et des Finances", "fte": 4},
            ],
        },
    )
    assert project.status_code == 201, project.text
    body = project.json()
    assert sum(p["fte"] for p in body["pledges"]) == 6
    updated = admin_client.patch(f"/api/v1/projects/{body['id']}", json={"pledges": [{"ministry": "DINUM", "fte": 3}]})
    assert updated.json()["pledges"] == [{"ministry": "DINUM", "fte": 3.0}]
    twice = admin_client.post(
        "/api/v1/projects",
        json={
            "name": "x",
            "ministry": "DINUM",
            "pledges": [{"ministry": "DINUM", "fte": 1}, {"ministry": "DINUM", "fte": 2}],
        },
    )
    assert twice.status_code == 400 and "one pledge per ministry" in twice.text


def test_need_with_roles_and_skills(admin_client):
    need = admin_client.post("/api/v1/needs", json=NEED).json()
    assert [r["position"] for r in need["roles"]] == [0, 1]
    assert [s["skill_id"] for s in need["roles"][0]["skills"]] == ["python", "django"]
    assert need["roles"][0]["skills"][0]["required"] is True
    assert admin_client.get(f"/api/v1/needs/{need['id']}/roles/1").json()["title"] == "Designer"


def test_role_share_at_or_below_the_floor_is_refused(admin_client):
    bad = {**NEED, "roles": [{**NEED["roles"][0], "share": 0.5}]}
    response = admin_client.post("/api/v1/needs", json=bad)
    assert response.status_code == 422
    assert response.json()["field"] == "roles.0.share"
    assert "above 50%" in response.json()["detail"]
    need = admin_client.post("/api/v1/needs", json=NEED).json()
    response = admin_client.patch(f"/api/v1/needs/{need['id']}/roles/0", json={"share": 0.3})
    assert response.status_code == 422 and response.json()["field"] == "share"


def test_need_period_and_priority_are_checked(admin_client):
    assert admin_client.post("/api/v1/needs", json={**NEED, "end": "2026-12-01"}).status_code == 400
    assert admin_client.post("/api/v1/needs", json={**NEED, "priority": 5}).status_code == 400
    need = admin_client.post("/api/v1/needs", json=NEED).json()
    response = admin_client.patch(f"/api/v1/needs/{need['id']}", json={"end": "2026-01-01"})
    assert response.status_code == 422 and response.json()["field"] == "end"


def test_roles_are_added_updated_and_removed_keeping_positions_contiguous(admin_client):
    need = admin_client.post("/api/v1/needs", json=NEED).json()
    base = f"/api/v1/needs/{need['id']}/roles"
    added = admin_client.post(
        base, json={"title": "Product owner", "share": 0.6, "skills": [{"name": "PO", "level": 4}]}
    ).json()
    assert added["position"] == 2 and added["skills"][0]["skill_id"] == "product-owner"
    assert admin_client.delete(f"{base}/0").status_code == 204
    roles = admin_client.get(base).json()
    assert [(r["position"], r["title"]) for r in roles] == [(0, "Designer"), (1, "Product owner")]
    same_skill_twice = admin_client.patch(f"{base}/1", json={"skills": [{"name": "PO"}, {"name": "product owner"}]})
    # One skill under two names is one requirement, said in a warning (not a refusal).
    assert same_skill_twice.status_code == 200
    assert [s["skill_id"] for s in same_skill_twice.json()["skills"]] == ["product-owner"]
    assert same_skill_twice.json()["warnings"][0].startswith("skills.1.name")


def test_needs_list_filters_and_sorts_by_priority(admin_client):
    for priority in (3, 1, 2):
        admin_client.post("/api/v1/needs", json={**NEED, "priority": priority, "title": f"Besoin {priority}"})
    page = admin_client.get("/api/v1/needs").json()
    assert [n["priority"] for n in page["data"]] == [1, 2, 3]
    assert admin_client.get("/api/v1/needs", params={"priority": 2}).json()["count"] == 1
    assert admin_client.get("/api/v1/needs", params={"status": "closed"}).json()["count"] == 0
    assert admin_client.get("/api/v1/needs", params={"status": "nonsense"}).status_code == 400


def test_needs_list_counts_every_match_whatever_the_page(admin_client):
    for priority in (3, 1, 2, 2):
        admin_client.post("/api/v1/needs", json={**NEED, "priority": priority, "title": f"Besoin {priority}"})
    # The count of all that match, on a page that shows some, on one past the end, with and without a filter.
    for params, count, shown in (({"limit": 1}, 4, 1), ({"limit": 2, "offset": 3}, 4, 1), ({"offset": 9}, 4, 0),
                                 ({"priority": 2, "limit": 1}, 2, 1), ({"priority": 2, "offset": 5}, 2, 0)):
        page = admin_client.get("/api/v1/needs", params=params).json()
        assert (page["count"], len(page["data"])) == (count, shown), params
        assert all("total_matching" not in n for n in page["data"])


def test_need_names_a_project_by_external_id_and_it_is_created_if_unknown(admin_client):
    need = admin_client.post("/api/v1/needs", json={**NEED, "project": "brigade", "ministry": "DINUM"}).json()
    project = admin_client.get(f"/api/v1/projects/{need['project_id']}").json()
    assert project["external_id"] == "brigade"


def test_delete_need_and_unknown_ids(admin_client):
    need = admin_client.post("/api/v1/needs", json=NEED).json()
    assert admin_client.delete(f"/api/v1/needs/{need['id']}").status_code == 204
    assert admin_client.get(f"/api/v1/needs/{need['id']}").status_code == 404
    assert admin_client.get("/api/v1/needs/1/roles/7").status_code == 404
    assert admin_client.get("/api/v1/projects/424242").status_code == 404


def test_a_priority_change_notifies_the_lead_in_the_same_transaction(admin_client, engine):
    import sqlalchemy as sa

    need = admin_client.post("/api/v1/needs", json={**NEED, "priority": 3, "lead_email": "porteur@pm.gouv.fr"}).json()
    assert admin_client.patch(f"/api/v1/needs/{need['id']}", json={"priority": 1}).status_code == 200
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT channel, recipient FROM notification WHERE kind = 'need.priority_changed'"))
        before = rows.tuples().all()
    assert ("email", "porteur@pm.gouv.fr") in set(before)
    # A refused change writes no notification.
    assert admin_client.patch(f"/api/v1/needs/{need['id']}", json={"end": "2020-01-01"}).status_code == 422
    with engine.connect() as conn:
        after = conn.execute(sa.text("SELECT count(*) FROM notification WHERE kind = 'need.priority_changed'")).scalar()
    assert after == len(before)


def test_numbers_too_large_for_the_database_are_a_400_not_a_500(admin_client):
    huge = 2**70
    response = admin_client.post("/api/v1/needs", json={**NEED, "project_id": huge})
    assert response.status_code == 400 and "out of range" in response.json()["detail"]
    response = admin_client.post("/api/v1/assignments", json={"need_id": huge, "role": 0, "agent_id": huge})
    assert response.status_code == 400
