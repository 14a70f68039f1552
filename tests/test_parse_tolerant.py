"""Tolerant reading: PEM/DER splitting, the raw DER structure, NULL-parameter normalisation, fuzzing."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smki.model import InvalidInput
from smki.profiles.environment import PkiEnvironment
from smki.profiles.lint import lint_data
from smki.profiles.parse import (
    detect_kind,
    load_certificate,
    parse_items,
    raw_structure,
    split_pem_or_der,
    without_null_signature_parameters,
)

ENV = PkiEnvironment()
MDR = "org/mdr-ds__90B3D51F30010009__other-ds__173CFBF0.pem"
Z1 = "ca/IssuingOCA-Z1-issued-by-ZA-71872BDB.pem"
CSR = "csr/device-CSR-00DB1234567890A0-ds-from-RTDS-CS02c.pem"


def _der(path: Path) -> bytes:
    ((_, der),) = split_pem_or_der(path.read_bytes())
    return der


def test_pem_bundle_gives_every_block_in_order(real_certs: Path) -> None:
    bundle = (real_certs / Z1).read_bytes() + b"\n" + (real_certs / CSR).read_bytes()
    items = parse_items(bundle)
    assert [i.kind for i in items] == ["certificate", "csr"]


def test_der_input_is_recognised_by_its_structure(real_certs: Path) -> None:
    assert detect_kind(_der(real_certs / Z1)) == "certificate"
    assert detect_kind(_der(real_certs / CSR)) == "csr"
    assert detect_kind(b"\x30\x03\x02\x01\x00") is None


def test_null_parameters_are_removed_only_from_the_algorithm_identifiers(real_certs: Path) -> None:
    found = _der(real_certs / MDR)
    with pytest.raises(ValueError):
        x509.load_der_x509_certificate(found)
    normalised = without_null_signature_parameters(found)
    assert normalised is not None and len(normalised) == len(found) - 4
    cert = x509.load_der_x509_certificate(normalised)
    assert raw_structure(normalised).signed_bytes != raw_structure(found).signed_bytes
    (item,) = parse_items((real_certs / MDR).read_bytes())
    assert item.normalised and item.fields.found_der == found
    assert item.fields.serial_number == cert.serial_number
    assert without_null_signature_parameters(_der(real_certs / Z1)) is None


def test_raw_structure_sees_what_cryptography_hides(real_certs: Path) -> None:
    raw = raw_structure(_der(real_certs / Z1))
    assert [a.tag_name for a in raw.subject.attributes] == ["PrintableString", "PrintableString"]
    assert raw.subject.rfc4514() == "OU=07, CN=Z1"
    assert [e.oid for e in raw.extensions] == [
        "2.5.29.15",
        "2.5.29.19",
        "2.5.29.32",
        "2.5.29.14",
        "2.5.29.35",
    ]
    assert raw.not_after is not None and raw.not_after.tag_name == "UTCTime"
    assert raw.inner_algorithm is not None and raw.inner_algorithm.parameters is None


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "parse.not_x509"),
        (b"hello", "parse.not_x509"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "parse.unsupported_pem"),
        (b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n", "parse.bad_pem"),
        (b"-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n", "parse.bad_certificate"),
    ],
)
def test_unreadable_input_gives_one_sentence_and_a_code(data: bytes, code: str) -> None:
    with pytest.raises(InvalidInput) as info:
        lint_data(data, ENV)
    assert info.value.code == code
    assert info.value.message.endswith(".")


def test_load_certificate_still_refuses_null_parameters_in_one_sentence(real_certs: Path) -> None:
    with pytest.raises(InvalidInput) as info:
        load_certificate((real_certs / MDR).read_bytes())
    assert info.value.code == "parse.bad_certificate"


def _only_invalid_input(data: bytes) -> None:
    try:
        reports = lint_data(data, ENV)
    except InvalidInput:
        return
    for r in reports:
        assert all(f.message for f in r.findings)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_never_raise_anything_but_invalid_input(data: bytes) -> None:
    _only_invalid_input(data)
    _only_invalid_input(
        b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(data) + b"-----END CERTIFICATE-----\n"
    )


def _seeds() -> list[bytes]:
    from conftest import REAL_CERTS

    names = [Z1, MDR, CSR, "device/00DB123456789001-ds-71C56392.pem"]
    return [_der(REAL_CERTS / n) for n in names if (REAL_CERTS / n).is_file()]


SEEDS = _seeds()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SEEDS or [b""]),
    st.lists(st.tuples(st.integers(min_value=0, max_value=600), st.integers(0, 255)), min_size=1, max_size=4),
    st.sampled_from(["flip", "truncate", "insert", "delete"]),
)
def test_mutated_real_der_never_raises_anything_but_invalid_input(
    real_certs: Path, seed: bytes, edits: list[tuple[int, int]], how: str
) -> None:
    assert SEEDS, f"no real DCC certificate was found under {real_certs}"
    data = bytearray(seed)
    for pos, value in edits:
        pos %= len(data)
        if how == "flip":
            data[pos] ^= value or 1
        elif how == "truncate":
            del data[pos:]
            if not data:
                data = bytearray(b"\x30")
        elif how == "insert":
            data.insert(pos, value)
        else:
            del data[pos]
            if not data:
                data = bytearray(b"\x30")
    _only_invalid_input(bytes(data))


def test_certificate_fields_of_a_builder_certificate_still_work() -> None:
    from datetime import UTC, datetime

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from smki.profiles.parse import certificate_fields

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "E300")])
    cert = (
        x509.CertificateBuilder()
        .issuer_name(name)
        .subject_name(name)
        .public_key(key.public_key())
        .serial_number(1 << 120)
        .not_valid_before(datetime(2026, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2076, 1, 1, tzinfo=UTC))
        .sign(key, hashes.SHA256())
    )
    fields = certificate_fields(cert)
    assert fields.original_der is None
    assert fields.found_der == cert.public_bytes(serialization.Encoding.DER)
    assert fields.is_self_issued
