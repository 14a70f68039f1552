"""Whole hierarchies built with fresh keys verify under OpenSSL's strict X.509 checks.

For each of the three SMKI hierarchies: Root -> Issuing CA -> end entity (Organisation DS, Device KA, IKI),
then ``openssl verify -x509_strict``. Also the profile facts a chain relies on: the device notAfter,
the Root OCA contingency extension, 16-octet serials, the 2050 UTCTime/GeneralizedTime switch, SKI method 2.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from smki.model import EntityId, KeyUsage, RemotePartyRole
from smki.profiles import builders
from smki.profiles.contingency import (
    unwrap_contingency_public_key,
    wrap_contingency_public_key,
    wrapped_contingency_key_of,
)
from smki.profiles.environment import PkiEnvironment
from smki.profiles.parse import certificate_fields

ENV = PkiEnvironment()
NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
PARTY = EntityId.parse("90-B3-D5-1F-30-01-00-00")
METER = EntityId.parse("00-DB-12-34-56-78-90-01")


@dataclass
class Chain:
    root: x509.Certificate
    issuing: x509.Certificate
    end_entity: x509.Certificate


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _sign(builder: x509.CertificateBuilder, key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    return builder.sign(key, hashes.SHA256())


def _organisation_chain(symmetric_key: bytes, contingency_key: ec.EllipticCurvePublicKey) -> Chain:
    root_key, issuing_key, party_key = _key(), _key(), _key()
    root = _sign(
        builders.root_oca(
            ENV,
            public_key=root_key.public_key(),
            serial=builders.new_serial(),
            not_before=NOW,
            wrapped_contingency_key=wrap_contingency_public_key(symmetric_key, contingency_key),
        ),
        root_key,
    )
    issuing = _sign(
        builders.issuing_oca(
            ENV,
            issuer=builders.IssuerInfo.from_certificate(root),
            public_key=issuing_key.public_key(),
            serial=builders.new_serial(),
            not_before=NOW,
        ),
        root_key,
    )
    party = _sign(
        builders.organisation(
            ENV,
            issuer=builders.IssuerInfo.from_certificate(issuing),
            public_key=party_key.public_key(),
            serial=builders.new_serial(),
            not_before=NOW,
            role=RemotePartyRole.SUPPLIER,
            entity_id=PARTY,
            key_usage=KeyUsage.DIGITAL_SIGNATURE,
            common_name="GITTESTSUPPLIER",
        ),
        issuing_key,
    )
    return Chain(root, issuing, party)


def _device_chain() -> Chain:
    root_key, issuing_key, meter_key = _key(), _key(), _key()
    root = _sign(
        builders.root_dca(
            ENV, public_key=root_key.public_key(), serial=builders.new_serial(), not_before=NOW
        ),
        root_key,
    )
    issuing = _sign(
        builders.issuing_dca(
            ENV,
            issuer=builders.IssuerInfo.from_certificate(root),
            public_key=issuing_key.public_key(),
            serial=builders.new_serial(),
            not_before=NOW,
        ),
        root_key,
    )
    meter = _sign(
        builders.device(
            ENV,
            issuer=builders.IssuerInfo.from_certificate(issuing),
            public_key=meter_key.public_key(),
            serial=builders.new_serial(),
            not_before=NOW,
            entity_id=METER,
            key_usage=KeyUsage.KEY_AGREEMENT,
        ),
        issuing_key,
    )
    return Chain(root, issuing, meter)


def _iki_chain() -> Chain:
    root_key, issuing_key, holder_key = _key(), _key(), _key()
    root = _sign(
        builders.root_ica(
            ENV, public_key=root_key.public_key(), serial=builders.new_serial(), not_before=NOW
        ),
        root_key,
    )
    issuing = _sign(
        builders.issuing_ica(
            ENV,
            issuer=builders.IssuerInfo.from_certificate(root),
            public_key=issuing_key.public_key(),
            serial=builders.new_serial(),
            not_before=NOW,
        ),
        root_key,
    )
    holder = _sign(
        builders.iki(
            ENV,
            issuer=builders.IssuerInfo.from_certificate(issuing),
            public_key=holder_key.public_key(),
            serial=builders.new_serial(),
            not_before=NOW,
            entity_id=PARTY,
            key_usage=KeyUsage.DIGITAL_SIGNATURE,
            common_name="Authorised Responsible Officer",
        ),
        issuing_key,
    )
    return Chain(root, issuing, holder)


def _write(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _openssl_verify(chain: Chain, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed: the chain test needs 'openssl verify'")
    root = _write(tmp_path / "root.pem", chain.root)
    issuing = _write(tmp_path / "issuing.pem", chain.issuing)
    ee = _write(tmp_path / "ee.pem", chain.end_entity)
    return subprocess.run(
        [openssl, "verify", "-x509_strict", "-CAfile", str(root), "-untrusted", str(issuing), str(ee)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "OPENSSL_CONF": os.devnull},
    )


@pytest.fixture
def contingency() -> tuple[bytes, ec.EllipticCurvePublicKey]:
    return secrets.token_bytes(32), _key().public_key()


@pytest.mark.parametrize("hierarchy", ["organisation", "device", "iki"])
def test_hierarchy_verifies_under_openssl_x509_strict(
    hierarchy: str, tmp_path: Path, contingency: tuple[bytes, ec.EllipticCurvePublicKey]
) -> None:
    chain = {
        "organisation": lambda: _organisation_chain(*contingency),
        "device": _device_chain,
        "iki": _iki_chain,
    }[hierarchy]()
    result = _openssl_verify(chain, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith(": OK")


def test_openssl_rejects_an_end_entity_from_another_hierarchy(tmp_path: Path) -> None:
    # The verification above is meaningful: a device certificate does not chain to the IKI root.
    iki, dev = _iki_chain(), _device_chain()
    result = _openssl_verify(Chain(iki.root, iki.issuing, dev.end_entity), tmp_path)
    assert result.returncode != 0


def test_device_not_after_is_generalized_time_9999(tmp_path: Path) -> None:
    meter = _device_chain().end_entity
    assert meter.not_valid_after_utc == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert b"\x18\x0f99991231235959Z" in meter.tbs_certificate_bytes
    assert meter.subject.public_bytes() == b"\x30\x00"


def test_root_oca_carries_the_contingency_key_and_it_unwraps_back(
    contingency: tuple[bytes, ec.EllipticCurvePublicKey],
) -> None:
    symmetric_key, contingency_key = contingency
    root = _organisation_chain(symmetric_key, contingency_key).root
    ext = root.extensions.get_extension_for_oid(x509.ObjectIdentifier(ENV.contingency_key_extension_oid))
    assert ext.critical is False
    recovered = unwrap_contingency_public_key(symmetric_key, wrapped_contingency_key_of(ENV, root))
    assert recovered.public_numbers() == contingency_key.public_numbers()


def test_roots_are_self_signed_without_aki_and_issuing_cas_have_path_length_zero(
    contingency: tuple[bytes, ec.EllipticCurvePublicKey],
) -> None:
    for chain in (_organisation_chain(*contingency), _device_chain(), _iki_chain()):
        root, issuing = certificate_fields(chain.root), certificate_fields(chain.issuing)
        assert root.is_self_issued and root.authority_key_identifier is None
        assert root.is_ca and root.path_length is None
        assert issuing.is_ca and issuing.path_length == 0
        assert issuing.authority_key_identifier == root.subject_key_identifier
        chain.issuing.verify_directly_issued_by(chain.root)
        chain.end_entity.verify_directly_issued_by(chain.issuing)


def test_serials_are_sixteen_octets_positive_in_the_der() -> None:
    cert = _device_chain().end_entity
    tbs = cert.tbs_certificate_bytes
    # TBSCertificate: SEQUENCE(len 2 bytes) [0] version (5 bytes), then INTEGER serial.
    serial_tlv = tbs[4 + 5 : 4 + 5 + 18]
    assert serial_tlv[:2] == b"\x02\x10" and serial_tlv[2] < 0x80 and serial_tlv[2] != 0
    for _ in range(2000):
        serial = builders.new_serial()
        assert builders.is_smki_serial(serial)
        assert len(_der_integer_content(serial)) == 16 and _der_integer_content(serial)[0] != 0


def _der_integer_content(n: int) -> bytes:
    length = n.bit_length() // 8 + 1  # two's complement, minimal (positive n)
    return n.to_bytes(length, "big", signed=True)


@given(st.integers(min_value=1, max_value=(1 << 160) - 1))
def test_is_smki_serial_means_a_sixteen_octet_der_integer(n: int) -> None:
    assert builders.is_smki_serial(n) == (len(_der_integer_content(n)) == 16)


def _organisation_with_validity(not_before: datetime) -> x509.Certificate:
    key = _key()
    issuer = builders.IssuerInfo(builders.oca_name("Z1", RemotePartyRole.ISSUING_AUTHORITY), b"\x40" * 8)
    return _sign(
        builders.organisation(
            ENV,
            issuer=issuer,
            public_key=key.public_key(),
            serial=builders.new_serial(),
            not_before=not_before,
            role=RemotePartyRole.NETWORK_OPERATOR,
            entity_id=PARTY,
            key_usage=KeyUsage.KEY_AGREEMENT,
        ),
        key,
    )


def test_utc_time_before_2050_and_generalized_time_from_2050() -> None:
    last_utc = _organisation_with_validity(datetime(2040, 1, 1, tzinfo=UTC)).tbs_certificate_bytes
    assert b"\x17\x0d400101000000Z\x17\x0d491231235959Z" in last_utc
    first_gen = _organisation_with_validity(datetime(2040, 1, 2, tzinfo=UTC)).tbs_certificate_bytes
    assert b"\x17\x0d400102000000Z\x18\x0f20500101235959Z" in first_gen


@settings(max_examples=25, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_subject_key_identifier_is_rfc5280_method_2(seed: bytes) -> None:
    key = ec.derive_private_key(int.from_bytes(seed, "big") % (2**255) + 1, ec.SECP256R1())
    cert = _organisation_with_validity(NOW)
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    subject_public_key = spki[-65:]  # BIT STRING value after the unused-bits octet: 04 || X || Y
    h = hashlib.sha1(subject_public_key).digest()
    expected = bytes([0x40 | (h[12] & 0x0F)]) + h[13:20]
    assert builders.key_identifier(key.public_key()) == expected
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert ski == builders.key_identifier(cert.public_key())  # type: ignore[arg-type]
    assert len(ski) == 8
