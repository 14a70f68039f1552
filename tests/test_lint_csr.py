"""Lint of certificate signing requests: device and organisation shapes, proof of possession."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from smki.model import CertificateKind, EntityId, KeyUsage, RemotePartyRole
from smki.profiles import builders
from smki.profiles.environment import HARDWARE_MODULE_NAME_OID, PkiEnvironment
from smki.profiles.lint import lint

ENV = PkiEnvironment()
METER = EntityId.parse("00-DB-12-34-56-78-90-A1")


def _ku(**bits: bool) -> x509.KeyUsage:
    names = [
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    ]
    return x509.KeyUsage(**{n: bits.get(n, False) for n in names})


def _san(hw_type: str = ENV.hw_type_oid) -> x509.SubjectAlternativeName:
    hmn = builders.encode_hardware_module_name(hw_type, METER.value)
    return x509.SubjectAlternativeName([x509.OtherName(x509.ObjectIdentifier(HARDWARE_MODULE_NAME_OID), hmn)])


def _device_csr(
    *,
    ku: x509.KeyUsage | None = None,
    san: x509.SubjectAlternativeName | None = None,
    san_critical: bool = True,
    subject: x509.Name | None = None,
    extra: x509.ExtensionType | None = None,
) -> x509.CertificateSigningRequest:
    b = x509.CertificateSigningRequestBuilder().subject_name(subject or x509.Name([]))
    b = b.add_extension(ku or _ku(digital_signature=True), critical=True)
    b = b.add_extension(san or _san(), critical=san_critical)
    if extra is not None:
        b = b.add_extension(extra, critical=False)
    return b.sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())


def test_device_csr_as_a_device_makes_it_conforms() -> None:
    report = lint(_device_csr(), ENV)
    assert report.is_csr and report.kind is CertificateKind.DEVICE
    assert report.entity_id == METER and report.key_usage is KeyUsage.DIGITAL_SIGNATURE
    assert report.findings == ()
    assert report.signature_checked.startswith("self-signature")


def test_device_csr_deviations_are_named() -> None:
    assert "ku.not_single" in lint(_device_csr(ku=_ku(digital_signature=True, key_agreement=True)), ENV).codes
    assert "san.not_critical" in lint(_device_csr(san_critical=False), ENV).codes
    assert "san.hw_type" in lint(_device_csr(san=_san("1.2.3.4")), ENV).codes
    named = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "meter")])
    assert "subject.not_empty" in lint(_device_csr(subject=named), ENV).codes
    extra = x509.SubjectKeyIdentifier(bytes(8))
    assert "csr.unexpected_extension" in lint(_device_csr(extra=extra), ENV).codes


def test_csr_whose_self_signature_fails_gives_no_proof_of_possession() -> None:
    der = bytearray(_device_csr().public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01  # last octet of s: still a well-formed signature value
    report = lint(bytes(der), ENV)
    assert "csr.pop_invalid" in report.codes


def test_organisation_csr_shape() -> None:
    subject = builders.organisation_subject(RemotePartyRole.NETWORK_OPERATOR, METER)
    key = ec.generate_private_key(ec.SECP256R1())
    good = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .add_extension(_ku(key_agreement=True), critical=True)
        .sign(key, hashes.SHA256())
    )
    report = lint(good, ENV)
    assert report.kind is CertificateKind.ORGANISATION and report.findings == ()
    assert report.role == RemotePartyRole.NETWORK_OPERATOR
    no_ku = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    assert lint(no_ku, ENV).codes == ("ku.missing",)


def test_request_that_fits_no_kind_is_reported_not_refused() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.example.com")]))
        .sign(key, hashes.SHA256())
    )
    report = lint(csr, ENV)
    assert report.kind is None and "kind.unknown" in report.codes and not report.conforms
