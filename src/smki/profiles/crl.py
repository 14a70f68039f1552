"""CRL and ARL profiles: pure builders, a fast signed encoder, and a conformance check.

No public SMKI CRL/ARL profile exists (research notes s.9), so smki issues what RFC 5280 describes, in
the style of the real SMKI certificates:

* X.509 v2 CRL, signature ecdsa-with-SHA256 (no parameters);
* issuer = the CA's subject DN, byte for byte;
* thisUpdate / nextUpdate as UTCTime up to 2049, GeneralizedTime from 2050 (RFC 5280 5.1.2.4-5);
* CRL extensions, in this order: authorityKeyIdentifier with the 8-byte keyIdentifier only (the SMKI
  method-2 identifier of the issuer), then cRLNumber; both non-critical (RFC 5280 5.2.1, 5.2.3);
* each entry: serial and revocationDate, plus a non-critical reasonCode only when a reason other than
  ``unspecified`` is given (RFC 5280 5.3.1: the extension SHOULD be absent rather than say unspecified).
  ``removeFromCRL`` is refused: it belongs to delta CRLs, which smki does not issue.

A CRL is issued by an Issuing OCA, Issuing ICA or Issuing DCA for the certificates it issued. An ARL
(Authority Revocation List) is the same structure issued by a Root (OCA, DCA or ICA) for the Issuing CA
certificates it issued; it carries no IssuingDistributionPoint (see docs/decisions.md, "CRL/ARL").

Two ways to produce one:

* :func:`build_crl` / :func:`build_arl` return a ``cryptography`` ``CertificateRevocationListBuilder``
  (the revoked list passed in one go, never ``add_revoked_certificate`` in a loop, which is quadratic);
  the caller signs it with the CA's signer.
* :func:`sign_crl` / :func:`sign_arl` encode the TBSCertList themselves and sign it with the signer; the
  TBS bytes are identical to what the builder produces (tested), and it is about three times faster at
  10^6 entries because it skips one ``RevokedCertificate`` object per entry (docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import NamedTuple

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import SignatureAlgorithmOID

from smki.model.errors import InvalidInput
from smki.profiles.der import ECDSA_WITH_SHA256_ALGORITHM, encode_length, encode_oid, tlv
from smki.profiles.parse import read_children, read_element

# RFC 5280 4.1.2.2 / 5.2.3: serial numbers and CRL numbers are at most 20 octets, i.e. below 2^159.
_MAX_INTEGER = 1 << 159
KEY_IDENTIFIER_LENGTH = 8

_ECDSA_SHA256_ALG = ECDSA_WITH_SHA256_ALGORITHM
_VERSION_V2 = bytes.fromhex("020101")

# CRLReason codes (RFC 5280 5.3.1). 7 is unused; 8 (removeFromCRL) is for delta CRLs only.
_REASON_CODES: dict[x509.ReasonFlags, int] = {
    x509.ReasonFlags.unspecified: 0,
    x509.ReasonFlags.key_compromise: 1,
    x509.ReasonFlags.ca_compromise: 2,
    x509.ReasonFlags.affiliation_changed: 3,
    x509.ReasonFlags.superseded: 4,
    x509.ReasonFlags.cessation_of_operation: 5,
    x509.ReasonFlags.certificate_hold: 6,
    x509.ReasonFlags.privilege_withdrawn: 9,
    x509.ReasonFlags.aa_compromise: 10,
}


def _reason_extensions(code: int) -> bytes:
    """crlEntryExtensions SEQUENCE holding one non-critical reasonCode (2.5.29.21) ENUMERATED."""
    extension = bytes.fromhex("0603551d15") + tlv(0x04, bytes((0x0A, 0x01, code)))
    return tlv(0x30, tlv(0x30, extension))


# What follows the serial and revocationDate in an entry, by reason (unspecified and None: nothing).
_ENTRY_TAILS: dict[x509.ReasonFlags | None, bytes] = {
    None: b"",
    **{reason: b"" if code == 0 else _reason_extensions(code) for reason, code in _REASON_CODES.items()},
}


class RevokedEntry(NamedTuple):
    """One revoked certificate: its serial, when it was revoked, and why (None = not stated)."""

    serial: int
    revoked_at: datetime
    reason: x509.ReasonFlags | None = None


# ---------------------------------------------------------------------------------------------------
# Validation shared by both paths


def _utc(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput("crl.time", f"The {what} must be a timezone-aware datetime.")
    return value.astimezone(UTC).replace(microsecond=0)


def _check_envelope(
    issuer_key_identifier: bytes, crl_number: int, this_update: datetime, next_update: datetime
) -> tuple[datetime, datetime]:
    if len(issuer_key_identifier) != KEY_IDENTIFIER_LENGTH:
        raise InvalidInput(
            "crl.key_identifier",
            f"The issuer key identifier must be {KEY_IDENTIFIER_LENGTH} bytes, "
            f"not {len(issuer_key_identifier)}.",
        )
    if not 0 <= crl_number < _MAX_INTEGER:
        raise InvalidInput(
            "crl.number", "The CRL number must be a non-negative integer of at most 20 octets."
        )
    this_utc = _utc(this_update, "thisUpdate")
    next_utc = _utc(next_update, "nextUpdate")
    if next_utc <= this_utc:
        raise InvalidInput("crl.next_update", "The nextUpdate must be later than thisUpdate.")
    return this_utc, next_utc


def _bad_serial(serial: int) -> InvalidInput:
    return InvalidInput(
        "crl.serial", f"The serial number {serial} is not a positive integer of at most 20 octets."
    )


def _duplicate_serial(serial: int) -> InvalidInput:
    return InvalidInput("crl.duplicate_serial", f"The serial number {serial:X} is listed twice.")


def _bad_reason(reason: object) -> InvalidInput:
    return InvalidInput(
        "crl.reason",
        f"The revocation reason {reason!r} cannot be used in a complete CRL "
        "(removeFromCRL is for delta CRLs).",
    )


# ---------------------------------------------------------------------------------------------------
# cryptography builder path


def _envelope_extensions(issuer_key_identifier: bytes, crl_number: int) -> list[x509.ExtensionType]:
    return [
        x509.AuthorityKeyIdentifier(
            key_identifier=issuer_key_identifier,
            authority_cert_issuer=None,
            authority_cert_serial_number=None,
        ),
        x509.CRLNumber(crl_number),
    ]


def build_crl(
    *,
    issuer_name: x509.Name,
    issuer_key_identifier: bytes,
    crl_number: int,
    this_update: datetime,
    next_update: datetime,
    entries: Iterable[RevokedEntry],
) -> x509.CertificateRevocationListBuilder:
    """A CRL builder for an Issuing CA (OCA, ICA or DCA); sign it with ``.sign(signer, SHA256())``.

    Raises InvalidInput (``crl.*``) for a key identifier that is not 8 bytes, a bad CRL number, naive or
    out-of-order times, a serial that is not positive or longer than 20 octets, a duplicate serial, or
    the reason removeFromCRL.
    """
    this_utc, next_utc = _check_envelope(issuer_key_identifier, crl_number, this_update, next_update)
    revoked: list[x509.RevokedCertificate] = []
    seen: set[int] = set()
    reason_extensions = {
        reason: x509.CRLReason(reason) for reason, code in _REASON_CODES.items() if code != 0
    }
    for serial, revoked_at, reason in entries:
        if not 0 < serial < _MAX_INTEGER:
            raise _bad_serial(serial)
        if serial in seen:
            raise _duplicate_serial(serial)
        seen.add(serial)
        if reason is not None and reason not in _REASON_CODES:
            raise _bad_reason(reason)
        builder = (
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(_utc(revoked_at, "revocation date"))
        )
        extension = reason_extensions.get(reason) if reason is not None else None
        if extension is not None:
            builder = builder.add_extension(extension, critical=False)
        revoked.append(builder.build())
    crl = x509.CertificateRevocationListBuilder(
        issuer_name=issuer_name,
        last_update=this_utc,
        next_update=next_utc,
        revoked_certificates=revoked,
    )
    for extension_value in _envelope_extensions(issuer_key_identifier, crl_number):
        crl = crl.add_extension(extension_value, critical=False)
    return crl


def build_arl(
    *,
    issuer_name: x509.Name,
    issuer_key_identifier: bytes,
    crl_number: int,
    this_update: datetime,
    next_update: datetime,
    entries: Iterable[RevokedEntry],
) -> x509.CertificateRevocationListBuilder:
    """An ARL builder for a Root CA: ``issuer_name``/``issuer_key_identifier`` are the Root's, and
    ``entries`` the revoked Issuing CA certificates it issued.

    Encoded exactly like a CRL: an ARL differs only in its issuer and contents. A Root issues nothing but
    Issuing CA certificates, so its complete CRL already is an ARL, and an IssuingDistributionPoint with
    onlyContainsCACerts would add a critical extension that RFC 5280 5.2.5 lets relying parties without
    support treat as "status unknown", for no information gained (docs/decisions.md, "CRL/ARL").
    """
    return build_crl(
        issuer_name=issuer_name,
        issuer_key_identifier=issuer_key_identifier,
        crl_number=crl_number,
        this_update=this_update,
        next_update=next_update,
        entries=entries,
    )


# ---------------------------------------------------------------------------------------------------
# Fast path: encode the TBSCertList ourselves and sign it


def _time(value: datetime) -> bytes:
    """RFC 5280 Time: UTCTime for 1950-2049, GeneralizedTime otherwise; seconds, 'Z', no fraction."""
    t = value if value.tzinfo is UTC else _utc(value, "time")
    year = t.year
    fields = (t.month, t.day, t.hour, t.minute, t.second)
    if 1950 <= year < 2050:
        return b"\x17\x0d%02d%02d%02d%02d%02d%02dZ" % (year % 100, *fields)
    return b"\x18\x0f%04d%02d%02d%02d%02d%02dZ" % (year, *fields)


def _revoked_certificates(entries: Iterable[RevokedEntry]) -> bytes:
    """The content octets of revokedCertificates (the entries, concatenated)."""
    tails = _ENTRY_TAILS
    time = _time
    seen: set[int] = set()
    add_seen = seen.add
    parts: list[bytes] = []
    append = parts.append
    for serial, revoked_at, reason in entries:
        if not 0 < serial < _MAX_INTEGER:
            raise _bad_serial(serial)
        if serial in seen:
            raise _duplicate_serial(serial)
        add_seen(serial)
        try:
            tail = time(revoked_at) + tails[reason]
        except KeyError:
            raise _bad_reason(reason) from None
        # An entry is at most 2 + 21 + 17 + 14 bytes, so every length here is one octet.
        length = serial.bit_length() // 8 + 1
        append(bytes((0x30, length + 2 + len(tail), 0x02, length)) + serial.to_bytes(length, "big") + tail)
    return b"".join(parts)


def _extension(oid: str, value: x509.ExtensionType) -> bytes:
    return tlv(0x30, tlv(0x06, encode_oid(oid)) + tlv(0x04, value.public_bytes()))


def sign_crl(
    *,
    issuer_name: x509.Name,
    issuer_key_identifier: bytes,
    crl_number: int,
    this_update: datetime,
    next_update: datetime,
    entries: Iterable[RevokedEntry],
    signer: ec.EllipticCurvePrivateKey,
) -> bytes:
    """The DER of the signed CRL that :func:`build_crl` describes, encoded directly (the fast path).

    ``signer`` is the Issuing CA's key or any ``ec.EllipticCurvePrivateKey`` subclass (an HSM key); it
    signs the TBSCertList with ECDSA/SHA-256. Same refusals as :func:`build_crl`.
    """
    this_utc, next_utc = _check_envelope(issuer_key_identifier, crl_number, this_update, next_update)
    revoked = _revoked_certificates(entries)
    aki, number = _envelope_extensions(issuer_key_identifier, crl_number)
    extensions = tlv(0x30, _extension("2.5.29.35", aki) + _extension("2.5.29.20", number))
    head = b"".join(
        (_VERSION_V2, _ECDSA_SHA256_ALG, issuer_name.public_bytes(), _time(this_utc), _time(next_utc))
    )
    # RFC 5280 5.1.2.6: with no revoked certificates the list MUST be absent.
    revoked_field = (b"\x30" + encode_length(len(revoked)), revoked) if revoked else ()
    body = (head, *revoked_field, tlv(0xA0, extensions))
    tbs = b"".join((b"\x30", encode_length(sum(len(p) for p in body)), *body))
    signature = signer.sign(tbs, ec.ECDSA(hashes.SHA256()))
    tail = _ECDSA_SHA256_ALG + tlv(0x03, b"\x00" + signature)
    return b"".join((b"\x30", encode_length(len(tbs) + len(tail)), tbs, tail))


def sign_arl(
    *,
    issuer_name: x509.Name,
    issuer_key_identifier: bytes,
    crl_number: int,
    this_update: datetime,
    next_update: datetime,
    entries: Iterable[RevokedEntry],
    signer: ec.EllipticCurvePrivateKey,
) -> bytes:
    """The DER of the signed ARL that :func:`build_arl` describes (a Root's CRL; see there)."""
    return sign_crl(
        issuer_name=issuer_name,
        issuer_key_identifier=issuer_key_identifier,
        crl_number=crl_number,
        this_update=this_update,
        next_update=next_update,
        entries=entries,
        signer=signer,
    )


# ---------------------------------------------------------------------------------------------------
# Conformance check


# ECDSA-Sig-Value { r = the P-256 group order, s = 1 }: well formed and never valid (r must be below it).
_UNVERIFIABLE_SIGNATURE = tlv(
    0x30,
    tlv(0x02, bytes.fromhex("00FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551"))
    + tlv(0x02, b"\x01"),
)


def check_tbs_certlist(tbs: bytes, issuer_cert: x509.Certificate) -> list[str]:
    """Findings of :func:`check_crl` on a TBSCertList that is about to be signed; [] if none.

    The TBS is wrapped as a CRL whose signature cannot verify, and everything but the signature is
    checked: the caller lints the exact bytes its signer is handed, then checks the signature it gets.
    """
    try:
        fields = _tbs_fields(tbs)
        # The outer signatureAlgorithm repeats the TBS's own (cryptography refuses a list where they differ).
        algorithm = fields[1 if fields[0] == _VERSION_V2 else 0]
        candidate = tlv(0x30, tbs + algorithm + tlv(0x03, b"\x00" + _UNVERIFIABLE_SIGNATURE))
        crl = x509.load_der_x509_crl(candidate)
    except (ValueError, IndexError) as exc:
        return [f"crl.structure: The TBSCertList is not well-formed DER: {exc}."]
    return _check(crl, tbs, issuer_cert, verify_signature=False)


def check_signed_crl(der: bytes, tbs: bytes, issuer_cert: x509.Certificate) -> list[str]:
    """Findings of a signed CRL or ARL against the TBSCertList :func:`check_tbs_certlist` passed: it
    must hold exactly those bytes, name ecdsa-with-SHA256 and verify under the issuer certificate's key.

    Reads the three outer elements itself: loading a CRL of 10^6 entries to ask ``cryptography`` for its
    TBS bytes and signature would encode the whole list again twice.
    """
    try:
        outer, end = read_element(der)
        signed_tbs, algorithm, bits = read_children(outer)
    except ValueError as exc:
        return [f"crl.structure: The signed list is not well-formed DER: {exc}."]
    if end != len(der) or bits.tag != 0x03 or bits.content[:1] != b"\x00":
        return ["crl.structure: The signed list is not one CertificateList with a signature BIT STRING."]
    findings = []
    if signed_tbs.encoded != tbs:
        findings.append("crl.not_linted: The signed list does not hold the TBSCertList that was checked.")
    if algorithm.encoded != _ECDSA_SHA256_ALG:
        findings.append("crl.signature_algorithm: The signed list does not name ecdsa-with-SHA256.")
    key = issuer_cert.public_key()
    try:
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise TypeError("not an EC key")
        key.verify(bits.content[1:], signed_tbs.encoded, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, TypeError, ValueError):
        findings.append("crl.signature: The CRL signature does not verify with the issuer certificate's key.")
    return findings


def _tbs_fields(tbs: bytes) -> list[bytes]:
    outer, _ = read_element(tbs)
    return [child.encoded for child in read_children(outer)]


def check_crl(
    crl: x509.CertificateRevocationList, issuer_cert: x509.Certificate, *, verify_signature: bool = True
) -> list[str]:
    """Findings (``code: sentence``) of a CRL or ARL against the certificate of its issuer; [] if none.

    Checks: v2, ecdsa-with-SHA256 (without parameters, in the TBSCertList's signature field too), the
    signature under the issuer's key (unless ``verify_signature`` is false: see :func:`check_tbs_certlist`),
    issuer DN bytes equal to the issuer certificate's subject bytes, AKI = keyIdentifier only and equal to
    the issuer's SKI, cRLNumber present, nextUpdate present and after thisUpdate, and the issuer certificate
    allowing cRLSign. The entries are not read: both encoders refuse a bad serial, a duplicate or a
    reason a complete CRL cannot carry before anything is encoded.
    """
    return _check(crl, crl.tbs_certlist_bytes, issuer_cert, verify_signature=verify_signature)


def _check(
    crl: x509.CertificateRevocationList, tbs: bytes, issuer_cert: x509.Certificate, *, verify_signature: bool
) -> list[str]:
    """:func:`check_crl` with the TBSCertList's bytes given (``cryptography`` encodes them on each ask)."""
    findings: list[str] = []
    try:
        crl_fields = _tbs_fields(tbs)
        cert_fields = _tbs_fields(issuer_cert.tbs_certificate_bytes)
    except (ValueError, IndexError) as exc:
        return [f"crl.structure: The CRL or issuer certificate is not well-formed DER: {exc}."]
    if crl_fields[0] != _VERSION_V2:
        findings.append("crl.version: The CRL is not version 2.")
    if crl.signature_algorithm_oid != SignatureAlgorithmOID.ECDSA_WITH_SHA256:
        findings.append(
            f"crl.signature_algorithm: The CRL is signed with {crl.signature_algorithm_oid.dotted_string}, "
            "not ecdsa-with-SHA256."
        )
    elif crl_fields[1 if crl_fields[0] == _VERSION_V2 else 0] != _ECDSA_SHA256_ALG:
        findings.append(
            "crl.signature_algorithm: The TBSCertList's signature field is not ecdsa-with-SHA256 without "
            "parameters (RFC 5280 5.1.2.2)."
        )
    if verify_signature:
        try:
            signature_ok = crl.is_signature_valid(issuer_cert.public_key())  # type: ignore[arg-type]
        except (InvalidSignature, TypeError, ValueError):
            signature_ok = False
        if not signature_ok:
            findings.append(
                "crl.signature: The CRL signature does not verify with the issuer certificate's key."
            )

    subject = cert_fields[5 if cert_fields[0][:1] == b"\xa0" else 4]
    issuer = crl_fields[2 if crl_fields[0] == _VERSION_V2 else 1]
    if issuer != subject:
        findings.append(
            "crl.issuer: The CRL issuer is not byte-identical to the issuer certificate's subject."
        )

    try:
        ski: bytes | None = issuer_cert.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier
        ).value.digest
    except x509.ExtensionNotFound:
        ski = None
    try:
        aki_ext = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    except x509.ExtensionNotFound:
        findings.append("crl.aki: The CRL has no authorityKeyIdentifier.")
    else:
        aki = aki_ext.value
        if aki_ext.critical:
            findings.append("crl.aki: The authorityKeyIdentifier is marked critical.")
        if aki.authority_cert_issuer is not None or aki.authority_cert_serial_number is not None:
            findings.append("crl.aki: The authorityKeyIdentifier carries more than the keyIdentifier.")
        if aki.key_identifier is None or len(aki.key_identifier) != KEY_IDENTIFIER_LENGTH:
            findings.append(
                f"crl.aki: The authorityKeyIdentifier keyIdentifier is not {KEY_IDENTIFIER_LENGTH} bytes."
            )
        if ski is None:
            findings.append("crl.aki: The issuer certificate has no subjectKeyIdentifier to match.")
        elif aki.key_identifier != ski:
            findings.append(
                "crl.aki: The authorityKeyIdentifier does not match the issuer's subjectKeyIdentifier."
            )
    try:
        number_ext = crl.extensions.get_extension_for_class(x509.CRLNumber)
    except x509.ExtensionNotFound:
        findings.append("crl.number: The CRL has no cRLNumber.")
    else:
        if number_ext.critical:
            findings.append("crl.number: The cRLNumber is marked critical.")
        if not 0 <= number_ext.value.crl_number < _MAX_INTEGER:
            findings.append("crl.number: The cRLNumber is negative or longer than 20 octets.")

    next_update = crl.next_update_utc
    if next_update is None:
        findings.append("crl.next_update: The CRL has no nextUpdate.")
    elif next_update <= crl.last_update_utc:
        findings.append("crl.next_update: The nextUpdate is not after thisUpdate.")

    try:
        key_usage = issuer_cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        findings.append("crl.issuer_key_usage: The issuer certificate has no keyUsage allowing cRLSign.")
    else:
        if not key_usage.crl_sign:
            findings.append("crl.issuer_key_usage: The issuer certificate's keyUsage does not allow cRLSign.")
    return findings
