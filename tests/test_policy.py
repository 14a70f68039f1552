"""The pure policy layer: parties, the Authorised Subscriber lifecycle, the L3.16/L3.18 tables, CSR rules.

These are unit tests of one layer (no database); the same tables are exercised end to end through the real
CA and database in tests/test_ra_eligibility.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from smki.model import CertificateKind, EntityId, Hierarchy, InvalidInput, KeyUsage, PolicyRefusal, SmiStatus
from smki.model import RemotePartyRole as R
from smki.policy import (
    DEVICE_CERTIFICATE_TABLE,
    LIFECYCLE,
    ORGANISATION_CERTIFICATE_TABLE,
    DccLiveSystems,
    DeviceType,
    KeyDecision,
    Licence,
    Party,
    PartyIdentifier,
    PartyType,
    SubscriberEvent,
    SubscriberStatus,
    UserRole,
    check_ca_certificate_eligibility,
    check_device_eligibility,
    check_duplicate_key,
    check_iki_eligibility,
    check_may_apply,
    check_organisation_eligibility,
    check_party,
    next_status,
    read_csr,
    require_authorised,
    revocation_on_ceasing,
)
from smki.policy.parties import responsible_network_parties
from smki.profiles.environment import DCC_TEST_ENVIRONMENT as ENV
from smki.subscriber_tools import csr_builder
from smki.subscriber_tools.key_pairs import new_subscriber_key

E = EntityId.parse


def ident(eui: str, role: UserRole | None = None) -> PartyIdentifier:
    return PartyIdentifier(E(eui), role)


DCC = Party("dcc", "DCC", PartyType.DCC, identifiers=(ident("90-B3-D5-1F-30-00-00-01"),))
SUPPLIER = Party(
    "elec",
    "Electric Co",
    PartyType.PARTY,
    frozenset({Licence.ELECTRICITY_SUPPLY}),
    (ident("90-B3-D5-1F-30-01-00-00", UserRole.IMPORT_SUPPLIER),),
)
GAS = Party(
    "gas",
    "Gas Co",
    PartyType.PARTY,
    frozenset({Licence.GAS_SUPPLY}),
    (ident("90-B3-D5-1F-30-03-00-00", UserRole.GAS_SUPPLIER),),
)
OTHER = Party(
    "other", "Other", PartyType.PARTY, identifiers=(ident("00-DB-12-34-56-78-00-04", UserRole.OTHER_USER),)
)
DNO = Party(
    "dno",
    "Network Co",
    PartyType.PARTY,
    frozenset({Licence.ELECTRICITY_DISTRIBUTION}),
    (ident("90-B3-D5-1F-30-02-00-00", UserRole.ELECTRICITY_DISTRIBUTOR),),
)
RDP = Party(
    "rdp",
    "RDP Ltd",
    PartyType.RDP,
    identifiers=(ident("90-B3-D5-1F-30-05-00-00", UserRole.REGISTRATION_DATA_PROVIDER),),
    nominated_by=frozenset({"dno"}),
)
SECCO = Party("secco", "SECCo", PartyType.SECCO, identifiers=(ident("90-B3-D5-1F-30-06-00-00"),))


# --- Parties (L3.6-L3.7) ------------------------------------------------------------------------------


def test_party_definitions_follow_licences() -> None:
    assert DNO.is_network_party and DNO.is_rdp and not DNO.is_supplier_party
    assert SUPPLIER.is_supplier_party and not SUPPLIER.is_network_party
    assert RDP.is_rdp and not RDP.is_party and not RDP.is_network_party
    assert DCC.is_party and DCC.is_dcc and not SECCO.is_party


def test_user_role_needs_its_licence() -> None:
    bad = Party(
        "x", "X", PartyType.PARTY, identifiers=(ident("01-02-03-04-05-06-07-08", UserRole.GAS_SUPPLIER),)
    )
    with pytest.raises(PolicyRefusal) as info:
        check_party(bad)
    assert info.value.code == "party.role_needs_licence"
    for good in (SUPPLIER, GAS, OTHER, DNO, DCC, SECCO):
        check_party(good)


def test_rdp_must_be_nominated_by_network_parties() -> None:
    check_party(RDP, [DNO])
    with pytest.raises(PolicyRefusal) as info:
        check_party(RDP, [SUPPLIER])
    assert (info.value.code, info.value.clause) == ("party.nominator_not_network_party", "L3.6")
    orphan = Party("r2", "R2", PartyType.RDP, identifiers=RDP.identifiers)
    with pytest.raises(PolicyRefusal) as info:
        check_party(orphan, [DNO])
    assert info.value.code == "party.rdp_not_nominated"
    wrong_role = Party(
        "r3",
        "R3",
        PartyType.RDP,
        identifiers=(ident("01-02-03-04-05-06-07-09", UserRole.OTHER_USER),),
        nominated_by=frozenset({"dno"}),
    )
    with pytest.raises(PolicyRefusal):
        check_party(wrong_role, [DNO])


def test_rdp_nominated_by_several_network_parties_answers_to_all_unless_clearly_acting_for_one() -> None:
    shared = Party("rdp2", "Shared RDP", PartyType.RDP, nominated_by=frozenset({"dno", "gdn"}))
    assert responsible_network_parties(shared) == {"dno", "gdn"}  # L3.7(c)
    assert responsible_network_parties(shared, acting_for="gdn") == {"gdn"}  # L3.7(b)
    assert responsible_network_parties(DNO) == {"dno"}
    with pytest.raises(PolicyRefusal) as info:
        responsible_network_parties(shared, acting_for="elec")
    assert info.value.clause == "L3.7(b)"


# --- Authorised Subscribers (L3.2-L3.14) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("party", "policy", "tests_done", "clause"),
    [
        (SUPPLIER, Hierarchy.DEVICE, True, "L3.2(a)"),
        (SUPPLIER, Hierarchy.ORGANISATION, True, "L3.2(a)"),
        (SUPPLIER, Hierarchy.IKI, True, "L3.2(a)"),
        (RDP, Hierarchy.ORGANISATION, True, "L3.2(b)"),
        (SECCO, Hierarchy.IKI, False, "L3.2(c)"),
        (DCC, Hierarchy.DEVICE, False, "L3.2(a)"),
    ],
)
def test_who_may_apply(party: Party, policy: Hierarchy, tests_done: bool, clause: str) -> None:
    assert check_may_apply(party, policy, entry_tests_completed=tests_done) == clause


@pytest.mark.parametrize(
    ("party", "policy", "tests_done", "code", "clause"),
    [
        (SUPPLIER, Hierarchy.ORGANISATION, False, "subscriber.entry_tests_incomplete", "L3.2(a)"),
        (RDP, Hierarchy.ORGANISATION, False, "subscriber.entry_tests_incomplete", "L3.2(b)"),
        (RDP, Hierarchy.DEVICE, True, "subscriber.rdp_organisation_only", "L3.2(b)"),
        (SECCO, Hierarchy.ORGANISATION, True, "subscriber.secco_iki_only", "L3.2(c)"),
    ],
)
def test_who_may_not_apply(party: Party, policy: Hierarchy, tests_done: bool, code: str, clause: str) -> None:
    with pytest.raises(PolicyRefusal) as info:
        check_may_apply(party, policy, entry_tests_completed=tests_done)
    assert (info.value.code, info.value.clause) == (code, clause)


def _walk(*events: SubscriberEvent) -> list[tuple[SubscriberStatus, str]]:
    status: SubscriberStatus | None = None
    out = []
    for event in events:
        t = next_status(status, event)
        status = t.after
        out.append((t.after, t.clause))
    return out


def test_lifecycle_refusal_referral_panel_and_new_application() -> None:
    ev = SubscriberEvent
    path = _walk(
        ev.APPLY,
        ev.DCC_REFUSES,
        ev.REFER_TO_PANEL,
        ev.PANEL_FINDS_CRITERIA_NOT_MET,
        ev.APPLY,
        ev.DCC_AUTHORISES,
        ev.NOTIFY_CHANGE,
        ev.DCC_FINDS_CRITERIA_STILL_MET,
        ev.DCC_FINDS_CRITERIA_NO_LONGER_MET,
        ev.REFER_TO_PANEL,
        ev.PANEL_FINDS_CRITERIA_MET,
    )
    assert path == [
        (SubscriberStatus.APPLIED, "L3.2"),
        (SubscriberStatus.REFUSED, "L3.8"),
        (SubscriberStatus.REFERRED, "L3.8"),
        (SubscriberStatus.PANEL_REFUSED, "L3.10"),
        (SubscriberStatus.APPLIED, "L3.11"),
        (SubscriberStatus.AUTHORISED, "L3.3"),
        (SubscriberStatus.AUTHORISED, "L3.12"),
        (SubscriberStatus.AUTHORISED, "L3.13(a)"),
        (SubscriberStatus.CEASED, "L3.13(b)"),
        (SubscriberStatus.REFERRED, "L3.14(a)"),
        (SubscriberStatus.AUTHORISED, "L3.9(b)"),
    ]


def test_panel_determination_is_binding_and_moves_not_in_the_table_are_refused() -> None:
    with pytest.raises(PolicyRefusal) as info:
        next_status(SubscriberStatus.PANEL_REFUSED, SubscriberEvent.REFER_TO_PANEL)
    assert info.value.code == "subscriber.cannot_refer_to_panel"
    for status in SubscriberStatus:
        for event in SubscriberEvent:
            allowed = any(t.before is status and t.event is event for t in LIFECYCLE)
            if not allowed:
                with pytest.raises(PolicyRefusal):
                    next_status(status, event)
    with pytest.raises(PolicyRefusal):
        next_status(SubscriberStatus.AUTHORISED, SubscriberEvent.APPLY)


def test_only_authorised_subscribers_may_request_and_ceasing_revokes_org_and_iki() -> None:
    require_authorised(SubscriberStatus.AUTHORISED, Hierarchy.DEVICE, "elec")
    for status in (None, SubscriberStatus.APPLIED, SubscriberStatus.CEASED, SubscriberStatus.REFERRED):
        with pytest.raises(PolicyRefusal) as info:
            require_authorised(status, Hierarchy.ORGANISATION, "elec")
        assert info.value.code == "subscriber.not_authorised"
    assert revocation_on_ceasing(Hierarchy.ORGANISATION) == "L3.14(b)"
    assert revocation_on_ceasing(Hierarchy.IKI) == "L3.14(c)"
    assert revocation_on_ceasing(Hierarchy.DEVICE) is None


# --- L3.16 ----------------------------------------------------------------------------------------------

ROW_PARTY = {
    "The DCC": DCC,
    "An Import Supplier": SUPPLIER,
    "A Gas Supplier": GAS,
    "Any other Party": OTHER,
    "The DCC acting as the Production Proving Function": DCC,
}


def test_device_table_has_the_seeds_five_rows() -> None:
    assert [r.party for r in DEVICE_CERTIFICATE_TABLE] == list(ROW_PARTY)
    assert len(DeviceType) == 6


@pytest.mark.parametrize(
    ("row", "device"),
    [(r.party, d) for r in DEVICE_CERTIFICATE_TABLE for d in sorted(r.subjects, key=lambda d: d.value)],
)
def test_device_table_row_gives_its_party_its_subjects(row: str, device: DeviceType) -> None:
    decision = check_device_eligibility(ROW_PARTY[row], device, None)
    assert decision.clause == "L3.16"


@pytest.mark.parametrize("device", list(DeviceType))
def test_device_table_refuses_parties_it_does_not_list(device: DeviceType) -> None:
    for party in (DCC, SUPPLIER, GAS, OTHER):
        listed = any(device in r.subjects and r.matches(party) for r in DEVICE_CERTIFICATE_TABLE)
        if listed:
            check_device_eligibility(party, device, SmiStatus.PENDING)
            continue
        with pytest.raises(PolicyRefusal) as info:
            check_device_eligibility(party, device, None)
        assert (info.value.code, info.value.clause) == ("eligibility.device.wrong_party", "L3.16")


@pytest.mark.parametrize("status", [SmiStatus.COMMISSIONED, SmiStatus.INSTALLED_NOT_COMMISSIONED])
def test_any_other_party_only_before_installation(status: SmiStatus) -> None:
    with pytest.raises(PolicyRefusal) as info:
        check_device_eligibility(OTHER, DeviceType.GAS_SMART_METER, status)
    assert (info.value.code, info.value.clause) == ("eligibility.device.smi_status", "L3.16")
    # the Gas Supplier's own row has no such condition
    check_device_eligibility(GAS, DeviceType.GAS_SMART_METER, status)
    check_device_eligibility(OTHER, DeviceType.GAS_SMART_METER, SmiStatus.WHITELISTED)


def test_rdp_and_secco_are_not_parties_for_device_certificates() -> None:
    for person in (RDP, SECCO):
        with pytest.raises(PolicyRefusal) as info:
            check_device_eligibility(person, DeviceType.ELECTRICITY_SMART_METER, None)
        assert info.value.code == "eligibility.device.not_a_party"


# --- L3.17 / L3.19 / L3.21 ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "clause"),
    [
        (CertificateKind.ROOT_DCA, "L3.17"),
        (CertificateKind.ISSUING_DCA, "L3.17"),
        (CertificateKind.ROOT_OCA, "L3.19"),
        (CertificateKind.ISSUING_OCA, "L3.19"),
        (CertificateKind.ROOT_ICA, "L3.21"),
        (CertificateKind.ISSUING_ICA, "L3.21"),
    ],
)
def test_ca_certificates_for_the_dcc_only_and_a_single_root(kind: CertificateKind, clause: str) -> None:
    assert check_ca_certificate_eligibility(DCC, kind, roots_in_use=0).clause == f"{clause}(a)"
    with pytest.raises(PolicyRefusal) as info:
        check_ca_certificate_eligibility(SUPPLIER, kind, roots_in_use=0)
    assert (info.value.code, info.value.clause) == ("eligibility.ca.dcc_only", f"{clause}(a)")
    if kind.is_root:
        with pytest.raises(PolicyRefusal) as info:
            check_ca_certificate_eligibility(DCC, kind, roots_in_use=1)
        assert (info.value.code, info.value.clause) == ("eligibility.ca.single_root", f"{clause}(b)")
        check_ca_certificate_eligibility(DCC, kind, roots_in_use=1, replacing_root=True)
    else:
        check_ca_certificate_eligibility(DCC, kind, roots_in_use=1)


# --- L3.18 ----------------------------------------------------------------------------------------------

LIVE = DccLiveSystems(smets1_migration="s1-migration")


def _dcc_system(row_paragraph: str | None) -> str | None:
    return LIVE.system_for(row_paragraph) if row_paragraph else None


def test_organisation_table_has_the_seeds_sixteen_rows() -> None:
    assert [r.role.name for r in ORGANISATION_CERTIFICATE_TABLE] == [
        "root",
        "recovery",
        "transitionalCoS",
        "wanProvider",
        "accessControlBroker",
        "issuingAuthority",
        "networkOperator",
        "supplier",
        "other",
        "pPPXmlSign",
        "pPRDPFileSign",
        "s1SPxmlSigning",
        "commissioningPartyFileSigning",
        "requestingPartyFileSigning",
        "s1SPMigrationSigning",
        "commissioningPartyXmlSigning",
    ]


def _holder_for(row_party: str) -> tuple[Party, EntityId]:
    return {
        "The DCC": (DCC, DCC.identifiers[0].entity_id),
        "A Network Party": (DNO, DNO.identifiers[0].entity_id),
        "A Supplier Party": (SUPPLIER, SUPPLIER.identifiers[0].entity_id),
        "An RDP or any Party other than the DCC": (OTHER, OTHER.identifiers[0].entity_id),
    }[row_party]


@pytest.mark.parametrize("row", ORGANISATION_CERTIFICATE_TABLE, ids=lambda r: str(r.role))
def test_organisation_table_row_both_directions(row) -> None:  # type: ignore[no-untyped-def]
    party, eui = _holder_for(row.party.value)
    system = _dcc_system(row.dcc_live_system)
    decision = check_organisation_eligibility(
        party, role=row.role, entity_id=eui, subject_holder=party, dcc_live_system=system, live_systems=LIVE
    )
    assert decision.clause.startswith("L3.18(b)")
    # a wrong party (with its own identifier as the subject) is refused by column 2
    wrong = DCC if not party.is_dcc else SUPPLIER
    wrong_eui = wrong.identifiers[0].entity_id
    with pytest.raises(PolicyRefusal) as info:
        check_organisation_eligibility(
            wrong,
            role=row.role,
            entity_id=wrong_eui,
            subject_holder=wrong,
            dcc_live_system=system,
            live_systems=LIVE,
        )
    assert info.value.clause == "L3.18(b)"
    assert info.value.code == "eligibility.organisation.wrong_party"
    if not party.is_dcc:  # (b)(ii): a User ID for a role outside column 3 is refused
        assert row.user_roles is not None
        outside = next(r for r in (UserRole.IMPORT_SUPPLIER, UserRole.OTHER_USER) if r not in row.user_roles)
        lic = frozenset({Licence.ELECTRICITY_SUPPLY}) if outside is UserRole.IMPORT_SUPPLIER else frozenset()
        lic |= party.licences
        misfit = Party(
            party.party_id, "x", PartyType.PARTY, lic, (ident("33-33-33-33-33-33-33-33", outside),)
        )
        with pytest.raises(PolicyRefusal) as info:
            check_organisation_eligibility(
                misfit,
                role=row.role,
                entity_id=E("33-33-33-33-33-33-33-33"),
                subject_holder=misfit,
                dcc_live_system=None,
                live_systems=LIVE,
            )
        assert (info.value.code, info.value.clause) == (
            "eligibility.organisation.wrong_subject_unique_id",
            "L3.18(b)(ii)",
        )
    if party.is_dcc:  # (b)(i): the CSR must come from the named DCC Live System
        with pytest.raises(PolicyRefusal) as info:
            check_organisation_eligibility(
                party,
                role=row.role,
                entity_id=eui,
                subject_holder=party,
                dcc_live_system="elsewhere",
                live_systems=LIVE,
            )
        assert (info.value.code, info.value.clause) == (
            "eligibility.organisation.wrong_dcc_live_system",
            "L3.18(b)(i)",
        )


def test_subject_unique_id_must_be_a_user_id_for_a_role_in_column_3() -> None:
    # Export Supplier: a Supplier Party, but its Export Supplier ID is only good for 'other'
    both = Party(
        "both",
        "Both",
        PartyType.PARTY,
        frozenset({Licence.ELECTRICITY_SUPPLY}),
        (
            ident("11-11-11-11-11-11-11-11", UserRole.IMPORT_SUPPLIER),
            ident("22-22-22-22-22-22-22-22", UserRole.EXPORT_SUPPLIER),
        ),
    )
    check_organisation_eligibility(
        both,
        role=R.SUPPLIER,
        entity_id=E("11-11-11-11-11-11-11-11"),
        subject_holder=both,
        dcc_live_system=None,
        live_systems=LIVE,
    )
    check_organisation_eligibility(
        both,
        role=R.OTHER,
        entity_id=E("22-22-22-22-22-22-22-22"),
        subject_holder=both,
        dcc_live_system=None,
        live_systems=LIVE,
    )
    with pytest.raises(PolicyRefusal) as info:
        check_organisation_eligibility(
            both,
            role=R.SUPPLIER,
            entity_id=E("22-22-22-22-22-22-22-22"),
            subject_holder=both,
            dcc_live_system=None,
            live_systems=LIVE,
        )
    assert (info.value.code, info.value.clause) == (
        "eligibility.organisation.wrong_subject_unique_id",
        "L3.18(b)(ii)",
    )


def test_subject_rule_a() -> None:
    # (a)(ii): a Party may not subscribe for somebody else's identifier
    with pytest.raises(PolicyRefusal) as info:
        check_organisation_eligibility(
            OTHER,
            role=R.SUPPLIER,
            entity_id=SUPPLIER.identifiers[0].entity_id,
            subject_holder=SUPPLIER,
            dcc_live_system=None,
            live_systems=LIVE,
        )
    assert (info.value.code, info.value.clause) == ("eligibility.organisation.not_subject", "L3.18(a)(ii)")
    # (a)(i): a DCC identifier is the DCC's to subscribe for
    with pytest.raises(PolicyRefusal) as info:
        check_organisation_eligibility(
            OTHER,
            role=R.OTHER,
            entity_id=DCC.identifiers[0].entity_id,
            subject_holder=DCC,
            dcc_live_system=None,
            live_systems=LIVE,
        )
    assert (info.value.code, info.value.clause) == ("eligibility.organisation.subject_is_dcc", "L3.18(a)(i)")
    # unknown identifiers belong to nobody
    with pytest.raises(PolicyRefusal) as info:
        check_organisation_eligibility(
            DCC,
            role=R.RECOVERY,
            entity_id=E("AA-AA-AA-AA-AA-AA-AA-AA"),
            subject_holder=None,
            dcc_live_system=None,
            live_systems=LIVE,
        )
    assert info.value.clause == "L3.18(a)(ii)"


def test_rdp_gets_other_role_and_unlisted_roles_are_refused() -> None:
    eui = RDP.identifiers[0].entity_id
    check_organisation_eligibility(
        RDP, role=R.OTHER, entity_id=eui, subject_holder=RDP, dcc_live_system=None, live_systems=LIVE
    )
    with pytest.raises(PolicyRefusal) as info:
        check_organisation_eligibility(
            RDP,
            role=R.LOAD_CONTROLLER,
            entity_id=eui,
            subject_holder=RDP,
            dcc_live_system=None,
            live_systems=LIVE,
        )
    assert (info.value.code, info.value.clause) == ("eligibility.organisation.role_not_in_table", "L3.18(b)")


def test_smets1_migration_roles_refused_without_a_configured_system() -> None:
    with pytest.raises(PolicyRefusal) as info:
        check_organisation_eligibility(
            DCC,
            role=R.S1SP_MIGRATION_SIGNING,
            entity_id=DCC.identifiers[0].entity_id,
            subject_holder=DCC,
            dcc_live_system="s1-migration",
            live_systems=DccLiveSystems(),
        )
    assert info.value.code == "eligibility.organisation.smets1_migration_closed"


def test_live_systems_configuration_round_trips_and_refuses_typos(tmp_path: Path) -> None:
    cfg = DccLiveSystems.from_mapping({"paragraphs": {"a": "DSP"}, "smets1_migration": None})
    assert cfg.system_for("(a)") == "DSP" and cfg.system_for("(b)") == "dcc-live-system-b"
    path = tmp_path / "live.json"
    path.write_text('{"paragraph": {}}')
    with pytest.raises(InvalidInput):
        DccLiveSystems.load(path)
    assert DccLiveSystems.load(tmp_path / "missing.json") == DccLiveSystems()


def test_iki_subject_must_be_the_requester() -> None:
    eui = SECCO.identifiers[0].entity_id
    assert check_iki_eligibility(SECCO, entity_id=eui, subject_holder=SECCO).clause == "L3.20"
    with pytest.raises(PolicyRefusal) as info:
        check_iki_eligibility(SUPPLIER, entity_id=eui, subject_holder=SECCO)
    assert info.value.code == "eligibility.iki.not_subject"


# --- CSRs -------------------------------------------------------------------------------------------------


def test_real_device_csr_parses_and_proves_possession(real_certs: Path) -> None:
    data = (real_certs / "csr" / "device-CSR-00DB1234567890A0-ds-from-RTDS-CS02c.pem").read_bytes()
    facts = read_csr(data, ENV)
    assert facts.kind is CertificateKind.DEVICE
    assert facts.entity_id == E("00DB1234567890A0")
    assert facts.key_usage is KeyUsage.DIGITAL_SIGNATURE
    # the same key as the issued DS device certificate, as the research notes observe
    cert = x509.load_pem_x509_certificate(
        next((real_certs / "device").glob("00DB1234567890A0-ds-*.pem")).read_bytes()
    )
    assert (
        cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        == facts.public_key_der
    )


def test_real_device_csr_with_a_broken_signature_fails_proof_of_possession(real_certs: Path) -> None:
    pem = (real_certs / "csr" / "device-CSR-00DB1234567890A0-ds-from-RTDS-CS02c.pem").read_bytes()
    der = bytearray(x509.load_pem_x509_csr(pem).public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01  # inside the signature's s value
    with pytest.raises(PolicyRefusal) as info:
        read_csr(bytes(der), ENV)
    assert (info.value.code, info.value.clause) == ("csr.pop_invalid", "Appendix A 3.2.1")


@pytest.mark.parametrize("usage", [KeyUsage.DIGITAL_SIGNATURE, KeyUsage.KEY_AGREEMENT])
def test_made_csrs_read_back(usage: KeyUsage) -> None:
    eui = E("90-B3-D5-1F-30-01-00-00")
    dev, _ = csr_builder.device_csr(eui, usage, ENV)
    facts = read_csr(csr_builder.csr_pem(dev), ENV)
    assert (facts.kind, facts.entity_id, facts.key_usage, facts.role) == (
        CertificateKind.DEVICE,
        eui,
        usage,
        None,
    )
    org, _ = csr_builder.organisation_csr(eui, R.SUPPLIER, usage, common_name="ELEC")
    facts = read_csr(csr_builder.csr_pem(org), ENV)
    assert (facts.kind, facts.entity_id, facts.key_usage, facts.role, facts.common_name) == (
        CertificateKind.ORGANISATION,
        eui,
        usage,
        R.SUPPLIER,
        "ELEC",
    )
    iki, _ = csr_builder.iki_csr(eui)
    assert read_csr(csr_builder.csr_pem(iki), ENV).kind is CertificateKind.IKI


def _signed(builder: x509.CertificateSigningRequestBuilder) -> bytes:
    key = new_subscriber_key()
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


KU_DS = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
KU_BOTH = x509.KeyUsage(True, False, False, False, True, False, False, False, False)


@pytest.mark.parametrize(
    ("make", "code"),
    [
        # organisation: two key usages
        (
            lambda: (
                x509.CertificateSigningRequestBuilder()
                .subject_name(csr_builder.organisation_subject(E("0102030405060708"), R.SUPPLIER))
                .add_extension(KU_BOTH, critical=True)
            ),
            "ku.not_single",
        ),
        # organisation: no key usage
        (
            lambda: x509.CertificateSigningRequestBuilder().subject_name(
                csr_builder.organisation_subject(E("0102030405060708"), R.SUPPLIER)
            ),
            "ku.missing",
        ),
        # organisation: an extra subject attribute
        (
            lambda: (
                x509.CertificateSigningRequestBuilder()
                .subject_name(
                    x509.Name(
                        [
                            x509.NameAttribute(NameOID.COUNTRY_NAME, "GB"),
                            *csr_builder.organisation_subject(E("0102030405060708"), R.SUPPLIER),
                        ]
                    )
                )
                .add_extension(KU_DS, critical=True)
            ),
            "subject.unexpected_attribute",
        ),
        # organisation: OU is not two hex digits
        (
            lambda: (
                x509.CertificateSigningRequestBuilder()
                .subject_name(
                    x509.Name(
                        [
                            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "supplier"),
                            *csr_builder.organisation_subject(E("0102030405060708"), None),
                        ]
                    )
                )
                .add_extension(KU_DS, critical=True)
            ),
            "subject.ou_not_hex",
        ),
        # organisation: no x500UniqueIdentifier
        (
            lambda: (
                x509.CertificateSigningRequestBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "02")]))
                .add_extension(KU_DS, critical=True)
            ),
            "subject.eui_missing",
        ),
        # organisation: an extension the profile does not allow
        (
            lambda: (
                x509.CertificateSigningRequestBuilder()
                .subject_name(csr_builder.organisation_subject(E("0102030405060708"), R.SUPPLIER))
                .add_extension(KU_DS, critical=True)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            ),
            "csr.unexpected_extension",
        ),
        # device: no SAN
        (
            lambda: (
                x509.CertificateSigningRequestBuilder()
                .subject_name(x509.Name([]))
                .add_extension(KU_DS, critical=True)
            ),
            "san.missing",
        ),
        # device: non-critical KU
        (
            lambda: (
                x509.CertificateSigningRequestBuilder()
                .subject_name(x509.Name([]))
                .add_extension(KU_DS, critical=False)
                .add_extension(x509.SubjectAlternativeName([x509.DNSName("meter.example")]), critical=True)
            ),
            "ku.not_critical",
        ),
        # device: SAN without hardwareModuleName
        (
            lambda: (
                x509.CertificateSigningRequestBuilder()
                .subject_name(x509.Name([]))
                .add_extension(KU_DS, critical=True)
                .add_extension(x509.SubjectAlternativeName([x509.DNSName("meter.example")]), critical=True)
            ),
            "san.not_single",
        ),
    ],
)
def test_nonconforming_requests_are_refused_with_the_profile_clause(make, code: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PolicyRefusal) as info:
        read_csr(_signed(make()), ENV)
    assert info.value.code == code
    assert info.value.clause in ("Appendix A Annex B", "Appendix B Annex B")


def test_device_csr_with_a_foreign_hw_type_is_refused() -> None:
    from dataclasses import replace

    other_env = replace(ENV, hw_type_oid="1.2.826.0.1372.1.1.2.1")
    csr, _ = csr_builder.device_csr(E("0102030405060708"), KeyUsage.DIGITAL_SIGNATURE, other_env)
    with pytest.raises(PolicyRefusal) as info:
        read_csr(csr_builder.csr_pem(csr), ENV)
    assert info.value.code == "san.hw_type"


def test_garbage_and_certificates_are_invalid_input(real_certs: Path) -> None:
    with pytest.raises(InvalidInput):
        read_csr(b"not a csr", ENV)
    cert = next((real_certs / "device").glob("*.pem")).read_bytes()
    with pytest.raises(InvalidInput):
        read_csr(cert, ENV)


def test_expected_kind_mismatch_is_refused() -> None:
    csr, _ = csr_builder.device_csr(E("0102030405060708"), KeyUsage.DIGITAL_SIGNATURE, ENV)
    with pytest.raises(PolicyRefusal) as info:
        read_csr(csr_builder.csr_pem(csr), ENV, expected_kind=CertificateKind.ORGANISATION)
    assert info.value.code == "csr.wrong_kind"


# --- L11.4 ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "clause"),
    [
        (CertificateKind.DEVICE, "L11.4(a)"),
        (CertificateKind.ORGANISATION, "L11.4(b)"),
        (CertificateKind.IKI, "L11.4(c)"),
    ],
)
def test_duplicate_key_in_family_refused(kind: CertificateKind, clause: str) -> None:
    assert check_duplicate_key(kind, key_in_family=False, requester_is_dcc=False) is KeyDecision.NEW_KEY
    with pytest.raises(PolicyRefusal) as info:
        check_duplicate_key(kind, key_in_family=True, requester_is_dcc=False, role=R.SUPPLIER)
    assert (info.value.code, info.value.clause) == ("csr.duplicate_public_key", clause)


@pytest.mark.parametrize("role", [R.RECOVERY, R.TRANSITIONAL_COS, R.WAN_PROVIDER, R.ACCESS_CONTROL_BROKER])
def test_dcc_key_reuse_needs_approval_only_for_the_four_mp261_roles(role: R) -> None:
    decision = check_duplicate_key(
        CertificateKind.ORGANISATION, key_in_family=True, requester_is_dcc=True, role=role
    )
    assert decision is KeyDecision.REUSE_NEEDS_PMA_APPROVAL
    with pytest.raises(PolicyRefusal) as info:
        check_duplicate_key(CertificateKind.DEVICE, key_in_family=True, requester_is_dcc=True, role=role)
    assert info.value.clause == "L11.4(a)"


def test_dcc_key_reuse_for_other_roles_refused_and_root_oca_exception() -> None:
    with pytest.raises(PolicyRefusal) as info:
        check_duplicate_key(
            CertificateKind.ORGANISATION, key_in_family=True, requester_is_dcc=True, role=R.SUPPLIER
        )
    assert info.value.clause == "L11.4B(b)"
    assert (
        check_duplicate_key(
            CertificateKind.ROOT_OCA, key_in_family=True, requester_is_dcc=True, root_oca_reuse_permitted=True
        )
        is KeyDecision.ROOT_OCA_REUSE
    )
    with pytest.raises(PolicyRefusal):
        check_duplicate_key(CertificateKind.ROOT_OCA, key_in_family=True, requester_is_dcc=True)
