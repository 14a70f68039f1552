"""Batch issuance (smki.ra.batch) on SQLite and PostgreSQL: real CSRs, real CA keys, worker processes.

A batch of ~200 Device CSRs with bad ones mixed in: the good ones are issued and lint clean, each bad one
fails alone with its code and nothing of it is stored, results stream in input order, counts are exact and
the audit chain verifies. A worker SIGKILLed mid-batch loses nothing and a re-run reuses no serial. The CLI
writes one JSON line per CSR and exits 0, or 1 when some were refused.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from smki import audit
from smki.ca import CertificateAuthorities, create_hierarchy
from smki.ca.crashpoints import ENV_VAR
from smki.keys import SoftBackend
from smki.model import CertificateKind, EntityId, Hierarchy, KeyUsage, RemotePartyRole
from smki.policy import DeviceType, Licence, Party, PartyIdentifier, PartyType, SubscriberEvent, UserRole
from smki.profiles.environment import PkiEnvironment
from smki.profiles.lint import lint
from smki.ra import parties, subscribers
from smki.ra.batch import BatchIssuer
from smki.storage import Database, ca_store
from smki.storage.ca_tables import CertificateRecord, IssuanceIntent
from smki.subscriber_tools import csr_builder

ENV = PkiEnvironment()
PASSPHRASE = "batch-test-passphrase-0123"
SMKI = str(Path(sys.executable).with_name("smki"))
ESME = DeviceType.ELECTRICITY_SMART_METER


def eui(i: int) -> EntityId:
    return EntityId(bytes.fromhex("00DB7E57") + i.to_bytes(4, "big"))


def device_csr(
    i: int, usage: KeyUsage = KeyUsage.DIGITAL_SIGNATURE, key: ec.EllipticCurvePrivateKey | None = None
) -> bytes:
    return csr_builder.csr_pem(csr_builder.device_csr(eui(i), usage, ENV, key=key)[0])


def setup_home(db: Database, home: Path, monkeypatch: pytest.MonkeyPatch) -> CertificateAuthorities:
    monkeypatch.setenv("SMKI_KEY_PASSPHRASE", PASSPHRASE)  # the worker processes open their own backend
    monkeypatch.delenv("SMKI_KEY_PASSPHRASE_FILE", raising=False)
    keys = SoftBackend(home, {"SMKI_KEY_PASSPHRASE": PASSPHRASE})
    create_hierarchy(db, keys, ENV, actor="test")
    supplier = Party(
        "elec",
        "ELEC",
        PartyType.PARTY,
        frozenset({Licence.ELECTRICITY_SUPPLY}),
        (PartyIdentifier(EntityId.parse("90-B3-D5-1F-30-01-00-00"), UserRole.IMPORT_SUPPLIER),),
    )
    parties.register_party(db, supplier, actor="test")
    subscribers.record_entry_tests(db, "elec", Hierarchy.DEVICE, actor="test")
    subscribers.move(db, "elec", Hierarchy.DEVICE, SubscriberEvent.APPLY, actor="elec")
    subscribers.move(db, "elec", Hierarchy.DEVICE, SubscriberEvent.DCC_AUTHORISES, actor="test")
    return CertificateAuthorities.open(db, keys, ENV)


def counts(db: Database) -> tuple[int, int]:
    with db.read_session() as s:
        devices = s.execute(
            sa.select(sa.func.count())
            .select_from(CertificateRecord)
            .where(CertificateRecord.kind == "device")
        ).scalar_one()
        intents = s.execute(
            sa.select(sa.func.count()).select_from(IssuanceIntent).where(IssuanceIntent.kind == "device")
        ).scalar_one()
    return int(devices), int(intents)


def bad_signature(csr_pem: bytes) -> bytes:
    csr = x509.load_pem_x509_csr(csr_pem)
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    der[-3] ^= 0x01  # inside the signature's s
    return bytes(der)


def test_batch_bad_ones_fail_alone_good_ones_issued_in_order(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    cas = setup_home(database, home, monkeypatch)
    # A key already certified (L11.4) before the batch.
    certified_key = ec.generate_private_key(ec.SECP256R1())
    first = BatchIssuer(database, home, ENV, workers=1).run(
        [device_csr(9000, key=certified_key)], party_id="elec", actor="elec", device_type=ESME
    )
    assert next(iter(first)).ok
    devices_before, intents_before = counts(database)

    csrs = [
        device_csr(i, KeyUsage.DIGITAL_SIGNATURE if i % 2 else KeyUsage.KEY_AGREEMENT) for i in range(200)
    ]
    shared = ec.generate_private_key(ec.SECP256R1())
    bad = {
        7: (bad_signature(csrs[7]), "csr.pop_invalid"),
        # an Organisation request for an EUI-64 the party does not hold: not eligible
        40: (
            csr_builder.csr_pem(
                csr_builder.organisation_csr(eui(40), RemotePartyRole.SUPPLIER, KeyUsage.DIGITAL_SIGNATURE)[0]
            ),
            None,
        ),
        90: (device_csr(9001, key=certified_key), "csr.duplicate_public_key"),
        120: (device_csr(120, key=shared), None),  # the first with this key: issued
        190: (device_csr(190, key=shared), "csr.duplicate_public_key"),  # same key, another chunk
        150: (b"not a CSR at all", None),
    }
    for index, (data, _) in bad.items():
        csrs[index] = data
    seen: list[tuple[int, int]] = []
    results = list(
        BatchIssuer(database, home, ENV, workers=2, chunk_size=64).run(
            csrs, party_id="elec", actor="elec", progress=lambda d, t: seen.append((d, t)), device_type=ESME
        )
    )
    assert [r.index for r in results] == list(range(200))  # in input order
    assert seen[-1] == (200, 200)
    failed = {r.index: r.error for r in results if not r.ok}
    assert set(failed) == {7, 40, 90, 150, 190}, failed
    for index, (_, code) in bad.items():
        if code is not None:
            assert failed[index] is not None and failed[index]["code"] == code, (index, failed[index])
    assert (
        failed[40] is not None and failed[40]["code"] is not None
    )  # an Organisation request: not a Device's
    assert failed[150] is not None and failed[150]["code"] == "parse.not_x509"

    ok = [r for r in results if r.ok]
    assert len(ok) == 195 and len({r.serial_hex for r in ok}) == 195
    issuer = cas.issuing_ca_certificate(Hierarchy.DEVICE)
    with database.read_transaction() as s:
        for r in ok:
            assert r.pem is not None and r.serial_hex is not None
            cert = x509.load_pem_x509_certificate(r.pem.encode())
            report = lint(cert, ENV, issuer=issuer)
            assert report.conforms and report.kind is CertificateKind.DEVICE, report
            row = ca_store.certificate_by_serial(s, r.serial_hex)
            assert row is not None and row.der == cert.public_bytes(serialization.Encoding.DER)
        # nothing of a refused request is stored: none of their EUIs has a certificate
        for index in (7, 90, 150, 190):
            e = eui(9001) if index == 90 else eui(index)
            assert ca_store.certificates_by_entity_id(s, e.compact) == [], index
    devices, intents = counts(database)
    assert devices - devices_before == 195
    assert intents - intents_before == 195  # refused requests reserve no serial
    assert audit.verify(database).ok
    # a Gas Proxy Function is not an Import Supplier's to certify (L3.16)
    wrong = list(
        BatchIssuer(database, home, ENV, workers=1).run(
            [device_csr(500)], party_id="elec", actor="elec", device_type=DeviceType.GAS_PROXY_FUNCTION
        )
    )
    assert not wrong[0].ok and wrong[0].error is not None
    assert wrong[0].error["code"] == "eligibility.device.wrong_party"
    assert counts(database)[0] == devices


CHILD = r"""
import json, os, sys
from pathlib import Path
from smki.policy import DeviceType
from smki.profiles.environment import PkiEnvironment
from smki.ra.batch import BatchIssuer
from smki.storage import Database
url, home, csr_dir, released = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
csrs = [p.read_bytes() for p in sorted(Path(csr_dir).iterdir())]
db = Database(url)
with open(released, "a", encoding="ascii") as out:
    for r in BatchIssuer(db, home, PkiEnvironment(), workers=2, chunk_size=20).run(
        csrs, party_id="elec", actor="elec", device_type=DeviceType.ELECTRICITY_SMART_METER
    ):
        if r.ok:
            out.write(r.serial_hex + "\n"); out.flush(); os.fsync(out.fileno())
print("done")
"""


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_sigkill_mid_batch_loses_nothing_and_rerun_reuses_no_serial(
    kind: str,
    tmp_path: Path,
    database_url_for,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    url = database_url_for(kind)
    db = Database(url)
    db.upgrade()
    home = tmp_path / "home"
    setup_home(db, home, monkeypatch)
    csr_dir = tmp_path / "csrs"
    csr_dir.mkdir()
    for i in range(100):
        (csr_dir / f"{i:04d}.pem").write_bytes(device_csr(i))
    released = tmp_path / "released.txt"
    env = {**os.environ, ENV_VAR: "storing:2", "SMKI_DATABASE_URL": url}
    child = subprocess.run(
        [sys.executable, "-c", CHILD, url, str(home), str(csr_dir), str(released)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert child.returncode != 0 and "worker process died" in child.stderr, (
        child.returncode,
        child.stderr[-2000:],
    )
    first = released.read_text().split() if released.exists() else []
    with db.read_transaction() as s:
        for serial in first:  # every released certificate is recorded
            assert ca_store.certificate_by_serial(s, serial) is not None
        left = [i.serial_hex for i in ca_store.intents(s, state="reserved")]
    assert left, "the killed chunk's serials stay reserved"
    assert audit.verify(db).ok

    env.pop(ENV_VAR)
    rerun = subprocess.run(
        [sys.executable, "-c", CHILD, url, str(home), str(csr_dir), str(released)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    serials = released.read_text().split()
    assert len(serials) == len(set(serials)) == 100  # each Device once; the re-run refused the issued ones
    assert not set(serials) & set(left)  # no reserved serial was ever used
    with db.read_transaction() as s:
        for serial in serials:
            assert ca_store.certificate_by_serial(s, serial) is not None
    assert counts(db)[0] == 100
    assert audit.verify(db).ok
    db.dispose()


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_cli_request_batch_on_a_directory(
    kind: str,
    tmp_path: Path,
    database_url_for,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    url = database_url_for(kind)
    db = Database(url)
    db.upgrade()
    home = tmp_path / "home"
    setup_home(db, home, monkeypatch)
    csr_dir = tmp_path / "csrs"
    csr_dir.mkdir()
    for i in range(12):
        (csr_dir / f"{i:03d}.pem").write_bytes(device_csr(i))
    env = {**os.environ, "SMKI_DATABASE_URL": url, "SMKI_KEY_PASSPHRASE": PASSPHRASE}
    out = tmp_path / "results.jsonl"
    args = [
        SMKI,
        "request",
        "batch",
        str(csr_dir),
        "--party",
        "elec",
        "--device-type",
        "ESME",
        "--home",
        str(home),
    ]
    run = subprocess.run(
        [*args, "--workers", "2", "--out", str(out)], env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["file"] for line in lines] == [f"{i:03d}.pem" for i in range(12)]
    assert all(line["ok"] and line["serial"] and "BEGIN CERTIFICATE" in line["pem"] for line in lines)
    (csr_dir / "999.pem").write_bytes(b"garbage")
    again = subprocess.run([*args, "--out", str(out)], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 1, again.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 13 and not any(line["ok"] for line in lines)  # the 12 keys are certified already
    assert {line["error"]["code"] for line in lines[:12]} == {"csr.duplicate_public_key"}
    assert counts(db)[0] == 12
    assert audit.verify(db).ok
    db.dispose()


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 8), st.integers(1, 10_000))
def test_balanced_chunks_respect_the_limit_and_split_evenly_across_workers(
    total: int, workers: int, limit: int
) -> None:
    from smki.ra.batch import _balanced_chunk_size

    size = _balanced_chunk_size(total, workers, limit)
    assert 1 <= size <= limit
    if total == 0:
        assert size == limit
        return
    chunks = -(-total // size)
    full_rounds = -(-total // (workers * limit))
    # never more rounds of chunks than the limit needs, and the chunk count fills those rounds but for
    # at most one chunk per worker lost to rounding
    assert chunks <= full_rounds * workers
    assert chunks > (full_rounds - 1) * workers


def test_what_crosses_to_and_from_the_workers_pickles_to_equal_typed_values() -> None:
    # AcceptedKey and BatchItemResult pickle as their field values (``__reduce__``, for speed): a field
    # added without being pickled would come back different or not at all.
    import pickle

    from smki.ra.batch import AcceptedKey, BatchItemResult, BatchSetup, CheckedChunk

    accepted = AcceptedKey(7, CertificateKind.ORGANISATION, RemotePartyRole.SUPPLIER, "ab" * 32)
    issued = BatchItemResult(index=8, ok=True, serial_hex="7F" * 16, der=b"\x30\x00", error=None)
    refused = BatchItemResult(
        index=9, ok=False, serial_hex=None, der=None, error={"code": "c", "message": "m", "clause": None}
    )
    setup = BatchSetup(
        database_url="sqlite:///x.db",
        connect_args={"timeout": 5},
        home="/tmp/home",
        env=ENV,
        key_backend="soft",
        party_id="p",
        actor="a",
        device_type=ESME,
        smi_status=None,
    )
    for value in (accepted, issued, refused, CheckedChunk((accepted,), (refused,)), setup):
        copy = pickle.loads(pickle.dumps(value))
        assert copy == value and type(copy) is type(value)
