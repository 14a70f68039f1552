"""Builders: names, key identifiers, extension shapes, the contingency extension, refusals of bad input."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from smki.model import EntityId, InvalidInput, KeyUsage, RemotePartyRole
from smki.profiles import builders
from smki.profiles.contingency import (
    AES256_WRAP_PAD_OID,
    decode_wrapped_contingency_key,
    encode_wrapped_contingency_key,
    unwrap_contingency_public_key,
    wrap_contingency_public_key,
)
from smki.profiles.environment import PkiEnvironment
from smki.profiles.parse import certificate_fields, decode_hardware_module_name

ENV = PkiEnvironment()
KEY = ec.generate_private_key(ec.SECP256R1())
NB = datetime(2026, 1, 5, tzinfo=UTC)
Z1 = builders.IssuerInfo(
    builders.oca_name("Z1", RemotePartyRole.ISSUING_AUTHORITY), bytes.fromhex("4F5688D7EC933BE2")
)
E357 = builders.IssuerInfo(builders.dca_name("E357"), bytes.fromhex("47D40AF3412904A0"))
PARTY = EntityId.parse("90-B3-D5-1F-30-01-00-00")


def _sign(builder: x509.CertificateBuilder) -> x509.Certificate:
    return builder.sign(KEY, hashes.SHA256())


def _organisation(**overrides: object) -> x509.CertificateBuilder:
    args: dict[str, object] = {
        "issuer": Z1,
        "public_key": KEY.public_key(),
        "serial": builders.new_serial(),
        "not_before": NB,
        "role": RemotePartyRole.SUPPLIER,
        "entity_id": PARTY,
        "key_usage": KeyUsage.DIGITAL_SIGNATURE,
    }
    args.update(overrides)
    return builders.organisation(ENV, **args)  # type: ignore[arg-type]


def _shape(cert: x509.Certificate) -> list[tuple[str, bool]]:
    return [(e.oid.dotted_string, e.critical) for e in cert.extensions]


KU, BC, CP, SKI, AKI, SAN = "2.5.29.15", "2.5.29.19", "2.5.29.32", "2.5.29.14", "2.5.29.35", "2.5.29.17"


def test_oca_name_is_printable_ou_then_cn_as_z1() -> None:
    # Z1's subject bytes (research notes s.3.1): OU "07" then CN "Z1", both PrintableString (tag 13).
    expected = "301a" + "310b3009060355040b1302" + b"07".hex() + "310b300906035504031302" + b"Z1".hex()
    assert builders.oca_name("Z1", RemotePartyRole.ISSUING_AUTHORITY).public_bytes().hex() == expected


def test_dca_name_is_printable_cn_only_as_e357() -> None:
    assert builders.dca_name("E357").public_bytes() == bytes.fromhex("300f310d300b06035504031304") + b"E357"


def test_organisation_subject_encodes_cn_ou_and_64_bit_unique_identifier() -> None:
    name = builders.organisation_subject(RemotePartyRole(0x7F), PARTY, "MDR")
    der = name.public_bytes()
    assert der.endswith(bytes.fromhex("31123010060355042d03090090b3d51f30010000"))
    assert bytes.fromhex("310b3009060355040b0c02") + b"7F" in der  # UTF8String, upper-case hex
    assert bytes.fromhex("310c300a06035504030c03") + b"MDR" in der
    assert der.index(b"MDR") < der.index(b"7F")


def test_organisation_subject_without_common_name_has_two_attributes() -> None:
    name = builders.organisation_subject(RemotePartyRole.RECOVERY, PARTY)
    assert [a.oid.dotted_string for a in name] == ["2.5.4.11", "2.5.4.45"]


def test_extension_order_and_criticality_per_type() -> None:
    org = _sign(_organisation())
    assert _shape(org) == [(KU, True), (SKI, False), (CP, True), (AKI, False)]
    dev = _sign(
        builders.device(
            ENV,
            issuer=E357,
            public_key=KEY.public_key(),
            serial=builders.new_serial(),
            not_before=NB,
            entity_id=PARTY,
            key_usage=KeyUsage.KEY_AGREEMENT,
        )
    )
    assert _shape(dev) == [(KU, True), (SKI, False), (SAN, True), (CP, True), (AKI, False)]
    ica = _sign(
        builders.issuing_ica(
            ENV, issuer=Z1, public_key=KEY.public_key(), serial=builders.new_serial(), not_before=NB
        )
    )
    assert _shape(ica) == [(KU, True), (BC, True), (CP, True), (SKI, False), (AKI, False)]
    root = _sign(
        builders.root_oca(
            ENV,
            public_key=KEY.public_key(),
            serial=builders.new_serial(),
            not_before=NB,
            wrapped_contingency_key=wrap_contingency_public_key(bytes(32), KEY.public_key()),
        )
    )
    assert _shape(root) == [
        (KU, True),
        (BC, True),
        (CP, True),
        (SKI, False),
        (ENV.contingency_key_extension_oid, False),
    ]


def test_device_san_carries_hw_type_and_eui64_and_policy_from_environment() -> None:
    env = PkiEnvironment(
        hw_type_oid="1.2.826.0.1.8641679.1.2.2.9", device_policy_oid="1.2.826.0.1.1800000.1.2.1.1"
    )
    dev = _sign(
        builders.device(
            env,
            issuer=E357,
            public_key=KEY.public_key(),
            serial=builders.new_serial(),
            not_before=NB,
            entity_id=PARTY,
            key_usage=KeyUsage.DIGITAL_SIGNATURE,
        )
    )
    fields = certificate_fields(dev)
    assert [(h.hw_type, h.hw_serial_num) for h in fields.hardware_module_names] == [
        ("1.2.826.0.1.8641679.1.2.2.9", PARTY.value)
    ]
    assert fields.policy_oids == ("1.2.826.0.1.1800000.1.2.1.1",)
    assert fields.entity_id == PARTY and fields.key_usage is KeyUsage.DIGITAL_SIGNATURE


def test_hardware_module_name_round_trips_through_the_parser() -> None:
    der = builders.encode_hardware_module_name(
        "1.2.826.0.1.8641679.1.2.2.1", bytes.fromhex("00DB123456789001")
    )
    assert der == bytes.fromhex("3019060d2a863a000184" + "8fb90f0102020104" + "0800db123456789001")
    assert decode_hardware_module_name(der).hw_serial_num == bytes.fromhex("00DB123456789001")


def test_iki_uses_the_iki_policy_and_defaults_to_role_other() -> None:
    cert = _sign(
        builders.iki(
            ENV,
            issuer=Z1,
            public_key=KEY.public_key(),
            serial=builders.new_serial(),
            not_before=NB,
            entity_id=PARTY,
            key_usage=KeyUsage.DIGITAL_SIGNATURE,
        )
    )
    fields = certificate_fields(cert)
    assert fields.policy_oids == (ENV.iki_policy_oid,)
    assert fields.role == RemotePartyRole.OTHER and fields.entity_id == PARTY


def test_issuer_info_from_certificate_takes_subject_and_ski() -> None:
    ca = _sign(
        builders.issuing_oca(
            ENV, issuer=Z1, public_key=KEY.public_key(), serial=builders.new_serial(), not_before=NB
        )
    )
    info = builders.IssuerInfo.from_certificate(ca)
    assert (
        info.name.public_bytes() == builders.oca_name("Z1", RemotePartyRole.ISSUING_AUTHORITY).public_bytes()
    )
    assert info.key_identifier == builders.key_identifier(KEY.public_key())


def test_issuer_info_refuses_an_end_entity_certificate() -> None:
    with pytest.raises(InvalidInput) as err:
        builders.IssuerInfo.from_certificate(_sign(_organisation()))
    assert err.value.code == "profile.issuer_not_ca"


def test_issuer_info_refuses_a_key_identifier_that_is_not_8_octets() -> None:
    with pytest.raises(InvalidInput) as err:
        builders.IssuerInfo(Z1.name, bytes(20))
    assert err.value.code == "profile.key_identifier_length"


@pytest.mark.parametrize(
    ("override", "code"),
    [
        ({"public_key": ec.generate_private_key(ec.SECP384R1()).public_key()}, "profile.public_key_not_p256"),
        ({"serial": 1}, "profile.serial"),
        ({"serial": 1 << 127}, "profile.serial"),
        ({"key_usage": KeyUsage.CERT_SIGN}, "profile.end_entity_key_usage"),
        ({"common_name": ""}, "profile.common_name"),
        ({"common_name": "x" * 65}, "profile.common_name"),
        ({"common_name": "\u00e9" * 33}, "profile.common_name"),
        ({"issuer": "CN=Z1"}, "profile.issuer"),
    ],
)
def test_bad_input_is_refused_in_one_sentence(override: dict[str, object], code: str) -> None:
    with pytest.raises(InvalidInput) as err:
        _organisation(**override)
    assert err.value.code == code
    assert err.value.message.endswith(".")


def test_ca_names_must_be_printable_strings() -> None:
    with pytest.raises(InvalidInput) as err:
        builders.dca_name("E357_é")
    assert err.value.code == "profile.ca_name"


def test_wrapped_contingency_key_round_trips_and_names_aes256_wrap_pad() -> None:
    symmetric_key = secrets.token_bytes(32)
    contingency = ec.generate_private_key(ec.SECP256R1()).public_key()
    wrapped = wrap_contingency_public_key(symmetric_key, contingency)
    value = encode_wrapped_contingency_key(wrapped)
    assert value[:2] == b"\x30" + bytes([len(value) - 2])
    assert bytes.fromhex("0609608648016503040130") in value  # id-aes256-wrap-pad
    assert AES256_WRAP_PAD_OID == "2.16.840.1.101.3.4.1.48"
    assert decode_wrapped_contingency_key(value) == wrapped
    assert (
        unwrap_contingency_public_key(symmetric_key, wrapped).public_numbers() == contingency.public_numbers()
    )


def test_contingency_key_does_not_unwrap_under_another_symmetric_key() -> None:
    wrapped = wrap_contingency_public_key(secrets.token_bytes(32), KEY.public_key())
    with pytest.raises(InvalidInput) as err:
        unwrap_contingency_public_key(secrets.token_bytes(32), wrapped)
    assert err.value.code == "contingency.unwrap_failed"


def test_contingency_symmetric_key_must_be_aes_256() -> None:
    with pytest.raises(InvalidInput) as err:
        wrap_contingency_public_key(bytes(16), KEY.public_key())
    assert err.value.code == "contingency.symmetric_key_length"


@settings(max_examples=200)
@given(st.binary(max_size=80))
def test_contingency_extension_decoder_never_crashes(data: bytes) -> None:
    try:
        decode_wrapped_contingency_key(data)
    except InvalidInput as exc:
        assert exc.code.startswith("contingency.")


@settings(max_examples=60, deadline=None)
@given(
    role=st.integers(min_value=0, max_value=255),
    eui=st.binary(min_size=8, max_size=8),
    common_name=st.none() | st.text(min_size=1, max_size=64).filter(lambda t: len(t.encode("utf-8")) <= 64),
)
def test_organisation_subject_round_trips_through_a_certificate(
    role: int, eui: bytes, common_name: str | None
) -> None:
    cert = _sign(_organisation(role=RemotePartyRole(role), entity_id=EntityId(eui), common_name=common_name))
    reloaded = x509.load_der_x509_certificate(cert.public_bytes(serialization.Encoding.DER))
    fields = certificate_fields(reloaded)
    assert fields.role == RemotePartyRole(role)
    assert fields.role_ou == f"{role:02X}"
    assert fields.entity_id == EntityId(eui)
    assert fields.common_name == common_name
