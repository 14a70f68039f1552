"""RFC 5649 (AES key wrap with padding) over a one-block AES encryption supplied by the caller.

The PKCS#11 backend needs this because SoftHSM2 2.6.1's ``C_WrapKey`` with ``CKM_AES_KEY_WRAP_PAD``
zero-pads the data to a multiple of 8 bytes *before* wrapping and puts the padded length in the message
length indicator, so its output differs from RFC 5649 (and from ``cryptography``'s
``aes_key_wrap_with_padding``) whenever the length is not a multiple of 8. Wrapping only ever uses the
forward AES permutation, so the token is asked for single AES-ECB block encryptions and the RFC's
arithmetic is done here; the key never leaves the token. (Unwrapping uses the token's ``C_UnwrapKey``,
which implements RFC 5649 correctly.)
"""

from __future__ import annotations

from collections.abc import Callable

_AIV_PREFIX = bytes.fromhex("A65959A6")


def wrap_with_padding(encrypt_block: Callable[[bytes], bytes], plaintext: bytes) -> bytes:
    """RFC 5649 section 4.1: ``encrypt_block`` is AES under the key-encryption key, 16 bytes in and out."""
    if not plaintext:
        raise ValueError("RFC 5649 wraps at least one byte")
    if len(plaintext) >= 2**32:
        raise ValueError("RFC 5649 wraps fewer than 2**32 bytes")
    aiv = _AIV_PREFIX + len(plaintext).to_bytes(4, "big")
    padded = plaintext + b"\x00" * (-len(plaintext) % 8)
    if len(padded) == 8:
        return _block(encrypt_block, aiv + padded)
    # RFC 3394 section 2.2.1 with the alternative initial value.
    n = len(padded) // 8
    a = aiv
    r = [padded[i * 8 : (i + 1) * 8] for i in range(n)]
    for j in range(6):
        for i in range(n):
            b = _block(encrypt_block, a + r[i])
            t = n * j + i + 1
            a = (int.from_bytes(b[:8], "big") ^ t).to_bytes(8, "big")
            r[i] = b[8:]
    return a + b"".join(r)


def _block(encrypt_block: Callable[[bytes], bytes], block: bytes) -> bytes:
    out = encrypt_block(block)
    if len(out) != 16:
        raise ValueError("the block cipher returned a block that is not 16 bytes")
    return out
