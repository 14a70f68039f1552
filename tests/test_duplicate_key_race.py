"""L11.4 holds under concurrency, on SQLite and PostgreSQL: one public key, one certificate per family.

The RA checks duplicate keys when it reads the repository; the CA stores the certificate later, in another
transaction. Two requests with the same key that both pass the check must not both be issued: the RA's
guard (``smki.ra.key_guard``) checks again inside the storing transaction, under a lock, and refuses there
with the RA's own refusal. A refused store leaves no certificate, an abandoned (audited) intent and a valid
audit chain; the L11.4A/B re-use the SMKI PMA approved is still issued.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from smki import audit
from smki.ca import CertificateAuthorities, IssuedCertificate, create_hierarchy
from smki.keys import SoftBackend
from smki.model import (
    CertificateKind,
    EntityId,
    Hierarchy,
    KeyUsage,
    PolicyRefusal,
    RemotePartyRole,
    SmkiError,
)
from smki.policy import DeviceType, KeyDecision, PartyType
from smki.profiles.environment import PkiEnvironment
from smki.ra import batch, parties
from smki.ra.authority import CertificateRequest, Decision, RegistrationAuthority
from smki.storage import Database, audit_store, ca_store
from smki.subscriber_tools import csr_builder
from test_ra import (
    DCC_ID,
    IDS,
    LIVE,
    PARTIES,
    _system_for,
    approve_key_reuse,
    authorise,
    org_csr,
)

ENV = PkiEnvironment()
PASSPHRASE = "race-test-passphrase-0123"
ESME = DeviceType.ELECTRICITY_SMART_METER
R = RemotePartyRole
KINDS = [
    pytest.param(CertificateKind.DEVICE, "L11.4(a)", id="device"),
    pytest.param(CertificateKind.ORGANISATION, "L11.4(b)", id="organisation"),
    pytest.param(CertificateKind.IKI, "L11.4(c)", id="iki"),
]


@dataclass
class Home:
    db: Database
    path: Path
    cas: CertificateAuthorities
    ra: RegistrationAuthority


@pytest.fixture
def home(database: Database, tmp_path: Path) -> Iterator[Home]:
    path = tmp_path / "home"
    keys = SoftBackend(path, {"SMKI_KEY_PASSPHRASE": PASSPHRASE})
    create_hierarchy(database, keys, ENV, actor="test")
    cas = CertificateAuthorities.open(database, keys, ENV)
    for party in PARTIES:
        if party.party_id in ("dcc", "elec"):
            parties.register_party(database, party, actor="dcc-ra")
            for policy in Hierarchy:
                authorise(database, party.party_id, policy)
    assert {p.party_type for p in PARTIES if p.party_id == "dcc"} == {PartyType.DCC}
    yield Home(database, path, cas, RegistrationAuthority(database, cas, ENV, live_systems=LIVE))
    keys.close()


def device_eui(n: int) -> EntityId:
    return EntityId(bytes.fromhex("00DB7ACE") + n.to_bytes(4, "big"))


def request(kind: CertificateKind, key: ec.EllipticCurvePrivateKey, n: int = 0) -> CertificateRequest:
    """A request by ``elec`` for a certificate of ``kind`` with ``key`` (``n`` varies the rest)."""
    if kind is CertificateKind.DEVICE:
        csr, _ = csr_builder.device_csr(device_eui(n), KeyUsage.DIGITAL_SIGNATURE, ENV, key=key)
        return CertificateRequest(csr=csr_builder.csr_pem(csr), party_id="elec", device_type=ESME)
    if kind is CertificateKind.ORGANISATION:
        usage = KeyUsage.DIGITAL_SIGNATURE if n % 2 == 0 else KeyUsage.KEY_AGREEMENT
        return CertificateRequest(
            csr=org_csr(IDS["elec-import"], R.SUPPLIER, usage, key=key), party_id="elec"
        )
    csr, _ = csr_builder.iki_csr(IDS["elec-import"], key=key)
    return CertificateRequest(csr=csr_builder.csr_pem(csr), party_id="elec", kind=CertificateKind.IKI)


def certificates_with(db: Database, sha: str, hierarchy: Hierarchy) -> list[str]:
    with db.read_transaction() as s:
        return [r.serial_hex for r in ca_store.certificates_with_public_key(s, sha, hierarchy.value)]


@dataclass(frozen=True)
class Intent:
    serial_hex: str
    issuer_name: str
    reason: str | None


def intents(db: Database, state: str) -> list[Intent]:
    with db.read_transaction() as s:
        return [Intent(i.serial_hex, i.issuer_name, i.reason) for i in ca_store.intents(s, state=state)]


def assert_refused_in_store(
    db: Database, info: pytest.ExceptionInfo[PolicyRefusal] | SmkiError, clause: str, abandoned: int
) -> None:
    """The refusal is L11.4's, the refused store's intents are abandoned and audited, the chain holds."""
    exc = info.value if isinstance(info, pytest.ExceptionInfo) else info
    assert isinstance(exc, PolicyRefusal)
    assert (exc.code, exc.clause) == ("csr.duplicate_public_key", clause)
    assert "already contained in another" in exc.message
    assert intents(db, ca_store.RESERVED) == []
    dropped = intents(db, ca_store.ABANDONED)
    assert len(dropped) == abandoned
    with db.read_transaction() as s:
        abandon_entries = [
            json.loads(e.details) for e in audit_store.iter_entries(s) if e.action == "ca.issuance_abandoned"
        ]
        for intent in dropped:
            assert intent.reason is not None and intent.reason.startswith("csr.duplicate_public_key: ")
            assert ca_store.certificate_by_serial(s, intent.serial_hex, intent.issuer_name) is None
            assert any(intent.serial_hex in d["serials"] for d in abandon_entries), "abandon not audited"
    result = audit.verify(db)
    assert result.ok, result.sentence()


# --- (1) deterministic: both checked, then both issued ----------------------------------------------------


@pytest.mark.parametrize(("kind", "clause"), KINDS)
def test_a_key_certified_after_the_check_is_refused_when_stored(
    home: Home, kind: CertificateKind, clause: str
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    first = home.ra.check(request(kind, key, 0))
    second = home.ra.check(request(kind, key, 1))
    # Each check alone finds the key in no certificate: both would be issued without the store-time guard.
    assert first.key_decision is KeyDecision.NEW_KEY and second.key_decision is KeyDecision.NEW_KEY
    (issued,) = home.ra.issue([first], actor="elec")
    with home.db.read_transaction() as s:
        before = ca_store.count_certificates(s)
    with pytest.raises(PolicyRefusal) as info:
        home.ra.issue([second], actor="elec")
    with home.db.read_transaction() as s:
        assert ca_store.count_certificates(s) == before
    assert certificates_with(home.db, issued.public_key_sha256, kind.hierarchy) == [issued.serial_hex]
    assert_refused_in_store(home.db, info, clause, abandoned=1)
    # checked again from the start, the request is refused by the RA itself, as before this change
    with pytest.raises(PolicyRefusal) as again:
        home.ra.check(request(kind, key, 1))
    assert (again.value.code, again.value.clause) == ("csr.duplicate_public_key", clause)


def test_a_batch_with_one_key_certified_meanwhile_is_refused_whole(home: Home) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    fresh = ec.generate_private_key(ec.SECP256R1())
    decisions = home.ra.check_many(
        [request(CertificateKind.DEVICE, fresh, 10), request(CertificateKind.DEVICE, key, 11)]
    )
    assert all(isinstance(d, Decision) for d in decisions)
    home.ra.submit_many([request(CertificateKind.DEVICE, key, 12)], actor="elec")  # another request wins
    with pytest.raises(PolicyRefusal) as info:
        home.ra.issue([d for d in decisions if isinstance(d, Decision)], actor="elec")
    assert info.value.message.startswith("Request 2 of 2: ")
    # all or nothing: the fresh key's certificate was not stored either
    assert certificates_with(home.db, _sha(fresh), Hierarchy.DEVICE) == []
    assert len(certificates_with(home.db, _sha(key), Hierarchy.DEVICE)) == 1
    assert_refused_in_store(home.db, info, "L11.4(a)", abandoned=2)


def test_batch_workers_refuse_a_key_another_chunk_certified_and_issue_the_rest(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch path (``ra.batch``): two chunks with one key, both checked before either is issued."""
    monkeypatch.setenv("SMKI_KEY_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("SMKI_KEY_PASSPHRASE_FILE", raising=False)
    setup = batch.BatchSetup(
        database_url=home.db.url,
        connect_args=home.db.connect_args,
        home=str(home.path),
        env=ENV,
        key_backend="soft",
        party_id="elec",
        actor="elec",
        device_type=ESME,
        smi_status=None,
    )
    batch._init_worker(setup)
    try:
        key = ec.generate_private_key(ec.SECP256R1())
        fresh = ec.generate_private_key(ec.SECP256R1())
        csrs = [
            request(CertificateKind.DEVICE, key, 20).csr,
            request(CertificateKind.DEVICE, key, 21).csr,
            request(CertificateKind.DEVICE, fresh, 22).csr,
        ]
        chunk_a = batch._check_chunk(0, csrs[:1])
        chunk_b = batch._check_chunk(1, csrs[1:])
        assert chunk_a.refused == chunk_b.refused == () and len(chunk_a.accepted) + len(chunk_b.accepted) == 3
        [result_a] = batch._issue_chunk(0, [a.index for a in chunk_a.accepted])
        index_a, ok_a, serial_a = result_a.index, result_a.ok, result_a.serial_hex
        outcomes = {
            r.index: (r.ok, r.error) for r in batch._issue_chunk(1, [a.index for a in chunk_b.accepted])
        }
    finally:
        worker = batch._current_worker()
        assert worker.ra.cas is not None
        worker.ra.cas.keys.close()
        worker.ra.db.dispose()
        batch._worker = None
    assert index_a == 0 and ok_a and serial_a is not None
    ok_dup, error = outcomes[1]
    assert not ok_dup and error is not None
    assert (error["code"], error["clause"]) == ("csr.duplicate_public_key", "L11.4(a)")
    assert outcomes[2] == (True, None)  # re-issued alone: only the duplicate failed
    assert certificates_with(home.db, _sha(key), Hierarchy.DEVICE) == [serial_a]
    assert len(certificates_with(home.db, _sha(fresh), Hierarchy.DEVICE)) == 1
    # the chunk's first attempt (2 intents) and the duplicate's own attempt are abandoned
    assert_refused_in_store(home.db, _refusal(error), "L11.4(a)", abandoned=3)


# --- (2) real concurrency: two RAs, two connections, one moment -------------------------------------------


@pytest.mark.parametrize(
    "kind", [CertificateKind.ORGANISATION, CertificateKind.DEVICE], ids=["organisation", "device"]
)
def test_two_concurrent_submissions_of_one_key_issue_exactly_one(home: Home, kind: CertificateKind) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    wanted = request(kind, key, 30)
    barrier = threading.Barrier(2, timeout=60)

    def submit(slot: int) -> IssuedCertificate | SmkiError:
        # Each submitter is its own RA + CA with its own Database (own connections) and key backend, like
        # two API workers. Both pass the RA's check before either stores (the barrier), which is the race.
        db = Database(home.db.url, connect_args=home.db.connect_args)
        keys = SoftBackend(home.path, {"SMKI_KEY_PASSPHRASE": PASSPHRASE})
        try:
            ra = RegistrationAuthority(db, CertificateAuthorities.open(db, keys, ENV), ENV, live_systems=LIVE)
            check_many = ra.check_many

            def check_then_meet(requests: Sequence[CertificateRequest]) -> list[Decision | SmkiError]:
                out = check_many(requests)
                barrier.wait()
                return out

            ra.check_many = check_then_meet  # type: ignore[method-assign]
            return ra.submit(
                wanted.csr, party_id="elec", actor=f"elec-{slot}", device_type=wanted.device_type
            )
        except SmkiError as exc:
            return exc
        finally:
            keys.close()
            db.dispose()

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(submit, [1, 2]))
    issued = [r for r in results if isinstance(r, IssuedCertificate)]
    refusals = [r for r in results if isinstance(r, SmkiError)]
    assert len(issued) == 1 and len(refusals) == 1, results
    clause = "L11.4(a)" if kind is CertificateKind.DEVICE else "L11.4(b)"
    assert certificates_with(home.db, _sha(key), kind.hierarchy) == [issued[0].serial_hex]
    assert_refused_in_store(home.db, refusals[0], clause, abandoned=1)


# --- (3) the re-use L11.4A/B allows is still issued -------------------------------------------------------


def test_dcc_key_reuse_with_pma_approval_is_still_issued(home: Home) -> None:
    db, role = home.db, R.RECOVERY
    system = _system_for(role)
    key = ec.generate_private_key(ec.SECP256R1())
    original = home.ra.submit(
        org_csr(DCC_ID, role, key=key), party_id="dcc", actor="dcc", dcc_live_system=system
    )
    reference = approve_key_reuse(db, role, original.public_key_sha256)
    reuse = CertificateRequest(
        csr=org_csr(DCC_ID, role, key=key),
        party_id="dcc",
        dcc_live_system=system,
        approval_reference=reference,
    )
    # Two approved re-uses checked before either is stored: the key is in the family when each is stored,
    # and both are issued (the guard re-checks only keys decided as new).
    first, second = home.ra.check(reuse), home.ra.check(reuse)
    assert first.key_decision is second.key_decision is KeyDecision.REUSE_NEEDS_PMA_APPROVAL
    renewed = home.ra.issue([first], actor="dcc") + home.ra.issue([second], actor="dcc")
    # and a batch of two approved re-uses of the same key
    renewed += home.ra.submit_many([reuse, reuse], actor="dcc")
    assert {c.public_key_sha256 for c in renewed} == {original.public_key_sha256}
    assert len(certificates_with(db, original.public_key_sha256, Hierarchy.ORGANISATION)) == 5
    assert intents(db, ca_store.ABANDONED) == []
    assert audit.verify(db).ok


def _sha(key: ec.EllipticCurvePrivateKey) -> str:
    from smki.ca import spki_sha256

    return spki_sha256(key.public_key())


def _refusal(error: dict[str, str | None]) -> PolicyRefusal:
    assert error["code"] is not None and error["message"] is not None
    return PolicyRefusal(error["code"], error["message"], error["clause"])
