"""Pre-issuance lint of the exact to-be-signed bytes, without a throwaway signature.

The CA key signs through :class:`CheckingSigner`: ``cryptography``'s ``CertificateBuilder.sign`` hands it the
DER TBSCertificate it is about to sign, the check runs on those bytes, and only when it passes does the CA
key sign them. So what is linted is exactly what is signed, the builder encodes each certificate once, and
no throwaway key signs anything.

The check is :func:`smki.profiles.lint.lint` on the TBS wrapped as a certificate whose signature value
(r = the P-256 group order) cannot verify and is rejected by OpenSSL before any curve arithmetic; the
signature findings are ignored as before (the real signature is verified after signing).

A full lint costs about ten times a signature, so for Device Certificates (whose TBSCertificates differ
only in serial, public key point, subjectKeyIdentifier and EUI-64, all fixed-length) a fully linted TBS
becomes a *template*: a later TBS of the same shape (kind, key usage, issuer, notBefore) passes when it is
byte-for-byte the template with that request's own serial, point, key identifier and EUI-64 put in. The
values come from the request, not from the bytes being checked, and each is valid by construction (a
16-octet positive serial, a P-256 point the builder accepted, the method-2 key identifier of that point,
an 8-octet EUI-64), so the TBS is the linted one with valid values in the only places that may differ.
Anything else (a different length, a byte out of place) is linted in full. See docs/decisions.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from smki.model import CertificateKind, EntityId, KeyUsage
from smki.profiles import builders
from smki.profiles.der import (
    ECDSA_WITH_SHA256_ALGORITHM,
    P256_SPKI_HEADER,
    TAG_BIT_STRING,
    TAG_INTEGER,
    TAG_SEQUENCE,
    tlv,
)

_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
# ECDSA-Sig-Value { r = n, s = 1 }: well formed, two positive INTEGERs, and never valid (r must be < n).
_UNVERIFIABLE_SIGNATURE = tlv(
    TAG_SEQUENCE,
    tlv(TAG_INTEGER, b"\x00" + _P256_ORDER.to_bytes(32, "big")) + tlv(TAG_INTEGER, b"\x01"),
)


def candidate_der(tbs: bytes) -> bytes:
    """A certificate holding ``tbs`` and a signature that cannot verify: what the linter reads."""
    return tlv(
        TAG_SEQUENCE,
        tbs + ECDSA_WITH_SHA256_ALGORITHM + tlv(TAG_BIT_STRING, b"\x00" + _UNVERIFIABLE_SIGNATURE),
    )


class CheckingSigner(ec.EllipticCurvePrivateKey):
    """Wraps a CA signer: ``check(tbs)`` runs on the bytes to be signed and must return before they are."""

    def __init__(self, signer: ec.EllipticCurvePrivateKey, check: Callable[[bytes], None]) -> None:
        self._signer = signer
        self._check = check

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._signer.curve

    @property
    def key_size(self) -> int:
        return self._signer.key_size

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._signer.public_key()

    def sign(self, data: Any, signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        self._check(bytes(data))
        return self._signer.sign(data, signature_algorithm)

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        raise TypeError("a CA signing key does not do key agreement")

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        raise TypeError("the CA private key is not readable here")

    def private_bytes(self, encoding: Any, format: Any, encryption_algorithm: Any) -> bytes:
        raise TypeError("the CA private key is not readable here")

    def __copy__(self) -> CheckingSigner:
        return self

    def __deepcopy__(self, memo: dict[Any, Any]) -> CheckingSigner:
        return self


_P256_UNCOMPRESSED_PREFIX = P256_SPKI_HEADER + b"\x04"  # an uncompressed point follows the 0x04
_P256_SPKI_LENGTH = len(P256_SPKI_HEADER) + 65


@dataclass(frozen=True)
class TemplateValues:
    """The request's own values for the places where Device TBSCertificates of one shape differ."""

    serial: bytes  # the 16 INTEGER content octets
    point: bytes  # 65-octet uncompressed P-256 point
    key_id: bytes  # 8-octet method-2 subjectKeyIdentifier
    eui: bytes  # 8-octet hwSerialNum

    @classmethod
    def of(
        cls,
        serial: int,
        public_key: ec.EllipticCurvePublicKey,
        entity_id: EntityId,
        public_key_der: bytes | None = None,
    ) -> TemplateValues:
        """The values of one request. ``public_key_der``, when given, is ``public_key``'s own
        SubjectPublicKeyInfo (as read from the CSR): an uncompressed P-256 one holds the point as its last
        65 octets, which saves encoding the key again (property-tested equal to ``public_bytes``)."""
        if (
            public_key_der is not None
            and len(public_key_der) == _P256_SPKI_LENGTH
            and public_key_der.startswith(_P256_UNCOMPRESSED_PREFIX)
        ):
            point = public_key_der[len(P256_SPKI_HEADER) :]
        else:
            point = public_key.public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        return cls(serial.to_bytes(16, "big"), point, builders.point_key_identifier(point), entity_id.value)

    def parts(self) -> tuple[bytes, bytes, bytes, bytes]:
        return (self.serial, self.point, self.key_id, self.eui)


ShapeKey = tuple[CertificateKind, KeyUsage, str]


@dataclass(frozen=True)
class _Template:
    segments: tuple[bytes, ...]  # fixed bytes around the 4 slots, in offset order (5 segments)
    order: tuple[int, ...]  # which TemplateValues part fills each slot, in offset order
    length: int
    # Made from the two above, so that ``fill`` is two C calls: the segments joined by a ``%b`` per slot
    # (with any '%' octet in them doubled, so it stands for itself), and the getter of the parts in slot
    # order (itemgetter of 2 or more indexes returns a tuple).
    _format: bytes = field(init=False, repr=False, compare=False)
    _pick: Callable[[tuple[bytes, ...]], tuple[bytes, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.segments) != len(self.order) + 1 or len(self.order) < 2:
            raise ValueError("a template has at least two slots, with one segment more than slots")
        object.__setattr__(self, "_format", b"%b".join(s.replace(b"%", b"%%") for s in self.segments))
        object.__setattr__(self, "_pick", itemgetter(*self.order))

    def fill(self, values: TemplateValues) -> bytes:
        """The segments with the values' parts put in their slots."""
        return self._format % self._pick(values.parts())


class TemplateCache:
    """Fully linted Device TBS templates of one issuance run, by shape (each run makes its own: a run has
    one notBefore)."""

    def __init__(self) -> None:
        self._templates: dict[ShapeKey, _Template] = {}

    def has(self, shape: ShapeKey) -> bool:
        """True when a linted template of ``shape`` is known."""
        return shape in self._templates

    def fill(self, shape: ShapeKey, values: TemplateValues) -> bytes | None:
        """The linted template of ``shape`` with ``values`` put in (None when there is none)."""
        template = self._templates.get(shape)
        return template.fill(values) if template is not None else None

    def matches(self, shape: ShapeKey, tbs: bytes, values: TemplateValues) -> bool:
        """True when ``tbs`` is the linted template of ``shape`` with exactly ``values`` put in."""
        template = self._templates.get(shape)
        return template is not None and len(tbs) == template.length and template.fill(values) == tbs

    def learn(self, shape: ShapeKey, tbs: bytes, values: TemplateValues) -> bool:
        """Remember a fully linted TBS as the template of its shape, when each value occurs in it once."""
        found: list[tuple[int, int, int]] = []  # (offset, length, slot)
        for slot, value in enumerate(values.parts()):
            at = tbs.find(value)
            if at < 0 or tbs.find(value, at + 1) >= 0:
                return False
            found.append((at, len(value), slot))
        found.sort()
        segments: list[bytes] = []
        cursor = 0
        for at, length, _ in found:
            if at < cursor:
                return False  # overlapping places: not a usable template
            segments.append(tbs[cursor:at])
            cursor = at + length
        segments.append(tbs[cursor:])
        template = _Template(tuple(segments), tuple(slot for _, _, slot in found), len(tbs))
        if template.fill(values) != tbs:
            return False
        self._templates[shape] = template
        return True
