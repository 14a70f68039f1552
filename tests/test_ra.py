"""The Registration Authority end to end: real CSRs, the real CA, real PMA decisions, SQLite and PostgreSQL.

Every row of the L3.16 and L3.18 tables is exercised in both directions: the eligible party gets its
certificate (issued, recorded and linting clean), and a wrong party, role or subjectUniqueID is refused
with the clause.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from smki import audit, governance
from smki.ca import CertificateAuthorities, IssuedCertificate, create_hierarchy
from smki.governance import Capacity, Office, VoteChoice
from smki.keys import SoftBackend
from smki.model import (
    CertificateKind,
    CertificateStatus,
    EntityId,
    Hierarchy,
    InvalidInput,
    KeyUsage,
    PolicyRefusal,
    RemotePartyRole,
    SmiStatus,
    SmkiError,
)
from smki.policy import (
    DEVICE_CERTIFICATE_TABLE,
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
)
from smki.policy.eligibility import OCA_ROLES
from smki.profiles.environment import PkiEnvironment
from smki.profiles.lint import lint
from smki.ra import parties, subscribers
from smki.ra.authority import CertificateRequest, RegistrationAuthority
from smki.storage import Database, audit_store, ca_store, ra_store
from smki.subscriber_tools import csr_builder

ENV = PkiEnvironment()
E = EntityId.parse
R = RemotePartyRole
U = UserRole
LIVE = DccLiveSystems(smets1_migration="s1sp-migration-system")

DCC_ID = E("90-B3-D5-1F-30-00-00-01")
IDS = {
    "elec-import": E("90-B3-D5-1F-30-01-00-00"),
    "elec-export": E("90-B3-D5-1F-30-01-00-02"),
    "gas": E("90-B3-D5-1F-30-03-00-00"),
    "dno": E("90-B3-D5-1F-30-02-00-00"),
    "gdn": E("90-B3-D5-1F-30-02-00-01"),
    "other": E("00-DB-12-34-56-78-00-04"),
    "rsa": E("00-DB-12-34-56-78-00-05"),
    "rdp": E("90-B3-D5-1F-30-05-00-00"),
    "secco": E("90-B3-D5-1F-30-06-00-00"),
}


def _p(party_id: str, kind: PartyType, licences: set[Licence], *ids: tuple[str, UserRole | None]) -> Party:
    return Party(
        party_id,
        party_id.upper(),
        kind,
        frozenset(licences),
        tuple(PartyIdentifier(IDS[k], role) for k, role in ids),
    )


PARTIES = (
    Party("dcc", "DCC", PartyType.DCC, identifiers=(PartyIdentifier(DCC_ID),)),
    _p("dno", PartyType.PARTY, {Licence.ELECTRICITY_DISTRIBUTION}, ("dno", U.ELECTRICITY_DISTRIBUTOR)),
    _p("gdn", PartyType.PARTY, {Licence.GAS_TRANSPORTATION}, ("gdn", U.GAS_TRANSPORTER)),
    _p(
        "elec",
        PartyType.PARTY,
        {Licence.ELECTRICITY_SUPPLY},
        ("elec-import", U.IMPORT_SUPPLIER),
        ("elec-export", U.EXPORT_SUPPLIER),
    ),
    _p("gas", PartyType.PARTY, {Licence.GAS_SUPPLY}, ("gas", U.GAS_SUPPLIER)),
    _p("other", PartyType.PARTY, set(), ("other", U.OTHER_USER)),
    _p("rsa", PartyType.PARTY, set(), ("rsa", U.REGISTERED_SUPPLIER_AGENT)),
    Party(
        "rdp",
        "RDP",
        PartyType.RDP,
        identifiers=(PartyIdentifier(IDS["rdp"], U.REGISTRATION_DATA_PROVIDER),),
        nominated_by=frozenset({"dno", "gdn"}),
    ),
    Party("secco", "SECCo", PartyType.SECCO, identifiers=(PartyIdentifier(IDS["secco"]),)),
)


@dataclass
class World:
    db: Database
    cas: CertificateAuthorities
    ra: RegistrationAuthority


def authorise(db: Database, party_id: str, policy: Hierarchy) -> None:
    subscribers.record_entry_tests(db, party_id, policy, actor="dcc-ra")
    subscribers.move(db, party_id, policy, SubscriberEvent.APPLY, actor=party_id)
    subscribers.move(db, party_id, policy, SubscriberEvent.DCC_AUTHORISES, actor="dcc-ra")


@pytest.fixture
def world(database: Database, tmp_path: Path) -> Iterator[World]:
    keys = SoftBackend(tmp_path / "home", {"SMKI_KEY_PASSPHRASE": "ra-test-passphrase"})
    create_hierarchy(database, keys, ENV, actor="test")
    cas = CertificateAuthorities.open(database, keys, ENV)
    for party in PARTIES:
        parties.register_party(database, party, actor="dcc-ra")
        if party.party_type is PartyType.SECCO:
            authorise(database, party.party_id, Hierarchy.IKI)
        elif party.party_type is PartyType.RDP:
            authorise(database, party.party_id, Hierarchy.ORGANISATION)
        else:
            for policy in Hierarchy:
                authorise(database, party.party_id, policy)
    yield World(database, cas, RegistrationAuthority(database, cas, ENV, live_systems=LIVE))
    keys.close()


def org_csr(
    eui: EntityId, role: RemotePartyRole, usage: KeyUsage = KeyUsage.DIGITAL_SIGNATURE, **kw: object
) -> bytes:
    csr, _ = csr_builder.organisation_csr(eui, role, usage, **kw)  # type: ignore[arg-type]
    return csr_builder.csr_pem(csr)


def device_csr(eui: EntityId, usage: KeyUsage = KeyUsage.DIGITAL_SIGNATURE) -> bytes:
    csr, _ = csr_builder.device_csr(eui, usage, ENV)
    return csr_builder.csr_pem(csr)


def assert_lints_clean(world: World, issued: IssuedCertificate, *, approved_validity: bool = False) -> None:
    """Lint against the profile; an SMKI PMA-approved longer validity is the one finding lint may report
    (lint cannot see approvals, Appendix B 6.3.2(A)(i))."""
    issuer = world.cas.issuing_ca_certificate(issued.kind.hierarchy)
    report = lint(issued.certificate, ENV, issuer=issuer)
    assert report.kind is issued.kind
    if approved_validity:
        assert [f.code for f in report.findings] == ["validity.too_long"], report
    else:
        assert report.conforms, report


def refused(excinfo: pytest.ExceptionInfo[PolicyRefusal]) -> tuple[str, str | None]:
    return excinfo.value.code, excinfo.value.clause


# --- L3.18: every row, both directions ------------------------------------------------------------------

# (role, requester, subject identifier key or "dcc") for every row and every User Role in column 3.
ORG_ELIGIBLE = [
    *[(row.role, "dcc", "dcc") for row in ORGANISATION_CERTIFICATE_TABLE if row.user_roles is None],
    (R.NETWORK_OPERATOR, "dno", "dno"),
    (R.NETWORK_OPERATOR, "gdn", "gdn"),
    (R.SUPPLIER, "elec", "elec-import"),
    (R.SUPPLIER, "gas", "gas"),
    (R.OTHER, "other", "other"),
    (R.OTHER, "rsa", "rsa"),
    (R.OTHER, "rdp", "rdp"),
    (R.OTHER, "elec", "elec-export"),
]


def test_the_cases_cover_every_row_and_every_column_3_role() -> None:
    assert {r for r, _, _ in ORG_ELIGIBLE} == {row.role for row in ORGANISATION_CERTIFICATE_TABLE}
    column3 = {u for row in ORGANISATION_CERTIFICATE_TABLE for u in (row.user_roles or ())}
    by_key = {i.entity_id: i.user_role for p in PARTIES for i in p.identifiers}
    assert column3 == {by_key[IDS[k]] for _, _, k in ORG_ELIGIBLE if k != "dcc"}


def _system_for(role: RemotePartyRole) -> str | None:
    row = next(r for r in ORGANISATION_CERTIFICATE_TABLE if r.role == role)
    return LIVE.system_for(row.dcc_live_system) if row.dcc_live_system else None


@pytest.mark.parametrize(("role", "party_id", "subject"), ORG_ELIGIBLE, ids=lambda v: str(v))
def test_l3_18_row_eligible_party_gets_its_certificate(
    world: World, role: RemotePartyRole, party_id: str, subject: str
) -> None:
    eui = DCC_ID if subject == "dcc" else IDS[subject]
    if role in OCA_ROLES:
        # root / issuingAuthority: the DCC is eligible (L3.18), and the certificate is its Root or Issuing
        # OCA Certificate, lodged by the key ceremony; an end-entity request for that role is refused (L3.19).
        with pytest.raises(PolicyRefusal) as info:
            world.ra.submit(
                org_csr(eui, role), party_id=party_id, actor=party_id, dcc_live_system=_system_for(role)
            )
        assert refused(info) == ("subject.ca_role", "L3.19")  # the CSR rule (lint's), before eligibility
        with world.db.read_transaction() as s:
            held = [r for r in ca_store.all_authorities(s) if r.kind == OCA_ROLES[role].value]
            assert held and held[0].active
            cert = ca_store.certificate_by_serial(s, held[0].certificate_serial)
            assert cert is not None and cert.role_code == role.code
        return
    issued = world.ra.submit(
        org_csr(eui, role), party_id=party_id, actor=party_id, dcc_live_system=_system_for(role)
    )
    assert (issued.kind, issued.role, issued.entity_id, issued.subscriber) == (
        CertificateKind.ORGANISATION,
        role,
        eui,
        party_id,
    )
    assert_lints_clean(world, issued)
    with world.db.read_transaction() as s:
        row = ca_store.certificate_by_serial(s, issued.serial_hex)
        assert row is not None and row.subscriber == party_id


@pytest.mark.parametrize(("role", "party_id", "subject"), ORG_ELIGIBLE, ids=lambda v: str(v))
def test_l3_18_row_wrong_party_role_or_subject_unique_id_refused(
    world: World, role: RemotePartyRole, party_id: str, subject: str
) -> None:
    system = _system_for(role)
    if role in OCA_ROLES:
        # root / issuingAuthority: the CSR rule (lint's subject.ca_role, L3.19) refuses before eligibility
        for requester, eui in (("other", IDS["other"]), ("dcc", DCC_ID)):
            with pytest.raises(PolicyRefusal) as info:
                world.ra.submit(
                    org_csr(eui, role), party_id=requester, actor=requester, dcc_live_system=system
                )
            assert refused(info) == ("subject.ca_role", "L3.19")
        return
    if party_id == "dcc":
        # (b): a Party that is not the DCC, with its own identifier, is not identified with a DCC role
        with pytest.raises(PolicyRefusal) as info:
            world.ra.submit(
                org_csr(IDS["other"], role), party_id="other", actor="other", dcc_live_system=system
            )
        assert refused(info) == ("eligibility.organisation.wrong_party", "L3.18(b)")
        # (b)(i): the DCC, but not from the DCC Live System named in column 4
        with pytest.raises(PolicyRefusal) as info:
            world.ra.submit(org_csr(DCC_ID, role), party_id="dcc", actor="dcc", dcc_live_system="a-laptop")
        assert refused(info) == ("eligibility.organisation.wrong_dcc_live_system", "L3.18(b)(i)")
        # (a)(i): a Party asking for a certificate whose Subject is the DCC
        with pytest.raises(PolicyRefusal) as info:
            world.ra.submit(org_csr(DCC_ID, role), party_id="other", actor="other", dcc_live_system=system)
        assert refused(info) == ("eligibility.organisation.subject_is_dcc", "L3.18(a)(i)")
        return
    # (b): the DCC is not identified with a Party role (its own identifier as the Subject)
    with pytest.raises(PolicyRefusal) as info:
        world.ra.submit(org_csr(DCC_ID, role), party_id="dcc", actor="dcc")
    assert refused(info) == ("eligibility.organisation.wrong_party", "L3.18(b)")
    # (a)(ii): the right kind of party, but the subjectUniqueID is somebody else's
    thief = next(p for p, _ in (("dno", 1), ("elec", 2), ("other", 3)) if p != party_id)
    with pytest.raises(PolicyRefusal) as info:
        world.ra.submit(org_csr(IDS[subject], role), party_id=thief, actor=thief)
    assert refused(info) == ("eligibility.organisation.not_subject", "L3.18(a)(ii)")
    # (b)(ii): the party's own identifier for a User Role outside column 3 (or a party column 2 excludes)
    mismatched = {
        R.NETWORK_OPERATOR: ("elec", "elec-import", "eligibility.organisation.wrong_party", "L3.18(b)"),
        R.SUPPLIER: (
            "elec",
            "elec-export",
            "eligibility.organisation.wrong_subject_unique_id",
            "L3.18(b)(ii)",
        ),
        R.OTHER: ("elec", "elec-import", "eligibility.organisation.wrong_subject_unique_id", "L3.18(b)(ii)"),
    }[role]
    who, key, code, clause = mismatched
    with pytest.raises(PolicyRefusal) as info:
        world.ra.submit(org_csr(IDS[key], role), party_id=who, actor=who)
    assert refused(info) == (code, clause)


def test_unlisted_role_and_secco_and_unauthorised_parties_are_refused(world: World) -> None:
    with pytest.raises(PolicyRefusal) as info:
        world.ra.submit(org_csr(IDS["other"], R.LOAD_CONTROLLER), party_id="other", actor="other")
    assert refused(info) == ("eligibility.organisation.role_not_in_table", "L3.18(b)")
    with pytest.raises(PolicyRefusal) as info:  # SECCo is authorised for IKI only
        world.ra.submit(org_csr(IDS["secco"], R.OTHER), party_id="secco", actor="secco")
    assert refused(info) == ("subscriber.not_authorised", "L3.15(b)")
    with pytest.raises(InvalidInput) as bad:
        world.ra.submit(org_csr(IDS["other"], R.OTHER), party_id="nobody", actor="x")
    assert bad.value.code == "party.unknown"


# --- L3.16: every row, both directions ------------------------------------------------------------------

DEVICE_ROW_PARTY = {
    "The DCC": "dcc",
    "An Import Supplier": "elec",
    "A Gas Supplier": "gas",
    "Any other Party": "other",
    "The DCC acting as the Production Proving Function": "dcc",
}
DEVICE_CASES = [
    (row.party, device)
    for row in DEVICE_CERTIFICATE_TABLE
    for device in sorted(row.subjects, key=lambda d: d.value)
]


@pytest.mark.parametrize(("row", "device"), DEVICE_CASES, ids=lambda v: str(v))
def test_l3_16_row_both_directions(world: World, row: str, device: DeviceType) -> None:
    party_id = DEVICE_ROW_PARTY[row]
    eui = E("00-DB-12-34-56-78-90-A1")
    status = SmiStatus.PENDING if row == "Any other Party" else SmiStatus.COMMISSIONED
    issued = world.ra.submit(
        device_csr(eui), party_id=party_id, actor=party_id, device_type=device, smi_status=status
    )
    assert (issued.kind, issued.entity_id, issued.subscriber) == (CertificateKind.DEVICE, eui, party_id)
    assert_lints_clean(world, issued)
    # every registered Party the table does not list for this Device and status is refused
    for wrong in ("dcc", "elec", "gas", "other", "dno"):
        person = next(p for p in PARTIES if p.party_id == wrong)
        listed = any(
            device in r.subjects and r.matches(person) and SmiStatus.COMMISSIONED not in r.not_while
            for r in DEVICE_CERTIFICATE_TABLE
        )
        if listed:
            continue
        with pytest.raises(PolicyRefusal) as info:
            world.ra.submit(
                device_csr(eui),
                party_id=wrong,
                actor=wrong,
                device_type=device,
                smi_status=SmiStatus.COMMISSIONED,
            )
        assert info.value.clause == "L3.16"
        assert info.value.code in ("eligibility.device.wrong_party", "eligibility.device.smi_status")


def test_any_other_party_is_refused_once_the_device_is_installed(world: World) -> None:
    eui = E("00-DB-12-34-56-78-90-A2")
    for status in (SmiStatus.COMMISSIONED, SmiStatus.INSTALLED_NOT_COMMISSIONED):
        with pytest.raises(PolicyRefusal) as info:
            world.ra.submit(
                device_csr(eui),
                party_id="dno",
                actor="dno",
                device_type=DeviceType.ELECTRICITY_SMART_METER,
                smi_status=status,
            )
        assert refused(info) == ("eligibility.device.smi_status", "L3.16")
    with pytest.raises(PolicyRefusal) as info:  # an RDP is not a Party, and not authorised for Devices
        world.ra.submit(device_csr(eui), party_id="rdp", actor="rdp", device_type=DeviceType.GAS_SMART_METER)
    assert info.value.code == "subscriber.not_authorised"
    with pytest.raises(InvalidInput) as missing:
        world.ra.submit(device_csr(eui), party_id="elec", actor="elec")
    assert missing.value.code == "request.device_type_required"


def test_real_shaped_device_csr_accepted_and_certificate_lints_clean(world: World, real_certs: Path) -> None:
    real = (real_certs / "csr" / "device-CSR-00DB1234567890A0-ds-from-RTDS-CS02c.pem").read_bytes()
    # the real CSR itself: parsed, proof of possession verified, and checked all the way to eligibility
    decision = world.ra.check(
        CertificateRequest(
            csr=real,
            party_id="elec",
            device_type=DeviceType.ELECTRICITY_SMART_METER,
            smi_status=SmiStatus.PENDING,
        )
    )
    assert decision.facts.entity_id == E("00DB1234567890A0")
    assert decision.issue_request.key_usage is KeyUsage.DIGITAL_SIGNATURE
    # and one shaped like it (same subject, extensions and criticality), issued through the real CA
    issued = world.ra.submit(
        real, party_id="elec", actor="elec", device_type=DeviceType.ELECTRICITY_SMART_METER
    )
    assert_lints_clean(world, issued)
    assert issued.entity_id == E("00DB1234567890A0")
    shaped = device_csr(E("00DB1234567890A1"), KeyUsage.KEY_AGREEMENT)
    assert x509.load_pem_x509_csr(shaped).extensions.get_extension_for_class(x509.KeyUsage).critical
    issued_ka = world.ra.submit(
        shaped, party_id="elec", actor="elec", device_type=DeviceType.ELECTRICITY_SMART_METER
    )
    assert_lints_clean(world, issued_ka)
    assert issued_ka.key_usage is KeyUsage.KEY_AGREEMENT


# --- IKI (L3.20, smki's reading) --------------------------------------------------------------------------


def test_iki_certificate_for_the_subscriber_itself_only(world: World) -> None:
    csr, _ = csr_builder.iki_csr(IDS["secco"], common_name="SECCo")
    pem = csr_builder.csr_pem(csr)
    issued = world.ra.submit(pem, party_id="secco", actor="secco", kind=CertificateKind.IKI)
    assert issued.kind is CertificateKind.IKI
    assert_lints_clean(world, issued)
    other, _ = csr_builder.iki_csr(IDS["secco"])
    with pytest.raises(PolicyRefusal) as info:
        world.ra.submit(csr_builder.csr_pem(other), party_id="elec", actor="elec", kind=CertificateKind.IKI)
    assert refused(info) == ("eligibility.iki.not_subject", "L3.20")


# --- L11.4 and L11.4A/B, Appendix B 6.3.2 ------------------------------------------------------------------

MEETING_DAY = date.today()
ROSTER = (
    ("Chair", Office.CHAIR),
    ("Large 1", Office.SUPPLIER_LARGE),
    ("Large 2", Office.SUPPLIER_LARGE),
    ("Large 3", Office.SUPPLIER_LARGE),
    ("Small", Office.SUPPLIER_SMALL),
    ("Electricity", Office.NETWORK_ELECTRICITY),
    ("Gas", Office.NETWORK_GAS),
    ("SSC", Office.SSC),
    ("TABASC", Office.TABASC),
    ("Specialist", Office.SPECIALIST),
)


def pma_meeting(db: Database) -> tuple[str, dict[str, int]]:
    """Constitute the SMKI PMA and open a quorate meeting today; return its reference and members."""
    ids: dict[str, int] = {}
    start = MEETING_DAY - timedelta(days=30)
    for name, office in ROSTER:
        ids[name] = governance.add_person(db, name=name, actor="secretariat").id
        governance.appoint(
            db,
            person_id=ids[name],
            office=office,
            starts_on=start,
            actor="secretariat",
            member_confirmation=True,
            independent=office is Office.CHAIR,
        )
    ref = governance.open_meeting(db, held_on=MEETING_DAY, actor="secretariat").reference
    for name in ("Chair", "Large 1", "Large 2", "Gas"):
        governance.attend(db, meeting=ref, person_id=ids[name], capacity=Capacity.MEMBER, actor="secretariat")
    return ref, ids


def approve(db: Database, meeting: str, ids: dict[str, int], reference: str) -> None:
    votes = {ids["Large 1"]: VoteChoice.FOR, ids["Gas"]: VoteChoice.FOR}
    governance.decide(db, meeting=meeting, reference=reference, votes=votes, actor="secretariat")


def test_duplicate_public_key_in_the_same_family_refused(world: World) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    first = org_csr(IDS["elec-import"], R.SUPPLIER, key=key)
    world.ra.submit(first, party_id="elec", actor="elec")
    again = org_csr(IDS["elec-import"], R.SUPPLIER, KeyUsage.KEY_AGREEMENT, key=key)
    with pytest.raises(PolicyRefusal) as info:
        world.ra.submit(again, party_id="elec", actor="elec")
    assert refused(info) == ("csr.duplicate_public_key", "L11.4(b)")
    # the same key in another family is not a duplicate under L11.4
    dev, _ = csr_builder.device_csr(E("00-DB-12-34-56-78-90-B1"), KeyUsage.DIGITAL_SIGNATURE, ENV, key=key)
    world.ra.submit(
        csr_builder.csr_pem(dev),
        party_id="elec",
        actor="elec",
        device_type=DeviceType.ELECTRICITY_SMART_METER,
    )
    dev2, _ = csr_builder.device_csr(E("00-DB-12-34-56-78-90-B2"), KeyUsage.DIGITAL_SIGNATURE, ENV, key=key)
    with pytest.raises(PolicyRefusal) as info:
        world.ra.submit(
            csr_builder.csr_pem(dev2),
            party_id="elec",
            actor="elec",
            device_type=DeviceType.ELECTRICITY_SMART_METER,
        )
    assert refused(info) == ("csr.duplicate_public_key", "L11.4(a)")


def test_a_key_certified_by_the_key_ceremony_counts_as_issued(world: World) -> None:
    # the commissioning certificates of `smki init` are in the repository: their keys are taken
    with world.db.read_transaction() as s:
        rows = ca_store.certificates_by_entity_id(s, DCC_ID.compact, kind=CertificateKind.ORGANISATION.value)
        shas = [r.public_key_sha256 for r in rows]
    assert shas, "smki init lodges the Recovery Certificate (L3.23(e))"
    assert ra_store_keys(world.db, shas[0])
    assert not ra_store_keys(world.db, "00" * 32)


def ra_store_keys(db: Database, sha: str) -> bool:
    with db.read_transaction() as s:
        return sha in ra_store.public_keys_in_family(s, [sha], Hierarchy.ORGANISATION.value)


MP261_ROLES = [R.RECOVERY, R.TRANSITIONAL_COS, R.WAN_PROVIDER, R.ACCESS_CONTROL_BROKER]


def _reuse_approved(
    world: World, role: RemotePartyRole
) -> tuple[IssuedCertificate, str, ec.EllipticCurvePrivateKey]:
    """The DCC holds a certificate for ``role``; the PMA approves re-using its key with 17 years."""
    db = world.db
    key = ec.generate_private_key(ec.SECP256R1())
    system = _system_for(role)
    original = world.ra.submit(
        org_csr(DCC_ID, role, key=key), party_id="dcc", actor="dcc", dcc_live_system=system
    )
    assert original.not_after.year - original.not_before.year == 10
    # without the PMA's approval: refused (L11.4B(a))
    with pytest.raises(PolicyRefusal) as info:
        world.ra.submit(org_csr(DCC_ID, role, key=key), party_id="dcc", actor="dcc", dcc_live_system=system)
    assert refused(info) == ("pma.no_approval", "L11.4B(a)")
    return original, approve_key_reuse(db, role, original.public_key_sha256), key


def approve_key_reuse(db: Database, role: RemotePartyRole, public_key_sha256: str) -> str:
    """The SMKI PMA approves the DCC re-using this key for ``role``, 17 years (L11.4B(a)): its reference."""
    meeting, ids = pma_meeting(db)
    decision = governance.propose_key_reuse(
        db,
        role=role,
        entity_id=DCC_ID,
        public_key_sha256=public_key_sha256,
        validity_years=17,
        proposed_on=MEETING_DAY,
        ssc_views="No objection.",
        ssc_views_on=MEETING_DAY,
        actor="dcc",
    )
    approve(db, meeting, ids, decision.reference)
    return decision.reference


@pytest.mark.parametrize("role", MP261_ROLES, ids=str)
def test_mp261_dcc_key_reuse_with_pma_approval_is_accepted_with_17_years(
    world: World, role: RemotePartyRole
) -> None:
    _, reference, key = _reuse_approved(world, role)
    request = CertificateRequest(
        csr=org_csr(DCC_ID, role, key=key),
        party_id="dcc",
        dcc_live_system=_system_for(role),
        approval_reference=reference,
    )
    decision = world.ra.check(request)
    assert decision.key_decision is KeyDecision.REUSE_NEEDS_PMA_APPROVAL
    assert decision.approvals == (reference,)
    issue = decision.issue_request
    assert issue.public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo) == org_spki(key)
    assert issue.not_before is not None and issue.not_after is not None
    assert issue.not_after == issue.not_before.replace(year=issue.not_before.year + 17) - timedelta(seconds=1)
    assert issue.approval_reference == reference
    # the approval is for the DCC's certificate for that role and subject only
    with pytest.raises(PolicyRefusal) as info:
        world.ra.check(
            CertificateRequest(
                csr=org_csr(IDS["elec-import"], R.SUPPLIER, key=key),
                party_id="elec",
                approval_reference=reference,
            )
        )
    assert refused(info) == ("csr.duplicate_public_key", "L11.4(b)")


@pytest.mark.parametrize("role", MP261_ROLES, ids=str)
def test_mp261_dcc_gets_the_reissued_certificate_through_the_ca(world: World, role: RemotePartyRole) -> None:
    original, reference, key = _reuse_approved(world, role)
    renewed = world.ra.submit(
        org_csr(DCC_ID, role, key=key),
        party_id="dcc",
        actor="dcc",
        dcc_live_system=_system_for(role),
        approval_reference=reference,
    )
    assert renewed.public_key_sha256 == original.public_key_sha256
    assert renewed.serial != original.serial
    nb, na = renewed.not_before, renewed.not_after
    assert na == nb.replace(year=nb.year + 17) - timedelta(seconds=1)
    assert_lints_clean(world, renewed, approved_validity=True)
    with world.db.read_transaction() as s:
        row = ca_store.certificate_by_serial(s, renewed.serial_hex)
        assert (
            row is not None
            and row.subscriber == "dcc"
            and row.public_key_sha256 == original.public_key_sha256
        )


def org_spki(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def test_key_reuse_for_another_role_is_refused_under_l11_4b_b(world: World) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    system = _system_for(R.PPP_XML_SIGN)
    world.ra.submit(
        org_csr(DCC_ID, R.PPP_XML_SIGN, key=key), party_id="dcc", actor="dcc", dcc_live_system=system
    )
    with pytest.raises(PolicyRefusal) as info:
        world.ra.submit(
            org_csr(DCC_ID, R.PPP_XML_SIGN, key=key), party_id="dcc", actor="dcc", dcc_live_system=system
        )
    assert refused(info) == ("csr.duplicate_public_key", "L11.4B(b)")


def test_organisation_validity_other_than_10_years_needs_pma_approval(world: World) -> None:
    db = world.db
    system = _system_for(R.WAN_PROVIDER)
    with pytest.raises(PolicyRefusal) as info:
        world.ra.submit(
            org_csr(DCC_ID, R.WAN_PROVIDER),
            party_id="dcc",
            actor="dcc",
            dcc_live_system=system,
            validity_years=17,
        )
    assert refused(info) == ("pma.no_approval", "Appendix B 6.3.2(A)(i)")
    ten = world.ra.submit(
        org_csr(DCC_ID, R.WAN_PROVIDER),
        party_id="dcc",
        actor="dcc",
        dcc_live_system=system,
        validity_years=10,
    )
    assert ten.not_after.year - ten.not_before.year == 10
    # aligned with the Issuing OCA's expiry, as MP261 expects
    issuing_end = world.cas.issuing_ca_certificate(Hierarchy.ORGANISATION).not_valid_after_utc
    meeting, ids = pma_meeting(db)
    decision = governance.propose_organisation_validity(
        db,
        role=R.WAN_PROVIDER,
        entity_id=DCC_ID,
        not_after=issuing_end,
        proposed_on=MEETING_DAY,
        ssc_views="Align with the Issuing OCA.",
        ssc_views_on=MEETING_DAY,
        actor="dcc",
    )
    approve(db, meeting, ids, decision.reference)
    aligned = world.ra.check(
        CertificateRequest(
            csr=org_csr(DCC_ID, R.WAN_PROVIDER),
            party_id="dcc",
            dcc_live_system=system,
            approval_reference=decision.reference,
        )
    )
    assert aligned.issue_request.not_after == issuing_end
    assert aligned.approvals == (decision.reference,)
    issued = world.ra.submit(
        org_csr(DCC_ID, R.WAN_PROVIDER),
        party_id="dcc",
        actor="dcc",
        dcc_live_system=system,
        approval_reference=decision.reference,
    )
    assert issued.not_after == issuing_end
    assert_lints_clean(world, issued, approved_validity=True)
    with pytest.raises(PolicyRefusal) as info:  # a duration other than the approved one
        world.ra.submit(
            org_csr(DCC_ID, R.WAN_PROVIDER),
            party_id="dcc",
            actor="dcc",
            dcc_live_system=system,
            validity_years=12,
        )
    assert refused(info) == ("validity.not_approved", "Appendix B 6.3.2(A)(i)")
    with pytest.raises(PolicyRefusal) as info:  # only Organisation Certificates vary
        world.ra.submit(
            device_csr(E("00-DB-12-34-56-78-90-C1")),
            party_id="elec",
            actor="elec",
            device_type=DeviceType.TYPE_1_DEVICE,
            validity_years=5,
        )
    assert info.value.code == "validity.not_variable"


# --- L3.2-L3.14 lifecycle with storage, and L3.14(b) revocation ------------------------------------------


def test_subscriber_that_ceases_to_be_authorised_has_its_organisation_certificates_revoked(
    world: World,
) -> None:
    db = world.db
    org = [
        world.ra.submit(org_csr(IDS["gas"], R.SUPPLIER, usage), party_id="gas", actor="gas")
        for usage in (KeyUsage.DIGITAL_SIGNATURE, KeyUsage.KEY_AGREEMENT)
    ]
    device = world.ra.submit(
        device_csr(E("00-DB-12-34-56-78-90-D1")),
        party_id="gas",
        actor="gas",
        device_type=DeviceType.GAS_SMART_METER,
    )
    elec = world.ra.submit(org_csr(IDS["elec-import"], R.SUPPLIER), party_id="elec", actor="elec")
    subscribers.move(
        db,
        "gas",
        Hierarchy.ORGANISATION,
        SubscriberEvent.NOTIFY_CHANGE,
        actor="gas",
        note="licence under review",
    )
    ceased = subscribers.move(
        db, "gas", Hierarchy.ORGANISATION, SubscriberEvent.DCC_FINDS_CRITERIA_NO_LONGER_MET, actor="dcc-ra"
    )
    assert ceased.status is SubscriberStatus.CEASED and ceased.clause == "L3.13(b)"
    assert sorted(ceased.revoked_serials) == sorted(c.serial_hex for c in org)
    with db.read_transaction() as s:
        for cert in org:
            row = ca_store.certificate_by_serial(s, cert.serial_hex)
            assert row is not None and row.status == CertificateStatus.REVOKED.value
            rev = ra_store.revocation_of(s, row.id)
            assert rev is not None and rev.clause == "L3.14(b)"
        for other in (device, elec):  # the Device Certificate and other subscribers' certificates stay
            row = ca_store.certificate_by_serial(s, other.serial_hex)
            assert row is not None and row.status != CertificateStatus.REVOKED.value
    with db.read_transaction() as s:
        entries = audit_store.entries_for_object(
            s, "certificate", f"{org[0].issuer_name}/{org[0].serial_hex}"
        )
        assert [e.action for e in entries][-1] == "certificate.revoke"
    assert audit.verify(db).ok
    # no longer an Authorised Subscriber: its requests are refused
    with pytest.raises(PolicyRefusal) as info:
        world.ra.submit(org_csr(IDS["gas"], R.SUPPLIER), party_id="gas", actor="gas")
    assert refused(info) == ("subscriber.not_authorised", "L3.15(b)")
    # L3.14(a): it may refer the matter to the Panel; a favourable determination restores it (L3.9(b))
    subscribers.move(db, "gas", Hierarchy.ORGANISATION, SubscriberEvent.REFER_TO_PANEL, actor="gas")
    back = subscribers.move(
        db, "gas", Hierarchy.ORGANISATION, SubscriberEvent.PANEL_FINDS_CRITERIA_MET, actor="panel"
    )
    assert (back.status, back.clause) == (SubscriberStatus.AUTHORISED, "L3.9(b)")
    world.ra.submit(org_csr(IDS["gas"], R.SUPPLIER), party_id="gas", actor="gas")


def test_application_refusal_referral_and_new_application_are_stored_and_audited(world: World) -> None:
    db = world.db
    newcomer = Party(
        "newco",
        "NewCo",
        PartyType.PARTY,
        identifiers=(PartyIdentifier(E("77-77-77-77-77-77-77-77"), U.OTHER_USER),),
    )
    parties.register_party(db, newcomer, actor="dcc-ra")
    with pytest.raises(PolicyRefusal) as info:  # entry tests first (L3.2(a))
        subscribers.move(db, "newco", Hierarchy.ORGANISATION, SubscriberEvent.APPLY, actor="newco")
    assert refused(info) == ("subscriber.entry_tests_incomplete", "L3.2(a)")
    assert subscribers.standing(db, "newco", Hierarchy.ORGANISATION) is None  # nothing half-written
    subscribers.record_entry_tests(db, "newco", Hierarchy.ORGANISATION, actor="dcc-ra")
    for event in (
        SubscriberEvent.APPLY,
        SubscriberEvent.DCC_REFUSES,
        SubscriberEvent.REFER_TO_PANEL,
        SubscriberEvent.PANEL_FINDS_CRITERIA_NOT_MET,
    ):
        subscribers.move(db, "newco", Hierarchy.ORGANISATION, event, actor="x")
    assert subscribers.standing(db, "newco", Hierarchy.ORGANISATION) is SubscriberStatus.PANEL_REFUSED
    with pytest.raises(PolicyRefusal):  # binding (L3.10): no second referral
        subscribers.move(db, "newco", Hierarchy.ORGANISATION, SubscriberEvent.REFER_TO_PANEL, actor="x")
    subscribers.move(db, "newco", Hierarchy.ORGANISATION, SubscriberEvent.APPLY, actor="newco")  # L3.11
    done = subscribers.move(
        db, "newco", Hierarchy.ORGANISATION, SubscriberEvent.DCC_AUTHORISES, actor="dcc-ra"
    )
    assert done.status is SubscriberStatus.AUTHORISED
    with db.read_transaction() as s:
        actions = [e.action for e in audit_store.entries_for_object(s, "ra.subscriber", "newco/organisation")]
    assert actions == [
        "ra.subscriber.apply",
        "ra.subscriber.dcc-refuses",
        "ra.subscriber.refer-to-panel",
        "ra.subscriber.panel-finds-criteria-not-met",
        "ra.subscriber.apply",
        "ra.subscriber.dcc-authorises",
    ]


def test_party_register_refuses_shared_identifiers_and_unnominated_rdps(world: World) -> None:
    db = world.db
    thief = Party("thief", "Thief", PartyType.PARTY, identifiers=(PartyIdentifier(IDS["gas"], U.OTHER_USER),))
    with pytest.raises(PolicyRefusal) as info:
        parties.register_party(db, thief, actor="dcc-ra")
    assert info.value.code == "party.identifier_held"
    with pytest.raises(InvalidInput):
        parties.get_party(db, "thief")  # nothing half-written
    orphan = Party("rdp2", "RDP2", PartyType.RDP, nominated_by=frozenset({"elec"}))
    with pytest.raises(PolicyRefusal) as info:
        parties.register_party(db, orphan, actor="dcc-ra")
    assert refused(info) == ("party.nominator_not_network_party", "L3.6")
    assert parties.get_party(db, "rdp").nominated_by == {"dno", "gdn"}
    with pytest.raises(PolicyRefusal):
        parties.register_party(db, Party("dcc2", "DCC again", PartyType.DCC), actor="dcc-ra")


# --- batches ----------------------------------------------------------------------------------------------


def test_submit_many_issues_a_batch_and_refuses_all_of_it_for_one_bad_request(world: World) -> None:
    euis = [EntityId((0x00DB000000000000 + i).to_bytes(8, "big")) for i in range(20)]
    batch = [
        CertificateRequest(
            csr=device_csr(e, usage), party_id="elec", device_type=DeviceType.ELECTRICITY_SMART_METER
        )
        for e in euis
        for usage in (KeyUsage.DIGITAL_SIGNATURE, KeyUsage.KEY_AGREEMENT)
    ]
    issued = world.ra.submit_many(batch, actor="elec")
    assert len(issued) == 40 and len({c.serial for c in issued}) == 40
    with world.db.read_transaction() as s:
        before = ca_store.count_certificates(s)
    key = ec.generate_private_key(ec.SECP256R1())
    dup = [
        CertificateRequest(
            csr=csr_builder.csr_pem(
                csr_builder.device_csr(
                    E("00-DB-00-00-00-00-01-00"), KeyUsage.DIGITAL_SIGNATURE, ENV, key=key
                )[0]
            ),
            party_id="elec",
            device_type=DeviceType.ELECTRICITY_SMART_METER,
        ),
        CertificateRequest(
            csr=csr_builder.csr_pem(
                csr_builder.device_csr(
                    E("00-DB-00-00-00-00-01-01"), KeyUsage.DIGITAL_SIGNATURE, ENV, key=key
                )[0]
            ),
            party_id="elec",
            device_type=DeviceType.ELECTRICITY_SMART_METER,
        ),
    ]
    outcomes = world.ra.check_many(dup)
    assert not isinstance(outcomes[0], SmkiError)
    assert isinstance(outcomes[1], PolicyRefusal) and outcomes[1].clause == "L11.4(a)"
    with pytest.raises(PolicyRefusal) as info:
        world.ra.submit_many(dup, actor="elec")
    assert info.value.message.startswith("Request 2 of 2:")
    with world.db.read_transaction() as s:
        assert ca_store.count_certificates(s) == before


# --- architecture -----------------------------------------------------------------------------------------

_RULE_MARKERS = re.compile(
    r"L3\.1[4-9]|L3\.2[01]|L3\.[2-9]\b|L11\.4|6\.3\.2|DEVICE_CERTIFICATE_TABLE|ORGANISATION_CERTIFICATE_TABLE"
    r"|KEY_REUSE_ROLES|check_duplicate_key|check_(device|organisation|iki)_eligibility"
)


def _documentation_lines(source: str) -> set[int]:
    """Lines of docstrings and ``help=`` texts: describing a command may cite a clause, deciding may not."""
    lines: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        spans: list[ast.AST] = []
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                spans.append(first)
        if isinstance(node, ast.keyword) and node.arg == "help":
            spans.append(node.value)
        for span in spans:
            lines.update(range(span.lineno, (span.end_lineno or span.lineno) + 1))
    return lines


def rule_references(root: Path) -> list[str]:
    offenders = []
    for package in ("api", "cli"):
        for path in sorted((root / package).rglob("*.py")) if (root / package).exists() else []:
            source = path.read_text(encoding="utf-8")
            docs = _documentation_lines(source)
            for number, line in enumerate(source.splitlines(), 1):
                if number not in docs and _RULE_MARKERS.search(line):
                    offenders.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    return offenders


def test_no_rule_of_l3_or_l11_4_lives_in_api_or_cli() -> None:
    offenders = rule_references(Path(__file__).resolve().parents[1] / "src" / "smki")
    assert offenders == [], "\n".join(offenders)


def test_the_rule_marker_pattern_would_catch_a_rule(tmp_path: Path) -> None:
    cli = tmp_path / "cli"
    cli.mkdir()
    (cli / "bad.py").write_text(
        '"""Module doc citing L3.16 is fine."""\n'
        "def f(role):\n"
        '    """Doc citing L11.4 is fine."""\n'
        "    if role in KEY_REUSE_ROLES:\n"
        '        raise PolicyRefusal("x", "y", "L3.18(b)")\n'
    )
    assert [o.split(":")[1] for o in rule_references(tmp_path)] == ["4", "5"]
    assert _RULE_MARKERS.search('raise PolicyRefusal("x", "y", "L3.18(b)")')
    assert _RULE_MARKERS.search("if role in KEY_REUSE_ROLES:")
    assert _RULE_MARKERS.search("L11.4B(a)")
    assert not _RULE_MARKERS.search("from smki.ra.authority import RegistrationAuthority")


def test_migration_creates_the_ra_tables(database: Database) -> None:
    for table in (
        "ra_parties",
        "ra_party_identifiers",
        "ra_rdp_nominations",
        "ra_entry_tests",
        "ra_subscribers",
        "ra_revocations",
    ):
        assert database.has_table(table)
    # 0004_ra is applied (later branches depending on it, such as 0005_repository, may be the heads)
    script = ScriptDirectory.from_config(database.alembic_config())
    heads = tuple(database.current_revisions())
    assert "0004_ra" in {r.revision for r in script.iterate_revisions(heads, "base")}
    with database.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM ra_parties")).scalar() == 0
