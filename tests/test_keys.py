"""Software CA keys: encrypted PKCS#8 at rest, passphrase only from the environment, signing that verifies."""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import pickle
import secrets
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from smki.keys import KeyBackend, Signer, SoftBackend, open_backend, rfc5649
from smki.model import InvalidInput, SmkiError

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
WRAP_SIZES = [1, 7, 8, 9, 16, 24, 33, 64, 65, 100]


def _passphrase() -> str:
    return "pass-" + secrets.token_urlsafe(24)


def _env(passphrase: str) -> dict[str, str]:
    return {"SMKI_KEY_PASSPHRASE": passphrase}


def _self_signed(signer: ec.EllipticCurvePrivateKey, cn: str = "Test Root") -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
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
    revoked = x509.RevokedCertificateBuilder().serial_number(1234).revocation_date(NOW).build()
    return (
        x509.CertificateRevocationListBuilder(revoked_certificates=[revoked])
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Root")]))
        .last_update(NOW)
        .next_update(NOW + dt.timedelta(days=1))
        .sign(signer, hashes.SHA256())
    )


def _assert_cert_verifies(cert: x509.Certificate, public: ec.EllipticCurvePublicKey) -> None:
    assert cert.signature_hash_algorithm is not None
    public.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
    cert.verify_directly_issued_by(cert)
    assert cert.public_key() == public


@pytest.fixture
def passphrase() -> str:
    return _passphrase()


@pytest.fixture
def backend(tmp_path: Path, passphrase: str) -> SoftBackend:
    return SoftBackend(tmp_path, _env(passphrase))


def test_generate_writes_encrypted_pkcs8_with_mode_0600(
    tmp_path: Path, backend: SoftBackend, passphrase: str
) -> None:
    public = backend.generate("root-oca")

    path = tmp_path / "keys" / "root-oca.key.pem"
    pem = path.read_bytes()
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert b"BEGIN PRIVATE KEY" not in pem
    assert b"BEGIN EC PRIVATE KEY" not in pem
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    assert [p.name for p in (tmp_path / "keys").iterdir()] == ["root-oca.key.pem"]  # no temp file left
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(pem, password=None)
    key = serialization.load_pem_private_key(pem, password=passphrase.encode())
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert isinstance(key.curve, ec.SECP256R1)
    assert key.public_key() == public


def test_a_new_instance_reloads_the_key_with_the_passphrase(tmp_path: Path, passphrase: str) -> None:
    public = SoftBackend(tmp_path, _env(passphrase)).generate("ica")

    again = SoftBackend(tmp_path, _env(passphrase))
    assert again.exists("ica")
    assert again.public_key("ica") == public
    _assert_cert_verifies(_self_signed(again.signer("ica")), public)


def test_a_wrong_passphrase_is_one_clear_error(tmp_path: Path, passphrase: str) -> None:
    SoftBackend(tmp_path, _env(passphrase)).generate("ica")
    wrong = "wrong-" + secrets.token_hex(8)
    other = SoftBackend(tmp_path, _env(wrong))

    with pytest.raises(SmkiError) as raised:
        other.signer("ica")
    assert raised.value.code == "keys.bad_passphrase"
    assert wrong not in str(raised.value) and passphrase not in str(raised.value)
    # nor can a mistyped passphrase start a second key that nobody could open with the first passphrase
    with pytest.raises(SmkiError) as raised:
        other.generate("second")
    assert raised.value.code == "keys.bad_passphrase"
    assert not other.exists("second")


@pytest.mark.parametrize("env", [{}, {"SMKI_KEY_PASSPHRASE": ""}], ids=["unset", "empty"])
def test_a_missing_passphrase_is_one_clear_error(tmp_path: Path, env: dict[str, str]) -> None:
    backend = SoftBackend(tmp_path, env)
    for action in (lambda: backend.generate("ica"), lambda: backend.generate_symmetric("csk")):
        with pytest.raises(SmkiError) as raised:
            action()
        assert raised.value.code == "keys.passphrase_missing"
        assert "SMKI_KEY_PASSPHRASE" in str(raised.value)
    assert not (tmp_path / "keys").exists() or not any((tmp_path / "keys").iterdir())


def test_the_passphrase_is_not_taken_from_the_process_environment_when_env_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMKI_KEY_PASSPHRASE", "from-the-process")
    with pytest.raises(SmkiError) as raised:
        SoftBackend(tmp_path, {}).generate("ica")
    assert raised.value.code == "keys.passphrase_missing"
    assert open_backend("soft", tmp_path).generate("ica")  # the default env is os.environ


def test_passphrase_from_a_file(tmp_path: Path, passphrase: str) -> None:
    secret_file = tmp_path / "passphrase.txt"
    secret_file.write_text(passphrase + "\n")
    public = SoftBackend(tmp_path / "home", {"SMKI_KEY_PASSPHRASE_FILE": str(secret_file)}).generate("ica")

    # the trailing newline is not part of the passphrase: the variable opens the same key
    assert SoftBackend(tmp_path / "home", _env(passphrase)).public_key("ica") == public


def test_passphrase_file_problems_are_clear(tmp_path: Path, passphrase: str) -> None:
    missing = SoftBackend(tmp_path, {"SMKI_KEY_PASSPHRASE_FILE": str(tmp_path / "nope")})
    with pytest.raises(SmkiError) as raised:
        missing.generate("ica")
    assert raised.value.code == "keys.passphrase_file"

    empty_file = tmp_path / "empty"
    empty_file.write_text("\n")
    with pytest.raises(SmkiError) as raised:
        SoftBackend(tmp_path, {"SMKI_KEY_PASSPHRASE_FILE": str(empty_file)}).generate("ica")
    assert raised.value.code == "keys.passphrase_missing"

    both = {"SMKI_KEY_PASSPHRASE": passphrase, "SMKI_KEY_PASSPHRASE_FILE": str(empty_file)}
    with pytest.raises(SmkiError) as raised:
        SoftBackend(tmp_path, both).generate("ica")
    assert raised.value.code == "keys.passphrase_ambiguous"


def test_an_existing_label_is_refused(backend: SoftBackend) -> None:
    first = backend.generate("ica")
    for action in (lambda: backend.generate("ica"), lambda: backend.generate_symmetric("ica")):
        with pytest.raises(SmkiError) as raised:
            action()
        assert raised.value.code == "keys.exists"
    assert backend.public_key("ica") == first

    backend.generate_symmetric("csk")
    with pytest.raises(SmkiError) as raised:
        backend.generate("csk")
    assert raised.value.code == "keys.exists"


def test_an_existing_label_is_refused_across_instances(tmp_path: Path, passphrase: str) -> None:
    SoftBackend(tmp_path, _env(passphrase)).generate("ica")
    with pytest.raises(SmkiError) as raised:
        SoftBackend(tmp_path, _env(passphrase)).generate("ica")
    assert raised.value.code == "keys.exists"


def test_certificate_and_crl_signed_with_the_signer_verify(backend: SoftBackend) -> None:
    public = backend.generate("root")
    signer = backend.signer("root")

    _assert_cert_verifies(_self_signed(signer), public)
    crl = _crl(signer)
    assert crl.is_signature_valid(public)
    assert not crl.is_signature_valid(backend.generate("other"))


def test_the_decrypted_key_is_cached_per_instance(tmp_path: Path, backend: SoftBackend) -> None:
    backend.generate("ica")
    fresh = SoftBackend(tmp_path, backend._env)
    signer = fresh.signer("ica")
    (tmp_path / "keys" / "ica.key.pem").unlink()  # the file is not read again
    assert fresh.signer("ica") is signer
    fresh.close()
    for action in (lambda: fresh.signer("ica"), lambda: signer.sign(b"tbs", ec.ECDSA(hashes.SHA256()))):
        with pytest.raises(SmkiError) as raised:
            action()
        assert raised.value.code == "keys.closed"


def test_the_signer_signs_but_refuses_to_give_out_its_key(backend: SoftBackend) -> None:
    public = backend.generate("root")
    signer = backend.signer("root")
    assert isinstance(signer, Signer) and isinstance(signer, ec.EllipticCurvePrivateKey)
    assert signer.label == "root" and signer.curve.name == "secp256r1" and signer.key_size == 256
    assert signer.public_key() == public
    public.verify(signer.sign(b"data", ec.ECDSA(hashes.SHA256())), b"data", ec.ECDSA(hashes.SHA256()))

    peer = ec.generate_private_key(ec.SECP256R1()).public_key()
    for extract in (
        lambda: signer.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        lambda: signer.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"chosen by the caller"),
        ),
        signer.private_numbers,
        lambda: signer.exchange(ec.ECDH(), peer),
        lambda: pickle.dumps(signer),
        lambda: pickle.dumps(signer, protocol=0),
        lambda: signer.__getstate__(),
    ):
        with pytest.raises(SmkiError) as raised:
            extract()
        assert raised.value.code == "keys.not_extractable"
        assert "'root'" in raised.value.message
    assert copy.copy(signer) is signer and copy.deepcopy(signer) is signer  # nothing is copied out
    assert vars(signer) == {} and repr(signer) == "<SoftSigner label='root'>"  # no key in __dict__ or repr


@pytest.mark.parametrize("size", WRAP_SIZES)
def test_wrap_unwrap_round_trip(tmp_path: Path, passphrase: str, size: int) -> None:
    SoftBackend(tmp_path, _env(passphrase)).generate_symmetric("csk")
    data = os.urandom(size)

    backend = SoftBackend(tmp_path, _env(passphrase))  # reloaded from its encrypted file
    wrapped = backend.wrap("csk", data)
    assert wrapped != data and len(wrapped) == max(16, 8 + (size + 7) // 8 * 8)
    assert backend.unwrap("csk", wrapped) == data
    assert SoftBackend(tmp_path, _env(passphrase)).unwrap("csk", wrapped) == data


def test_unwrap_of_tampered_or_foreign_data_is_refused(backend: SoftBackend) -> None:
    backend.generate_symmetric("csk")
    backend.generate_symmetric("other")
    wrapped = bytearray(backend.wrap("csk", b"contingency public key"))
    with pytest.raises(SmkiError) as raised:
        backend.unwrap("other", bytes(wrapped))
    assert raised.value.code == "keys.unwrap_failed"
    wrapped[5] ^= 1
    with pytest.raises(SmkiError) as raised:
        backend.unwrap("csk", bytes(wrapped))
    assert raised.value.code == "keys.unwrap_failed"
    with pytest.raises(InvalidInput) as bad:
        backend.wrap("csk", b"")
    assert bad.value.code == "keys.empty_plaintext"


def test_symmetric_key_file_is_encrypted_and_bound_to_its_label(tmp_path: Path, passphrase: str) -> None:
    backend = SoftBackend(tmp_path, _env(passphrase))
    backend.generate_symmetric("csk")
    path = tmp_path / "keys" / "csk.aes.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    document = json.loads(path.read_text())
    assert document["format"] == "smki-aes-key-v1" and document["kdf"]["name"] == "scrypt"

    with pytest.raises(SmkiError) as raised:
        SoftBackend(tmp_path, _env("wrong-" + passphrase)).wrap("csk", b"x")
    assert raised.value.code == "keys.bad_passphrase"

    path.rename(tmp_path / "keys" / "moved.aes.json")
    with pytest.raises(SmkiError) as raised:
        SoftBackend(tmp_path, _env(passphrase)).wrap("moved", b"x")
    assert raised.value.code == "keys.bad_passphrase"


def test_the_passphrase_and_key_bytes_appear_in_no_file(tmp_path: Path, passphrase: str) -> None:
    home = tmp_path / "home"
    backend = SoftBackend(home, _env(passphrase))
    backend.generate("root")
    backend.generate_symmetric("csk")
    backend.wrap("csk", b"data")
    # Only the passphrase and the file give the key (the signer refuses): decrypt it here to know its bytes.
    private = serialization.load_pem_private_key(
        (home / "keys" / "root.key.pem").read_bytes(), password=passphrase.encode()
    )
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    scalar = private.private_numbers().private_value.to_bytes(32, "big")
    aes = backend._aes["csk"]

    files = [p for p in home.rglob("*") if p.is_file()]
    assert len(files) == 2
    for path in files:
        content = path.read_bytes()
        for needle in (passphrase.encode(), passphrase.encode("utf-16-le"), scalar, aes):
            assert needle not in content, path


def test_labels_kinds_and_bad_labels(backend: SoftBackend) -> None:
    assert backend.labels() == []
    backend.generate("zeta")
    backend.generate_symmetric("alpha")
    assert backend.labels() == ["alpha", "zeta"]
    assert backend.exists("alpha") and backend.exists("zeta") and not backend.exists("beta")

    for action, code in (
        (lambda: backend.signer("beta"), "keys.not_found"),
        (lambda: backend.signer("alpha"), "keys.wrong_kind"),
        (lambda: backend.wrap("zeta", b"x"), "keys.wrong_kind"),
    ):
        with pytest.raises(SmkiError) as raised:
            action()
        assert raised.value.code == code
    for label in ("", "../escape", "a/b", ".hidden", "x" * 65, "spaced label"):
        with pytest.raises(InvalidInput) as bad:
            backend.generate(label)
        assert bad.value.code == "keys.bad_label"


def test_open_backend_chooses_by_name(tmp_path: Path, passphrase: str) -> None:
    backend = open_backend("soft", tmp_path, _env(passphrase))
    assert isinstance(backend, SoftBackend) and isinstance(backend, KeyBackend)
    assert backend.name == "soft"
    with pytest.raises(InvalidInput) as bad:
        open_backend("vault", tmp_path, _env(passphrase))
    assert bad.value.code == "keys.unknown_backend"


@settings(max_examples=60, deadline=None)
@given(key=st.binary(min_size=32, max_size=32), data=st.binary(min_size=1, max_size=200))
def test_rfc5649_over_a_block_cipher_matches_cryptography(key: bytes, data: bytes) -> None:
    """The arithmetic the PKCS#11 backend runs over the token's AES-ECB is RFC 5649 exactly."""
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    assert rfc5649.wrap_with_padding(encryptor.update, data) == aes_key_wrap_with_padding(key, data)
