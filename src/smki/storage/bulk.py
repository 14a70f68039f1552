"""Inserting many rows of one table in one executemany, with as little work per row as possible."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import LargeBinary, Table, insert, inspect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from smki.storage.base import Base


def insert_rows(session: Session, model: type[Base], rows: Sequence[Mapping[str, Any]]) -> list[int] | None:
    """Insert ``rows`` (column name -> value, every row the same columns) in the session's transaction.

    The values go through each column type's bind processor, fetched once per column; then, on SQLite,
    the DB-API ``executemany`` directly (SQLAlchemy's per-row parameter construction costs more than the
    insert itself for a batch of certificates), and on PostgreSQL one ``COPY ... FROM STDIN``. Any other
    database gets a Core executemany. The rows are stored exactly as a Core insert would store them
    (tests/test_bulk_insert.py compares the two on SQLite and PostgreSQL).

    Returns the new rows' ids, in order, when SQLite gave them (see :func:`_sqlite_ids`), else None.
    """
    if not rows:
        return []
    connection = session.connection()
    dialect = connection.dialect
    columns = list(rows[0].keys())
    if dialect.name not in ("sqlite", "postgresql") or any(len(row) != len(columns) for row in rows):
        connection.execute(insert(model), [dict(row) for row in rows])
        return None
    table = cast(Table, inspect(model).local_table)
    getter = itemgetter(*columns)
    data = [list(getter(row)) for row in rows] if len(columns) > 1 else [[row[columns[0]]] for row in rows]
    _bind(table, dialect, columns, data)
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(c) for c in columns)
    if dialect.name == "postgresql":
        # COPY: the server parses no INSERT per row (psycopg adapts each value by its Python type, as
        # it does for statement parameters). The rows join the session's transaction like any insert.
        sql = f"COPY {quote(table.name)} ({names}) FROM STDIN"
        dbapi = dialect.loaded_dbapi
        driver: Any = connection.connection.driver_connection  # psycopg's Connection
        try:
            with driver.cursor() as cursor, cursor.copy(sql) as copy:
                for values in data:
                    copy.write_row(values)
        except dbapi.Error as error:  # raised as SQLAlchemy raises a statement's (IntegrityError, ...)
            raise DBAPIError.instance(sql, None, error, dbapi.Error) from None
        return None
    sql = f"INSERT INTO {quote(table.name)} ({names}) VALUES ({', '.join('?' for _ in columns)})"
    connection.exec_driver_sql(sql, [tuple(values) for values in data])
    primary = list(table.primary_key.columns)
    if len(primary) != 1 or primary[0].name in columns:
        return None  # the caller chose the keys (e.g. the audit log's sequence numbers)
    return _sqlite_ids(session, table, primary[0].name, len(rows))


def _bind(table: Table, dialect: Any, columns: list[str], data: list[list[Any]]) -> None:
    """Pass every value through its column type's bind processor, as a Core insert would."""
    for index, name in enumerate(columns):
        column_type = table.c[name].type
        if isinstance(column_type, LargeBinary):
            continue  # bytes are stored as a BLOB as they are
        process = column_type.dialect_impl(dialect).bind_processor(dialect)
        if process is None:
            continue
        # The rows of one batch share most dates (notBefore, issue time): each value is processed once.
        done: dict[Any, Any] = {}
        for values in data:
            value = values[index]
            if value is None:
                continue
            try:
                key = (type(value), value)
                out = done.get(key)
            except TypeError:  # an unhashable value: processed as it is
                values[index] = process(value)
                continue
            if out is None:
                out = done[key] = process(value)
            values[index] = out


def _sqlite_ids(session: Session, table: Table, key: str, count: int) -> list[int] | None:
    """The ids SQLite gave the ``count`` rows just inserted by one executemany.

    Inside smki's write transaction (BEGIN IMMEDIATE: no other writer) each new row of a table whose
    INTEGER PRIMARY KEY (``key``) is not given gets the largest key so far plus one, so the batch holds
    consecutive keys ending at ``last_insert_rowid()``; a count over that range confirms it (None, and the
    caller looks the ids up, if it does not hold).
    """
    connection = session.connection()
    last = connection.exec_driver_sql("SELECT last_insert_rowid()").scalar_one()
    first = int(last) - count + 1
    quote = connection.dialect.identifier_preparer.quote
    found = connection.exec_driver_sql(
        f"SELECT count(*) FROM {quote(table.name)} WHERE {quote(key)} BETWEEN ? AND ?", (first, int(last))
    ).scalar_one()
    return list(range(first, int(last) + 1)) if found == count else None
