"""Alembic environment: every model module is imported, the URL comes from the settings."""

from __future__ import annotations

from sqlmodel import SQLModel

import talents.models  # noqa: F401  (every table, for autogenerate)
from alembic import context
from talents.kernel.db import get_engine

target_metadata = SQLModel.metadata
config = context.config


def _configure(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        compare_type=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        context.run_migrations()
        return
    with get_engine(config.get_main_option("sqlalchemy.url")).begin() as conn:
        _configure(conn)
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
