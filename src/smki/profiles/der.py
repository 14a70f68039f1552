"""A small, strict DER reader/writer for the few structures `cryptography` leaves to us.

Used for HardwareModuleName (RFC 4108) and the Root OCA WrappedApexContingencyKey extension.
"""

from __future__ import annotations

TAG_INTEGER = 0x02
TAG_BIT_STRING = 0x03
TAG_OCTET_STRING = 0x04
TAG_OID = 0x06
TAG_SEQUENCE = 0x30

# The ecdsa-with-SHA256 AlgorithmIdentifier, parameters absent (RFC 5758), as every SMKI signature has it.
ECDSA_WITH_SHA256_ALGORITHM = bytes.fromhex("300a06082a8648ce3d040302")
# A P-256 SubjectPublicKeyInfo up to its 65-octet uncompressed point (the point follows).
P256_SPKI_HEADER = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200")


def encode_length(n: int) -> bytes:
    """DER definite length."""
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, body: bytes) -> bytes:
    """Encode one DER element."""
    return bytes([tag]) + encode_length(len(body)) + body


def read_tlv(data: bytes, expected_tag: int) -> tuple[bytes, bytes]:
    """Read one element with the expected tag; return (body, rest). Raises ValueError when malformed."""
    if len(data) < 2:
        raise ValueError("truncated element")
    if data[0] != expected_tag:
        raise ValueError(f"expected tag 0x{expected_tag:02X}, found 0x{data[0]:02X}")
    first = data[1]
    if first < 0x80:
        length, offset = first, 2
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or len(data) < 2 + count:
            raise ValueError("bad length")
        length = int.from_bytes(data[2 : 2 + count], "big")
        if length < 0x80 or data[2] == 0:
            raise ValueError("non-minimal length")
        offset = 2 + count
    if len(data) < offset + length:
        raise ValueError("truncated element")
    return data[offset : offset + length], data[offset + length :]


def encode_oid(dotted: str) -> bytes:
    """Encode an OBJECT IDENTIFIER body (without tag and length)."""
    try:
        arcs = [int(a) for a in dotted.split(".")]
    except ValueError:
        raise ValueError(f"{dotted!r} is not a dotted OID") from None
    if len(arcs) < 2 or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] > 39) or any(a < 0 for a in arcs):
        raise ValueError(f"{dotted!r} is not a valid OID")
    out = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out.extend(reversed(chunk))
    return bytes(out)


def decode_oid(body: bytes) -> str:
    """Decode an OBJECT IDENTIFIER body to dotted form."""
    if not body or body[-1] & 0x80:
        raise ValueError("truncated OID")
    arcs: list[int] = []
    value = 0
    start = True
    for byte in body:
        if start and byte == 0x80:
            raise ValueError("non-minimal OID arc")
        value = (value << 7) | (byte & 0x7F)
        start = False
        if not byte & 0x80:
            arcs.append(value)
            value = 0
            start = True
    first = arcs[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(str(a) for a in head + arcs[1:])
