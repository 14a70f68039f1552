"""Database access for the Registration Authority: parties, identifiers, subscribers, revocation reads.

Every function runs in the caller's transaction; none commits. Reads return values (the frozen dataclasses
below, or plain str/int/sets), never ORM rows; changes are commands (``add_party``,
``set_subscriber_status`` ...). Reads select columns, not entities, so no row a later command changes sits
in the session's identity map.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, insert, select, text, update

from smki.storage.ca_store import utc
from smki.storage.ca_tables import CertificateRecord
from smki.storage.ra_tables import (
    EntryTestRecord,
    PartyIdentifierRecord,
    PartyRecord,
    RdpNominationRecord,
    RevocationRecord,
    SubscriberRecord,
)
from smki.storage.transaction import Transaction, session_of

REVOKED = "R"


@dataclass(frozen=True, slots=True)
class StoredParty:
    """A person known to the RA, as stored: its type and licences as their policy values."""

    party_id: str
    name: str
    party_type: str
    licences: tuple[str, ...]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class StoredIdentifier:
    """An EUI-64 (compact upper-case hex) a person holds, for one User Role ("" for DCC/SECCo ids)."""

    party_id: str
    entity_id: str
    user_role: str
    service_provider: str | None


@dataclass(frozen=True, slots=True)
class StoredSubscriber:
    """A person's standing under one Certificate Policy, as stored."""

    party_id: str
    policy: str
    status: str
    last_clause: str
    note: str | None
    change_notified: bool
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class SubscriberCertificate:
    """A certificate of a subscriber that is not yet revoked: enough to find it again and revoke it."""

    certificate_id: int
    serial_hex: str
    issuer_name: str


@dataclass(frozen=True, slots=True)
class StoredRevocation:
    """Why, when and by whom a certificate was revoked."""

    certificate_id: int
    reason: str
    reason_code: str | None
    clause: str
    actor: str | None
    revoked_at: datetime


# --- parties -------------------------------------------------------------------------------------------

_PARTY_COLUMNS = (
    PartyRecord.party_id,
    PartyRecord.name,
    PartyRecord.party_type,
    PartyRecord.licences,
    PartyRecord.created_at,
)


def _party(row: Any) -> StoredParty:
    return StoredParty(
        party_id=row[0],
        name=row[1],
        party_type=row[2],
        licences=tuple(v for v in str(row[3]).split(",") if v),
        created_at=utc(row[4]),
    )


def add_party(tx: Transaction, party: StoredParty) -> None:
    """Insert a party (a UNIQUE refusal leaves the transaction as ``storage.conflict``)."""
    session = session_of(tx)
    session.execute(
        insert(PartyRecord).values(
            party_id=party.party_id,
            name=party.name,
            party_type=party.party_type,
            licences=",".join(party.licences),
            created_at=party.created_at,
        )
    )


def get_party(tx: Transaction, party_id: str) -> StoredParty | None:
    """The party with this id, or None."""
    session = session_of(tx)
    row = session.execute(select(*_PARTY_COLUMNS).where(PartyRecord.party_id == party_id)).one_or_none()
    return _party(row) if row is not None else None


def get_parties(tx: Transaction, party_ids: Iterable[str]) -> dict[str, StoredParty]:
    """The parties with these ids (missing ids are left out)."""
    session = session_of(tx)
    ids = sorted(set(party_ids))
    if not ids:
        return {}
    rows = session.execute(select(*_PARTY_COLUMNS).where(PartyRecord.party_id.in_(ids)))
    return {p.party_id: p for p in map(_party, rows)}


def all_parties(tx: Transaction) -> list[StoredParty]:
    """Every party, by id."""
    session = session_of(tx)
    return [_party(r) for r in session.execute(select(*_PARTY_COLUMNS).order_by(PartyRecord.party_id))]


def add_identifier(tx: Transaction, identifier: StoredIdentifier) -> None:
    """Insert an identifier (a UNIQUE refusal leaves the transaction as ``storage.conflict``)."""
    session = session_of(tx)
    session.execute(
        insert(PartyIdentifierRecord).values(
            party_id=identifier.party_id,
            entity_id=identifier.entity_id,
            user_role=identifier.user_role,
            service_provider=identifier.service_provider,
        )
    )


def identifiers_of(tx: Transaction, party_ids: Iterable[str]) -> list[StoredIdentifier]:
    """The identifiers the given parties hold, in insertion order."""
    session = session_of(tx)
    ids = sorted(set(party_ids))
    if not ids:
        return []
    stmt = (
        select(
            PartyIdentifierRecord.party_id,
            PartyIdentifierRecord.entity_id,
            PartyIdentifierRecord.user_role,
            PartyIdentifierRecord.service_provider,
        )
        .where(PartyIdentifierRecord.party_id.in_(ids))
        .order_by(PartyIdentifierRecord.id)
    )
    return [
        StoredIdentifier(party_id=p, entity_id=e, user_role=r or "", service_provider=s)
        for p, e, r, s in session.execute(stmt)
    ]


def holders_of(tx: Transaction, entity_ids: Iterable[str]) -> dict[str, set[str]]:
    """For each EUI-64 (compact hex), the ids of the parties holding it (normally exactly one)."""
    session = session_of(tx)
    ids = sorted(set(entity_ids))
    out: dict[str, set[str]] = {}
    if not ids:
        return out
    stmt = select(PartyIdentifierRecord.entity_id, PartyIdentifierRecord.party_id).where(
        PartyIdentifierRecord.entity_id.in_(ids)
    )
    for entity_id, party_id in session.execute(stmt):
        out.setdefault(entity_id, set()).add(party_id)
    return out


def add_nomination(tx: Transaction, rdp_id: str, network_party_id: str) -> None:
    """Record that a Network Party nominated an RDP."""
    session = session_of(tx)
    session.execute(insert(RdpNominationRecord).values(rdp_id=rdp_id, network_party_id=network_party_id))


def nominations_of(tx: Transaction, rdp_ids: Iterable[str]) -> dict[str, set[str]]:
    """For each RDP id, the Network Parties that nominated it."""
    session = session_of(tx)
    ids = sorted(set(rdp_ids))
    out: dict[str, set[str]] = {}
    if not ids:
        return out
    stmt = select(RdpNominationRecord.rdp_id, RdpNominationRecord.network_party_id).where(
        RdpNominationRecord.rdp_id.in_(ids)
    )
    for rdp_id, nominator in session.execute(stmt):
        out.setdefault(rdp_id, set()).add(nominator)
    return out


# --- entry tests and subscribers --------------------------------------------------------------------------


def record_entry_test(tx: Transaction, party_id: str, policy: str, completed_on: datetime) -> bool:
    """Record a completed Entry Process Test; False when it was already recorded."""
    session = session_of(tx)
    if entry_test_completed(tx, party_id, policy):
        return False
    session.execute(
        insert(EntryTestRecord).values(party_id=party_id, policy=policy, completed_on=completed_on)
    )
    return True


def entry_test_completed(tx: Transaction, party_id: str, policy: str) -> bool:
    """True when the party completed the Entry Process Tests for the policy."""
    session = session_of(tx)
    stmt = select(exists().where(EntryTestRecord.party_id == party_id, EntryTestRecord.policy == policy))
    return bool(session.execute(stmt).scalar())


_SUBSCRIBER_COLUMNS = (
    SubscriberRecord.party_id,
    SubscriberRecord.policy,
    SubscriberRecord.status,
    SubscriberRecord.last_clause,
    SubscriberRecord.note,
    SubscriberRecord.change_notified,
    SubscriberRecord.updated_at,
)


def _subscriber(row: Any) -> StoredSubscriber:
    return StoredSubscriber(
        party_id=row[0],
        policy=row[1],
        status=row[2],
        last_clause=row[3],
        note=row[4],
        change_notified=bool(row[5]),
        updated_at=utc(row[6]),
    )


def subscriber(
    tx: Transaction, party_id: str, policy: str, *, for_update: bool = False
) -> StoredSubscriber | None:
    """A person's standing under one policy (its row locked on PostgreSQL when ``for_update``)."""
    session = session_of(tx)
    stmt = select(*_SUBSCRIBER_COLUMNS).where(
        SubscriberRecord.party_id == party_id, SubscriberRecord.policy == policy
    )
    if for_update:
        stmt = stmt.with_for_update()
    row = session.execute(stmt).one_or_none()
    return _subscriber(row) if row is not None else None


def subscriber_statuses(tx: Transaction, party_ids: Iterable[str], policy: str) -> dict[str, str]:
    """The status of each given party under ``policy`` (parties with no row are left out)."""
    session = session_of(tx)
    ids = sorted(set(party_ids))
    if not ids:
        return {}
    stmt = select(SubscriberRecord.party_id, SubscriberRecord.status).where(
        SubscriberRecord.party_id.in_(ids), SubscriberRecord.policy == policy
    )
    return {p: s for p, s in session.execute(stmt)}


def subscribers_of(tx: Transaction, party_id: str) -> list[StoredSubscriber]:
    """Every standing of a person, by policy."""
    session = session_of(tx)
    stmt = (
        select(*_SUBSCRIBER_COLUMNS)
        .where(SubscriberRecord.party_id == party_id)
        .order_by(SubscriberRecord.policy)
    )
    return [_subscriber(r) for r in session.execute(stmt)]


def set_subscriber_status(
    tx: Transaction,
    party_id: str,
    policy: str,
    *,
    status: str,
    clause: str,
    note: str | None,
    change_notified: bool,
    at: datetime,
) -> StoredSubscriber:
    """Store a person's standing under one policy (its first, or a new one) and return it."""
    session = session_of(tx)
    values = {
        "status": status,
        "last_clause": clause,
        "note": note,
        "change_notified": change_notified,
        "updated_at": at,
    }
    this = (SubscriberRecord.party_id == party_id, SubscriberRecord.policy == policy)
    if session.execute(select(exists().where(*this))).scalar():
        session.execute(update(SubscriberRecord).where(*this).values(**values))
    else:
        session.execute(insert(SubscriberRecord).values(party_id=party_id, policy=policy, **values))
    return StoredSubscriber(
        party_id=party_id,
        policy=policy,
        status=status,
        last_clause=clause,
        note=note,
        change_notified=change_notified,
        updated_at=utc(at),
    )


# --- certificates, as the RA needs them ------------------------------------------------------------------


def public_keys_in_family(
    tx: Transaction,
    public_key_sha256s: Sequence[str],
    hierarchy: str,
    *,
    excluding_certificate_ids: Collection[int] = (),
) -> set[str]:
    """Which of these keys (hex SHA-256 of the SPKI) a certificate of the hierarchy already has (L11.4).

    Certificates whose id is in ``excluding_certificate_ids`` (those being stored in the caller's
    transaction) do not count.
    """
    session = session_of(tx)
    keys = sorted(set(public_key_sha256s))
    excluded = set(excluding_certificate_ids)
    found: set[str] = set()
    if session.get_bind().dialect.name == "sqlite":
        # The same query with its placeholders written once per size: SQLAlchemy's expanding IN costs
        # more to compile than the index lookups for a batch of thousands of keys.
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            rows = session.connection().exec_driver_sql(
                "SELECT public_key_sha256, id FROM certificates WHERE hierarchy = ? AND public_key_sha256 "
                f"IN ({', '.join('?' for _ in chunk)})",
                (hierarchy, *chunk),
            )
            found.update(key for key, certificate_id in rows if certificate_id not in excluded)
        return found
    if session.get_bind().dialect.name == "postgresql":
        # One statement whatever the number of keys: the keys go as one array parameter, so the text
        # stays the same (prepared once by psycopg) instead of thousands of IN placeholders to parse.
        rows = session.connection().exec_driver_sql(
            "SELECT public_key_sha256, id FROM certificates "
            "WHERE hierarchy = %s AND public_key_sha256 = ANY(%s)",
            (hierarchy, keys),
        )
        found.update(key for key, certificate_id in rows if certificate_id not in excluded)
        return found
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        stmt = select(CertificateRecord.public_key_sha256, CertificateRecord.id).where(
            CertificateRecord.hierarchy == hierarchy, CertificateRecord.public_key_sha256.in_(chunk)
        )
        found.update(key for key, certificate_id in session.execute(stmt) if certificate_id not in excluded)
    return found


# pg_advisory_xact_lock(namespace, hierarchy): the namespace is "SMKI" as a 32-bit integer, the second key
# a fixed number per hierarchy (never hash(), which differs between processes).
_KEY_LOCK_NAMESPACE = int.from_bytes(b"SMKI", "big")
_KEY_LOCK_IDS = {"organisation": 1, "device": 2, "iki": 3}


def lock_key_families(tx: Transaction, hierarchies: Iterable[str]) -> None:
    """Serialise, until the caller's transaction ends, every L11.4 re-check of these hierarchies' keys.

    PostgreSQL: a transaction-scoped advisory lock per hierarchy, taken in a fixed order (no deadlock
    between two transactions storing several hierarchies). SQLite: nothing to do, the write transaction
    (``Database.session``, BEGIN IMMEDIATE) already excludes every other writer. Call it in a write
    transaction only.
    """
    session = session_of(tx)
    if session.get_bind().dialect.name != "postgresql":
        return
    for hierarchy in sorted(set(hierarchies), key=lambda h: _KEY_LOCK_IDS[h]):
        session.execute(
            text("SELECT pg_advisory_xact_lock(:namespace, :hierarchy)"),
            {"namespace": _KEY_LOCK_NAMESPACE, "hierarchy": _KEY_LOCK_IDS[hierarchy]},
        )


# The second key of the party register's lock, in the same "SMKI" namespace: distinct from every
# _KEY_LOCK_IDS value. No transaction takes both locks (the register's changes store no certificate).
_PARTY_REGISTER_LOCK_ID = 100


def lock_party_register(tx: Transaction) -> None:
    """Serialise, until the caller's transaction ends, every change to the party register.

    A change reads the register (is this party id, this EUI-64 for another person, this nomination already
    there?) and then writes; no UNIQUE constraint covers every such check (one EUI-64 held by two persons
    under two different User Roles), so two concurrent changes must not interleave. PostgreSQL: a
    transaction-scoped advisory lock, ``pg_advisory_xact_lock(namespace "SMKI", 100)``; take it first in
    the transaction, before any check (READ COMMITTED: each later statement sees what the previous holder
    committed). SQLite: nothing to do, the write transaction (``Database.session``, BEGIN IMMEDIATE)
    already excludes every other writer. Call it in a write transaction only.
    """
    session = session_of(tx)
    if session.get_bind().dialect.name != "postgresql":
        return
    session.execute(
        text("SELECT pg_advisory_xact_lock(:namespace, :register)"),
        {"namespace": _KEY_LOCK_NAMESPACE, "register": _PARTY_REGISTER_LOCK_ID},
    )


def certificates_of_subscriber(
    tx: Transaction, subscriber_id: str, kinds: Sequence[str]
) -> list[SubscriberCertificate]:
    """The certificates of the given kinds issued to a subscriber and not yet revoked, oldest first (their
    rows locked until the transaction ends, on PostgreSQL)."""
    session = session_of(tx)
    stmt = (
        select(CertificateRecord.id, CertificateRecord.serial_hex, CertificateRecord.issuer_name)
        .where(
            CertificateRecord.subscriber == subscriber_id,
            CertificateRecord.kind.in_(list(kinds)),
            CertificateRecord.status != REVOKED,
        )
        .order_by(CertificateRecord.id)
        .with_for_update()
    )
    return [
        SubscriberCertificate(certificate_id=int(i), serial_hex=s, issuer_name=n)
        for i, s, n in session.execute(stmt)
    ]


def revocation_of(tx: Transaction, certificate_id: int) -> StoredRevocation | None:
    """The revocation of a certificate, if any (written by ``smki.ca.revocation``)."""
    session = session_of(tx)
    stmt = select(
        RevocationRecord.certificate_id,
        RevocationRecord.reason,
        RevocationRecord.reason_code,
        RevocationRecord.clause,
        RevocationRecord.actor,
        RevocationRecord.revoked_at,
    ).where(RevocationRecord.certificate_id == certificate_id)
    row = session.execute(stmt).one_or_none()
    if row is None:
        return None
    return StoredRevocation(
        certificate_id=int(row[0]),
        reason=row[1],
        reason_code=row[2],
        clause=row[3],
        actor=row[4],
        revoked_at=utc(row[5]),
    )
