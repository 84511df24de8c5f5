"""Test setup: the environment is set before the app is imported; real databases, no mocks.

SQLite runs everywhere (a file per test session). PostgreSQL runs where TALENTS_TEST_POSTGRES_URL is set
(e.g. postgresql://postgres@127.0.0.1:5432/test); then an unreachable server is a failure, not a skip.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

_TMP = Path(tempfile.mkdtemp(prefix="talents-tests-"))
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)  # the session's databases and indexes, gone after it
os.environ.setdefault("TALENTS_ENV", "test")
os.environ["TALENTS_DATABASE_URL"] = f"sqlite:///{_TMP / 'default.db'}"
os.environ.setdefault("TALENTS_LOG_JSON", "true")
os.environ.setdefault("TALENTS_SECRET_KEY", "test-secret-" + "x" * 40)
os.environ.setdefault("TALENTS_RANKING_INDEX_DIR", str(_TMP / "ranking"))  # kept indexes stay in the session

import logging  # noqa: E402

import pytest  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from sqlalchemy import Engine  # noqa: E402

from talents.kernel import db as dbmod  # noqa: E402
from talents.kernel.settings import get_settings, reset_settings  # noqa: E402
from talents.workflow.allocation_job import install_triggers  # noqa: E402

# aiosmtpd logs every connection from its own thread, sometimes after pytest closed the captured stream.
logging.getLogger("mail.log").setLevel(logging.WARNING)

POSTGRES_URL = os.environ.get("TALENTS_TEST_POSTGRES_URL", "").strip()


@pytest.fixture(scope="session", autouse=True)
def _allocation_triggers() -> None:
    """As the app and the commands do at start-up: new priority-1 needs trigger their allocation run."""
    install_triggers()


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _create_postgres_database() -> str:
    """A database of our own on the server, dropped at the end (several suites may share the server)."""
    admin = sa.create_engine(dbmod._normalise_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    name = f"talents_test_{_worker()}_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:  # pragma: no cover - the point is to fail loudly
        pytest.fail(f"TALENTS_TEST_POSTGRES_URL is set but PostgreSQL is unreachable: {exc}", pytrace=False)
    finally:
        admin.dispose()
    return dbmod._normalise_url(POSTGRES_URL).rsplit("/", 1)[0] + f"/{name}"


def _drop_postgres_database(url: str) -> None:
    dbmod.dispose_engines()
    admin = sa.create_engine(dbmod._normalise_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    name = url.rsplit("/", 1)[1]
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Tests parametrised on PostgreSQL carry the marker, so `-m postgres` selects them.
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("backend") == "postgres":
            item.add_marker(pytest.mark.postgres)


def _backends() -> list[object]:
    marks = [] if POSTGRES_URL else [pytest.mark.skip(reason="TALENTS_TEST_POSTGRES_URL is not set")]
    return ["sqlite", pytest.param("postgres", marks=marks)]


@pytest.fixture(scope="session")
def backend_urls() -> Iterator[dict[str, str]]:
    urls = {"sqlite": f"sqlite:///{_TMP / f'talents-{_worker()}.db'}"}
    created = None
    if POSTGRES_URL:
        created = urls["postgres"] = _create_postgres_database()
    yield urls
    if created:
        _drop_postgres_database(created)


def use_database(url: str) -> Engine:
    """Point the app (settings, engine, migrations) at ``url``."""
    os.environ["TALENTS_DATABASE_URL"] = url
    reset_settings()
    return dbmod.get_engine(url)


def clean_database(engine: Engine) -> None:
    """Empty every table but Alembic's, then load the default taxonomy: each test starts the same."""
    from profiles.taxonomy import TaxonomyService, clear_normaliser_cache
    from talents.ranking_index import forget_ranking_caches
    from talents.review import forget_pool_figures

    dbmod.migrate(str(engine.url.render_as_string(hide_password=False)))
    tables = [t for t in sa.inspect(engine).get_table_names() if t != "alembic_version"]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            if tables:
                conn.execute(sa.text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            conn.exec_driver_sql("PRAGMA defer_foreign_keys=ON")
            for t in tables:
                conn.execute(sa.text(f'DELETE FROM "{t}"'))
    clear_normaliser_cache()
    forget_pool_figures()
    forget_ranking_caches()
    with dbmod.session_scope(engine) as session:
        TaxonomyService(session).ensure_default()


@pytest.fixture(params=_backends())
def backend(request: pytest.FixtureRequest) -> str:
    """Parametrises a test over SQLite and PostgreSQL."""
    return str(request.param)


@pytest.fixture
def engine(backend: str, backend_urls: dict[str, str]) -> Iterator[Engine]:
    """A migrated, empty database (with the default taxonomy) on the chosen backend."""
    eng = use_database(backend_urls[backend])
    clean_database(eng)
    yield eng


@pytest.fixture
def sqlite_engine(backend_urls: dict[str, str]) -> Iterator[Engine]:
    """The same, SQLite only (for tests that do not depend on the backend)."""
    eng = use_database(backend_urls["sqlite"])
    clean_database(eng)
    yield eng


@pytest.fixture
def others_edits_seen() -> object:
    """Waits out the lag of a request's rankings on edits it did not make (``ranking_lag_s``): after it, a project
    lead's next ranking shows them (the caller's own edits, at once)."""
    return lambda: time.sleep(get_settings().matching.ranking_lag_s)


@pytest.fixture
def client(engine: Engine) -> Iterator[object]:
    """An HTTP client on the whole app, over the parametrised database."""
    from litestar.testing import TestClient

    from talents.app import create_app

    with TestClient(create_app()) as c:
        yield c


@pytest.fixture
def admin_client(client: object, engine: Engine) -> object:
    """The app client, signed in with an admin API token."""
    from talents.auth.testing import issue_token

    token = issue_token(engine, "admin@numerique.gouv.fr", "admin")
    client.headers["Authorization"] = f"Bearer {token}"  # type: ignore[attr-defined]
    return client
