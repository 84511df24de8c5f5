"""The schema is only ever changed through migrations, and they agree with the models."""

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import talents.models  # noqa: F401  (every table)
from talents.kernel.db import HEAD_REVISION, at_head, downgrade, head_revision, migrate

pytestmark = pytest.mark.integration


def _url(engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def test_models_and_migrations_agree(engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == [], f"models and migrations differ: {diff}"


def test_upgrade_downgrade_round_trip_keeps_the_schema(engine):
    before = sorted(sa.inspect(engine).get_table_names())
    downgrade(_url(engine), "base")
    assert sa.inspect(engine).get_table_names() in ([], ["alembic_version"])
    migrate(_url(engine))
    assert sorted(sa.inspect(engine).get_table_names()) == before
    assert {
        "agent",
        "agent_skill",
        "availability",
        "skill",
        "project",
        "pledge",
        "need",
        "role",
        "role_skill",
        "assignment",
        "audit_event",
    } <= set(before)


def test_each_revision_downgrades_one_step_and_back(engine):
    from alembic.script import ScriptDirectory

    from talents.kernel.db import alembic_config

    revisions = [r.revision for r in ScriptDirectory.from_config(alembic_config()).walk_revisions()]
    for revision in revisions[:-1]:  # head first, down to the first
        downgrade(_url(engine), revision + "-1")
        migrate(_url(engine))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == revisions[0]


def test_the_head_known_to_the_code_is_alembics():
    # `talents match` trusts HEAD_REVISION instead of asking Alembic: a new migration must move it too
    assert head_revision() == HEAD_REVISION


def test_at_head_tells_a_database_behind_or_new_from_one_up_to_date(engine, tmp_path):
    assert at_head(_url(engine))
    downgrade(_url(engine), HEAD_REVISION + "-1")
    assert not at_head(_url(engine))
    migrate(_url(engine))
    assert at_head(_url(engine))
    assert not at_head(f"sqlite:///{tmp_path}/new.db")  # no alembic_version table yet


def test_timestamps_come_back_as_aware_utc_whatever_the_database(engine):
    from datetime import UTC, datetime, timedelta, timezone

    from talents.kernel.db import UTCDateTime

    table = sa.Table("ts_probe", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("at", UTCDateTime()))
    table.create(engine)
    try:
        paris = timezone(timedelta(hours=1))
        with engine.begin() as conn:
            conn.execute(table.insert(), [{"id": 1, "at": datetime(2027, 1, 4, 9, 30, tzinfo=paris)},
                                          {"id": 2, "at": datetime(2027, 1, 4, 9, 30)}])  # naive: taken as UTC
        with engine.connect() as conn:
            rows = dict(conn.execute(sa.select(table.c.id, table.c.at)).all())
        assert rows == {1: datetime(2027, 1, 4, 8, 30, tzinfo=UTC), 2: datetime(2027, 1, 4, 9, 30, tzinfo=UTC)}
        assert all(v.utcoffset() == timedelta(0) for v in rows.values())
    finally:
        table.drop(engine)
