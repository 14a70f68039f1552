"""Tables of the Registration Authority: parties and their identifiers, RDP nominations, subscribers.

A party row is a person the RA knows (the DCC, SECCo, a Party, an RDP). Its identifiers are the EUI-64s it
holds: User IDs per User Role, RDP IDs, or the DCC's and SECCo's own. A subscriber row is that person's
standing under one Certificate Policy (L3.2-L3.14); each change of it is audited.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from smki.storage.base import Base

_ID = BigInteger().with_variant(Integer, "sqlite")


class PartyRecord(Base):
    """A person known to the RA. ``licences`` is a comma-separated list of licence values."""

    __tablename__ = "ra_parties"

    party_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    party_type: Mapped[str] = mapped_column(String(10), nullable=False)
    licences: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class PartyIdentifierRecord(Base):
    """An EUI-64 a person holds, for one User Role (or none, for the DCC and SECCo).

    An EUI-64 belongs to one person only (checked by ``smki.ra.parties`` under the party-register lock,
    ``ra_store.lock_party_register``); it may serve that person in more than one User Role.
    """

    __tablename__ = "ra_party_identifiers"
    __table_args__ = (UniqueConstraint("entity_id", "user_role", name="uq_ra_party_identifiers_entity_id"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    party_id: Mapped[str] = mapped_column(
        String(100), ForeignKey("ra_parties.party_id"), nullable=False, index=True
    )
    entity_id: Mapped[str] = mapped_column(String(16), nullable=False, index=True)  # compact upper-case hex
    user_role: Mapped[str] = mapped_column(String(40), nullable=False, default="")  # "" for DCC/SECCo ids
    service_provider: Mapped[str | None] = mapped_column(String(100), nullable=True)


class RdpNominationRecord(Base):
    """A Network Party's nomination of a Registration Data Provider (L3.6-L3.7)."""

    __tablename__ = "ra_rdp_nominations"
    __table_args__ = (UniqueConstraint("rdp_id", "network_party_id", name="uq_ra_rdp_nominations_rdp_id"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    rdp_id: Mapped[str] = mapped_column(
        String(100), ForeignKey("ra_parties.party_id"), nullable=False, index=True
    )
    network_party_id: Mapped[str] = mapped_column(
        String(100), ForeignKey("ra_parties.party_id"), nullable=False
    )


class EntryTestRecord(Base):
    """A completed SMKI and Repository Entry Process Test for one Certificate Policy (H14.22(a), L3.2)."""

    __tablename__ = "ra_entry_tests"
    __table_args__ = (UniqueConstraint("party_id", "policy", name="uq_ra_entry_tests_party_id"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    party_id: Mapped[str] = mapped_column(String(100), ForeignKey("ra_parties.party_id"), nullable=False)
    policy: Mapped[str] = mapped_column(String(20), nullable=False)
    completed_on: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class SubscriberRecord(Base):
    """A person's standing under one Certificate Policy: applied, authorised, refused, referred, ceased."""

    __tablename__ = "ra_subscribers"
    __table_args__ = (UniqueConstraint("party_id", "policy", name="uq_ra_subscribers_party_id"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    party_id: Mapped[str] = mapped_column(String(100), ForeignKey("ra_parties.party_id"), nullable=False)
    policy: Mapped[str] = mapped_column(String(20), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    last_clause: Mapped[str] = mapped_column(String(40), nullable=False)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    change_notified: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class RevocationRecord(Base):
    """Why and when a certificate was revoked (every revocation, written by ``smki.ca.revocation``); the
    certificate row carries status R."""

    __tablename__ = "ra_revocations"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    certificate_id: Mapped[int] = mapped_column(
        _ID, ForeignKey("certificates.id"), nullable=False, unique=True
    )
    reason: Mapped[str] = mapped_column(String(200), nullable=False)
    clause: Mapped[str] = mapped_column(String(40), nullable=False)
    revoked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    reason_code: Mapped[str | None] = mapped_column(String(32), nullable=True)  # RFC 5280 name (0005)
    actor: Mapped[str | None] = mapped_column(String(200), nullable=True)
