"""The opaque signer every key backend hands out: it signs, it shows its public key, and that is all.

A :class:`Signer` is an ``ec.EllipticCurvePrivateKey`` so that ``cryptography``'s ``CertificateBuilder.sign``,
``CertificateRevocationListBuilder.sign`` and plain ``.sign(data, ec.ECDSA(SHA256()))`` take it as they take
a key, but every way to the key material is refused with ``keys.not_extractable``: ``private_bytes``,
``private_numbers``, ``exchange`` (an ECDH secret is a function of the private scalar), pickling and
``copy`` (which hands back the same opaque signer). Subclasses live in this package only: the soft
backend's :class:`~smki.keys.soft.SoftSigner` and the token's :class:`~smki.keys.hsm.Pkcs11Signer`.

Python cannot hide an object from code that walks the interpreter's memory; what this class guarantees is
that no public method or protocol (pickle, copy, repr, ``vars``) yields key material, so a caller can only
reach it by deliberately reading another package's private attributes.
"""

from __future__ import annotations

import abc
from typing import Any, NoReturn, final

from cryptography.hazmat.primitives.asymmetric import ec

from smki.keys.base import CURVE
from smki.model import SmkiError


class Signer(ec.EllipticCurvePrivateKey):
    """A CA signing key by its label: ``sign`` and ``public_key`` work; key material is never given out."""

    __slots__ = ()

    @property
    @abc.abstractmethod
    def label(self) -> str:
        """The key's label in its backend (each backend's signer says where it keeps it)."""

    @property
    def curve(self) -> ec.EllipticCurve:
        return CURVE

    @property
    def key_size(self) -> int:
        return CURVE.key_size

    @final
    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        raise self._refusal("does no key agreement (an ECDH secret would be derived from it)")

    @final
    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        raise self._refusal("does not give out its private numbers")

    @final
    def private_bytes(self, encoding: Any, format: Any, encryption_algorithm: Any) -> bytes:
        raise self._refusal("does not give out its private bytes")

    @final
    def __copy__(self) -> Signer:
        return self  # the same opaque signer: nothing is copied out

    @final
    def __deepcopy__(self, memo: dict[Any, Any]) -> Signer:
        return self

    @final
    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise self._refusal("cannot be pickled")

    @final
    def __reduce__(self) -> NoReturn:
        raise self._refusal("cannot be pickled")

    @final
    def __getstate__(self) -> NoReturn:
        raise self._refusal("cannot be pickled")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} label={self.label!r}>"

    def _refusal(self, what: str) -> SmkiError:
        return not_extractable(self.label, what)


def not_extractable(label: str, what: str) -> SmkiError:
    """The refusal (code ``keys.not_extractable``) for anything that would give out key material."""
    return SmkiError(
        "keys.not_extractable",
        f"The CA key '{label}' {what}: it only signs, and its private key never leaves smki.keys.",
    )
