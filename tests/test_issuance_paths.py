"""The fast issuance path and the simple one (``SMKI_SIMPLE_PATH=1``) make the same certificates, and the
switch really changes the path.

The fast path signs Device Certificates straight from a linted TBS template and, in batch runs, verifies
the first signature of each CA key; the simple path builds every certificate with ``profiles.builders``,
lints it in full and verifies every signature (smki.ca.issuance). For the same requests, the same clock
and the same CA keys, the two must give the same TBSCertificate but for the serial, so the simple path is
a reference the fast one is held to. (`make unit` also runs the crash, race and RA tests again with the
switch set.)
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from smki import audit
from smki.ca import CertificateAuthorities, IssuedCertificate, IssueRequest, create_hierarchy, issuance
from smki.ca.issuance import IssuancePath, SignatureCheck
from smki.ca.tbs_lint import TemplateCache
from smki.keys import SoftBackend
from smki.model import CertificateKind, EntityId, KeyUsage, RemotePartyRole
from smki.profiles.environment import PkiEnvironment
from smki.profiles.lint import lint
from smki.storage import Database

ENV = PkiEnvironment()
PASSPHRASE = "issuance-paths-test-passphrase"


@pytest.fixture
def keys(database: Database, tmp_path: Path) -> Iterator[SoftBackend]:
    backend = SoftBackend(tmp_path / "home", {"SMKI_KEY_PASSPHRASE": PASSPHRASE})
    create_hierarchy(database, backend, ENV, actor="test")
    yield backend
    backend.close()


def _requests() -> list[IssueRequest]:
    """Device requests of both usages (two template shapes, three of each), with the SubjectPublicKeyInfo
    as the RA passes it, and one Organisation and one IKI request (never templated)."""
    out: list[IssueRequest] = []
    for i in range(6):
        public_key = ec.generate_private_key(ec.SECP256R1()).public_key()
        out.append(
            IssueRequest(
                kind=CertificateKind.DEVICE,
                public_key=public_key,
                key_usage=KeyUsage.DIGITAL_SIGNATURE if i % 2 else KeyUsage.KEY_AGREEMENT,
                entity_id=EntityId(bytes.fromhex("00DB9A7F") + i.to_bytes(4, "big")),
                subscriber="paths-test",
                public_key_der=public_key.public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                ),
            )
        )
    out.append(
        IssueRequest(
            kind=CertificateKind.ORGANISATION,
            public_key=ec.generate_private_key(ec.SECP256R1()).public_key(),
            key_usage=KeyUsage.DIGITAL_SIGNATURE,
            entity_id=EntityId.parse("90-B3-D5-1F-30-01-00-00"),
            role=RemotePartyRole.SUPPLIER,
            subscriber="paths-test",
        )
    )
    out.append(
        IssueRequest(
            kind=CertificateKind.IKI,
            public_key=ec.generate_private_key(ec.SECP256R1()).public_key(),
            key_usage=KeyUsage.DIGITAL_SIGNATURE,
            entity_id=EntityId.parse("90-B3-D5-1F-30-01-00-00"),
            subscriber="paths-test",
        )
    )
    return out


def _issue(
    database: Database, keys: SoftBackend, requests: list[IssueRequest], at: datetime, *, batch: bool
) -> list[IssuedCertificate]:
    """Issue ``requests`` in one run with the clock stopped at ``at``: the Device and IKI requests in one
    batch (as batch workers ask, first signature per key verified) and the Organisation one alone."""
    cas = CertificateAuthorities.open(database, keys, ENV, clock=lambda: at)
    signatures = SignatureCheck.FIRST_PER_KEY if batch else SignatureCheck.EVERY
    by_kind = [r for r in requests if r.kind is not CertificateKind.ORGANISATION]
    issued = cas.issue_many(by_kind, actor="test", signatures=signatures)
    issued += [cas.issue(r, actor="test") for r in requests if r.kind is CertificateKind.ORGANISATION]
    return issued


def _serial_octets(serial: int) -> bytes:
    return serial.to_bytes(16, "big")


@pytest.mark.parametrize("batch", [True, False], ids=["first-per-key", "every-signature"])
def test_fast_and_simple_paths_give_the_same_certificates_but_for_the_serial(
    database: Database, keys: SoftBackend, monkeypatch: pytest.MonkeyPatch, batch: bool
) -> None:
    requests = _requests()
    at = issuance.utc_now()
    monkeypatch.delenv(issuance.SIMPLE_PATH_ENV, raising=False)
    fast = _issue(database, keys, requests, at, batch=batch)
    monkeypatch.setenv(issuance.SIMPLE_PATH_ENV, "1")
    simple = _issue(database, keys, requests, at, batch=batch)

    assert len(fast) == len(simple) == len(requests)
    for one, other in zip(fast, simple, strict=True):
        assert one.serial != other.serial
        a, b = x509.load_der_x509_certificate(one.der), x509.load_der_x509_certificate(other.der)
        # The serial is the one difference: put the other run's serial in and the TBS bytes are equal.
        tbs = a.tbs_certificate_bytes
        assert tbs.count(_serial_octets(one.serial)) == 1
        assert (
            tbs.replace(_serial_octets(one.serial), _serial_octets(other.serial)) == b.tbs_certificate_bytes
        )
        assert (one.kind, one.issuer_name, one.key_usage, one.entity_id) == (
            other.kind,
            other.issuer_name,
            other.key_usage,
            other.entity_id,
        )
        assert (one.not_before, one.not_after, one.public_key_sha256) == (
            other.not_before,
            other.not_after,
            other.public_key_sha256,
        )
        for item in (one, other):
            cert = x509.load_der_x509_certificate(item.der)
            issuer = _issuer_certificate(database, keys, item)
            cert.verify_directly_issued_by(issuer)
            assert lint(item.der, ENV, issuer=issuer).conforms
    assert audit.verify(database).ok


def _issuer_certificate(database: Database, keys: SoftBackend, item: IssuedCertificate) -> x509.Certificate:
    return CertificateAuthorities.open(database, keys, ENV).issuing_ca_certificate(item.kind.hierarchy)


def test_the_switch_really_changes_the_path(
    database: Database, keys: SoftBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[issuance._Run] = []
    built: list[CertificateKind] = []
    filled: list[int] = []
    real_init, real_build, real_fill = (
        issuance._Run.__init__,
        issuance._Run._build_and_sign,
        TemplateCache.fill,
    )

    def recording_init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        real_init(self, *args, **kwargs)
        runs.append(self)

    def counting_build(self, job, *args, **kwargs):  # type: ignore[no-untyped-def]
        built.append(job.kind)
        return real_build(self, job, *args, **kwargs)

    def counting_fill(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        filled.append(1)
        return real_fill(self, *args, **kwargs)

    monkeypatch.setattr(issuance._Run, "__init__", recording_init)
    monkeypatch.setattr(issuance._Run, "_build_and_sign", counting_build)
    monkeypatch.setattr(TemplateCache, "fill", counting_fill)
    requests = [r for r in _requests() if r.kind is CertificateKind.DEVICE]  # 2 shapes, 3 of each

    # Fast: the first Device Certificate of each shape is built; the other four come from its template.
    monkeypatch.delenv(issuance.SIMPLE_PATH_ENV, raising=False)
    cas = CertificateAuthorities.open(database, keys, ENV)
    cas.issue_many(requests, actor="test", signatures=SignatureCheck.FIRST_PER_KEY)
    assert len(built) == 2 and len(filled) == 4
    assert runs[-1].fast and not runs[-1].verify_every

    # Simple: every certificate is built, no template is filled (or learned), every signature verified.
    built.clear()
    filled.clear()
    monkeypatch.setenv(issuance.SIMPLE_PATH_ENV, "1")

    def no_template(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("the simple path must not use a TBS template")

    monkeypatch.setattr(TemplateCache, "learn", no_template)
    monkeypatch.setattr(TemplateCache, "matches", no_template)
    cas.issue_many(requests, actor="test", signatures=SignatureCheck.FIRST_PER_KEY)
    assert len(built) == len(requests) and filled == []
    assert not runs[-1].fast and runs[-1].verify_every
    assert audit.verify(database).ok


@pytest.mark.parametrize(
    ("value", "path"),
    [
        (None, IssuancePath.FAST),
        ("", IssuancePath.FAST),
        ("0", IssuancePath.FAST),
        ("1", IssuancePath.SIMPLE),
    ],
)
def test_the_switch_is_read_from_the_environment(
    value: str | None, path: IssuancePath, monkeypatch: pytest.MonkeyPatch
) -> None:
    if value is None:
        monkeypatch.delenv(issuance.SIMPLE_PATH_ENV, raising=False)
    else:
        monkeypatch.setenv(issuance.SIMPLE_PATH_ENV, value)
    assert IssuancePath.from_environment() is path
