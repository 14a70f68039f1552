"""EntityId parsing and rendering, Remote Party Role codes: property tests and the documented forms."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smki.model import EntityId, InvalidInput, KeyUsage, RemotePartyRole

EIGHT_BYTES = st.binary(min_size=8, max_size=8)


@pytest.mark.parametrize(
    "text",
    ["90-B3-D5-1F-30-01-00-00", "90b3d51f30010000", "90 B3 D5 1F 30 01 00 00", "90:b3:d5:1f:30:01:00:00"],
)
def test_entity_id_accepts_documented_forms(text: str) -> None:
    eid = EntityId.parse(text)
    assert eid.value == bytes.fromhex("90B3D51F30010000")
    assert eid.dashed == "90-B3-D5-1F-30-01-00-00"
    assert eid.compact == "90B3D51F30010000"


@given(EIGHT_BYTES)
def test_entity_id_round_trips_through_both_renderings(raw: bytes) -> None:
    eid = EntityId(raw)
    assert EntityId.parse(eid.dashed) == eid
    assert EntityId.parse(eid.compact) == eid
    assert EntityId.parse(eid.compact.lower()) == eid
    assert EntityId.parse(" ".join(eid.dashed.split("-"))) == eid


@given(EIGHT_BYTES)
def test_entity_id_dashed_is_upper_case_pairs_joined_by_dashes(raw: bytes) -> None:
    assert EntityId(raw).dashed == "-".join(f"{b:02X}" for b in raw)


@given(st.binary().filter(lambda b: len(b) != 8))
def test_entity_id_refuses_other_lengths_with_one_sentence(raw: bytes) -> None:
    with pytest.raises(InvalidInput) as info:
        EntityId(raw)
    assert info.value.code == "entity_id.length"
    assert str(len(raw)) in info.value.message


@given(st.text(max_size=40))
def test_entity_id_parse_never_crashes(text: str) -> None:
    try:
        eid = EntityId.parse(text)
    except InvalidInput as exc:
        assert exc.code == "entity_id.syntax"
        assert exc.message.endswith(".")
    else:
        assert len(eid.value) == 8


@pytest.mark.parametrize(
    "text", ["90-B3-D5-1F-30-01-00", "90B3D51F3001000000", "90B3-D51F-3001-0000", "zz" * 8]
)
def test_entity_id_refuses_malformed(text: str) -> None:
    with pytest.raises(InvalidInput):
        EntityId.parse(text)


@given(st.integers(min_value=0, max_value=255))
def test_role_code_round_trips_through_ou(code: int) -> None:
    role = RemotePartyRole(code)
    assert len(role.ou) == 2 and role.ou == role.ou.upper()
    assert RemotePartyRole.from_ou(role.ou) == role
    assert RemotePartyRole.from_ou(role.ou.lower()) == role
    assert RemotePartyRole.parse(str(code)) == role


@given(st.integers().filter(lambda c: not 0 <= c <= 255))
def test_role_code_out_of_range_refused(code: int) -> None:
    with pytest.raises(InvalidInput):
        RemotePartyRole(code)


def test_role_registry_names_gbcs_annex_a_and_dcc_codes() -> None:
    expected = {
        0: "root",
        1: "recovery",
        2: "supplier",
        3: "networkOperator",
        4: "accessControlBroker",
        5: "transitionalCoS",
        6: "wanProvider",
        7: "issuingAuthority",
        127: "other",
        126: "s1SPxmlSigning",
        128: "pPPXmlSign",
        129: "pPRDPFileSign",
        130: "s1SPMigrationSigning",
        131: "requestingPartyFileSigning",
        132: "commissioningPartyFileSigning",
        133: "commissioningPartyXmlSigning",
        8: "loadController",
        135: "xmlSign",
        137: "dspXmlSign",
    }
    for code, name in expected.items():
        assert RemotePartyRole(code).name == name
        assert RemotePartyRole.parse(name) == RemotePartyRole(code)
    assert RemotePartyRole(200).name is None
    assert RemotePartyRole(200).label == "unnamed (200)"
    assert RemotePartyRole.SUPPLIER.ou == "02"
    assert RemotePartyRole.XML_SIGN.ou == "87"


@pytest.mark.parametrize("ou", ["2", "002", "G1", "", " 02"])
def test_role_ou_must_be_two_hex_digits(ou: str) -> None:
    with pytest.raises(InvalidInput) as info:
        RemotePartyRole.from_ou(ou)
    assert info.value.code == "role.ou_syntax"


def test_key_usage_short_forms() -> None:
    assert KeyUsage.parse("DS") is KeyUsage.DIGITAL_SIGNATURE
    assert KeyUsage.parse("key_agreement") is KeyUsage.KEY_AGREEMENT
    with pytest.raises(InvalidInput):
        KeyUsage.parse("nonRepudiation")
