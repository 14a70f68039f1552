"""CA keys in a PKCS#11 token (a real HSM in production, SoftHSM2 in tests), through python-pkcs11.

Private keys are generated in the token as sensitive, non-extractable token objects and never leave it:
signing sends a SHA-256 digest computed here to the token's ``CKM_ECDSA`` (SoftHSM2 2.6.1 has no
``CKM_ECDSA_SHA256``) and DER-wraps the raw r||s it returns.

Threads and processes: python-pkcs11 initialises the library without locking callbacks, and SoftHSM2
crashes when two threads call into it at once, so every call into the library from this process goes
through one process-wide lock. Each backend holds its own session. PKCS#11 login is per process and token,
not per session (a second ``C_Login`` answers ``CKR_USER_ALREADY_LOGGED_IN`` whatever the PIN, and closing
a logged-in session logs every session out), so the first backend of a process logs in on a dedicated
session that stays open while any backend on that token is open; later backends in the same process share
that login. A backend must be opened after ``fork()``, in the process that uses it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import pkcs11
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.utils import Buffer
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass

from smki.keys import rfc5649
from smki.keys.base import CURVE, check_label, secret_from_env
from smki.keys.signer import Signer
from smki.model import InvalidInput, SmkiError

MODULE_ENV = "SMKI_PKCS11_MODULE"
TOKEN_ENV = "SMKI_PKCS11_TOKEN"
PIN_ENV = "SMKI_PKCS11_PIN"
PIN_FILE_ENV = "SMKI_PKCS11_PIN_FILE"
DEFAULT_MODULE = "/usr/lib/softhsm/libsofthsm2.so"

#: DER of the namedCurve OID prime256v1 (1.2.840.10045.3.1.7): CKA_EC_PARAMS of a P-256 key.
P256_EC_PARAMS = bytes.fromhex("06082a8648ce3d030107")

_LIBRARY_LOCK = threading.RLock()
_LOGINS: dict[tuple[str, bytes], _Login] = {}


class _Login:
    """The session that holds this process's login to one token, and how many backends rely on it."""

    def __init__(self, session: Any, owned: bool) -> None:
        self.session = session
        self.owned = owned  # False when something outside smki had already logged this process in
        self.users = 0


class Pkcs11Backend:
    """Keys in the PKCS#11 token labelled ``token_label`` of the library ``module``."""

    name = "pkcs11"

    def __init__(self, module: str, token_label: str, pin: str) -> None:
        self.module = module
        self.token_label = token_label
        self._pid = os.getpid()
        self._closed = False
        self._mechanisms: set[Any] | None = None
        with _LIBRARY_LOCK:
            try:
                lib = pkcs11.lib(module)
            except pkcs11.PKCS11Error:
                raise SmkiError(
                    "keys.pkcs11_module",
                    f"The PKCS#11 library {module} cannot be loaded (set {MODULE_ENV} to the module's path).",
                ) from None
            try:
                self._token = lib.get_token(token_label=token_label)
            except pkcs11.NoSuchToken:
                raise SmkiError(
                    "keys.no_token", f"No PKCS#11 token labelled '{token_label}' is present in {module}."
                ) from None
            except pkcs11.MultipleTokensReturned:
                raise SmkiError(
                    "keys.token_ambiguous", f"More than one PKCS#11 token is labelled '{token_label}'."
                ) from None
            except pkcs11.PKCS11Error as exc:
                raise _token_error("find the token", exc) from None
            self._login_key = (module, bytes(self._token.serial))
            login = self._login(pin)
            try:
                self._session = self._token.open(rw=True)
            except pkcs11.PKCS11Error as exc:
                self._release_login(login)
                raise _token_error("open a session", exc) from None
            login.users += 1

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Pkcs11Backend:
        """The backend that ``SMKI_PKCS11_MODULE``, ``SMKI_PKCS11_TOKEN`` and the PIN variables describe."""
        module = env.get(MODULE_ENV) or DEFAULT_MODULE
        token_label = env.get(TOKEN_ENV)
        if not token_label:
            raise SmkiError(
                "keys.token_missing", f"No PKCS#11 token is named: set {TOKEN_ENV} to the token's label."
            )
        pin = secret_from_env(env, PIN_ENV, PIN_FILE_ENV, "PKCS#11 user PIN", "keys.pin")
        return cls(module, token_label, pin)

    # -- the KeyBackend interface -------------------------------------------------------------------

    def generate(self, label: str) -> ec.EllipticCurvePublicKey:
        check_label(label)
        with self._use():
            self._refuse_existing(label)
            try:
                public, private = self._session.generate_keypair(
                    KeyType.EC,
                    store=True,
                    label=label,
                    id=os.urandom(20),
                    capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
                    public_template={Attribute.EC_PARAMS: P256_EC_PARAMS, Attribute.PRIVATE: False},
                    private_template={
                        Attribute.PRIVATE: True,
                        Attribute.SENSITIVE: True,
                        Attribute.EXTRACTABLE: False,
                    },
                )
            except pkcs11.PKCS11Error as exc:
                raise _token_error("generate a P-256 key pair", exc) from None
            self._drop_if_duplicate(label, [public, private])
            key = _public_key_of(label, public)
            # CKA_ID = SHA-1 of the public point (RFC 5280 key identifier method 1), so tools that list the
            # token's objects show the id that the CA certificate's subjectKeyIdentifier carries.
            key_id = hashlib.sha1(
                key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint), usedforsecurity=False
            ).digest()
            with contextlib.suppress(pkcs11.PKCS11Error):  # a token that forbids it keeps the random id
                public[Attribute.ID] = key_id
                private[Attribute.ID] = key_id
            return key

    def exists(self, label: str) -> bool:
        check_label(label)
        with self._use():
            return self._label_taken(label)

    def public_key(self, label: str) -> ec.EllipticCurvePublicKey:
        check_label(label)
        with self._use():
            return _public_key_of(label, self._find(label, ObjectClass.PUBLIC_KEY, KeyType.EC, "public"))

    def signer(self, label: str) -> Pkcs11Signer:
        check_label(label)
        with self._use():
            private = self._find(label, ObjectClass.PRIVATE_KEY, KeyType.EC, "signing")
            public = _public_key_of(label, self._find(label, ObjectClass.PUBLIC_KEY, KeyType.EC, "public"))
        return Pkcs11Signer(self, label, private, public)

    def labels(self) -> list[str]:
        with self._use():
            found: set[str] = set()
            for object_class in (ObjectClass.PRIVATE_KEY, ObjectClass.SECRET_KEY):
                try:
                    for obj in self._session.get_objects({Attribute.CLASS: object_class}):
                        found.add(str(obj[Attribute.LABEL]))
                except pkcs11.PKCS11Error as exc:
                    raise _token_error("list the keys", exc) from None
            return sorted(found)

    def generate_symmetric(self, label: str) -> None:
        check_label(label)
        with self._use():
            self._require_mechanisms(Mechanism.AES_KEY_GEN, Mechanism.AES_ECB, Mechanism.AES_KEY_WRAP_PAD)
            self._refuse_existing(label)
            try:
                key = self._session.generate_key(
                    KeyType.AES,
                    256,
                    label=label,
                    id=os.urandom(20),
                    store=True,
                    # ENCRYPT (never DECRYPT) lets wrap() run RFC 5649 over AES-ECB blocks: the forward
                    # permutation gives nothing that C_WrapKey does not already give (see rfc5649.py).
                    capabilities=MechanismFlag.ENCRYPT | MechanismFlag.WRAP | MechanismFlag.UNWRAP,
                    template={
                        Attribute.PRIVATE: True,
                        Attribute.SENSITIVE: True,
                        Attribute.EXTRACTABLE: False,
                    },
                )
            except pkcs11.PKCS11Error as exc:
                raise _token_error("generate an AES-256 key", exc) from None
            self._drop_if_duplicate(label, [key])

    def wrap(self, label: str, plaintext: bytes) -> bytes:
        check_label(label)
        if not isinstance(plaintext, bytes | bytearray | memoryview) or len(plaintext) == 0:
            raise InvalidInput("keys.empty_plaintext", "Only non-empty bytes can be wrapped.")
        with self._use():
            key = self._find(label, ObjectClass.SECRET_KEY, KeyType.AES, "symmetric")

            def encrypt_block(block: bytes) -> bytes:
                return bytes(key.encrypt(block, mechanism=Mechanism.AES_ECB))

            try:
                return rfc5649.wrap_with_padding(encrypt_block, bytes(plaintext))
            except pkcs11.PKCS11Error as exc:
                raise _token_error(f"wrap data with the key '{label}'", exc) from None

    def unwrap(self, label: str, wrapped: bytes) -> bytes:
        check_label(label)
        with self._use():
            key = self._find(label, ObjectClass.SECRET_KEY, KeyType.AES, "symmetric")
            try:
                # The plaintext comes back as a short-lived session object (never a token object), read and
                # destroyed at once.
                secret = key.unwrap_key(
                    ObjectClass.SECRET_KEY,
                    KeyType.GENERIC_SECRET,
                    bytes(wrapped),
                    mechanism=Mechanism.AES_KEY_WRAP_PAD,
                    store=False,
                    capabilities=0,
                    template={
                        Attribute.SENSITIVE: False,
                        Attribute.EXTRACTABLE: True,
                        Attribute.PRIVATE: True,
                    },
                )
            except pkcs11.PKCS11Error:
                raise SmkiError(
                    "keys.unwrap_failed", f"The wrapped data does not unwrap under the key '{label}'."
                ) from None
            try:
                return bytes(secret[Attribute.VALUE])
            finally:
                with contextlib.suppress(pkcs11.PKCS11Error):
                    secret.destroy()

    def close(self) -> None:
        with _LIBRARY_LOCK:
            if self._closed:
                return
            self._closed = True
            if os.getpid() != self._pid:
                return  # the parent's sessions are not ours to close
            with contextlib.suppress(pkcs11.PKCS11Error):
                self._session.close()
            login = _LOGINS.get(self._login_key)
            if login is not None:
                login.users -= 1
                self._release_login(login)

    def __enter__(self) -> Pkcs11Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- signing (called by Pkcs11Signer) -----------------------------------------------------

    def _sign_digest(self, label: str, private: Any, digest: bytes) -> bytes:
        with self._use():
            try:
                raw = bytes(private.sign(digest, mechanism=Mechanism.ECDSA))
            except pkcs11.PKCS11Error as exc:
                raise _token_error(f"sign with the key '{label}'", exc) from None
        if len(raw) != 64:
            raise SmkiError("keys.pkcs11_error", f"The token returned a malformed signature for '{label}'.")
        return utils.encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))

    # -- helpers --------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _use(self) -> Iterator[None]:
        with _LIBRARY_LOCK:
            if self._closed:
                raise SmkiError("keys.closed", "This key backend has been closed.")
            if os.getpid() != self._pid:
                raise SmkiError(
                    "keys.forked",
                    "A PKCS#11 key backend cannot be used across fork(): open it in the process that signs.",
                )
            yield

    def _login(self, pin: str) -> _Login:
        login = _LOGINS.get(self._login_key)
        if login is not None:
            return login
        try:
            session = self._token.open(rw=True, user_pin=pin)
            owned = True
        except pkcs11.PinIncorrect:
            raise SmkiError(
                "keys.bad_pin", f"The user PIN for the token '{self.token_label}' is wrong."
            ) from None
        except pkcs11.PinLocked:
            raise SmkiError(
                "keys.pin_locked", f"The user PIN of the token '{self.token_label}' is locked."
            ) from None
        except pkcs11.UserAlreadyLoggedIn:
            session = self._token.open(rw=True)  # logged in by code outside smki: use it, never log it out
            owned = False
        except pkcs11.PKCS11Error as exc:
            raise _token_error("log in to the token", exc) from None
        login = _Login(session, owned)
        _LOGINS[self._login_key] = login
        return login

    def _release_login(self, login: _Login) -> None:
        if login.users > 0:
            return
        _LOGINS.pop(self._login_key, None)
        # Closing the session we logged in on logs this process out of the token; a session opened
        # without login (someone else's login, owned=False) closes without logging anyone out.
        with contextlib.suppress(pkcs11.PKCS11Error):
            login.session.close()

    def _label_taken(self, label: str) -> bool:
        try:
            return any(True for _ in self._session.get_objects({Attribute.LABEL: label}))
        except pkcs11.PKCS11Error as exc:
            raise _token_error("search the token", exc) from None

    def _refuse_existing(self, label: str) -> None:
        if self._label_taken(label):
            raise SmkiError("keys.exists", f"A key labelled '{label}' already exists in the token.")

    def _drop_if_duplicate(self, label: str, created: list[Any]) -> None:
        """Undo a generation that raced another process's generation of the same label."""
        try:
            count = sum(1 for _ in self._session.get_objects({Attribute.LABEL: label}))
        except pkcs11.PKCS11Error as exc:
            raise _token_error("search the token", exc) from None
        if count > len(created):
            for obj in created:
                with contextlib.suppress(pkcs11.PKCS11Error):
                    obj.destroy()
            raise SmkiError("keys.exists", f"A key labelled '{label}' already exists in the token.")

    def _find(self, label: str, object_class: ObjectClass, key_type: KeyType, kind: str) -> Any:
        try:
            return self._session.get_key(object_class=object_class, key_type=key_type, label=label)
        except pkcs11.NoSuchKey:
            if self._label_taken(label):
                raise SmkiError(
                    "keys.wrong_kind", f"The key '{label}' in the token is not a {kind} P-256/AES key."
                ) from None
            raise SmkiError(
                "keys.not_found", f"No {kind} key labelled '{label}' is in the token '{self.token_label}'."
            ) from None
        except pkcs11.MultipleObjectsReturned:
            raise SmkiError(
                "keys.duplicate", f"More than one {kind} key is labelled '{label}' in the token."
            ) from None
        except pkcs11.PKCS11Error as exc:
            raise _token_error("search the token", exc) from None

    def _require_mechanisms(self, *wanted: Mechanism) -> None:
        if self._mechanisms is None:
            try:
                self._mechanisms = set(self._token.slot.get_mechanisms())
            except pkcs11.PKCS11Error as exc:
                raise _token_error("list the token's mechanisms", exc) from None
        missing = [m.name for m in wanted if m not in self._mechanisms]
        if missing:
            raise SmkiError(
                "keys.unsupported",
                f"The token '{self.token_label}' lacks the mechanisms {', '.join(missing)} "
                "that symmetric keys need.",
            )


class Pkcs11Signer(Signer):
    """A P-256 private key that stays in the token: ``cryptography``'s builders call ``sign`` on it.

    ``CertificateBuilder.sign(key, hashes.SHA256())`` and the CRL builder's ``sign`` call
    ``key.sign(tbs_bytes, ec.ECDSA(hashes.SHA256()))``; the digest is computed here and only the 32-byte
    digest goes to the token. The token refuses to give the key out (sensitive, not extractable); the
    :class:`Signer` base refuses ``private_bytes``, ``private_numbers``, ``exchange`` and pickling.
    """

    __slots__ = ("_backend", "_label", "_private", "_public")

    def __init__(
        self, backend: Pkcs11Backend, label: str, private: Any, public: ec.EllipticCurvePublicKey
    ) -> None:
        self._backend = backend
        self._label = label
        self._private = private
        self._public = public

    @property
    def label(self) -> str:
        return self._label

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public

    def sign(
        self,
        data: Buffer,
        signature_algorithm: ec.EllipticCurveSignatureAlgorithm,
    ) -> bytes:
        if not isinstance(signature_algorithm, ec.ECDSA):
            raise SmkiError("keys.unsupported", "Keys in the token sign with ECDSA only.")
        if getattr(signature_algorithm, "deterministic_signing", False):
            raise SmkiError("keys.unsupported", "Keys in the token cannot sign deterministically (RFC 6979).")
        algorithm = signature_algorithm.algorithm
        if isinstance(algorithm, utils.Prehashed):
            if not isinstance(algorithm._algorithm, hashes.SHA256):
                raise SmkiError("keys.unsupported", "Keys in the token sign SHA-256 digests only.")
            digest = bytes(data)
            if len(digest) != 32:
                raise InvalidInput("keys.bad_digest", "A prehashed SHA-256 digest must be 32 bytes.")
        elif isinstance(algorithm, hashes.SHA256):
            hasher = hashes.Hash(hashes.SHA256())
            hasher.update(data)
            digest = hasher.finalize()
        else:
            raise SmkiError("keys.unsupported", "Keys in the token sign with SHA-256 only (P-256 CA keys).")
        return self._backend._sign_digest(self._label, self._private, digest)

    def __repr__(self) -> str:
        return f"<Pkcs11Signer label={self._label!r} token={self._backend.token_label!r}>"


def _public_key_of(label: str, public: Any) -> ec.EllipticCurvePublicKey:
    try:
        params = bytes(public[Attribute.EC_PARAMS])
        point = bytes(public[Attribute.EC_POINT])
    except pkcs11.PKCS11Error as exc:
        raise _token_error(f"read the public key '{label}'", exc) from None
    if params != P256_EC_PARAMS:
        raise SmkiError("keys.wrong_curve", f"The key '{label}' in the token is not a P-256 key.")
    # CKA_EC_POINT is a DER OCTET STRING holding the X9.62 point (some tokens give the bare point).
    if len(point) == 67 and point[0] == 0x04 and point[1] == 0x41:
        point = point[2:]
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(CURVE, point)
    except ValueError:
        raise SmkiError(
            "keys.pkcs11_error", f"The token returned a malformed public key for '{label}'."
        ) from None


def _token_error(action: str, exc: Exception) -> SmkiError:
    """One sentence naming what failed and the PKCS#11 error class (never arguments, which may be secret)."""
    return SmkiError("keys.pkcs11_error", f"The PKCS#11 token could not {action} ({type(exc).__name__}).")
