"""Private keys of the certificate authorities. Nothing outside this package ever holds private key bytes.

Two backends behind one interface (:class:`KeyBackend`): ``soft`` keeps passphrase-encrypted key files
under ``<home>/keys/``; ``pkcs11`` keeps keys in a PKCS#11 token (an HSM; SoftHSM2 for trying and tests).
Both hand out opaque :class:`Signer` objects (``sign``, ``public_key``, ``label``) that refuse to give out
key material (``keys.not_extractable``). Secrets come only from the environment (see docs/keys.md).
Subscribers' own keys are not CA keys and live in :mod:`smki.subscriber_tools`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from smki.keys.base import CURVE, KeyBackend, check_label
from smki.keys.hsm import (
    DEFAULT_MODULE,
    MODULE_ENV,
    PIN_ENV,
    PIN_FILE_ENV,
    TOKEN_ENV,
    Pkcs11Backend,
    Pkcs11Signer,
)
from smki.keys.signer import Signer
from smki.keys.soft import PASSPHRASE_ENV, PASSPHRASE_FILE_ENV, SoftBackend, SoftSigner
from smki.model import InvalidInput

BACKENDS = ("soft", "pkcs11")


def open_backend(kind: str, home: Path, env: Mapping[str, str] = os.environ) -> KeyBackend:
    """The key backend ``--keys soft|pkcs11`` names; its secrets come from ``env`` (never from arguments)."""
    if kind == "soft":
        return SoftBackend(home, env)
    if kind == "pkcs11":
        return Pkcs11Backend.from_env(env)
    raise InvalidInput("keys.unknown_backend", f"Unknown key backend '{kind}': choose 'soft' or 'pkcs11'.")


__all__ = [
    "BACKENDS",
    "CURVE",
    "DEFAULT_MODULE",
    "MODULE_ENV",
    "PASSPHRASE_ENV",
    "PASSPHRASE_FILE_ENV",
    "PIN_ENV",
    "PIN_FILE_ENV",
    "TOKEN_ENV",
    "KeyBackend",
    "Pkcs11Backend",
    "Pkcs11Signer",
    "Signer",
    "SoftBackend",
    "SoftSigner",
    "check_label",
    "open_backend",
]
