"""Database access for the certificate authorities: serial reservation, certificate rows, CA records.

Every function runs in the caller's transaction, so the caller decides what commits together (the CA's
issuance cycle commits the reservation alone, then the certificate, the intent and the audit entry as one).
Reads return frozen values (:class:`StoredCertificate`, :class:`Authority`, :class:`Intent`, ...), built
from selected columns, never ORM rows; changes are commands (``add_authority``, ``activate_ceremony``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from smki.model import Hierarchy
from smki.storage import bulk
from smki.storage.ca_tables import (
    CertificateAuthorityRecord,
    CertificateRecord,
    CommissioningCredential,
    IssuanceIntent,
)
from smki.storage.transaction import Transaction, session_of

RESERVED = "reserved"
SIGNED = "signed"
ABANDONED = "abandoned"

# The three PKI hierarchies (certificates.hierarchy values).
HIERARCHIES = tuple(h.value for h in Hierarchy)


class SerialCollision(Exception):
    """A serial being reserved is already taken (the caller draws new serials and tries again)."""


@dataclass(frozen=True, slots=True)
class Reservation:
    """One serial to reserve for an issuer."""

    serial_hex: str
    issuer_name: str
    kind: str


def utc(value: datetime) -> datetime:
    """A datetime from the database as an aware UTC datetime (SQLite hands back naive values)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_or_none(value: datetime | None) -> datetime | None:
    """:func:`utc` of a nullable column."""
    return None if value is None else utc(value)


@dataclass(frozen=True, slots=True)
class StoredCertificate:
    """One certificate row as the repository holds it (times in UTC)."""

    id: int
    serial_hex: str
    issuer_name: str
    kind: str
    hierarchy: str
    role_code: int | None
    entity_id: str | None
    key_usage: str
    subject_der: bytes
    not_before: datetime
    not_after: datetime
    status: str
    public_key_sha256: str
    der: bytes
    subscriber: str | None
    issued_at: datetime
    intent_id: int | None
    change_seq: int | None
    changed_at: datetime | None


# The columns of StoredCertificate, in its field order: select(*CERTIFICATE_COLUMNS) reads one.
CERTIFICATE_COLUMNS = tuple(getattr(CertificateRecord, f.name) for f in fields(StoredCertificate))


def select_certificates() -> Select[Any]:
    """``SELECT`` of the columns of :class:`StoredCertificate` (other stores add their conditions)."""
    return select(*CERTIFICATE_COLUMNS)


def stored_certificate(row: Sequence[Any]) -> StoredCertificate:
    """The value of one row of :func:`select_certificates`."""
    (cid, serial, issuer, kind, hierarchy, role, entity, usage, subject, not_before, not_after, status,
     sha, der, subscriber, issued_at, intent_id, change_seq, changed_at) = row  # fmt: skip
    return StoredCertificate(
        cid, serial, issuer, kind, hierarchy, role, entity, usage, subject, utc(not_before), utc(not_after),
        status, sha, der, subscriber, utc(issued_at), intent_id, change_seq, utc_or_none(changed_at),
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Intent:
    """One issuance intent: a serial reserved for a certificate, and what became of it."""

    id: int
    serial_hex: str
    issuer_name: str
    kind: str
    state: str
    actor: str
    reason: str | None
    reserved_at: datetime
    finished_at: datetime | None


_INTENT_COLUMNS = tuple(getattr(IssuanceIntent, f.name) for f in fields(Intent))


def _intent(row: Sequence[Any]) -> Intent:
    iid, serial, issuer, kind, state, actor, reason, reserved_at, finished_at = row
    return Intent(iid, serial, issuer, kind, state, actor, reason, utc(reserved_at), utc_or_none(finished_at))


@dataclass(frozen=True, slots=True)
class Authority:
    """A CA this system operates: name, kind, where its key lives, which certificate it holds.

    Written inactive by the key ceremony and switched on with the ceremony's other records
    (:func:`activate_ceremony`); a later ceremony retires it (:func:`retire_hierarchy`), nothing is deleted.
    """

    name: str
    kind: str
    hierarchy: str
    key_label: str
    backend: str
    certificate_serial: str
    contingency_key_label: str | None
    contingency_symmetric_key_label: str | None
    active: bool
    ceremony: str
    created_at: datetime


_AUTHORITY_COLUMNS = tuple(getattr(CertificateAuthorityRecord, f.name) for f in fields(Authority))


def _authority(row: Sequence[Any]) -> Authority:
    values = list(row)
    values[-1] = utc(values[-1])
    values[8] = bool(values[8])
    return Authority(*values)


@dataclass(frozen=True, slots=True)
class Credential:
    """A DCC commissioning certificate of L3.23(e)-(i) whose private key this system holds."""

    name: str
    paragraph: str
    title: str
    certificate_id: int
    key_label: str
    backend: str
    active: bool
    ceremony: str


_CREDENTIAL_COLUMNS = tuple(getattr(CommissioningCredential, f.name) for f in fields(Credential))


def reserve_serials(
    tx: Transaction, reservations: Sequence[Reservation], *, actor: str, at: datetime
) -> list[int]:
    """Insert one ``reserved`` intent per serial and return their ids, in order.

    Raises SerialCollision when any serial already exists; the caller's transaction is then unusable
    and must be rolled back (the database's UNIQUE constraint is what guarantees it, across processes).
    """
    session = session_of(tx)
    rows = [
        {
            "serial_hex": r.serial_hex,
            "issuer_name": r.issuer_name,
            "kind": r.kind,
            "state": RESERVED,
            "actor": actor,
            "reserved_at": at,
        }
        for r in reservations
    ]
    try:
        if len(rows) == 1:
            result = session.execute(insert(IssuanceIntent).values(rows[0]).returning(IssuanceIntent.id))
            return [int(result.scalar_one())]
        # One executemany; SQLite gives the ids back (bulk.insert_rows), otherwise they are looked up
        # by serial (unique): SQLAlchemy would fall back to one statement per row for ordered RETURNING.
        ids = bulk.insert_rows(session, IssuanceIntent, rows)
    except IntegrityError:
        raise SerialCollision() from None
    if ids is not None:
        return ids
    by_serial: dict[str, int] = {}
    serials = [r.serial_hex for r in reservations]
    if session.get_bind().dialect.name == "postgresql":  # one array parameter (see ra_store)
        found = session.connection().exec_driver_sql(
            "SELECT serial_hex, id FROM issuance_intents WHERE serial_hex = ANY(%s)", (serials,)
        )
        by_serial.update((s, int(i)) for s, i in found)
        return [by_serial[s] for s in serials]
    for start in range(0, len(serials), 500):
        stmt = select(IssuanceIntent.serial_hex, IssuanceIntent.id).where(
            IssuanceIntent.serial_hex.in_(serials[start : start + 500])
        )
        by_serial.update((s, int(i)) for s, i in session.execute(stmt))
    return [by_serial[s] for s in serials]


def finish_intents(
    tx: Transaction, intent_ids: Iterable[int], *, state: str, at: datetime, reason: str | None = None
) -> int:
    """Move reserved intents to ``signed`` or ``abandoned``; how many were still ``reserved``."""
    session = session_of(tx)
    ids = list(intent_ids)
    if not ids:
        return 0
    # A batch's intents have consecutive ids (reserve_serials on SQLite): a range, not thousands of values.
    if ids == list(range(ids[0], ids[0] + len(ids))):
        conditions = [IssuanceIntent.id.between(ids[0], ids[-1])]
    else:
        conditions = [IssuanceIntent.id.in_(ids[start : start + 500]) for start in range(0, len(ids), 500)]
    moved = 0
    for which in conditions:
        result = session.execute(
            update(IssuanceIntent)
            .where(which, IssuanceIntent.state == RESERVED)
            .values(state=state, finished_at=at, reason=reason)
            # No intent is held in the session: nothing to synchronise (the ORM would fetch every id back).
            .execution_options(synchronize_session=False)
        )
        moved += int(getattr(result, "rowcount", 0) or 0)
    return moved


def reserved_before(tx: Transaction, cutoff: datetime) -> list[Intent]:
    """Intents still ``reserved`` that were reserved before ``cutoff``, oldest first."""
    session = session_of(tx)
    stmt = (
        select(*_INTENT_COLUMNS)
        .where(IssuanceIntent.state == RESERVED, IssuanceIntent.reserved_at < cutoff)
        .order_by(IssuanceIntent.id)
    )
    return [_intent(row) for row in session.execute(stmt)]


def serial_is(serial_hex: str, issuer_name: str | None = None) -> ColumnElement[bool]:
    """The condition "a certificate with this serial (upper-case hex), from this issuer if one is given".

    With the issuer it is the unique (issuer_name, serial_hex) key. Without, it goes through the
    issuance intents, whose serial is unique across every issuer, and the certificate's unique intent_id:
    every certificate row is written by the issuance cycle with the intent that reserved its serial
    (migration 0008 dropped the index on the certificates' serial alone).
    """
    if issuer_name is not None:
        return and_(CertificateRecord.issuer_name == issuer_name, CertificateRecord.serial_hex == serial_hex)
    # Only the intent's serial is compared: a second condition on certificates.serial_hex would let
    # PostgreSQL's planner scan the (issuer_name, serial_hex) index on its second column instead.
    intent = select(IssuanceIntent.id).where(IssuanceIntent.serial_hex == serial_hex)
    return CertificateRecord.intent_id.in_(intent.scalar_subquery())


def add_certificates(tx: Transaction, rows: Sequence[dict[str, object]]) -> list[int]:
    """Insert certificate rows (column name -> value) in one statement; return their ids, in order."""
    session = session_of(tx)
    if not rows:
        return []
    if len(rows) == 1 or any(row.get("intent_id") is None for row in rows):
        if len(rows) == 1:
            result = session.execute(
                insert(CertificateRecord).values(rows[0]).returning(CertificateRecord.id)
            )
            return [int(result.scalar_one())]
        returned = session.execute(
            insert(CertificateRecord).returning(CertificateRecord.id, sort_by_parameter_order=True),
            list(rows),
        ).scalars()
        return [int(i) for i in returned]
    # Every row names its (unique) intent: executemany, then the ids by intent in one query (SQLite cannot
    # return ordered ids from one batched INSERT, and SQLAlchemy would fall back to one statement per row).
    given = bulk.insert_rows(session, CertificateRecord, rows)
    if given is not None:
        return given
    intent_ids = [int(str(row["intent_id"])) for row in rows]
    found: dict[int, int] = {}
    step = len(intent_ids) if session.get_bind().dialect.name == "postgresql" else 500
    for start in range(0, len(intent_ids), step):
        found.update(certificate_ids_by_intent(tx, intent_ids[start : start + step]))
    return [found[i] for i in intent_ids]


def certificate_ids_by_intent(tx: Transaction, intent_ids: Sequence[int]) -> dict[int, int]:
    """Certificate id for each intent id that has one."""
    session = session_of(tx)
    if not intent_ids:
        return {}
    if session.get_bind().dialect.name == "postgresql":  # one array parameter (see ra_store)
        rows = session.connection().exec_driver_sql(
            "SELECT intent_id, id FROM certificates WHERE intent_id = ANY(%s)",
            ([int(i) for i in intent_ids],),
        )
        return {int(i): int(c) for i, c in rows if i is not None}
    stmt = select(CertificateRecord.intent_id, CertificateRecord.id).where(
        CertificateRecord.intent_id.in_(list(intent_ids))
    )
    return {int(i): int(c) for i, c in session.execute(stmt) if i is not None}


def public_key_in_family(tx: Transaction, public_key_sha256: str, hierarchy: str) -> bool:
    """True when any certificate of the hierarchy (its CA and end-entity certificates) has this key.

    The SEC's families for L11.4: Device + DCA, Organisation + OCA, IKI + ICA, which are exactly the
    three hierarchies.
    """
    session = session_of(tx)
    stmt = select(
        exists().where(
            CertificateRecord.hierarchy == hierarchy,
            CertificateRecord.public_key_sha256 == public_key_sha256,
        )
    )
    return bool(session.execute(stmt).scalar())


def certificates_with_public_key(
    tx: Transaction, public_key_sha256: str, hierarchy: str | None = None
) -> list[StoredCertificate]:
    """Every certificate carrying the key (optionally within one hierarchy), oldest first."""
    session = session_of(tx)
    # Always through ix_certificates_hierarchy_public_key (the key alone is not indexed, see 0007).
    hierarchies = [hierarchy] if hierarchy is not None else list(HIERARCHIES)
    stmt = select_certificates().where(
        CertificateRecord.hierarchy.in_(hierarchies), CertificateRecord.public_key_sha256 == public_key_sha256
    )
    return [stored_certificate(row) for row in session.execute(stmt.order_by(CertificateRecord.id))]


def certificate_by_serial(
    tx: Transaction, serial_hex: str, issuer_name: str | None = None
) -> StoredCertificate | None:
    """The certificate with this serial (upper-case hex), optionally from one issuer."""
    session = session_of(tx)
    stmt = select_certificates().where(serial_is(serial_hex.upper(), issuer_name))
    row = session.execute(stmt.order_by(CertificateRecord.id).limit(1)).one_or_none()
    return stored_certificate(row) if row is not None else None


def certificate_statuses(
    tx: Transaction, certificates: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """The stored status (``I``, ``N`` or ``R``) of each (issuer name, serial hex) found in the repository."""
    session = session_of(tx)
    found: dict[tuple[str, str], str] = {}
    for issuer_name, serial in certificates:
        stmt = select(CertificateRecord.status).where(
            CertificateRecord.serial_hex == serial.upper(), CertificateRecord.issuer_name == issuer_name
        )
        status = session.execute(stmt.limit(1)).scalar_one_or_none()
        if status is not None:
            found[(issuer_name, serial.upper())] = status
    return found


def certificates_by_entity_id(
    tx: Transaction, entity_id_compact: str, *, kind: str | None = None, key_usage: str | None = None
) -> list[StoredCertificate]:
    """Certificates whose subject (or device SAN) is this EUI-64, oldest first."""
    session = session_of(tx)
    stmt = select_certificates().where(CertificateRecord.entity_id == entity_id_compact.upper())
    if kind is not None:
        stmt = stmt.where(CertificateRecord.kind == kind)
    if key_usage is not None:
        stmt = stmt.where(CertificateRecord.key_usage == key_usage)
    return [stored_certificate(row) for row in session.execute(stmt.order_by(CertificateRecord.id))]


def intents(tx: Transaction, *, state: str | None = None) -> list[Intent]:
    """Issuance intents (optionally in one state), oldest first."""
    session = session_of(tx)
    stmt = select(*_INTENT_COLUMNS)
    if state is not None:
        stmt = stmt.where(IssuanceIntent.state == state)
    return [_intent(row) for row in session.execute(stmt.order_by(IssuanceIntent.id))]


def add_authority(tx: Transaction, authority: Authority) -> None:
    """Record a CA."""
    values = {f.name: getattr(authority, f.name) for f in fields(Authority)}
    session_of(tx).execute(insert(CertificateAuthorityRecord).values(values))


def active_authorities(tx: Transaction) -> list[Authority]:
    """The CAs in use, in creation order."""
    stmt = (
        select(*_AUTHORITY_COLUMNS)
        .where(CertificateAuthorityRecord.active.is_(True))
        .order_by(CertificateAuthorityRecord.id)
    )
    return [_authority(row) for row in session_of(tx).execute(stmt)]


def all_authorities(tx: Transaction) -> list[Authority]:
    """Every CA record ever made, active and retired, in creation order."""
    stmt = select(*_AUTHORITY_COLUMNS).order_by(CertificateAuthorityRecord.id)
    return [_authority(row) for row in session_of(tx).execute(stmt)]


def active_authority_certificates(tx: Transaction) -> list[tuple[Authority, StoredCertificate | None]]:
    """The CAs in use with their certificates (None where the certificate row is missing), in creation
    order."""
    return [
        (authority, certificate_by_serial(tx, authority.certificate_serial))
        for authority in active_authorities(tx)
    ]


def add_commissioning_credential(tx: Transaction, credential: Credential) -> None:
    """Record a commissioning credential."""
    values = {f.name: getattr(credential, f.name) for f in fields(Credential)}
    session_of(tx).execute(insert(CommissioningCredential).values(values))


def active_commissioning_credentials(tx: Transaction) -> list[tuple[Credential, StoredCertificate]]:
    """The DCC's commissioning credentials in use, with their certificates, in creation order."""
    session = session_of(tx)
    stmt = (
        select(*_CREDENTIAL_COLUMNS, *CERTIFICATE_COLUMNS)
        .join(CertificateRecord, CertificateRecord.id == CommissioningCredential.certificate_id)
        .where(CommissioningCredential.active.is_(True))
        .order_by(CommissioningCredential.id)
    )
    width = len(_CREDENTIAL_COLUMNS)
    found = []
    for row in session.execute(stmt):
        credential = list(row[:width])
        credential[6] = bool(credential[6])
        found.append((Credential(*credential), stored_certificate(row[width:])))
    return found


def retire_hierarchy(tx: Transaction) -> tuple[int, int]:
    """Mark every active CA record and commissioning credential retired; return how many of each."""
    session = session_of(tx)
    cas = len(
        session.execute(
            update(CertificateAuthorityRecord)
            .where(CertificateAuthorityRecord.active.is_(True))
            .values(active=False)
            .returning(CertificateAuthorityRecord.id)
        ).all()
    )
    creds = len(
        session.execute(
            update(CommissioningCredential)
            .where(CommissioningCredential.active.is_(True))
            .values(active=False)
            .returning(CommissioningCredential.id)
        ).all()
    )
    return cas, creds


def activate_ceremony(tx: Transaction, ceremony: str) -> tuple[int, int]:
    """Make the CA records and commissioning credentials of one key ceremony the active ones."""
    session = session_of(tx)
    cas = len(
        session.execute(
            update(CertificateAuthorityRecord)
            .where(CertificateAuthorityRecord.ceremony == ceremony)
            .values(active=True)
            .returning(CertificateAuthorityRecord.id)
        ).all()
    )
    creds = len(
        session.execute(
            update(CommissioningCredential)
            .where(CommissioningCredential.ceremony == ceremony)
            .values(active=True)
            .returning(CommissioningCredential.id)
        ).all()
    )
    return cas, creds


def certificate_by_id(tx: Transaction, certificate_id: int) -> StoredCertificate | None:
    """The certificate with this id."""
    stmt = select_certificates().where(CertificateRecord.id == certificate_id)
    row = session_of(tx).execute(stmt).one_or_none()
    return stored_certificate(row) if row is not None else None


def count_certificates(tx: Transaction) -> int:
    """How many certificates are recorded."""
    session = session_of(tx)
    return int(session.execute(select(func.count()).select_from(CertificateRecord)).scalar_one())
