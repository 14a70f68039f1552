"""The Root OCA WrappedApexContingencyKey extension: the Contingency Public Key, wrapped.

The SEC names the field (Appendix B Annex B) but no public source gives its OID or encoding, so smki
defines both (docs/decisions.md, "WrappedApexContingencyKey"):

    WrappedApexContingencyKey ::= SEQUENCE {
        wrapAlgorithm  OBJECT IDENTIFIER,   -- id-aes256-wrap-pad 2.16.840.1.101.3.4.1.48 (RFC 5649)
        wrappedKey     OCTET STRING }       -- AES-KWP(Contingency Symmetric Key, SubjectPublicKeyInfo DER)

The extension is non-critical and its OID is ``PkiEnvironment.contingency_key_extension_oid``. These
functions are pure: the Contingency Symmetric Key is passed in by the ``keys`` package, which alone holds it.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap_with_padding,
    aes_key_wrap_with_padding,
)

from smki.model import InvalidInput
from smki.profiles import der as d
from smki.profiles.environment import PkiEnvironment

AES256_WRAP_PAD_OID = "2.16.840.1.101.3.4.1.48"
"""id-aes256-wrap-pad (RFC 5649 / RFC 6019): AES key wrap with padding under a 256-bit key."""

CONTINGENCY_SYMMETRIC_KEY_LENGTH = 32

_CLAUSE = "Appendix B Annex B (WrappedApexContingencyKey)"


def wrap_contingency_public_key(symmetric_key: bytes, public_key: ec.EllipticCurvePublicKey) -> bytes:
    """Wrap the Contingency Public Key's SubjectPublicKeyInfo DER under the Contingency Symmetric Key."""
    _check_symmetric_key(symmetric_key)
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
        public_key.curve, ec.SECP256R1
    ):
        raise InvalidInput(
            "contingency.public_key_not_p256",
            "The Contingency Public Key must be an EC public key on P-256.",
            _CLAUSE,
        )
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return aes_key_wrap_with_padding(symmetric_key, spki)


def unwrap_contingency_public_key(symmetric_key: bytes, wrapped_key: bytes) -> ec.EllipticCurvePublicKey:
    """Recover the Contingency Public Key; a wrong key or damaged bytes give InvalidInput."""
    _check_symmetric_key(symmetric_key)
    try:
        spki = aes_key_unwrap_with_padding(symmetric_key, wrapped_key)
    except (InvalidUnwrap, ValueError):
        raise InvalidInput(
            "contingency.unwrap_failed",
            "The wrapped Contingency Public Key does not unwrap under this Contingency Symmetric Key.",
            _CLAUSE,
        ) from None
    try:
        key = serialization.load_der_public_key(spki)
    except ValueError:
        raise InvalidInput(
            "contingency.not_a_public_key", "The unwrapped contingency value is not a public key.", _CLAUSE
        ) from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise InvalidInput(
            "contingency.public_key_not_p256",
            "The unwrapped Contingency Public Key is not an EC public key on P-256.",
            _CLAUSE,
        )
    return key


def encode_wrapped_contingency_key(wrapped_key: bytes) -> bytes:
    """DER of the extension value: SEQUENCE { id-aes256-wrap-pad, OCTET STRING wrappedKey }."""
    if not isinstance(wrapped_key, bytes) or len(wrapped_key) < 16 or len(wrapped_key) % 8:
        raise InvalidInput(
            "contingency.wrapped_key_length",
            "A wrapped Contingency Public Key is RFC 5649 output: a multiple of 8 bytes, at least 16.",
            _CLAUSE,
        )
    body = d.tlv(d.TAG_OID, d.encode_oid(AES256_WRAP_PAD_OID)) + d.tlv(d.TAG_OCTET_STRING, wrapped_key)
    return d.tlv(d.TAG_SEQUENCE, body)


def decode_wrapped_contingency_key(value: bytes) -> bytes:
    """Read the wrapped key from the extension value DER, refusing any other algorithm or shape."""
    try:
        body, rest = d.read_tlv(value, d.TAG_SEQUENCE)
        if rest:
            raise ValueError("trailing bytes after the SEQUENCE")
        oid_body, body = d.read_tlv(body, d.TAG_OID)
        wrapped, body = d.read_tlv(body, d.TAG_OCTET_STRING)
        if body:
            raise ValueError("trailing bytes inside the SEQUENCE")
        algorithm = d.decode_oid(oid_body)
    except ValueError as exc:
        raise InvalidInput(
            "contingency.bad_extension",
            f"The WrappedApexContingencyKey extension is malformed: {exc}.",
            _CLAUSE,
        ) from None
    if algorithm != AES256_WRAP_PAD_OID:
        raise InvalidInput(
            "contingency.unknown_wrap_algorithm",
            f"The contingency key is wrapped with {algorithm}; smki only knows id-aes256-wrap-pad.",
            _CLAUSE,
        )
    return wrapped


def contingency_extension(env: PkiEnvironment, wrapped_key: bytes) -> x509.UnrecognizedExtension:
    """The extension value object for a CertificateBuilder (add it non-critical)."""
    return x509.UnrecognizedExtension(
        x509.ObjectIdentifier(env.contingency_key_extension_oid), encode_wrapped_contingency_key(wrapped_key)
    )


def wrapped_contingency_key_of(env: PkiEnvironment, certificate: x509.Certificate) -> bytes:
    """The wrapped Contingency Public Key a Root OCA Certificate carries, or InvalidInput if absent."""
    oid = x509.ObjectIdentifier(env.contingency_key_extension_oid)
    try:
        ext = certificate.extensions.get_extension_for_oid(oid)
    except x509.ExtensionNotFound:
        raise InvalidInput(
            "contingency.extension_missing",
            "The certificate carries no WrappedApexContingencyKey extension.",
            _CLAUSE,
        ) from None
    except ValueError as exc:
        raise InvalidInput(
            "contingency.bad_extension", f"The certificate's extensions cannot be decoded: {exc}.", _CLAUSE
        ) from None
    if not isinstance(ext.value, x509.UnrecognizedExtension):
        raise InvalidInput(
            "contingency.bad_extension", "The contingency extension OID names a known extension.", _CLAUSE
        )
    return decode_wrapped_contingency_key(ext.value.value)


def _check_symmetric_key(symmetric_key: bytes) -> None:
    if not isinstance(symmetric_key, bytes) or len(symmetric_key) != CONTINGENCY_SYMMETRIC_KEY_LENGTH:
        raise InvalidInput(
            "contingency.symmetric_key_length",
            "The Contingency Symmetric Key is an AES-256 key of exactly 32 bytes.",
            _CLAUSE,
        )
