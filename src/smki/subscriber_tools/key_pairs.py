"""Subscriber key pairs: a Device's or a Party's key, never a CA key (CA keys live in ``smki.keys``).

A key written to disk is PKCS#8 PEM, unencrypted (it belongs to the subscriber, who takes it away), with
file mode 0600, and never replaces an existing file.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from smki.model import SmkiError

#: The only curve the SMKI uses (GBCS: ECDSA with P-256 and SHA-256).
CURVE = ec.SECP256R1()


def new_subscriber_key() -> ec.EllipticCurvePrivateKey:
    """A fresh P-256 key pair (the only curve the SMKI uses)."""
    return ec.generate_private_key(CURVE)


def write_subscriber_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """Write a subscriber private key as PKCS#8 PEM with mode 0600, refusing to overwrite a file."""
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise SmkiError(
            "csr.key_file_exists", f"{path} already exists: smki does not overwrite a key."
        ) from None
    except OSError as exc:
        raise SmkiError("csr.key_file_unwritable", f"The key file {path} cannot be written: {exc}.") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    os.chmod(path, 0o600)  # whatever the umask did
