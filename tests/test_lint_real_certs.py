"""Lint against the real DCC test certificates: genuine ones conform, each odd one gets its finding."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from conftest import REAL_CERTS
from smki.model import CertificateKind, KeyUsage
from smki.profiles.environment import PkiEnvironment
from smki.profiles.lint import LintReport, lint, lint_data
from smki.profiles.parse import load_certificate

ENV = PkiEnvironment()
Z1 = "ca/IssuingOCA-Z1-issued-by-ZA-71872BDB.pem"
CSR = "csr/device-CSR-00DB1234567890A0-ds-from-RTDS-CS02c.pem"
NON_REPUDIATION = "device/00DB1234567890A0-nonRepudiation-INVALID-30398236.pem"


def _index() -> list[dict[str, str]]:
    path = REAL_CERTS / "index.csv"
    if not path.is_file():
        return []
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


INDEX = _index()
BY_FILE = {row["file"]: row for row in INDEX}
GENUINE_ORG = [r["file"] for r in INDEX if r["type"] == "org" and "verifies with Z1" in r["chain_check"]]
GENUINE_DEVICE = [
    r["file"]
    for r in INDEX
    if r["type"] == "device" and r["issuer"] == "CN=E357" and r["file"] != NON_REPUDIATION
]
GENUINE = [Z1, *GENUINE_ORG, *GENUINE_DEVICE, CSR] if INDEX else []
ALL_FILES = sorted(str(p.relative_to(REAL_CERTS)) for p in REAL_CERTS.glob("*/*.pem")) if INDEX else []

SIMULATOR = [
    r["file"]
    for r in INDEX
    if r["type"] == "org" and r["issuer"] == "CN=Z1,OU=07" and r["file"] not in GENUINE_ORG
]
# Every odd file and the findings it must get (a subset: it may get more).
ODD: dict[str, set[str]] = {
    **{f: {"issuer.string_type", "aki.missing", "validity.too_long", "ext.order"} for f in SIMULATOR},
    NON_REPUDIATION: {"ku.wrong_usage", "sig.not_by_aki_key"},
    "device/00DB123456789098-ka-5D3E7B68.pem": {"cp.not_critical", "cp.wrong_policy", "issuer.unexpected"},
    "org/mdr-ds__90B3D51F30010009__other-ds__173CFBF0.pem": {"sig.null_params", "issuer.unexpected"},
    "org/mdr-ka__90B3D51F30010009__other-ka__6C274B2F.pem": {"sig.null_params", "issuer.unexpected"},
    "ca/IssuingOCA-Z1-issued-by-ZA-71872BDB-CORRUPTED-SIGNATURE.pem": {"sig.not_by_aki_key"},
    "org/otherUser-ds__00DB123456780004__other-ds__43F410FE.pem": {"bc.end_entity", "issuer.unexpected"},
    "org/otherUser-ka__00DB123456780004__other-ka__18C5FB7F.pem": {"bc.end_entity", "issuer.unexpected"},
    "org/supplier-ka__90B3D51F30010000__supplier-ka__56BAD381.pem": {"issuer.unexpected"},
    "device/88738457002F966C-ds-4DF56E92.pem": {"issuer.unexpected", "san.hw_type", "ski.missing"},
    "device/88738457002F966C-ka-13E6E340.pem": {"issuer.unexpected", "san.hw_type", "ski.missing"},
}


def _lint_file(real_certs: Path, name: str, issuer: Path | None = None) -> LintReport:
    ca = load_certificate((real_certs / issuer).read_bytes()) if issuer else None
    reports = lint_data((real_certs / name).read_bytes(), ENV, issuer=ca)
    assert len(reports) == 1
    return reports[0]


def test_the_real_set_is_the_one_described(real_certs: Path) -> None:
    assert len(GENUINE_ORG) == 42
    assert len(GENUINE_DEVICE) == 400
    assert len(SIMULATOR) == 7
    assert len(ALL_FILES) == 461
    assert set(ODD) | set(GENUINE) == set(ALL_FILES)


@pytest.mark.parametrize("name", GENUINE)
def test_genuine_file_conforms_with_no_finding(real_certs: Path, name: str) -> None:
    report = _lint_file(real_certs, name)
    assert report.findings == (), [f.as_dict() for f in report.findings]
    assert report.conforms
    row = BY_FILE.get(name)
    if row is None:  # the CSR is not in index.csv
        assert report.is_csr and report.kind is CertificateKind.DEVICE
        assert report.key_usage is KeyUsage.DIGITAL_SIGNATURE
        return
    expected_kind = {"ca": CertificateKind.ISSUING_OCA, "org": CertificateKind.ORGANISATION}.get(
        row["type"], CertificateKind.DEVICE
    )
    assert report.kind is expected_kind
    assert report.serial_hex == row["serial_hex"]
    if row["role_code"]:
        assert report.role is not None and report.role.code == int(row["role_code"])
    if row["eui64"]:
        assert report.entity_id is not None and report.entity_id.compact == row["eui64"]
    usage = {"digital_signature": "digitalSignature", "key_agreement": "keyAgreement"}.get(row["key_usage"])
    assert report.key_usage is not None
    if usage:
        assert report.key_usage.value == usage
    assert report.signature_checked == "against the AKI"


@pytest.mark.parametrize("name", GENUINE_ORG)
def test_z1_signed_organisation_certificate_conforms_when_checked_with_z1(
    real_certs: Path, name: str
) -> None:
    report = _lint_file(real_certs, name, issuer=Path(Z1))
    assert report.signature_checked == "with the given issuer"
    assert report.findings == ()


@pytest.mark.parametrize("name", sorted(ODD))
def test_odd_file_gets_its_specific_findings(real_certs: Path, name: str) -> None:
    report = _lint_file(real_certs, name)
    assert ODD[name] <= set(report.codes), report.codes
    assert not report.conforms


@pytest.mark.parametrize("name", ALL_FILES)
def test_every_real_file_is_parsed_and_classified_without_crash(real_certs: Path, name: str) -> None:
    report = _lint_file(real_certs, name)
    assert report.kind is not None
    for finding in report.findings:
        assert finding.message.endswith(".") and finding.message.count(". ") == 0
        assert finding.source


def test_null_parameter_certificate_is_read_tolerantly(real_certs: Path) -> None:
    name = "org/mdr-ds__90B3D51F30010009__other-ds__173CFBF0.pem"
    report = _lint_file(real_certs, name)
    assert report.entity_id is not None and report.entity_id.dashed == "90-B3-D5-1F-30-01-00-09"
    assert report.role is not None and report.role.name == "other"
    assert report.codes.count("sig.null_params") == 2  # TBS signature field and outer algorithm


def test_certificate_from_another_issuing_oca_fails_with_z1_as_issuer(real_certs: Path) -> None:
    report = _lint_file(real_certs, "org/supplier-ka__90B3D51F30010000__supplier-ka__56BAD381.pem", Path(Z1))
    assert {"sig.invalid", "issuer.name_mismatch", "aki.issuer_mismatch"} <= set(report.codes)


def test_simulator_certificate_signature_fails_with_z1_as_issuer(real_certs: Path) -> None:
    report = _lint_file(real_certs, SIMULATOR[0], Path(Z1))
    assert {"sig.invalid", "issuer.name_mismatch"} <= set(report.codes)


def test_lint_accepts_a_cryptography_certificate_and_the_z1_issuer_is_not_a_ca_for_itself(
    real_certs: Path,
) -> None:
    z1 = load_certificate((real_certs / Z1).read_bytes())
    assert lint(z1, ENV).findings == ()
    org = load_certificate((real_certs / GENUINE_ORG[0]).read_bytes())
    assert lint(org, ENV, issuer=org).codes[:1] == ("sig.invalid",)
    assert "issuer.not_ca" in lint(org, ENV, issuer=org).codes


def test_device_certificates_fail_under_an_environment_with_another_device_policy(real_certs: Path) -> None:
    from dataclasses import replace

    env = replace(ENV, device_policy_oid="1.2.826.0.1.8641679.1.2.1.9", issuing_dca_name="E999")
    reports = lint_data((real_certs / GENUINE_DEVICE[0]).read_bytes(), env)
    assert {"cp.wrong_policy", "issuer.unexpected"} <= set(reports[0].codes)
