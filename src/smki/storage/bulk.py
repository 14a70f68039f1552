"""Inserting many rows of one table in one executemany, with as little work per row as possible."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Table, insert, inspect
from sqlalchemy.orm import Session

from smki.storage.base import Base


def insert_rows(session: Session, model: type[Base], rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (column name -> value, every row the same columns) in the session's transaction.

    On SQLite the values go through each column type's bind processor, fetched once per column, and the
    DB-API ``executemany`` directly: SQLAlchemy's per-row parameter construction costs more than the
    insert itself for a batch of certificates. Elsewhere (PostgreSQL) it is a Core executemany, which
    SQLAlchemy already batches into multi-row INSERTs. The rows are stored exactly as a Core insert
    would store them (tests/test_bulk_insert.py compares the two).
    """
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    columns = list(rows[0].keys())
    if dialect.name != "sqlite" or any(len(row) != len(columns) for row in rows):
        connection.execute(insert(model), [dict(row) for row in rows])
        return
    table = cast(Table, inspect(model).local_table)
    processors = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns]
    data: list[tuple[Any, ...]] = [tuple(row[name] for name in columns) for row in rows]
    if any(p is not None for p in processors):
        data = [
            tuple(v if p is None or v is None else p(v) for v, p in zip(values, processors, strict=True))
            for values in data
        ]
    quote = dialect.identifier_preparer.quote
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join('?' for _ in columns)})"
    )
    connection.exec_driver_sql(sql, data)
