"""Software CA keys, encrypted at rest under a passphrase from the environment.

Layout under ``<home>/keys/`` (directory mode 0700, files mode 0600, written atomically):

* ``<label>.key.pem``: the P-256 signing key as encrypted PKCS#8 PEM (``BestAvailableEncryption``, which in
  ``cryptography`` 50 is PBES2: PBKDF2-HMAC-SHA256, 2048 iterations, AES-256-CBC). OpenSSL reads it:
  ``openssl pkey -in <label>.key.pem``.
* ``<label>.aes.json``: an AES-256 key, encrypted with AES-256-GCM under a key derived from the passphrase
  with scrypt (N=2**15, r=8, p=1, 16-byte random salt, stored in the file); the format name and the label
  are authenticated as associated data, so a file renamed to another label does not decrypt.

Decrypted keys are cached in memory for the life of the backend (decrypting per signature would cost a KDF
per certificate) and never written anywhere. ``signer(label)`` hands out a :class:`SoftSigner`, an opaque
:class:`~smki.keys.signer.Signer` that signs with the decrypted key and refuses to give it out; closing the
backend makes its signers forget their keys.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap_with_padding,
    aes_key_wrap_with_padding,
)
from cryptography.utils import Buffer

from smki.keys.base import CURVE, check_label, secret_from_env
from smki.keys.signer import Signer
from smki.model import InvalidInput, SmkiError

PASSPHRASE_ENV = "SMKI_KEY_PASSPHRASE"
PASSPHRASE_FILE_ENV = "SMKI_KEY_PASSPHRASE_FILE"

_EC_SUFFIX = ".key.pem"
_AES_SUFFIX = ".aes.json"
_AES_FORMAT = "smki-aes-key-v1"
_SCRYPT_N = 2**15
_SCRYPT_R = 8
_SCRYPT_P = 1


class SoftSigner(Signer):
    """A decrypted soft key behind the :class:`Signer` interface: ``sign`` costs one extra method call.

    The key is held only as its bound ``sign`` method in a name-mangled slot (no ``__dict__`` entry, no
    pickling, no ``private_bytes``); :meth:`_forget` (called by ``SoftBackend.close``) drops it.
    """

    __slots__ = ("__sign", "_label", "_public")

    def __init__(self, label: str, key: ec.EllipticCurvePrivateKey) -> None:
        self.__sign = key.sign
        self._label = label
        self._public = key.public_key()

    @property
    def label(self) -> str:
        return self._label

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public

    def sign(self, data: Buffer, signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        return self.__sign(data, signature_algorithm)

    def _forget(self) -> None:
        self.__sign = _closed_sign


def _closed_sign(data: Buffer, signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
    raise SmkiError("keys.closed", "This key backend has been closed.")


class SoftBackend:
    """Keys as passphrase-encrypted files under ``<home>/keys/``. The passphrase is read when first needed."""

    name = "soft"

    def __init__(self, home: Path, env: Mapping[str, str] = os.environ) -> None:
        self.directory = Path(home) / "keys"
        self._env = dict(env)
        self._passphrase: bytes | None = None
        self._ec: dict[str, SoftSigner] = {}
        self._aes: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._closed = False

    # -- the KeyBackend interface -------------------------------------------------------------------

    def generate(self, label: str) -> ec.EllipticCurvePublicKey:
        check_label(label)
        with self._lock:
            passphrase = self._checked_passphrase_for_new_key()
            self._refuse_existing(label)
            key = ec.generate_private_key(CURVE)
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(passphrase),
            )
            self._write_new(label, self.directory / f"{label}{_EC_SUFFIX}", pem)
            signer = SoftSigner(label, key)
            del key
            self._ec[label] = signer
            return signer.public_key()

    def exists(self, label: str) -> bool:
        check_label(label)
        self._check_open()
        return self._ec_path(label).exists() or self._aes_path(label).exists()

    def public_key(self, label: str) -> ec.EllipticCurvePublicKey:
        return self._ec_key(label).public_key()

    def signer(self, label: str) -> SoftSigner:
        return self._ec_key(label)

    def labels(self) -> list[str]:
        self._check_open()
        if not self.directory.is_dir():
            return []
        found: set[str] = set()
        for entry in self.directory.iterdir():
            for suffix in (_EC_SUFFIX, _AES_SUFFIX):
                if entry.name.endswith(suffix):
                    label = entry.name[: -len(suffix)]
                    if label and not label.startswith("."):
                        found.add(label)
        return sorted(found)

    def generate_symmetric(self, label: str) -> None:
        check_label(label)
        with self._lock:
            passphrase = self._checked_passphrase_for_new_key()
            self._refuse_existing(label)
            key = AESGCM.generate_key(bit_length=256)
            salt = os.urandom(16)
            nonce = os.urandom(12)
            kek = _scrypt(passphrase, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
            sealed = AESGCM(kek).encrypt(nonce, key, _aad(label))
            document = {
                "format": _AES_FORMAT,
                "label": label,
                "kdf": {"name": "scrypt", "n": _SCRYPT_N, "r": _SCRYPT_R, "p": _SCRYPT_P, "salt": _b64(salt)},
                "cipher": "AES-256-GCM",
                "nonce": _b64(nonce),
                "ciphertext": _b64(sealed),
            }
            data = (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("ascii")
            self._write_new(label, self._aes_path(label), data)
            self._aes[label] = key

    def wrap(self, label: str, plaintext: bytes) -> bytes:
        _check_plaintext(plaintext)
        return aes_key_wrap_with_padding(self._aes_key(label), plaintext)

    def unwrap(self, label: str, wrapped: bytes) -> bytes:
        key = self._aes_key(label)
        try:
            return aes_key_unwrap_with_padding(key, bytes(wrapped))
        except (InvalidUnwrap, ValueError):
            raise SmkiError(
                "keys.unwrap_failed", f"The wrapped data does not unwrap under the key '{label}'."
            ) from None

    def close(self) -> None:
        with self._lock:
            for signer in self._ec.values():
                signer._forget()
            self._ec.clear()
            self._aes.clear()
            self._passphrase = None
            self._closed = True

    # -- loading --------------------------------------------------------------------------------------

    def _ec_key(self, label: str) -> SoftSigner:
        check_label(label)
        with self._lock:
            self._check_open()
            cached = self._ec.get(label)
            if cached is not None:
                return cached
            path = self._ec_path(label)
            pem = self._read_key_file(label, path, "signing")
            passphrase = self._get_passphrase()
            try:
                key = serialization.load_pem_private_key(pem, password=passphrase)
            except (ValueError, TypeError):
                raise SmkiError(
                    "keys.bad_passphrase",
                    f"The key passphrase does not decrypt the key '{label}' "
                    "(wrong passphrase or damaged file).",
                ) from None
            if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != CURVE.name:
                raise SmkiError("keys.corrupt", f"The key file for '{label}' does not hold a P-256 key.")
            signer = SoftSigner(label, key)
            del key
            self._ec[label] = signer
            return signer

    def _aes_key(self, label: str) -> bytes:
        check_label(label)
        with self._lock:
            self._check_open()
            cached = self._aes.get(label)
            if cached is not None:
                return cached
            raw = self._read_key_file(label, self._aes_path(label), "symmetric")
            key = _open_aes_document(label, raw, self._get_passphrase())
            self._aes[label] = key
            return key

    def _read_key_file(self, label: str, path: Path, kind: str) -> bytes:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            other = self._aes_path(label) if kind == "signing" else self._ec_path(label)
            if other.exists():
                raise SmkiError(
                    "keys.wrong_kind", f"The key '{label}' is not a {kind} key in the soft key store."
                ) from None
            raise SmkiError(
                "keys.not_found",
                f"No {kind} key labelled '{label}' is in the soft key store {self.directory}.",
            ) from None
        except OSError as exc:
            raise SmkiError(
                "keys.unreadable",
                f"The key file for '{label}' cannot be read ({exc.strerror or 'unreadable'}).",
            ) from None

    # -- the passphrase -------------------------------------------------------------------------------

    def _get_passphrase(self) -> bytes:
        if self._passphrase is None:
            text = secret_from_env(
                self._env, PASSPHRASE_ENV, PASSPHRASE_FILE_ENV, "key passphrase", "keys.passphrase"
            )
            self._passphrase = text.encode("utf-8")
        return self._passphrase

    def _checked_passphrase_for_new_key(self) -> bytes:
        """The passphrase, after proving it opens a key already here: one store, one passphrase.

        Without this a mistyped passphrase would silently encrypt a new CA key under a passphrase nobody
        knows.
        """
        self._check_open()
        passphrase = self._get_passphrase()
        if self._ec or self._aes:
            return passphrase  # already proven by decrypting a cached key
        for label in self.labels():
            pem_path = self._ec_path(label)
            if pem_path.exists():
                try:
                    serialization.load_pem_private_key(pem_path.read_bytes(), password=passphrase)
                except (ValueError, TypeError):
                    raise SmkiError(
                        "keys.bad_passphrase",
                        "The key passphrase does not decrypt the keys already in the soft key store "
                        f"{self.directory}: new keys must use the same passphrase.",
                    ) from None
                return passphrase
            aes_path = self._aes_path(label)
            if aes_path.exists():
                _open_aes_document(label, aes_path.read_bytes(), passphrase)
                return passphrase
        return passphrase

    # -- files ----------------------------------------------------------------------------------------

    def _ec_path(self, label: str) -> Path:
        return self.directory / f"{label}{_EC_SUFFIX}"

    def _aes_path(self, label: str) -> Path:
        return self.directory / f"{label}{_AES_SUFFIX}"

    def _refuse_existing(self, label: str) -> None:
        if self._ec_path(label).exists() or self._aes_path(label).exists():
            raise SmkiError("keys.exists", f"A key labelled '{label}' already exists in the soft key store.")

    def _write_new(self, label: str, path: Path, data: bytes) -> None:
        """Write ``data`` to ``path`` atomically with mode 0600, refusing to replace an existing key."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=self.directory)  # mkstemp makes it 0600
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as handle:
                os.fchmod(handle.fileno(), 0o600)
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp, path)  # atomic and never replaces: two generators of one label cannot both win
            except FileExistsError:
                raise SmkiError(
                    "keys.exists", f"A key labelled '{label}' already exists in the soft key store."
                ) from None
            except OSError:  # a file system without hard links: check-then-rename is the best available
                if path.exists():
                    raise SmkiError(
                        "keys.exists", f"A key labelled '{label}' already exists in the soft key store."
                    ) from None
                os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        _fsync_directory(self.directory)

    def _check_open(self) -> None:
        if self._closed:
            raise SmkiError("keys.closed", "This key backend has been closed.")


def _check_plaintext(plaintext: bytes) -> None:
    if not isinstance(plaintext, bytes | bytearray | memoryview) or len(plaintext) == 0:
        raise InvalidInput("keys.empty_plaintext", "Only non-empty bytes can be wrapped.")


def _open_aes_document(label: str, raw: bytes, passphrase: bytes) -> bytes:
    try:
        document: Any = json.loads(raw)
        kdf = document["kdf"]
        if document["format"] != _AES_FORMAT or kdf["name"] != "scrypt":
            raise ValueError("unknown format")
        salt = base64.b64decode(kdf["salt"], validate=True)
        nonce = base64.b64decode(document["nonce"], validate=True)
        sealed = base64.b64decode(document["ciphertext"], validate=True)
        n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
    except (ValueError, KeyError, TypeError):
        raise SmkiError("keys.corrupt", f"The symmetric key file for '{label}' is damaged.") from None
    try:
        key = AESGCM(_scrypt(passphrase, salt, n, r, p)).decrypt(nonce, sealed, _aad(label))
    except InvalidTag:
        raise SmkiError(
            "keys.bad_passphrase",
            f"The key passphrase does not decrypt the key '{label}' (wrong passphrase or damaged file).",
        ) from None
    except ValueError:
        raise SmkiError("keys.corrupt", f"The symmetric key file for '{label}' is damaged.") from None
    if len(key) != 32:
        raise SmkiError("keys.corrupt", f"The symmetric key file for '{label}' does not hold an AES-256 key.")
    return key


def _scrypt(passphrase: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase)


def _aad(label: str) -> bytes:
    return f"{_AES_FORMAT}\x00{label}".encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
