"""Database access for the SMKI Repository: searches, extracts, revocation rows, change sequence, CRLs.

Every function runs in the caller's session; none commits. Repository statuses are derived at query time
from the stored status (``I``, ``N`` or ``R``) and the certificate's dates (see :func:`status_condition`),
so expiry needs no batch job. Pagination is keyset (``id > after``), never OFFSET.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Integer,
    LargeBinary,
    Select,
    String,
    UniqueConstraint,
    and_,
    func,
    select,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column

from smki.storage import ca_store
from smki.storage.base import Base
from smki.storage.ca_tables import CertificateRecord
from smki.storage.ra_tables import RevocationRecord
from smki.storage.transaction import Transaction, session_of

_ID = BigInteger().with_variant(Integer, "sqlite")

# Stored statuses: I (issued), N (set when superseded), R (revoked). P and E are derived from dates.
STORED_IN_USE = "I"
STORED_NOT_IN_USE = "N"
STORED_REVOKED = "R"


class CrlPublication(Base):
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


Row = tuple[CertificateRecord, RevocationRecord | None]


# --- statuses ------------------------------------------------------------------------------------------


def status_condition(status: str, now: datetime, *, dates_first: bool = False) -> ColumnElement[bool]:
    """SQL for "the repository status is ``status`` at ``now``" (P, I, N, E or R).

    R: stored R. E: not revoked and notAfter passed. P: not revoked, not expired, notBefore in the future.
    I / N: stored I / N within the validity period. Each case is a range over indexed columns.

    ``dates_first`` (SQLite): E and P select the ids by their date index first. Without it SQLite, asked
    for ``ORDER BY id LIMIT n``, walks the whole table in id order testing the dates (docs/benchmarks.md).
    """
    c = CertificateRecord
    if status == STORED_REVOKED:
        return c.status == STORED_REVOKED
    if status == "E":
        expired = c.not_after < now
        if dates_first:
            expired = c.id.in_(select(c.id).where(expired).scalar_subquery())
        return and_(c.status != STORED_REVOKED, expired)
    if status == "P":
        pending = c.not_before > now
        if dates_first:
            pending = c.id.in_(select(c.id).where(pending).scalar_subquery())
        return and_(c.status != STORED_REVOKED, pending, c.not_after >= now)
    return and_(c.status == status, c.not_before <= now, c.not_after >= now)


# --- reads ---------------------------------------------------------------------------------------------


def _with_revocation() -> Select[CertificateRecord, RevocationRecord]:
    return select(CertificateRecord, RevocationRecord).outerjoin(
        RevocationRecord, RevocationRecord.certificate_id == CertificateRecord.id
    )


def by_serial(tx: Transaction, serial_hex: str, issuer_name: str | None = None) -> list[Row]:
    """Certificates with this serial (upper-case hex), optionally from one issuer, oldest first."""
    session = session_of(tx)
    stmt = _with_revocation().where(ca_store.serial_is(serial_hex, issuer_name))
    return [(c, r) for c, r in session.execute(stmt.order_by(CertificateRecord.id).limit(2))]


def search(
    tx: Transaction,
    *,
    now: datetime,
    entity_id: str | None = None,
    key_usage: str | None = None,
    role_code: int | None = None,
    status: str | None = None,
    issuer_name: str | None = None,
    kind: str | None = None,
    after_id: int | None = None,
    limit: int = 100,
) -> list[Row]:
    """One page of certificates matching every given filter, in id order after ``after_id``."""
    session = session_of(tx)
    c = CertificateRecord
    stmt = _with_revocation()
    if entity_id is not None:
        stmt = stmt.where(c.entity_id == entity_id)
    if key_usage is not None:
        stmt = stmt.where(c.key_usage == key_usage)
    if role_code is not None:
        stmt = stmt.where(c.role_code == role_code)
    if status is not None:
        sqlite = session.get_bind().dialect.name == "sqlite"  # PostgreSQL already plans E and P by index
        stmt = stmt.where(status_condition(status, now, dates_first=sqlite))
    if issuer_name is not None:
        stmt = stmt.where(c.issuer_name == issuer_name)
    if kind is not None:
        stmt = stmt.where(c.kind == kind)
    if after_id is not None:
        stmt = stmt.where(c.id > after_id)
    return [(cert, rev) for cert, rev in session.execute(stmt.order_by(c.id).limit(limit))]


def batch_by_id(tx: Transaction, *, after_id: int, limit: int) -> list[Row]:
    """The next ``limit`` certificates after ``after_id`` in id order (full extract)."""
    session = session_of(tx)
    stmt = _with_revocation().where(CertificateRecord.id > after_id)
    return [(c, r) for c, r in session.execute(stmt.order_by(CertificateRecord.id).limit(limit))]


def batch_by_change(
    tx: Transaction,
    *,
    after_seq: int,
    up_to_seq: int,
    limit: int,
    since_time: datetime | None = None,
) -> list[Row]:
    """The next certificates changed after ``after_seq`` (and at or before ``up_to_seq``), by change."""
    session = session_of(tx)
    c = CertificateRecord
    stmt = _with_revocation().where(c.change_seq > after_seq, c.change_seq <= up_to_seq)
    if since_time is not None:
        stmt = stmt.where(c.changed_at >= since_time)
    return [(cert, rev) for cert, rev in session.execute(stmt.order_by(c.change_seq).limit(limit))]


def max_change_seq(tx: Transaction) -> int:
    """The highest change sequence recorded (0 when there is none)."""
    session = session_of(tx)
    value = session.execute(select(func.max(CertificateRecord.change_seq))).scalar_one_or_none()
    return int(value) if value is not None else 0


def first_change_at_or_after(tx: Transaction, at: datetime) -> int | None:
    """The lowest change sequence of a change made at or after ``at``, if any."""
    session = session_of(tx)
    stmt = select(func.min(CertificateRecord.change_seq)).where(CertificateRecord.changed_at >= at)
    value = session.execute(stmt).scalar_one_or_none()
    return int(value) if value is not None else None


def count(tx: Transaction) -> int:
    """How many certificates the repository holds."""
    session = session_of(tx)
    return int(session.execute(select(func.count()).select_from(CertificateRecord)).scalar_one())


# --- writes: change sequence and revocation ------------------------------------------------------------


def set_changes(tx: Transaction, changes: Sequence[tuple[int, int]], *, at: datetime) -> None:
    """Record ``(certificate id, audit sequence)`` as each certificate's last change, made at ``at``."""
    session = session_of(tx)
    if not changes:
        return
    session.execute(
        update(CertificateRecord),
        [{"id": cid, "change_seq": seq, "changed_at": at} for cid, seq in changes],
    )


def lock_for_revocation(tx: Transaction, serial_hex: str, issuer_name: str | None = None) -> list[Row]:
    """Like :func:`by_serial` but locking the certificate rows (PostgreSQL; SQLite writers are serial)."""
    session = session_of(tx)
    stmt = select(CertificateRecord).where(ca_store.serial_is(serial_hex, issuer_name))
    certs = list(session.execute(stmt.order_by(CertificateRecord.id).limit(2).with_for_update()).scalars())
    return [(cert, revocation_of(tx, cert.id)) for cert in certs]


def revocation_of(tx: Transaction, certificate_id: int) -> RevocationRecord | None:
    """The revocation row of a certificate, if it was revoked."""
    session = session_of(tx)
    stmt = select(RevocationRecord).where(RevocationRecord.certificate_id == certificate_id)
    return session.execute(stmt).scalar_one_or_none()


def add_revocation(
    tx: Transaction,
    certificate: CertificateRecord,
    *,
    reason_code: str,
    reason: str,
    clause: str,
    actor: str,
    at: datetime,
) -> RevocationRecord:
    """Mark the certificate revoked (status R) and write its revocation row."""
    session = session_of(tx)
    certificate.status = STORED_REVOKED
    record = RevocationRecord(
        certificate_id=certificate.id,
        reason=reason[:200],
        reason_code=reason_code,
        clause=clause,
        actor=actor[:200],
        revoked_at=at,
    )
    session.add(record)
    session.flush()
    return record


def revoked_by_issuer(tx: Transaction, issuer_name: str) -> list[tuple[str, datetime, str | None]]:
    """``(serial_hex, revoked_at, reason_code)`` of every revoked certificate the CA issued."""
    session = session_of(tx)
    c = CertificateRecord
    stmt = (
        select(
            c.serial_hex, RevocationRecord.revoked_at, RevocationRecord.reason_code, c.changed_at, c.issued_at
        )
        .outerjoin(RevocationRecord, RevocationRecord.certificate_id == c.id)
        .where(c.issuer_name == issuer_name, c.status == STORED_REVOKED)
        .order_by(c.id)
    )
    return [
        (serial, revoked_at or changed_at or issued_at, code)
        for serial, revoked_at, code, changed_at, issued_at in session.execute(stmt)
    ]


# --- CRLs ----------------------------------------------------------------------------------------------


def latest_crl(tx: Transaction, ca_name: str) -> CrlPublication | None:
    """The newest CRL/ARL of a CA (highest cRLNumber)."""
    session = session_of(tx)
    stmt = (
        select(CrlPublication)
        .where(CrlPublication.ca_name == ca_name)
        .order_by(CrlPublication.crl_number.desc())
        .limit(1)
    )
    return session.execute(stmt).scalar_one_or_none()


def last_crl_number(tx: Transaction, ca_name: str) -> int:
    """The highest cRLNumber the CA has used (0 when it has published none)."""
    session = session_of(tx)
    stmt = select(func.coalesce(func.max(CrlPublication.crl_number), 0)).where(
        CrlPublication.ca_name == ca_name
    )
    return int(session.execute(stmt).scalar_one())


def add_crl(tx: Transaction, record: CrlPublication) -> None:
    """Insert a publication and drop the DER of the CA's older ones (only the latest is served).

    Raises IntegrityError when another process took the same cRLNumber (the caller retries).
    """
    session = session_of(tx)
    session.add(record)
    session.flush()
    session.execute(
        update(CrlPublication)
        .where(
            CrlPublication.ca_name == record.ca_name,
            CrlPublication.crl_number < record.crl_number,
            CrlPublication.der.is_not(None),
        )
        .values(der=None)
    )


# --- serial numbers ------------------------------------------------------------------------------------

_HEX_DIGITS = frozenset("0123456789ABCDEF")


def canonical_serial(text: str) -> str:
    """The repository form of a serial typed by a person: upper-case hex, even length, no leading 00 pairs.

    Accepts an optional ``0x`` and ``:``/space/``-`` separators. Raises InvalidInput for anything else
    (empty, non-hex, zero, longer than 20 octets).
    """
    from smki.model.errors import InvalidInput

    cleaned = text.strip().upper()
    cleaned = cleaned.removeprefix("0X")
    for separator in (":", " ", "-"):
        cleaned = cleaned.replace(separator, "")
    if not cleaned or not set(cleaned) <= _HEX_DIGITS or len(cleaned) > 42:
        raise InvalidInput(
            "serial.syntax", f"'{text[:60]}' is not a certificate serial number: give it in hexadecimal."
        )
    value = int(cleaned, 16)
    if value == 0 or value.bit_length() > 160:
        raise InvalidInput(
            "serial.syntax", f"'{text[:60]}' is not a certificate serial number: give it in hexadecimal."
        )
    digits = f"{value:X}"
    return digits.zfill(len(digits) + len(digits) % 2)


def revoked_count(tx: Transaction, issuer_name: str) -> int:
    """How many certificates the CA issued are revoked."""
    session = session_of(tx)
    c = CertificateRecord
    stmt = select(func.count()).select_from(c).where(c.issuer_name == issuer_name, c.status == STORED_REVOKED)
    return int(session.execute(stmt).scalar_one())
