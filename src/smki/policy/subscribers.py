"""Authorised Subscribers (L3.2-L3.14): who may apply, and how an application and an authorisation move on.

The lifecycle, per person and Certificate Policy, is a small table of transitions; every move cites the
clause that allows it. Pure: the ``ra`` package stores the status and audits each move.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from smki.model import Hierarchy, PolicyRefusal
from smki.policy.parties import Party, PartyType

POLICY_TITLES = {
    Hierarchy.DEVICE: "Device Certificate Policy",
    Hierarchy.ORGANISATION: "Organisation Certificate Policy",
    Hierarchy.IKI: "IKI Certificate Policy",
}


class SubscriberStatus(enum.Enum):
    """Where a person stands under one Certificate Policy."""

    APPLIED = "applied"  # L3.2: application made, awaiting the DCC
    AUTHORISED = "authorised"  # L3.3 or L3.9(b)
    REFUSED = "refused"  # L3.8: the DCC notified that the criteria are not met
    REFERRED = "referred"  # L3.8 / L3.14(a): referred to the Panel
    PANEL_REFUSED = "panel-refused"  # L3.9(a), final and binding (L3.10)
    CEASED = "ceased"  # L3.13(b): no longer an Authorised Subscriber


class SubscriberEvent(enum.Enum):
    """What can happen to an application or an authorisation."""

    APPLY = "apply"
    DCC_AUTHORISES = "dcc-authorises"
    DCC_REFUSES = "dcc-refuses"
    REFER_TO_PANEL = "refer-to-panel"
    PANEL_FINDS_CRITERIA_MET = "panel-finds-criteria-met"
    PANEL_FINDS_CRITERIA_NOT_MET = "panel-finds-criteria-not-met"
    NOTIFY_CHANGE = "notify-change"
    DCC_FINDS_CRITERIA_STILL_MET = "dcc-finds-criteria-still-met"
    DCC_FINDS_CRITERIA_NO_LONGER_MET = "dcc-finds-criteria-no-longer-met"


_NEW_APPLICATION_FROM = (
    None,
    SubscriberStatus.REFUSED,
    SubscriberStatus.REFERRED,
    SubscriberStatus.PANEL_REFUSED,
    SubscriberStatus.CEASED,
)


@dataclass(frozen=True, slots=True)
class Transition:
    """One allowed move of the lifecycle: from a status, on an event, to a status, under a clause."""

    before: SubscriberStatus | None
    event: SubscriberEvent
    after: SubscriberStatus
    clause: str


S = SubscriberStatus
E = SubscriberEvent

# The lifecycle as the seed lays it out, clause by clause.
LIFECYCLE: tuple[Transition, ...] = (
    # L3.2 / L3.11: a (new) application may be made at any time when not already applied or authorised.
    *(
        Transition(before, E.APPLY, S.APPLIED, "L3.11" if before else "L3.2")
        for before in _NEW_APPLICATION_FROM
    ),
    Transition(S.APPLIED, E.DCC_AUTHORISES, S.AUTHORISED, "L3.3"),
    Transition(S.APPLIED, E.DCC_REFUSES, S.REFUSED, "L3.8"),
    Transition(S.REFUSED, E.REFER_TO_PANEL, S.REFERRED, "L3.8"),
    Transition(S.CEASED, E.REFER_TO_PANEL, S.REFERRED, "L3.14(a)"),
    Transition(S.REFERRED, E.PANEL_FINDS_CRITERIA_MET, S.AUTHORISED, "L3.9(b)"),
    Transition(S.REFERRED, E.PANEL_FINDS_CRITERIA_NOT_MET, S.PANEL_REFUSED, "L3.10"),
    Transition(S.AUTHORISED, E.NOTIFY_CHANGE, S.AUTHORISED, "L3.12"),
    Transition(S.AUTHORISED, E.DCC_FINDS_CRITERIA_STILL_MET, S.AUTHORISED, "L3.13(a)"),
    Transition(S.AUTHORISED, E.DCC_FINDS_CRITERIA_NO_LONGER_MET, S.CEASED, "L3.13(b)"),
)
del S, E

_BY_KEY = {(t.before, t.event): t for t in LIFECYCLE}


def next_status(current: SubscriberStatus | None, event: SubscriberEvent) -> Transition:
    """The transition ``event`` makes from ``current``; refuse a move the lifecycle does not allow."""
    found = _BY_KEY.get((current, event))
    if found is not None:
        return found
    where = "no application" if current is None else f"status '{current.value}'"
    raise PolicyRefusal(
        f"subscriber.cannot_{event.value.replace('-', '_')}",
        f"'{event.value}' is not possible from {where}.",
        _clause_for(event),
    )


def _clause_for(event: SubscriberEvent) -> str:
    return {
        SubscriberEvent.APPLY: "L3.11",
        SubscriberEvent.DCC_AUTHORISES: "L3.3",
        SubscriberEvent.DCC_REFUSES: "L3.8",
        SubscriberEvent.REFER_TO_PANEL: "L3.8",
        SubscriberEvent.PANEL_FINDS_CRITERIA_MET: "L3.9",
        SubscriberEvent.PANEL_FINDS_CRITERIA_NOT_MET: "L3.10",
        SubscriberEvent.NOTIFY_CHANGE: "L3.12",
        SubscriberEvent.DCC_FINDS_CRITERIA_STILL_MET: "L3.13(a)",
        SubscriberEvent.DCC_FINDS_CRITERIA_NO_LONGER_MET: "L3.13(b)",
    }[event]


def check_may_apply(party: Party, policy: Hierarchy, *, entry_tests_completed: bool) -> str:
    """Refuse an application L3.2 does not allow; return the paragraph that allows it.

    (a) a Party that completed the SMKI and Repository Entry Process Tests for that policy; (b) an RDP that
    completed them for the Organisation Certificate Policy; (c) SECCo for the IKI Certificate Policy. The DCC
    runs the SMKI and takes no Entry Process Tests of its own (H14.22 tests Parties seeking to be Users).
    """
    title = POLICY_TITLES[policy]
    if party.party_type is PartyType.SECCO:
        if policy is Hierarchy.IKI:
            return "L3.2(c)"
        raise PolicyRefusal(
            "subscriber.secco_iki_only",
            "SECCo may apply to become an Authorised Subscriber under the IKI Certificate Policy only, "
            f"not the {title}.",
            "L3.2(c)",
        )
    if party.party_type is PartyType.RDP:
        if policy is not Hierarchy.ORGANISATION:
            raise PolicyRefusal(
                "subscriber.rdp_organisation_only",
                "A Registration Data Provider may apply under the Organisation Certificate Policy only, "
                f"not the {title}.",
                "L3.2(b)",
            )
        if not entry_tests_completed:
            raise PolicyRefusal(
                "subscriber.entry_tests_incomplete",
                "The RDP has not completed the SMKI and Repository Entry Process Tests for the "
                "Organisation Certificate Policy.",
                "L3.2(b)",
            )
        return "L3.2(b)"
    if party.party_type is PartyType.DCC:
        return "L3.2(a)"
    if not entry_tests_completed:
        raise PolicyRefusal(
            "subscriber.entry_tests_incomplete",
            f"The Party has not completed the SMKI and Repository Entry Process Tests for the {title}.",
            "L3.2(a)",
        )
    return "L3.2(a)"


def revocation_on_ceasing(policy: Hierarchy) -> str | None:
    """The clause under which a person's certificates are revoked when it ceases to be authorised, if any.

    Organisation Certificates are revoked (L3.14(b)). For IKI Certificates L3.14(c) defers to the IKI
    Certificate Policy, which the seed does not give: smki revokes them too (docs/decisions.md). Device
    Certificates are not revoked: they name Devices, not the Subscriber.
    """
    if policy is Hierarchy.ORGANISATION:
        return "L3.14(b)"
    if policy is Hierarchy.IKI:
        return "L3.14(c)"
    return None


def require_authorised(status: SubscriberStatus | None, policy: Hierarchy, party_id: str) -> None:
    """Refuse a request from a person that is not an Authorised Subscriber under ``policy`` (L3.4, L3.15)."""
    if status is SubscriberStatus.AUTHORISED:
        return
    now = "has never applied" if status is None else f"is '{status.value}'"
    raise PolicyRefusal(
        "subscriber.not_authorised",
        f"'{party_id}' is not an Authorised Subscriber under the {POLICY_TITLES[policy]} (it {now}).",
        "L3.15(b)",
    )
