"""The catalogue of lint findings: every code ``profiles.lint`` can report, its severity and its source.

docs/lint-findings.md is this table in prose; a test keeps the two in step.

These findings are also the RA's CSR rules: ``policy.csr.read_csr`` refuses a request with the code of the
first ERROR finding ``lint`` reports for it, citing the clause ``refusal_clause`` gives, so each rule is
defined once (here and in ``profiles.lint``) and ``smki lint`` and the RA cannot disagree.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from smki.model import CertificateKind


class Severity(enum.Enum):
    """ERROR: the item deviates from its SMKI profile. WARNING: allowed only with a decision we cannot see."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class FindingType:
    """One kind of deviation: stable code, severity, where the rule comes from, and what it means."""

    code: str
    severity: Severity
    source: str
    summary: str
    clause: str | None = None  # the SEC clause a refusal on this finding cites, where one rule of the Code


# Short names for the sources (research notes = ../shared/spec/smki-research-notes.md).
GBCS = "GBCS 12 rules for Device-used certificates (notes §2)"
ORG = "Organisation Certificate profile as ZAZ1 issues it (notes §3.1)"
OCA = "Issuing OCA profile as ZAZ1 issues it (notes §4.1)"
ROOT = "Root CA profile chosen by analogy (notes §4.2, docs/decisions.md)"
DEV = "GBCS Device Certificate rules (notes §5.1-5.2)"
CSR = "Device CSR as devices produce it (notes §5.3, §13.6)"
VAL = "SEC Appendix B 6.3.2 as amended by MP261 (smki.profiles.validity)"
RFC5280 = "RFC 5280"
ENV = "PkiEnvironment (policy OIDs, hwType, CA names)"
IKI = "IKI request shape chosen for smki (docs/decisions.md, L3.20)"

_E = Severity.ERROR
_W = Severity.WARNING

FINDING_TYPES: dict[str, FindingType] = {
    t.code: t
    for t in (
        FindingType("kind.unknown", _E, ORG + "; " + DEV, "The item fits no SMKI certificate or CSR kind."),
        FindingType("version.not_v3", _E, RFC5280 + " 4.1.2.1; notes §12", "A certificate must be X.509 v3."),
        FindingType("version.csr", _E, "RFC 2986 4.1", "A PKCS#10 request must have version 0."),
        FindingType("cert.unique_ids", _E, "notes §3.1", "issuerUniqueID/subjectUniqueID are not used."),
        FindingType("serial.length", _E, "notes §3.1, §12", "The serial number must be 16 octets."),
        FindingType("serial.negative", _E, RFC5280 + " 4.1.2.2", "The serial number must be positive."),
        FindingType(
            "sig.algorithm", _E, GBCS + " rule 5", "The signature algorithm must be ecdsa-with-SHA256."
        ),
        FindingType(
            "sig.null_params",
            _E,
            "RFC 5758 3.2; notes §6",
            "ecdsa-with-SHA256 must be encoded without parameters, not with NULL.",
        ),
        FindingType(
            "sig.mismatch", _E, RFC5280 + " 4.1.1.2", "The two signature algorithm fields must be equal."
        ),
        FindingType("sig.malformed", _E, "RFC 5480 / X9.62", "The signature must be a DER ECDSA-Sig-Value."),
        FindingType(
            "sig.invalid", _E, RFC5280 + " 6.1.3", "The signature does not verify with the issuer key."
        ),
        FindingType(
            "sig.not_by_aki_key",
            _E,
            GBCS + " rule 8; RFC 5280 4.2.1.1",
            "No key that the signature could come from has the SKI the AKI names.",
        ),
        FindingType("csr.pop_invalid", _E, CSR, "The request's self-signature (proof of possession) fails."),
        FindingType(
            "csr.unexpected_attribute", _E, CSR, "A request carries only the extensionRequest attribute."
        ),
        FindingType(
            "csr.unexpected_extension", _E, CSR, "A request asks only for keyUsage (and SAN for devices)."
        ),
        FindingType("key.not_p256", _E, GBCS + " rule 4", "The public key must be EC on NIST P-256."),
        FindingType(
            "key.compressed", _E, GBCS + " rule 4; RFC 5480 2.2", "The EC point must be uncompressed."
        ),
        FindingType("name.multi_valued", _E, "notes §3.1", "Every RDN holds exactly one attribute."),
        FindingType(
            "issuer.unexpected",
            _E,
            ENV,
            "The issuer is not the environment's CA for this kind of certificate.",
        ),
        FindingType(
            "issuer.string_type", _E, "notes §3.1, §4.1", "CA names are PrintableString, OU then CN."
        ),
        FindingType(
            "issuer.name_mismatch",
            _E,
            RFC5280 + " 7.1",
            "The issuer name bytes must equal the issuing certificate's subject bytes.",
        ),
        FindingType("issuer.not_ca", _E, RFC5280 + " 4.2.1.9", "The given issuer is not a CA certificate."),
        FindingType("subject.ca_name", _E, ENV, "A CA's subject must be the environment's name for it."),
        FindingType(
            "subject.string_type", _E, "notes §3.1, §4.1", "A subject attribute has the wrong string type."
        ),
        FindingType("subject.order", _E, "notes §3.1", "Organisation subject attributes are CN?, OU, uid."),
        FindingType(
            "subject.unexpected_attribute",
            _E,
            "notes §3.1",
            "The subject has an attribute the profile lacks.",
        ),
        FindingType(
            "subject.ou_missing", _E, "notes §3.1, §7", "The subject OU (Remote Party Role) is missing."
        ),
        FindingType(
            "subject.ou_not_hex", _E, "notes §3.1, §7", "The OU must be two upper-case hex digits (the role)."
        ),
        FindingType(
            "subject.ca_role",
            _E,
            "notes §7; SEC L3.19",
            "Roles root (00) and issuingAuthority (07) are for CA certificates.",
            clause="L3.19",
        ),
        FindingType(
            "subject.eui_missing", _E, "notes §3.1", "The subject x500UniqueIdentifier (EUI-64) is missing."
        ),
        FindingType(
            "subject.eui_encoding",
            _E,
            "notes §3.1",
            "x500UniqueIdentifier must be a 64-bit BIT STRING with no unused bits.",
        ),
        FindingType("subject.not_empty", _E, DEV, "A Device Certificate or device CSR has an empty subject."),
        FindingType(
            "subject.cn_length", _E, "X.520 ub-common-name", "A subject common name is 1 to 64 characters."
        ),
        FindingType(
            "validity.encoding",
            _E,
            RFC5280 + " 4.1.2.5",
            "UTCTime (YYMMDDHHMMSSZ) before 2050, GeneralizedTime (YYYYMMDDHHMMSSZ) from 2050.",
        ),
        FindingType(
            "validity.device_not_after", _E, DEV, "A Device Certificate's notAfter is 99991231235959Z."
        ),
        FindingType("validity.inverted", _E, RFC5280 + " 4.1.2.5", "notAfter must be later than notBefore."),
        FindingType(
            "validity.duration", _E, VAL, "A CA certificate is valid for exactly its N years (±1 day)."
        ),
        FindingType(
            "validity.too_long", _E, VAL, "An end-entity certificate is valid for at most 10 years (+1 day)."
        ),
        FindingType(
            "validity.too_short",
            _W,
            VAL,
            "Shorter than 10 years: allowed only with an SMKI PMA approval (Appendix B 6.3.2(A)(i)).",
        ),
        FindingType("ku.missing", _E, GBCS + " rule 3", "keyUsage must be present."),
        FindingType("ski.missing", _E, GBCS + " rule 6", "subjectKeyIdentifier must be present."),
        FindingType(
            "aki.missing", _E, GBCS + " rule 2", "authorityKeyIdentifier must be present except on Roots."
        ),
        FindingType("cp.missing", _E, GBCS + " rule 7", "certificatePolicies must be present."),
        FindingType(
            "san.missing", _E, DEV, "A device certificate or CSR carries the hardwareModuleName SAN."
        ),
        FindingType("bc.missing", _E, OCA, "A CA certificate carries basicConstraints."),
        FindingType(
            "ext.missing",
            _E,
            ORG + "; " + DEV + "; " + OCA,
            "A required extension is missing (WrappedApexContingencyKey on the Root OCA).",
        ),
        FindingType("ext.unexpected", _E, ORG + "; " + DEV + "; " + OCA, "An extension the profile lacks."),
        FindingType("ext.criticality", _E, ROOT, "An extension's criticality differs from the profile."),
        FindingType("ext.duplicate", _E, RFC5280 + " 4.2", "An extension appears more than once."),
        FindingType("ext.order", _E, "notes §12", "Extensions are not in the profile's order."),
        FindingType(
            "ext.default_encoded", _E, "X.690 11.5 (DER)", "critical FALSE must be omitted, not written out."
        ),
        FindingType("ku.not_critical", _E, GBCS + " rule 3", "keyUsage must be critical."),
        FindingType(
            "ku.not_single",
            _E,
            "notes §3.1, §5.1",
            "An end-entity certificate asserts exactly one of digitalSignature, keyAgreement.",
        ),
        FindingType(
            "ku.wrong_usage",
            _E,
            "notes §3.1, §5.1",
            "The single key usage must be digitalSignature or keyAgreement.",
        ),
        FindingType("ku.ca_usage", _E, OCA, "A CA certificate asserts exactly keyCertSign and cRLSign."),
        FindingType(
            "ku.iki_usage", _E, IKI, "An IKI request asks for digitalSignature, the only IKI key usage."
        ),
        FindingType("cp.not_critical", _E, GBCS + " rule 7", "certificatePolicies must be critical."),
        FindingType("cp.not_single", _E, DEV, "certificatePolicies holds exactly one policy."),
        FindingType("cp.wrong_policy", _E, ENV + "; " + DEV, "The policy is not the environment's OID."),
        FindingType("cp.qualifiers", _E, "notes §3.1", "Policy qualifiers are not used."),
        FindingType("ski.critical", _E, GBCS + " rule 6", "subjectKeyIdentifier must be non-critical."),
        FindingType("ski.length", _E, GBCS + " rule 8", "The SKI must be 8 octets."),
        FindingType(
            "ski.not_method2",
            _E,
            GBCS + " rule 8; RFC 5280 4.2.1.2",
            "The SKI must be RFC 5280 method 2 of this certificate's key.",
        ),
        FindingType("aki.critical", _E, GBCS + " rule 2", "authorityKeyIdentifier must be non-critical."),
        FindingType("aki.not_key_id_only", _E, GBCS + " rule 2", "The AKI carries keyIdentifier [0] only."),
        FindingType("aki.length", _E, GBCS + " rule 8", "The AKI keyIdentifier must be 8 octets."),
        FindingType("aki.issuer_mismatch", _E, RFC5280 + " 4.2.1.1", "The AKI must equal the issuer's SKI."),
        FindingType("bc.not_critical", _E, OCA, "basicConstraints must be critical in a CA certificate."),
        FindingType("bc.not_ca", _E, OCA, "A CA certificate's basicConstraints must say cA TRUE."),
        FindingType(
            "bc.path_length", _E, OCA + "; " + ROOT, "pathLenConstraint is 0 (Issuing) or absent (Root)."
        ),
        FindingType(
            "bc.end_entity", _E, ORG + "; " + DEV, "End-entity certificates carry no basicConstraints."
        ),
        FindingType("san.not_critical", _E, DEV, "The device subjectAltName must be critical."),
        FindingType(
            "san.not_single",
            _E,
            DEV,
            "The device SAN holds exactly one GeneralName: an otherName hardwareModuleName.",
        ),
        FindingType("san.hw_type", _E, ENV + "; " + DEV, "hwType must be the environment's hwType OID."),
        FindingType("san.serial_length", _E, DEV, "hwSerialNum must be the 8-octet EUI-64."),
        FindingType(
            "contingency.malformed",
            _E,
            ROOT,
            "The WrappedApexContingencyKey extension cannot be decoded.",
        ),
    )
}


# Where each requestable kind's profile and proof-of-possession method sit (RFC 3647 layout of the
# Certificate Policies, SEC Appendices A and B): the clause of a refusal whose finding names none itself.
PROFILE_CLAUSE: dict[CertificateKind, str] = {
    CertificateKind.DEVICE: "Appendix A Annex B",
    CertificateKind.ORGANISATION: "Appendix B Annex B",
    CertificateKind.IKI: "IKI Certificate Policy",
}
POSSESSION_CLAUSE: dict[CertificateKind, str] = {
    CertificateKind.DEVICE: "Appendix A 3.2.1",
    CertificateKind.ORGANISATION: "Appendix B 3.2.1",
    CertificateKind.IKI: "IKI Certificate Policy 3.2.1",
}


def refusal_clause(code: str, kind: CertificateKind | None) -> str:
    """The clause a refusal of a request of ``kind`` on finding ``code`` cites.

    The finding's own SEC clause when it has one; the proof-of-possession clause for a failed
    self-signature; else the profile of the kind (the Organisation profile when the kind is unknown).
    """
    rule = FINDING_TYPES.get(code)
    if rule is not None and rule.clause is not None:
        return rule.clause
    requestable = kind if kind in PROFILE_CLAUSE else CertificateKind.ORGANISATION
    assert requestable is not None
    if code == "csr.pop_invalid":
        return POSSESSION_CLAUSE[requestable]
    return PROFILE_CLAUSE[requestable]


def source_of(code: str) -> str | None:
    """The source of a finding code, or None for an unknown code."""
    t = FINDING_TYPES.get(code)
    return t.source if t else None
