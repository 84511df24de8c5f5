import pytest

pytestmark = pytest.mark.integration


def test_liveness_answers_ok(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readiness_reports_database_and_migrations_at_head(client):
    from talents.kernel.db import head_revision

    body = client.get("/readyz").json()
    assert body["status"] == "ready"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["migrations"] == {"current": head_revision(), "head": head_revision()}


def test_readiness_is_503_when_migrations_lag(client, engine):
    from talents.kernel.db import downgrade, migrate

    url = engine.url.render_as_string(hide_password=False)
    downgrade(url, "0001")
    try:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["status"] == "not ready"
    finally:
        migrate(url)
