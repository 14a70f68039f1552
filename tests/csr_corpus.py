"""Making CSRs with and without each defect the RA and `smki lint` must agree on (issue 10 item 4).

Every CSR is built here at test time from its description (no golden files): a Device or Organisation
request, its key usage, and any of the defects of the held-out style corpus: compressed point, P-384, RSA,
SHA-1, two usages, nonRepudiation, two hardware names, 7-octet EUI, subject on a device, bad OU (and a CA
role, a non-critical keyUsage). The request is assembled and signed by hand, so a defect that
``cryptography``'s builder refuses to make (SHA-1, a compressed point) can still be made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from smki.model import EntityId, KeyUsage, RemotePartyRole
from smki.profiles import builders
from smki.profiles import der as d
from smki.profiles.environment import HARDWARE_MODULE_NAME_OID, X500_UNIQUE_IDENTIFIER_OID, PkiEnvironment

ENV = PkiEnvironment()
EUI = EntityId.parse("00-DB-12-34-56-78-90-A1")

KEY_DEFECTS = ("compressed", "p384", "rsa")
USAGE_DEFECTS = ("two_usages", "non_repudiation")
DEVICE_DEFECTS = ("two_hw_names", "eui7", "subject_on_device")
ORGANISATION_DEFECTS = ("eui7", "bad_ou", "ca_role")
OTHER_DEFECTS = ("sha1", "ku_not_critical")

# The finding each defect alone gives (so the property test can check the generator makes what it says).
DEFECT_CODE = {
    "compressed": "key.compressed",
    "p384": "key.not_p256",
    "rsa": "key.not_p256",
    "sha1": "sig.algorithm",
    "two_usages": "ku.not_single",
    "non_repudiation": "ku.wrong_usage",
    "ku_not_critical": "ku.not_critical",
    "two_hw_names": "san.not_single",
    ("device", "eui7"): "san.serial_length",
    ("organisation", "eui7"): "subject.eui_encoding",
    "subject_on_device": "subject.not_empty",
    "bad_ou": "subject.ou_not_hex",
    "ca_role": "subject.ca_role",
}


def defect_code(kind: str, defect: str) -> str:
    """The finding a defect alone gives in a request of ``kind``."""
    return DEFECT_CODE.get((kind, defect)) or DEFECT_CODE[defect]


@dataclass(frozen=True)
class CsrSpec:
    """A request to make: its kind and usage, and the defects it carries."""

    kind: str  # "device" or "organisation"
    usage: KeyUsage = KeyUsage.DIGITAL_SIGNATURE
    defects: frozenset[str] = field(default_factory=frozenset)
    role_code: int = RemotePartyRole.SUPPLIER.code  # a code: hypothesis cannot print a RemotePartyRole
    bad_ou: str = "zz"


@cache
def _p256() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@cache
def _p384() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


@cache
def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _key_usage(spec: CsrSpec) -> x509.KeyUsage:
    bits = dict.fromkeys(
        (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    if "non_repudiation" in spec.defects:
        bits["content_commitment"] = True
    else:
        bits["digital_signature" if spec.usage is KeyUsage.DIGITAL_SIGNATURE else "key_agreement"] = True
        if "two_usages" in spec.defects:
            bits["digital_signature"] = bits["key_agreement"] = True
    return x509.KeyUsage(**bits)


def _hmn(serial: bytes) -> x509.OtherName:
    value = builders.encode_hardware_module_name(ENV.hw_type_oid, serial)
    return x509.OtherName(x509.ObjectIdentifier(HARDWARE_MODULE_NAME_OID), value)


def _subject(spec: CsrSpec) -> x509.Name:
    if spec.kind == "device":
        if "subject_on_device" in spec.defects:
            return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "meter")])
        return x509.Name([])
    role = RemotePartyRole.ROOT if "ca_role" in spec.defects else RemotePartyRole(spec.role_code)
    ou = spec.bad_ou if "bad_ou" in spec.defects else role.ou
    uid = EUI.value[:7] if "eui7" in spec.defects else EUI.value
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou),
            x509.NameAttribute(
                x509.ObjectIdentifier(X500_UNIQUE_IDENTIFIER_OID), b"\x00" + uid, _type=_ASN1Type.BitString
            ),
        ]
    )


def _algorithm(spec: CsrSpec) -> tuple[bytes, hashes.HashAlgorithm]:
    sha1 = "sha1" in spec.defects
    digest: hashes.HashAlgorithm = hashes.SHA1() if sha1 else hashes.SHA256()  # SHA-1: a defect
    if "rsa" in spec.defects:
        oid = "1.2.840.113549.1.1.5" if sha1 else "1.2.840.113549.1.1.11"
        return d.tlv(d.TAG_SEQUENCE, d.tlv(d.TAG_OID, d.encode_oid(oid)) + b"\x05\x00"), digest
    oid = "1.2.840.10045.4.1" if sha1 else "1.2.840.10045.4.3.2"
    return d.tlv(d.TAG_SEQUENCE, d.tlv(d.TAG_OID, d.encode_oid(oid))), digest


def make_csr(spec: CsrSpec) -> bytes:
    """The DER of the request ``spec`` describes, signed by its own key (so proof of possession holds)."""
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    key = _rsa() if "rsa" in spec.defects else _p384() if "p384" in spec.defects else _p256()
    builder = x509.CertificateSigningRequestBuilder().subject_name(_subject(spec))
    builder = builder.add_extension(_key_usage(spec), critical="ku_not_critical" not in spec.defects)
    if spec.kind == "device":
        serial = EUI.value[:7] if "eui7" in spec.defects else EUI.value
        names = [_hmn(serial)]
        if "two_hw_names" in spec.defects:
            names.append(_hmn(bytes.fromhex("00DB1234567890A2")))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=True)
    info = builder.sign(key, hashes.SHA256()).tbs_certrequest_bytes  # type: ignore[arg-type]
    if "compressed" in spec.defects and isinstance(key, ec.EllipticCurvePrivateKey):
        public = key.public_key()
        spki = public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        point = public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
        algorithm_id = spki[2 : 4 + spki[3]]  # the SPKI's AlgorithmIdentifier (P-256: short lengths)
        compressed = d.tlv(d.TAG_SEQUENCE, algorithm_id + d.tlv(d.TAG_BIT_STRING, b"\x00" + point))
        body, _ = d.read_tlv(info, d.TAG_SEQUENCE)
        assert body.count(spki) == 1
        info = d.tlv(d.TAG_SEQUENCE, body.replace(spki, compressed))
    algorithm, digest = _algorithm(spec)
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(info, padding.PKCS1v15(), digest)
    else:
        signature = key.sign(info, ec.ECDSA(digest))
    return d.tlv(d.TAG_SEQUENCE, info + algorithm + d.tlv(d.TAG_BIT_STRING, b"\x00" + signature))


def pem(der: bytes) -> bytes:
    """PEM of a DER request."""
    return x509.load_der_x509_csr(der).public_bytes(serialization.Encoding.PEM)


# The corpus: one request per defect, and the code `smki lint` (and so the RA) reports for it, written out.
CORPUS: dict[str, tuple[CsrSpec, str]] = {
    "compressed-point": (CsrSpec("device", defects=frozenset({"compressed"})), "key.compressed"),
    "p384": (CsrSpec("device", defects=frozenset({"p384"})), "key.not_p256"),
    "rsa": (CsrSpec("organisation", defects=frozenset({"rsa"})), "key.not_p256"),
    "sha1": (CsrSpec("device", defects=frozenset({"sha1"})), "sig.algorithm"),
    "two-usages": (CsrSpec("organisation", defects=frozenset({"two_usages"})), "ku.not_single"),
    "non-repudiation": (CsrSpec("organisation", defects=frozenset({"non_repudiation"})), "ku.wrong_usage"),
    "two-hardware-names": (CsrSpec("device", defects=frozenset({"two_hw_names"})), "san.not_single"),
    "eui-7-octets": (CsrSpec("device", defects=frozenset({"eui7"})), "san.serial_length"),
    "subject-on-device": (CsrSpec("device", defects=frozenset({"subject_on_device"})), "subject.not_empty"),
    "bad-ou": (CsrSpec("organisation", defects=frozenset({"bad_ou"})), "subject.ou_not_hex"),
}
