"""Certificate Signing Requests: parsing, proof of possession, conformance to the profile, and L11.4-L11.4B.

A CSR becomes ``CsrFacts`` (what it asks for) or a refusal naming the failed check. The checks are the
lint rules (``profiles.lint`` with ``profiles.lint_rules``): the RA refuses a request with the code of the
first error ``smki lint`` reports for it, and the clause ``lint_rules.refusal_clause`` gives, so the two
cannot disagree. Only what lint cannot know is checked here: the kind the requester asked for
(``csr.wrong_kind``) and, in ``check_duplicate_key``, the L11.4 duplicate-key rule. Pure: the RA supplies
what the repository knows (is this key already certified in the family?) and any PMA approval.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
from dataclasses import dataclass

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
from smki.profiles.environment import PkiEnvironment
from smki.profiles.lint import LintReport, lint
from smki.profiles.lint_rules import POSSESSION_CLAUSE, PROFILE_CLAUSE, Severity, refusal_clause
from smki.profiles.parse import csr_fields, load_csr

__all__ = [
    "KEY_REUSE_ROLES",
    "POSSESSION_CLAUSE",
    "PROFILE_CLAUSE",
    "CsrFacts",
    "DeviceCsrTemplates",
    "KeyDecision",
    "check_duplicate_key",
    "public_key_sha256",
    "read_csr",
    "refusal_for",
]


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

    The checks are ``profiles.lint``'s: a request lint reports an error for is refused (PolicyRefusal) with
    the code of the first error and its clause (``refusal_for``). The kind is lint's reading of the
    subject: empty for a Device Certificate, an OU (Remote Party Role) for an Organisation Certificate, an
    x500UniqueIdentifier without OU (or ``expected_kind`` IKI) for an IKI Certificate.

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
    if expected_kind is not None and expected_kind not in PROFILE_CLAUSE:
        raise InvalidInput(
            "csr.kind_not_requestable",
            f"A {expected_kind.title} is made by the key ceremony, not on request.",
        )
    fields = csr_fields(load_csr(data))
    report = lint(fields, env, requested_kind=expected_kind)
    kind = report.kind
    if kind is not None and expected_kind is not None and kind is not expected_kind:
        raise PolicyRefusal(
            "csr.wrong_kind",
            f"The request has the shape of a {kind.title} request, not of a {expected_kind.title} request.",
            PROFILE_CLAUSE[expected_kind],
        )
    refusal = refusal_for(report, expected_kind)
    if refusal is not None:
        raise refusal
    # lint found no error, so the kind is known, the key is an uncompressed P-256 point, the key usage is
    # DS or KA and the subject names the entity (and, for Organisation requests, the role).
    assert kind is not None and report.key_usage is not None and report.entity_id is not None
    public_key = fields.public_key
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    device = kind is CertificateKind.DEVICE
    return CsrFacts(
        kind,
        fields.der,
        public_key,
        spki,
        hashlib.sha256(spki).hexdigest(),
        report.key_usage,
        report.entity_id,
        None if device else report.role,
        None if device else fields.common_name,
    )


def refusal_for(report: LintReport, expected_kind: CertificateKind | None = None) -> PolicyRefusal | None:
    """The RA's refusal of a request lint reported on: its first error, with that rule's clause; else None.

    This is the one place a CSR check becomes a refusal, so the RA's code is the one ``smki lint`` shows.
    """
    first = next((f for f in report.findings if f.severity is Severity.ERROR), None)
    if first is None:
        return None
    return PolicyRefusal(first.code, first.message, refusal_clause(first.code, report.kind or expected_kind))


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
    passes every lint rule the full reading applies (they depend on nothing else); what is left to check
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
