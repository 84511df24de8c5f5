"""Database engine, sessions and migrations (SQLite file in WAL mode, or PostgreSQL via psycopg 3)."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session, create_engine

from talents.kernel.settings import get_settings

__all__ = [
    "UTCDateTime",
    "as_utc",
    "alembic_config",
    "current_revision",
    "dispose_engines",
    "get_engine",
    "head_revision",
    "is_postgres",
    "migrate",
    "session_scope",
    "utcnow",
]

# The case-insensitive e-mail index is an expression index, which SQLAlchemy's reflection skips with a
# warning whenever a table's indexes are read; the migrations, not reflection, own it.
warnings.filterwarnings("ignore", message="Skipped unsupported reflection of expression-based index")

_engines: dict[str, Engine] = {}
_lock = threading.Lock()
_ALEMBIC_DIR = Path(__file__).resolve().parents[2] / "alembic"


class UTCDateTime(sa.TypeDecorator[datetime]):
    """The column type of every timestamp: stored with its time zone where the database keeps one, and
    always read back as an aware UTC datetime (SQLite hands back naive ones). Naive values are taken as UTC."""

    impl = sa.DateTime
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


def as_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime; a naive one is taken as UTC (what SQLite gives back)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """Timezone-aware now, the only clock the models use."""
    return datetime.now(UTC)


def _normalise_url(url: str) -> str:
    # psycopg 3 is the PostgreSQL driver; accept the short "postgresql://" form people paste.
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # WAL lets readers run beside one writer; foreign keys are off by default in SQLite.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # BEGIN IMMEDIATE takes the write lock up front: two writers never both read-then-write
        # stale data (the 100 % rule depends on it), and no deadlock-on-upgrade errors.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def get_engine(url: str | None = None) -> Engine:
    """One engine per URL for the process."""
    url = _normalise_url(url or get_settings().db.database_url)
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            parsed = make_url(url)
            kwargs: dict[str, Any] = {"echo": get_settings().db.database_echo}
            if parsed.get_backend_name() == "sqlite":
                kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            else:
                kwargs["pool_size"] = get_settings().db.database_pool_size
                kwargs["pool_pre_ping"] = True
            engine = create_engine(url, **kwargs)
            if parsed.get_backend_name() == "sqlite":
                _configure_sqlite(engine)
            _engines[url] = engine
        return engine


def dispose_engines() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error: nothing is half-written."""
    session = Session(engine or get_engine(), expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str | None = None) -> Any:
    # Alembic is imported when used: it logs its plugin set-up on import, which ``--verbose`` must get to show.
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_ALEMBIC_DIR))
    cfg.set_main_option("sqlalchemy.url", _normalise_url(url or get_settings().db.database_url))
    return cfg


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory  # imported when used, as in alembic_config()

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine | None = None) -> str | None:
    from alembic.runtime.migration import MigrationContext  # imported when used, as in alembic_config()

    engine = engine or get_engine()
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


_migrated: set[str] = set()


def migrate(url: str | None = None, revision: str = "head") -> None:
    """Create or upgrade the database to ``revision`` (every command calls this)."""
    url = _normalise_url(url or get_settings().db.database_url)
    if revision == "head" and url in _migrated:
        return
    from alembic import command  # imported when used, as in alembic_config()

    _run_alembic(url, lambda cfg: command.upgrade(cfg, revision))
    if revision == "head":
        _migrated.add(url)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    url = _normalise_url(url or get_settings().db.database_url)
    _migrated.discard(url)
    from alembic import command  # imported when used, as in migrate()

    _run_alembic(url, lambda cfg: command.downgrade(cfg, revision))


def _run_alembic(url: str, action: Any) -> None:
    engine = get_engine(url)
    cfg = alembic_config(url)
    with engine.connect() as conn:
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:
            # Batch migrations re-create tables; with foreign keys on, dropping the old table would
            # cascade deletes into child rows. The pragma only works outside a transaction.
            conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                action(cfg)
        finally:
            if sqlite:
                conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")
