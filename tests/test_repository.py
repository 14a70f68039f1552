"""The SMKI Repository on SQLite and PostgreSQL: lookups, searches by EUI-64 / usage / role / status /
issuer, derived statuses, keyset pagination, and full and incremental extracts streamed in chunks."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from smki import repository
from smki.ca import CertificateAuthorities, IssuedCertificate, IssueRequest, create_hierarchy
from smki.ca import revocation as ca_revocation
from smki.keys import SoftBackend
from smki.model import (
    CertificateKind,
    CertificateStatus,
    EntityId,
    InvalidInput,
    KeyUsage,
    RemotePartyRole,
    SmkiError,
)
from smki.profiles.environment import PkiEnvironment
from smki.storage import Database

ENV = PkiEnvironment()
SUPPLIER = EntityId.parse("90-B3-D5-1F-30-01-00-00")
NETWORK = EntityId.parse("90-B3-D5-1F-30-02-00-00")
METER = EntityId.parse("00-DB-12-34-56-78-90-01")
DS, KA = KeyUsage.DIGITAL_SIGNATURE, KeyUsage.KEY_AGREEMENT


@pytest.fixture
def cas(database: Database, tmp_path: Path) -> Iterator[CertificateAuthorities]:
    keys = SoftBackend(tmp_path / "home", {"SMKI_KEY_PASSPHRASE": "repository-test-passphrase"})
    create_hierarchy(database, keys, ENV, actor="test")
    yield CertificateAuthorities.open(database, keys, ENV)
    keys.close()


def _key() -> ec.EllipticCurvePublicKey:
    return ec.generate_private_key(ec.SECP256R1()).public_key()


def org(eui: EntityId, role: RemotePartyRole, usage: KeyUsage = DS, **kw: object) -> IssueRequest:
    return IssueRequest(  # type: ignore[arg-type]
        kind=CertificateKind.ORGANISATION, public_key=_key(), key_usage=usage, entity_id=eui, role=role, **kw
    )


def device(eui: EntityId, usage: KeyUsage = DS) -> IssueRequest:
    return IssueRequest(kind=CertificateKind.DEVICE, public_key=_key(), key_usage=usage, entity_id=eui)


def everything(db: Database) -> list[repository.CertificateView]:
    found: list[repository.CertificateView] = []
    after = None
    while True:
        page = repository.search(db, limit=1000, after=after)
        found += page.items
        if page.next_after is None:
            return found
        after = page.next_after


def test_get_certificate_by_serial_in_any_spelling_and_its_json(
    database: Database, cas: CertificateAuthorities
) -> None:
    issued = cas.issue(org(SUPPLIER, RemotePartyRole.SUPPLIER, subscriber="acme"), actor="ra:test")
    for spelling in (issued.serial_hex, issued.serial_hex.lower(), "0x" + issued.serial_hex):
        view = repository.get_certificate(database, spelling)
        assert view.der == issued.der and view.serial_hex == issued.serial_hex
    view = repository.get_certificate(database, issued.serial_hex, issuer_name="Z1")
    assert view.status is CertificateStatus.IN_USE and view.subscriber == "acme"
    assert x509.load_pem_x509_certificate(view.pem.encode()).serial_number == issued.serial
    data = json.loads(json.dumps(view.as_dict()))
    assert data["entity_id"] == "90-B3-D5-1F-30-01-00-00"
    assert data["role"] == {"code": 2, "name": "supplier"}
    assert data["key_usage"] == "DS" and data["status"] == {"code": "I", "name": "In use"}
    assert data["not_after"] == issued.not_after.isoformat() and data["pem"] == view.pem
    assert isinstance(data["change_seq"], int)

    with pytest.raises(SmkiError) as info:
        repository.get_certificate(database, issued.serial_hex, issuer_name="I1")
    assert info.value.code == "repository.not_found" and info.value.message.count(".") == 1
    with pytest.raises(SmkiError) as info:
        repository.get_certificate(database, "7F" * 16)
    assert info.value.code == "repository.not_found"
    for bad in ("", "xyz", "00", "AB" * 25):
        with pytest.raises(InvalidInput) as bad_info:
            repository.get_certificate(database, bad)
        assert bad_info.value.code == "serial.syntax"


def test_search_by_eui64_covers_organisation_subjects_and_device_serials_with_usage_and_role(
    database: Database, cas: CertificateAuthorities
) -> None:
    sup_ds = cas.issue(org(SUPPLIER, RemotePartyRole.SUPPLIER, DS), actor="t")
    sup_ka = cas.issue(org(SUPPLIER, RemotePartyRole.SUPPLIER, KA), actor="t")
    net_ds = cas.issue(org(SUPPLIER, RemotePartyRole.NETWORK_OPERATOR, DS), actor="t")
    other = cas.issue(org(NETWORK, RemotePartyRole.NETWORK_OPERATOR, DS), actor="t")
    dev_ds = cas.issue(device(METER, DS), actor="t")
    dev_ka = cas.issue(device(METER, KA), actor="t")

    def serials(**filters: object) -> set[str]:
        return {v.serial_hex for v in repository.search(database, **filters).items}  # type: ignore[arg-type]

    assert serials(entity_id=SUPPLIER) == {sup_ds.serial_hex, sup_ka.serial_hex, net_ds.serial_hex}
    assert serials(entity_id=SUPPLIER, key_usage=KA) == {sup_ka.serial_hex}
    assert serials(entity_id=SUPPLIER, key_usage=DS, role=RemotePartyRole.SUPPLIER) == {sup_ds.serial_hex}
    assert serials(role=RemotePartyRole.NETWORK_OPERATOR) == {net_ds.serial_hex, other.serial_hex}
    assert serials(entity_id=METER) == {dev_ds.serial_hex, dev_ka.serial_hex}
    assert serials(entity_id=METER, key_usage=KA) == {dev_ka.serial_hex}
    assert serials(entity_id=METER, kind=CertificateKind.ORGANISATION) == set()
    device_view = repository.search(database, entity_id=METER, key_usage=DS).items[0]
    assert device_view.kind is CertificateKind.DEVICE and device_view.role is None
    assert device_view.as_dict()["entity_id"] == "00-DB-12-34-56-78-90-01"
    assert serials(entity_id=EntityId.parse("00-00-00-00-00-00-00-09")) == set()


def test_search_by_issuer_and_kind(database: Database, cas: CertificateAuthorities) -> None:
    o = cas.issue(org(SUPPLIER, RemotePartyRole.SUPPLIER), actor="t")
    d = cas.issue(device(METER), actor="t")
    i = cas.issue(
        IssueRequest(kind=CertificateKind.IKI, public_key=_key(), key_usage=DS, entity_id=SUPPLIER), actor="t"
    )
    by_issuer = {
        name: {v.serial_hex for v in repository.search(database, issuer_name=name).items}
        for name in ("Z1", "E357", "I1", "ZA")
    }
    assert o.serial_hex in by_issuer["Z1"] and d.serial_hex in by_issuer["E357"]
    assert by_issuer["I1"] == {i.serial_hex}
    assert {v.kind for v in repository.search(database, issuer_name="ZA").items} == {
        CertificateKind.ROOT_OCA,
        CertificateKind.ISSUING_OCA,
    }
    issuing = repository.search(database, kind=CertificateKind.ISSUING_OCA).items
    assert [v.issuer_name for v in issuing] == ["ZA"] and issuing[0].key_usage is KeyUsage.CERT_SIGN
    assert repository.search(database, issuer_name="nobody").items == []


def test_statuses_are_derived_from_stored_status_and_dates(
    database: Database, cas: CertificateAuthorities
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    in_use = cas.issue(org(SUPPLIER, RemotePartyRole.SUPPLIER), actor="t")
    pending = cas.issue(
        org(SUPPLIER, RemotePartyRole.SUPPLIER, not_before=now + timedelta(days=2)), actor="t"
    )
    revoked = cas.issue(org(SUPPLIER, RemotePartyRole.SUPPLIER, KA), actor="t")
    ca_revocation.revoke(database, revoked.serial_hex, x509.ReasonFlags.superseded, actor="t")

    def statuses(at: datetime | None = None) -> dict[str, CertificateStatus]:
        page = repository.search(database, entity_id=SUPPLIER, now=at)
        return {v.serial_hex: v.status for v in page.items}

    def having(status: CertificateStatus, at: datetime | None = None) -> set[str]:
        page = repository.search(database, entity_id=SUPPLIER, status=status, now=at)
        return {v.serial_hex for v in page.items}

    assert statuses() == {
        in_use.serial_hex: CertificateStatus.IN_USE,
        pending.serial_hex: CertificateStatus.PENDING,
        revoked.serial_hex: CertificateStatus.REVOKED,
    }
    assert having(CertificateStatus.IN_USE) == {in_use.serial_hex}
    assert having(CertificateStatus.PENDING) == {pending.serial_hex}
    assert having(CertificateStatus.REVOKED) == {revoked.serial_hex}
    assert having(CertificateStatus.EXPIRED) == set() and having(CertificateStatus.NOT_IN_USE) == set()
    # by the clock alone: after notAfter both unrevoked certificates are Expired; revoked stays Revoked
    later = in_use.not_after + timedelta(days=3)
    assert having(CertificateStatus.EXPIRED, later) == {in_use.serial_hex, pending.serial_hex}
    assert having(CertificateStatus.IN_USE, later) == set()
    assert statuses(later)[revoked.serial_hex] is CertificateStatus.REVOKED
    # two days on, the pending certificate is in use
    assert having(CertificateStatus.IN_USE, now + timedelta(days=3)) == {
        in_use.serial_hex,
        pending.serial_hex,
    }
    view = repository.get_certificate(database, revoked.serial_hex)
    assert view.revocation_reason == "superseded" and view.revoked_at is not None


def test_pagination_never_repeats_or_skips_even_while_certificates_are_issued(
    database: Database, cas: CertificateAuthorities
) -> None:
    first = cas.issue_many([device(METER) for _ in range(23)], actor="t")
    seen: list[str] = []
    page = repository.search(database, entity_id=METER, limit=5)
    later: list[IssuedCertificate] = []
    while True:
        seen += [v.serial_hex for v in page.items]
        assert len(page.items) <= 5
        if len(later) < 2:  # issue between pages: they come at the end, nothing shifts
            later.append(cas.issue(device(METER), actor="t"))
        if page.next_after is None:
            break
        page = repository.search(database, entity_id=METER, limit=5, after=page.next_after)
    assert len(seen) == len(set(seen)) == 25
    assert set(seen) == {c.serial_hex for c in first + later}
    exact = repository.search(database, entity_id=METER, limit=25)
    assert exact.next_after is None and len(exact.items) == 25
    for bad in ("x", "-1", "1" * 30):
        with pytest.raises(InvalidInput) as info:
            repository.search(database, after=bad)
        assert info.value.code == "repository.bad_cursor"
    with pytest.raises(InvalidInput):
        repository.search(database, limit=0)
    with pytest.raises(InvalidInput):
        repository.search(database, limit=repository.MAX_PAGE + 1)


def _lines(chunks: list[bytes]) -> list[dict[str, object]]:
    return [json.loads(line) for line in b"".join(chunks).splitlines()]


def test_full_extract_streams_in_many_chunks_and_reassembles_to_every_certificate(
    database: Database, cas: CertificateAuthorities
) -> None:
    cas.issue_many([device(METER) for _ in range(30)], actor="t")
    cas.issue(org(SUPPLIER, RemotePartyRole.SUPPLIER), actor="t")
    all_serials = {v.serial_hex for v in everything(database)}
    progress: list[int] = []
    stream = repository.full_extract(database, batch_size=7, progress=progress.append)
    assert isinstance(stream, Iterator)
    chunks = list(stream)
    assert len(chunks) >= len(all_serials) // 7 + 2  # header, batches, trailer
    lines = _lines(chunks)
    header, body, trailer = lines[0], lines[1:-1], lines[-1]
    assert header["extract"] == "full" and isinstance(header["as_of_change_seq"], int)
    assert trailer == {"end": True, "certificates": len(all_serials)}
    assert {str(b["serial"]) for b in body} == all_serials and len(body) == len(all_serials)
    assert progress[-1] == len(all_serials) and progress == sorted(progress)

    pem = b"".join(repository.full_extract(database, fmt="pem", batch_size=11))
    certs = x509.load_pem_x509_certificates(pem)
    assert {f"{c.serial_number:X}".zfill(32) for c in certs} == all_serials
    with pytest.raises(InvalidInput):
        list(repository.full_extract(database, fmt="xml"))


def test_incremental_extract_returns_exactly_the_changes_since_a_sequence_or_a_time(
    database: Database, cas: CertificateAuthorities
) -> None:
    old = cas.issue_many([org(SUPPLIER, RemotePartyRole.SUPPLIER) for _ in range(4)], actor="t")
    header = _lines(list(repository.full_extract(database)))[0]
    mark = int(str(header["as_of_change_seq"]))
    time.sleep(1.1)  # changes are timed to the second: the next ones are strictly later than `since`
    since = datetime.now(UTC).replace(microsecond=0)
    new = cas.issue_many([device(METER) for _ in range(3)], actor="t")
    revoked = ca_revocation.revoke(database, old[1].serial_hex, x509.ReasonFlags.key_compromise, actor="t")
    expected = {c.serial_hex for c in new} | {old[1].serial_hex}

    for chunks in (
        list(repository.incremental_extract(database, since_sequence=mark, batch_size=2)),
        list(repository.incremental_extract(database, since_time=since, batch_size=2)),
    ):
        lines = _lines(chunks)
        body = lines[1:-1]
        assert {str(b["serial"]) for b in body} == expected and len(body) == len(expected)
        by_serial = {b["serial"]: b for b in body}
        assert by_serial[old[1].serial_hex]["status"] == {"code": "R", "name": "Revoked"}
        assert by_serial[old[1].serial_hex]["revocation_reason"] == "keyCompromise"
        seqs = [int(str(b["change_seq"])) for b in body]
        assert seqs == sorted(seqs) and seqs[-1] == revoked.change_seq
        assert lines[-1] == {
            "end": True,
            "certificates": len(expected),
            "last_change_seq": revoked.change_seq,
        }
    # continuing from the trailer's sequence: nothing new; then exactly the next change
    assert (
        _lines(list(repository.incremental_extract(database, since_sequence=revoked.change_seq)))[1:-1] == []
    )
    later = cas.issue(org(NETWORK, RemotePartyRole.NETWORK_OPERATOR), actor="t")
    body = _lines(list(repository.incremental_extract(database, since_sequence=revoked.change_seq)))[1:-1]
    assert [b["serial"] for b in body] == [later.serial_hex]
    future = datetime.now(UTC) + timedelta(days=1)
    assert _lines(list(repository.incremental_extract(database, since_time=future)))[1:-1] == []
    with pytest.raises(InvalidInput):
        list(repository.incremental_extract(database, since_sequence=-1))
    with pytest.raises(InvalidInput):
        list(repository.incremental_extract(database, since_time=datetime(2026, 1, 1)))


def test_change_sequence_of_a_batch_is_increasing_and_matches_the_audit_log(
    database: Database, cas: CertificateAuthorities
) -> None:
    from smki import audit

    batch = cas.issue_many([device(METER) for _ in range(5)], actor="t")
    views = [repository.get_certificate(database, c.serial_hex) for c in batch]
    seqs = [v.change_seq for v in views]
    assert all(isinstance(s, int) for s in seqs) and seqs == sorted(seqs) and len(set(seqs)) == 5
    for v in views:
        entry = audit.log.entries_for(database, "certificate", v.serial_hex)[-1]
        assert entry.seq == v.change_seq and entry.action == "ca.certificate_issued"


def _fill_for_plans(db: Database, rows: int, now: datetime) -> tuple[set[str], set[str]]:
    """Bulk rows valid now, with every 500th expired and every 700th not yet valid; ANALYZE after."""
    import sqlalchemy as sa

    from smki.storage.ca_tables import CertificateRecord

    expired: set[str] = set()
    pending: set[str] = set()
    values = []
    for i in range(rows):
        serial = f"{(1 << 120) + i:032X}"
        not_before, not_after = now - timedelta(days=1), now + timedelta(days=3650)
        if i % 500 == 0:
            not_before, not_after = now - timedelta(days=3660), now - timedelta(days=10)
            expired.add(serial)
        elif i % 700 == 0:
            not_before = now + timedelta(days=5)
            pending.add(serial)
        values.append(
            {
                "serial_hex": serial,
                "issuer_name": "E357",
                "kind": "device",
                "hierarchy": "device",
                "entity_id": f"{0x00DB000000000000 + i:016X}",
                "key_usage": "digitalSignature",
                "subject_der": b"\x30\x00",
                "not_before": not_before,
                "not_after": not_after,
                "status": "I",
                "public_key_sha256": f"{i:064x}",
                "der": b"\x30\x00",
                "issued_at": now,
            }
        )
    with db.engine.begin() as conn:
        conn.execute(sa.insert(CertificateRecord), values)
        conn.exec_driver_sql("ANALYZE")
    return expired, pending


@pytest.mark.parametrize(
    ("status", "index"),
    [
        (CertificateStatus.EXPIRED, "ix_certificates_not_after"),
        (CertificateStatus.PENDING, "ix_certificates_not_before"),
    ],
)
def test_sqlite_search_by_status_e_or_p_uses_the_date_index_not_a_table_scan(
    tmp_path: Path, status: CertificateStatus, index: str
) -> None:
    import sqlalchemy as sa

    db = Database(f"sqlite:///{tmp_path / 'plans.db'}")
    db.upgrade()
    now = datetime.now(UTC).replace(microsecond=0)
    expired, pending = _fill_for_plans(db, 20_000, now)
    statements: list[tuple[str, object]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        if "FROM certificates" in statement and not statement.startswith("EXPLAIN"):
            statements.append((statement, parameters))

    sa.event.listen(db.read_engine, "before_cursor_execute", capture)
    try:
        first = repository.search(db, status=status, now=now, limit=10)
        rest = repository.search(db, status=status, now=now, limit=100, after=first.next_after)
    finally:
        sa.event.remove(db.read_engine, "before_cursor_execute", capture)
    wanted = expired if status is CertificateStatus.EXPIRED else pending
    found = [v.serial_hex for v in (*first.items, *rest.items)]
    assert found == sorted(wanted) and rest.next_after is None  # every one, in id order, no repeats

    assert len(statements) == 2
    with db.engine.connect() as conn:
        for statement, parameters in statements:
            plan = [
                str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            ]
            assert any(index in step for step in plan), plan
            assert not any(step.startswith("SCAN certificates") for step in plan), plan
    db.dispose()
