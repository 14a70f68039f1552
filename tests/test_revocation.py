"""Revocation on SQLite and PostgreSQL: the one path (smki.ca.revocation) with its audit entry and change
sequence, the RA's rule on who may revoke what (smki.ra.revocation), and L3.14(b) through the same path."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from smki import audit, repository
from smki.ca import CertificateAuthorities, IssuedCertificate, IssueRequest, create_hierarchy
from smki.ca import revocation as ca_revocation
from smki.keys import SoftBackend
from smki.model import (
    CertificateKind,
    CertificateStatus,
    EntityId,
    Hierarchy,
    InvalidInput,
    KeyUsage,
    PolicyRefusal,
    RemotePartyRole,
    SmkiError,
)
from smki.policy.parties import Licence, Party, PartyIdentifier, PartyType, UserRole
from smki.policy.subscribers import SubscriberEvent
from smki.profiles.environment import PkiEnvironment
from smki.ra import parties, subscribers
from smki.ra.revocation import request_revocation, revoke_as_dcc
from smki.storage import Database, Transaction, audit_store, ra_store

ENV = PkiEnvironment()
DCC_ID = EntityId.parse("90-B3-D5-1F-30-00-00-01")
ACME_ID = EntityId.parse("90-B3-D5-1F-30-01-00-00")
GASCO_ID = EntityId.parse("90-B3-D5-1F-30-03-00-00")
METER = EntityId.parse("00-DB-12-34-56-78-90-01")
KEY_COMPROMISE = x509.ReasonFlags.key_compromise

PARTIES = (
    Party("dcc", "DCC", PartyType.DCC, identifiers=(PartyIdentifier(DCC_ID),)),
    Party(
        "acme",
        "Acme",
        PartyType.PARTY,
        frozenset({Licence.ELECTRICITY_SUPPLY}),
        (PartyIdentifier(ACME_ID, UserRole.IMPORT_SUPPLIER),),
    ),
    Party(
        "gasco",
        "Gasco",
        PartyType.PARTY,
        frozenset({Licence.GAS_SUPPLY}),
        (PartyIdentifier(GASCO_ID, UserRole.GAS_SUPPLIER),),
    ),
)


@dataclass
class World:
    db: Database
    cas: CertificateAuthorities


@pytest.fixture
def world(database: Database, tmp_path: Path) -> Iterator[World]:
    keys = SoftBackend(tmp_path / "home", {"SMKI_KEY_PASSPHRASE": "revocation-test-passphrase"})
    create_hierarchy(database, keys, ENV, actor="test")
    for party in PARTIES:
        parties.register_party(database, party, actor="dcc-ra")
    yield World(database, CertificateAuthorities.open(database, keys, ENV))
    keys.close()


def org_for(
    world: World, party: str, eui: EntityId, usage: KeyUsage = KeyUsage.DIGITAL_SIGNATURE
) -> IssuedCertificate:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    request = IssueRequest(
        kind=CertificateKind.ORGANISATION,
        public_key=key,
        key_usage=usage,
        entity_id=eui,
        role=RemotePartyRole.SUPPLIER,
        subscriber=party,
    )
    return world.cas.issue(request, actor="ra:test")


def audit_count(db: Database) -> int:
    return audit.verify(db).entries


def test_revocation_is_recorded_audited_and_ordered_as_a_change(world: World) -> None:
    db = world.db
    cert = org_for(world, "acme", ACME_ID)
    before = repository.get_certificate(db, cert.serial_hex)
    done = ca_revocation.revoke(
        db, cert.serial_hex, KEY_COMPROMISE, actor="operator:alice", note="laptop stolen"
    )
    assert (done.serial_hex, done.issuer_name, done.kind) == (
        cert.serial_hex,
        "Z1",
        CertificateKind.ORGANISATION,
    )
    assert done.list_kind == "CRL" and "CRL of Z1" in done.sentence()
    view = repository.get_certificate(db, cert.serial_hex)
    assert view.status is CertificateStatus.REVOKED and view.revocation_reason == "keyCompromise"
    assert view.revoked_at == done.revoked_at
    assert view.change_seq == done.change_seq and before.change_seq is not None
    assert done.change_seq > before.change_seq
    with db.read_transaction() as tx:
        entries = audit_store.entries_for_object(tx, "certificate", f"Z1/{cert.serial_hex}")
        assert [e.action for e in entries] == ["certificate.revoke"]
        assert entries[0].seq == done.change_seq and entries[0].actor == "operator:alice"
        assert '"reason":"keyCompromise"' in entries[0].details and "laptop stolen" in entries[0].details
        rows = repository_rows(tx, cert.serial_hex)
        assert rows == ("R", "keyCompromise", "operator:alice")
    assert audit.verify(db).ok


def repository_rows(tx: Transaction, serial: str) -> tuple[str, str | None, str | None]:
    from smki.storage import ca_store

    row = ca_store.certificate_by_serial(tx, serial)
    assert row is not None
    rev = ra_store.revocation_of(tx, row.id)
    assert rev is not None
    return row.status, rev.reason_code, rev.actor


def test_revoking_twice_is_refused_and_changes_nothing(world: World) -> None:
    db = world.db
    cert = org_for(world, "acme", ACME_ID)
    first = ca_revocation.revoke(db, cert.serial_hex, KEY_COMPROMISE, actor="op")
    entries = audit_count(db)
    for attempt in (
        lambda: ca_revocation.revoke(db, cert.serial_hex, x509.ReasonFlags.superseded, actor="op"),
        lambda: request_revocation(
            db, party_id="acme", serial_hex=cert.serial_hex, reason=KEY_COMPROMISE, actor="acme"
        ),
    ):
        with pytest.raises(SmkiError) as info:
            attempt()
        assert info.value.code == "revocation.already_revoked"
        assert info.value.message.endswith("is already revoked.")
    assert audit_count(db) == entries
    view = repository.get_certificate(db, cert.serial_hex)
    assert view.revocation_reason == "keyCompromise" and view.change_seq == first.change_seq


def test_subscriber_may_revoke_only_its_own_certificates_and_the_dcc_any(world: World) -> None:
    db = world.db
    acme = org_for(world, "acme", ACME_ID)
    gasco = org_for(world, "gasco", GASCO_ID)
    entries = audit_count(db)
    with pytest.raises(PolicyRefusal) as info:
        request_revocation(
            db, party_id="acme", serial_hex=gasco.serial_hex, reason=KEY_COMPROMISE, actor="acme"
        )
    assert info.value.code == "revocation.not_subscriber" and info.value.clause == "Appendix B 4.9.2"
    assert "'acme' is not the Subscriber" in info.value.message
    assert audit_count(db) == entries
    assert repository.get_certificate(db, gasco.serial_hex).status is CertificateStatus.IN_USE

    own = request_revocation(
        db, party_id="acme", serial_hex=acme.serial_hex, reason=x509.ReasonFlags.superseded, actor="acme"
    )
    assert own.clause == "Appendix B 4.9.2" and own.note == "requested by acme"
    by_dcc = request_revocation(
        db, party_id="dcc", serial_hex=gasco.serial_hex, reason=KEY_COMPROMISE, actor="dcc-ra"
    )
    assert by_dcc.subscriber == "gasco"
    assert {repository.get_certificate(db, c.serial_hex).status for c in (acme, gasco)} == {
        CertificateStatus.REVOKED
    }
    with pytest.raises(InvalidInput) as unknown:
        request_revocation(
            db, party_id="nobody", serial_hex=acme.serial_hex, reason=KEY_COMPROMISE, actor="x"
        )
    assert unknown.value.code == "party.unknown"


def test_device_root_and_issuing_ca_certificates_follow_their_rules(world: World) -> None:
    db = world.db
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    dev = world.cas.issue(
        IssueRequest(
            kind=CertificateKind.DEVICE,
            public_key=key,
            key_usage=KeyUsage.DIGITAL_SIGNATURE,
            entity_id=METER,
            subscriber="acme",
        ),
        actor="t",
    )
    for party in ("acme", "dcc"):
        with pytest.raises(PolicyRefusal) as info:
            request_revocation(
                db, party_id=party, serial_hex=dev.serial_hex, reason=KEY_COMPROMISE, actor=party
            )
        assert info.value.code == "revocation.device_certificate" and info.value.clause == "Appendix A 4.9.1"
    issuing_oca = repository.search(db, kind=CertificateKind.ISSUING_OCA).items[0]
    root_oca = repository.search(db, kind=CertificateKind.ROOT_OCA).items[0]
    with pytest.raises(PolicyRefusal) as info:
        request_revocation(
            db, party_id="acme", serial_hex=issuing_oca.serial_hex, reason=KEY_COMPROMISE, actor="acme"
        )
    assert info.value.code == "revocation.not_subscriber"
    with pytest.raises(SmkiError) as root:
        revoke_as_dcc(db, serial_hex=root_oca.serial_hex, reason=KEY_COMPROMISE, actor="op")
    assert root.value.code == "revocation.root_certificate" and root.value.clause == "L10"
    done = revoke_as_dcc(
        db, serial_hex=issuing_oca.serial_hex, reason=x509.ReasonFlags.ca_compromise, actor="op"
    )
    assert done.list_kind == "ARL" and done.issuer_name == "ZA"
    assert repository.get_certificate(db, issuing_oca.serial_hex).status is CertificateStatus.REVOKED


def test_reasons_and_serials_are_checked(world: World) -> None:
    db = world.db
    cert = org_for(world, "acme", ACME_ID)
    assert ca_revocation.parse_reason("key-compromise") is KEY_COMPROMISE
    assert ca_revocation.parse_reason("cessationOfOperation") is x509.ReasonFlags.cessation_of_operation
    for bad in ("certificateHold", "removeFromCRL", "aACompromise", "because"):
        with pytest.raises(InvalidInput) as info:
            ca_revocation.parse_reason(bad)
        assert info.value.code == "revocation.reason"
    with pytest.raises(InvalidInput):
        ca_revocation.revoke(db, cert.serial_hex, x509.ReasonFlags.certificate_hold, actor="op")
    with pytest.raises(InvalidInput) as syntax:
        ca_revocation.revoke(db, "not-a-serial!", KEY_COMPROMISE, actor="op")
    assert syntax.value.code == "serial.syntax"
    with pytest.raises(SmkiError) as missing:
        ca_revocation.revoke(db, "7F" * 16, KEY_COMPROMISE, actor="op")
    assert missing.value.code == "revocation.not_found"
    with pytest.raises(SmkiError):
        ca_revocation.revoke(db, cert.serial_hex, KEY_COMPROMISE, actor="op", issuer_name="I1")
    assert repository.get_certificate(db, cert.serial_hex).status is CertificateStatus.IN_USE


def test_l3_14_b_revokes_through_the_one_path(world: World) -> None:
    db = world.db
    subscribers.record_entry_tests(db, "gasco", Hierarchy.ORGANISATION, actor="dcc-ra")
    subscribers.move(db, "gasco", Hierarchy.ORGANISATION, SubscriberEvent.APPLY, actor="gasco")
    subscribers.move(db, "gasco", Hierarchy.ORGANISATION, SubscriberEvent.DCC_AUTHORISES, actor="dcc-ra")
    certs = [
        org_for(world, "gasco", GASCO_ID, u) for u in (KeyUsage.DIGITAL_SIGNATURE, KeyUsage.KEY_AGREEMENT)
    ]
    other = org_for(world, "acme", ACME_ID)
    subscribers.move(db, "gasco", Hierarchy.ORGANISATION, SubscriberEvent.NOTIFY_CHANGE, actor="gasco")
    ceased = subscribers.move(
        db, "gasco", Hierarchy.ORGANISATION, SubscriberEvent.DCC_FINDS_CRITERIA_NO_LONGER_MET, actor="dcc-ra"
    )
    assert sorted(ceased.revoked_serials) == sorted(c.serial_hex for c in certs)
    revoked = repository.search(db, status=CertificateStatus.REVOKED).items
    assert {v.serial_hex for v in revoked} == {c.serial_hex for c in certs}
    assert {v.revocation_reason for v in revoked} == {"privilegeWithdrawn"}
    with db.read_transaction() as tx:
        for c in certs:
            status, code, actor = repository_rows(tx, c.serial_hex)
            assert (status, code, actor) == ("R", "privilegeWithdrawn", "dcc-ra")
    header_seq = max(v.change_seq or 0 for v in revoked)
    entries = audit.log.entries_for(db, "certificate", f"Z1/{certs[0].serial_hex}")
    assert entries[-1].action == "certificate.revoke" and entries[-1].details["clause"] == "L3.14(b)"
    assert header_seq >= entries[-1].seq
    assert repository.get_certificate(db, other.serial_hex).status is CertificateStatus.IN_USE
    with pytest.raises(SmkiError) as again:
        request_revocation(
            db, party_id="dcc", serial_hex=certs[0].serial_hex, reason=KEY_COMPROMISE, actor="dcc"
        )
    assert again.value.code == "revocation.already_revoked"
    assert audit.verify(db).ok
