"""Tables of API tokens: a bearer token is stored as the SHA-256 of its text, never the text itself.

A token belongs to one party and lists the Certificate Policies it may be used under. Revoking or expiring
a token keeps its row (the audit log names it by id).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from smki.storage.base import Base

_ID = BigInteger().with_variant(Integer, "sqlite")


class ApiTokenRecord(Base):
    """One API token. ``policies`` is a comma-separated list of Certificate Policy values."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    token_sha256: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    hint: Mapped[str] = mapped_column(String(16), nullable=False)  # the first characters, for listings
    party_id: Mapped[str] = mapped_column(
        String(100), ForeignKey("ra_parties.party_id"), nullable=False, index=True
    )
    policies: Mapped[str] = mapped_column(String(60), nullable=False)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
