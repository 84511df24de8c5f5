"""The light tables the ranking reads are the models' tables: same names, same columns, same types."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

import talents.models  # noqa: F401 - every table in SQLModel.metadata
from talents import ranking_tables
from talents.kernel.db import UTCDateTime

LIGHT = [getattr(ranking_tables, name) for name in ranking_tables.__all__]


def _kind(column_type: sa.types.TypeEngine) -> object:
    """What a column holds: the UTC timestamp type, else the Python type its values come back as."""
    if isinstance(column_type, UTCDateTime):
        return UTCDateTime
    if isinstance(column_type, sa.types.TypeDecorator):  # SQLModel's strings
        column_type = column_type.impl_instance
    return column_type.python_type


@pytest.mark.parametrize("light", LIGHT, ids=lambda t: t.name)
def test_every_column_read_without_the_models_is_the_models_column(light):
    model = SQLModel.metadata.tables[light.name]
    for column in light.columns:
        assert column.name in model.columns, f"{light.name}.{column.name} is not a column of the model"
        assert _kind(column.type) is _kind(model.columns[column.name].type), f"{light.name}.{column.name}"
