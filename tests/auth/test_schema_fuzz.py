"""Schemathesis over the whole OpenAPI schema, authenticated as an admin: no 5xx, responses match the schema.

Bounded (a few examples per operation) so that it stays within minutes; marked ``slow``.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from talents.auth.testing import issue_token

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def _app():  # noqa: ANN202 - the app factory's own type
    from talents.app import create_app

    return create_app()


schema = schemathesis.openapi.from_asgi("/schema/openapi.json", _app())
MAX_EXAMPLES = int(os.environ.get("TALENTS_FUZZ_EXAMPLES", "6"))


@pytest.fixture
def admin_token(sqlite_engine, monkeypatch) -> str:
    from talents.kernel.settings import reset_settings

    monkeypatch.setenv("TALENTS_WRITE_RATE_PER_MINUTE", "1000000")
    reset_settings()
    return issue_token(sqlite_engine, "fuzz-admin@x.gouv.fr", "admin")


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much, HealthCheck.data_too_large])
def test_api_never_fails_and_answers_per_its_schema(case, admin_token):
    checks = [not_a_server_error, response_schema_conformance]
    # CSV downloads are documented as JSON by the framework's schema generator: their content type is skipped.
    if not (case.path.endswith(".csv") or (case.query or {}).get("format") == "csv"):
        checks.append(content_type_conformance)
    case.call_and_validate(headers={"Authorization": f"Bearer {admin_token}"}, checks=checks)
