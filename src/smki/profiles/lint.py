"""The SMKI conformance checker: what kind of certificate or CSR an item is, and how it deviates.

``lint`` classifies an item (kind, role, EUI-64, key usage, issuer) and lists every deviation from the
profile of its kind as a ``Finding`` with a stable dotted code (catalogue: ``lint_rules.FINDING_TYPES``,
docs/lint-findings.md). It reads the DER as found (``parse.raw_structure``), so string types, attribute
and extension order, explicit defaults, time encodings and NULL parameters are all visible. It never
raises on a readable item: anything unusual becomes a finding. Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from smki.model import CertificateKind, EntityId, Hierarchy, InvalidInput, KeyUsage, RemotePartyRole
from smki.profiles import contingency
from smki.profiles import der as d
from smki.profiles.environment import HARDWARE_MODULE_NAME_OID, X500_UNIQUE_IDENTIFIER_OID, PkiEnvironment
from smki.profiles.lint_ecdsa import method2_key_identifier, signature_matches_key_identifier
from smki.profiles.lint_rules import FINDING_TYPES, Severity
from smki.profiles.parse import (
    EC_PUBLIC_KEY_OID,
    ECDSA_WITH_SHA256_OID,
    EXTENSION_REQUEST_OID,
    PRIME256V1_OID,
    TAG_BIT_STRING,
    TAG_GENERALIZED_TIME,
    TAG_INTEGER,
    TAG_OID,
    TAG_PRINTABLE_STRING,
    TAG_SEQUENCE,
    TAG_UTC_TIME,
    TAG_UTF8_STRING,
    NameAttribute,
    RawAlgorithm,
    RawExtension,
    RawName,
    RawStructure,
    SmkiFields,
    Tlv,
    certificate_fields,
    csr_fields,
    decode_hardware_module_name,
    parse_items,
    raw_structure,
    read_children,
    read_element,
)
from smki.profiles.validity import VALIDITY_RULES, add_years

CN = "2.5.4.3"
OU = "2.5.4.11"
KU = "2.5.29.15"
SKI = "2.5.29.14"
SAN = "2.5.29.17"
BC = "2.5.29.19"
CP = "2.5.29.32"
AKI = "2.5.29.35"

_EXT_NAMES = {
    KU: "keyUsage",
    SKI: "subjectKeyIdentifier",
    SAN: "subjectAltName",
    BC: "basicConstraints",
    CP: "certificatePolicies",
    AKI: "authorityKeyIdentifier",
}
# Criticality every profile gives these extensions (GBCS 12 rules 2, 3, 6, 7; notes §4.1, §5.1).
_CRITICAL = {KU: True, BC: True, CP: True, SAN: True, SKI: False, AKI: False}
_CRITICALITY_CODES = {
    KU: "ku.not_critical",
    BC: "bc.not_critical",
    CP: "cp.not_critical",
    SAN: "san.not_critical",
    SKI: "ski.critical",
    AKI: "aki.critical",
}
_MISSING_CODES = {
    KU: "ku.missing",
    SKI: "ski.missing",
    SAN: "san.missing",
    BC: "bc.missing",
    CP: "cp.missing",
    AKI: "aki.missing",
}
# Extension order per kind, as the genuine certificates show it (notes §12).
_END_ENTITY_EXTS = (KU, SKI, CP, AKI)
_DEVICE_EXTS = (KU, SKI, SAN, CP, AKI)
_ISSUING_CA_EXTS = (KU, BC, CP, SKI, AKI)
_ROOT_CA_EXTS = (KU, BC, CP, SKI)
_KU_ENCODING = {
    KeyUsage.DIGITAL_SIGNATURE: bytes.fromhex("03020780"),
    KeyUsage.KEY_AGREEMENT: bytes.fromhex("03020308"),
    KeyUsage.CERT_SIGN: bytes.fromhex("03020106"),
}
_DEVICE_NOT_AFTER = "99991231235959Z"
_GENERALIZED_FROM_YEAR = 2050
_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Finding:
    """One deviation: stable code, severity, one sentence, and the rule's source."""

    code: str
    severity: Severity
    message: str
    source: str | None

    def as_dict(self) -> dict[str, str | None]:
        """The JSON shape of a finding."""
        return {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class LintReport:
    """What an item is and how it deviates from its profile."""

    is_csr: bool
    kind: CertificateKind | None
    role: RemotePartyRole | None
    entity_id: EntityId | None
    key_usage: KeyUsage | None
    key_usage_bits: tuple[str, ...]
    subject: str
    issuer: str | None
    issuer_description: str | None
    serial_hex: str | None
    signature_checked: str
    findings: tuple[Finding, ...] = field(default=())

    @property
    def conforms(self) -> bool:
        """True when no finding is an ERROR (warnings need a decision lint cannot see)."""
        return not any(f.severity is Severity.ERROR for f in self.findings)

    @property
    def codes(self) -> tuple[str, ...]:
        """The finding codes, in the order found."""
        return tuple(f.code for f in self.findings)

    @property
    def kind_label(self) -> str:
        """The kind's title, with ``(request)`` for a CSR, or ``unknown``."""
        if self.kind is None:
            return "unknown certificate request" if self.is_csr else "unknown"
        if self.is_csr:
            return self.kind.title.replace("Certificate", "Certificate Signing Request")
        return self.kind.title

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of a report (``smki lint --json``)."""
        return {
            "type": "csr" if self.is_csr else "certificate",
            "kind": self.kind.value if self.kind else None,
            "kind_title": self.kind_label,
            "role": None
            if self.role is None
            else {"code": self.role.code, "name": self.role.name, "ou": self.role.ou},
            "entity_id": self.entity_id.dashed if self.entity_id else None,
            "key_usage": self.key_usage.value if self.key_usage else None,
            "key_usage_bits": list(self.key_usage_bits),
            "subject": self.subject,
            "issuer": self.issuer,
            "issuer_description": self.issuer_description,
            "serial": self.serial_hex,
            "signature_checked": self.signature_checked,
            "conforms": self.conforms,
            "findings": [f.as_dict() for f in self.findings],
        }


LintInput = SmkiFields | x509.Certificate | x509.CertificateSigningRequest | bytes


def lint(
    fields_or_cert: LintInput,
    env: PkiEnvironment,
    *,
    issuer: x509.Certificate | None = None,
    requested_kind: CertificateKind | None = None,
) -> LintReport:
    """Classify one certificate or CSR and list every deviation from its SMKI profile.

    Accepts SmkiFields (from ``parse``), a ``cryptography`` certificate or CSR, or PEM/DER bytes holding
    exactly one item. With ``issuer``, also checks the signature, the AKI against the issuer's SKI and the
    issuer name bytes; without it, a certificate's signature is checked against the key its AKI names
    (``lint_ecdsa``) and a Root's against its own key. Unreadable input raises InvalidInput.

    ``requested_kind`` (CSRs only) is the kind the requester asks for where the shape allows two: an IKI
    request with an OU has the organisation shape, and is checked as IKI only when asked for as IKI.
    """
    fields = _to_fields(fields_or_cert)
    raw = raw_structure(fields.found_der)
    return _Linter(fields, raw, env, issuer, requested_kind).run()


def lint_data(
    data: bytes, env: PkiEnvironment, *, issuer: x509.Certificate | None = None
) -> list[LintReport]:
    """Lint every certificate and CSR in PEM or DER file content (InvalidInput if any is unreadable)."""
    return [lint(item.fields, env, issuer=issuer) for item in parse_items(data)]


def classify(
    fields: SmkiFields, env: PkiEnvironment, *, requested_kind: CertificateKind | None = None
) -> CertificateKind | None:
    """The SMKI kind of an item from its structure and the environment's CA names and policy OIDs."""
    return _classify(fields, raw_structure(fields.found_der), env, requested_kind)


def _to_fields(item: LintInput) -> SmkiFields:
    if isinstance(item, SmkiFields):
        return item
    if isinstance(item, x509.Certificate):
        return certificate_fields(item)
    if isinstance(item, x509.CertificateSigningRequest):
        return csr_fields(item)
    if isinstance(item, bytes | bytearray):
        items = parse_items(bytes(item))
        if len(items) != 1:
            raise InvalidInput(
                "lint.expected_one_item",
                f"Expected exactly one certificate or request, found {len(items)}; use lint_data.",
            )
        return items[0].fields
    raise InvalidInput("lint.unsupported_input", f"Cannot lint a {type(item).__name__}.")


# --- classification -------------------------------------------------------------------------------------


def _policy_hierarchy(policies: tuple[str, ...], env: PkiEnvironment) -> Hierarchy | None:
    for oid in policies:
        if oid == env.organisation_policy_oid:
            return Hierarchy.ORGANISATION
        if oid == env.device_policy_oid:
            return Hierarchy.DEVICE
        if oid == env.iki_policy_oid:
            return Hierarchy.IKI
    return None


def _classify(
    f: SmkiFields, raw: RawStructure, env: PkiEnvironment, requested: CertificateKind | None = None
) -> CertificateKind | None:
    subject_oids = [a.oid for a in raw.subject.attributes]
    has_san = any(e.oid == SAN for e in raw.extensions)
    party_subject = OU in subject_oids or X500_UNIQUE_IDENTIFIER_OID in subject_oids
    if raw.is_csr:
        # A device request: no party subject, and a SAN or no subject at all (devices leave it empty).
        if not party_subject and (f.hardware_module_names or has_san or not subject_oids):
            return CertificateKind.DEVICE
        if not party_subject:
            return None  # a CA's request (cA TRUE) keeps its party shape: its basicConstraints is a finding
        # An IKI request has the organisation shape with the OU optional (docs/decisions.md): without an
        # OU it can only be IKI; with one, it is IKI when asked for as IKI.
        if requested is CertificateKind.IKI or OU not in subject_oids:
            return CertificateKind.IKI
        return CertificateKind.ORGANISATION
    hierarchy = _policy_hierarchy(f.policy_oids, env)
    if f.is_ca or "key_cert_sign" in f.key_usage_bits:
        cn, ou = f.common_name, f.role_ou
        if f.is_self_issued:
            roots = {
                env.root_oca_name: CertificateKind.ROOT_OCA,
                env.root_dca_name: CertificateKind.ROOT_DCA,
                env.root_ica_name: CertificateKind.ROOT_ICA,
            }
            if cn in roots:
                return roots[cn]
            if ou == RemotePartyRole.ROOT.ou:
                return CertificateKind.ROOT_OCA
            by_policy = {
                Hierarchy.ORGANISATION: CertificateKind.ROOT_OCA,
                Hierarchy.DEVICE: CertificateKind.ROOT_DCA,
                Hierarchy.IKI: CertificateKind.ROOT_ICA,
            }
            return by_policy.get(hierarchy) if hierarchy else None
        issuing = {
            env.issuing_oca_name: CertificateKind.ISSUING_OCA,
            env.issuing_dca_name: CertificateKind.ISSUING_DCA,
            env.issuing_ica_name: CertificateKind.ISSUING_ICA,
        }
        if cn in issuing:
            return issuing[cn]
        if ou == RemotePartyRole.ISSUING_AUTHORITY.ou:
            return CertificateKind.ISSUING_OCA
        by_policy = {
            Hierarchy.ORGANISATION: CertificateKind.ISSUING_OCA,
            Hierarchy.DEVICE: CertificateKind.ISSUING_DCA,
            Hierarchy.IKI: CertificateKind.ISSUING_ICA,
        }
        return by_policy.get(hierarchy) if hierarchy else None
    if not party_subject and (f.hardware_module_names or has_san):
        return CertificateKind.DEVICE
    if not subject_oids and f.issuer_common_name == env.issuing_dca_name:
        return CertificateKind.DEVICE
    if party_subject:
        if hierarchy is Hierarchy.IKI or f.issuer_common_name == env.issuing_ica_name:
            return CertificateKind.IKI
        return CertificateKind.ORGANISATION
    return None


def _issuer_name_spec(kind: CertificateKind, env: PkiEnvironment) -> list[tuple[str, str]] | None:
    """The (OID, value) list of the name that must issue ``kind`` (None: a party, or a Root)."""
    return {
        CertificateKind.ORGANISATION: _ca_name(CertificateKind.ISSUING_OCA, env),
        CertificateKind.ISSUING_OCA: _ca_name(CertificateKind.ROOT_OCA, env),
        CertificateKind.DEVICE: _ca_name(CertificateKind.ISSUING_DCA, env),
        CertificateKind.ISSUING_DCA: _ca_name(CertificateKind.ROOT_DCA, env),
        CertificateKind.IKI: _ca_name(CertificateKind.ISSUING_ICA, env),
        CertificateKind.ISSUING_ICA: _ca_name(CertificateKind.ROOT_ICA, env),
    }.get(kind)


def _ca_name(kind: CertificateKind, env: PkiEnvironment) -> list[tuple[str, str]]:
    """CA names: OCAs are OU=role, CN=name (notes §4.1); DCAs and ICAs CN only (notes §5.4)."""
    return {
        CertificateKind.ROOT_OCA: [(OU, RemotePartyRole.ROOT.ou), (CN, env.root_oca_name)],
        CertificateKind.ISSUING_OCA: [(OU, RemotePartyRole.ISSUING_AUTHORITY.ou), (CN, env.issuing_oca_name)],
        CertificateKind.ROOT_DCA: [(CN, env.root_dca_name)],
        CertificateKind.ISSUING_DCA: [(CN, env.issuing_dca_name)],
        CertificateKind.ROOT_ICA: [(CN, env.root_ica_name)],
        CertificateKind.ISSUING_ICA: [(CN, env.issuing_ica_name)],
    }[kind]


def _describe_ca(name: RawName, env: PkiEnvironment) -> str | None:
    pairs = [(a.oid, a.text) for a in name.attributes]
    for kind in (
        CertificateKind.ROOT_OCA,
        CertificateKind.ISSUING_OCA,
        CertificateKind.ROOT_DCA,
        CertificateKind.ISSUING_DCA,
        CertificateKind.ROOT_ICA,
        CertificateKind.ISSUING_ICA,
    ):
        if pairs == _ca_name(kind, env):
            return f"the environment's {kind.title.replace(' Certificate', '')}"
    return None


# --- the checks -----------------------------------------------------------------------------------------


class _Linter:
    def __init__(
        self,
        fields: SmkiFields,
        raw: RawStructure,
        env: PkiEnvironment,
        issuer: x509.Certificate | None,
        requested_kind: CertificateKind | None = None,
    ) -> None:
        self.f = fields
        self.raw = raw
        self.env = env
        self.issuer = issuer
        self.findings: list[Finding] = []
        self.kind = _classify(fields, raw, env, requested_kind if raw.is_csr else None)
        self.signature_checked = "not checked"

    def add(self, code: str, message: str) -> None:
        rule = FINDING_TYPES[code]
        self.findings.append(Finding(code, rule.severity, message, rule.source))

    def run(self) -> LintReport:
        raw, f = self.raw, self.f
        if self.kind is None:
            what = "request" if raw.is_csr else "certificate"
            self.add(
                "kind.unknown",
                f"The {what} fits no SMKI kind: its subject ({raw.subject.rfc4514()}), key usage and "
                "extensions match neither a device, an organisation nor a CA profile.",
            )
        # The key first: a request with a foreign key (RSA, P-384) is refused for its key, which is what
        # the RA reports first (its signature algorithm then follows from the key).
        self.check_key()
        self.check_signature_algorithms()
        if raw.is_csr:
            self.check_csr()
        else:
            self.check_certificate()
        issuer_text = raw.issuer.rfc4514() if raw.issuer is not None else None
        return LintReport(
            is_csr=raw.is_csr,
            kind=self.kind,
            role=f.role,
            entity_id=f.entity_id,
            key_usage=f.key_usage,
            key_usage_bits=f.key_usage_bits,
            subject=raw.subject.rfc4514(),
            issuer=issuer_text,
            issuer_description=_describe_ca(raw.issuer, self.env) if raw.issuer is not None else None,
            serial_hex=raw.serial.hex().upper() if raw.serial is not None else None,
            signature_checked=self.signature_checked,
            findings=tuple(self.findings),
        )

    # -- algorithms and key --

    def check_signature_algorithms(self) -> None:
        algs = [("signatureAlgorithm", self.raw.outer_algorithm)]
        if self.raw.inner_algorithm is not None:
            algs.insert(0, ("TBSCertificate signature", self.raw.inner_algorithm))
        for label, alg in algs:
            self.check_algorithm(label, alg)
        inner = self.raw.inner_algorithm
        if inner is not None and inner != self.raw.outer_algorithm:
            self.add(
                "sig.mismatch",
                "The TBSCertificate signature field and the outer signatureAlgorithm differ.",
            )
        if self.signature_values() is None:
            self.add(
                "sig.malformed", "The signature is not an ECDSA-Sig-Value SEQUENCE of two positive INTEGERs."
            )

    def check_algorithm(self, label: str, alg: RawAlgorithm) -> None:
        if alg.oid != ECDSA_WITH_SHA256_OID:
            self.add("sig.algorithm", f"The {label} is {alg.oid}, not ecdsa-with-SHA256.")
        elif alg.parameters == b"\x05\x00":
            self.add(
                "sig.null_params",
                f"The {label} ecdsa-with-SHA256 carries NULL parameters, which must be absent.",
            )
        elif alg.parameters is not None:
            self.add(
                "sig.algorithm", f"The {label} ecdsa-with-SHA256 carries parameters, which must be absent."
            )

    def signature_values(self) -> tuple[int, int] | None:
        """(r, s) read leniently: genuine RTDS certificates pad INTEGERs with a superfluous zero octet."""
        bits = self.raw.signature_bits
        try:
            if not bits or bits[0] != 0:
                return None
            seq, end = read_element(bits, 1)
            parts = read_children(seq)
            if seq.tag != TAG_SEQUENCE or end != len(bits) or len(parts) != 2:
                return None
            values = [int.from_bytes(p.content, "big", signed=True) for p in parts if p.tag == TAG_INTEGER]
        except ValueError:
            return None
        if len(values) != 2 or any(v <= 0 for v in values):
            return None
        return values[0], values[1]

    def check_key(self) -> None:
        alg, bits = self.raw.key_algorithm, self.raw.public_key_bits
        params = alg.parameters
        curve = None
        if params is not None and params[:1] == bytes([TAG_OID]):
            try:
                curve = d.decode_oid(d.read_tlv(params, TAG_OID)[0])
            except ValueError:
                curve = None
        if alg.oid != EC_PUBLIC_KEY_OID or curve != PRIME256V1_OID:
            self.add(
                "key.not_p256",
                f"The public key is {alg.oid} on {curve or 'no named curve'}, not id-ecPublicKey on P-256.",
            )
            return
        point = bits[1:] if bits[:1] == b"\x00" else b""
        if len(point) == 33 and point[0] in (2, 3):
            self.add(
                "key.compressed", "The P-256 public key is a compressed point; it must be uncompressed (04)."
            )
        elif len(point) != 65 or point[0] != 4:
            self.add("key.not_p256", "The public key BIT STRING is not a 65-octet uncompressed P-256 point.")

    def key_point(self) -> bytes | None:
        bits = self.raw.public_key_bits
        return bits[1:] if len(bits) == 66 and bits[:2] == b"\x00\x04" else None

    # -- certificates --

    def check_certificate(self) -> None:
        raw = self.raw
        if raw.version != 2:
            self.add("version.not_v3", f"The certificate is X.509 v{raw.version + 1}, not v3.")
        if raw.has_unique_ids:
            self.add("cert.unique_ids", "The certificate carries issuerUniqueID or subjectUniqueID fields.")
        self.check_serial()
        self.check_validity_encoding()
        kind = self.kind
        if kind is not None:
            self.check_names(kind)
            self.check_validity(kind)
            self.check_extensions(kind)
        self.check_key_identifiers()
        self.check_chain()

    def check_serial(self) -> None:
        serial = self.raw.serial or b""
        if serial[:1] and serial[0] & 0x80:
            self.add("serial.negative", "The serial number is negative; it must be a positive INTEGER.")
        if len(serial) != 16:
            self.add("serial.length", f"The serial number is {len(serial)} octets, not 16.")

    def check_validity_encoding(self) -> None:
        for label, t in (("notBefore", self.raw.not_before), ("notAfter", self.raw.not_after)):
            if t is None:
                continue
            if not _time_well_encoded(t.tag, t.text):
                self.add(
                    "validity.encoding",
                    f"The {label} is {t.tag_name} {t.text!r}; RFC 5280 wants UTCTime YYMMDDHHMMSSZ "
                    "before 2050 and GeneralizedTime YYYYMMDDHHMMSSZ from 2050.",
                )

    def check_validity(self, kind: CertificateKind) -> None:
        nb, na, f = self.raw.not_before, self.raw.not_after, self.f
        if kind is CertificateKind.DEVICE:
            if na is None or na.tag != TAG_GENERALIZED_TIME or na.text != _DEVICE_NOT_AFTER:
                shown = f"{na.tag_name} {na.text}" if na else "absent"
                self.add(
                    "validity.device_not_after",
                    f"The Device Certificate's notAfter is {shown}, not GeneralizedTime 99991231235959Z.",
                )
            return
        if f.not_before is None or f.not_after is None or nb is None:
            return
        start, end = f.not_before, f.not_after
        if end <= start:
            self.add(
                "validity.inverted", f"notAfter ({_iso(end)}) is not later than notBefore ({_iso(start)})."
            )
            return
        rule = VALIDITY_RULES[kind]
        try:
            anniversary = add_years(start, rule.years)
        except InvalidInput:
            return
        # Genuine certificates end at the anniversary minus 1 s, at it, or up to one day after it.
        late = end - anniversary
        one_day = _ONE_DAY
        if rule.pma_may_vary:
            if late > one_day:
                self.add(
                    "validity.too_long",
                    f"The {kind.title} is valid from {_iso(start)} to {_iso(end)}, longer than "
                    f"{rule.years} years ({rule.clause}).",
                )
            elif late < -one_day:
                self.add(
                    "validity.too_short",
                    f"The {kind.title} is valid for less than {rule.years} years ({_iso(start)} to "
                    f"{_iso(end)}), which needs an SMKI PMA approval ({rule.clause}).",
                )
        elif abs(late) > one_day:
            self.add(
                "validity.duration",
                f"The {kind.title} is valid from {_iso(start)} to {_iso(end)}, not {rule.years} years "
                f"({rule.clause}).",
            )

    # -- names --

    def check_names(self, kind: CertificateKind) -> None:
        raw = self.raw
        for label, name in (("issuer", raw.issuer), ("subject", raw.subject)):
            if name is not None and any(len(rdn) != 1 for rdn in name.rdns):
                self.add("name.multi_valued", f"The {label} has an RDN holding more than one attribute.")
        expected_issuer = _issuer_name_spec(kind, self.env)
        if kind.is_root:
            self.check_ca_name("subject", raw.subject, _ca_name(kind, self.env), "subject.ca_name")
        elif expected_issuer is not None and raw.issuer is not None:
            self.check_ca_name("issuer", raw.issuer, expected_issuer, "issuer.unexpected")
        if kind.is_ca and not kind.is_root:
            self.check_ca_name("subject", raw.subject, _ca_name(kind, self.env), "subject.ca_name")
        if kind in (CertificateKind.ORGANISATION, CertificateKind.IKI):
            self.check_party_subject()
        if kind is CertificateKind.DEVICE and raw.subject.rdns:
            self.add(
                "subject.not_empty",
                f"The Device Certificate's subject is {raw.subject.rfc4514()}; it must be empty.",
            )

    def check_ca_name(self, label: str, name: RawName, expected: list[tuple[str, str]], code: str) -> None:
        attrs = name.attributes
        pairs = [(a.oid, a.text) for a in attrs]
        want = ", ".join(f"{'OU' if o == OU else 'CN'}={v}" for o, v in expected)
        if pairs != expected:
            self.add(code, f"The {label} is {name.rfc4514()}, not the environment's {want}.")
            return
        wrong = [a for a in attrs if a.tag != TAG_PRINTABLE_STRING]
        if wrong:
            string_code = "issuer.string_type" if label == "issuer" else "subject.string_type"
            self.add(
                string_code,
                f"The {label} {_short(wrong[0].oid)} is a {wrong[0].tag_name}; CA names use PrintableString.",
            )

    def check_party_subject(self, *, ou_required: bool = True) -> None:
        attrs = self.raw.subject.attributes
        order = {CN: 0, OU: 1, X500_UNIQUE_IDENTIFIER_OID: 2}
        known = [a for a in attrs if a.oid in order]
        for a in attrs:
            if a.oid not in order:
                self.add(
                    "subject.unexpected_attribute",
                    f"The subject carries attribute {a.oid}, which the organisation profile does not have.",
                )
        ranks = [order[a.oid] for a in known]
        if ranks != sorted(ranks) or len(set(ranks)) != len(ranks):
            self.add(
                "subject.order",
                "The subject attributes are not CN (optional), OU, x500UniqueIdentifier, once each, "
                "in this order.",
            )
        ous = [a for a in attrs if a.oid == OU]
        uids = [a for a in attrs if a.oid == X500_UNIQUE_IDENTIFIER_OID]
        for a in [a for a in attrs if a.oid in (CN, OU)]:
            if a.tag != TAG_UTF8_STRING:
                self.add(
                    "subject.string_type",
                    f"The subject {_short(a.oid)} is a {a.tag_name}; the organisation profile uses "
                    "UTF8String.",
                )
        for cn in [a for a in attrs if a.oid == CN]:
            if not cn.text.strip() or len(cn.text) > 64:
                self.add(
                    "subject.cn_length",
                    f"The subject common name is {len(cn.text)} characters; it must be 1 to 64, not blank.",
                )
        if not ous:
            if ou_required:
                self.add("subject.ou_missing", "The subject has no OU, so it names no Remote Party Role.")
        else:
            self.check_role_ou(ous[0])
        if not uids:
            self.add(
                "subject.eui_missing", "The subject has no x500UniqueIdentifier carrying the party's EUI-64."
            )
        else:
            uid = uids[0]
            if uid.tag != TAG_BIT_STRING or len(uid.value) != 9 or uid.value[0] != 0:
                self.add(
                    "subject.eui_encoding",
                    f"The x500UniqueIdentifier is a {uid.tag_name} of {len(uid.value)} octets; it must be a "
                    "BIT STRING of exactly 64 bits.",
                )

    def check_role_ou(self, ou: NameAttribute) -> None:
        text = ou.text
        if len(text) != 2 or any(c not in "0123456789ABCDEF" for c in text):
            self.add(
                "subject.ou_not_hex",
                f"The subject OU {text!r} is not a Remote Party Role written as two upper-case hex digits.",
            )
            return
        role = RemotePartyRole(int(text, 16))
        if role in (RemotePartyRole.ROOT, RemotePartyRole.ISSUING_AUTHORITY):
            self.add(
                "subject.ca_role",
                f"The role {role.label} belongs to CA certificates, not to an end-entity certificate.",
            )

    # -- extensions --

    def check_extensions(self, kind: CertificateKind) -> None:
        exts = self.raw.extensions
        expected = self.expected_extensions(kind)
        seen: set[str] = set()
        for e in exts:
            if e.oid in seen:
                self.add("ext.duplicate", f"The {_ext_name(e.oid)} extension appears more than once.")
            seen.add(e.oid)
            if e.critical_encoded and not e.critical:
                self.add(
                    "ext.default_encoded",
                    f"The {_ext_name(e.oid)} extension writes critical FALSE, which DER omits.",
                )
        for oid in expected:
            if oid not in seen:
                self.add(
                    _MISSING_CODES.get(oid, "ext.missing"),
                    f"The {kind.title} lacks the required {_ext_name(oid)} extension.",
                )
        for e in exts:
            if e.oid in expected:
                continue
            if e.oid == BC and not kind.is_ca:
                self.add(
                    "bc.end_entity", f"The {kind.title} carries basicConstraints, which end entities do not."
                )
            else:
                self.add(
                    "ext.unexpected", f"The {kind.title} carries {_ext_name(e.oid)}, which its profile lacks."
                )
        present = [e.oid for e in exts if e.oid in expected]
        if present != [o for o in expected if o in present]:
            self.add(
                "ext.order",
                "The extensions are in the order "
                + ", ".join(_ext_name(o) for o in present)
                + "; the profile's order is "
                + ", ".join(_ext_name(o) for o in expected)
                + ".",
            )
        for e in exts:
            if e.oid in expected or e.oid == BC:
                self.check_criticality(e)
            self.check_extension_value(kind, e)

    def expected_extensions(self, kind: CertificateKind) -> tuple[str, ...]:
        if kind is CertificateKind.DEVICE:
            return _DEVICE_EXTS
        if kind.is_root:
            if kind is CertificateKind.ROOT_OCA:
                return (*_ROOT_CA_EXTS, self.env.contingency_key_extension_oid)
            return _ROOT_CA_EXTS
        if kind.is_ca:
            return _ISSUING_CA_EXTS
        return _END_ENTITY_EXTS

    def check_criticality(self, e: RawExtension) -> None:
        want = _CRITICAL.get(e.oid, False)
        if e.critical == want:
            return
        code = _CRITICALITY_CODES.get(e.oid, "ext.criticality")
        state = "critical" if want else "non-critical"
        self.add(code, f"The {_ext_name(e.oid)} extension must be {state}.")

    def check_extension_value(self, kind: CertificateKind, e: RawExtension) -> None:
        if e.oid == KU:
            self.check_key_usage(kind, e)
        elif e.oid == CP:
            self.check_policies(kind, e)
        elif e.oid == SAN and kind is CertificateKind.DEVICE:
            self.check_device_san(e)
        elif e.oid == BC and kind.is_ca:
            self.check_basic_constraints(kind)
        elif e.oid == self.env.contingency_key_extension_oid and kind is CertificateKind.ROOT_OCA:
            try:
                contingency.decode_wrapped_contingency_key(e.value)
            except InvalidInput as exc:
                self.add("contingency.malformed", exc.message)

    def check_key_usage(self, kind: CertificateKind, e: RawExtension | None) -> None:
        bits, usage = self.f.key_usage_bits, self.f.key_usage
        shown = ", ".join(bits) or "nothing"
        if kind.is_ca:
            if usage is not KeyUsage.CERT_SIGN:
                self.add(
                    "ku.ca_usage", f"The {kind.title} asserts {shown}, not exactly keyCertSign and cRLSign."
                )
        elif len(bits) != 1:
            self.add(
                "ku.not_single",
                f"The keyUsage asserts {shown}; it must assert exactly one of digitalSignature, "
                "keyAgreement.",
            )
        elif usage not in (KeyUsage.DIGITAL_SIGNATURE, KeyUsage.KEY_AGREEMENT):
            self.add("ku.wrong_usage", f"The keyUsage asserts {shown}, not digitalSignature or keyAgreement.")
        if e is not None and usage is not None and e.value != _KU_ENCODING[usage]:
            self.add(
                "ku.not_single",
                f"The keyUsage BIT STRING {e.value.hex()} is not the DER form of {usage.value}.",
            )

    def check_policies(self, kind: CertificateKind, e: RawExtension) -> None:
        want = {
            Hierarchy.ORGANISATION: self.env.organisation_policy_oid,
            Hierarchy.DEVICE: self.env.device_policy_oid,
            Hierarchy.IKI: self.env.iki_policy_oid,
        }[kind.hierarchy]
        try:
            seq, _ = read_element(e.value)
            infos = [read_children(p) for p in read_children(seq)]
            oids = [d.decode_oid(i[0].content) for i in infos if i and i[0].tag == TAG_OID]
            qualified = any(len(i) > 1 for i in infos)
        except ValueError:
            oids, qualified = list(self.f.policy_oids), False
        if len(oids) != 1:
            self.add(
                "cp.not_single", f"certificatePolicies holds {len(oids)} policies; it must hold exactly one."
            )
        if want not in oids or len(oids) != 1:
            self.add(
                "cp.wrong_policy",
                f"The policy is {', '.join(oids) or 'absent'}, not the environment's {kind.hierarchy.value} "
                f"policy {want}.",
            )
        if qualified:
            self.add(
                "cp.qualifiers",
                "certificatePolicies carries policy qualifiers, which the profile does not use.",
            )

    def check_device_san(self, e: RawExtension) -> None:
        try:
            seq, _ = read_element(e.value)
            names = read_children(seq)
        except ValueError:
            names = []
        hmn = None
        if len(names) == 1 and names[0].tag == 0xA0:
            hmn = _hardware_module_name(names[0])
        if hmn is None:
            self.add(
                "san.not_single",
                f"The subjectAltName holds {len(names)} names; it must hold exactly one otherName "
                "hardwareModuleName.",
            )
            return
        hw_type, serial = hmn
        if hw_type != self.env.hw_type_oid:
            self.add(
                "san.hw_type",
                f"The hardwareModuleName hwType is {hw_type}, not the environment's {self.env.hw_type_oid}.",
            )
        if len(serial) != 8:
            self.add("san.serial_length", f"The hwSerialNum is {len(serial)} octets, not an 8-octet EUI-64.")

    def check_basic_constraints(self, kind: CertificateKind) -> None:
        f = self.f
        if not f.is_ca:
            self.add("bc.not_ca", f"The {kind.title}'s basicConstraints does not say cA TRUE.")
            return
        if kind.is_root and f.path_length is not None:
            self.add(
                "bc.path_length", f"The {kind.title} has pathLenConstraint {f.path_length}; a Root has none."
            )
        if not kind.is_root and f.path_length != 0:
            self.add(
                "bc.path_length",
                f"The {kind.title} has pathLenConstraint {f.path_length}; an Issuing CA has 0.",
            )

    def check_key_identifiers(self) -> None:
        exts = {e.oid: e for e in self.raw.extensions}
        point = self.key_point()
        ski = exts.get(SKI)
        if ski is not None:
            try:
                tlv, _ = read_element(ski.value)
                value = tlv.content
            except ValueError:
                value = b""
            if len(value) != 8:
                self.add("ski.length", f"The subjectKeyIdentifier is {len(value)} octets, not 8.")
            elif point is not None and value != method2_key_identifier(point):
                self.add(
                    "ski.not_method2",
                    f"The subjectKeyIdentifier {value.hex().upper()} is not RFC 5280 method 2 of the key "
                    f"({method2_key_identifier(point).hex().upper()}).",
                )
        aki = exts.get(AKI)
        if aki is not None:
            try:
                seq, _ = read_element(aki.value)
                parts = read_children(seq)
            except ValueError:
                parts = []
            if [p.tag for p in parts] != [0x80]:
                self.add(
                    "aki.not_key_id_only", "The authorityKeyIdentifier must hold the keyIdentifier [0] alone."
                )
            key_ids = [p.content for p in parts if p.tag == 0x80]
            if key_ids and len(key_ids[0]) != 8:
                self.add("aki.length", f"The authorityKeyIdentifier is {len(key_ids[0])} octets, not 8.")

    # -- signature and issuer --

    def check_chain(self) -> None:
        raw, f = self.raw, self.f
        values = self.signature_values()
        if self.issuer is not None:
            self.check_against_issuer(self.issuer, values)
            return
        if values is None:
            return
        if f.is_self_issued and self.key_point() is not None:
            self.signature_checked = "self-signature"
            if not _verifies(f.public_key, values, raw.signed_bytes):
                self.add("sig.invalid", "The self-signature of this self-issued certificate does not verify.")
            return
        aki = f.authority_key_identifier
        if aki is not None and len(aki) == 8 and raw.outer_algorithm.oid == ECDSA_WITH_SHA256_OID:
            self.signature_checked = "against the AKI"
            if not signature_matches_key_identifier(values[0], values[1], raw.signed_bytes, aki):
                self.add(
                    "sig.not_by_aki_key",
                    f"The signature cannot come from the issuer key the AKI names ({aki.hex().upper()}): "
                    "the certificate was altered after signing or its AKI is wrong.",
                )

    def check_against_issuer(self, issuer: x509.Certificate, values: tuple[int, int] | None) -> None:
        raw, f = self.raw, self.f
        issuer_fields = certificate_fields(issuer)
        self.signature_checked = "with the given issuer"
        if values is None or not _verifies(issuer_fields.public_key, values, raw.signed_bytes):
            self.add("sig.invalid", "The signature does not verify with the given issuer certificate's key.")
        if raw.issuer is not None and raw.issuer.encoded != issuer_fields.subject_der:
            self.add(
                "issuer.name_mismatch",
                "The issuer name bytes differ from the given issuer certificate's subject bytes.",
            )
        if (
            f.authority_key_identifier is not None
            and f.authority_key_identifier != issuer_fields.subject_key_identifier
        ):
            theirs = (issuer_fields.subject_key_identifier or b"").hex().upper() or "absent"
            self.add(
                "aki.issuer_mismatch",
                f"The authorityKeyIdentifier {f.authority_key_identifier.hex().upper()} is not the issuer's "
                f"subjectKeyIdentifier ({theirs}).",
            )
        if not issuer_fields.is_ca or "key_cert_sign" not in issuer_fields.key_usage_bits:
            self.add(
                "issuer.not_ca", "The given issuer certificate is not a CA (no cA TRUE and keyCertSign)."
            )

    # -- requests --

    def check_csr(self) -> None:
        raw, f = self.raw, self.f
        if raw.version != 0:
            self.add("version.csr", f"The request has version {raw.version}, not 0 (v1).")
        values = self.signature_values()
        self.signature_checked = "self-signature (proof of possession)"
        if values is None or not _verifies(f.public_key, values, raw.signed_bytes):
            self.add(
                "csr.pop_invalid",
                "The request's self-signature does not verify, so it proves no key possession.",
            )
        for oid, count in raw.attributes:
            if oid != EXTENSION_REQUEST_OID or count != 1:
                self.add(
                    "csr.unexpected_attribute",
                    f"The request carries attribute {oid} with {count} values; only one extensionRequest "
                    "is expected.",
                )
        kind = self.kind
        if kind is None:
            return
        if any(len(rdn) != 1 for rdn in raw.subject.rdns):
            self.add("name.multi_valued", "The subject has an RDN holding more than one attribute.")
        if kind is CertificateKind.DEVICE:
            wanted: tuple[str, ...] = (KU, SAN)
            if raw.subject.rdns:
                self.add(
                    "subject.not_empty",
                    f"The device request's subject is {raw.subject.rfc4514()}; it must be empty.",
                )
        else:
            wanted = (KU,)
            # The IKI request's OU is optional: the CA writes 'other' when it is absent (docs/decisions.md).
            self.check_party_subject(ou_required=kind is not CertificateKind.IKI)
        requested = {e.oid: e for e in raw.extensions}
        for oid in wanted:
            if oid not in requested:
                self.add(
                    _MISSING_CODES.get(oid, "ext.missing"),
                    f"The request does not ask for the {_ext_name(oid)} extension.",
                )
        for e in raw.extensions:
            if e.oid not in wanted:
                self.add(
                    "csr.unexpected_extension",
                    f"The request asks for {_ext_name(e.oid)}, which the CA sets itself.",
                )
                continue
            self.check_criticality(e)
            if e.oid == KU:
                self.check_key_usage(kind, e)
                if kind is CertificateKind.IKI and self.f.key_usage is KeyUsage.KEY_AGREEMENT:
                    self.add(
                        "ku.iki_usage",
                        "The IKI request asks for keyAgreement; IKI keys sign (digitalSignature only).",
                    )
            elif e.oid == SAN:
                self.check_device_san(e)


def _hardware_module_name(other_name: Tlv) -> tuple[str, bytes] | None:
    """(hwType, hwSerialNum) of an otherName [0] that is a hardwareModuleName, else None."""
    try:
        type_id, value = read_children(other_name)
        if type_id.tag != TAG_OID or d.decode_oid(type_id.content) != HARDWARE_MODULE_NAME_OID:
            return None
        (inner,) = read_children(value)
        hmn = decode_hardware_module_name(inner.encoded)
    except (ValueError, InvalidInput):
        return None
    return hmn.hw_type, hmn.hw_serial_num


def _verifies(public_key: object, values: tuple[int, int], signed: bytes) -> bool:
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        return False
    try:
        public_key.verify(encode_dss_signature(*values), signed, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def _time_well_encoded(tag: int, text: str) -> bool:
    """RFC 5280 4.1.2.5: UTCTime YYMMDDHHMMSSZ for 1950-2049, GeneralizedTime YYYYMMDDHHMMSSZ from 2050."""
    if tag == TAG_UTC_TIME:
        if len(text) != 13 or not text[:12].isdigit() or not text.endswith("Z"):
            return False
        return int(text[:2]) >= 50 or 2000 + int(text[:2]) < _GENERALIZED_FROM_YEAR
    if len(text) != 15 or not text[:14].isdigit() or not text.endswith("Z"):
        return False
    return int(text[:4]) >= _GENERALIZED_FROM_YEAR


def _ext_name(oid: str) -> str:
    if oid in _EXT_NAMES:
        return _EXT_NAMES[oid]
    return f"extension {oid}"


def extension_name(oid: str, env: PkiEnvironment) -> str:
    """A readable name for an extension OID (WrappedApexContingencyKey under the environment's OID)."""
    if oid == env.contingency_key_extension_oid:
        return "WrappedApexContingencyKey"
    return _ext_name(oid)


def _short(oid: str) -> str:
    return {CN: "CN", OU: "OU", X500_UNIQUE_IDENTIFIER_OID: "x500UniqueIdentifier"}.get(oid, oid)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")
