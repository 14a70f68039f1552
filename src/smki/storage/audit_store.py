"""Database access for the audit log: lock the head, insert an entry, stream the chain."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import select

from smki.model.errors import SmkiError
from smki.storage import bulk
from smki.storage.audit_tables import AuditEntry, AuditHead
from smki.storage.transaction import Transaction, session_of


def lock_head(tx: Transaction) -> AuditHead:
    """Lock and return the chain head (PostgreSQL row lock; SQLite writers are already serialised)."""
    session = session_of(tx)
    head = session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one_or_none()
    if head is None:
        raise SmkiError(
            "audit.no_head", "The audit log has no head row: the database was not initialised by smki."
        )
    return head


def append(tx: Transaction, head: AuditHead, entry: AuditEntry) -> None:
    """Insert ``entry`` and move the head to it, in the caller's transaction."""
    session = session_of(tx)
    session.add(entry)
    head.last_seq = entry.seq
    head.last_hash = entry.entry_hash
    session.flush()


def append_many(tx: Transaction, head: AuditHead, rows: Sequence[dict[str, Any]]) -> None:
    """Insert chained entries (column -> value, in sequence order) in one statement and move the head to
    the last, in the caller's transaction."""
    session = session_of(tx)
    if not rows:
        return
    bulk.insert_rows(session, AuditEntry, rows)
    head.last_seq = int(rows[-1]["seq"])
    head.last_hash = str(rows[-1]["entry_hash"])
    session.flush()


def read_head(tx: Transaction) -> AuditHead | None:
    """The head row without locking it."""
    session = session_of(tx)
    return session.get(AuditHead, 1)


def iter_entries(tx: Transaction, batch: int = 5000) -> Iterator[AuditEntry]:
    """Every entry in sequence order, streamed in batches rather than loaded whole."""
    session = session_of(tx)
    last = 0
    while True:
        rows = list(
            session.execute(
                select(AuditEntry).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(batch)
            ).scalars()
        )
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
        session.expunge_all()


def entries_for_object(tx: Transaction, object_type: str, object_id: str) -> list[AuditEntry]:
    """The entries about one object, oldest first."""
    session = session_of(tx)
    stmt = (
        select(AuditEntry)
        .where(AuditEntry.object_type == object_type, AuditEntry.object_id == object_id)
        .order_by(AuditEntry.seq)
    )
    return list(session.execute(stmt).scalars())
