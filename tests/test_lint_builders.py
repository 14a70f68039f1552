"""Lint accepts every kind the builders make, and each rule fires on a certificate that breaks it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from smki.model import CertificateKind, EntityId, KeyUsage, RemotePartyRole
from smki.profiles import builders
from smki.profiles.contingency import wrap_contingency_public_key
from smki.profiles.environment import HARDWARE_MODULE_NAME_OID, PkiEnvironment
from smki.profiles.lint import lint
from smki.profiles.parse import read_children, read_element

ENV = PkiEnvironment()
NB = datetime(2026, 1, 1, tzinfo=UTC)
SUPPLIER = EntityId.parse("90-B3-D5-1F-30-01-00-00")
METER = EntityId.parse("00-DB-12-34-56-78-90-01")


@dataclass
class Ca:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def info(self) -> builders.IssuerInfo:
        return builders.IssuerInfo.from_certificate(self.cert)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _sign(builder: x509.CertificateBuilder, key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    return builder.sign(key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki() -> dict[CertificateKind, Ca]:
    out: dict[CertificateKind, Ca] = {}
    k = _key()
    wrapped = wrap_contingency_public_key(secrets.token_bytes(32), _key().public_key())
    root = builders.root_oca(
        ENV,
        public_key=k.public_key(),
        serial=builders.new_serial(),
        not_before=NB,
        wrapped_contingency_key=wrapped,
    )
    out[CertificateKind.ROOT_OCA] = Ca(_sign(root, k), k)
    for root_kind, make_root in (
        (CertificateKind.ROOT_DCA, builders.root_dca),
        (CertificateKind.ROOT_ICA, builders.root_ica),
    ):
        k = _key()
        b = make_root(ENV, public_key=k.public_key(), serial=builders.new_serial(), not_before=NB)
        out[root_kind] = Ca(_sign(b, k), k)
    for kind, parent, make in (
        (CertificateKind.ISSUING_OCA, CertificateKind.ROOT_OCA, builders.issuing_oca),
        (CertificateKind.ISSUING_DCA, CertificateKind.ROOT_DCA, builders.issuing_dca),
        (CertificateKind.ISSUING_ICA, CertificateKind.ROOT_ICA, builders.issuing_ica),
    ):
        k = _key()
        p = out[parent]
        b = make(ENV, issuer=p.info, public_key=k.public_key(), serial=builders.new_serial(), not_before=NB)
        out[kind] = Ca(_sign(b, p.key), k)
    return out


def _organisation(
    pki: dict[CertificateKind, Ca], usage: KeyUsage = KeyUsage.DIGITAL_SIGNATURE
) -> x509.Certificate:
    ca = pki[CertificateKind.ISSUING_OCA]
    b = builders.organisation(
        ENV,
        issuer=ca.info,
        public_key=_key().public_key(),
        serial=builders.new_serial(),
        not_before=NB,
        role=RemotePartyRole.SUPPLIER,
        entity_id=SUPPLIER,
        key_usage=usage,
        common_name="GITTESTSUPPLIER",
    )
    return _sign(b, ca.key)


def _device(pki: dict[CertificateKind, Ca], usage: KeyUsage = KeyUsage.KEY_AGREEMENT) -> x509.Certificate:
    ca = pki[CertificateKind.ISSUING_DCA]
    b = builders.device(
        ENV,
        issuer=ca.info,
        public_key=_key().public_key(),
        serial=builders.new_serial(),
        not_before=NB,
        entity_id=METER,
        key_usage=usage,
    )
    return _sign(b, ca.key)


def _iki(pki: dict[CertificateKind, Ca]) -> x509.Certificate:
    ca = pki[CertificateKind.ISSUING_ICA]
    b = builders.iki(
        ENV,
        issuer=ca.info,
        public_key=_key().public_key(),
        serial=builders.new_serial(),
        not_before=NB,
        entity_id=SUPPLIER,
        key_usage=KeyUsage.DIGITAL_SIGNATURE,
    )
    return _sign(b, ca.key)


ISSUER_OF = {
    CertificateKind.ISSUING_OCA: CertificateKind.ROOT_OCA,
    CertificateKind.ISSUING_DCA: CertificateKind.ROOT_DCA,
    CertificateKind.ISSUING_ICA: CertificateKind.ROOT_ICA,
}


@pytest.mark.parametrize("kind", list(CertificateKind))
def test_every_kind_the_builders_make_is_classified_and_conforms(
    pki: dict[CertificateKind, Ca], kind: CertificateKind
) -> None:
    if kind in pki:
        cert = pki[kind].cert
        issuer = pki[ISSUER_OF[kind]].cert if kind in ISSUER_OF else None
    else:
        cert = {
            CertificateKind.ORGANISATION: _organisation,
            CertificateKind.DEVICE: _device,
            CertificateKind.IKI: _iki,
        }[kind](pki)
        issuer = pki[
            {
                CertificateKind.ORGANISATION: CertificateKind.ISSUING_OCA,
                CertificateKind.DEVICE: CertificateKind.ISSUING_DCA,
                CertificateKind.IKI: CertificateKind.ISSUING_ICA,
            }[kind]
        ].cert
    alone = lint(cert, ENV)
    assert alone.kind is kind
    assert alone.findings == (), [f.as_dict() for f in alone.findings]
    assert alone.signature_checked in ("self-signature", "against the AKI")
    if issuer is not None:
        checked = lint(cert, ENV, issuer=issuer)
        assert checked.findings == (), [f.as_dict() for f in checked.findings]
        assert checked.signature_checked == "with the given issuer"


def test_both_end_entity_usages_conform(pki: dict[CertificateKind, Ca]) -> None:
    ka = lint(_organisation(pki, KeyUsage.KEY_AGREEMENT), ENV)
    ds = lint(_device(pki, KeyUsage.DIGITAL_SIGNATURE), ENV)
    assert (ka.key_usage, ka.findings) == (KeyUsage.KEY_AGREEMENT, ())
    assert (ds.key_usage, ds.findings) == (KeyUsage.DIGITAL_SIGNATURE, ())


def test_builder_output_fails_under_another_environment(pki: dict[CertificateKind, Ca]) -> None:
    other = replace(ENV, organisation_policy_oid="1.2.826.0.1.8641679.1.2.1.1", issuing_oca_name="Z7")
    codes = set(lint(_organisation(pki), other).codes)
    assert {"cp.wrong_policy", "issuer.unexpected"} <= codes


def test_root_oca_without_contingency_extension_is_reported(pki: dict[CertificateKind, Ca]) -> None:
    k = _key()
    name = builders.oca_name(ENV.root_oca_name, RemotePartyRole.ROOT)
    b = builders._root(
        ENV.organisation_policy_oid,
        CertificateKind.ROOT_OCA,
        name=name,
        public_key=k.public_key(),
        serial=builders.new_serial(),
        not_before=NB,
        not_after=None,
    )
    report = lint(_sign(b, k), ENV)
    assert report.kind is CertificateKind.ROOT_OCA
    assert report.codes == ("ext.missing",)


# --- each rule fires: certificates built by hand to break one rule ---


def _hand_made(
    pki: dict[CertificateKind, Ca],
    *,
    kind: CertificateKind = CertificateKind.ORGANISATION,
    serial: int | None = None,
    not_after: datetime | None = None,
    subject: x509.Name | None = None,
    issuer_name: x509.Name | None = None,
    extensions: list[tuple[x509.ExtensionType, bool]] | None = None,
    key: ec.EllipticCurvePublicKey | None = None,
) -> x509.Certificate:
    ca = pki[
        CertificateKind.ISSUING_OCA if kind is CertificateKind.ORGANISATION else CertificateKind.ISSUING_DCA
    ]
    public = key or _key().public_key()
    if extensions is None:
        extensions = (
            _org_extensions(public, ca)
            if kind is CertificateKind.ORGANISATION
            else _device_extensions(public, ca)
        )
    if subject is None:
        subject = (
            builders.organisation_subject(RemotePartyRole.SUPPLIER, SUPPLIER)
            if kind is CertificateKind.ORGANISATION
            else x509.Name([])
        )
    default_end = (
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
        if kind is CertificateKind.DEVICE
        else NB.replace(year=2036) - timedelta(seconds=1)
    )
    b = (
        x509.CertificateBuilder()
        .issuer_name(issuer_name or ca.cert.subject)
        .subject_name(subject)
        .public_key(public)
        .serial_number(serial or builders.new_serial())
        .not_valid_before(NB)
        .not_valid_after(not_after or default_end)
    )
    for ext, critical in extensions:
        b = b.add_extension(ext, critical=critical)
    return _sign(b, ca.key)


def _ku(usage: str) -> x509.KeyUsage:
    flags = dict.fromkeys(
        [
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ],
        False,
    )
    for u in usage.split("+"):
        flags[u] = True
    return x509.KeyUsage(**flags)


def _cp(oid: str) -> x509.CertificatePolicies:
    return x509.CertificatePolicies([x509.PolicyInformation(x509.ObjectIdentifier(oid), None)])


def _org_extensions(public: ec.EllipticCurvePublicKey, ca: Ca) -> list[tuple[x509.ExtensionType, bool]]:
    return [
        (_ku("digital_signature"), True),
        (x509.SubjectKeyIdentifier(builders.key_identifier(public)), False),
        (_cp(ENV.organisation_policy_oid), True),
        (x509.AuthorityKeyIdentifier(ca.info.key_identifier, None, None), False),
    ]


def _san(
    hw_type: str = ENV.hw_type_oid, serial: bytes = METER.value, extra: bool = False
) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = [
        x509.OtherName(
            x509.ObjectIdentifier(HARDWARE_MODULE_NAME_OID),
            builders.encode_hardware_module_name(hw_type, serial),
        )
    ]
    if extra:
        names.append(x509.DNSName("meter.example"))
    return x509.SubjectAlternativeName(names)


def _device_extensions(public: ec.EllipticCurvePublicKey, ca: Ca) -> list[tuple[x509.ExtensionType, bool]]:
    return [
        (_ku("key_agreement"), True),
        (x509.SubjectKeyIdentifier(builders.key_identifier(public)), False),
        (_san(), True),
        (_cp(ENV.device_policy_oid), True),
        (x509.AuthorityKeyIdentifier(ca.info.key_identifier, None, None), False),
    ]


def _swap(
    exts: list[tuple[x509.ExtensionType, bool]], index: int, new: tuple[x509.ExtensionType, bool]
) -> list:
    out = list(exts)
    out[index] = new
    return out


def test_hand_made_baselines_conform(pki: dict[CertificateKind, Ca]) -> None:
    assert lint(_hand_made(pki), ENV).findings == ()
    assert lint(_hand_made(pki, kind=CertificateKind.DEVICE), ENV).findings == ()


def test_rule_findings_on_organisation_certificates(pki: dict[CertificateKind, Ca]) -> None:
    pub = _key().public_key()
    ca = pki[CertificateKind.ISSUING_OCA]
    base = _org_extensions(pub, ca)
    cases: dict[str, x509.Certificate] = {
        "ku.not_single": _hand_made(
            pki, key=pub, extensions=_swap(base, 0, (_ku("digital_signature+key_agreement"), True))
        ),
        "ku.wrong_usage": _hand_made(
            pki, key=pub, extensions=_swap(base, 0, (_ku("content_commitment"), True))
        ),
        "ku.not_critical": _hand_made(
            pki, key=pub, extensions=_swap(base, 0, (_ku("digital_signature"), False))
        ),
        "cp.not_critical": _hand_made(
            pki, key=pub, extensions=_swap(base, 2, (_cp(ENV.organisation_policy_oid), False))
        ),
        "cp.wrong_policy": _hand_made(
            pki, key=pub, extensions=_swap(base, 2, (_cp(ENV.device_policy_oid), True))
        ),
        "ski.not_method2": _hand_made(
            pki, key=pub, extensions=_swap(base, 1, (x509.SubjectKeyIdentifier(bytes(8)), False))
        ),
        "ski.length": _hand_made(
            pki, key=pub, extensions=_swap(base, 1, (x509.SubjectKeyIdentifier.from_public_key(pub), False))
        ),
        "aki.not_key_id_only": _hand_made(
            pki,
            key=pub,
            extensions=_swap(
                base,
                3,
                (
                    x509.AuthorityKeyIdentifier(
                        ca.info.key_identifier, [x509.DirectoryName(ca.cert.issuer)], ca.cert.serial_number
                    ),
                    False,
                ),
            ),
        ),
        "aki.missing": _hand_made(pki, key=pub, extensions=base[:3]),
        "ext.order": _hand_made(pki, key=pub, extensions=[base[1], base[0], base[2], base[3]]),
        "bc.end_entity": _hand_made(
            pki, key=pub, extensions=[(x509.BasicConstraints(ca=False, path_length=None), True), *base]
        ),
        "serial.length": _hand_made(pki, serial=0x1234),
        "validity.too_long": _hand_made(pki, not_after=NB.replace(year=2037)),
        "validity.too_short": _hand_made(pki, not_after=NB.replace(year=2030)),
        "subject.ou_not_hex": _hand_made(
            pki,
            subject=x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "137", _ASN1Type.UTF8String),
                    *list(builders.organisation_subject(RemotePartyRole.SUPPLIER, SUPPLIER))[1:],
                ]
            ),
        ),
        "subject.string_type": _hand_made(
            pki,
            subject=x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "02", _ASN1Type.PrintableString),
                    *list(builders.organisation_subject(RemotePartyRole.SUPPLIER, SUPPLIER))[1:],
                ]
            ),
        ),
        "subject.order": _hand_made(
            pki,
            subject=x509.Name(list(builders.organisation_subject(RemotePartyRole.SUPPLIER, SUPPLIER))[::-1]),
        ),
        "subject.eui_missing": _hand_made(
            pki,
            subject=x509.Name(list(builders.organisation_subject(RemotePartyRole.SUPPLIER, SUPPLIER))[:1]),
        ),
        "subject.ca_role": _hand_made(
            pki, subject=builders.organisation_subject(RemotePartyRole.ISSUING_AUTHORITY, SUPPLIER)
        ),
        "issuer.string_type": _hand_made(
            pki,
            issuer_name=x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "07", _ASN1Type.UTF8String),
                    x509.NameAttribute(NameOID.COMMON_NAME, ENV.issuing_oca_name, _ASN1Type.UTF8String),
                ]
            ),
        ),
        "key.not_p256": _hand_made(
            pki,
            key=ec.generate_private_key(ec.SECP384R1()).public_key(),
            extensions=base[:1] + base[2:],
        ),
    }
    for code, cert in cases.items():
        codes = lint(cert, ENV).codes
        assert code in codes, (code, codes)


def test_rule_findings_on_device_certificates(pki: dict[CertificateKind, Ca]) -> None:
    pub = _key().public_key()
    base = _device_extensions(pub, pki[CertificateKind.ISSUING_DCA])
    dev = CertificateKind.DEVICE
    cases: dict[str, x509.Certificate] = {
        "validity.device_not_after": _hand_made(pki, kind=dev, not_after=datetime(2049, 1, 1, tzinfo=UTC)),
        "san.not_critical": _hand_made(pki, kind=dev, key=pub, extensions=_swap(base, 2, (_san(), False))),
        "san.hw_type": _hand_made(
            pki, kind=dev, key=pub, extensions=_swap(base, 2, (_san(hw_type="1.2.826.0.1372.1.1.2.1"), True))
        ),
        "san.serial_length": _hand_made(
            pki, kind=dev, key=pub, extensions=_swap(base, 2, (_san(serial=b"\x01" * 9), True))
        ),
        "san.not_single": _hand_made(
            pki, kind=dev, key=pub, extensions=_swap(base, 2, (_san(extra=True), True))
        ),
        "subject.not_empty": _hand_made(
            pki, kind=dev, key=pub, subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "meter")])
        ),
    }
    for code, cert in cases.items():
        codes = lint(cert, ENV).codes
        assert code in codes, (code, codes)


def test_signature_over_altered_bytes_is_caught_with_and_without_issuer(
    pki: dict[CertificateKind, Ca],
) -> None:
    cert = _organisation(pki)
    der = bytearray(cert.public_bytes(serialization.Encoding.DER))
    outer, _ = read_element(bytes(der))
    tbs = read_children(outer)[0]
    serial_at = bytes(der).index(tbs.encoded) + tbs.encoded.index(cert.serial_number.to_bytes(16, "big"))
    der[serial_at + 15] ^= 0x01  # same shape, different serial: the signature no longer covers it
    altered = bytes(der)
    assert "sig.not_by_aki_key" in lint(altered, ENV).codes
    assert "sig.invalid" in lint(altered, ENV, issuer=pki[CertificateKind.ISSUING_OCA].cert).codes


def test_wrong_issuer_is_named(pki: dict[CertificateKind, Ca]) -> None:
    report = lint(_organisation(pki), ENV, issuer=pki[CertificateKind.ISSUING_DCA].cert)
    assert {"sig.invalid", "issuer.name_mismatch", "aki.issuer_mismatch"} <= set(report.codes)
