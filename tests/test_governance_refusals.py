"""Every refusal of the SMKI PMA code (SEC Section L1 and the clauses its decisions gate), provoked through
the public functions: the exact code, the exact clause (None for input that cannot be understood), the
exception class, and that the refused call wrote nothing (the audit chain is as long as before).

The expected codes and clauses are written out here on purpose (``EXPECTED``), not imported from the
product; the last test fails when src/smki/governance raises a code (or cites a literal clause for it)
that this list does not name, or when the list names a code the product no longer raises.

Every test runs on SQLite and on PostgreSQL (the ``database`` fixture).
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from smki import audit, governance
from smki.governance import (
    Capacity,
    CpsDocument,
    DecisionKind,
    EndReason,
    Office,
    PersonKind,
    RecoveryRequirement,
    VoteChoice,
)
from smki.model import EntityId, InvalidInput, PolicyRefusal, RemotePartyRole, SmkiError
from smki.storage import Database
from test_governance import MEETING_DAY, START, appoint, constitute, meeting_with, person

WAN = EntityId.parse("90-B3-D5-1F-30-01-00-00")
FOR, AGAINST = VoteChoice.FOR, VoteChoice.AGAINST

# code -> every clause it is raised with (None: InvalidInput, input that cannot be understood).
EXPECTED: dict[str, set[str | None]] = {
    "pma.already_attending": {None},
    "pma.alternate_interval": {None},
    "pma.alternate_self": {None},
    "pma.by_panel": {None},
    "pma.capacity": {None},
    "pma.casting_without_tie": {None},
    "pma.chair_alternate_independence": {"L1.12(b)"},
    "pma.chair_alternate_member": {"L1.12(b)"},
    "pma.chair_casting_only": {"L1.15"},
    "pma.chair_independence": {"L1.5(a)"},
    "pma.continuation": {None},
    "pma.cps_document": {None},
    "pma.cps_version": {None},
    "pma.dcc_notified_on": {None},
    "pma.decided_before_proposed": {None},
    "pma.decision_kind": {None},
    "pma.decision_unknown": {None},
    "pma.end_before_start": {None},
    "pma.end_reason": {None},
    "pma.for_member": {None},
    "pma.incident": {None},
    "pma.key_reuse_role": {"L11.4B(b)"},
    "pma.meeting_closed": {None},
    "pma.meeting_unknown": {None},
    "pma.member_confirmation": {"L1.5(d)", "L1.6(a)", "L1.8(a)", "L1.10"},
    "pma.member_present": {"L1.12"},
    "pma.no_approval": {"Appendix B 6.3.2(A)(i)", "L11.4B(a)", "L1.17(a)", "L1.17(i)"},
    "pma.no_vote": {"L1.14(a)", "L1.14(b)"},
    "pma.no_votes": {None},
    "pma.not_a_member": {"L1.3", "L1.12", None},
    "pma.not_alternate": {"L1.12", "L1.12(b)"},
    "pma.not_approved": {None},
    "pma.not_individual": {"L1.4"},
    "pma.not_nominated_office": {"L1.10"},
    "pma.not_proposed": {None},
    "pma.not_sitting": {"L1.15"},
    "pma.office_full": {"L1.3"},
    "pma.office_has_seats": {None},
    "pma.office_unknown": {None},
    "pma.one_alternate": {"L1.12"},
    "pma.one_office": {"L1.4"},
    "pma.person_ambiguous": {None},
    "pma.person_kind": {None},
    "pma.person_name": {None},
    "pma.person_unknown": {None},
    "pma.prior_notice": {"L1.10"},
    "pma.public_key_sha256": {None},
    "pma.quorum": {"L1.13"},
    "pma.recovery_requirement": {None},
    "pma.replace_not_remove": {"L1.10"},
    "pma.same_nominee": {None},
    "pma.specialist_available": {"L1.12(b)"},
    "pma.specialist_sits_as_member": {None},
    "pma.ssc_views": {None},
    "pma.ssc_views_required": {"Appendix B 6.3.2(A)(i)", "L11.4B(a)"},
    "pma.validity": {None},
    "pma.vote_choice": {None},
}



def refused(
    db: Database | None, kind: type[SmkiError], code: str, clause: str | None, call: Callable[[], Any]
) -> SmkiError:
    """Run ``call``; it must raise exactly ``kind`` with ``code`` and ``clause`` and write nothing."""
    before = audit.verify(db).entries if db is not None else None
    with pytest.raises(SmkiError) as info:
        call()
    error = info.value
    assert type(error) is kind, f"{code}: {type(error).__name__} {error.code} {error}"
    assert (error.code, error.clause) == (code, clause), str(error)
    assert error.message.strip() and "\n" not in error.message
    if db is not None:
        assert audit.verify(db).entries == before, f"{code} wrote to the audit log"
    return error


def cps(db: Database, version: str = "1", proposed_on: date = MEETING_DAY) -> str:
    return governance.propose_cps_approval(
        db, document=CpsDocument.DEVICE, version=version, proposed_on=proposed_on, actor="dcc"
    ).reference


# input the code cannot understand (no database involved)


@pytest.mark.parametrize(
    ("parse", "text", "code"),
    [
        (PersonKind.parse, "company", "pma.person_kind"),
        (Office.parse, "treasurer", "pma.office_unknown"),
        (Capacity.parse, "observer", "pma.capacity"),
        (EndReason.parse, "replaced", "pma.end_reason"),  # replacement is replace_nominee's (L1.10)
        (DecisionKind.parse, "budget", "pma.decision_kind"),
        (VoteChoice.parse, "maybe", "pma.vote_choice"),
        (CpsDocument.parse, "root", "pma.cps_document"),
        (RecoveryRequirement.parse, "both", "pma.recovery_requirement"),
    ],
)
def test_words_that_are_not_pma_values_are_refused(parse: Callable[[str], Any], text: str, code: str) -> None:
    error = refused(None, InvalidInput, code, None, lambda: parse(text))
    assert text in error.message


# persons


def test_person_refusals(database: Database) -> None:
    refused(database, InvalidInput, "pma.person_name", None, lambda: person(database, "   "))
    refused(database, InvalidInput, "pma.person_name", None, lambda: person(database, "x" * 201))
    refused(
        database, InvalidInput, "pma.person_unknown", None, lambda: governance.find_person(database, "#99")
    )
    refused(
        database, InvalidInput, "pma.person_unknown", None, lambda: governance.find_person(database, "Nobody")
    )
    refused(
        database, InvalidInput, "pma.person_unknown", None, lambda: appoint(database, 99, Office.SPECIALIST)
    )
    twins = person(database, "Twin"), person(database, "Twin")
    error = refused(
        database, InvalidInput, "pma.person_ambiguous", None, lambda: governance.find_person(database, "Twin")
    )
    assert all(f"#{twin}" in error.message for twin in twins)
    refused(
        database,
        InvalidInput,
        "pma.office_has_seats",
        None,
        lambda: governance.holder_on(database, Office.SUPPLIER_LARGE, START),
    )


# appointments (L1.3-L1.10)


def test_appointment_refusals(database: Database) -> None:
    body = person(database, "Acme Ltd", PersonKind.BODY_CORPORATE)
    refused(
        database, PolicyRefusal, "pma.not_individual", "L1.4", lambda: appoint(database, body, Office.SSC)
    )
    alice = person(database, "Alice")

    def appoint_alice(office: Office, **options: Any) -> governance.Holding:
        return governance.appoint(
            database, person_id=alice, office=office, starts_on=START, actor="secretariat", **options
        )

    refused(
        database,
        InvalidInput,
        "pma.by_panel",
        None,
        lambda: appoint_alice(Office.SUPPLIER_LARGE, by_panel=True, member_confirmation=True),
    )
    refused(
        database,
        PolicyRefusal,
        "pma.chair_independence",
        "L1.5(a)",
        lambda: appoint_alice(Office.CHAIR, member_confirmation=True),
    )
    confirmation = {
        Office.CHAIR: "L1.5(d)",
        Office.SUPPLIER_LARGE: "L1.6(a)",
        Office.SUPPLIER_SMALL: "L1.6(a)",
        Office.NETWORK_ELECTRICITY: "L1.8(a)",
        Office.NETWORK_GAS: "L1.8(a)",
        Office.SSC: "L1.10",
        Office.TABASC: "L1.10",
    }
    for office, clause in confirmation.items():
        refused(
            database,
            PolicyRefusal,
            "pma.member_confirmation",
            clause,
            partial(appoint_alice, office, independent=True),
        )
    refused(
        database,
        InvalidInput,
        "pma.continuation",
        None,
        lambda: appoint_alice(
            Office.CHAIR, member_confirmation=True, independent=True, continuation_months=25
        ),
    )

    appoint(database, alice, Office.SUPPLIER_LARGE)
    refused(
        database,
        PolicyRefusal,
        "pma.one_office",
        "L1.4",
        lambda: appoint(database, alice, Office.NETWORK_GAS, date(2026, 6, 1)),
    )
    gas, second_gas = person(database, "Gas"), person(database, "Second Gas")
    appoint(database, gas, Office.NETWORK_GAS)
    refused(
        database,
        PolicyRefusal,
        "pma.office_full",
        "L1.3",
        lambda: appoint(database, second_gas, Office.NETWORK_GAS, date(2026, 6, 1)),
    )

    # The Chair's nominated Alternate may not become a member while nominated (L1.12(b)).
    chair, nominee = person(database, "Chair"), person(database, "Nominee")
    appoint(database, chair, Office.CHAIR)
    governance.appoint_alternate(
        database,
        member_person_id=chair,
        alternate_person_id=nominee,
        starts_on=START,
        independent=True,
        actor="chair",
    )
    refused(
        database,
        PolicyRefusal,
        "pma.chair_alternate_member",
        "L1.12(b)",
        lambda: appoint(database, nominee, Office.SUPPLIER_SMALL, date(2026, 6, 1)),
    )


def test_ending_and_replacing_refusals(database: Database) -> None:
    gas, ssc, newcomer, outsider = (person(database, n) for n in ("Gas", "SSC", "Newcomer", "Outsider"))
    appoint(database, gas, Office.NETWORK_GAS)
    appoint(database, ssc, Office.SSC)
    later = date(2026, 6, 1)

    def end(person_id: int, on: date, reason: EndReason) -> governance.Holding:
        return governance.end_appointment(database, person_id=person_id, on=on, reason=reason, actor="s")

    refused(database, InvalidInput, "pma.end_reason", None, lambda: end(gas, later, EndReason.REPLACED))
    refused(
        database, InvalidInput, "pma.not_a_member", None, lambda: end(outsider, later, EndReason.RESIGNED)
    )
    refused(database, InvalidInput, "pma.end_before_start", None, lambda: end(gas, START, EndReason.RESIGNED))
    refused(
        database, PolicyRefusal, "pma.replace_not_remove", "L1.10", lambda: end(ssc, later, EndReason.REMOVED)
    )

    def replace(office: Office, person_id: int, on: date, notice_given_on: date) -> governance.Holding:
        return governance.replace_nominee(
            database,
            office=office,
            person_id=person_id,
            on=on,
            notice_given_on=notice_given_on,
            actor="ssc",
            member_confirmation=True,
        )

    refused(
        database,
        PolicyRefusal,
        "pma.not_nominated_office",
        "L1.10",
        lambda: replace(Office.NETWORK_GAS, newcomer, later, START),
    )
    refused(
        database,
        PolicyRefusal,
        "pma.prior_notice",
        "L1.10",
        lambda: replace(Office.SSC, newcomer, later, date(2026, 6, 2)),
    )
    refused(database, InvalidInput, "pma.same_nominee", None, lambda: replace(Office.SSC, ssc, later, START))
    refused(
        database,
        InvalidInput,
        "pma.end_before_start",
        None,
        lambda: replace(Office.SSC, newcomer, START, START),
    )


def test_alternate_appointment_refusals(database: Database) -> None:
    ids = constitute(database)
    outsider, nominee = person(database, "Outsider"), person(database, "Nominee")
    body = person(database, "Acme Ltd", PersonKind.BODY_CORPORATE)

    def alternate(
        member: int, alt: int, starts_on: date = START, ends_on: date | None = None, independent: bool = False
    ) -> governance.AlternateAppointment:
        return governance.appoint_alternate(
            database,
            member_person_id=member,
            alternate_person_id=alt,
            starts_on=starts_on,
            ends_on=ends_on,
            independent=independent,
            actor="member",
        )

    refused(
        database,
        InvalidInput,
        "pma.alternate_interval",
        None,
        lambda: alternate(ids["Gas"], nominee, START, START),
    )
    refused(database, PolicyRefusal, "pma.not_a_member", "L1.12", lambda: alternate(outsider, nominee))
    refused(database, InvalidInput, "pma.alternate_self", None, lambda: alternate(ids["Gas"], ids["Gas"]))
    refused(database, PolicyRefusal, "pma.not_individual", "L1.4", lambda: alternate(ids["Gas"], body))
    refused(
        database,
        PolicyRefusal,
        "pma.chair_alternate_member",
        "L1.12(b)",
        lambda: alternate(ids["Chair"], ids["Gas"], independent=True),
    )
    refused(
        database,
        PolicyRefusal,
        "pma.chair_alternate_independence",
        "L1.12(b)",
        lambda: alternate(ids["Chair"], nominee),
    )
    alternate(ids["Gas"], outsider)
    refused(
        database,
        PolicyRefusal,
        "pma.one_alternate",
        "L1.12",
        lambda: alternate(ids["Gas"], nominee, date(2026, 2, 1)),
    )


# meetings and attendance (L1.12-L1.14)


def test_attendance_refusals(database: Database) -> None:
    ids = constitute(database)
    outsider, nominee, former = (
        person(database, "Outsider"),
        person(database, "Nominee"),
        person(database, "Former"),
    )
    governance.appoint_alternate(
        database,
        member_person_id=ids["Chair"],
        alternate_person_id=nominee,
        starts_on=START,
        independent=True,
        actor="chair",
    )
    ref = meeting_with(database, ids, ["Large 1", "Gas"])

    def attend(person_id: int, capacity: Capacity, for_member: int | None = None, meeting: str = ref) -> Any:
        return governance.attend(
            database,
            meeting=meeting,
            person_id=person_id,
            capacity=capacity,
            for_member=for_member,
            actor="s",
        )

    refused(
        database,
        InvalidInput,
        "pma.meeting_unknown",
        None,
        lambda: attend(ids["Small"], Capacity.MEMBER, meeting="PMA-M-1999-0001"),
    )
    refused(database, InvalidInput, "pma.person_unknown", None, lambda: attend(999, Capacity.MEMBER))
    refused(
        database,
        InvalidInput,
        "pma.for_member",
        None,
        lambda: attend(ids["Small"], Capacity.MEMBER, ids["Gas"]),
    )
    refused(database, InvalidInput, "pma.for_member", None, lambda: attend(outsider, Capacity.ALTERNATE))
    refused(database, PolicyRefusal, "pma.not_a_member", "L1.3", lambda: attend(outsider, Capacity.MEMBER))
    refused(
        database,
        PolicyRefusal,
        "pma.not_a_member",
        "L1.12",
        lambda: attend(outsider, Capacity.ALTERNATE, former),
    )
    refused(
        database,
        PolicyRefusal,
        "pma.member_present",
        "L1.12",
        lambda: attend(outsider, Capacity.ALTERNATE, ids["Gas"]),
    )
    refused(
        database,
        InvalidInput,
        "pma.specialist_sits_as_member",
        None,
        lambda: attend(ids["Specialist"], Capacity.ALTERNATE, ids["Chair"]),
    )
    refused(
        database,
        PolicyRefusal,
        "pma.chair_alternate_member",
        "L1.12(b)",
        lambda: attend(ids["Small"], Capacity.ALTERNATE, ids["Chair"]),
    )
    refused(
        database,
        PolicyRefusal,
        "pma.not_alternate",
        "L1.12(b)",
        lambda: attend(outsider, Capacity.ALTERNATE, ids["Chair"]),
    )
    refused(
        database,
        PolicyRefusal,
        "pma.not_alternate",
        "L1.12",
        lambda: attend(outsider, Capacity.ALTERNATE, ids["Electricity"]),
    )
    refused(
        database, InvalidInput, "pma.already_attending", None, lambda: attend(ids["Gas"], Capacity.MEMBER)
    )
    attend(ids["Specialist"], Capacity.MEMBER)
    refused(
        database,
        PolicyRefusal,
        "pma.specialist_available",
        "L1.12(b)",
        lambda: attend(nominee, Capacity.ALTERNATE, ids["Chair"]),
    )
    governance.close_meeting(database, meeting=ref, actor="s")
    refused(database, InvalidInput, "pma.meeting_closed", None, lambda: attend(ids["Small"], Capacity.MEMBER))
    refused(
        database,
        InvalidInput,
        "pma.meeting_closed",
        None,
        lambda: governance.close_meeting(database, meeting=ref, actor="s"),
    )
    refused(
        database, InvalidInput, "pma.meeting_unknown", None, lambda: governance.quorum(database, "PMA-M-9")
    )
    refused(
        database,
        InvalidInput,
        "pma.meeting_unknown",
        None,
        lambda: governance.get_meeting(database, "PMA-M-9"),
    )


# proposals


def test_proposal_refusals(database: Database) -> None:
    def validity(**options: Any) -> governance.Decision:
        return governance.propose_organisation_validity(
            database,
            role=RemotePartyRole.WAN_PROVIDER,
            entity_id=WAN,
            proposed_on=MEETING_DAY,
            actor="dcc",
            **options,
        )

    refused(database, InvalidInput, "pma.validity", None, validity)
    refused(
        database,
        InvalidInput,
        "pma.validity",
        None,
        lambda: validity(validity_years=15, not_after=datetime(2040, 1, 1, tzinfo=UTC)),
    )
    refused(database, InvalidInput, "pma.validity", None, lambda: validity(validity_years=51))
    refused(database, InvalidInput, "pma.validity", None, lambda: validity(validity_years=0))
    refused(
        database,
        InvalidInput,
        "pma.ssc_views",
        None,
        lambda: validity(validity_years=15, ssc_views_on=MEETING_DAY),
    )
    refused(
        database,
        PolicyRefusal,
        "pma.key_reuse_role",
        "L11.4B(b)",
        lambda: governance.propose_key_reuse(
            database, role=RemotePartyRole.SUPPLIER, entity_id=WAN, proposed_on=MEETING_DAY, actor="dcc"
        ),
    )
    refused(
        database,
        InvalidInput,
        "pma.public_key_sha256",
        None,
        lambda: governance.propose_key_reuse(
            database,
            role=RemotePartyRole.WAN_PROVIDER,
            entity_id=WAN,
            proposed_on=MEETING_DAY,
            actor="dcc",
            public_key_sha256="ab" * 31,
        ),
    )
    refused(
        database,
        InvalidInput,
        "pma.public_key_sha256",
        None,
        lambda: governance.propose_cps_approval(
            database,
            document=CpsDocument.IKI,
            version="2",
            proposed_on=MEETING_DAY,
            actor="dcc",
            document_sha256="not hex",
        ),
    )
    refused(
        database,
        InvalidInput,
        "pma.cps_version",
        None,
        lambda: governance.propose_cps_approval(
            database, document=CpsDocument.IKI, version="  ", proposed_on=MEETING_DAY, actor="dcc"
        ),
    )

    def recovery(incident: str, dcc_notified_on: date) -> governance.Decision:
        return governance.propose_recovery_key(
            database,
            incident=incident,
            requirement=RecoveryRequirement.RECOVERY_PRIVATE_KEY,
            dcc_notified_on=dcc_notified_on,
            proposed_on=MEETING_DAY,
            actor="dcc",
        )

    refused(database, InvalidInput, "pma.incident", None, lambda: recovery(" ", MEETING_DAY))
    refused(database, InvalidInput, "pma.dcc_notified_on", None, lambda: recovery("INC-1", date(2026, 3, 3)))

    ref = cps(database)
    refused(
        database,
        InvalidInput,
        "pma.ssc_views",
        None,
        lambda: governance.record_ssc_views(
            database, reference=ref, views=" ", received_on=MEETING_DAY, actor="s"
        ),
    )
    refused(
        database,
        InvalidInput,
        "pma.decision_unknown",
        None,
        lambda: governance.record_ssc_views(
            database, reference="PMA-1999-0001", views="fine", received_on=MEETING_DAY, actor="s"
        ),
    )
    refused(
        database,
        InvalidInput,
        "pma.decision_unknown",
        None,
        lambda: governance.get_decision(database, "PMA-1999-0001"),
    )
    governance.withdraw(database, reference=ref, actor="dcc")
    refused(
        database,
        InvalidInput,
        "pma.not_proposed",
        None,
        lambda: governance.withdraw(database, reference=ref, actor="dcc"),
    )
    refused(
        database,
        InvalidInput,
        "pma.not_proposed",
        None,
        lambda: governance.record_ssc_views(
            database, reference=ref, views="fine", received_on=MEETING_DAY, actor="s"
        ),
    )


def test_a_missing_approval_cites_the_clause_that_needs_it(database: Database) -> None:
    clauses = {
        DecisionKind.ORGANISATION_VALIDITY: "Appendix B 6.3.2(A)(i)",
        DecisionKind.KEY_REUSE: "L11.4B(a)",
        DecisionKind.CPS_APPROVAL: "L1.17(a)",
        DecisionKind.RECOVERY_KEY: "L1.17(i)",
    }
    for kind, clause in clauses.items():
        refused(
            database,
            PolicyRefusal,
            "pma.no_approval",
            clause,
            partial(
                governance.require_approval, database, kind, role=RemotePartyRole.WAN_PROVIDER, entity_id=WAN
            ),
        )
    refused(
        database,
        InvalidInput,
        "pma.public_key_sha256",
        None,
        lambda: governance.require_approval(
            database,
            DecisionKind.KEY_REUSE,
            role=RemotePartyRole.WAN_PROVIDER,
            entity_id=WAN,
            public_key_sha256="xyz",
        ),
    )


# deciding (L1.13-L1.15, and the SSC's views the gated clauses require)


def test_decision_refusals(database: Database) -> None:
    ids = constitute(database)
    dcc, adviser = person(database, "DCC rep"), person(database, "Legal adviser")
    proposal = cps(database)

    def decide(meeting: str, votes: dict[int, VoteChoice], reference: str = proposal, **options: Any) -> Any:
        return governance.decide(
            database, meeting=meeting, reference=reference, votes=votes, actor="s", **options
        )

    thin = meeting_with(database, ids, ["Chair", "Large 1", "Gas"])
    error = refused(database, PolicyRefusal, "pma.quorum", "L1.13", lambda: decide(thin, {ids["Gas"]: FOR}))
    assert "3 member(s) sit where 4 are needed" in error.message
    chairless = meeting_with(database, ids, ["Large 1", "Large 2", "Large 3", "Gas"])
    error = refused(
        database, PolicyRefusal, "pma.quorum", "L1.13", lambda: decide(chairless, {ids["Gas"]: FOR})
    )
    assert "neither the Chair nor the Chair's Alternate is present" in error.message

    ref = meeting_with(database, ids, ["Chair", "Large 1", "Large 2", "Gas"])
    governance.attend(database, meeting=ref, person_id=dcc, capacity=Capacity.DCC, actor="s")
    governance.attend(database, meeting=ref, person_id=adviser, capacity=Capacity.INVITEE, actor="s")
    refused(
        database,
        InvalidInput,
        "pma.meeting_unknown",
        None,
        lambda: decide("PMA-M-1999-0001", {ids["Gas"]: FOR}),
    )
    refused(
        database,
        InvalidInput,
        "pma.decision_unknown",
        None,
        lambda: decide(ref, {ids["Gas"]: FOR}, reference="PMA-1999-0001"),
    )
    refused(database, InvalidInput, "pma.no_votes", None, lambda: decide(ref, {}))
    refused(
        database, PolicyRefusal, "pma.no_vote", "L1.14(a)", lambda: decide(ref, {ids["Gas"]: FOR, dcc: FOR})
    )
    refused(
        database,
        PolicyRefusal,
        "pma.no_vote",
        "L1.14(b)",
        lambda: decide(ref, {ids["Gas"]: FOR, adviser: FOR}),
    )
    refused(
        database,
        PolicyRefusal,
        "pma.not_sitting",
        "L1.15",
        lambda: decide(ref, {ids["Gas"]: FOR, ids["TABASC"]: FOR}),
    )
    refused(
        database,
        PolicyRefusal,
        "pma.chair_casting_only",
        "L1.15",
        lambda: decide(ref, {ids["Gas"]: FOR, ids["Chair"]: FOR}),
    )
    refused(
        database,
        InvalidInput,
        "pma.casting_without_tie",
        None,
        lambda: decide(ref, {ids["Gas"]: FOR, ids["Large 1"]: FOR}, casting_vote=FOR),
    )
    late = cps(database, "2", proposed_on=date(2026, 3, 3))
    refused(
        database,
        InvalidInput,
        "pma.decided_before_proposed",
        None,
        lambda: decide(ref, {ids["Gas"]: FOR}, reference=late),
    )
    refused(
        database,
        InvalidInput,
        "pma.not_approved",
        None,
        lambda: governance.revoke(
            database, meeting=ref, reference=proposal, votes={ids["Gas"]: FOR}, actor="s"
        ),
    )
    decide(ref, {ids["Gas"]: FOR, ids["Large 1"]: FOR, ids["Large 2"]: AGAINST})
    refused(database, InvalidInput, "pma.not_proposed", None, lambda: decide(ref, {ids["Gas"]: FOR}))

    # The SSC's views must be recorded, and dated no later than the meeting, before approval.
    for kind, clause in (
        (DecisionKind.ORGANISATION_VALIDITY, "Appendix B 6.3.2(A)(i)"),
        (DecisionKind.KEY_REUSE, "L11.4B(a)"),
    ):
        propose = (
            governance.propose_organisation_validity
            if kind is DecisionKind.ORGANISATION_VALIDITY
            else governance.propose_key_reuse
        )
        without = propose(
            database,
            role=RemotePartyRole.WAN_PROVIDER,
            entity_id=WAN,
            proposed_on=MEETING_DAY,
            actor="dcc",
            validity_years=15,
        ).reference
        after = propose(
            database,
            role=RemotePartyRole.WAN_PROVIDER,
            entity_id=WAN,
            proposed_on=MEETING_DAY,
            actor="dcc",
            validity_years=15,
            ssc_views="No objection.",
            ssc_views_on=date(2026, 3, 9),
        ).reference
        for reference in (without, after):
            refused(
                database,
                PolicyRefusal,
                "pma.ssc_views_required",
                clause,
                partial(decide, ref, {ids["Gas"]: FOR, ids["Large 1"]: FOR}, reference=reference),
            )
    governance.close_meeting(database, meeting=ref, actor="s")
    refused(database, InvalidInput, "pma.meeting_closed", None, lambda: decide(ref, {ids["Gas"]: FOR}))


# every governance code has a test


_RAISERS = {"InvalidInput", "PolicyRefusal", "SmkiError"}
_GOVERNANCE_SRC = Path(__file__).resolve().parents[1] / "src" / "smki" / "governance"


def _raised_in_src() -> dict[str, set[str | None]]:
    """code -> the literal clauses it is raised with in src/smki/governance (None: no clause given;
    a clause computed at run time is not listed, EXPECTED names it)."""
    found: dict[str, set[str | None]] = {}
    for path in sorted(_GOVERNANCE_SRC.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (
                isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _RAISERS
            ):
                continue
            first = node.args[0] if node.args else None
            assert isinstance(first, ast.Constant) and isinstance(first.value, str), (
                f"{path.name}:{node.lineno}: the code of a refusal must be a literal string"
            )
            clauses = found.setdefault(first.value, set())
            clause = node.args[2] if len(node.args) > 2 else None
            if clause is None:
                if node.func.id == "InvalidInput":
                    clauses.add(None)
            elif isinstance(clause, ast.Constant) and isinstance(clause.value, str):
                clauses.add(clause.value)
    return found


def test_every_governance_refusal_code_is_expected_and_provoked() -> None:
    raised = _raised_in_src()
    assert sorted(set(raised) - set(EXPECTED)) == [], "codes raised in src/smki/governance with no test"
    assert sorted(set(EXPECTED) - set(raised)) == [], (
        "EXPECTED names codes src/smki/governance no longer raises"
    )
    for code, clauses in raised.items():
        assert clauses <= EXPECTED[code], f"{code} is raised citing {clauses - EXPECTED[code]}, not expected"
    # Each expected code is provoked by a test: it appears in the tests outside the EXPECTED table.
    this = Path(__file__).read_text(encoding="utf-8")
    table_start = this.index("EXPECTED: dict[")
    body = this[:table_start] + this[this.index("\n}\n", table_start) :]
    others = "".join(p.read_text(encoding="utf-8") for p in Path(__file__).parent.glob("test_governance*.py"))
    missing = [
        code for code in EXPECTED if f'"{code}"' not in body and f'"{code}"' not in others.replace(this, "")
    ]
    assert missing == [], f"codes with no refusal test: {missing}"
    # Each expected clause is asserted somewhere in this module's tests.
    for code, clauses in EXPECTED.items():
        for clause in clauses:
            if clause is not None:
                assert f'"{clause}"' in body, f"{code} citing {clause} has no refusal test"
