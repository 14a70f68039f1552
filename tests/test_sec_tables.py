"""The L3.16 and L3.18 tables, written out here from the seed text, against the product's decisions.

The tables below are transcribed from seed 002_75c1ae279ed27492.txt (Section L3.16 and L3.18, as
../shared/spec/sec-tables.md makes them legible), not computed from ``smki.policy.eligibility``'s own table
objects: every requester, Subject and SMI Status (L3.16), and every Remote Party Role and requester (L3.18),
goes through the public functions ``check_device_eligibility`` and ``check_organisation_eligibility``, and
the decision must be the one these tables give. Where the seed needs reading, the reading is the one
docs/decisions.md records: "Any other Party" is any Party, the DCC included (SECCo and non-Party RDPs are not
Parties); an Import or Gas Supplier is a Party holding that User Role; a Device with no SMI Status is
neither commissioned nor installed not commissioned.
"""

from __future__ import annotations

import pytest

from smki.model import DeviceType, EntityId, PolicyRefusal, RemotePartyRole, SmiStatus
from smki.policy import (
    DccLiveSystems,
    Licence,
    Party,
    PartyIdentifier,
    PartyType,
    UserRole,
    check_device_eligibility,
    check_organisation_eligibility,
)

# --- the requesters ------------------------------------------------------------------------------------


_NUMBERS = iter(range(1, 256))


def _party(party_id: str, party_type: PartyType, licences: set[Licence], *roles: UserRole) -> Party:
    number = next(_NUMBERS)
    ids = tuple(
        PartyIdentifier(EntityId(bytes([0x90, 0xB3, 0xD5, 0x1F, 0x30, number, i, 1])), role)
        for i, role in enumerate(roles or (None,))  # type: ignore[arg-type]
    )
    return Party(party_id, party_id.title(), party_type, frozenset(licences), ids)


E, G = Licence.ELECTRICITY_SUPPLY, Licence.GAS_SUPPLY
REQUESTERS: dict[str, Party] = {
    "dcc": _party("dcc", PartyType.DCC, set()),
    "import-supplier": _party("import", PartyType.PARTY, {E}, UserRole.IMPORT_SUPPLIER),
    "gas-supplier": _party("gas", PartyType.PARTY, {G}, UserRole.GAS_SUPPLIER),
    "dual-supplier": _party("dual", PartyType.PARTY, {E, G}, UserRole.IMPORT_SUPPLIER, UserRole.GAS_SUPPLIER),
    "export-supplier": _party("export", PartyType.PARTY, {E}, UserRole.EXPORT_SUPPLIER),
    "electricity-distributor": _party(
        "dno", PartyType.PARTY, {Licence.ELECTRICITY_DISTRIBUTION}, UserRole.ELECTRICITY_DISTRIBUTOR
    ),
    "gas-transporter": _party("gdn", PartyType.PARTY, {Licence.GAS_TRANSPORTATION}, UserRole.GAS_TRANSPORTER),
    "other-user": _party("other", PartyType.PARTY, set(), UserRole.OTHER_USER),
    "registered-supplier-agent": _party("rsa", PartyType.PARTY, set(), UserRole.REGISTERED_SUPPLIER_AGENT),
    "rdp-not-a-party": _party("rdp", PartyType.RDP, set(), UserRole.REGISTRATION_DATA_PROVIDER),
    "secco": _party("secco", PartyType.SECCO, set()),
}
PARTIES = {
    "dcc",
    "import-supplier",
    "gas-supplier",
    "dual-supplier",
    "export-supplier",
    "electricity-distributor",
    "gas-transporter",
    "other-user",
    "registered-supplier-agent",
}

# --- L3.16, as the seed prints it ----------------------------------------------------------------------
#
#   Party                                   Subject
#   The DCC                                 Either: (a) a Communications Hub Function; or (b) a Gas Proxy
#                                           Function.
#   An Import Supplier                      Either: (a) an Electricity Smart Meter; or (b) a Type 1 Device.
#   A Gas Supplier                          Either: (a) a Gas Smart Meter; (b) a Gas Proxy Function; or (c) a
#                                           Type 1 Device.
#   Any other Party                         Either: (a) an Electricity Smart Meter (b) a Gas Smart Meter; or
#                                           (c) a Type 1 Device, but only in so far as the SMI Status of that
#                                           Device is not set to 'commissioned' or 'installed not
#                                           commissioned'.
#   The DCC acting as the Production        Any Production Proving Device.
#   Proving Function

CHF, GPF = "Communications Hub Function", "Gas Proxy Function"
ESME, GSME, T1, PPD = (
    "Electricity Smart Meter",
    "Gas Smart Meter",
    "Type 1 Device",
    "Production Proving Device",
)
NOT_WHILE = {"commissioned", "installed not commissioned"}
IMP, GAS = {"import-supplier", "dual-supplier"}, {"gas-supplier", "dual-supplier"}
L3_16 = (
    # Party column,                                       who it is, Subjects,          not while
    ("The DCC",                                           {"dcc"},   {CHF, GPF},        set()),
    ("An Import Supplier",                                IMP,       {ESME, T1},        set()),
    ("A Gas Supplier",                                    GAS,       {GSME, GPF, T1},   set()),
    ("Any other Party",                                   PARTIES,   {ESME, GSME, T1},  NOT_WHILE),
    ("The DCC acting as the Production Proving Function", {"dcc"},   {PPD},             set()),
)  # fmt: skip
SUBJECTS = {
    CHF: DeviceType.COMMUNICATIONS_HUB_FUNCTION,
    GPF: DeviceType.GAS_PROXY_FUNCTION,
    ESME: DeviceType.ELECTRICITY_SMART_METER,
    GSME: DeviceType.GAS_SMART_METER,
    T1: DeviceType.TYPE_1_DEVICE,
    PPD: DeviceType.PRODUCTION_PROVING_DEVICE,
}
SMI_STATUSES = [None, *SmiStatus]


def _l3_16_expected(requester: str, subject: str, smi: SmiStatus | None) -> tuple[str, str]:
    """("eligible", Party column of the first row that gives it) or ("refused", code), per the table."""
    if requester not in PARTIES:
        return ("refused", "eligibility.device.not_a_party")
    blocked = False
    for party, who, subjects, not_while in L3_16:
        if requester in who and subject in subjects:
            if smi is not None and smi.value in not_while:
                blocked = True
                continue
            return ("eligible", party)
    return ("refused", "eligibility.device.smi_status" if blocked else "eligibility.device.wrong_party")


@pytest.mark.parametrize("requester", sorted(REQUESTERS))
@pytest.mark.parametrize("subject", sorted(SUBJECTS))
def test_l3_16_every_requester_subject_and_smi_status(requester: str, subject: str) -> None:
    for smi in SMI_STATUSES:
        expected = _l3_16_expected(requester, subject, smi)
        try:
            decision = check_device_eligibility(REQUESTERS[requester], SUBJECTS[subject], smi)
            got = ("eligible", decision.row)
            assert decision.clause == "L3.16"
        except PolicyRefusal as exc:
            got = ("refused", exc.code)
            assert exc.clause == "L3.16"
        assert got == expected, (requester, subject, smi)


def test_l3_16_spot_checks_read_straight_from_the_seed() -> None:
    """A few cells, written out, so the table above cannot drift into agreeing with a wrong reading."""
    cases = [
        ("import-supplier", ESME, SmiStatus.COMMISSIONED, ("eligible", "An Import Supplier")),
        ("import-supplier", GSME, SmiStatus.COMMISSIONED, ("refused", "eligibility.device.smi_status")),
        ("import-supplier", GSME, None, ("eligible", "Any other Party")),
        ("gas-supplier", GPF, SmiStatus.COMMISSIONED, ("eligible", "A Gas Supplier")),
        ("import-supplier", GPF, None, ("refused", "eligibility.device.wrong_party")),
        ("other-user", CHF, None, ("refused", "eligibility.device.wrong_party")),
        (
            "other-user",
            T1,
            SmiStatus.INSTALLED_NOT_COMMISSIONED,
            ("refused", "eligibility.device.smi_status"),
        ),
        ("other-user", T1, SmiStatus.DECOMMISSIONED, ("eligible", "Any other Party")),
        ("dcc", CHF, SmiStatus.COMMISSIONED, ("eligible", "The DCC")),
        ("dcc", PPD, None, ("eligible", "The DCC acting as the Production Proving Function")),
        ("gas-supplier", PPD, None, ("refused", "eligibility.device.wrong_party")),
        ("secco", ESME, None, ("refused", "eligibility.device.not_a_party")),
        ("rdp-not-a-party", ESME, None, ("refused", "eligibility.device.not_a_party")),
    ]
    for requester, subject, smi, expected in cases:
        assert _l3_16_expected(requester, subject, smi) == expected, (requester, subject, smi)


# --- L3.18, as the seed prints it ----------------------------------------------------------------------
#
#   Remote Party Role     Party                 User Role or RDP                     DCC Live Systems para.
#   root                  The DCC               [Not applicable]                     (d)
#   recovery              The DCC               [Not applicable]                     (f)
#   transitionalCoS       The DCC               [Not applicable]                     (c)
#   wanProvider           The DCC               [Not applicable]                     (a)
#   accessControlBroker   The DCC               [Not applicable]                     (b)
#   issuingAuthority      The DCC               [Not applicable]                     (a)
#   networkOperator       A Network Party       Either: (a) Electricity Distributor; [Not applicable]
#                                               or (b) Gas Transporter.
#   supplier              A Supplier Party      Either: (a) Import Supplier; or      [Not applicable]
#                                               (b) Gas Supplier.
#   other                 An RDP or any Party   Either: Other User; Registered       [Not applicable]
#                         other than the DCC    Supplier Agent; Registration Data
#                                               Provider; or Export Supplier.
#   pPPXmlSign            The DCC               [Not Applicable]                     (g)
#   pPRDPFileSign         The DCC               [Not Applicable]                     (g)
#   s1SPxmlSigning        The DCC               [Not Applicable]                     (g)
#   commissioningPartyFileSigning  The DCC      [Not Applicable]       [Only relevant during SMETS1 Migration]
#   requestingPartyFileSigning     The DCC      [Not Applicable]       [Only relevant during SMETS1 Migration]
#   slSPMigrationSigning           The DCC      [Not Applicable]       [Only relevant during SMETS1 Migration]
#   commissioningPartyXmlSigning   The DCC      [Not Applicable]       [Only relevant during SMETS1 Migration]
#
# ("slSPMigrationSigning" is the seed's misprint of s1SPMigrationSigning, code 130 in Annex A Table 1.)

DCC = {"dcc"}
NETWORK = {"electricity-distributor", "gas-transporter"}
SUPPLIER = {"import-supplier", "gas-supplier", "dual-supplier", "export-supplier"}  # supply licence holders
RDP_OR_PARTY_NOT_DCC = (PARTIES - DCC) | {"rdp-not-a-party"}
MIGRATION = "SMETS1 Migration"
NETWORK_ROLES = {"electricity-distributor", "gas-transporter"}
SUPPLIER_ROLES = {"import-supplier", "gas-supplier"}
OTHER_ROLES = {"other-user", "registered-supplier-agent", "registration-data-provider", "export-supplier"}
L3_18 = (
    # role,                           Party column,         User Role or RDP, DCC Live Systems paragraph
    ("root",                          DCC,                  None,           "d"),
    ("recovery",                      DCC,                  None,           "f"),
    ("transitionalCoS",               DCC,                  None,           "c"),
    ("wanProvider",                   DCC,                  None,           "a"),
    ("accessControlBroker",           DCC,                  None,           "b"),
    ("issuingAuthority",              DCC,                  None,           "a"),
    ("networkOperator",               NETWORK,              NETWORK_ROLES,  None),
    ("supplier",                      SUPPLIER,             SUPPLIER_ROLES, None),
    ("other",                         RDP_OR_PARTY_NOT_DCC, OTHER_ROLES,    None),
    ("pPPXmlSign",                    DCC,                  None,           "g"),
    ("pPRDPFileSign",                 DCC,                  None,           "g"),
    ("s1SPxmlSigning",                DCC,                  None,           "g"),
    ("commissioningPartyFileSigning", DCC,                  None,           MIGRATION),
    ("requestingPartyFileSigning",    DCC,                  None,           MIGRATION),
    ("s1SPMigrationSigning",          DCC,                  None,           MIGRATION),
    ("commissioningPartyXmlSigning",  DCC,                  None,           MIGRATION),
)  # fmt: skip
SYSTEMS = DccLiveSystems(paragraphs={p: f"system-{p}" for p in "abcdefg"}, smets1_migration="s1-migration")


def _system(paragraph: str | None) -> str | None:
    if paragraph is None:
        return None
    return "s1-migration" if paragraph == MIGRATION else f"system-{paragraph}"


def _l3_18_expected(role: str, requester: str, user_role: str | None, *, migration_open: bool) -> str:
    """ "eligible" or the refusal code the table above gives (the requester applies for its own ID)."""
    row = next(r for r in L3_18 if r[0] == role)
    _, party, user_roles, system = row
    if requester not in party:
        return "eligibility.organisation.wrong_party"
    if requester == "dcc":
        if system == MIGRATION and not migration_open:
            return "eligibility.organisation.smets1_migration_closed"
        return "eligible"
    assert user_roles is not None
    return "eligible" if user_role in user_roles else "eligibility.organisation.wrong_subject_unique_id"


@pytest.mark.parametrize("role", [r[0] for r in L3_18])
@pytest.mark.parametrize("migration_open", [True, False])
def test_l3_18_every_role_and_requester(role: str, migration_open: bool) -> None:
    systems = SYSTEMS if migration_open else DccLiveSystems(paragraphs=SYSTEMS.paragraphs)
    paragraph = next(r[3] for r in L3_18 if r[0] == role)
    for name, requester in REQUESTERS.items():
        if name == "secco":
            continue  # SECCo is neither the DCC, a Party nor an RDP (L3.18's opening words)
        for identifier in requester.identifiers:
            user_role = identifier.user_role.value if identifier.user_role else None
            expected = _l3_18_expected(role, name, user_role, migration_open=migration_open)
            try:
                decision = check_organisation_eligibility(
                    requester,
                    role=RemotePartyRole.parse(role),
                    entity_id=identifier.entity_id,
                    subject_holder=requester,
                    dcc_live_system=_system(paragraph) if name == "dcc" else None,
                    live_systems=systems,
                )
                got = "eligible"
                assert decision.clause == ("L3.18(b)(i)" if name == "dcc" else "L3.18(b)(ii)")
            except PolicyRefusal as exc:
                got = exc.code
                assert exc.clause is not None and exc.clause.startswith("L3.18")
            assert got == expected, (role, name, user_role, migration_open)


@pytest.mark.parametrize("role", [r[0] for r in L3_18 if r[1] == DCC])
def test_l3_18_a_dcc_request_from_another_system_is_refused(role: str) -> None:
    paragraph = next(r[3] for r in L3_18 if r[0] == role)
    dcc = REQUESTERS["dcc"]
    for system in (None, "a-laptop", _system("e")):
        if system == _system(paragraph):
            continue
        with pytest.raises(PolicyRefusal) as info:
            check_organisation_eligibility(
                dcc,
                role=RemotePartyRole.parse(role),
                entity_id=dcc.identifiers[0].entity_id,
                subject_holder=dcc,
                dcc_live_system=system,
                live_systems=SYSTEMS,
            )
        assert (info.value.code, info.value.clause) == (
            "eligibility.organisation.wrong_dcc_live_system",
            "L3.18(b)(i)",
        )


def test_roles_not_in_the_l3_18_table_are_refused() -> None:
    supplier = REQUESTERS["import-supplier"]
    for role in ("loadController", "xmlSign", "dspXmlSign", "0x50"):
        with pytest.raises(PolicyRefusal) as info:
            check_organisation_eligibility(
                supplier,
                role=RemotePartyRole.parse(role),
                entity_id=supplier.identifiers[0].entity_id,
                subject_holder=supplier,
                dcc_live_system=None,
                live_systems=SYSTEMS,
            )
        assert (info.value.code, info.value.clause) == (
            "eligibility.organisation.role_not_in_table",
            "L3.18(b)",
        )


def test_the_seed_names_every_role_the_annex_codes() -> None:
    codes = {r[0]: RemotePartyRole.parse(r[0]).code for r in L3_18}
    assert codes == {
        "root": 0, "recovery": 1, "transitionalCoS": 5, "wanProvider": 6, "accessControlBroker": 4,
        "issuingAuthority": 7, "networkOperator": 3, "supplier": 2, "other": 127, "pPPXmlSign": 128,
        "pPRDPFileSign": 129, "s1SPxmlSigning": 126, "commissioningPartyFileSigning": 132,
        "requestingPartyFileSigning": 131, "s1SPMigrationSigning": 130, "commissioningPartyXmlSigning": 133,
    }  # fmt: skip
