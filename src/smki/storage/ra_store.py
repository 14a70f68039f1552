"""Database access for the Registration Authority: parties, identifiers, subscribers, revocation reads.

Every function runs in the caller's session (the caller's transaction); none commits.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime

from sqlalchemy import exists, select, text

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


# --- parties -------------------------------------------------------------------------------------------


def add_party(tx: Transaction, record: PartyRecord) -> None:
    """Insert a party row."""
    session = session_of(tx)
    session.add(record)
    session.flush()


def get_party(tx: Transaction, party_id: str) -> PartyRecord | None:
    """The party with this id, or None."""
    session = session_of(tx)
    return session.get(PartyRecord, party_id)


def get_parties(tx: Transaction, party_ids: Iterable[str]) -> dict[str, PartyRecord]:
    """The parties with these ids (missing ids are left out)."""
    session = session_of(tx)
    ids = sorted(set(party_ids))
    if not ids:
        return {}
    rows = session.execute(select(PartyRecord).where(PartyRecord.party_id.in_(ids))).scalars()
    return {r.party_id: r for r in rows}


def all_parties(tx: Transaction) -> list[PartyRecord]:
    """Every party, by id."""
    session = session_of(tx)
    return list(session.execute(select(PartyRecord).order_by(PartyRecord.party_id)).scalars())


def add_identifier(tx: Transaction, record: PartyIdentifierRecord) -> None:
    """Insert an identifier row."""
    session = session_of(tx)
    session.add(record)
    session.flush()


def identifiers_of(tx: Transaction, party_ids: Iterable[str]) -> list[PartyIdentifierRecord]:
    """The identifiers the given parties hold, in insertion order."""
    session = session_of(tx)
    ids = sorted(set(party_ids))
    if not ids:
        return []
    stmt = (
        select(PartyIdentifierRecord)
        .where(PartyIdentifierRecord.party_id.in_(ids))
        .order_by(PartyIdentifierRecord.id)
    )
    return list(session.execute(stmt).scalars())


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
    session.add(RdpNominationRecord(rdp_id=rdp_id, network_party_id=network_party_id))
    session.flush()


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
    found = session.execute(
        select(EntryTestRecord).where(EntryTestRecord.party_id == party_id, EntryTestRecord.policy == policy)
    ).scalar_one_or_none()
    if found is not None:
        return False
    session.add(EntryTestRecord(party_id=party_id, policy=policy, completed_on=completed_on))
    session.flush()
    return True


def entry_test_completed(tx: Transaction, party_id: str, policy: str) -> bool:
    """True when the party completed the Entry Process Tests for the policy."""
    session = session_of(tx)
    stmt = select(exists().where(EntryTestRecord.party_id == party_id, EntryTestRecord.policy == policy))
    return bool(session.execute(stmt).scalar())


def subscriber(
    tx: Transaction, party_id: str, policy: str, *, for_update: bool = False
) -> SubscriberRecord | None:
    """A person's subscriber row under one policy (locked on PostgreSQL when ``for_update``)."""
    session = session_of(tx)
    stmt = select(SubscriberRecord).where(
        SubscriberRecord.party_id == party_id, SubscriberRecord.policy == policy
    )
    if for_update:
        stmt = stmt.with_for_update()
    return session.execute(stmt).scalar_one_or_none()


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


def subscribers_of(tx: Transaction, party_id: str) -> list[SubscriberRecord]:
    """Every subscriber row of a person."""
    session = session_of(tx)
    stmt = (
        select(SubscriberRecord)
        .where(SubscriberRecord.party_id == party_id)
        .order_by(SubscriberRecord.policy)
    )
    return list(session.execute(stmt).scalars())


def save_subscriber(tx: Transaction, record: SubscriberRecord) -> None:
    """Insert or update a subscriber row."""
    session = session_of(tx)
    session.add(record)
    session.flush()


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
) -> list[CertificateRecord]:
    """The certificates of the given kinds issued to a subscriber and not yet revoked, oldest first."""
    session = session_of(tx)
    stmt = (
        select(CertificateRecord)
        .where(
            CertificateRecord.subscriber == subscriber_id,
            CertificateRecord.kind.in_(list(kinds)),
            CertificateRecord.status != REVOKED,
        )
        .order_by(CertificateRecord.id)
        .with_for_update()
    )
    return list(session.execute(stmt).scalars())


def revocation_of(tx: Transaction, certificate_id: int) -> RevocationRecord | None:
    """The revocation record of a certificate, if any (written by ``smki.ca.revocation``)."""
    session = session_of(tx)
    stmt = select(RevocationRecord).where(RevocationRecord.certificate_id == certificate_id)
    return session.execute(stmt).scalar_one_or_none()
