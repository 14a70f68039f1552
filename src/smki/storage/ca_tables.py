"""Tables of the certificate authorities: issued certificates, issuance intents, CA records, CRLs.

A certificate row is the SMKI Repository's copy of a certificate (L3.22 lodging, repository search,
revocation). An issuance intent is written and committed before anything is signed, so a serial once
reserved is never handed out again, whatever happens to the process afterwards.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from smki.storage.base import Base

_ID = BigInteger().with_variant(Integer, "sqlite")


class IssuanceIntent(Base):
    """A serial reserved for one certificate: ``reserved`` -> ``signed`` or ``abandoned``.

    ``serial_hex`` is unique across every issuer: smki never uses a serial twice anywhere, so a serial
    alone names one certificate this system issued.
    """

    __tablename__ = "issuance_intents"
    __table_args__ = (UniqueConstraint("serial_hex", name="uq_issuance_intents_serial_hex"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    serial_hex: Mapped[str] = mapped_column(String(40), nullable=False)
    issuer_name: Mapped[str] = mapped_column(String(64), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    state: Mapped[str] = mapped_column(String(10), nullable=False, index=True)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    reserved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class CertificateRecord(Base):
    """One issued certificate as the SMKI Repository holds it.

    The serial is unique per issuer (enforced by the database). ``public_key_sha256`` is the hex SHA-256 of
    the SubjectPublicKeyInfo DER: the RA's duplicate-key check (L11.4) looks keys up by it per hierarchy.
    """

    __tablename__ = "certificates"
    __table_args__ = (
        UniqueConstraint("issuer_name", "serial_hex", name="uq_certificates_issuer_name"),
        Index("ix_certificates_hierarchy_public_key", "hierarchy", "public_key_sha256"),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    serial_hex: Mapped[str] = mapped_column(String(40), nullable=False)  # see ca_store.serial_is (0008)
    issuer_name: Mapped[str] = mapped_column(String(64), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)  # indexed with id (0005)
    hierarchy: Mapped[str] = mapped_column(String(20), nullable=False)
    role_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    entity_id: Mapped[str | None] = mapped_column(String(16), nullable=True)  # indexed with usage (0005)
    key_usage: Mapped[str] = mapped_column(String(24), nullable=False)
    subject_der: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    not_before: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    not_after: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    status: Mapped[str] = mapped_column(String(1), nullable=False)
    public_key_sha256: Mapped[str] = mapped_column(String(64), nullable=False)  # indexed with hierarchy
    der: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    subscriber: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    intent_id: Mapped[int | None] = mapped_column(
        _ID, ForeignKey("issuance_intents.id"), nullable=True, unique=True
    )
    # The audit sequence and time of the last change (issue, revocation): incremental extracts (0005).
    change_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, index=True)


class CertificateAuthorityRecord(Base):
    """A CA this system operates: its name, kind, where its key lives and which certificate it holds.

    Re-running the key ceremony with ``--force`` retires records (``active`` false); nothing is deleted.
    """

    __tablename__ = "certificate_authorities"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    hierarchy: Mapped[str] = mapped_column(String(20), nullable=False)
    key_label: Mapped[str] = mapped_column(String(128), nullable=False, unique=True)
    backend: Mapped[str] = mapped_column(String(16), nullable=False)
    certificate_serial: Mapped[str] = mapped_column(String(40), nullable=False)
    contingency_key_label: Mapped[str | None] = mapped_column(String(128), nullable=True)
    contingency_symmetric_key_label: Mapped[str | None] = mapped_column(String(128), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, index=True)
    ceremony: Mapped[str] = mapped_column(String(32), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class CommissioningCredential(Base):
    """A DCC Organisation Certificate of L3.23(e)-(i) whose private key this system holds."""

    __tablename__ = "commissioning_credentials"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    paragraph: Mapped[str] = mapped_column(String(16), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    certificate_id: Mapped[int] = mapped_column(_ID, ForeignKey("certificates.id"), nullable=False)
    key_label: Mapped[str] = mapped_column(String(128), nullable=False, unique=True)
    backend: Mapped[str] = mapped_column(String(16), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, index=True)
    ceremony: Mapped[str] = mapped_column(String(32), nullable=False)


class CrlPublicationRecord(Base):
    """One CRL or ARL a CA issued: its number (monotonic per CA), dates and, for the latest, its DER."""

    __tablename__ = "crl_publications"
    __table_args__ = (UniqueConstraint("ca_name", "crl_number", name="uq_crl_publications_ca_name"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    ca_name: Mapped[str] = mapped_column(String(64), nullable=False)
    ca_kind: Mapped[str] = mapped_column(String(20), nullable=False)
    crl_number: Mapped[int] = mapped_column(BigInteger, nullable=False)
    this_update: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    next_update: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    entries: Mapped[int] = mapped_column(Integer, nullable=False)
    der: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
