"""Certificate Signing Requests: parsing, proof of possession, conformance to the profile, and L11.4-L11.4B.

A CSR becomes ``CsrFacts`` (what it asks for) or a refusal naming the failed check. Pure: the RA supplies
what the repository knows (is this key already certified in the family?) and any PMA approval.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from smki.model import CertificateKind, EntityId, InvalidInput, KeyUsage, PolicyRefusal, RemotePartyRole
from smki.profiles.der import (
    ECDSA_WITH_SHA256_ALGORITHM,
    P256_SPKI_HEADER,
    TAG_BIT_STRING,
    TAG_SEQUENCE,
    read_tlv,
)
from smki.profiles.environment import HARDWARE_MODULE_NAME_OID, X500_UNIQUE_IDENTIFIER_OID, PkiEnvironment
from smki.profiles.parse import (
    HardwareModuleName,
    RawStructure,
    csr_fields,
    load_csr,
    raw_structure,
    read_children,
    read_element,
)

ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2"
ID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
COMMON_NAME = "2.5.4.3"
ORGANIZATIONAL_UNIT_NAME = "2.5.4.11"
KEY_USAGE = "2.5.29.15"
SUBJECT_ALT_NAME = "2.5.29.17"
EXTENSION_REQUEST = "1.2.840.113549.1.9.14"

# Where each policy's profile and proof-of-possession method sit (RFC 3647 layout of Appendices A-C).
PROFILE_CLAUSE = {
    CertificateKind.DEVICE: "Appendix A Annex B",
    CertificateKind.ORGANISATION: "Appendix B Annex B",
    CertificateKind.IKI: "IKI Certificate Policy",
}
POSSESSION_CLAUSE = {
    CertificateKind.DEVICE: "Appendix A 3.2.1",
    CertificateKind.ORGANISATION: "Appendix B 3.2.1",
    CertificateKind.IKI: "IKI Certificate Policy 3.2.1",
}


@dataclass(frozen=True, slots=True)
class CsrFacts:
    """What a conforming CSR asks for."""

    kind: CertificateKind
    der: bytes
    public_key: ec.EllipticCurvePublicKey
    public_key_der: bytes  # SubjectPublicKeyInfo
    public_key_sha256: str  # hex SHA-256 of the SubjectPublicKeyInfo, as the repository indexes keys
    key_usage: KeyUsage
    entity_id: EntityId
    role: RemotePartyRole | None = None  # Organisation Certificates only
    common_name: str | None = None


def read_csr(
    data: bytes,
    env: PkiEnvironment,
    *,
    expected_kind: CertificateKind | None = None,
    templates: DeviceCsrTemplates | None = None,
) -> CsrFacts:
    """Parse a PEM or DER PKCS#10 request, verify its self-signature and check it against its profile.

    The kind is read from the subject: empty for a Device Certificate, an OU (Remote Party Role) for an
    Organisation Certificate, an x500UniqueIdentifier without OU for an IKI Certificate.

    With ``templates`` (a batch's cache), a Device request that is byte for byte an already accepted one
    save its key point, EUI-64 and signature is read without the full parse (see DeviceCsrTemplates);
    every other request, and every one the short path does not accept, is read in full.
    """
    if templates is not None and expected_kind in (None, CertificateKind.DEVICE):
        quick = templates.read(data, env)
        if quick is not None:
            return quick
        facts = _read_csr(data, env, expected_kind)
        if facts.kind is CertificateKind.DEVICE:
            templates.learn(facts, env)
        return facts
    return _read_csr(data, env, expected_kind)


def _read_csr(data: bytes, env: PkiEnvironment, expected_kind: CertificateKind | None) -> CsrFacts:
    csr = load_csr(data)
    der = csr.public_bytes(serialization.Encoding.DER)
    raw = raw_structure(der)
    kind = _classify(raw, expected_kind)
    public_key = _check_key_and_possession(csr, raw, kind)
    fields = csr_fields(csr)
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    usage = _check_extensions(raw, kind, env)
    if kind is CertificateKind.DEVICE:
        entity = _device_entity(raw, fields.hardware_module_names, env)
        return CsrFacts(kind, der, public_key, spki, hashlib.sha256(spki).hexdigest(), usage, entity)
    entity, role, common_name = _check_subject(raw, kind)
    return CsrFacts(
        kind, der, public_key, spki, hashlib.sha256(spki).hexdigest(), usage, entity, role, common_name
    )


# A P-256 SubjectPublicKeyInfo up to the uncompressed point's 64 coordinate octets.
_P256_SPKI_PREFIX = P256_SPKI_HEADER + b"\x04"
_PEM_BEGIN = b"-----BEGIN CERTIFICATE REQUEST-----"
_PEM_END = b"-----END CERTIFICATE REQUEST-----"
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


@dataclass(frozen=True, slots=True)
class _CsrTemplate:
    head: bytes  # CertificationRequestInfo up to the point's coordinates
    middle: bytes  # from after the point to the hwSerialNum octets
    tail: bytes  # after the hwSerialNum
    length: int
    hw_type_oid: str
    key_usage: KeyUsage

    def split(self, info: bytes) -> tuple[bytes, bytes] | None:
        """(point coordinates, EUI-64) when ``info`` is this template with other values in those places."""
        if len(info) != self.length:
            return None
        p = len(self.head)
        e = p + 64 + len(self.middle)
        if info[:p] != self.head or info[p + 64 : e] != self.middle or info[e + 8 :] != self.tail:
            return None
        return info[p : p + 64], info[e : e + 8]


class DeviceCsrTemplates:
    """Device requests already read in full and found conforming, kept as templates (a batch's cache).

    Device CSRs of one maker differ only in the key point, the EUI-64 and the signature. A request whose
    CertificationRequestInfo is byte for byte a conforming one with another 64-octet point and another
    8-octet hwSerialNum, whose signature algorithm is ecdsa-with-SHA256 and whose DER is otherwise exact,
    passes every profile check the full reading makes (they depend on nothing else); what is left to check
    is that the point is on P-256 and that the signature verifies (proof of possession), which is done
    here. Anything else, including a failure of either check, goes to the full reading, which gives the
    refusal. See docs/decisions.md.
    """

    def __init__(self, limit: int = 8) -> None:
        self._templates: list[_CsrTemplate] = []
        self._limit = limit

    def read(self, data: bytes, env: PkiEnvironment) -> CsrFacts | None:
        """The request's facts when it matches a template and both checks pass; None otherwise."""
        if not self._templates:
            return None
        der = _pem_or_der(data)
        parts = _split_request(der) if der is not None else None
        if der is None or parts is None:
            return None
        info, signature = parts
        for template in self._templates:
            if template.hw_type_oid != env.hw_type_oid:
                continue
            values = template.split(info)
            if values is None:
                continue
            point, eui = values
            spki = _P256_SPKI_PREFIX + point
            try:
                key = serialization.load_der_public_key(spki)  # checks the point is on P-256
                if not isinstance(key, ec.EllipticCurvePublicKey):
                    return None
                key.verify(signature, info, _ECDSA_SHA256)
            except (ValueError, UnsupportedAlgorithm, InvalidSignature):
                return None
            return CsrFacts(
                CertificateKind.DEVICE,
                der,
                key,
                spki,
                hashlib.sha256(spki).hexdigest(),
                template.key_usage,
                EntityId(eui),
            )
        return None

    def learn(self, facts: CsrFacts, env: PkiEnvironment) -> None:
        """Keep a fully read, conforming Device request as a template (when its values are unambiguous)."""
        if facts.kind is not CertificateKind.DEVICE or len(self._templates) >= self._limit:
            return
        parts = _split_request(facts.der)
        spki = facts.public_key_der
        if (
            parts is None
            or not spki.startswith(_P256_SPKI_PREFIX)
            or len(spki) != len(_P256_SPKI_PREFIX) + 64
        ):
            return
        info = parts[0]
        point_at = info.find(spki)
        eui_at = info.find(b"\x04\x08" + facts.entity_id.value)
        if point_at < 0 or eui_at < 0 or info.find(spki, point_at + 1) >= 0:
            return
        if info.find(b"\x04\x08" + facts.entity_id.value, eui_at + 1) >= 0:
            return
        p = point_at + len(_P256_SPKI_PREFIX)
        e = eui_at + 2
        if e < p + 64:
            return
        template = _CsrTemplate(
            info[:p], info[p + 64 : e], info[e + 8 :], len(info), env.hw_type_oid, facts.key_usage
        )
        if (
            template.split(info) == (info[p : p + 64], facts.entity_id.value)
            and template not in self._templates
        ):
            self._templates.append(template)


def _pem_or_der(data: bytes) -> bytes | None:
    """The DER of a request given as DER or as exactly one plain PEM block (else None: read in full)."""
    if not data.startswith(_PEM_BEGIN):
        return data if data[:1] == b"\x30" else None
    end = data.find(_PEM_END)
    if end < 0 or data[end + len(_PEM_END) :].strip(b"\n") != b"":
        return None
    try:
        return base64.b64decode(data[len(_PEM_BEGIN) : end].replace(b"\n", b""), validate=True)
    except (binascii.Error, ValueError):
        return None


def _split_request(der: bytes) -> tuple[bytes, bytes] | None:
    """(CertificationRequestInfo, signature) of a DER request signed with ecdsa-with-SHA256, else None."""
    try:
        body, rest = read_tlv(der, TAG_SEQUENCE)
        if rest:
            return None
        _, after_info = read_tlv(body, TAG_SEQUENCE)
        info = body[: len(body) - len(after_info)]
        if not after_info.startswith(ECDSA_WITH_SHA256_ALGORITHM):
            return None
        bits, rest = read_tlv(after_info[len(ECDSA_WITH_SHA256_ALGORITHM) :], TAG_BIT_STRING)
    except ValueError:
        return None
    if rest or not bits or bits[0] != 0:
        return None
    return info, bits[1:]


def public_key_sha256(spki_der: bytes) -> str:
    """Hex SHA-256 of a SubjectPublicKeyInfo, the key's index in the repository."""
    return hashlib.sha256(spki_der).hexdigest()


def _refuse(kind: CertificateKind, code: str, message: str) -> PolicyRefusal:
    return PolicyRefusal(code, message, PROFILE_CLAUSE[kind])


def _classify(raw: RawStructure, expected: CertificateKind | None) -> CertificateKind:
    """Device requests have an empty subject; an OU marks an Organisation request unless IKI is asked for."""
    if not raw.is_csr:
        raise InvalidInput(
            "csr.not_a_request", "The data is a certificate, not a certificate signing request."
        )
    if expected is not None and expected not in PROFILE_CLAUSE:
        raise InvalidInput(
            "csr.kind_not_requestable", f"A {expected.title} is made by the key ceremony, not on request."
        )
    oids = [a.oid for a in raw.subject.attributes]
    if not oids:
        found = CertificateKind.DEVICE
    elif ORGANIZATIONAL_UNIT_NAME in oids and expected is not CertificateKind.IKI:
        found = CertificateKind.ORGANISATION
    elif X500_UNIQUE_IDENTIFIER_OID in oids:
        found = CertificateKind.IKI
    else:
        raise PolicyRefusal(
            "csr.unrecognised_subject",
            "The request's subject matches no SMKI profile: a Device request has an empty subject, an "
            "Organisation request an OU and an x500UniqueIdentifier.",
            PROFILE_CLAUSE[expected or CertificateKind.ORGANISATION],
        )
    if expected is not None and found is not expected:
        raise PolicyRefusal(
            "csr.wrong_kind",
            f"The request has the shape of a {found.title} request, not of a {expected.title} request.",
            PROFILE_CLAUSE[expected],
        )
    return found


def _check_key_and_possession(
    csr: x509.CertificateSigningRequest, raw: RawStructure, kind: CertificateKind
) -> ec.EllipticCurvePublicKey:
    if raw.version != 0:
        raise _refuse(kind, "csr.version", f"A PKCS#10 request has version 0, not {raw.version}.")
    if raw.key_algorithm.oid != ID_EC_PUBLIC_KEY:
        raise _refuse(
            kind, "csr.key_not_p256", "The request's public key is not an elliptic-curve key on P-256."
        )
    try:
        key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise _refuse(
            kind, "csr.key_not_p256", "The request's public key cannot be read as a P-256 point."
        ) from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise _refuse(
            kind, "csr.key_not_p256", "The request's public key is not an elliptic-curve key on P-256."
        )
    if raw.outer_algorithm.oid != ECDSA_WITH_SHA256:
        raise _refuse(kind, "csr.signature_algorithm", "The request is not signed with ecdsa-with-SHA256.")
    if not csr.is_signature_valid:
        raise PolicyRefusal(
            "csr.proof_of_possession",
            "The request's self-signature does not verify, so it does not prove possession of the "
            "private key.",
            POSSESSION_CLAUSE[kind],
        )
    return key


def _check_extensions(raw: RawStructure, kind: CertificateKind, env: PkiEnvironment) -> KeyUsage:
    other_attrs = [oid for oid, _ in raw.attributes if oid != EXTENSION_REQUEST]
    if other_attrs:
        raise _refuse(
            kind, "csr.unexpected_attribute", f"The request carries an unexpected attribute {other_attrs[0]}."
        )
    if any(count != 1 for oid, count in raw.attributes if oid == EXTENSION_REQUEST):
        raise _refuse(
            kind, "csr.extension_request", "The request's extensionRequest must hold exactly one value."
        )
    by_oid: dict[str, int] = {}
    for ext in raw.extensions:
        by_oid[ext.oid] = by_oid.get(ext.oid, 0) + 1
    wanted = {KEY_USAGE, SUBJECT_ALT_NAME} if kind is CertificateKind.DEVICE else {KEY_USAGE}
    for oid, count in by_oid.items():
        if oid not in wanted:
            raise _refuse(
                kind,
                "csr.unexpected_extension",
                f"The request asks for an extension ({oid}) its profile does not allow.",
            )
        if count != 1:
            raise _refuse(
                kind, "csr.duplicate_extension", f"The request asks for the extension {oid} more than once."
            )
    for oid in sorted(wanted - set(by_oid)):
        name = "keyUsage" if oid == KEY_USAGE else "subjectAltName"
        raise _refuse(kind, "csr.missing_extension", f"The request's extensionRequest must carry {name}.")
    if kind is CertificateKind.DEVICE:
        for ext in raw.extensions:
            if not ext.critical:
                name = "keyUsage" if ext.oid == KEY_USAGE else "subjectAltName"
                raise _refuse(
                    kind, "csr.extension_not_critical", f"A Device request's {name} must be critical."
                )
    return _key_usage(raw, kind)


def _key_usage(raw: RawStructure, kind: CertificateKind) -> KeyUsage:
    ext = next(e for e in raw.extensions if e.oid == KEY_USAGE)
    try:
        value = _decode_key_usage(ext.value)
    except ValueError:
        raise _refuse(kind, "csr.key_usage", "The request's keyUsage cannot be decoded.") from None
    if value == {"digital_signature"}:
        return KeyUsage.DIGITAL_SIGNATURE
    if value == {"key_agreement"} and kind is not CertificateKind.IKI:
        return KeyUsage.KEY_AGREEMENT
    allowed = "digitalSignature" if kind is CertificateKind.IKI else "digitalSignature or keyAgreement"
    raise _refuse(
        kind,
        "csr.key_usage",
        f"The request's keyUsage must be exactly one of {allowed}, "
        f"not {', '.join(sorted(value)) or 'nothing'}.",
    )


_KU_BITS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)


def _decode_key_usage(value: bytes) -> set[str]:
    """The keyUsage BIT STRING's set bits by name (RFC 5280 4.2.1.3)."""
    if len(value) < 3 or value[0] != 0x03 or value[1] != len(value) - 2:
        raise ValueError("keyUsage is not a short BIT STRING")
    unused, bits = value[2], value[3:]
    if unused > 7 or (not bits and unused):
        raise ValueError("bad unused-bits count")
    out: set[str] = set()
    for index, name in enumerate(_KU_BITS):
        byte, bit = divmod(index, 8)
        if byte < len(bits) and bits[byte] & (0x80 >> bit):
            out.add(name)
    if len(bits) * 8 - unused > len(_KU_BITS) and any(b for b in bits[2:]):
        out.add("unknown")
    return out


def _device_entity(raw: RawStructure, hmns: tuple[HardwareModuleName, ...], env: PkiEnvironment) -> EntityId:
    kind = CertificateKind.DEVICE
    san = next(e for e in raw.extensions if e.oid == SUBJECT_ALT_NAME)
    if len(hmns) != 1 or _general_name_count(san.value) != 1:
        raise _refuse(
            kind,
            "csr.device_san",
            "A Device request's subjectAltName must hold exactly one hardwareModuleName "
            f"({HARDWARE_MODULE_NAME_OID}) and nothing else.",
        )
    hmn = hmns[0]
    if hmn.hw_type != env.hw_type_oid:
        raise _refuse(
            kind,
            "csr.device_hw_type",
            f"The hardwareModuleName hwType {hmn.hw_type} is not this environment's {env.hw_type_oid}.",
        )
    if len(hmn.hw_serial_num) != 8:
        raise _refuse(
            kind,
            "csr.device_entity_id",
            "The hardwareModuleName hwSerialNum must be the Device's 8-octet EUI-64.",
        )
    return EntityId(hmn.hw_serial_num)


def _general_name_count(san_der: bytes) -> int:
    try:
        seq, _ = read_element(san_der)
        return len(read_children(seq))
    except (ValueError, IndexError):
        return 0


def _check_subject(
    raw: RawStructure, kind: CertificateKind
) -> tuple[EntityId, RemotePartyRole | None, str | None]:
    if any(len(rdn) != 1 for rdn in raw.subject.rdns):
        raise _refuse(
            kind, "csr.subject_multivalued", "Each part of the request's subject must be a single attribute."
        )
    allowed = {COMMON_NAME, X500_UNIQUE_IDENTIFIER_OID, ORGANIZATIONAL_UNIT_NAME}
    counts: dict[str, int] = {}
    for attr in raw.subject.attributes:
        if attr.oid not in allowed:
            raise _refuse(
                kind,
                "csr.subject_attribute",
                f"The request's subject carries an attribute ({attr.oid}) its profile does not allow.",
            )
        counts[attr.oid] = counts.get(attr.oid, 0) + 1
    if any(c != 1 for c in counts.values()):
        raise _refuse(kind, "csr.subject_repeated", "The request's subject repeats an attribute.")
    uid = next((a for a in raw.subject.attributes if a.oid == X500_UNIQUE_IDENTIFIER_OID), None)
    if uid is None or uid.tag != 0x03 or len(uid.value) != 9 or uid.value[0] != 0:
        raise _refuse(
            kind,
            "csr.subject_unique_id",
            "The request's subject must carry the subscriber's EUI-64 as a 64-bit x500UniqueIdentifier.",
        )
    entity = EntityId(uid.value[1:])
    role: RemotePartyRole | None = None
    ou = next((a for a in raw.subject.attributes if a.oid == ORGANIZATIONAL_UNIT_NAME), None)
    if ou is not None:  # always in an Organisation request; optional for IKI (the CA defaults to 'other')
        try:
            role = RemotePartyRole.from_ou(ou.text)
        except InvalidInput:
            raise _refuse(
                kind,
                "csr.subject_role",
                f"The request's OU '{ou.text}' is not a Remote Party Role in two hexadecimal digits.",
            ) from None
        if ou.text != role.ou:
            raise _refuse(
                kind,
                "csr.subject_role",
                f"The request's OU '{ou.text}' must be written in upper case as '{role.ou}'.",
            )
    cn = next((a for a in raw.subject.attributes if a.oid == COMMON_NAME), None)
    common_name = None
    if cn is not None:
        common_name = cn.text
        if not common_name.strip() or len(common_name) > 64:
            raise _refuse(
                kind, "csr.subject_common_name", "The request's common name must be 1 to 64 characters."
            )
    return entity, role, common_name


# ---------------------------------------------------------------------------------------------------
# L11.4-L11.4B duplicate public keys (as amended by MP261)
# ---------------------------------------------------------------------------------------------------

# L11.4B(b): the only Remote Party Roles for which an Organisation Certificate may reuse a key.
KEY_REUSE_ROLES = frozenset(
    {
        RemotePartyRole.RECOVERY,
        RemotePartyRole.TRANSITIONAL_COS,
        RemotePartyRole.WAN_PROVIDER,
        RemotePartyRole.ACCESS_CONTROL_BROKER,
    }
)

_FAMILY_CLAUSE = {
    CertificateKind.DEVICE: ("L11.4(a)", "Device Certificate or DCA Certificate"),
    CertificateKind.ROOT_DCA: ("L11.4(a)", "Device Certificate or DCA Certificate"),
    CertificateKind.ISSUING_DCA: ("L11.4(a)", "Device Certificate or DCA Certificate"),
    CertificateKind.ORGANISATION: ("L11.4(b)", "Organisation Certificate or OCA Certificate"),
    CertificateKind.ROOT_OCA: ("L11.4(b)", "Organisation Certificate or OCA Certificate"),
    CertificateKind.ISSUING_OCA: ("L11.4(b)", "Organisation Certificate or OCA Certificate"),
    CertificateKind.IKI: ("L11.4(c)", "IKI Certificate or ICA Certificate"),
    CertificateKind.ROOT_ICA: ("L11.4(c)", "IKI Certificate or ICA Certificate"),
    CertificateKind.ISSUING_ICA: ("L11.4(c)", "IKI Certificate or ICA Certificate"),
}


class KeyDecision(enum.Enum):
    """What the duplicate-key rule says about a request."""

    NEW_KEY = "new-key"  # the key is in no certificate of the family
    REUSE_NEEDS_PMA_APPROVAL = "reuse-needs-pma-approval"  # L11.4A: allowed with the L11.4B(a) approval
    ROOT_OCA_REUSE = "root-oca-reuse"  # L11.4(b) exception, as the Organisation Certificate Policy permits


def check_duplicate_key(
    kind: CertificateKind,
    *,
    key_in_family: bool,
    requester_is_dcc: bool,
    role: RemotePartyRole | None = None,
    root_oca_reuse_permitted: bool = False,
) -> KeyDecision:
    """Apply L11.4: refuse a key already certified in the same family, save the L11.4A/B and Root OCA cases.

    ``REUSE_NEEDS_PMA_APPROVAL`` tells the caller to require the SMKI PMA's approval (L11.4B(a)).
    """
    if not key_in_family:
        return KeyDecision.NEW_KEY
    clause, family = _FAMILY_CLAUSE[kind]
    if kind is CertificateKind.ROOT_OCA and root_oca_reuse_permitted:
        return KeyDecision.ROOT_OCA_REUSE
    if kind is CertificateKind.ORGANISATION and requester_is_dcc and role in KEY_REUSE_ROLES:
        return KeyDecision.REUSE_NEEDS_PMA_APPROVAL
    if kind is CertificateKind.ORGANISATION and requester_is_dcc:
        raise PolicyRefusal(
            "csr.duplicate_public_key",
            f"The public key is already in an Organisation Certificate, and the {role} role is not one for "
            "which the DCC may reuse a key (recovery, transitionalCoS, wanProvider, accessControlBroker).",
            "L11.4B(b)",
        )
    raise PolicyRefusal(
        "csr.duplicate_public_key",
        f"The public key is already contained in another {family}.",
        clause,
    )
