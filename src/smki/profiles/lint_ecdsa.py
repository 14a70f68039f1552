"""Checking a signature when the issuer certificate is absent, through the AKI.

An ECDSA signature (r, s) over a digest e admits at most a few public keys that could have made it:
Q = r^-1 (s R - e G) for each curve point R with x-coordinate r. In the SMKI every keyIdentifier is
RFC 5280 method 2 (8 octets, notes §2), so when one of those keys has the SKI the AKI names, the
signature matches the named issuer key (to 60 bits of SHA-1); when none has, the certificate was
altered after signing or its AKI is wrong. That detects e.g. the RTDS corrupted-signature Issuing OCA
without the Root OCA certificate. Pure integer arithmetic on P-256; no secret is involved.
"""

from __future__ import annotations

import hashlib

# NIST P-256 (SEC 2 secp256r1)
_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
_A = _P - 3
_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_G = (
    0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
)

_Jacobian = tuple[int, int, int]


def _double(pt: _Jacobian) -> _Jacobian:
    x, y, z = pt
    if y == 0 or z == 0:
        return (0, 1, 0)
    ysq = y * y % _P
    s = 4 * x * ysq % _P
    zsq = z * z % _P
    m = 3 * (x - zsq) * (x + zsq) % _P  # a = -3
    nx = (m * m - 2 * s) % _P
    ny = (m * (s - nx) - 8 * ysq * ysq) % _P
    nz = 2 * y * z % _P
    return (nx, ny, nz)


def _add(p1: _Jacobian, p2: _Jacobian) -> _Jacobian:
    if p1[2] == 0:
        return p2
    if p2[2] == 0:
        return p1
    x1, y1, z1 = p1
    x2, y2, z2 = p2
    z1sq, z2sq = z1 * z1 % _P, z2 * z2 % _P
    u1, u2 = x1 * z2sq % _P, x2 * z1sq % _P
    s1, s2 = y1 * z2sq * z2 % _P, y2 * z1sq * z1 % _P
    if u1 == u2:
        return _double(p1) if s1 == s2 else (0, 1, 0)
    h, r = (u2 - u1) % _P, (s2 - s1) % _P
    hsq = h * h % _P
    hcu = hsq * h % _P
    nx = (r * r - hcu - 2 * u1 * hsq) % _P
    ny = (r * (u1 * hsq - nx) - s1 * hcu) % _P
    nz = h * z1 * z2 % _P
    return (nx, ny, nz)


def _double_multiply(k1: int, p1: tuple[int, int], k2: int, p2: tuple[int, int]) -> tuple[int, int] | None:
    """k1*P1 + k2*P2 (Shamir's trick), affine, or None for the point at infinity."""
    j1: _Jacobian = (p1[0], p1[1], 1)
    j2: _Jacobian = (p2[0], p2[1], 1)
    both = _add(j1, j2)
    acc: _Jacobian = (0, 1, 0)
    for i in range(max(k1.bit_length(), k2.bit_length()) - 1, -1, -1):
        acc = _double(acc)
        b1, b2 = (k1 >> i) & 1, (k2 >> i) & 1
        if b1 and b2:
            acc = _add(acc, both)
        elif b1:
            acc = _add(acc, j1)
        elif b2:
            acc = _add(acc, j2)
    x, y, z = acc
    if z == 0:
        return None
    zinv = pow(z, -1, _P)
    zinv2 = zinv * zinv % _P
    return (x * zinv2 % _P, y * zinv2 * zinv % _P)


def candidate_public_points(r: int, s: int, digest: bytes) -> list[bytes]:
    """The uncompressed points (65 bytes) of every P-256 key that verifies (r, s) over ``digest``."""
    if not (0 < r < _N and 0 < s < _N):
        return []
    e = int.from_bytes(digest[:32], "big") % _N
    rinv = pow(r, -1, _N)
    out: list[bytes] = []
    for x in (r, r + _N):
        if x >= _P:
            continue
        alpha = (pow(x, 3, _P) + _A * x + _B) % _P
        beta = pow(alpha, (_P + 1) // 4, _P)
        if beta * beta % _P != alpha:
            continue
        for y in (beta, _P - beta):
            q = _double_multiply(s * rinv % _N, (x, y), (-e * rinv) % _N, _G)
            if q is not None:
                out.append(b"\x04" + q[0].to_bytes(32, "big") + q[1].to_bytes(32, "big"))
    return out


def method2_key_identifier(point: bytes) -> bytes:
    """RFC 5280 4.2.1.2 method 2 as the SMKI uses it: 0100 then the low 60 bits of SHA-1 of the key."""
    h = hashlib.sha1(point).digest()  # RFC 5280 fixes SHA-1 here
    return bytes([0x40 | (h[12] & 0x0F)]) + h[13:20]


def signature_matches_key_identifier(r: int, s: int, signed_bytes: bytes, key_identifier: bytes) -> bool:
    """True when a P-256 key whose method-2 identifier is ``key_identifier`` could have signed."""
    digest = hashlib.sha256(signed_bytes).digest()
    return any(method2_key_identifier(q) == key_identifier for q in candidate_public_points(r, s, digest))
