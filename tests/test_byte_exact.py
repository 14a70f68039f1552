"""Golden vectors: our builders rebuild the DCC's real certificates, TBSCertificate byte for byte.

Every genuine certificate of the DCC test PKIs whose profile we reproduce is read with
``profiles.parse.certificate_fields``, rebuilt from only those fields with ``profiles.builders`` under the
default ``PkiEnvironment`` (the DCC test values), signed with a throwaway key, and its TBSCertificate
compared with the real one: the 42 organisation certificates that verify with Issuing OCA Z1, Z1 itself,
and the 400 RTDS device certificates issued by CN=E357.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from conftest import REAL_CERTS
from smki.model import KeyUsage, RemotePartyRole
from smki.profiles import builders
from smki.profiles.environment import PkiEnvironment
from smki.profiles.parse import SmkiFields, certificate_fields, load_certificate

Z1_FILE = "ca/IssuingOCA-Z1-issued-by-ZA-71872BDB.pem"
EXPECTED_ORGANISATION = 42
EXPECTED_DEVICE = 400


def _index_rows() -> list[dict[str, str]]:
    index = REAL_CERTS / "index.csv"
    if not index.is_file():
        return []
    with index.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _organisation_files(rows: list[dict[str, str]]) -> list[str]:
    return [
        r["file"]
        for r in rows
        if r["type"] == "org" and r["chain_check"].startswith("signature verifies with Z1")
    ]


def _device_files(rows: list[dict[str, str]]) -> list[str]:
    # Genuine RTDS device certificates: issued by E357 with a DS or KA usage (the nonRepudiation negative
    # test, the CN=0001 variant and the DCC Boxed simulator's 88738457002F966C certificates are not).
    return [
        r["file"]
        for r in rows
        if r["type"] == "device"
        and r["issuer"] == "CN=E357"
        and r["key_usage"] in ("digital_signature", "key_agreement")
        and "88738457002F966C" not in r["file"]
        and "INVALID" not in r["file"]
    ]


_ROWS = _index_rows()
# Without the real certificates each list holds one placeholder, so the test runs and the fixture skips.
ORGANISATION_FILES = _organisation_files(_ROWS) or ["(real certificates absent)"]
DEVICE_FILES = _device_files(_ROWS) or ["(real certificates absent)"]


@pytest.fixture(scope="module")
def env() -> PkiEnvironment:
    return PkiEnvironment()


@pytest.fixture(scope="module")
def throwaway_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def z1(real_certs: Path) -> x509.Certificate:
    return load_certificate((real_certs / Z1_FILE).read_bytes())


def _read(real_certs: Path, relative: str) -> tuple[x509.Certificate, SmkiFields]:
    cert = load_certificate((real_certs / relative).read_bytes())
    return cert, certificate_fields(cert)


def _assert_same_tbs(rebuilt: x509.Certificate, real: x509.Certificate) -> None:
    assert rebuilt.tbs_certificate_bytes.hex() == real.tbs_certificate_bytes.hex()


def test_selection_counts(real_certs: Path) -> None:
    rows = _index_rows()
    assert len(_organisation_files(rows)) == EXPECTED_ORGANISATION
    assert len(_device_files(rows)) == EXPECTED_DEVICE


def test_default_environment_matches_the_dcc_test_pki(real_certs: Path, env: PkiEnvironment) -> None:
    z1_fields = _read(real_certs, Z1_FILE)[1]
    assert z1_fields.common_name == env.issuing_oca_name
    assert z1_fields.issuer_common_name == env.root_oca_name
    assert z1_fields.policy_oids == (env.organisation_policy_oid,)
    device_fields = _read(real_certs, DEVICE_FILES[0])[1]
    assert device_fields.issuer_common_name == env.issuing_dca_name
    assert device_fields.policy_oids == (env.device_policy_oid,)
    assert [h.hw_type for h in device_fields.hardware_module_names] == [env.hw_type_oid]


def test_issuing_oca_z1_rebuilds_byte_exact(
    real_certs: Path, env: PkiEnvironment, throwaway_key: ec.EllipticCurvePrivateKey
) -> None:
    real, f = _read(real_certs, Z1_FILE)
    assert f.issuer_role == RemotePartyRole.ROOT and f.issuer_common_name is not None
    assert f.authority_key_identifier is not None and f.serial_number is not None
    assert f.not_before is not None and f.not_after is not None
    assert isinstance(f.public_key, ec.EllipticCurvePublicKey)
    issuer = builders.IssuerInfo(
        name=builders.oca_name(f.issuer_common_name, f.issuer_role),
        key_identifier=f.authority_key_identifier,
    )
    rebuilt = builders.issuing_oca(
        env,
        issuer=issuer,
        public_key=f.public_key,
        serial=f.serial_number,
        not_before=f.not_before,
        not_after=f.not_after,
    ).sign(throwaway_key, hashes.SHA256())
    _assert_same_tbs(rebuilt, real)


@pytest.mark.parametrize("relative", ORGANISATION_FILES, ids=[Path(p).name for p in ORGANISATION_FILES])
def test_organisation_certificate_rebuilds_byte_exact(
    relative: str,
    real_certs: Path,
    env: PkiEnvironment,
    z1: x509.Certificate,
    throwaway_key: ec.EllipticCurvePrivateKey,
) -> None:
    real, f = _read(real_certs, relative)
    real.verify_directly_issued_by(z1)  # genuine: Z1's key signed it
    assert f.issuer_role == RemotePartyRole.ISSUING_AUTHORITY and f.issuer_common_name is not None
    assert f.role is not None and f.entity_id is not None and f.key_usage is not None
    assert f.authority_key_identifier is not None and f.serial_number is not None
    assert f.not_before is not None and f.not_after is not None
    assert isinstance(f.public_key, ec.EllipticCurvePublicKey)
    issuer = builders.IssuerInfo(
        name=builders.oca_name(f.issuer_common_name, f.issuer_role),
        key_identifier=f.authority_key_identifier,
    )
    rebuilt = builders.organisation(
        env,
        issuer=issuer,
        public_key=f.public_key,
        serial=f.serial_number,
        not_before=f.not_before,
        not_after=f.not_after,  # every genuine validity must pass without an approval reference
        role=f.role,
        entity_id=f.entity_id,
        key_usage=f.key_usage,
        common_name=f.common_name,
    ).sign(throwaway_key, hashes.SHA256())
    _assert_same_tbs(rebuilt, real)
    assert builders.IssuerInfo.from_certificate(z1).name.public_bytes() == f.issuer_der


@pytest.mark.parametrize("relative", DEVICE_FILES, ids=[Path(p).name for p in DEVICE_FILES])
def test_device_certificate_rebuilds_byte_exact(
    relative: str, real_certs: Path, env: PkiEnvironment, throwaway_key: ec.EllipticCurvePrivateKey
) -> None:
    real, f = _read(real_certs, relative)
    assert f.issuer_common_name is not None and f.entity_id is not None
    assert f.key_usage in (KeyUsage.DIGITAL_SIGNATURE, KeyUsage.KEY_AGREEMENT)
    assert f.authority_key_identifier is not None and f.serial_number is not None
    assert f.not_before is not None
    assert isinstance(f.public_key, ec.EllipticCurvePublicKey)
    issuer = builders.IssuerInfo(
        name=builders.dca_name(f.issuer_common_name), key_identifier=f.authority_key_identifier
    )
    rebuilt = builders.device(
        env,
        issuer=issuer,
        public_key=f.public_key,
        serial=f.serial_number,
        not_before=f.not_before,
        entity_id=f.entity_id,
        key_usage=f.key_usage,
    ).sign(throwaway_key, hashes.SHA256())
    _assert_same_tbs(rebuilt, real)
