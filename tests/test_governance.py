"""The SMKI PMA (Section L1): membership history, quorum, votes, and the approvals that gate exceptions.

Every test runs on SQLite and on PostgreSQL (the ``database`` fixture).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from smki import audit, governance
from smki.governance import (
    Capacity,
    DecisionKind,
    DecisionStatus,
    EndReason,
    Office,
    PersonKind,
    RecoveryRequirement,
    VoteChoice,
)
from smki.model import EntityId, InvalidInput, PolicyRefusal, RemotePartyRole
from smki.storage import Database

START = date(2026, 1, 5)
MEETING_DAY = date(2026, 3, 2)
WAN = EntityId.parse("90-B3-D5-1F-30-01-00-00")
OTHER = EntityId.parse("90-B3-D5-1F-30-01-00-01")
KEY = "ab" * 32
FOR, AGAINST, ABSTAIN = VoteChoice.FOR, VoteChoice.AGAINST, VoteChoice.ABSTAIN

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


def person(db: Database, name: str, kind: PersonKind = PersonKind.INDIVIDUAL) -> int:
    return governance.add_person(db, name=name, kind=kind, actor="secretariat").id


def appoint(db: Database, person_id: int, office: Office, starts_on: date = START) -> governance.Holding:
    return governance.appoint(
        db,
        person_id=person_id,
        office=office,
        starts_on=starts_on,
        actor="secretariat",
        member_confirmation=True,
        independent=office is Office.CHAIR,
    )


def constitute(db: Database) -> dict[str, int]:
    """Appoint all ten SMKI PMA Members (L1.3) from START; return their person ids by name."""
    ids = {}
    for name, office in ROSTER:
        ids[name] = person(db, name)
        appoint(db, ids[name], office)
    return ids


def meeting_with(db: Database, ids: dict[str, int], names: list[str], day: date = MEETING_DAY) -> str:
    ref = governance.open_meeting(db, held_on=day, actor="secretariat").reference
    for name in names:
        governance.attend(db, meeting=ref, person_id=ids[name], capacity=Capacity.MEMBER, actor="secretariat")
    return ref


def refusal(excinfo: pytest.ExceptionInfo[PolicyRefusal]) -> tuple[str, str | None]:
    return excinfo.value.code, excinfo.value.clause


def test_pma_scenario_from_constitution_to_key_reuse_approval(database: Database) -> None:
    ids = constitute(database)
    assert governance.vacancies_on(database, START) == {}
    assert len(governance.members_on(database, START)) == 10
    cps = governance.propose_cps_approval(
        database,
        document=governance.CpsDocument.ORGANISATION,
        version="3.1",
        proposed_on=MEETING_DAY,
        actor="dcc",
    )

    # Three members, Chair among them: no quorum, no business (L1.13).
    thin = meeting_with(database, ids, ["Chair", "Large 1", "Gas"])
    with pytest.raises(PolicyRefusal) as no_quorum:
        governance.decide(
            database, meeting=thin, reference=cps.reference, votes={ids["Large 1"]: FOR}, actor="secretariat"
        )
    assert refusal(no_quorum) == ("pma.quorum", "L1.13")
    assert "3 member(s) sit where 4 are needed" in no_quorum.value.message
    assert governance.get_decision(database, cps.reference).status is DecisionStatus.PROPOSED

    # The Chair is absent; the SMKI Specialist sits as the Chair's Alternate (L1.12(a)): quorate.
    full = meeting_with(database, ids, ["Specialist", "Large 1", "Large 2", "Electricity"])
    q = governance.quorum(database, full)
    assert q.quorate and q.chair_by is not None and q.chair_by.name == "Specialist"
    governance.attend(
        database,
        meeting=full,
        person_id=person(database, "DCC rep"),
        capacity=Capacity.DCC,
        actor="secretariat",
    )
    approved = governance.decide(
        database,
        meeting=full,
        reference=cps.reference,
        votes={ids["Specialist"]: FOR, ids["Large 1"]: FOR, ids["Large 2"]: AGAINST, ids["Electricity"]: FOR},
        actor="secretariat",
    )
    assert approved.status is DecisionStatus.APPROVED
    assert approved.decided_on == MEETING_DAY and approved.meeting == full
    assert sorted((v.member, v.choice.value) for v in approved.votes) == [
        ("Electricity", "for"),
        ("Large 1", "for"),
        ("Large 2", "against"),
        ("Specialist", "for"),
    ]

    # Key reuse for a supplier certificate is refused outright (L11.4B(b)).
    with pytest.raises(PolicyRefusal) as wrong_role:
        governance.propose_key_reuse(
            database, role=RemotePartyRole.SUPPLIER, entity_id=WAN, proposed_on=MEETING_DAY, actor="dcc"
        )
    assert refusal(wrong_role) == ("pma.key_reuse_role", "L11.4B(b)")

    # For wanProvider without the SSC's views it cannot be approved (L11.4B(a)).
    reuse = governance.propose_key_reuse(
        database,
        role=RemotePartyRole.WAN_PROVIDER,
        entity_id=WAN,
        public_key_sha256=KEY,
        validity_years=17,
        proposed_on=MEETING_DAY,
        actor="dcc",
    )
    assert reuse.reference.startswith("PMA-2026-")
    votes = {ids["Large 1"]: FOR, ids["Large 2"]: FOR, ids["Electricity"]: FOR}
    with pytest.raises(PolicyRefusal) as no_views:
        governance.decide(database, meeting=full, reference=reuse.reference, votes=votes, actor="secretariat")
    assert refusal(no_views) == ("pma.ssc_views_required", "L11.4B(a)")
    assert governance.get_decision(database, reuse.reference).status is DecisionStatus.PROPOSED
    with pytest.raises(PolicyRefusal) as not_yet:
        governance.require_approval(
            database, DecisionKind.KEY_REUSE, role=RemotePartyRole.WAN_PROVIDER, entity_id=WAN
        )
    assert refusal(not_yet) == ("pma.no_approval", "L11.4B(a)")

    # With the SSC's views taken into account it is recorded, and the RA finds it by role and subject.
    governance.record_ssc_views(
        database,
        reference=reuse.reference,
        views="No objection to re-using the manufacturing-pack key.",
        received_on=date(2026, 2, 20),
        actor="ssc",
    )
    done = governance.decide(
        database, meeting=full, reference=reuse.reference, votes=votes, actor="secretariat"
    )
    assert done.status is DecisionStatus.APPROVED
    found = governance.require_approval(
        database,
        DecisionKind.KEY_REUSE,
        role=RemotePartyRole.WAN_PROVIDER,
        entity_id=WAN,
        public_key_sha256=KEY,
    )
    assert found.reference == reuse.reference
    assert found.role == RemotePartyRole.WAN_PROVIDER and found.entity_id == WAN
    assert found.validity_years == 17 and found.decided_on == MEETING_DAY
    assert found.content["ssc_views"].startswith("No objection")
    assert found.content["ssc_views_on"] == "2026-02-20"
    assert governance.require_approval(
        database,
        DecisionKind.KEY_REUSE,
        role=RemotePartyRole.WAN_PROVIDER,
        entity_id=WAN,
        reference=reuse.reference,
        public_key_sha256=KEY,
    )
    with pytest.raises(PolicyRefusal) as other_subject:
        governance.require_approval(
            database, DecisionKind.KEY_REUSE, role=RemotePartyRole.WAN_PROVIDER, entity_id=OTHER
        )
    assert refusal(other_subject) == ("pma.no_approval", "L11.4B(a)")
    with pytest.raises(PolicyRefusal):
        governance.require_approval(
            database, DecisionKind.KEY_REUSE, role=RemotePartyRole.ACCESS_CONTROL_BROKER, entity_id=WAN
        )
    assert [a.reference for a in governance.find_approvals(database, DecisionKind.CPS_APPROVAL)] == [
        cps.reference
    ]

    result = audit.verify(database)
    assert result.ok, result.sentence()
    actions = [e.details for e in audit.log.entries_for(database, "pma.decision", reuse.reference)]
    assert [d.get("status") for d in actions if "status" in d] == ["approved"]


def test_who_was_chair_on_a_date_is_answered_from_history(database: Database) -> None:
    first, second, third = (
        person(database, "First Chair"),
        person(database, "Second Chair"),
        person(database, "Third"),
    )
    held = appoint(database, first, Office.CHAIR, date(2026, 1, 1))
    assert held.term_ends_on == date(2029, 1, 1)  # three-year term (L1.5(b))

    with pytest.raises(PolicyRefusal) as occupied:
        appoint(database, third, Office.CHAIR, date(2027, 6, 1))
    assert refusal(occupied) == ("pma.office_full", "L1.3")

    # The successor is delayed: the first Chair continues after the term (L1.5(e)) until the successor starts.
    appoint(database, second, Office.CHAIR, date(2029, 3, 1))
    on_2027 = governance.holder_on(database, Office.CHAIR, date(2027, 6, 1))
    on_2029_feb = governance.holder_on(database, Office.CHAIR, date(2029, 2, 1))
    on_2029_mar = governance.holder_on(database, Office.CHAIR, date(2029, 3, 1))
    assert on_2027 is not None and on_2027.person.name == "First Chair"
    assert on_2029_feb is not None and on_2029_feb.person.name == "First Chair"
    assert on_2029_feb.in_continuation_on(date(2029, 2, 1))
    assert on_2029_mar is not None and on_2029_mar.person.name == "Second Chair"
    assert governance.holder_on(database, Office.CHAIR, date(2025, 12, 31)) is None
    first_record = governance.history(database, Office.CHAIR)[0]
    assert first_record.ends_on == date(2029, 3, 1) and first_record.end_reason == "successor"


def test_chair_continuation_lasts_only_a_reasonable_period(database: Database) -> None:
    chair = person(database, "Chair")
    governance.appoint(
        database,
        person_id=chair,
        office=Office.CHAIR,
        starts_on=date(2026, 1, 1),
        actor="panel",
        member_confirmation=True,
        independent=True,
        continuation_months=3,
    )
    assert governance.holder_on(database, Office.CHAIR, date(2029, 3, 31)) is not None
    assert governance.holder_on(database, Office.CHAIR, date(2029, 4, 1)) is None


def test_supplier_and_network_members_retire_after_two_years_without_continuation(database: Database) -> None:
    member = person(database, "Supplier")
    network = person(database, "Network")
    appoint(database, member, Office.SUPPLIER_SMALL, date(2026, 2, 1))
    appoint(database, network, Office.NETWORK_GAS, date(2026, 2, 1))
    for office in (Office.SUPPLIER_SMALL, Office.NETWORK_GAS):
        assert governance.holder_on(database, office, date(2028, 1, 31)) is not None
        assert governance.holder_on(database, office, date(2028, 2, 1)) is None
    # ... and may be elected again for a further term (L1.6(b)).
    again = appoint(database, member, Office.SUPPLIER_SMALL, date(2028, 2, 1))
    assert again.term_ends_on == date(2030, 2, 1)


def test_three_large_supplier_seats_and_no_more(database: Database) -> None:
    for i in range(3):
        appoint(database, person(database, f"Large {i}"), Office.SUPPLIER_LARGE)
    assert len(governance.holders_on(database, Office.SUPPLIER_LARGE, START)) == 3
    with pytest.raises(PolicyRefusal) as full:
        appoint(database, person(database, "Fourth"), Office.SUPPLIER_LARGE, date(2027, 1, 1))
    assert refusal(full) == ("pma.office_full", "L1.3")
    with pytest.raises(InvalidInput):
        governance.holder_on(database, Office.SUPPLIER_LARGE, START)


def test_a_person_cannot_be_a_supplier_member_and_the_ssc_representative(database: Database) -> None:
    both = person(database, "Busy")
    appoint(database, both, Office.SUPPLIER_LARGE)
    with pytest.raises(PolicyRefusal) as twice:
        governance.replace_nominee(
            database,
            office=Office.SSC,
            person_id=both,
            on=date(2026, 6, 1),
            notice_given_on=date(2026, 5, 1),
            actor="ssc",
            member_confirmation=True,
        )
    assert refusal(twice) == ("pma.one_office", "L1.4")
    assert governance.holder_on(database, Office.SSC, date(2026, 6, 1)) is None
    # After the supplier term ends, the same person may be nominated.
    governance.replace_nominee(
        database,
        office=Office.SSC,
        person_id=both,
        on=date(2028, 1, 5),
        notice_given_on=date(2027, 12, 1),
        actor="ssc",
        member_confirmation=True,
    )
    ssc = governance.holder_on(database, Office.SSC, date(2028, 1, 5))
    assert ssc is not None and ssc.person.name == "Busy"


@pytest.mark.parametrize("kind", [PersonKind.BODY_CORPORATE, PersonKind.ASSOCIATION, PersonKind.PARTNERSHIP])
def test_a_body_corporate_cannot_be_a_member(database: Database, kind: PersonKind) -> None:
    company = person(database, "Energy Supplier Ltd", kind)
    with pytest.raises(PolicyRefusal) as refused:
        appoint(database, company, Office.SUPPLIER_LARGE)
    assert refusal(refused) == ("pma.not_individual", "L1.4")
    assert governance.members_on(database, START) == []


def test_appointments_need_member_confirmation_and_an_independent_chair(database: Database) -> None:
    p = person(database, "Candidate")
    with pytest.raises(PolicyRefusal) as unconfirmed:
        governance.appoint(
            database, person_id=p, office=Office.NETWORK_ELECTRICITY, starts_on=START, actor="x"
        )
    assert refusal(unconfirmed) == ("pma.member_confirmation", "L1.8(a)")
    with pytest.raises(PolicyRefusal) as partial:
        governance.appoint(
            database, person_id=p, office=Office.CHAIR, starts_on=START, actor="x", member_confirmation=True
        )
    assert refusal(partial) == ("pma.chair_independence", "L1.5(a)")


def test_ssc_representative_is_replaced_by_prior_notice_not_removed(database: Database) -> None:
    first, second = person(database, "SSC one"), person(database, "SSC two")
    appoint(database, first, Office.SSC)
    with pytest.raises(PolicyRefusal) as removal:
        governance.end_appointment(
            database, person_id=first, on=date(2026, 6, 1), reason=EndReason.REMOVED, actor="pma"
        )
    assert refusal(removal) == ("pma.replace_not_remove", "L1.10")
    with pytest.raises(PolicyRefusal) as late:
        governance.replace_nominee(
            database,
            office=Office.SSC,
            person_id=second,
            on=date(2026, 6, 1),
            notice_given_on=date(2026, 6, 2),
            actor="ssc",
            member_confirmation=True,
        )
    assert refusal(late) == ("pma.prior_notice", "L1.10")
    governance.replace_nominee(
        database,
        office=Office.SSC,
        person_id=second,
        on=date(2026, 6, 1),
        notice_given_on=date(2026, 5, 15),
        actor="ssc",
        member_confirmation=True,
    )
    before = governance.holder_on(database, Office.SSC, date(2026, 5, 31))
    after = governance.holder_on(database, Office.SSC, date(2026, 6, 1))
    assert before is not None and before.person.name == "SSC one"
    assert after is not None and after.person.name == "SSC two"
    with pytest.raises(PolicyRefusal) as not_nominated:
        governance.replace_nominee(
            database,
            office=Office.SUPPLIER_SMALL,
            person_id=first,
            on=date(2026, 7, 1),
            notice_given_on=date(2026, 6, 1),
            actor="ssc",
        )
    assert refusal(not_nominated) == ("pma.not_nominated_office", "L1.10")


def test_removed_member_no_longer_counts_towards_quorum(database: Database) -> None:
    ids = constitute(database)
    governance.end_appointment(
        database,
        person_id=ids["Gas"],
        on=date(2026, 3, 1),
        reason=EndReason.REMOVED,
        actor="pma",
        note="C4.5",
    )
    assert governance.holder_on(database, Office.NETWORK_GAS, date(2026, 2, 28)) is not None
    assert governance.holder_on(database, Office.NETWORK_GAS, date(2026, 3, 1)) is None
    ref = governance.open_meeting(database, held_on=MEETING_DAY, actor="secretariat").reference
    with pytest.raises(PolicyRefusal) as gone:
        governance.attend(database, meeting=ref, person_id=ids["Gas"], capacity=Capacity.MEMBER, actor="s")
    assert refusal(gone) == ("pma.not_a_member", "L1.3")


def test_four_members_without_the_chair_or_an_alternate_cannot_decide(database: Database) -> None:
    ids = constitute(database)
    d = governance.propose_cps_approval(
        database, document=governance.CpsDocument.DEVICE, version="1", proposed_on=MEETING_DAY, actor="dcc"
    )
    ref = meeting_with(database, ids, ["Large 1", "Large 2", "Large 3", "Gas"])
    assert not governance.quorum(database, ref).quorate
    with pytest.raises(PolicyRefusal) as refused:
        governance.decide(database, meeting=ref, reference=d.reference, votes={ids["Gas"]: FOR}, actor="s")
    assert refusal(refused) == ("pma.quorum", "L1.13")
    assert "Chair" in refused.value.message


def test_chair_nominee_sits_only_when_the_specialist_is_unavailable(database: Database) -> None:
    ids = constitute(database)
    nominee = person(database, "Independent Nominee")
    with pytest.raises(PolicyRefusal) as member_nominee:
        governance.appoint_alternate(
            database,
            member_person_id=ids["Chair"],
            alternate_person_id=ids["Large 1"],
            starts_on=START,
            independent=True,
            actor="chair",
        )
    assert refusal(member_nominee) == ("pma.chair_alternate_member", "L1.12(b)")
    with pytest.raises(PolicyRefusal) as partial:
        governance.appoint_alternate(
            database,
            member_person_id=ids["Chair"],
            alternate_person_id=nominee,
            starts_on=START,
            actor="chair",
        )
    assert refusal(partial) == ("pma.chair_alternate_independence", "L1.12(b)")
    governance.appoint_alternate(
        database,
        member_person_id=ids["Chair"],
        alternate_person_id=nominee,
        starts_on=START,
        independent=True,
        actor="chair",
    )
    # The nominee may not then become a member while nominated (L1.12(b)).
    with pytest.raises(PolicyRefusal) as becomes_member:
        governance.replace_nominee(
            database,
            office=Office.TABASC,
            person_id=nominee,
            on=date(2026, 6, 1),
            notice_given_on=date(2026, 5, 1),
            actor="tabasc",
            member_confirmation=True,
        )
    assert refusal(becomes_member) == ("pma.chair_alternate_member", "L1.12(b)")

    absent_specialist = meeting_with(database, ids, ["Large 1", "Large 2", "Gas"])
    governance.attend(
        database,
        meeting=absent_specialist,
        person_id=nominee,
        capacity=Capacity.ALTERNATE,
        for_member=ids["Chair"],
        actor="s",
    )
    q = governance.quorum(database, absent_specialist)
    assert q.quorate and q.chair_by is not None and q.chair_by.name == "Independent Nominee"

    with_specialist = meeting_with(database, ids, ["Specialist", "Large 1", "Gas"])
    with pytest.raises(PolicyRefusal) as available:
        governance.attend(
            database,
            meeting=with_specialist,
            person_id=nominee,
            capacity=Capacity.ALTERNATE,
            for_member=ids["Chair"],
            actor="s",
        )
    assert refusal(available) == ("pma.specialist_available", "L1.12(b)")


def test_a_members_alternate_sits_and_votes_for_the_absent_member(database: Database) -> None:
    ids = constitute(database)
    stand_in = person(database, "Stand-in")
    with pytest.raises(PolicyRefusal) as company:
        governance.appoint_alternate(
            database,
            member_person_id=ids["Gas"],
            alternate_person_id=person(database, "Gas Co", PersonKind.BODY_CORPORATE),
            starts_on=START,
            actor="gas",
        )
    assert refusal(company) == ("pma.not_individual", "L1.4")
    governance.appoint_alternate(
        database, member_person_id=ids["Gas"], alternate_person_id=stand_in, starts_on=START, actor="gas"
    )
    d = governance.propose_cps_approval(
        database, document=governance.CpsDocument.IKI, version="2", proposed_on=MEETING_DAY, actor="dcc"
    )
    ref = meeting_with(database, ids, ["Chair", "Large 1", "Large 2"])
    stranger = person(database, "Stranger")
    with pytest.raises(PolicyRefusal) as not_alternate:
        governance.attend(
            database,
            meeting=ref,
            person_id=stranger,
            capacity=Capacity.ALTERNATE,
            for_member=ids["Gas"],
            actor="s",
        )
    assert refusal(not_alternate) == ("pma.not_alternate", "L1.12")
    governance.attend(
        database,
        meeting=ref,
        person_id=stand_in,
        capacity=Capacity.ALTERNATE,
        for_member=ids["Gas"],
        actor="s",
    )
    assert governance.quorum(database, ref).quorate
    decided = governance.decide(
        database,
        meeting=ref,
        reference=d.reference,
        votes={stand_in: FOR, ids["Large 1"]: FOR, ids["Large 2"]: AGAINST},
        actor="s",
    )
    assert decided.status is DecisionStatus.APPROVED
    assert ("Gas", "Stand-in") in {(v.member, v.cast_by) for v in decided.votes}


def test_dcc_representative_invitees_and_the_chair_have_no_ordinary_vote(database: Database) -> None:
    ids = constitute(database)
    dcc, adviser = person(database, "DCC rep"), person(database, "Legal adviser")
    d = governance.propose_cps_approval(
        database, document=governance.CpsDocument.DEVICE, version="4", proposed_on=MEETING_DAY, actor="dcc"
    )
    ref = meeting_with(database, ids, ["Chair", "Large 1", "Large 2", "Gas"])
    governance.attend(database, meeting=ref, person_id=dcc, capacity=Capacity.DCC, actor="s")
    governance.attend(
        database, meeting=ref, person_id=adviser, capacity=Capacity.INVITEE, note="legal adviser", actor="s"
    )
    cases = [
        (dcc, ("pma.no_vote", "L1.14(a)")),
        (adviser, ("pma.no_vote", "L1.14(b)")),
        (ids["Chair"], ("pma.chair_casting_only", "L1.15")),
        (ids["TABASC"], ("pma.not_sitting", "L1.15")),
    ]
    for voter, expected in cases:
        with pytest.raises(PolicyRefusal) as refused:
            governance.decide(
                database, meeting=ref, reference=d.reference, votes={ids["Gas"]: FOR, voter: FOR}, actor="s"
            )
        assert refusal(refused) == expected
    meeting = governance.get_meeting(database, ref)
    assert [(a.person.name, a.capacity.value) for a in meeting.attendees][-2:] == [
        ("DCC rep", "dcc"),
        ("Legal adviser", "invitee"),
    ]


def test_a_tie_is_decided_by_the_chairs_casting_vote_or_not_carried(database: Database) -> None:
    ids = constitute(database)
    first = governance.propose_cps_approval(
        database, document=governance.CpsDocument.DEVICE, version="5", proposed_on=MEETING_DAY, actor="dcc"
    )
    second = governance.propose_cps_approval(
        database, document=governance.CpsDocument.DEVICE, version="6", proposed_on=MEETING_DAY, actor="dcc"
    )
    ref = meeting_with(database, ids, ["Chair", "Large 1", "Large 2", "Gas"])
    tie = {ids["Large 1"]: FOR, ids["Large 2"]: AGAINST, ids["Gas"]: ABSTAIN}
    with pytest.raises(InvalidInput):
        governance.decide(
            database,
            meeting=ref,
            reference=first.reference,
            votes={ids["Large 1"]: FOR},
            casting_vote=FOR,
            actor="s",
        )
    with pytest.raises(InvalidInput) as silent:
        governance.decide(database, meeting=ref, reference=first.reference, votes={}, actor="s")
    assert silent.value.code == "pma.no_votes"
    carried = governance.decide(
        database, meeting=ref, reference=first.reference, votes=tie, casting_vote=FOR, actor="s"
    )
    assert carried.status is DecisionStatus.APPROVED
    assert [v.cast_by for v in carried.votes if v.casting] == ["Chair"]
    lost = governance.decide(database, meeting=ref, reference=second.reference, votes=tie, actor="s")
    assert lost.status is DecisionStatus.REFUSED
    assert governance.find_approvals(database, DecisionKind.CPS_APPROVAL)[0].reference == first.reference


def test_organisation_validity_approval_is_found_until_revoked(database: Database) -> None:
    ids = constitute(database)
    not_after = datetime(2041, 6, 30, 23, 59, 59, tzinfo=UTC)
    with pytest.raises(InvalidInput):
        governance.propose_organisation_validity(
            database, role=RemotePartyRole.RECOVERY, entity_id=WAN, proposed_on=MEETING_DAY, actor="dcc"
        )
    d = governance.propose_organisation_validity(
        database,
        role=RemotePartyRole.RECOVERY,
        entity_id=WAN,
        not_after=not_after,
        proposed_on=MEETING_DAY,
        ssc_views="Content with 17 years.",
        actor="dcc",
    )
    ref = meeting_with(database, ids, ["Chair", "Large 1", "Large 2", "Gas"])
    with pytest.raises(PolicyRefusal) as missing:
        governance.require_approval(
            database, DecisionKind.ORGANISATION_VALIDITY, role=RemotePartyRole.RECOVERY, entity_id=WAN
        )
    assert refusal(missing) == ("pma.no_approval", "Appendix B 6.3.2(A)(i)")
    governance.decide(
        database, meeting=ref, reference=d.reference, votes={ids["Large 1"]: FOR, ids["Gas"]: FOR}, actor="s"
    )
    approval = governance.require_approval(
        database, DecisionKind.ORGANISATION_VALIDITY, role=RemotePartyRole.RECOVERY, entity_id=WAN
    )
    assert approval.not_after == not_after and approval.validity_years is None
    assert approval.content["ssc_views"] == "Content with 17 years."
    with pytest.raises(PolicyRefusal):  # a different role is a different subject
        governance.require_approval(
            database, DecisionKind.ORGANISATION_VALIDITY, role=RemotePartyRole.WAN_PROVIDER, entity_id=WAN
        )

    revoked = governance.revoke(
        database,
        meeting=ref,
        reference=d.reference,
        votes={ids["Large 1"]: FOR, ids["Large 2"]: FOR, ids["Gas"]: FOR},
        reason="superseded",
        actor="s",
    )
    assert revoked.status is DecisionStatus.REVOKED
    assert governance.find_approvals(database, DecisionKind.ORGANISATION_VALIDITY) == []


def test_organisation_validity_needs_ssc_views_before_approval(database: Database) -> None:
    ids = constitute(database)
    d = governance.propose_organisation_validity(
        database,
        role=RemotePartyRole.RECOVERY,
        entity_id=WAN,
        validity_years=17,
        proposed_on=MEETING_DAY,
        actor="dcc",
    )
    ref = meeting_with(database, ids, ["Chair", "Large 1", "Large 2", "Gas"])
    with pytest.raises(PolicyRefusal) as refused:
        governance.decide(database, meeting=ref, reference=d.reference, votes={ids["Gas"]: FOR}, actor="s")
    assert refusal(refused) == ("pma.ssc_views_required", "Appendix B 6.3.2(A)(i)")
    # Views dated after the meeting were not taken into account at it.
    governance.record_ssc_views(
        database, reference=d.reference, views="Fine.", received_on=date(2026, 4, 1), actor="ssc"
    )
    with pytest.raises(PolicyRefusal):
        governance.decide(database, meeting=ref, reference=d.reference, votes={ids["Gas"]: FOR}, actor="s")
    # Voting it down needs no views.
    lost = governance.decide(
        database, meeting=ref, reference=d.reference, votes={ids["Gas"]: AGAINST}, actor="s"
    )
    assert lost.status is DecisionStatus.REFUSED


def test_key_reuse_approval_naming_a_key_matches_only_that_key(database: Database) -> None:
    ids = constitute(database)
    d = governance.propose_key_reuse(
        database,
        role=RemotePartyRole.ACCESS_CONTROL_BROKER,
        entity_id=WAN,
        public_key_sha256=KEY.upper(),
        proposed_on=MEETING_DAY,
        ssc_views="Agreed.",
        actor="dcc",
    )
    ref = meeting_with(database, ids, ["Chair", "Large 1", "Large 2", "Gas"])
    governance.decide(database, meeting=ref, reference=d.reference, votes={ids["Gas"]: FOR}, actor="s")
    acb = RemotePartyRole.ACCESS_CONTROL_BROKER
    assert governance.require_approval(
        database, DecisionKind.KEY_REUSE, role=acb, entity_id=WAN, public_key_sha256=KEY
    )
    for wrong in ("cd" * 32, None):
        with pytest.raises(PolicyRefusal) as refused:
            governance.require_approval(
                database, DecisionKind.KEY_REUSE, role=acb, entity_id=WAN, public_key_sha256=wrong
            )
        assert refusal(refused) == ("pma.no_approval", "L11.4B(a)")
    with pytest.raises(PolicyRefusal):
        governance.require_approval(
            database,
            DecisionKind.KEY_REUSE,
            role=acb,
            entity_id=WAN,
            reference="PMA-2026-9999",
            public_key_sha256=KEY,
        )
    with pytest.raises(InvalidInput):
        governance.require_approval(
            database, DecisionKind.KEY_REUSE, role=acb, entity_id=WAN, public_key_sha256="xyz"
        )


def test_recovery_key_decision_records_the_recovery_event_it_makes(database: Database) -> None:
    ids = constitute(database)
    require = governance.propose_recovery_key(
        database,
        incident="INC-42",
        requirement=RecoveryRequirement.RECOVERY_PRIVATE_KEY,
        dcc_notified_on=date(2026, 2, 27),
        proposed_on=MEETING_DAY,
        guidance_version="1.0",
        actor="dcc",
    )
    neither = governance.propose_recovery_key(
        database,
        incident="INC-43",
        requirement=RecoveryRequirement.NEITHER,
        dcc_notified_on=date(2026, 2, 27),
        proposed_on=MEETING_DAY,
        evidence="Replacement commands sent to all Relevant Devices.",
        actor="dcc",
    )
    ref = meeting_with(database, ids, ["Chair", "Large 1", "Large 2", "Gas"])
    for d in (require, neither):
        governance.decide(database, meeting=ref, reference=d.reference, votes={ids["Gas"]: FOR}, actor="s")
    approvals = {
        a.content["incident"]: a for a in governance.find_approvals(database, DecisionKind.RECOVERY_KEY)
    }
    assert approvals["INC-42"].content["recovery_event"] == "L10.15"
    assert approvals["INC-42"].content["requirement"] == "recovery-private-key"
    assert approvals["INC-43"].content["recovery_event"] == "L10.16"


def test_closed_meeting_takes_no_business_and_references_are_sequential(database: Database) -> None:
    ids = constitute(database)
    a = governance.propose_cps_approval(
        database, document=governance.CpsDocument.DEVICE, version="7", proposed_on=MEETING_DAY, actor="dcc"
    )
    b = governance.propose_cps_approval(
        database, document=governance.CpsDocument.DEVICE, version="8", proposed_on=MEETING_DAY, actor="dcc"
    )
    assert (a.reference, b.reference) == ("PMA-2026-0001", "PMA-2026-0002")
    ref = meeting_with(database, ids, ["Chair", "Large 1", "Large 2", "Gas"])
    assert ref == "PMA-M-2026-0001"
    governance.close_meeting(database, meeting=ref, actor="s")
    with pytest.raises(InvalidInput):
        governance.decide(database, meeting=ref, reference=a.reference, votes={ids["Gas"]: FOR}, actor="s")


def test_every_change_is_audited_and_refusals_write_nothing(database: Database) -> None:
    ids = constitute(database)
    before = audit.verify(database).entries
    assert before == 20  # ten persons, ten appointments
    with pytest.raises(PolicyRefusal):
        appoint(database, ids["Gas"], Office.SUPPLIER_SMALL, date(2026, 6, 1))
    assert audit.verify(database).entries == before
    governance.end_appointment(
        database, person_id=ids["Gas"], on=date(2026, 6, 1), reason=EndReason.RESIGNED, actor="gas"
    )
    entries = audit.log.entries_for(
        database, "pma.appointment", str(governance.history(database, Office.NETWORK_GAS)[0].appointment_id)
    )
    assert [e.action for e in entries] == ["pma.appoint", "pma.appointment.end"]
    assert entries[-1].actor == "gas" and entries[-1].details["reason"] == "resigned"
    assert audit.verify(database).ok
