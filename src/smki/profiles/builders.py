"""Builders for every SMKI certificate type, byte-exact to the DCC's certificates.

Each function is pure and returns a configured ``cryptography`` ``CertificateBuilder``; the caller signs it
with ``builder.sign(key, hashes.SHA256())`` (a software key or an HSM-backed ``EllipticCurvePrivateKey``).
Encodings follow ../shared/smki-real-certs (research notes s.3.1, 4.1, 5.2, 12): attribute order and string
types of names, extension order and criticality per type, 8-octet key identifiers, 16-octet serials.
Environment values (policy OIDs, hwType, CA names) come from ``PkiEnvironment``. Profiles that no public
certificate shows (Root OCA, DCA, ICA, IKI) are chosen by analogy: see docs/decisions.md.

Extension order, as the real certificates show it (and our choices for the unseen kinds):

============  =========================================================
Root CA       keyUsage, basicConstraints, certificatePolicies, SKI [, WrappedApexContingencyKey]
Issuing CA    keyUsage, basicConstraints(pathLen 0), certificatePolicies, SKI, AKI
Organisation  keyUsage, SKI, certificatePolicies, AKI (IKI end-entity the same)
Device        keyUsage, SKI, subjectAltName, certificatePolicies, AKI
============  =========================================================
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from smki.model import CertificateKind, EntityId, InvalidInput, KeyUsage, RemotePartyRole
from smki.profiles import der as d
from smki.profiles.contingency import contingency_extension
from smki.profiles.environment import (
    HARDWARE_MODULE_NAME_OID,
    X500_UNIQUE_IDENTIFIER_OID,
    PkiEnvironment,
)
from smki.profiles.validity import DEVICE_NOT_AFTER, as_utc, not_after_for

KEY_IDENTIFIER_LENGTH = 8
SERIAL_OCTETS = 16
_SERIAL_LIMIT = 1 << (8 * SERIAL_OCTETS - 1)  # below: positive in 16 octets, no 17th 0x00 pad octet
_SERIAL_DER_MIN = 1 << (8 * SERIAL_OCTETS - 9)  # from: 16 octets, a 0x00 pad before a 0x8X octet
_SERIAL_MIN = 1 << (8 * SERIAL_OCTETS - 8)  # we issue from here: first octet 01-7F, as DCC hex shows
_PRINTABLE = re.compile(r"[A-Za-z0-9 '()+,\-./:=?]+")
_UB_COMMON_NAME = 64
_GBCS = "GBCS 12 (certificate rules)"


@dataclass(frozen=True, slots=True)
class IssuerInfo:
    """What an issued certificate needs from its CA: the CA's subject (byte-exact) and its 8-octet SKI."""

    name: x509.Name
    key_identifier: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.name, x509.Name) or len(self.name) == 0:
            raise InvalidInput("profile.issuer_name", "The issuing CA must have a non-empty subject name.")
        _check_key_identifier(self.key_identifier, "issuing CA's key identifier")

    @classmethod
    def from_certificate(cls, cert: x509.Certificate) -> IssuerInfo:
        """Take the name and key identifier from a CA certificate (refusing one that is not a CA)."""
        try:
            bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
            ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        except x509.ExtensionNotFound as exc:
            raise InvalidInput(
                "profile.issuer_not_ca",
                f"The issuing certificate lacks extension {exc.oid.dotted_string}, which SMKI CAs carry.",
            ) from None
        except ValueError as exc:
            raise InvalidInput(
                "profile.issuer_unreadable", f"The issuing certificate's extensions cannot be read: {exc}."
            ) from None
        if not bc.ca:
            raise InvalidInput(
                "profile.issuer_not_ca", "The issuing certificate is not a CA certificate (cA is false)."
            )
        return cls(name=cert.subject, key_identifier=ski.digest)


def key_identifier(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """RFC 5280 s.4.2.1.2 method (2), as GBCS requires: 8 octets, 0100 then the low 60 bits of
    SHA-1(subjectPublicKey) (the 65-octet uncompressed point)."""
    point = _p256(public_key).public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return point_key_identifier(point)


def point_key_identifier(point: bytes) -> bytes:
    """:func:`key_identifier` of a 65-octet uncompressed point already at hand."""
    digest = hashlib.sha1(point, usedforsecurity=False).digest()
    return bytes([0x40 | (digest[12] & 0x0F)]) + digest[13:20]


def new_serial() -> int:
    """A cryptographically random, positive serial number whose DER INTEGER is exactly 16 octets.

    Uniform over [2^120, 2^127): about 126.9 bits of entropy, and the first octet is never 0x00.
    """
    return _SERIAL_MIN + secrets.randbelow(_SERIAL_LIMIT - _SERIAL_MIN)


def is_smki_serial(serial: int) -> bool:
    """True when ``serial`` encodes as a positive DER INTEGER of exactly 16 octets (as every DCC serial)."""
    return (
        isinstance(serial, int) and not isinstance(serial, bool) and _SERIAL_DER_MIN <= serial < _SERIAL_LIMIT
    )


# --- Names -------------------------------------------------------------------------------------------------


def oca_name(common_name: str, role: RemotePartyRole) -> x509.Name:
    """An OCA name: OU = role as two hex digits, then CN; both PrintableString (as Z1 and its issuer ZA)."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role.ou, _ASN1Type.PrintableString),
            x509.NameAttribute(NameOID.COMMON_NAME, _ca_common_name(common_name), _ASN1Type.PrintableString),
        ]
    )


def dca_name(common_name: str) -> x509.Name:
    """A DCA name: CN only, PrintableString (as the RTDS issuer CN=E357)."""
    return x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, _ca_common_name(common_name), _ASN1Type.PrintableString)]
    )


def ica_name(common_name: str) -> x509.Name:
    """An ICA name: CN only, PrintableString (smki's choice, like the DCA; docs/decisions.md)."""
    return dca_name(common_name)


def organisation_subject(
    role: RemotePartyRole, entity_id: EntityId, common_name: str | None = None
) -> x509.Name:
    """[CN] then OU (role, two upper-case hex digits), both UTF8String, then x500UniqueIdentifier.

    The x500UniqueIdentifier (2.5.4.45) is a BIT STRING of 64 bits, the EUI-64 Entity Identifier.
    ``cryptography`` takes a BIT STRING attribute value as its content octets: the unused-bits octet (0)
    and then the bits.
    """
    if not isinstance(role, RemotePartyRole):
        raise InvalidInput("profile.role", "The subject's Remote Party Role must be a RemotePartyRole.")
    if not isinstance(entity_id, EntityId):
        raise InvalidInput("profile.entity_id", "The subject's Entity Identifier must be an EntityId.")
    attributes: list[x509.NameAttribute[str | bytes]] = []
    if common_name is not None:
        attributes.append(
            x509.NameAttribute(NameOID.COMMON_NAME, _subject_common_name(common_name), _ASN1Type.UTF8String)
        )
    attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role.ou, _ASN1Type.UTF8String))
    attributes.append(
        x509.NameAttribute(
            x509.ObjectIdentifier(X500_UNIQUE_IDENTIFIER_OID), b"\x00" + entity_id.value, _ASN1Type.BitString
        )
    )
    return x509.Name(attributes)


def encode_hardware_module_name(hw_type_oid: str, hw_serial_num: bytes) -> bytes:
    """RFC 4108 HardwareModuleName DER: SEQUENCE { hwType OBJECT IDENTIFIER, hwSerialNum OCTET STRING }."""
    try:
        oid = d.encode_oid(hw_type_oid)
    except ValueError as exc:
        raise InvalidInput("profile.hw_type_oid", f"The hwType is not a valid OID: {exc}.") from None
    return d.tlv(d.TAG_SEQUENCE, d.tlv(d.TAG_OID, oid) + d.tlv(d.TAG_OCTET_STRING, hw_serial_num))


# --- OCA hierarchy -----------------------------------------------------------------------------------------


def root_oca(
    env: PkiEnvironment,
    *,
    public_key: ec.EllipticCurvePublicKey,
    serial: int,
    not_before: datetime,
    wrapped_contingency_key: bytes,
    not_after: datetime | None = None,
    common_name: str | None = None,
) -> x509.CertificateBuilder:
    """The self-signed Root OCA Certificate (OU=00, CN=env.root_oca_name), 50 years, with the
    WrappedApexContingencyKey extension carrying ``wrapped_contingency_key`` (see ``contingency``)."""
    name = oca_name(common_name or env.root_oca_name, RemotePartyRole.ROOT)
    builder = _root(
        env.organisation_policy_oid,
        CertificateKind.ROOT_OCA,
        name=name,
        public_key=public_key,
        serial=serial,
        not_before=not_before,
        not_after=not_after,
    )
    return builder.add_extension(contingency_extension(env, wrapped_contingency_key), critical=False)


def issuing_oca(
    env: PkiEnvironment,
    *,
    issuer: IssuerInfo,
    public_key: ec.EllipticCurvePublicKey,
    serial: int,
    not_before: datetime,
    not_after: datetime | None = None,
    common_name: str | None = None,
) -> x509.CertificateBuilder:
    """An Issuing OCA Certificate (OU=07, CN=env.issuing_oca_name), 25 years, exactly as Z1."""
    return _issuing_ca(
        env.organisation_policy_oid,
        CertificateKind.ISSUING_OCA,
        issuer=issuer,
        name=oca_name(common_name or env.issuing_oca_name, RemotePartyRole.ISSUING_AUTHORITY),
        public_key=public_key,
        serial=serial,
        not_before=not_before,
        not_after=not_after,
    )


def organisation(
    env: PkiEnvironment,
    *,
    issuer: IssuerInfo,
    public_key: ec.EllipticCurvePublicKey,
    serial: int,
    not_before: datetime,
    role: RemotePartyRole,
    entity_id: EntityId,
    key_usage: KeyUsage,
    common_name: str | None = None,
    not_after: datetime | None = None,
    approval_reference: str | None = None,
) -> x509.CertificateBuilder:
    """An Organisation Certificate: 10 years unless an SMKI PMA approval reference is given
    (Appendix B 6.3.2(A)(i)); keyUsage, SKI, certificatePolicies, AKI; no basicConstraints."""
    start = as_utc(not_before, "notBefore")
    end = not_after_for(
        CertificateKind.ORGANISATION, start, not_after=not_after, approval_reference=approval_reference
    )
    return _end_entity(
        env.organisation_policy_oid,
        issuer=issuer,
        subject=organisation_subject(role, entity_id, common_name),
        public_key=public_key,
        serial=serial,
        not_before=start,
        not_after=end,
        key_usage=key_usage,
    )


# --- DCA hierarchy -----------------------------------------------------------------------------------------


def root_dca(
    env: PkiEnvironment,
    *,
    public_key: ec.EllipticCurvePublicKey,
    serial: int,
    not_before: datetime,
    not_after: datetime | None = None,
    common_name: str | None = None,
) -> x509.CertificateBuilder:
    """The self-signed Root DCA Certificate (CN=env.root_dca_name), 50 years (smki's choice)."""
    return _root(
        env.device_policy_oid,
        CertificateKind.ROOT_DCA,
        name=dca_name(common_name or env.root_dca_name),
        public_key=public_key,
        serial=serial,
        not_before=not_before,
        not_after=not_after,
    )


def issuing_dca(
    env: PkiEnvironment,
    *,
    issuer: IssuerInfo,
    public_key: ec.EllipticCurvePublicKey,
    serial: int,
    not_before: datetime,
    not_after: datetime | None = None,
    common_name: str | None = None,
) -> x509.CertificateBuilder:
    """An Issuing DCA Certificate (CN=env.issuing_dca_name), 25 years, shaped like Z1 (smki's choice)."""
    return _issuing_ca(
        env.device_policy_oid,
        CertificateKind.ISSUING_DCA,
        issuer=issuer,
        name=dca_name(common_name or env.issuing_dca_name),
        public_key=public_key,
        serial=serial,
        not_before=not_before,
        not_after=not_after,
    )


def device(
    env: PkiEnvironment,
    *,
    issuer: IssuerInfo,
    public_key: ec.EllipticCurvePublicKey,
    serial: int,
    not_before: datetime,
    entity_id: EntityId,
    key_usage: KeyUsage,
    hw_type_oid: str | None = None,
) -> x509.CertificateBuilder:
    """A Device Certificate: empty subject, notAfter 99991231235959Z, critical SAN with one
    hardwareModuleName {hwType, hwSerialNum = EUI-64}; keyUsage, SKI, SAN, certificatePolicies, AKI."""
    if not isinstance(entity_id, EntityId):
        raise InvalidInput("profile.entity_id", "The device's Entity Identifier must be an EntityId.")
    hmn = encode_hardware_module_name(hw_type_oid or env.hw_type_oid, entity_id.value)
    san = x509.SubjectAlternativeName([x509.OtherName(x509.ObjectIdentifier(HARDWARE_MODULE_NAME_OID), hmn)])
    issuer = _issuer(issuer)
    key = _p256(public_key)
    return (
        _base(issuer.name, x509.Name([]), key, serial, as_utc(not_before, "notBefore"), DEVICE_NOT_AFTER)
        .add_extension(_end_entity_key_usage(key_usage), critical=True)
        .add_extension(x509.SubjectKeyIdentifier(key_identifier(key)), critical=False)
        .add_extension(san, critical=True)
        .add_extension(_policies(env.device_policy_oid), critical=True)
        .add_extension(_aki(issuer), critical=False)
    )


# --- ICA hierarchy -----------------------------------------------------------------------------------------


def root_ica(
    env: PkiEnvironment,
    *,
    public_key: ec.EllipticCurvePublicKey,
    serial: int,
    not_before: datetime,
    not_after: datetime | None = None,
    common_name: str | None = None,
) -> x509.CertificateBuilder:
    """The self-signed Root ICA Certificate (CN=env.root_ica_name), 50 years (smki's choice)."""
    return _root(
        env.iki_policy_oid,
        CertificateKind.ROOT_ICA,
        name=ica_name(common_name or env.root_ica_name),
        public_key=public_key,
        serial=serial,
        not_before=not_before,
        not_after=not_after,
    )


def issuing_ica(
    env: PkiEnvironment,
    *,
    issuer: IssuerInfo,
    public_key: ec.EllipticCurvePublicKey,
    serial: int,
    not_before: datetime,
    not_after: datetime | None = None,
    common_name: str | None = None,
) -> x509.CertificateBuilder:
    """An Issuing ICA Certificate (CN=env.issuing_ica_name), 25 years, shaped like Z1 (smki's choice)."""
    return _issuing_ca(
        env.iki_policy_oid,
        CertificateKind.ISSUING_ICA,
        issuer=issuer,
        name=ica_name(common_name or env.issuing_ica_name),
        public_key=public_key,
        serial=serial,
        not_before=not_before,
        not_after=not_after,
    )


def iki(
    env: PkiEnvironment,
    *,
    issuer: IssuerInfo,
    public_key: ec.EllipticCurvePublicKey,
    serial: int,
    not_before: datetime,
    entity_id: EntityId,
    key_usage: KeyUsage,
    role: RemotePartyRole | None = None,
    common_name: str | None = None,
    not_after: datetime | None = None,
    approval_reference: str | None = None,
) -> x509.CertificateBuilder:
    """An IKI end-entity certificate: an Organisation Certificate's shape under the IKI policy OID
    (smki's choice; role defaults to 'other' (7F)); 10 years unless an approval reference is given."""
    start = as_utc(not_before, "notBefore")
    end = not_after_for(
        CertificateKind.IKI, start, not_after=not_after, approval_reference=approval_reference
    )
    return _end_entity(
        env.iki_policy_oid,
        issuer=issuer,
        subject=organisation_subject(role or RemotePartyRole.OTHER, entity_id, common_name),
        public_key=public_key,
        serial=serial,
        not_before=start,
        not_after=end,
        key_usage=key_usage,
    )


# --- Shared shapes -----------------------------------------------------------------------------------------


def _base(
    issuer_name: x509.Name,
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    serial: int,
    not_before: datetime,
    not_after: datetime,
) -> x509.CertificateBuilder:
    if not is_smki_serial(serial):
        raise InvalidInput(
            "profile.serial",
            "An SMKI serial number is a positive integer of exactly 16 octets (use new_serial()).",
            _GBCS,
        )
    # cryptography writes UTCTime before 2050 and GeneralizedTime from 2050 (RFC 5280 s.4.1.2.5).
    return (
        x509.CertificateBuilder()
        .issuer_name(issuer_name)
        .subject_name(subject)
        .public_key(_p256(public_key))
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )


def _root(
    policy_oid: str,
    kind: CertificateKind,
    *,
    name: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    serial: int,
    not_before: datetime,
    not_after: datetime | None,
) -> x509.CertificateBuilder:
    start = as_utc(not_before, "notBefore")
    end = not_after_for(kind, start, not_after=not_after)
    key = _p256(public_key)
    # Self-signed: no AKI (GBCS 12 rule 2); cA without pathLenConstraint.
    return (
        _base(name, name, key, serial, start, end)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_policies(policy_oid), critical=True)
        .add_extension(x509.SubjectKeyIdentifier(key_identifier(key)), critical=False)
    )


def _issuing_ca(
    policy_oid: str,
    kind: CertificateKind,
    *,
    issuer: IssuerInfo,
    name: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    serial: int,
    not_before: datetime,
    not_after: datetime | None,
) -> x509.CertificateBuilder:
    issuer = _issuer(issuer)
    start = as_utc(not_before, "notBefore")
    end = not_after_for(kind, start, not_after=not_after)
    key = _p256(public_key)
    return (
        _base(issuer.name, name, key, serial, start, end)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_policies(policy_oid), critical=True)
        .add_extension(x509.SubjectKeyIdentifier(key_identifier(key)), critical=False)
        .add_extension(_aki(issuer), critical=False)
    )


def _end_entity(
    policy_oid: str,
    *,
    issuer: IssuerInfo,
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    serial: int,
    not_before: datetime,
    not_after: datetime,
    key_usage: KeyUsage,
) -> x509.CertificateBuilder:
    issuer = _issuer(issuer)
    key = _p256(public_key)
    return (
        _base(issuer.name, subject, key, serial, not_before, not_after)
        .add_extension(_end_entity_key_usage(key_usage), critical=True)
        .add_extension(x509.SubjectKeyIdentifier(key_identifier(key)), critical=False)
        .add_extension(_policies(policy_oid), critical=True)
        .add_extension(_aki(issuer), critical=False)
    )


def _ca_key_usage() -> x509.KeyUsage:
    return _key_usage_bits(key_cert_sign=True, crl_sign=True)


def _end_entity_key_usage(usage: KeyUsage) -> x509.KeyUsage:
    if usage is KeyUsage.DIGITAL_SIGNATURE:
        return _key_usage_bits(digital_signature=True)
    if usage is KeyUsage.KEY_AGREEMENT:
        return _key_usage_bits(key_agreement=True)
    raise InvalidInput(
        "profile.end_entity_key_usage",
        f"An end-entity SMKI certificate has exactly one key usage, digitalSignature or keyAgreement, "
        f"not {getattr(usage, 'value', usage)!r}.",
        _GBCS,
    )


def _key_usage_bits(
    *,
    digital_signature: bool = False,
    key_agreement: bool = False,
    key_cert_sign: bool = False,
    crl_sign: bool = False,
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=key_agreement,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _policies(policy_oid: str) -> x509.CertificatePolicies:
    try:
        oid = x509.ObjectIdentifier(policy_oid)
    except ValueError:
        raise InvalidInput(
            "profile.policy_oid", f"The certificate policy {policy_oid!r} is not a valid OID."
        ) from None
    return x509.CertificatePolicies([x509.PolicyInformation(oid, None)])


def _aki(issuer: IssuerInfo) -> x509.AuthorityKeyIdentifier:
    return x509.AuthorityKeyIdentifier(issuer.key_identifier, None, None)


def _issuer(issuer: IssuerInfo) -> IssuerInfo:
    if not isinstance(issuer, IssuerInfo):
        raise InvalidInput("profile.issuer", "The issuer must be given as an IssuerInfo.")
    return issuer


def _p256(public_key: object) -> ec.EllipticCurvePublicKey:
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
        public_key.curve, ec.SECP256R1
    ):
        raise InvalidInput(
            "profile.public_key_not_p256", "SMKI certificates carry only EC public keys on P-256.", _GBCS
        )
    return public_key


def _check_key_identifier(value: object, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != KEY_IDENTIFIER_LENGTH:
        raise InvalidInput(
            "profile.key_identifier_length",
            f"The {what} must be 8 octets (RFC 5280 method 2, as GBCS requires).",
            _GBCS,
        )


def _ca_common_name(text: str) -> str:
    if not isinstance(text, str) or not _PRINTABLE.fullmatch(text) or len(text) > _UB_COMMON_NAME:
        raise InvalidInput(
            "profile.ca_name",
            f"A CA name must be 1 to 64 PrintableString characters (letters, digits, space, '()+,-./:=?), "
            f"not {text!r}.",
        )
    return text


def _subject_common_name(text: str) -> str:
    # ub-common-name is 64; cryptography enforces it on the UTF-8 octets, so we do too.
    if not isinstance(text, str) or not text or len(text.encode("utf-8")) > _UB_COMMON_NAME:
        raise InvalidInput(
            "profile.common_name", f"A subject common name must be 1 to 64 UTF-8 octets long, not {text!r}."
        )
    return text
