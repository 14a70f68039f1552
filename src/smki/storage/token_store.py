"""Database access for API tokens. Every function runs in the caller's session; none commits."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from smki.storage.token_tables import ApiTokenRecord


def add_token(session: Session, record: ApiTokenRecord) -> ApiTokenRecord:
    """Insert a token row (its id is set on return)."""
    session.add(record)
    session.flush()
    return record


def token_by_sha256(session: Session, token_sha256: str) -> ApiTokenRecord | None:
    """The token whose text hashes to ``token_sha256``, or None."""
    return session.execute(
        select(ApiTokenRecord).where(ApiTokenRecord.token_sha256 == token_sha256)
    ).scalar_one_or_none()


def token_by_id(session: Session, token_id: int, *, for_update: bool = False) -> ApiTokenRecord | None:
    """The token with this id, or None (locked for update when asked)."""
    query = select(ApiTokenRecord).where(ApiTokenRecord.id == token_id)
    if for_update:
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def tokens(session: Session, *, party_id: str | None = None) -> list[ApiTokenRecord]:
    """Every token (of one party, when given), oldest first."""
    query = select(ApiTokenRecord).order_by(ApiTokenRecord.id)
    if party_id is not None:
        query = query.where(ApiTokenRecord.party_id == party_id)
    return list(session.execute(query).scalars())
