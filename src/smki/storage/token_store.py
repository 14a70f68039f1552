"""Database access for API tokens. Every function runs in the caller's session; none commits."""

from __future__ import annotations

from sqlalchemy import select

from smki.storage.token_tables import ApiTokenRecord
from smki.storage.transaction import Transaction, session_of


def add_token(tx: Transaction, record: ApiTokenRecord) -> ApiTokenRecord:
    """Insert a token row (its id is set on return)."""
    session = session_of(tx)
    session.add(record)
    session.flush()
    return record


def token_by_sha256(tx: Transaction, token_sha256: str) -> ApiTokenRecord | None:
    """The token whose text hashes to ``token_sha256``, or None."""
    session = session_of(tx)
    return session.execute(
        select(ApiTokenRecord).where(ApiTokenRecord.token_sha256 == token_sha256)
    ).scalar_one_or_none()


def token_by_id(tx: Transaction, token_id: int, *, for_update: bool = False) -> ApiTokenRecord | None:
    """The token with this id, or None (locked for update when asked)."""
    session = session_of(tx)
    query = select(ApiTokenRecord).where(ApiTokenRecord.id == token_id)
    if for_update:
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def tokens(tx: Transaction, *, party_id: str | None = None) -> list[ApiTokenRecord]:
    """Every token (of one party, when given), oldest first."""
    session = session_of(tx)
    query = select(ApiTokenRecord).order_by(ApiTokenRecord.id)
    if party_id is not None:
        query = query.where(ApiTokenRecord.party_id == party_id)
    return list(session.execute(query).scalars())
