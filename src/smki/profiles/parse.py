"""Reading SMKI certificates and CSRs: from PEM or DER bytes to the fields that carry SMKI meaning.

Parsing never raises on a well-formed X.509 structure with unexpected content: unusual values are
reported as they are (``None`` or raw), and judging them is the job of ``profiles.lint``.
"""

from __future__ import annotations

import base64
import binascii
import re
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import ExtensionOID, NameOID

from smki.model import EntityId, InvalidInput, KeyUsage, RemotePartyRole
from smki.profiles.der import ECDSA_WITH_SHA256_ALGORITHM
from smki.profiles.environment import HARDWARE_MODULE_NAME_OID, X500_UNIQUE_IDENTIFIER_OID

_PEM_BLOCK = re.compile(
    rb"-----BEGIN (CERTIFICATE|CERTIFICATE REQUEST|NEW CERTIFICATE REQUEST)-----.+?-----END \1-----",
    re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class HardwareModuleName:
    """RFC 4108 HardwareModuleName ::= SEQUENCE { hwType OBJECT IDENTIFIER, hwSerialNum OCTET STRING }."""

    hw_type: str
    hw_serial_num: bytes


@dataclass(frozen=True, slots=True)
class SmkiFields:
    """What an SMKI certificate or CSR says, read without judging it.

    ``key_usage`` is set only when the keyUsage extension holds exactly one SMKI usage
    (digitalSignature, keyAgreement) or exactly keyCertSign+cRLSign; ``key_usage_bits`` lists what the
    extension actually asserts. ``entity_id`` comes from the subject x500UniqueIdentifier
    (organisation) or the SAN hardwareModuleName hwSerialNum (device).
    """

    is_csr: bool
    der: bytes
    subject_der: bytes
    issuer_der: bytes | None
    serial_number: int | None
    not_before: datetime | None
    not_after: datetime | None
    public_key: CertificatePublicKeyTypes
    key_usage: KeyUsage | None
    key_usage_bits: tuple[str, ...]
    role: RemotePartyRole | None
    role_ou: str | None
    entity_id: EntityId | None
    common_name: str | None
    issuer_common_name: str | None
    issuer_role: RemotePartyRole | None
    subject_key_identifier: bytes | None
    authority_key_identifier: bytes | None
    policy_oids: tuple[str, ...]
    hardware_module_names: tuple[HardwareModuleName, ...]
    is_ca: bool
    path_length: int | None
    extension_oids: tuple[str, ...] = field(default=())
    # The bytes as found, when `der` had to be normalised before `cryptography` could read it
    # (ecdsa-with-SHA256 with NULL parameters, as Java-made test certificates carry).
    original_der: bytes | None = None

    @property
    def found_der(self) -> bytes:
        """The certificate or CSR exactly as it was found (before any normalisation)."""
        return self.original_der if self.original_der is not None else self.der

    @property
    def is_self_issued(self) -> bool:
        """True when issuer and subject names are the same bytes (a Root)."""
        return self.issuer_der is not None and self.issuer_der == self.subject_der

    @property
    def is_p256(self) -> bool:
        """True when the public key is EC on P-256 (the only curve the SMKI uses)."""
        return isinstance(self.public_key, ec.EllipticCurvePublicKey) and isinstance(
            self.public_key.curve, ec.SECP256R1
        )


def split_pem_or_der(data: bytes) -> list[tuple[str, bytes]]:
    """Split file content into ``(kind, der)`` items; kind is ``certificate`` or ``csr``.

    PEM files may hold several blocks (the kind comes from the PEM label); anything else is taken as one
    DER object whose kind is recognised from its ASN.1 structure. The DER is returned as found, so a
    certificate that ``cryptography`` refuses can still be examined (see ``parse_item``).
    """
    blocks = list(_PEM_BLOCK.finditer(data))
    if blocks:
        out: list[tuple[str, bytes]] = []
        for number, match in enumerate(blocks, start=1):
            kind = "certificate" if match.group(1) == b"CERTIFICATE" else "csr"
            out.append((kind, _pem_body(match.group(0), number)))
        return out
    if b"-----BEGIN" in data:
        raise InvalidInput(
            "parse.unsupported_pem",
            "The file holds PEM, but no CERTIFICATE or CERTIFICATE REQUEST block.",
        )
    detected = detect_kind(data)
    if detected is None:
        raise InvalidInput(
            "parse.not_x509",
            "The file is neither a PEM nor a DER X.509 certificate or certificate signing request.",
        )
    return [(detected, data)]


def _pem_body(pem: bytes, number: int) -> bytes:
    lines = pem.strip().splitlines()[1:-1]
    body = b"".join(line.strip() for line in lines if b":" not in line)
    try:
        der = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(
            "parse.bad_pem", f"PEM block {number} is not valid base64 and cannot be decoded."
        ) from None
    if not der:
        raise InvalidInput("parse.bad_pem", f"PEM block {number} is empty.")
    return der


def detect_kind(der: bytes) -> Literal["certificate", "csr"] | None:
    """Recognise a DER certificate or PKCS#10 request by its outer ASN.1 shape (None if neither)."""
    try:
        outer, end = read_element(der)
        if outer.tag != 0x30 or end != len(der):
            return None
        top = read_children(outer)
        if len(top) != 3 or top[0].tag != 0x30 or top[1].tag != 0x30 or top[2].tag != 0x03:
            return None
        body = read_children(top[0])
    except ValueError:
        return None
    tags = [c.tag for c in body]
    if len(tags) >= 6 and (tags[0] == 0xA0 or (tags[0] == 0x02 and tags[1] == 0x30)):
        if tags[0] == 0x02 and len(tags) == 4:
            return None
        return "certificate"
    if len(tags) == 4 and tags[:3] == [0x02, 0x30, 0x30] and tags[3] == 0xA0:
        return "csr"
    return None


def load_certificate(data: bytes) -> x509.Certificate:
    """Load one certificate from PEM or DER, refusing anything else in one sentence."""
    items = split_pem_or_der(data)
    certs = [der for kind, der in items if kind == "certificate"]
    if len(certs) != 1 or len(items) != 1:
        raise InvalidInput("parse.expected_one_certificate", "Expected exactly one certificate.")
    return _load_der_certificate(certs[0])


def load_csr(data: bytes) -> x509.CertificateSigningRequest:
    """Load one PKCS#10 request from PEM or DER, refusing anything else in one sentence."""
    items = split_pem_or_der(data)
    csrs = [der for kind, der in items if kind == "csr"]
    if len(csrs) != 1 or len(items) != 1:
        raise InvalidInput("parse.expected_one_csr", "Expected exactly one certificate signing request.")
    return _load_der_csr(csrs[0])


def _load_der_certificate(der: bytes) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except _DECODE_ERRORS as exc:
        raise InvalidInput(
            "parse.bad_certificate", f"The certificate is malformed: {_reason(exc)}."
        ) from None


# What `cryptography` raises, lazily, for a certificate it loaded but cannot fully decode.
_DECODE_ERRORS = (
    ValueError,
    TypeError,
    UnsupportedAlgorithm,
    x509.InvalidVersion,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)


def certificate_fields(cert: x509.Certificate) -> SmkiFields:
    """Read the SMKI fields of a certificate (InvalidInput when a part of it cannot be decoded)."""
    try:
        return _certificate_fields(cert)
    except _DECODE_ERRORS as exc:
        raise InvalidInput(
            "parse.bad_certificate", f"The certificate cannot be decoded: {_reason(exc)}."
        ) from None


def csr_fields(csr: x509.CertificateSigningRequest) -> SmkiFields:
    """Read the SMKI fields of a CSR, its requested extensions included (InvalidInput when undecodable)."""
    try:
        return _csr_fields(csr)
    except _DECODE_ERRORS as exc:
        raise InvalidInput("parse.bad_csr", f"The request cannot be decoded: {_reason(exc)}.") from None


def _reason(exc: Exception) -> str:
    return str(exc).rstrip(".") or type(exc).__name__


def _certificate_fields(cert: x509.Certificate) -> SmkiFields:
    try:
        exts = list(cert.extensions)
    except ValueError as exc:
        raise InvalidInput(
            "parse.bad_extension", f"The certificate has an extension that cannot be decoded: {exc}."
        ) from None
    try:
        public_key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InvalidInput("parse.bad_public_key", f"The public key cannot be read: {exc}.") from None
    return _fields(
        is_csr=False,
        der=cert.public_bytes(_DER),
        subject=cert.subject,
        issuer=cert.issuer,
        serial=cert.serial_number,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        public_key=public_key,
        extensions=exts,
    )


def _csr_fields(csr: x509.CertificateSigningRequest) -> SmkiFields:
    try:
        exts = list(csr.extensions)
    except ValueError as exc:
        raise InvalidInput(
            "parse.bad_extension", f"The request has an extension that cannot be decoded: {exc}."
        ) from None
    try:
        public_key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InvalidInput("parse.bad_public_key", f"The public key cannot be read: {exc}.") from None
    return _fields(
        is_csr=True,
        der=csr.public_bytes(_DER),
        subject=csr.subject,
        issuer=None,
        serial=None,
        not_before=None,
        not_after=None,
        public_key=public_key,
        extensions=exts,
    )


def decode_hardware_module_name(der: bytes) -> HardwareModuleName:
    """Decode RFC 4108 HardwareModuleName DER (SEQUENCE { OID, OCTET STRING })."""
    from smki.profiles import der as d

    try:
        body, rest = d.read_tlv(der, d.TAG_SEQUENCE)
        if rest:
            raise ValueError("trailing bytes after HardwareModuleName")
        oid_body, body = d.read_tlv(body, d.TAG_OID)
        serial, body = d.read_tlv(body, d.TAG_OCTET_STRING)
        if body:
            raise ValueError("trailing bytes inside HardwareModuleName")
        return HardwareModuleName(d.decode_oid(oid_body), serial)
    except ValueError as exc:
        raise InvalidInput(
            "parse.bad_hardware_module_name", f"The hardwareModuleName is malformed: {exc}."
        ) from None


def _fields(
    *,
    is_csr: bool,
    der: bytes,
    subject: x509.Name,
    issuer: x509.Name | None,
    serial: int | None,
    not_before: datetime | None,
    not_after: datetime | None,
    public_key: CertificatePublicKeyTypes,
    extensions: list[x509.Extension[x509.ExtensionType]],
) -> SmkiFields:
    by_oid = {e.oid.dotted_string: e for e in extensions}
    usage, bits = _key_usage(by_oid.get(ExtensionOID.KEY_USAGE.dotted_string))
    role_ou = _single_text(subject, NameOID.ORGANIZATIONAL_UNIT_NAME)
    role = _role(role_ou)
    entity = _entity_from_subject(subject)
    hmns = _hardware_module_names(by_oid.get(ExtensionOID.SUBJECT_ALTERNATIVE_NAME.dotted_string))
    if entity is None and len(hmns) == 1 and len(hmns[0].hw_serial_num) == 8:
        entity = EntityId(hmns[0].hw_serial_num)
    ski_ext = by_oid.get(ExtensionOID.SUBJECT_KEY_IDENTIFIER.dotted_string)
    aki_ext = by_oid.get(ExtensionOID.AUTHORITY_KEY_IDENTIFIER.dotted_string)
    cp_ext = by_oid.get(ExtensionOID.CERTIFICATE_POLICIES.dotted_string)
    bc_ext = by_oid.get(ExtensionOID.BASIC_CONSTRAINTS.dotted_string)
    ski = ski_ext.value.digest if ski_ext and isinstance(ski_ext.value, x509.SubjectKeyIdentifier) else None
    aki = (
        aki_ext.value.key_identifier
        if aki_ext and isinstance(aki_ext.value, x509.AuthorityKeyIdentifier)
        else None
    )
    policies: tuple[str, ...] = ()
    if cp_ext and isinstance(cp_ext.value, x509.CertificatePolicies):
        policies = tuple(p.policy_identifier.dotted_string for p in cp_ext.value)
    is_ca = bool(bc_ext and isinstance(bc_ext.value, x509.BasicConstraints) and bc_ext.value.ca)
    path_len = (
        bc_ext.value.path_length if bc_ext and isinstance(bc_ext.value, x509.BasicConstraints) else None
    )
    return SmkiFields(
        is_csr=is_csr,
        der=der,
        subject_der=subject.public_bytes(),
        issuer_der=issuer.public_bytes() if issuer is not None else None,
        serial_number=serial,
        not_before=not_before,
        not_after=not_after,
        public_key=public_key,
        key_usage=usage,
        key_usage_bits=bits,
        role=role,
        role_ou=role_ou,
        entity_id=entity,
        common_name=_single_text(subject, NameOID.COMMON_NAME),
        issuer_common_name=_single_text(issuer, NameOID.COMMON_NAME) if issuer is not None else None,
        issuer_role=_role(_single_text(issuer, NameOID.ORGANIZATIONAL_UNIT_NAME)) if issuer else None,
        subject_key_identifier=ski,
        authority_key_identifier=aki,
        policy_oids=policies,
        hardware_module_names=hmns,
        is_ca=is_ca,
        path_length=path_len,
        extension_oids=tuple(e.oid.dotted_string for e in extensions),
    )


_KU_ATTRS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)


def _key_usage(ext: x509.Extension[x509.ExtensionType] | None) -> tuple[KeyUsage | None, tuple[str, ...]]:
    if ext is None or not isinstance(ext.value, x509.KeyUsage):
        return None, ()
    ku = ext.value
    bits = [a for a in _KU_ATTRS if getattr(ku, a)]
    if ku.key_agreement:
        bits += [a for a in ("encipher_only", "decipher_only") if getattr(ku, a)]
    usage = None
    if bits == ["digital_signature"]:
        usage = KeyUsage.DIGITAL_SIGNATURE
    elif bits == ["key_agreement"]:
        usage = KeyUsage.KEY_AGREEMENT
    elif bits == ["key_cert_sign", "crl_sign"]:
        usage = KeyUsage.CERT_SIGN
    return usage, tuple(bits)


def _single_text(name: x509.Name | None, oid: x509.ObjectIdentifier) -> str | None:
    if name is None:
        return None
    attrs = name.get_attributes_for_oid(oid)
    if len(attrs) != 1 or not isinstance(attrs[0].value, str):
        return None
    return attrs[0].value


def _role(ou: str | None) -> RemotePartyRole | None:
    if ou is None:
        return None
    try:
        return RemotePartyRole.from_ou(ou)
    except InvalidInput:
        return None


def _entity_from_subject(subject: x509.Name) -> EntityId | None:
    attrs = subject.get_attributes_for_oid(x509.ObjectIdentifier(X500_UNIQUE_IDENTIFIER_OID))
    if len(attrs) != 1 or not isinstance(attrs[0].value, bytes):
        return None
    raw = attrs[0].value  # BIT STRING content: unused-bits octet, then the bits
    if len(raw) == 9 and raw[0] == 0:
        return EntityId(raw[1:])
    return None


def _hardware_module_names(
    ext: x509.Extension[x509.ExtensionType] | None,
) -> tuple[HardwareModuleName, ...]:
    if ext is None or not isinstance(ext.value, x509.SubjectAlternativeName):
        return ()
    out: list[HardwareModuleName] = []
    for gn in ext.value:
        if isinstance(gn, x509.OtherName) and gn.type_id.dotted_string == HARDWARE_MODULE_NAME_OID:
            try:
                out.append(decode_hardware_module_name(gn.value))
            except InvalidInput:
                continue
    return tuple(out)


from cryptography.hazmat.primitives.serialization import Encoding  # noqa: E402

_DER = Encoding.DER

# --- Tolerant reading: the raw ASN.1 structure, as found -------------------------------------------------
#
# Conformance checking needs what `cryptography` hides (string types, attribute and extension order,
# explicit defaults, time encodings, NULL parameters), and must survive certificates that `cryptography`
# refuses. This small reader walks DER and keeps every element's bytes.

ECDSA_WITH_SHA256_OID = "1.2.840.10045.4.3.2"
EC_PUBLIC_KEY_OID = "1.2.840.10045.2.1"
PRIME256V1_OID = "1.2.840.10045.3.1.7"
EXTENSION_REQUEST_OID = "1.2.840.113549.1.9.14"

TAG_BOOLEAN = 0x01
TAG_INTEGER = 0x02
TAG_BIT_STRING = 0x03
TAG_OCTET_STRING = 0x04
TAG_NULL = 0x05
TAG_OID = 0x06
TAG_UTF8_STRING = 0x0C
TAG_PRINTABLE_STRING = 0x13
TAG_IA5_STRING = 0x16
TAG_UTC_TIME = 0x17
TAG_GENERALIZED_TIME = 0x18
TAG_BMP_STRING = 0x1E
TAG_SEQUENCE = 0x30
TAG_SET = 0x31

TAG_NAMES = {
    TAG_UTF8_STRING: "UTF8String",
    TAG_PRINTABLE_STRING: "PrintableString",
    TAG_IA5_STRING: "IA5String",
    0x14: "TeletexString",
    0x1C: "UniversalString",
    TAG_BMP_STRING: "BMPString",
    TAG_BIT_STRING: "BIT STRING",
    TAG_OCTET_STRING: "OCTET STRING",
    TAG_UTC_TIME: "UTCTime",
    TAG_GENERALIZED_TIME: "GeneralizedTime",
}

_NULL_PARAMS = bytes([TAG_NULL, 0])
_ECDSA_SHA256_ALG = ECDSA_WITH_SHA256_ALGORITHM


@dataclass(frozen=True, slots=True)
class Tlv:
    """One DER element: its tag, its content octets and its whole encoding."""

    tag: int
    content: bytes
    encoded: bytes


def read_element(data: bytes, offset: int = 0) -> tuple[Tlv, int]:
    """Read the DER element at ``offset``; return it and the offset after it. Raises ValueError."""
    if offset + 2 > len(data):
        raise ValueError("truncated element")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise ValueError("multi-byte tags are not used in X.509")
    first = data[offset + 1]
    pos = offset + 2
    if first < 0x80:
        length = first
    elif first == 0x80:
        raise ValueError("indefinite length is not DER")
    else:
        count = first & 0x7F
        if count > 4 or pos + count > len(data):
            raise ValueError("bad length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise ValueError("truncated element")
    return Tlv(tag, data[pos : pos + length], data[offset : pos + length]), pos + length


def read_children(tlv: Tlv) -> list[Tlv]:
    """The elements inside a constructed element. Raises ValueError."""
    if not tlv.tag & 0x20:
        raise ValueError("primitive element has no children")
    out: list[Tlv] = []
    pos = 0
    while pos < len(tlv.content):
        child, pos = read_element(tlv.content, pos)
        out.append(child)
    return out


def _encode(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(body)]) + body + content


def _oid(tlv: Tlv) -> str:
    from smki.profiles import der as d

    if tlv.tag != TAG_OID:
        raise ValueError("expected an OBJECT IDENTIFIER")
    return d.decode_oid(tlv.content)


@dataclass(frozen=True, slots=True)
class RawAlgorithm:
    """An AlgorithmIdentifier as found: OID and the parameters' encoding (None when absent)."""

    oid: str
    parameters: bytes | None


@dataclass(frozen=True, slots=True)
class NameAttribute:
    """One AttributeTypeAndValue of a Name: OID, the ASN.1 tag of its value, and the value octets."""

    oid: str
    tag: int
    value: bytes

    @property
    def tag_name(self) -> str:
        """The ASN.1 type of the value (``PrintableString``, ``UTF8String``, ``BIT STRING`` ...)."""
        return TAG_NAMES.get(self.tag, f"tag 0x{self.tag:02X}")

    @property
    def text(self) -> str:
        """The value as text where it is a string type (BIT STRINGs and others as hex)."""
        if self.tag in (TAG_UTF8_STRING, TAG_PRINTABLE_STRING, TAG_IA5_STRING):
            return self.value.decode("utf-8", errors="replace")
        if self.tag == TAG_BMP_STRING:
            return self.value.decode("utf-16-be", errors="replace")
        return "#" + self.value.hex().upper()


@dataclass(frozen=True, slots=True)
class RawName:
    """A Name as found: its encoding and its RDNs in order (each a tuple of attributes)."""

    encoded: bytes
    rdns: tuple[tuple[NameAttribute, ...], ...]

    @property
    def attributes(self) -> tuple[NameAttribute, ...]:
        """All attributes, in order."""
        return tuple(a for rdn in self.rdns for a in rdn)

    def rfc4514(self) -> str:
        """A short human form, most significant first as written: ``OU=07, CN=Z1``."""
        short = {
            "2.5.4.3": "CN",
            "2.5.4.11": "OU",
            "2.5.4.10": "O",
            "2.5.4.6": "C",
            "2.5.4.45": "x500UniqueIdentifier",
        }
        if not self.rdns:
            return "(empty)"
        return ", ".join("+".join(f"{short.get(a.oid, a.oid)}={a.text}" for a in rdn) for rdn in self.rdns)


@dataclass(frozen=True, slots=True)
class RawTime:
    """A Time as found: UTCTime or GeneralizedTime, and its text."""

    tag: int
    text: str

    @property
    def tag_name(self) -> str:
        """``UTCTime`` or ``GeneralizedTime``."""
        return TAG_NAMES.get(self.tag, f"tag 0x{self.tag:02X}")


@dataclass(frozen=True, slots=True)
class RawExtension:
    """One extension as found; ``critical_encoded`` is True when the BOOLEAN was written out."""

    oid: str
    critical: bool
    critical_encoded: bool
    value: bytes


@dataclass(frozen=True, slots=True)
class RawStructure:
    """A certificate or PKCS#10 request as its DER says it, without interpretation.

    For a CSR, ``extensions`` are those of the extensionRequest attribute and ``attributes`` lists every
    attribute's OID with the number of values it holds.
    """

    is_csr: bool
    version: int
    serial: bytes | None
    inner_algorithm: RawAlgorithm | None
    issuer: RawName | None
    not_before: RawTime | None
    not_after: RawTime | None
    subject: RawName
    key_algorithm: RawAlgorithm
    public_key_bits: bytes
    has_unique_ids: bool
    extensions: tuple[RawExtension, ...]
    attributes: tuple[tuple[str, int], ...]
    outer_algorithm: RawAlgorithm
    signature_bits: bytes
    signed_bytes: bytes


def raw_structure(der: bytes) -> RawStructure:
    """Walk a DER certificate or CSR; raise InvalidInput (``parse.structure``) when it is not one."""
    kind = detect_kind(der)
    if kind is None:
        raise InvalidInput(
            "parse.structure", "The data is not the ASN.1 structure of a certificate or request."
        )
    try:
        return _raw_csr(der) if kind == "csr" else _raw_certificate(der)
    except (ValueError, IndexError) as exc:
        raise InvalidInput("parse.structure", f"The ASN.1 structure is malformed: {exc}.") from None


def _top(der: bytes) -> tuple[Tlv, list[Tlv], RawAlgorithm, bytes]:
    outer, _ = read_element(der)
    signed, alg, sig = read_children(outer)
    if sig.tag != TAG_BIT_STRING:
        raise ValueError("the signature is not a BIT STRING")
    return signed, read_children(signed), _algorithm(alg), sig.content


def _algorithm(tlv: Tlv) -> RawAlgorithm:
    if tlv.tag != TAG_SEQUENCE:
        raise ValueError("an AlgorithmIdentifier is not a SEQUENCE")
    parts = read_children(tlv)
    if not 1 <= len(parts) <= 2:
        raise ValueError("an AlgorithmIdentifier has the wrong number of elements")
    return RawAlgorithm(_oid(parts[0]), parts[1].encoded if len(parts) == 2 else None)


def _name(tlv: Tlv) -> RawName:
    if tlv.tag != TAG_SEQUENCE:
        raise ValueError("a Name is not a SEQUENCE")
    rdns: list[tuple[NameAttribute, ...]] = []
    for rdn in read_children(tlv):
        if rdn.tag != TAG_SET:
            raise ValueError("an RDN is not a SET")
        attrs: list[NameAttribute] = []
        for atv in read_children(rdn):
            parts = read_children(atv)
            if atv.tag != TAG_SEQUENCE or len(parts) != 2:
                raise ValueError("an attribute is not a SEQUENCE of type and value")
            attrs.append(NameAttribute(_oid(parts[0]), parts[1].tag, parts[1].content))
        if not attrs:
            raise ValueError("an RDN is empty")
        rdns.append(tuple(attrs))
    return RawName(tlv.encoded, tuple(rdns))


def _time(tlv: Tlv) -> RawTime:
    if tlv.tag not in (TAG_UTC_TIME, TAG_GENERALIZED_TIME):
        raise ValueError("a validity time is neither UTCTime nor GeneralizedTime")
    return RawTime(tlv.tag, tlv.content.decode("ascii", errors="replace"))


def _extensions(tlv: Tlv) -> tuple[RawExtension, ...]:
    out: list[RawExtension] = []
    for ext in read_children(tlv):
        parts = read_children(ext)
        if ext.tag != TAG_SEQUENCE or len(parts) not in (2, 3):
            raise ValueError("an extension is not a SEQUENCE of 2 or 3 elements")
        critical, encoded = False, False
        if len(parts) == 3:
            if parts[1].tag != TAG_BOOLEAN or len(parts[1].content) != 1:
                raise ValueError("an extension's critical flag is not a BOOLEAN")
            critical, encoded = parts[1].content != b"\x00", True
        if parts[-1].tag != TAG_OCTET_STRING:
            raise ValueError("an extension value is not an OCTET STRING")
        out.append(RawExtension(_oid(parts[0]), critical, encoded, parts[-1].content))
    return tuple(out)


def _spki(tlv: Tlv) -> tuple[RawAlgorithm, bytes]:
    parts = read_children(tlv)
    if tlv.tag != TAG_SEQUENCE or len(parts) != 2 or parts[1].tag != TAG_BIT_STRING:
        raise ValueError("the SubjectPublicKeyInfo is malformed")
    return _algorithm(parts[0]), parts[1].content


def _integer(tlv: Tlv) -> int:
    if tlv.tag != TAG_INTEGER or not tlv.content:
        raise ValueError("expected an INTEGER")
    return int.from_bytes(tlv.content, "big", signed=True)


def _raw_certificate(der: bytes) -> RawStructure:
    signed, body, outer_alg, sig = _top(der)
    version = 0
    if body[0].tag == 0xA0:
        (inner,) = read_children(body[0])
        version = _integer(inner)
        body = body[1:]
    serial, alg, issuer, validity, subject, spki, *rest = body
    if serial.tag != TAG_INTEGER:
        raise ValueError("the serial number is not an INTEGER")
    times = read_children(validity)
    if validity.tag != TAG_SEQUENCE or len(times) != 2:
        raise ValueError("the validity is not a SEQUENCE of two times")
    key_alg, key_bits = _spki(spki)
    exts: tuple[RawExtension, ...] = ()
    unique_ids = False
    for item in rest:
        if item.tag in (0x81, 0x82, 0xA1, 0xA2):
            unique_ids = True
        elif item.tag == 0xA3:
            (seq,) = read_children(item)
            exts = _extensions(seq)
        else:
            raise ValueError(f"unexpected element 0x{item.tag:02X} in the TBSCertificate")
    return RawStructure(
        is_csr=False,
        version=version,
        serial=serial.content,
        inner_algorithm=_algorithm(alg),
        issuer=_name(issuer),
        not_before=_time(times[0]),
        not_after=_time(times[1]),
        subject=_name(subject),
        key_algorithm=key_alg,
        public_key_bits=key_bits,
        has_unique_ids=unique_ids,
        extensions=exts,
        attributes=(),
        outer_algorithm=outer_alg,
        signature_bits=sig,
        signed_bytes=signed.encoded,
    )


def _raw_csr(der: bytes) -> RawStructure:
    signed, body, outer_alg, sig = _top(der)
    version, subject, spki, attrs_tlv = body
    key_alg, key_bits = _spki(spki)
    attributes: list[tuple[str, int]] = []
    exts: tuple[RawExtension, ...] = ()
    for attr in read_children(attrs_tlv):
        oid_tlv, values = read_children(attr)
        oid = _oid(oid_tlv)
        items = read_children(values)
        attributes.append((oid, len(items)))
        if oid == EXTENSION_REQUEST_OID and len(items) == 1:
            exts = _extensions(items[0])
    return RawStructure(
        is_csr=True,
        version=_integer(version),
        serial=None,
        inner_algorithm=None,
        issuer=None,
        not_before=None,
        not_after=None,
        subject=_name(subject),
        key_algorithm=key_alg,
        public_key_bits=key_bits,
        has_unique_ids=False,
        extensions=exts,
        attributes=tuple(attributes),
        outer_algorithm=outer_alg,
        signature_bits=sig,
        signed_bytes=signed.encoded,
    )


def without_null_signature_parameters(der: bytes) -> bytes | None:
    """The certificate re-encoded with ecdsa-with-SHA256 NULL parameters removed, or None if it has none.

    RFC 5758 3.2 says the parameters MUST be absent; Java-made test certificates (issuer Z99) write
    NULL, which `cryptography` refuses. Only the two AlgorithmIdentifiers change: the signed bytes, and
    so the signature check, must use the original (see ``RawStructure.signed_bytes``).
    """
    null_alg = _encode(TAG_SEQUENCE, _ECDSA_SHA256_ALG[2:] + _NULL_PARAMS)
    try:
        outer, _ = read_element(der)
        signed, alg, sig = read_children(outer)
        body = read_children(signed)
    except ValueError:
        return None
    index = 1 if body and body[0].tag == 0xA0 else 0
    if index + 1 >= len(body):
        return None
    inner = body[index + 1]
    if inner.encoded != null_alg and alg.encoded != null_alg:
        return None
    parts = [c.encoded for c in body]
    if inner.encoded == null_alg:
        parts[index + 1] = _ECDSA_SHA256_ALG
    new_signed = _encode(TAG_SEQUENCE, b"".join(parts))
    new_alg = _ECDSA_SHA256_ALG if alg.encoded == null_alg else alg.encoded
    return _encode(TAG_SEQUENCE, new_signed + new_alg + sig.encoded)


# --- From file content to parsed items ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedItem:
    """One certificate or CSR read tolerantly: its SMKI fields and the `cryptography` object."""

    kind: Literal["certificate", "csr"]
    fields: SmkiFields
    certificate: x509.Certificate | None
    csr: x509.CertificateSigningRequest | None

    @property
    def normalised(self) -> bool:
        """True when the bytes had to be normalised before they could be read (see SmkiFields)."""
        return self.fields.original_der is not None


def parse_item(kind: str, der: bytes) -> ParsedItem:
    """Read one DER item of the given kind, tolerating NULL signature parameters; InvalidInput otherwise."""
    # A non-positive serial only warns in `cryptography`; lint reports it as serial.negative.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return _parse_item(kind, der)


def _parse_item(kind: str, der: bytes) -> ParsedItem:
    if kind == "csr":
        csr = _load_der_csr(der)
        return ParsedItem("csr", csr_fields(csr), None, csr)
    try:
        cert = x509.load_der_x509_certificate(der)
    except _DECODE_ERRORS as exc:
        normalised = without_null_signature_parameters(der)
        if normalised is None:
            raise InvalidInput(
                "parse.bad_certificate", f"The certificate is malformed: {_reason(exc)}."
            ) from None
        cert = _load_der_certificate(normalised)
        fields = certificate_fields(cert)
        return ParsedItem("certificate", _with_original(fields, der), cert, None)
    return ParsedItem("certificate", certificate_fields(cert), cert, None)


def parse_items(data: bytes) -> list[ParsedItem]:
    """Read every certificate and CSR in PEM or DER file content (see ``split_pem_or_der``)."""
    return [parse_item(kind, der) for kind, der in split_pem_or_der(data)]


def _with_original(fields: SmkiFields, original: bytes) -> SmkiFields:
    from dataclasses import replace

    return replace(fields, original_der=original)


def _load_der_csr(der: bytes) -> x509.CertificateSigningRequest:
    try:
        return x509.load_der_x509_csr(der)
    except _DECODE_ERRORS as exc:
        raise InvalidInput(
            "parse.bad_csr", f"The certificate signing request is malformed: {_reason(exc)}."
        ) from None
