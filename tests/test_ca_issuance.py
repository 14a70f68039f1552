"""The issuance cycle on SQLite and PostgreSQL: routing, recording, audit, lint-before-sign, key validity."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from smki import audit
from smki.ca import (
    KEY_VALIDITY_CLAUSE,
    CertificateAuthorities,
    IssueRequest,
    create_hierarchy,
    spki_sha256,
)
from smki.ca import issuance as issuance_module
from smki.keys import SoftBackend
from smki.model import (
    CertificateKind,
    EntityId,
    Hierarchy,
    InvalidInput,
    KeyUsage,
    PolicyRefusal,
    RemotePartyRole,
    SmkiError,
    StorageConflict,
)
from smki.profiles.environment import PkiEnvironment
from smki.profiles.lint import lint
from smki.storage import Database, ca_store

ENV = PkiEnvironment()
SUPPLIER = EntityId.parse("90-B3-D5-1F-30-01-00-00")
METER = EntityId.parse("00-DB-12-34-56-78-90-01")


@pytest.fixture
def keys(tmp_path: Path) -> Iterator[SoftBackend]:
    backend = SoftBackend(tmp_path / "home", {"SMKI_KEY_PASSPHRASE": "issuance-test-passphrase"})
    yield backend
    backend.close()


@pytest.fixture
def cas(database: Database, keys: SoftBackend) -> CertificateAuthorities:
    create_hierarchy(database, keys, ENV, actor="test")
    return CertificateAuthorities.open(database, keys, ENV)


def _key() -> ec.EllipticCurvePublicKey:
    return ec.generate_private_key(ec.SECP256R1()).public_key()


def _org(**extra: object) -> IssueRequest:
    values: dict[str, object] = {
        "kind": CertificateKind.ORGANISATION,
        "public_key": _key(),
        "key_usage": KeyUsage.DIGITAL_SIGNATURE,
        "entity_id": SUPPLIER,
        "role": RemotePartyRole.SUPPLIER,
        "subscriber": "supplier-1",
    }
    values.update(extra)
    return IssueRequest(**values)  # type: ignore[arg-type]


def _intents(db: Database) -> list[tuple[str, str]]:
    with db.read_transaction() as s:
        return [(i.serial_hex, i.state) for i in ca_store.intents(s)]


def test_organisation_certificate_is_recorded_audited_and_chains_to_issuing_oca(
    database: Database, cas: CertificateAuthorities
) -> None:
    request = _org(common_name="GITTESTSUPPLIER")
    issued = cas.issue(request, actor="ra:test")

    issuing = cas.issuing_ca_certificate(Hierarchy.ORGANISATION)
    issued.certificate.verify_directly_issued_by(issuing)
    assert issued.issuer_name == "Z1" and issued.kind is CertificateKind.ORGANISATION
    assert len(issued.serial_hex) == 32 and int(issued.serial_hex, 16) == issued.serial
    assert lint(issued.certificate, ENV, issuer=issuing).conforms
    with database.read_transaction() as s:
        row = ca_store.certificate_by_serial(s, issued.serial_hex)
        assert row is not None
        assert row.der == issued.der and row.issuer_name == "Z1" and row.subscriber == "supplier-1"
        assert (
            row.entity_id == SUPPLIER.compact and row.role_code == 2 and row.key_usage == "digitalSignature"
        )
        assert row.public_key_sha256 == spki_sha256(request.public_key) and row.hierarchy == "organisation"
        assert ca_store.utc(row.not_after) == issued.not_after
        assert [c.id for c in ca_store.certificates_by_entity_id(s, SUPPLIER.compact)] == [row.id]
    assert (issued.serial_hex, "signed") in _intents(database)
    history = audit.log.entries_for(database, "certificate", issued.serial_hex)
    assert [h.action for h in history] == ["ca.certificate_issued"]
    assert history[0].actor == "ra:test" and history[0].details["subscriber"] == "supplier-1"
    assert audit.verify(database).ok


def test_device_and_iki_requests_go_to_their_issuing_cas(cas: CertificateAuthorities) -> None:
    device = cas.issue(
        IssueRequest(
            kind=CertificateKind.DEVICE, public_key=_key(), key_usage=KeyUsage.KEY_AGREEMENT, entity_id=METER
        ),
        actor="ra:test",
    )
    device.certificate.verify_directly_issued_by(cas.issuing_ca_certificate(Hierarchy.DEVICE))
    assert device.issuer_name == "E357"
    assert device.not_after == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    iki = cas.issue(
        IssueRequest(
            kind=CertificateKind.IKI,
            public_key=_key(),
            key_usage=KeyUsage.DIGITAL_SIGNATURE,
            entity_id=SUPPLIER,
        ),
        actor="ra:test",
    )
    iki.certificate.verify_directly_issued_by(cas.issuing_ca_certificate(Hierarchy.IKI))
    assert iki.issuer_name == "I1"
    cas.issuing_ca_certificate(Hierarchy.IKI).verify_directly_issued_by(cas.root_certificate(Hierarchy.IKI))


def test_issue_many_stores_a_batch_with_unique_serials(
    database: Database, cas: CertificateAuthorities
) -> None:
    requests = [_org(entity_id=EntityId.from_bytes(bytes([0x90, 0xB3, 0, 0, 0, 0, 1, i]))) for i in range(12)]
    issued = cas.issue_many(requests, actor="ra:batch")
    assert len({i.serial for i in issued}) == 12
    for request, item in zip(requests, issued, strict=True):
        assert item.entity_id == request.entity_id and item.certificate_id is not None
    with database.read_transaction() as s:
        for item in issued:
            assert ca_store.certificate_by_serial(s, item.serial_hex) is not None
    states = dict(_intents(database))
    assert all(states[i.serial_hex] == "signed" for i in issued)
    assert audit.verify(database).ok


def test_public_key_in_family_sees_only_the_hierarchy(
    database: Database, cas: CertificateAuthorities
) -> None:
    request = _org()
    cas.issue(request, actor="ra:test")
    digest = spki_sha256(request.public_key)
    with database.read_transaction() as s:
        assert ca_store.public_key_in_family(s, digest, Hierarchy.ORGANISATION.value)
        assert not ca_store.public_key_in_family(s, digest, Hierarchy.DEVICE.value)
        assert not ca_store.public_key_in_family(s, spki_sha256(_key()), Hierarchy.ORGANISATION.value)


def test_lint_failure_refuses_before_signing_and_abandons_the_serial(
    database: Database, keys: SoftBackend
) -> None:
    create_hierarchy(database, keys, ENV, actor="test")
    # The operator's environment names another Issuing OCA than the one in force: every certificate the CA
    # would sign breaks the profile (issuer name), so nothing may be signed.
    misconfigured = CertificateAuthorities.open(database, keys, PkiEnvironment(issuing_oca_name="Z9"))
    before = len(_intents(database))
    with database.read_transaction() as s:
        certificates_before = ca_store.count_certificates(s)
    with pytest.raises(PolicyRefusal) as refused:
        misconfigured.issue(_org(), actor="ra:test")
    assert refused.value.code == "ca.lint_failed"
    assert "Organisation Certificate" in refused.value.message
    intents = _intents(database)
    assert len(intents) == before + 1 and intents[-1][1] == "abandoned"
    with database.read_transaction() as s:
        assert ca_store.count_certificates(s) == certificates_before
    assert audit.log.entries_for(database, "issuance_intent", _intent_id(database, intents[-1][0]))[
        -1
    ].action == ("ca.issuance_abandoned")
    assert audit.verify(database).ok


def _intent_id(db: Database, serial: str) -> str:
    with db.read_transaction() as s:
        return str(next(i.id for i in ca_store.intents(s) if i.serial_hex == serial))


@pytest.mark.parametrize(
    "moment", [datetime(2100, 1, 1, tzinfo=UTC), datetime(2000, 1, 1, tzinfo=UTC)], ids=["after", "before"]
)
def test_ca_key_not_used_outside_its_certificate_validity(
    database: Database, keys: SoftBackend, moment: datetime
) -> None:
    create_hierarchy(database, keys, ENV, actor="test")
    later = CertificateAuthorities.open(database, keys, ENV, clock=lambda: moment)
    before = _intents(database)
    for request in (
        _org(),
        IssueRequest(
            kind=CertificateKind.DEVICE,
            public_key=_key(),
            key_usage=KeyUsage.DIGITAL_SIGNATURE,
            entity_id=METER,
        ),
    ):
        with pytest.raises(PolicyRefusal) as refused:
            later.issue(request, actor="ra:test")
        assert refused.value.code == "ca.key_outside_validity"
        assert refused.value.clause == KEY_VALIDITY_CLAUSE == "Appendix B 6.3.2(C)"
    assert _intents(database) == before  # refused before any serial was reserved


def test_issuing_oca_key_usable_on_the_last_second_of_its_validity(
    database: Database, keys: SoftBackend
) -> None:
    create_hierarchy(database, keys, ENV, actor="test")
    cas = CertificateAuthorities.open(database, keys, ENV)
    end = cas.issuing_ca_certificate(Hierarchy.ORGANISATION).not_valid_after_utc
    last = CertificateAuthorities.open(database, keys, ENV, clock=lambda: end)
    last.issue(_org(not_before=end - timedelta(days=1)), actor="ra:test")
    after = CertificateAuthorities.open(database, keys, ENV, clock=lambda: end + timedelta(seconds=1))
    with pytest.raises(PolicyRefusal):
        after.issue(_org(), actor="ra:test")


def test_ca_certificates_are_not_issued_on_request(cas: CertificateAuthorities) -> None:
    with pytest.raises(InvalidInput) as refused:
        cas.issue(_org(kind=CertificateKind.ISSUING_OCA), actor="ra:test")
    assert refused.value.code == "ca.kind_not_issuable"
    with pytest.raises(InvalidInput):
        cas.issue(_org(role=None), actor="ra:test")


def test_serial_collision_is_retried_with_a_new_serial(
    database: Database, cas: CertificateAuthorities, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = cas.issue(_org(), actor="ra:test")
    real_new_serial = issuance_module.builders.new_serial
    drawn = iter([first.serial])  # the next draw repeats a serial that is already used

    def colliding() -> int:
        return next(drawn, None) or real_new_serial()

    monkeypatch.setattr(issuance_module.builders, "new_serial", colliding)
    second = cas.issue(_org(), actor="ra:test")
    assert second.serial != first.serial
    serials = [s for s, _ in _intents(database)]
    assert len(serials) == len(set(serials))


def test_database_refuses_a_reserved_serial_twice(database: Database) -> None:
    now = datetime.now(UTC)
    reservation = ca_store.Reservation("7" + "0" * 31, "Z1", "organisation")
    with database.transaction() as s:
        ca_store.reserve_serials(s, [reservation], actor="t", at=now)
    with pytest.raises(ca_store.SerialCollision), database.transaction() as s:
        ca_store.reserve_serials(
            s, [ca_store.Reservation("7" + "0" * 31, "E357", "device")], actor="t", at=now
        )
    with pytest.raises(StorageConflict), database.transaction() as s:  # the driver's IntegrityError, mapped
        row = {
            "serial_hex": "7" + "0" * 31,
            "issuer_name": "Z1",
            "kind": "organisation",
            "hierarchy": "organisation",
            "key_usage": "digitalSignature",
            "subject_der": b"0",
            "not_before": now,
            "not_after": now,
            "status": "I",
            "public_key_sha256": "0" * 64,
            "der": b"0",
            "issued_at": now,
        }
        ca_store.add_certificates(s, [row, dict(row)])


def test_open_refuses_when_no_hierarchy_exists(database: Database, keys: SoftBackend) -> None:
    with pytest.raises(SmkiError) as refused:
        CertificateAuthorities.open(database, keys, ENV)
    assert refused.value.code == "ca.not_initialised"


def test_open_refuses_when_the_key_store_lacks_the_ca_keys(
    database: Database, keys: SoftBackend, tmp_path: Path
) -> None:
    create_hierarchy(database, keys, ENV, actor="test")
    other = SoftBackend(tmp_path / "elsewhere", {"SMKI_KEY_PASSPHRASE": "x" * 20})
    with pytest.raises(SmkiError) as refused:
        CertificateAuthorities.open(database, other, ENV)
    assert refused.value.code == "ca.key_missing"
    other.close()


def test_issued_certificate_pem_round_trips(cas: CertificateAuthorities) -> None:
    issued = cas.issue(_org(), actor="ra:test")
    assert x509.load_pem_x509_certificate(issued.pem.encode()).serial_number == issued.serial
    assert json.loads(json.dumps({"s": issued.serial_hex}))["s"] == issued.serial_hex


def test_pma_approved_validity_is_issued_and_unapproved_is_refused(
    database: Database, cas: CertificateAuthorities
) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    seventeen_years = start.replace(year=start.year + 17)
    approved = cas.issue(
        _org(not_before=start, not_after=seventeen_years, approval_reference="PMA-2026-017"), actor="ra:test"
    )
    assert approved.not_after == seventeen_years
    history = audit.log.entries_for(database, "certificate", approved.serial_hex)
    assert history[0].details["approval_reference"] == "PMA-2026-017"
    with pytest.raises(SmkiError) as refused:
        cas.issue(_org(not_before=start, not_after=seventeen_years), actor="ra:test")
    assert (refused.value.code, refused.value.clause) == (
        "validity.organisation_duration",
        "Appendix B 6.3.2(A)(i)",
    )
    states = [state for _, state in _intents(database)]
    assert states.count("signed") == 12 and states[-1] == "abandoned"  # 11 from init + the approved one


def test_revoked_issuing_ca_refuses_to_issue_without_reserving_a_serial(
    database: Database, keys: SoftBackend
) -> None:
    from smki.ca import revocation as ca_revocation

    create_hierarchy(database, keys, ENV, actor="test")
    cas = CertificateAuthorities.open(database, keys, ENV)  # opened before the revocation, as `smki serve`
    cas.issue(_org(), actor="ra:test")
    issuing_oca = cas.issuing_ca_certificate(Hierarchy.ORGANISATION)
    ca_revocation.revoke(
        database,
        issuance_module.serial_hex(issuing_oca.serial_number),
        x509.ReasonFlags.ca_compromise,
        actor="op",
    )
    before = _intents(database)
    with database.read_transaction() as s:
        certificates_before = ca_store.count_certificates(s)
    for opened in (cas, CertificateAuthorities.open(database, keys, ENV)):
        with pytest.raises(PolicyRefusal) as refused:
            opened.issue(_org(), actor="ra:test")
        assert refused.value.code == "ca.authority_revoked"
        assert refused.value.message.count(".") == 1 and "revoked" in refused.value.message
        with pytest.raises(PolicyRefusal):
            opened.issue_many(
                [
                    IssueRequest(
                        kind=CertificateKind.DEVICE,
                        public_key=_key(),
                        key_usage=KeyUsage.DIGITAL_SIGNATURE,
                        entity_id=METER,
                    ),
                    _org(),
                ],
                actor="ra:test",
            )
    assert _intents(database) == before  # refused before any serial was reserved
    with database.read_transaction() as s:
        assert ca_store.count_certificates(s) == certificates_before
    # The other hierarchies' Issuing CAs are untouched.
    device = cas.issue(
        IssueRequest(
            kind=CertificateKind.DEVICE,
            public_key=_key(),
            key_usage=KeyUsage.DIGITAL_SIGNATURE,
            entity_id=METER,
        ),
        actor="t",
    )
    assert device.issuer_name == ENV.issuing_dca_name
    assert audit.verify(database).ok
