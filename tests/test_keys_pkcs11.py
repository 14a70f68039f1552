"""CA keys in a real SoftHSM2 token: generated inside, never extractable, signing certificates and CRLs."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pkcs11
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from cryptography.x509.oid import NameOID
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

from smki.keys import KeyBackend, Pkcs11Backend, Pkcs11Signer, Signer, open_backend
from smki.model import InvalidInput, SmkiError

if TYPE_CHECKING:
    from softhsm import SoftHsmToken

pytest_plugins = ["softhsm"]  # the softhsm_token fixture

pytestmark = pytest.mark.softhsm

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
WRAP_SIZES = [1, 7, 8, 9, 16, 24, 33, 64, 65, 100]


@pytest.fixture
def hsm(softhsm_token: SoftHsmToken) -> Iterator[Pkcs11Backend]:
    backend = Pkcs11Backend.from_env(softhsm_token.env())
    yield backend
    backend.close()


def _raw_session(token: SoftHsmToken) -> pkcs11.Session:
    """A session of the test's own on the token (the backend's login covers it: login is per process)."""
    return pkcs11.lib(token.module).get_token(token_label=token.label).open(rw=True)


def _self_signed(signer: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "HSM Root")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(signer.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW)
        .not_valid_after(NOW + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(signer, hashes.SHA256())
    )


def _crl(signer: ec.EllipticCurvePrivateKey) -> x509.CertificateRevocationList:
    revoked = [
        x509.RevokedCertificateBuilder().serial_number(n).revocation_date(NOW).build() for n in (7, 8, 9)
    ]
    return (
        x509.CertificateRevocationListBuilder(revoked_certificates=revoked)
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "HSM Root")]))
        .last_update(NOW)
        .next_update(NOW + dt.timedelta(days=1))
        .sign(signer, hashes.SHA256())
    )


def test_generate_makes_a_p256_pair_inside_the_token_that_never_leaves(
    softhsm_token: SoftHsmToken,
    hsm: Pkcs11Backend,
) -> None:
    public = hsm.generate("root-oca")
    assert isinstance(public.curve, ec.SECP256R1)
    assert hsm.public_key("root-oca") == public

    session = _raw_session(softhsm_token)
    try:
        private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, key_type=KeyType.EC, label="root-oca")
        attrs = private.get_attributes(
            [
                Attribute.TOKEN,
                Attribute.SENSITIVE,
                Attribute.EXTRACTABLE,
                Attribute.ALWAYS_SENSITIVE,
                Attribute.NEVER_EXTRACTABLE,
                Attribute.PRIVATE,
                Attribute.SIGN,
                Attribute.DERIVE,
                Attribute.DECRYPT,
            ]
        )
        assert attrs[Attribute.TOKEN] and attrs[Attribute.PRIVATE]
        assert attrs[Attribute.SENSITIVE] and attrs[Attribute.ALWAYS_SENSITIVE]
        assert not attrs[Attribute.EXTRACTABLE] and attrs[Attribute.NEVER_EXTRACTABLE]
        assert attrs[Attribute.SIGN] and not attrs[Attribute.DERIVE] and not attrs[Attribute.DECRYPT]
        with pytest.raises(pkcs11.AttributeSensitive):
            private[Attribute.VALUE]
        # the private key cannot be wrapped out either
        kek = session.generate_key(KeyType.AES, 256, label="thief-kek")
        with pytest.raises(pkcs11.PKCS11Error):
            kek.wrap_key(private, mechanism=Mechanism.AES_KEY_WRAP_PAD)
        point = public.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        assert private.id == hashlib.sha1(point).digest()
        assert private.label == "root-oca"
    finally:
        session.close()

    signer = hsm.signer("root-oca")
    assert isinstance(signer, Pkcs11Signer) and isinstance(signer, Signer)
    assert signer.label == "root-oca" and signer.public_key() == public
    data = b"signed in the token"
    public.verify(signer.sign(data, ec.ECDSA(hashes.SHA256())), data, ec.ECDSA(hashes.SHA256()))
    peer = ec.generate_private_key(ec.SECP256R1()).public_key()
    for extract in (
        signer.private_numbers,
        lambda: signer.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()),
        lambda: signer.exchange(ec.ECDH(), peer),
        lambda: pickle.dumps(signer),
        lambda: signer.__getstate__(),
    ):
        with pytest.raises(SmkiError) as raised:
            extract()
        assert raised.value.code == "keys.not_extractable"
    assert copy.copy(signer) is signer and copy.deepcopy(signer) is signer
    assert vars(signer) == {}


def test_certificate_and_crl_signed_through_the_token_verify(hsm: Pkcs11Backend) -> None:
    public = hsm.generate("root")
    signer = hsm.signer("root")

    cert = _self_signed(signer)
    assert cert.signature_hash_algorithm is not None
    public.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
    cert.verify_directly_issued_by(cert)
    crl = _crl(signer)
    assert crl.is_signature_valid(public)
    assert not crl.is_signature_valid(hsm.generate("other"))
    assert len({_self_signed(signer).signature for _ in range(3)}) == 3  # ECDSA with fresh k each time


def test_a_second_backend_instance_signs_with_a_key_the_first_generated(
    softhsm_token: SoftHsmToken,
) -> None:
    first = Pkcs11Backend.from_env(softhsm_token.env())
    public = first.generate("ica")
    second = Pkcs11Backend.from_env(softhsm_token.env())
    try:
        assert second._session is not first._session
        assert second.exists("ica") and second.labels() == ["ica"]
        first.close()  # the first backend's session and login going away leaves the second working
        _self_signed(second.signer("ica")).verify_directly_issued_by(_self_signed(second.signer("ica")))
        assert _crl(second.signer("ica")).is_signature_valid(public)
    finally:
        first.close()
        second.close()


_CHILD = """
import sys
from smki.keys import open_backend
from pathlib import Path
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
backend = open_backend("pkcs11", Path("."))
sys.stdout.write(backend.signer(sys.argv[1]).sign(b"from another process", ec.ECDSA(hashes.SHA256())).hex())
backend.close()
"""


def test_another_process_signs_with_a_token_key(
    softhsm_token: SoftHsmToken,
    hsm: Pkcs11Backend,
) -> None:
    """Key pairs are token objects: a new process with its own login and session finds and uses them."""
    public = hsm.generate("ica")
    hsm.close()  # a different process may use the token at the same time, but need not here
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, "ica"],
        env={**os.environ, **softhsm_token.env()},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    public.verify(bytes.fromhex(child.stdout), b"from another process", ec.ECDSA(hashes.SHA256()))


def test_threads_share_a_backend_safely(softhsm_token: SoftHsmToken, hsm: Pkcs11Backend) -> None:
    """SoftHSM2 crashes when threads share a session: the backend serialises every call."""
    public = hsm.generate("ica")
    other = Pkcs11Backend.from_env(softhsm_token.env())
    signers = [hsm.signer("ica"), other.signer("ica")]
    results: list[tuple[bytes, bytes]] = []
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(40):
                message = f"{n}-{i}".encode()
                results.append((message, signers[n % 2].sign(message, ec.ECDSA(hashes.SHA256()))))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        other.close()
    assert not errors
    assert len(results) == 240
    for message, signature in results:
        public.verify(signature, message, ec.ECDSA(hashes.SHA256()))


def test_signer_hashes_sha256_only(hsm: Pkcs11Backend) -> None:
    public = hsm.generate("ica")
    signer = hsm.signer("ica")
    digest = hashlib.sha256(b"tbs").digest()
    signature = signer.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    public.verify(signature, b"tbs", ec.ECDSA(hashes.SHA256()))
    with pytest.raises(SmkiError) as raised:
        signer.sign(b"tbs", ec.ECDSA(hashes.SHA384()))
    assert raised.value.code == "keys.unsupported"
    with pytest.raises(InvalidInput):
        signer.sign(b"short", ec.ECDSA(utils.Prehashed(hashes.SHA256())))


def test_an_existing_label_is_refused(softhsm_token: SoftHsmToken, hsm: Pkcs11Backend) -> None:
    first = hsm.generate("ica")
    hsm.generate_symmetric("csk")
    for action in (
        lambda: hsm.generate("ica"),
        lambda: hsm.generate_symmetric("ica"),
        lambda: hsm.generate("csk"),
    ):
        with pytest.raises(SmkiError) as raised:
            action()
        assert raised.value.code == "keys.exists"
    assert hsm.public_key("ica") == first
    session = _raw_session(softhsm_token)
    try:
        assert len(list(session.get_objects({Attribute.LABEL: "ica"}))) == 2  # one public, one private
    finally:
        session.close()


def test_labels_and_missing_keys(hsm: Pkcs11Backend) -> None:
    assert hsm.labels() == []
    hsm.generate("zeta")
    hsm.generate_symmetric("alpha")
    assert hsm.labels() == ["alpha", "zeta"]
    assert hsm.exists("zeta") and hsm.exists("alpha") and not hsm.exists("beta")
    for action, code in (
        (lambda: hsm.signer("beta"), "keys.not_found"),
        (lambda: hsm.public_key("alpha"), "keys.wrong_kind"),
        (lambda: hsm.wrap("zeta", b"x"), "keys.wrong_kind"),
    ):
        with pytest.raises(SmkiError) as raised:
            action()
        assert raised.value.code == code
    with pytest.raises(InvalidInput) as bad:
        hsm.generate("no/slashes")
    assert bad.value.code == "keys.bad_label"


@pytest.mark.parametrize("size", WRAP_SIZES)
def test_wrap_unwrap_round_trip_with_a_token_key(
    softhsm_token: SoftHsmToken, hsm: Pkcs11Backend, size: int
) -> None:
    hsm.generate_symmetric("csk")
    data = os.urandom(size)
    wrapped = hsm.wrap("csk", data)
    assert len(wrapped) == max(16, 8 + (size + 7) // 8 * 8)
    assert hsm.unwrap("csk", wrapped) == data
    again = Pkcs11Backend.from_env(softhsm_token.env())
    try:
        assert again.unwrap("csk", wrapped) == data
    finally:
        again.close()


def test_token_wrap_is_exactly_rfc5649(softhsm_token: SoftHsmToken, hsm: Pkcs11Backend) -> None:
    """With a key whose bytes the test knows, the token's wrap and unwrap match cryptography's RFC 5649."""
    known = os.urandom(32)
    session = _raw_session(softhsm_token)
    try:
        session.create_object(
            {
                Attribute.CLASS: ObjectClass.SECRET_KEY,
                Attribute.KEY_TYPE: KeyType.AES,
                Attribute.VALUE: known,
                Attribute.LABEL: "known",
                Attribute.TOKEN: True,
                Attribute.ENCRYPT: True,
                Attribute.WRAP: True,
                Attribute.UNWRAP: True,
            }
        )
    finally:
        session.close()
    for size in WRAP_SIZES:
        data = os.urandom(size)
        assert hsm.wrap("known", data) == aes_key_wrap_with_padding(known, data), size
        assert hsm.unwrap("known", aes_key_wrap_with_padding(known, data)) == data, size


def test_the_symmetric_key_is_sensitive_and_unwrap_failures_are_clear(
    softhsm_token: SoftHsmToken,
    hsm: Pkcs11Backend,
) -> None:
    hsm.generate_symmetric("csk")
    hsm.generate_symmetric("other")
    session = _raw_session(softhsm_token)
    try:
        key = session.get_key(object_class=ObjectClass.SECRET_KEY, label="csk")
        assert key[Attribute.TOKEN] and key[Attribute.SENSITIVE] and not key[Attribute.EXTRACTABLE]
        assert not key[Attribute.DECRYPT]
        with pytest.raises(pkcs11.AttributeSensitive):
            key[Attribute.VALUE]
        before = len(list(session.get_objects()))
    finally:
        session.close()

    wrapped = bytearray(hsm.wrap("csk", b"contingency public key"))
    with pytest.raises(SmkiError) as raised:
        hsm.unwrap("other", bytes(wrapped))
    assert raised.value.code == "keys.unwrap_failed"
    wrapped[3] ^= 0x80
    with pytest.raises(SmkiError) as raised:
        hsm.unwrap("csk", bytes(wrapped))
    assert raised.value.code == "keys.unwrap_failed"
    with pytest.raises(InvalidInput):
        hsm.wrap("csk", b"")
    hsm.unwrap("csk", hsm.wrap("csk", b"leaves no object behind"))
    session = _raw_session(softhsm_token)
    try:
        assert len(list(session.get_objects())) == before  # the unwrapped session objects were destroyed
    finally:
        session.close()


def test_pin_and_token_problems_are_one_clear_error(softhsm_token: SoftHsmToken, tmp_path: Path) -> None:
    env = softhsm_token.env()
    wrong_pin = "wrong-" + softhsm_token.pin
    cases = [
        ({**env, "SMKI_PKCS11_PIN": wrong_pin}, "keys.bad_pin"),
        ({k: v for k, v in env.items() if k != "SMKI_PKCS11_PIN"}, "keys.pin_missing"),
        ({**env, "SMKI_PKCS11_PIN": ""}, "keys.pin_missing"),
        ({**env, "SMKI_PKCS11_PIN_FILE": str(tmp_path / "pin")}, "keys.pin_ambiguous"),
        ({**env, "SMKI_PKCS11_TOKEN": "no-such-token"}, "keys.no_token"),
        ({k: v for k, v in env.items() if k != "SMKI_PKCS11_TOKEN"}, "keys.token_missing"),
        ({**env, "SMKI_PKCS11_MODULE": str(tmp_path / "missing.so")}, "keys.pkcs11_module"),
    ]
    for case_env, code in cases:
        with pytest.raises(SmkiError) as raised:
            open_backend("pkcs11", tmp_path, case_env)
        assert raised.value.code == code, case_env
        assert softhsm_token.pin not in str(raised.value) and wrong_pin not in str(raised.value)


def test_pin_from_a_file_and_logout_when_the_last_backend_closes(
    softhsm_token: SoftHsmToken,
    tmp_path: Path,
) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_text(softhsm_token.pin + "\n")
    env = {k: v for k, v in softhsm_token.env().items() if k != "SMKI_PKCS11_PIN"}
    backend = open_backend("pkcs11", tmp_path, {**env, "SMKI_PKCS11_PIN_FILE": str(pin_file)})
    assert isinstance(backend, Pkcs11Backend) and isinstance(backend, KeyBackend)
    assert backend.name == "pkcs11"
    backend.generate("ica")
    backend.close()
    with pytest.raises(SmkiError) as raised:
        backend.signer("ica")
    assert raised.value.code == "keys.closed"
    # the process logged out with the last backend: a wrong PIN is checked again, not waved through
    with pytest.raises(SmkiError) as raised:
        open_backend("pkcs11", tmp_path, {**env, "SMKI_PKCS11_PIN": "wrong"})
    assert raised.value.code == "keys.bad_pin"


def test_the_pin_appears_in_no_file_the_backend_writes(
    softhsm_token: SoftHsmToken,
    hsm: Pkcs11Backend,
    tmp_path: Path,
) -> None:
    hsm.generate("ica")
    hsm.generate_symmetric("csk")
    hsm.wrap("csk", b"x" * 20)
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.name != "softhsm2.conf":
            assert softhsm_token.pin.encode() not in path.read_bytes(), path
