"""Database access for the audit log: lock the head, insert entries, stream the chain.

Values only: the head is a :class:`ChainHead`, entries are :class:`StoredEntry`; no ORM row leaves here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from smki.model.errors import SmkiError
from smki.storage import bulk
from smki.storage.audit_tables import AuditEntry, AuditHead
from smki.storage.transaction import Transaction, session_of

_ENTRY_COLUMNS = (
    AuditEntry.seq,
    AuditEntry.at,
    AuditEntry.actor,
    AuditEntry.action,
    AuditEntry.object_type,
    AuditEntry.object_id,
    AuditEntry.details,
    AuditEntry.prev_hash,
    AuditEntry.entry_hash,
)


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The chain's last entry: its sequence number and hash (0 and the genesis hash when empty)."""

    last_seq: int
    last_hash: str


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """One stored audit entry, exactly as hashed (``details`` is the canonical JSON text)."""

    seq: int
    at: str
    actor: str
    action: str
    object_type: str
    object_id: str
    details: str
    prev_hash: str
    entry_hash: str


def lock_head(tx: Transaction) -> ChainHead:
    """Lock and return the chain head (PostgreSQL row lock; SQLite writers are already serialised).

    Other stores lock it too, to serialise a check-then-write across processes."""
    session = session_of(tx)
    stmt = select(AuditHead.last_seq, AuditHead.last_hash).where(AuditHead.id == 1).with_for_update()
    row = session.execute(stmt).one_or_none()
    if row is None:
        raise SmkiError(
            "audit.no_head", "The audit log has no head row: the database was not initialised by smki."
        )
    return ChainHead(int(row[0]), str(row[1]))


def append_many(tx: Transaction, rows: Sequence[dict[str, Any]]) -> None:
    """Insert chained entries (column -> value, in sequence order, after the locked head) in one
    statement and move the head to the last, in the caller's transaction."""
    if not rows:
        return
    session = session_of(tx)
    bulk.insert_rows(session, AuditEntry, rows)
    session.execute(
        update(AuditHead)
        .where(AuditHead.id == 1)
        .values(last_seq=int(rows[-1]["seq"]), last_hash=str(rows[-1]["entry_hash"]))
    )


def read_head(tx: Transaction) -> ChainHead | None:
    """The head without locking it (None when the head row is missing)."""
    row = session_of(tx).execute(select(AuditHead.last_seq, AuditHead.last_hash).where(AuditHead.id == 1))
    found = row.one_or_none()
    return ChainHead(int(found[0]), str(found[1])) if found is not None else None


def iter_entries(tx: Transaction, batch: int = 5000) -> Iterator[StoredEntry]:
    """Every entry in sequence order, streamed in batches rather than loaded whole."""
    session = session_of(tx)
    last = 0
    while True:
        stmt = select(*_ENTRY_COLUMNS).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(batch)
        rows = [StoredEntry(*row) for row in session.execute(stmt)]
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def entries_for_object(tx: Transaction, object_type: str, object_id: str) -> list[StoredEntry]:
    """The entries about one object, oldest first."""
    stmt = (
        select(*_ENTRY_COLUMNS)
        .where(AuditEntry.object_type == object_type, AuditEntry.object_id == object_id)
        .order_by(AuditEntry.seq)
    )
    return [StoredEntry(*row) for row in session_of(tx).execute(stmt)]
