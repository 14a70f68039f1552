"""Database access for API tokens. Every function runs in the caller's transaction; none commits.

Reads return :class:`StoredToken` values, never ORM rows; changes are commands (``add_token``,
``revoke_token``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from smki.storage.ca_store import utc, utc_or_none
from smki.storage.token_tables import ApiTokenRecord
from smki.storage.transaction import Transaction, session_of


@dataclass(frozen=True, slots=True)
class StoredToken:
    """One API token as stored: the SHA-256 of its text, never the text. Times are UTC."""

    id: int
    token_sha256: str
    hint: str
    party_id: str
    policies: tuple[str, ...]
    name: str | None
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


_COLUMNS = (
    ApiTokenRecord.id,
    ApiTokenRecord.token_sha256,
    ApiTokenRecord.hint,
    ApiTokenRecord.party_id,
    ApiTokenRecord.policies,
    ApiTokenRecord.name,
    ApiTokenRecord.created_by,
    ApiTokenRecord.created_at,
    ApiTokenRecord.expires_at,
    ApiTokenRecord.revoked_at,
)


def _token(row: Any) -> StoredToken:
    return StoredToken(
        id=int(row[0]),
        token_sha256=row[1],
        hint=row[2],
        party_id=row[3],
        policies=tuple(v for v in str(row[4]).split(",") if v),
        name=row[5],
        created_by=row[6],
        created_at=utc(row[7]),
        expires_at=utc_or_none(row[8]),
        revoked_at=utc_or_none(row[9]),
    )


def add_token(
    tx: Transaction,
    *,
    token_sha256: str,
    hint: str,
    party_id: str,
    policies: Sequence[str],
    name: str | None,
    created_by: str,
    created_at: datetime,
    expires_at: datetime | None,
) -> StoredToken:
    """Insert a live token (``policies`` stored in the order given) and return it with its new id."""
    session = session_of(tx)
    token_id = session.execute(
        insert(ApiTokenRecord)
        .values(
            token_sha256=token_sha256,
            hint=hint,
            party_id=party_id,
            policies=",".join(policies),
            name=name,
            created_by=created_by,
            created_at=created_at,
            expires_at=expires_at,
            revoked_at=None,
        )
        .returning(ApiTokenRecord.id)
    ).scalar_one()
    return StoredToken(
        id=int(token_id),
        token_sha256=token_sha256,
        hint=hint,
        party_id=party_id,
        policies=tuple(policies),
        name=name,
        created_by=created_by,
        created_at=utc(created_at),
        expires_at=utc_or_none(expires_at),
        revoked_at=None,
    )


def revoke_token(tx: Transaction, token_id: int, *, at: datetime) -> None:
    """Mark a token revoked at ``at``."""
    session = session_of(tx)
    session.execute(update(ApiTokenRecord).where(ApiTokenRecord.id == token_id).values(revoked_at=at))


def token_by_sha256(tx: Transaction, token_sha256: str) -> StoredToken | None:
    """The token whose text hashes to ``token_sha256``, or None."""
    session = session_of(tx)
    row = session.execute(select(*_COLUMNS).where(ApiTokenRecord.token_sha256 == token_sha256)).one_or_none()
    return _token(row) if row is not None else None


def token_by_id(tx: Transaction, token_id: int, *, for_update: bool = False) -> StoredToken | None:
    """The token with this id, or None (its row locked until the transaction ends when asked)."""
    session = session_of(tx)
    query = select(*_COLUMNS).where(ApiTokenRecord.id == token_id)
    if for_update:
        query = query.with_for_update()
    row = session.execute(query).one_or_none()
    return _token(row) if row is not None else None


def tokens(tx: Transaction, *, party_id: str | None = None) -> list[StoredToken]:
    """Every token (of one party, when given), oldest first."""
    session = session_of(tx)
    query = select(*_COLUMNS).order_by(ApiTokenRecord.id)
    if party_id is not None:
        query = query.where(ApiTokenRecord.party_id == party_id)
    return [_token(r) for r in session.execute(query)]
