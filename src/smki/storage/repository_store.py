"""Database access for the SMKI Repository: searches, extracts, revocation rows, change sequence, CRLs.

Every function runs in the caller's transaction; none commits. Repository statuses are derived at query
time from the stored status (``I``, ``N`` or ``R``) and the certificate's dates (see
:func:`status_condition`), so expiry needs no batch job. Pagination is keyset (``id > after``), never
OFFSET. Reads return frozen values built straight from the selected columns (:class:`RepositoryEntry`,
:class:`RevokedCertificate`, :class:`CrlPublication`); nothing here hands out an ORM row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from smki.model.errors import StorageConflict
from smki.storage import ca_store
from smki.storage.ca_store import StoredCertificate, utc, utc_or_none
from smki.storage.ca_tables import CertificateRecord, CrlPublicationRecord
from smki.storage.ra_tables import RevocationRecord
from smki.storage.transaction import Transaction, session_of

# Stored statuses: I (issued), N (set when superseded), R (revoked). P and E are derived from dates.
STORED_IN_USE = "I"
STORED_NOT_IN_USE = "N"
STORED_REVOKED = "R"


@dataclass(frozen=True, slots=True)
class RepositoryEntry:
    """A certificate as the SMKI Repository reports it, with its revocation if any (times in UTC).

    ``status`` is the stored one (I, N or R); the status at a given time is derived from it and the dates.
    """

    id: int
    serial_hex: str
    issuer_name: str
    kind: str
    role_code: int | None
    entity_id: str | None
    key_usage: str
    status: str
    not_before: datetime
    not_after: datetime
    subscriber: str | None
    der: bytes
    change_seq: int | None
    revoked_at: datetime | None
    revocation_reason: str | None  # RFC 5280 CRLReason name, e.g. keyCompromise


@dataclass(frozen=True, slots=True)
class RevokedCertificate:
    """One entry of a CA's next CRL or ARL: a revoked certificate's serial, when and why (if recorded)."""

    serial_hex: str
    revoked_at: datetime
    reason_code: str | None


@dataclass(frozen=True, slots=True)
class CrlPublication:
    """One CRL or ARL a CA published: its cRLNumber, dates, entry count and (for the latest) its DER."""

    ca_name: str
    ca_kind: str
    crl_number: int
    this_update: datetime
    next_update: datetime
    entries: int
    der: bytes | None
    actor: str
    published_at: datetime


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

_c = CertificateRecord
_r = RevocationRecord
_ENTRY_COLUMNS: tuple[Any, ...] = (
    _c.id, _c.serial_hex, _c.issuer_name, _c.kind, _c.role_code, _c.entity_id, _c.key_usage, _c.status,
    _c.not_before, _c.not_after, _c.subscriber, _c.der, _c.change_seq, _r.revoked_at, _r.reason_code,
)  # fmt: skip


def _with_revocation() -> Select[Any]:
    return select(*_ENTRY_COLUMNS).outerjoin(_r, _r.certificate_id == _c.id)


def _entry(row: Sequence[Any]) -> RepositoryEntry:
    """The value of one row of :func:`_with_revocation`, built positionally (cheap per row: extracts)."""
    (cid, serial, issuer, kind, role, entity, usage, status, not_before, not_after, subscriber, der,
     change_seq, revoked_at, reason) = row  # fmt: skip
    return RepositoryEntry(
        cid, serial, issuer, kind, role, entity, usage, status, utc(not_before), utc(not_after), subscriber,
        der, change_seq, utc_or_none(revoked_at), reason,
    )  # fmt: skip


def _entries(rows: Iterable[Sequence[Any]]) -> list[RepositoryEntry]:
    return [_entry(row) for row in rows]


def by_serial(tx: Transaction, serial_hex: str, issuer_name: str | None = None) -> list[RepositoryEntry]:
    """Certificates with this serial (upper-case hex), optionally from one issuer, oldest first (at most
    two: enough to tell a unique serial from an ambiguous one)."""
    session = session_of(tx)
    stmt = _with_revocation().where(ca_store.serial_is(serial_hex, issuer_name))
    return _entries(session.execute(stmt.order_by(_c.id).limit(2)))


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
) -> list[RepositoryEntry]:
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
    return _entries(session.execute(stmt.order_by(c.id).limit(limit)))


def batch_by_id(tx: Transaction, *, after_id: int, limit: int) -> list[RepositoryEntry]:
    """The next ``limit`` certificates after ``after_id`` in id order (full extract)."""
    session = session_of(tx)
    stmt = _with_revocation().where(_c.id > after_id)
    return _entries(session.execute(stmt.order_by(_c.id).limit(limit)))


def batch_by_change(
    tx: Transaction,
    *,
    after_seq: int,
    up_to_seq: int,
    limit: int,
    since_time: datetime | None = None,
) -> list[RepositoryEntry]:
    """The next certificates changed after ``after_seq`` (and at or before ``up_to_seq``), by change."""
    session = session_of(tx)
    c = CertificateRecord
    stmt = _with_revocation().where(c.change_seq > after_seq, c.change_seq <= up_to_seq)
    if since_time is not None:
        stmt = stmt.where(c.changed_at >= since_time)
    return _entries(session.execute(stmt.order_by(c.change_seq).limit(limit)))


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


def lock_for_revocation(
    tx: Transaction, serial_hex: str, issuer_name: str | None = None
) -> list[StoredCertificate]:
    """The certificates with this serial (at most two), their rows locked for the rest of the transaction
    (PostgreSQL; SQLite writers are serial)."""
    session = session_of(tx)
    stmt = ca_store.select_certificates().where(ca_store.serial_is(serial_hex, issuer_name))
    rows = session.execute(stmt.order_by(CertificateRecord.id).limit(2).with_for_update())
    return [ca_store.stored_certificate(row) for row in rows]


def add_revocation(
    tx: Transaction,
    certificate_id: int,
    *,
    reason_code: str,
    reason: str,
    clause: str,
    actor: str,
    at: datetime,
) -> None:
    """Mark the certificate revoked (status R) and write its revocation row.

    StorageConflict (``revocation.conflict``) when the certificate is missing or already revoked (the
    caller checked it on the locked row, so only a writer that ignores the lock gets here).
    """
    session = session_of(tx)
    result = session.execute(
        update(CertificateRecord)
        .where(CertificateRecord.id == certificate_id, CertificateRecord.status != STORED_REVOKED)
        .values(status=STORED_REVOKED)
        .execution_options(synchronize_session=False)
    )
    if int(getattr(result, "rowcount", 0) or 0) != 1:
        raise StorageConflict(
            "revocation.conflict", "The certificate was revoked by another request at the same time."
        )
    session.execute(
        insert(RevocationRecord).values(
            certificate_id=certificate_id,
            reason=reason[:200],
            reason_code=reason_code,
            clause=clause,
            actor=actor[:200],
            revoked_at=at,
        )
    )


def revoked_by_issuer(tx: Transaction, issuer_name: str) -> list[RevokedCertificate]:
    """Every revoked certificate the CA issued, in id order (a CRL's or ARL's entries)."""
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
        RevokedCertificate(serial, utc(revoked_at or changed_at or issued_at), code)
        for serial, revoked_at, code, changed_at, issued_at in session.execute(stmt)
    ]


def revoked_count(tx: Transaction, issuer_name: str) -> int:
    """How many certificates the CA issued are revoked."""
    session = session_of(tx)
    c = CertificateRecord
    stmt = select(func.count()).select_from(c).where(c.issuer_name == issuer_name, c.status == STORED_REVOKED)
    return int(session.execute(stmt).scalar_one())


# --- CRLs ----------------------------------------------------------------------------------------------

_p = CrlPublicationRecord


def latest_crl(tx: Transaction, ca_name: str, *, with_der: bool = True) -> CrlPublication | None:
    """The newest CRL/ARL of a CA (highest cRLNumber); ``with_der=False`` leaves its DER unread (None)."""
    session = session_of(tx)
    columns: list[Any] = [_p.ca_name, _p.ca_kind, _p.crl_number, _p.this_update, _p.next_update]
    columns += [_p.entries, _p.actor, _p.published_at] + ([_p.der] if with_der else [])
    stmt = select(*columns).where(_p.ca_name == ca_name).order_by(_p.crl_number.desc()).limit(1)
    row = session.execute(stmt).one_or_none()
    if row is None:
        return None
    return CrlPublication(
        ca_name=row[0],
        ca_kind=row[1],
        crl_number=int(row[2]),
        this_update=utc(row[3]),
        next_update=utc(row[4]),
        entries=int(row[5]),
        der=row[8] if with_der else None,
        actor=row[6],
        published_at=utc(row[7]),
    )


def last_crl_number(tx: Transaction, ca_name: str) -> int:
    """The highest cRLNumber the CA has used (0 when it has published none)."""
    session = session_of(tx)
    stmt = select(func.coalesce(func.max(_p.crl_number), 0)).where(_p.ca_name == ca_name)
    return int(session.execute(stmt).scalar_one())


def add_crl(tx: Transaction, publication: CrlPublication) -> None:
    """Record a publication and drop the DER of the CA's older ones (only the latest is served).

    StorageConflict (``crl.number_taken``) when another process took the same cRLNumber: the caller's
    transaction is then unusable; the caller rolls it back and tries again with the next number.
    """
    session = session_of(tx)
    try:
        session.execute(
            insert(_p).values(
                ca_name=publication.ca_name,
                ca_kind=publication.ca_kind,
                crl_number=publication.crl_number,
                this_update=publication.this_update,
                next_update=publication.next_update,
                entries=publication.entries,
                der=publication.der,
                actor=publication.actor,
                published_at=publication.published_at,
            )
        )
    except IntegrityError:
        raise StorageConflict(
            "crl.number_taken",
            f"The cRLNumber {publication.crl_number} of {publication.ca_name} was taken by another "
            "publication at the same time.",
        ) from None
    session.execute(
        update(_p)
        .where(_p.ca_name == publication.ca_name, _p.crl_number < publication.crl_number, _p.der.is_not(None))
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
