"""What every CA key backend offers, and the small rules they share (labels, secrets from the environment).

Secrets (the soft backend's passphrase, the token PIN) come only from an environment variable or from a file
an environment variable names: never from a command-line argument, where ``ps`` and shell history show them.
No function here logs, prints or puts a secret into an error message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from cryptography.hazmat.primitives.asymmetric import ec

from smki.model import InvalidInput, SmkiError

if TYPE_CHECKING:
    from smki.keys.signer import Signer

#: Labels name files (soft backend) and CKA_LABEL values (PKCS#11): a conservative, portable alphabet.
LABEL_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

#: The only curve the SMKI uses for CA keys (GBCS: ECDSA with P-256 and SHA-256).
CURVE = ec.SECP256R1()


@runtime_checkable
class KeyBackend(Protocol):
    """Where a certificate authority's keys live and are used. Nothing outside ``keys`` sees key bytes.

    Asymmetric keys are EC P-256 signing keys; symmetric keys are AES-256 keys used only to wrap and unwrap
    data with RFC 5649 (the Root OCA's Contingency Symmetric Key). One label names one key of either kind.
    """

    name: str  # "soft" | "pkcs11"

    def generate(self, label: str) -> ec.EllipticCurvePublicKey:
        """Make a new P-256 key pair under ``label`` and return its public key (``keys.exists`` if taken)."""
        ...

    def exists(self, label: str) -> bool:
        """Whether any key (signing or symmetric) is stored under ``label``."""
        ...

    def public_key(self, label: str) -> ec.EllipticCurvePublicKey:
        """The public key of the signing key ``label`` (``keys.not_found`` if none)."""
        ...

    def signer(self, label: str) -> Signer:
        """The opaque :class:`~smki.keys.signer.Signer` of ``label``: it signs, never gives out the key."""
        ...

    def labels(self) -> list[str]:
        """Every key label in this backend, sorted (signing and symmetric keys alike)."""
        ...

    def generate_symmetric(self, label: str) -> None:
        """Make a new AES-256 key under ``label`` (``keys.exists`` if taken)."""
        ...

    def wrap(self, label: str, plaintext: bytes) -> bytes:
        """RFC 5649 AES key wrap with padding of ``plaintext`` under the symmetric key ``label``."""
        ...

    def unwrap(self, label: str, wrapped: bytes) -> bytes:
        """The plaintext that ``wrap`` wrapped (``keys.unwrap_failed`` if it does not authenticate)."""
        ...

    def close(self) -> None:
        """Forget cached keys and release sessions. Using the backend afterwards is an error."""
        ...


def check_label(label: str) -> str:
    """``label`` if it is a usable key label, else ``InvalidInput`` (code ``keys.bad_label``)."""
    if not isinstance(label, str) or not LABEL_PATTERN.fullmatch(label):
        raise InvalidInput(
            "keys.bad_label",
            "A key label must be 1 to 64 characters of letters, digits, '.', '_' or '-', "
            "starting with a letter or digit.",
        )
    return label


def secret_from_env(env: Mapping[str, str], var: str, file_var: str, what: str, code_prefix: str) -> str:
    """A secret from ``env[var]`` or from the file ``env[file_var]`` names (one trailing newline dropped).

    Setting both is refused (which one was meant is a guess); neither, or an empty secret, is refused too.
    The error codes are ``<code_prefix>_missing``, ``<code_prefix>_ambiguous`` and ``<code_prefix>_file``.
    """
    direct = env.get(var)
    file_name = env.get(file_var)
    if direct and file_name:
        raise SmkiError(
            f"{code_prefix}_ambiguous",
            f"Both {var} and {file_var} are set: set only one of them for the {what}.",
        )
    if file_name:
        try:
            raw = Path(file_name).read_bytes()
        except OSError as exc:
            raise SmkiError(
                f"{code_prefix}_file",
                f"The {what} file named by {file_var} cannot be read ({exc.strerror or 'unreadable'}).",
            ) from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise SmkiError(
                f"{code_prefix}_file", f"The {what} file named by {file_var} is not UTF-8 text."
            ) from None
        if text.endswith("\r\n"):
            text = text[:-2]
        elif text.endswith("\n"):
            text = text[:-1]
        if not text:
            raise SmkiError(f"{code_prefix}_missing", f"The {what} file named by {file_var} is empty.")
        return text
    if not direct:
        raise SmkiError(
            f"{code_prefix}_missing",
            f"No {what} is set: put it in the environment variable {var} or in a file named by {file_var}.",
        )
    return direct
