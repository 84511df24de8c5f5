"""The reads every request makes (and the access log's lines), run straight on the driver's cursor.

A statement executed through SQLAlchemy pays, on every call, for its cache key and the compiled-cache look-up,
an execution context, parameter processing and a result object with its row layers: on the usual pages that
cost more than the query itself (SQLite answers an indexed look-up in tens of microseconds). A
:class:`Prepared` statement is compiled once per dialect, its SQL and the conversions of its parameters and
columns kept; a call binds the parameters, runs the SQL on the cursor of the connection's driver and converts
each value with its column's type, as SQLAlchemy does (aware datetimes, JSON, booleans and dates on SQLite).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = ["Prepared"]


@dataclass
class _Compiled:
    compiled: SQLCompiler
    positional: bool
    defaults: dict[str, Any]
    binds: Mapping[str, Callable[[Any], Any]]
    keys: tuple[str, ...]
    types: tuple[sa.types.TypeEngine[Any], ...]
    expanding: tuple[str, ...]  # the parameters that take a list of values (an IN list)
    # The SQL and the order of its parameters (positional drivers), per count of each expanding parameter's values.
    shapes: dict[tuple[int, ...], tuple[str, tuple[str, ...] | None, Mapping[str, Sequence[str]]]] = field(
        default_factory=dict)
    converters: tuple[tuple[int, Callable[[Any], Any]], ...] | None = None  # from the first answer's description


_MISSING = object()
_HASHABLE = (str, int, float, datetime.date, datetime.time, datetime.timedelta)  # datetime.datetime is a date

# Distinct IN-list lengths kept per statement and dialect (a page holds at most 500 ids).
_MAX_SHAPES = 600


class Prepared:
    """A read statement built once, run on a connection's driver cursor; rows come back as dicts keyed by the
    statements' column labels (what :func:`talents.kernel.api.as_dicts` gives for the same statement).

    Where something listens to the statements (echo, cursor events), it runs through SQLAlchemy instead. Errors
    are handled as SQLAlchemy handles them: wrapped in its exceptions, a lost connection invalidated."""

    def __init__(self, statement: sa.Select[Any] | sa.Insert) -> None:
        self.statement = statement
        self._by_dialect: dict[str, _Compiled] = {}

    def _compiled(self, dialect: sa.Dialect) -> _Compiled:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            compiled = self.statement.compile(dialect=dialect)
            assert isinstance(compiled, SQLCompiler)  # noqa: S101 - a SELECT or an INSERT compiles with the SQL compiler
            if compiled.literal_execute_params:  # values rendered into the SQL: not for this path
                raise ValueError("a Prepared statement takes no literal-execute parameters")
            columns = compiled._result_columns  # (label, name, objects, type) of each column, in order
            expanding = tuple(compiled.bind_names[p] for p in compiled.post_compile_params)
            found = self._by_dialect[dialect.name] = _Compiled(
                compiled=compiled, positional=bool(dialect.positional), defaults=dict(compiled.params),
                binds=dict(compiled._bind_processors), keys=tuple(c.keyname for c in columns),
                types=tuple(c.type for c in columns), expanding=expanding)
        return found

    def dicts(self, conn: sa.Connection, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """The rows as dicts keyed by column label."""
        keys, rows = self._run(conn, params or {})
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def first(self, conn: sa.Connection, params: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        rows = self.dicts(conn, params)
        return rows[0] if rows else None

    def scalar(self, conn: sa.Connection, params: Mapping[str, Any] | None = None) -> Any:
        """The first column of the first row (None without rows)."""
        _, rows = self._run(conn, params or {})
        return rows[0][0] if rows else None

    def tuples(self, conn: sa.Connection, params: Mapping[str, Any] | None = None) -> tuple[tuple[str, ...],
                                                                                              list[Sequence[Any]]]:
        """The column labels and the rows as sequences, in the statement's column order."""
        return self._run(conn, params or {})

    def run_many(self, conn: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run a statement that answers no rows (an INSERT) once for each of ``rows``, in one call to the driver
        (``executemany``)."""
        if not rows:
            return
        if conn._echo or conn.dispatch.before_cursor_execute or conn.dispatch.after_cursor_execute:
            conn.execute(self.statement, list(rows))
            return
        c = self._compiled(conn.dialect)
        if c.expanding:
            raise ValueError("run_many takes no IN-list parameters")
        converted: dict[tuple[str, Any], Any] = {}  # the rows of a batch share most values: the time, who reads
        bound = [self._bind(c, row, converted) for row in rows]
        sql, args = bound[0][0], [a for _, a in bound]
        if not conn.in_transaction():
            conn.begin()
        cursor = None
        try:
            cursor = conn.connection.cursor()
            if len(args) == 1:  # (psycopg sends a batch in pipeline mode, whose set-up costs more than one row)
                cursor.execute(sql, args[0])
            else:
                cursor.executemany(sql, args)
        except BaseException as exc:  # wrapped as SQLAlchemy wraps it, the connection invalidated if lost
            conn._handle_dbapi_exception(exc, sql, args, cursor, None)
        finally:
            if cursor is not None:
                cursor.close()

    def _run(self, conn: sa.Connection, params: Mapping[str, Any]) -> tuple[tuple[str, ...], list[Sequence[Any]]]:
        dialect = conn.dialect
        if conn._echo or conn.dispatch.before_cursor_execute or conn.dispatch.after_cursor_execute:
            result = conn.execute(self.statement, params)
            return tuple(result.keys()), [tuple(row) for row in result.all()]
        c = self._compiled(dialect)
        sql, args = self._bind(c, params)
        if not conn.in_transaction():
            conn.begin()  # what SQLAlchemy's first statement does (on SQLite: the deferred BEGIN of a read)
        cursor = None
        try:
            cursor = conn.connection.cursor()
            cursor.execute(sql, args)
            rows: list[Any] = cursor.fetchall()  # type: ignore[assignment]  # a list for both drivers
            if c.converters is None:
                c.converters = tuple(
                    (i, process) for i, (type_, described) in enumerate(zip(c.types, cursor.description, strict=True))
                    if (process := type_._cached_result_processor(dialect, described[1])) is not None)
        except BaseException as exc:  # as SQLAlchemy's execution does: wrapped, the connection invalidated if lost
            conn._handle_dbapi_exception(exc, sql, args, cursor, None)
        finally:
            if cursor is not None:
                cursor.close()
        if c.converters and rows:
            converters = c.converters
            converted: list[Sequence[Any]] = []
            for row in rows:
                values = list(row)
                for i, convert in converters:
                    values[i] = convert(values[i])
                converted.append(values)
            return c.keys, converted
        return c.keys, rows

    @staticmethod
    def _bind(c: _Compiled, params: Mapping[str, Any],
              converted: dict[tuple[str, Any], Any] | None = None) -> tuple[str, Any]:
        """The SQL and its parameters, each converted as its column's type says; ``converted``: the conversions
        of earlier calls to reuse (each distinct value of a batch converted once)."""
        values = {**c.defaults, **params}
        for name, process in c.binds.items():
            value = values.get(name)
            if value is None:
                continue
            if name in c.expanding:
                values[name] = [process(v) for v in value]
            elif converted is None or not isinstance(value, _HASHABLE):  # (a JSON document, say: each time)
                values[name] = process(value)
            else:
                done = converted.get((name, value), _MISSING)
                if done is _MISSING:
                    done = converted[name, value] = process(value)
                values[name] = done
        if c.expanding:
            lengths = tuple(len(values[name]) for name in c.expanding)
            shape = c.shapes.get(lengths)
            if shape is None:
                state = c.compiled.construct_expanded_state(values)
                shape = (state.statement, tuple(state.positiontup) if state.positiontup is not None else None,
                         state.parameter_expansion)
                if len(c.shapes) < _MAX_SHAPES:
                    c.shapes[lengths] = shape
            sql, order, expansion = shape
            for name, expanded in expansion.items():
                values.update(zip(expanded, values.pop(name), strict=True))
        else:
            sql, order = c.compiled.string, (tuple(c.compiled.positiontup or ()) if c.positional else None)
        if c.positional:
            return sql, tuple(values[name] for name in (order or ()))
        return sql, values
