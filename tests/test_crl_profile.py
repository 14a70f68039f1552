"""CRL and ARL profiles: signed with real keys, checked by OpenSSL and by cryptography."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import CRLEntryExtensionOID, ExtensionOID, NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smki.model.errors import InvalidInput
from smki.profiles.builders import IssuerInfo, key_identifier
from smki.profiles.crl import (
    RevokedEntry,
    build_arl,
    build_crl,
    check_crl,
    check_signed_crl,
    check_tbs_certlist,
    sign_arl,
    sign_crl,
)
from smki.profiles.der import tlv

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl command is not installed")

NOW = datetime.now(UTC).replace(microsecond=0)
SHA256 = hashes.SHA256()


def _name(ou: str | None, cn: str, string_type: _ASN1Type = _ASN1Type.PrintableString) -> x509.Name:
    attributes = [] if ou is None else [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou, string_type)]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, cn, string_type))
    return x509.Name(attributes)


class Ca:
    """A small CA made with cryptography: key, certificate and the IssuerInfo a CRL needs."""

    def __init__(
        self,
        subject: x509.Name,
        parent: Ca | None = None,
        *,
        crl_sign: bool = True,
        is_ca: bool = True,
    ) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        public = self.key.public_key()
        issuer_name = parent.cert.subject if parent else subject
        signing_key = parent.key if parent else self.key
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer_name)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - timedelta(days=1))
            .not_valid_after(NOW + timedelta(days=365))
            .add_extension(
                x509.KeyUsage(
                    digital_signature=not is_ca,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=is_ca,
                    crl_sign=crl_sign and is_ca,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier(key_identifier(public)), critical=False)
        )
        if is_ca:
            builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        if parent:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier(parent.info.key_identifier, None, None), critical=False
            )
        self.cert = builder.sign(signing_key, SHA256)
        self.info = IssuerInfo(name=subject, key_identifier=key_identifier(public)) if is_ca else None

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def root() -> Ca:
    return Ca(_name("00", "ZA"))


@pytest.fixture(scope="module")
def issuing(root: Ca) -> Ca:
    return Ca(_name("07", "Z1"), root)


ENTRIES = [
    RevokedEntry(0x4FBC5252_0000_0000_0000_0000_0000_0001, NOW - timedelta(hours=5), None),
    RevokedEntry(
        0x71872BDB_C82789BC_1401CE01_BA06ADA3, NOW - timedelta(hours=4), x509.ReasonFlags.key_compromise
    ),
    RevokedEntry(3, NOW - timedelta(hours=3), x509.ReasonFlags.unspecified),
    RevokedEntry(0x80, NOW - timedelta(hours=2), x509.ReasonFlags.superseded),
    RevokedEntry((1 << 159) - 1, NOW - timedelta(hours=1), x509.ReasonFlags.cessation_of_operation),
]


def _via_builder(ca: Ca, **kwargs: object) -> x509.CertificateRevocationList:
    return build_crl(**kwargs).sign(ca.key, SHA256)  # type: ignore[arg-type]


def _via_encoder(ca: Ca, **kwargs: object) -> x509.CertificateRevocationList:
    return x509.load_der_x509_crl(sign_crl(**kwargs, signer=ca.key))  # type: ignore[arg-type]


PATHS: dict[str, Callable[..., x509.CertificateRevocationList]] = {
    "builder": _via_builder,
    "encoder": _via_encoder,
}


def _crl(path: str, ca: Ca, entries: list[RevokedEntry], number: int = 42) -> x509.CertificateRevocationList:
    assert ca.info is not None
    return PATHS[path](
        ca,
        issuer_name=ca.info.name,
        issuer_key_identifier=ca.info.key_identifier,
        crl_number=number,
        this_update=NOW - timedelta(minutes=5),
        next_update=NOW + timedelta(days=1),
        entries=entries,
    )


def _pem(crl: x509.CertificateRevocationList) -> bytes:
    return crl.public_bytes(serialization.Encoding.PEM)


def _openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    assert OPENSSL is not None
    return subprocess.run([OPENSSL, *map(str, args)], capture_output=True, text=True, timeout=60, check=False)


@needs_openssl
@pytest.mark.parametrize("path", PATHS)
def test_crl_is_accepted_by_openssl_and_lists_entries(path: str, issuing: Ca, tmp_path: Path) -> None:
    crl = _crl(path, issuing, ENTRIES)
    (tmp_path / "crl.pem").write_bytes(_pem(crl))
    (tmp_path / "ca.pem").write_bytes(issuing.pem)

    result = _openssl("crl", "-in", tmp_path / "crl.pem", "-CAfile", tmp_path / "ca.pem", "-verify", "-noout")
    assert result.returncode == 0, result.stderr
    assert "verify OK" in result.stdout + result.stderr

    text = _openssl("crl", "-in", tmp_path / "crl.pem", "-noout", "-text").stdout
    assert "Version 2 (0x1)" in text
    assert "ecdsa-with-SHA256" in text
    assert text.count("Serial Number:") == len(ENTRIES)
    assert "Key Compromise" in text and "Superseded" in text and "Cessation Of Operation" in text
    assert "Unspecified" not in text  # RFC 5280 5.3.1: omit rather than say unspecified

    listed = {entry.serial_number: entry for entry in crl}
    assert set(listed) == {e.serial for e in ENTRIES}
    for entry in ENTRIES:
        revoked = listed[entry.serial]
        assert revoked.revocation_date_utc == entry.revoked_at
        reasons = [ext for ext in revoked.extensions if ext.oid == CRLEntryExtensionOID.CRL_REASON]
        if entry.reason in (None, x509.ReasonFlags.unspecified):
            assert reasons == []
        else:
            assert [(r.value.reason, r.critical) for r in reasons] == [(entry.reason, False)]  # type: ignore[attr-defined]

    assert [ext.oid for ext in crl.extensions] == [
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.CRL_NUMBER,
    ]
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 42
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    assert not aki.critical
    assert aki.value.key_identifier == key_identifier(issuing.key.public_key())
    assert len(aki.value.key_identifier) == 8
    assert aki.value.authority_cert_issuer is None and aki.value.authority_cert_serial_number is None
    assert crl.issuer.public_bytes() == issuing.cert.subject.public_bytes()
    assert check_crl(crl, issuing.cert) == []


@needs_openssl
@pytest.mark.parametrize("path", PATHS)
def test_empty_crl_omits_the_revoked_list_and_verifies(path: str, issuing: Ca, tmp_path: Path) -> None:
    crl = _crl(path, issuing, [])
    (tmp_path / "crl.pem").write_bytes(_pem(crl))
    (tmp_path / "ca.pem").write_bytes(issuing.pem)
    result = _openssl("crl", "-in", tmp_path / "crl.pem", "-CAfile", tmp_path / "ca.pem", "-verify", "-noout")
    assert "verify OK" in result.stdout + result.stderr
    assert "No Revoked Certificates" in _openssl("crl", "-in", tmp_path / "crl.pem", "-noout", "-text").stdout
    assert len(crl) == 0
    assert check_crl(crl, issuing.cert) == []


def test_both_paths_encode_the_same_tbs(issuing: Ca) -> None:
    by_builder = _crl("builder", issuing, ENTRIES)
    by_encoder = _crl("encoder", issuing, ENTRIES)
    assert by_builder.tbs_certlist_bytes == by_encoder.tbs_certlist_bytes
    assert by_builder.signature != by_encoder.signature  # two real ECDSA signatures


@pytest.mark.parametrize("path", PATHS)
def test_times_use_generalized_time_from_2050_and_drop_fractions(path: str, issuing: Ca) -> None:
    late = datetime(2050, 1, 1, 0, 0, 1, 999_999, tzinfo=timezone(timedelta(hours=1)))
    crl = _crl(path, issuing, [RevokedEntry(7, late, None)])
    (entry,) = list(crl)
    assert entry.revocation_date_utc == datetime(2049, 12, 31, 23, 0, 1, tzinfo=UTC)
    crl = _crl(path, issuing, [RevokedEntry(7, late + timedelta(hours=1), None)])
    (entry,) = list(crl)
    assert entry.revocation_date_utc == datetime(2050, 1, 1, 0, 0, 1, tzinfo=UTC)
    der = crl.public_bytes(serialization.Encoding.DER)
    assert b"\x18\x0f20500101000001Z" in der and b"\x17\x0d491231230001Z" not in der


@needs_openssl
@pytest.mark.parametrize("arl_path", ["builder", "encoder"])
def test_arl_revokes_an_issuing_ca_for_openssl_chain_validation(
    arl_path: str, root: Ca, tmp_path: Path
) -> None:
    issuing = Ca(_name("07", "Z2"), root)
    leaf = Ca(_name("02", "SUPPLIER", _ASN1Type.UTF8String), issuing, is_ca=False)
    assert root.info is not None and issuing.info is not None
    kwargs = {
        "issuer_name": root.info.name,
        "issuer_key_identifier": root.info.key_identifier,
        "crl_number": 1,
        "this_update": NOW - timedelta(minutes=5),
        "next_update": NOW + timedelta(days=30),
    }

    def arl(entries: list[RevokedEntry]) -> x509.CertificateRevocationList:
        if arl_path == "builder":
            return build_arl(**kwargs, entries=entries).sign(root.key, SHA256)  # type: ignore[arg-type]
        return x509.load_der_x509_crl(sign_arl(**kwargs, entries=entries, signer=root.key))  # type: ignore[arg-type]

    crl = _crl("encoder", issuing, [])
    (tmp_path / "root.pem").write_bytes(root.pem)
    (tmp_path / "issuing.pem").write_bytes(issuing.pem)
    (tmp_path / "leaf.pem").write_bytes(leaf.pem)

    def verify(arl_crl: x509.CertificateRevocationList) -> subprocess.CompletedProcess[str]:
        (tmp_path / "crls.pem").write_bytes(_pem(arl_crl) + _pem(crl))
        return _openssl(
            "verify", "-crl_check_all", "-CAfile", tmp_path / "root.pem",
            "-untrusted", tmp_path / "issuing.pem", "-CRLfile", tmp_path / "crls.pem", tmp_path / "leaf.pem",
        )  # fmt: skip

    clean = arl([RevokedEntry(12345, NOW - timedelta(days=1), x509.ReasonFlags.superseded)])
    ok = verify(clean)
    assert ok.returncode == 0 and "OK" in ok.stdout, ok.stdout + ok.stderr
    assert check_crl(clean, root.cert) == []

    revoked = arl(
        [RevokedEntry(issuing.cert.serial_number, NOW - timedelta(hours=1), x509.ReasonFlags.ca_compromise)]
    )
    refused = verify(revoked)
    assert refused.returncode != 0
    # Depth 1 is the Issuing CA (the leaf is depth 0): the ARL entry is what refused the chain.
    assert "error 23 at 1 depth lookup: certificate revoked" in refused.stdout + refused.stderr
    assert check_crl(revoked, root.cert) == []
    # The ARL does not verify as the Issuing CA's CRL.
    assert {f.split(":")[0] for f in check_crl(revoked, issuing.cert)} == {
        "crl.signature",
        "crl.issuer",
        "crl.aki",
    }


@pytest.mark.parametrize("path", PATHS)
def test_check_crl_finds_wrong_issuer_key_and_aki(path: str, root: Ca, issuing: Ca) -> None:
    assert issuing.info is not None
    crl = _crl(path, issuing, ENTRIES)
    findings = check_crl(crl, root.cert)
    assert {f.split(":")[0] for f in findings} == {"crl.signature", "crl.issuer", "crl.aki"}

    wrong_aki = PATHS[path](
        issuing,
        issuer_name=issuing.info.name,
        issuer_key_identifier=bytes(8),
        crl_number=1,
        this_update=NOW,
        next_update=NOW + timedelta(days=1),
        entries=ENTRIES,
    )
    assert check_crl(wrong_aki, issuing.cert) == [
        "crl.aki: The authorityKeyIdentifier does not match the issuer's subjectKeyIdentifier."
    ]

    # Same text, other string type: the DN bytes differ, and check_crl compares bytes.
    utf8_name = PATHS[path](
        issuing,
        issuer_name=_name("07", "Z1", _ASN1Type.UTF8String),
        issuer_key_identifier=issuing.info.key_identifier,
        crl_number=1,
        this_update=NOW,
        next_update=NOW + timedelta(days=1),
        entries=[],
    )
    assert utf8_name.issuer.rfc4514_string() == issuing.cert.subject.rfc4514_string()
    assert [f.split(":")[0] for f in check_crl(utf8_name, issuing.cert)] == ["crl.issuer"]


class _Capture:
    """A signer that keeps the TBSCertList it is handed (what the CA's checking signer sees)."""

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        self.key = key
        self.tbs: list[bytes] = []

    def sign(self, data: bytes, algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        self.tbs.append(bytes(data))
        return self.key.sign(data, algorithm)


def _signed(ca: Ca, signer: object, **change: object) -> bytes:
    assert ca.info is not None
    envelope: dict[str, object] = {
        "issuer_name": ca.info.name,
        "issuer_key_identifier": ca.info.key_identifier,
        "crl_number": 7,
        "this_update": NOW,
        "next_update": NOW + timedelta(days=1),
        "entries": ENTRIES,
    }
    return sign_crl(**{**envelope, **change}, signer=signer)  # type: ignore[arg-type]


def test_the_tbs_about_to_be_signed_is_linted_and_the_signed_list_must_hold_it(root: Ca, issuing: Ca) -> None:
    capture = _Capture(issuing.key)
    der = _signed(issuing, capture)
    (tbs,) = capture.tbs
    assert check_tbs_certlist(tbs, issuing.cert) == []
    assert check_signed_crl(der, tbs, issuing.cert) == []
    assert x509.load_der_x509_crl(der).tbs_certlist_bytes == tbs

    # Linting the TBS finds what check_crl finds on the signed list, bar the signature.
    assert {f.split(":")[0] for f in check_tbs_certlist(tbs, root.cert)} == {"crl.issuer", "crl.aki"}
    # The TBSCertList's own signature field must name ecdsa-with-SHA256 (RFC 5280 5.1.2.2).
    sha384 = tlv(0x30, tlv(0x06, bytes.fromhex("2a8648ce3d040303")))
    wrong_field = tbs.replace(bytes.fromhex("300a06082a8648ce3d040302"), sha384, 1)
    assert [f.split(":")[0] for f in check_tbs_certlist(wrong_field, issuing.cert)] == [
        "crl.signature_algorithm"
    ]

    other = _signed(issuing, issuing.key, crl_number=8)  # a different TBS, properly signed
    assert [f.split(":")[0] for f in check_signed_crl(other, tbs, issuing.cert)] == ["crl.not_linted"]
    forged = _signed(issuing, _Capture(root.key))  # the linted TBS, signed by another key
    assert [f.split(":")[0] for f in check_signed_crl(forged, tbs, issuing.cert)] == ["crl.signature"]
    assert [f.split(":")[0] for f in check_signed_crl(der[:-1], tbs, issuing.cert)] == ["crl.structure"]


def test_check_crl_finds_missing_number_long_aki_and_no_crl_sign(root: Ca) -> None:
    no_crl_sign = Ca(_name("07", "Z3"), root, crl_sign=False)
    assert no_crl_sign.info is not None
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(no_crl_sign.info.name)
        .last_update(NOW)
        .next_update(NOW + timedelta(days=1))
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(no_crl_sign.key.public_key()), False
        )
        .sign(no_crl_sign.key, hashes.SHA384())
    )
    codes = sorted(f.split(":")[0] for f in check_crl(crl, no_crl_sign.cert))
    assert codes == [
        "crl.aki",  # 20-byte SHA-1 keyIdentifier, not the 8-byte SMKI one
        "crl.aki",  # ... which therefore does not match the SKI
        "crl.issuer_key_usage",
        "crl.number",
        "crl.signature_algorithm",
    ]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"issuer_key_identifier": bytes(20)}, "crl.key_identifier"),
        ({"crl_number": -1}, "crl.number"),
        ({"crl_number": 1 << 159}, "crl.number"),
        ({"next_update": NOW - timedelta(minutes=5)}, "crl.next_update"),
        ({"this_update": NOW.replace(tzinfo=None)}, "crl.time"),
        ({"entries": [RevokedEntry(0, NOW, None)]}, "crl.serial"),
        ({"entries": [RevokedEntry(-5, NOW, None)]}, "crl.serial"),
        ({"entries": [RevokedEntry(1 << 159, NOW, None)]}, "crl.serial"),
        ({"entries": [RevokedEntry(9, NOW, None), RevokedEntry(9, NOW, None)]}, "crl.duplicate_serial"),
        ({"entries": [RevokedEntry(9, NOW, x509.ReasonFlags.remove_from_crl)]}, "crl.reason"),
        ({"entries": [RevokedEntry(9, NOW.replace(tzinfo=None), None)]}, "crl.time"),
    ],
)
def test_bad_input_is_refused(path: str, change: dict[str, object], code: str, issuing: Ca) -> None:
    assert issuing.info is not None
    kwargs: dict[str, object] = {
        "issuer_name": issuing.info.name,
        "issuer_key_identifier": issuing.info.key_identifier,
        "crl_number": 1,
        "this_update": NOW - timedelta(minutes=5),
        "next_update": NOW + timedelta(days=1),
        "entries": [],
        **change,
    }
    with pytest.raises(InvalidInput) as refused:
        PATHS[path](issuing, **kwargs)
    assert refused.value.code == code


_REASONS = st.sampled_from([None, *(r for r in x509.ReasonFlags if r != x509.ReasonFlags.remove_from_crl)])
_TIMES = st.datetimes(
    min_value=datetime(1950, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    entries=st.dictionaries(
        st.integers(min_value=1, max_value=(1 << 159) - 1), st.tuples(_TIMES, _REASONS), max_size=40
    ),
    number=st.integers(min_value=0, max_value=(1 << 159) - 1),
)
def test_any_serials_and_reasons_round_trip(
    entries: dict[int, tuple[datetime, x509.ReasonFlags | None]], number: int, issuing: Ca
) -> None:
    revoked = [RevokedEntry(serial, when, reason) for serial, (when, reason) in entries.items()]
    crl = _crl("encoder", issuing, revoked, number)
    assert crl.is_signature_valid(issuing.key.public_key())
    assert crl.tbs_certlist_bytes == _crl("builder", issuing, revoked, number).tbs_certlist_bytes
    got = [
        (
            r.serial_number,
            r.revocation_date_utc,
            next((e.value.reason for e in r.extensions if isinstance(e.value, x509.CRLReason)), None),
        )
        for r in crl
    ]
    want = [
        (
            e.serial,
            e.revoked_at.replace(microsecond=0),
            None if e.reason == x509.ReasonFlags.unspecified else e.reason,
        )
        for e in revoked
    ]
    assert got == want
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == number
