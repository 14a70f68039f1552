"""The key ceremony's rules live in ``policy.authorities``: the single Root of L3.17(b), L3.19(b) and
L3.21(b) through ``check_ca_certificate_eligibility``, and the L3.24 table of commissioning certificates,
checked on the signed certificates before the new hierarchy is activated."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smki.ca import create_hierarchy, hierarchy_state
from smki.keys import SoftBackend
from smki.model import CertificateKind, KeyUsage, PolicyRefusal, RemotePartyRole
from smki.policy.authorities import (
    COMMISSIONING_CERTIFICATE_TABLE,
    THE_DCC,
    check_commissioning_certificate,
    check_key_ceremony,
)
from smki.profiles import builders
from smki.profiles.environment import PkiEnvironment
from smki.storage import Database, ca_store

ENV = PkiEnvironment()

# L3.24 as the seed prints it: Certificate, keyUsage Value, Remote Party Role, DCC Role (and L3.23 paragraph).
SEED_L3_24 = [
    ("L3.23(e)", "digitalSignature", "recovery", "The role of the DCC under the SMKI Recovery Procedure"),
    ("L3.23(f)", "digitalSignature", "accessControlBroker", "AccessControlBroker"),
    ("L3.23(g)", "keyAgreement", "accessControlBroker", "AccessControlBroker"),
    ("L3.23(h)", "digitalSignature", "wanProvider", "wanProvider"),
    ("L3.23(i)", "digitalSignature", "transitionalCoS", "The role of the DCC as CoS Party"),
]


@pytest.fixture
def keys(tmp_path: Path) -> Iterator[SoftBackend]:
    backend = SoftBackend(tmp_path / "home", {"SMKI_KEY_PASSPHRASE": "ceremony-rules"})
    yield backend
    backend.close()


def test_the_l3_24_table_is_the_seeds() -> None:
    rows = [
        (r.paragraph, r.key_usage.value, r.role.name, r.dcc_role) for r in COMMISSIONING_CERTIFICATE_TABLE
    ]
    assert rows == SEED_L3_24


def test_a_first_ceremony_gives_the_dcc_every_ca_certificate_under_the_a_clauses() -> None:
    decisions = check_key_ceremony([], replacing=False)
    assert [d.clause for d in decisions] == [
        "L3.19(a)",
        "L3.17(a)",
        "L3.21(a)",
        "L3.19(a)",
        "L3.17(a)",
        "L3.21(a)",
    ]
    assert THE_DCC.is_dcc


@pytest.mark.parametrize(
    ("in_force", "clause"),
    [
        ([(CertificateKind.ROOT_OCA, "Z0"), (CertificateKind.ISSUING_OCA, "Z1")], "L3.19(b)"),
        ([(CertificateKind.ROOT_DCA, "D0")], "L3.17(b)"),
        ([(CertificateKind.ROOT_ICA, "I0")], "L3.21(b)"),
    ],
)
def test_a_second_root_is_refused_unless_the_ceremony_replaces_it(
    in_force: list[tuple[CertificateKind, str]], clause: str
) -> None:
    with pytest.raises(PolicyRefusal) as refused:
        check_key_ceremony(in_force, replacing=False)
    assert (refused.value.code, refused.value.clause) == ("init.hierarchy_exists", clause)
    assert "--force" in refused.value.message and in_force[0][1] in refused.value.message
    assert len(check_key_ceremony(in_force, replacing=True)) == 6


def test_a_commissioning_certificate_must_say_what_its_l3_24_row_says() -> None:
    acb_ka = COMMISSIONING_CERTIFICATE_TABLE[2]
    check_commissioning_certificate(acb_ka, key_usage=KeyUsage.KEY_AGREEMENT, role=acb_ka.role)
    with pytest.raises(PolicyRefusal) as usage:
        check_commissioning_certificate(acb_ka, key_usage=KeyUsage.DIGITAL_SIGNATURE, role=acb_ka.role)
    assert (usage.value.code, usage.value.clause) == ("init.commissioning_key_usage", "L3.24(a)")
    with pytest.raises(PolicyRefusal) as role:
        check_commissioning_certificate(
            acb_ka, key_usage=KeyUsage.KEY_AGREEMENT, role=RemotePartyRole.SUPPLIER
        )
    assert (role.value.code, role.value.clause) == ("init.commissioning_role", "L3.24(b)")


def test_the_ceremony_refuses_a_commissioning_certificate_off_its_l3_24_row_and_activates_nothing(
    database: Database, keys: SoftBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = builders.organisation

    def off_table(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("role") == RemotePartyRole.WAN_PROVIDER:
            kwargs["role"] = RemotePartyRole.SUPPLIER  # a well-formed Organisation Certificate, wrong OU
        return real(*args, **kwargs)

    monkeypatch.setattr(builders, "organisation", off_table)
    with pytest.raises(PolicyRefusal) as refused:
        create_hierarchy(database, keys, ENV, actor="test")
    assert (refused.value.code, refused.value.clause) == ("init.commissioning_role", "L3.24(b)")
    assert "wanProvider" in refused.value.message
    assert not hierarchy_state(database).initialised  # the CA records were never switched on
    with database.read_transaction() as tx:
        assert ca_store.active_authorities(tx) == []
        assert {i.state for i in ca_store.intents(tx) if i.kind == "organisation"} == {ca_store.ABANDONED}
    monkeypatch.undo()
    create_hierarchy(database, keys, ENV, actor="test")  # the refused ceremony is not "in force"
    assert hierarchy_state(database).initialised
