"""Making subscriber CSRs shaped like the real ones, for ``smki csr ...``, users trying the RA and tests.

The keys are *subscriber* keys (a Device's, a Party's), never CA keys: each CSR is signed with the
subscriber's own key, made by :func:`smki.subscriber_tools.key_pairs.new_subscriber_key` unless given.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from smki.model import EntityId, InvalidInput, KeyUsage, RemotePartyRole
from smki.profiles.der import TAG_OCTET_STRING, TAG_OID, TAG_SEQUENCE, encode_oid, tlv
from smki.profiles.environment import HARDWARE_MODULE_NAME_OID, PkiEnvironment
from smki.subscriber_tools.key_pairs import new_subscriber_key as new_key


def _key_usage(usage: KeyUsage) -> x509.KeyUsage:
    if usage not in (KeyUsage.DIGITAL_SIGNATURE, KeyUsage.KEY_AGREEMENT):
        raise InvalidInput("csr.key_usage", "A subscriber request asks for DS or KA.")
    ds = usage is KeyUsage.DIGITAL_SIGNATURE
    return x509.KeyUsage(ds, False, False, False, not ds, False, False, False, False)


def device_csr(
    entity_id: EntityId,
    usage: KeyUsage,
    env: PkiEnvironment,
    key: ec.EllipticCurvePrivateKey | None = None,
) -> tuple[x509.CertificateSigningRequest, ec.EllipticCurvePrivateKey]:
    """A Device's request as GBCS CS02c makes it: empty subject; KU and SAN hardwareModuleName, critical."""
    key = key or new_key()
    hmn = tlv(
        TAG_SEQUENCE,
        tlv(TAG_OID, encode_oid(env.hw_type_oid)) + tlv(TAG_OCTET_STRING, entity_id.value),
    )
    san = x509.SubjectAlternativeName([x509.OtherName(x509.ObjectIdentifier(HARDWARE_MODULE_NAME_OID), hmn)])
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(_key_usage(usage), critical=True)
        .add_extension(san, critical=True)
        .sign(key, hashes.SHA256())
    )
    return csr, key


def organisation_subject(
    entity_id: EntityId, role: RemotePartyRole | None, common_name: str | None = None
) -> x509.Name:
    """[CN,] OU = role as two hex digits, x500UniqueIdentifier = the EUI-64 as a 64-bit BIT STRING."""
    attrs: list[x509.NameAttribute[str | bytes]] = []
    if common_name is not None:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    if role is not None:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role.ou))
    # cryptography writes the bytes as the BIT STRING content: the unused-bits octet comes first.
    attrs.append(
        x509.NameAttribute(
            NameOID.X500_UNIQUE_IDENTIFIER, b"\x00" + entity_id.value, _type=_ASN1Type.BitString
        )
    )
    return x509.Name(attrs)


def organisation_csr(
    entity_id: EntityId,
    role: RemotePartyRole,
    usage: KeyUsage,
    *,
    common_name: str | None = None,
    key: ec.EllipticCurvePrivateKey | None = None,
) -> tuple[x509.CertificateSigningRequest, ec.EllipticCurvePrivateKey]:
    """A Party's request for an Organisation Certificate: the profile's subject and one key usage."""
    key = key or new_key()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(organisation_subject(entity_id, role, common_name))
        .add_extension(_key_usage(usage), critical=True)
        .sign(key, hashes.SHA256())
    )
    return csr, key


def iki_csr(
    entity_id: EntityId,
    *,
    role: RemotePartyRole | None = None,
    common_name: str | None = None,
    key: ec.EllipticCurvePrivateKey | None = None,
) -> tuple[x509.CertificateSigningRequest, ec.EllipticCurvePrivateKey]:
    """A request for an IKI Certificate: the Organisation subject shape (OU optional), digitalSignature."""
    key = key or new_key()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(organisation_subject(entity_id, role, common_name))
        .add_extension(_key_usage(KeyUsage.DIGITAL_SIGNATURE), critical=True)
        .sign(key, hashes.SHA256())
    )
    return csr, key


def csr_pem(csr: x509.CertificateSigningRequest) -> bytes:
    """PEM bytes of a request."""
    return csr.public_bytes(serialization.Encoding.PEM)
