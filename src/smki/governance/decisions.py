"""Decisions of the SMKI PMA that gate exceptions elsewhere: proposal, SSC views, vote, approval, revocation.

Kinds (each cites where the Code gives the PMA the power):
- organisation-validity: a Validity Period other than 10 years for an Organisation Certificate,
  approved "having taken into account the views of the Security Sub-Committee" (Appendix B 6.3.2(A)(i));
- key-reuse: an Organisation Certificate with the same Public Key as an existing one (L11.4A), approved
  having taken the SSC's views into account (L11.4B(a)), for four roles only (L11.4B(b));
- cps-approval: the Device, Organisation or IKI CPS and changes to them (L1.17(a));
- recovery-key: whether to require the Recovery or Contingency Private Key after a Compromise
  (L1.17(i), L10.10, L10.15-L10.16).

Votes (L1.15 applies Section C5, which is not among our seeds; see docs/decisions.md): each member other
than the Chair has one vote, cast in person or by an Alternate; a motion carries with more votes for than
against; on a tie the Chair (or the Chair's Alternate) may give a casting vote, and without one the
motion is not carried.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from smki import audit
from smki.governance.meetings import Quorum, open_meeting_in, quorum_in
from smki.governance.membership import person_in, utc_timestamp
from smki.governance.offices import QUORUM, Office
from smki.model import EntityId, InvalidInput, PolicyRefusal, RemotePartyRole
from smki.storage import Database, Transaction
from smki.storage import governance_store as store
from smki.storage.governance_store import DecisionRecord, MeetingRecord, VoteRecord

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class DecisionKind(enum.Enum):
    """What a decision is about; consumers ask for approvals of one kind."""

    ORGANISATION_VALIDITY = "organisation-validity"
    KEY_REUSE = "key-reuse"
    CPS_APPROVAL = "cps-approval"
    RECOVERY_KEY = "recovery-key"

    @classmethod
    def parse(cls, text: str) -> DecisionKind:
        """Accept the value (``key-reuse``) or the name (``KEY_REUSE``)."""
        t = text.strip().lower().replace("_", "-")
        for kind in cls:
            if kind.value == t:
                return kind
        raise InvalidInput(
            "pma.decision_kind",
            f"'{text}' is not a kind of PMA decision: use {', '.join(k.value for k in cls)}.",
        )

    @property
    def clause(self) -> str:
        """The clause that gives the PMA this decision (and that a missing approval cites)."""
        return _KIND_CLAUSE[self]


_KIND_CLAUSE = {
    DecisionKind.ORGANISATION_VALIDITY: "Appendix B 6.3.2(A)(i)",
    DecisionKind.KEY_REUSE: "L11.4B(a)",
    DecisionKind.CPS_APPROVAL: "L1.17(a)",
    DecisionKind.RECOVERY_KEY: "L1.17(i)",
}

# L11.4B(b): the only Remote Party Roles for which a Public Key may be re-used.
KEY_REUSE_ROLES = (
    RemotePartyRole.RECOVERY,
    RemotePartyRole.TRANSITIONAL_COS,
    RemotePartyRole.WAN_PROVIDER,
    RemotePartyRole.ACCESS_CONTROL_BROKER,
)


class DecisionStatus(enum.Enum):
    """Where a decision stands."""

    PROPOSED = "proposed"
    APPROVED = "approved"
    REFUSED = "refused"  # put to a quorate meeting and not carried
    REVOKED = "revoked"  # approved, then revoked by a later decision
    WITHDRAWN = "withdrawn"  # withdrawn before it was decided


class VoteChoice(enum.Enum):
    """A member's vote."""

    FOR = "for"
    AGAINST = "against"
    ABSTAIN = "abstain"

    @classmethod
    def parse(cls, text: str) -> VoteChoice:
        """Accept for, against or abstain."""
        t = text.strip().lower()
        for choice in cls:
            if choice.value == t:
                return choice
        raise InvalidInput("pma.vote_choice", f"'{text}' is not a vote: use for, against or abstain.")


class CpsDocument(enum.Enum):
    """The Certification Practice Statements the PMA approves (L1.17(a))."""

    DEVICE = "device-cps"
    ORGANISATION = "organisation-cps"
    IKI = "iki-cps"

    @classmethod
    def parse(cls, text: str) -> CpsDocument:
        """Accept device, organisation or iki (with or without ``-cps``)."""
        t = text.strip().lower().removesuffix("-cps").removesuffix(" cps")
        for doc in cls:
            if doc.value == f"{t}-cps":
                return doc
        raise InvalidInput(
            "pma.cps_document", f"'{text}' is not a CPS the PMA approves: use device, organisation or iki."
        )


class RecoveryRequirement(enum.Enum):
    """What the PMA decides after a (suspected) Compromise of a Relevant Private Key (L1.17(i))."""

    RECOVERY_PRIVATE_KEY = "recovery-private-key"
    CONTINGENCY_PRIVATE_KEY = "contingency-private-key"  # with the Contingency Symmetric Key
    NEITHER = "neither"

    @classmethod
    def parse(cls, text: str) -> RecoveryRequirement:
        """Accept recovery, contingency or neither (with or without ``-private-key``)."""
        t = text.strip().lower().removesuffix("-private-key")
        table = {
            "recovery": cls.RECOVERY_PRIVATE_KEY,
            "contingency": cls.CONTINGENCY_PRIVATE_KEY,
            "neither": cls.NEITHER,
            "none": cls.NEITHER,
        }
        if t not in table:
            raise InvalidInput(
                "pma.recovery_requirement",
                f"'{text}' is not a requirement: use recovery, contingency or neither.",
            )
        return table[t]


@dataclass(frozen=True, slots=True)
class Vote:
    """One recorded vote."""

    motion: str  # approve or revoke
    office: Office
    member: str
    cast_by: str
    choice: VoteChoice
    casting: bool


@dataclass(frozen=True, slots=True)
class Decision:
    """A matter put to the PMA and where it stands."""

    reference: str
    kind: DecisionKind
    status: DecisionStatus
    role: RemotePartyRole | None
    entity_id: EntityId | None
    proposed_on: date
    decided_on: date | None
    meeting: str | None
    not_after: datetime | None
    validity_years: int | None
    public_key_sha256: str | None
    content: dict[str, Any]
    votes: tuple[Vote, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        """JSON shape for ``--json`` outputs."""
        return {
            "reference": self.reference,
            "kind": self.kind.value,
            "status": self.status.value,
            "role": self.role.name or self.role.code if self.role else None,
            "entity_id": self.entity_id.dashed if self.entity_id else None,
            "proposed_on": self.proposed_on.isoformat(),
            "decided_on": self.decided_on.isoformat() if self.decided_on else None,
            "meeting": self.meeting,
            "not_after": _iso(self.not_after),
            "validity_years": self.validity_years,
            "public_key_sha256": self.public_key_sha256,
            "content": self.content,
            "votes": [
                {
                    "motion": v.motion,
                    "office": v.office.value,
                    "member": v.member,
                    "cast_by": v.cast_by,
                    "choice": v.choice.value,
                    "casting": v.casting,
                }
                for v in self.votes
            ],
        }


@dataclass(frozen=True)
class Approval:
    """An approved decision, as the RA and the recovery code consume it."""

    reference: str
    kind: DecisionKind
    role: RemotePartyRole | None
    entity_id: EntityId | None
    decided_on: date
    not_after: datetime | None
    validity_years: int | None
    public_key_sha256: str | None
    content: dict[str, Any]


# proposals


def propose_organisation_validity(
    db: Database,
    *,
    role: RemotePartyRole,
    entity_id: EntityId,
    proposed_on: date,
    actor: str,
    not_after: datetime | None = None,
    validity_years: int | None = None,
    ssc_views: str | None = None,
    ssc_views_on: date | None = None,
    note: str | None = None,
) -> Decision:
    """Propose a Validity Period other than 10 years for one subject's Organisation Certificate
    (Appendix B 6.3.2(A)(i)); give the approved ``not_after`` or ``validity_years``."""
    not_after, validity_years = _validity(not_after, validity_years, required=True)
    content = {
        "clause": "Appendix B 6.3.2(A)(i)",
        "role": _role_name(role),
        "role_code": role.code,
        "entity_id": entity_id.dashed,
        "not_after": _iso(not_after),
        "validity_years": validity_years,
        "note": note,
    }
    return _propose(
        db,
        DecisionKind.ORGANISATION_VALIDITY,
        content,
        proposed_on=proposed_on,
        actor=actor,
        role=role,
        entity_id=entity_id,
        not_after=not_after,
        validity_years=validity_years,
        ssc_views=ssc_views,
        ssc_views_on=ssc_views_on,
    )


def propose_key_reuse(
    db: Database,
    *,
    role: RemotePartyRole,
    entity_id: EntityId,
    proposed_on: date,
    actor: str,
    public_key_sha256: str | None = None,
    not_after: datetime | None = None,
    validity_years: int | None = None,
    ssc_views: str | None = None,
    ssc_views_on: date | None = None,
    note: str | None = None,
) -> Decision:
    """Propose that the DCC may Issue an Organisation Certificate with an existing Public Key (L11.4A).

    Refused at once for a role other than recovery, transitionalCoS, wanProvider or accessControlBroker
    (L11.4B(b)). ``public_key_sha256``: the SHA-256 of the SubjectPublicKeyInfo DER, in hex.
    """
    _check_key_reuse_role(role)
    key = _sha256(public_key_sha256) if public_key_sha256 is not None else None
    not_after, validity_years = _validity(not_after, validity_years, required=False)
    content = {
        "clause": "L11.4A",
        "role": _role_name(role),
        "role_code": role.code,
        "entity_id": entity_id.dashed,
        "public_key_sha256": key,
        "not_after": _iso(not_after),
        "validity_years": validity_years,
        "note": note,
    }
    return _propose(
        db,
        DecisionKind.KEY_REUSE,
        content,
        proposed_on=proposed_on,
        actor=actor,
        role=role,
        entity_id=entity_id,
        public_key_sha256=key,
        not_after=not_after,
        validity_years=validity_years,
        ssc_views=ssc_views,
        ssc_views_on=ssc_views_on,
    )


def propose_cps_approval(
    db: Database,
    *,
    document: CpsDocument,
    version: str,
    proposed_on: date,
    actor: str,
    document_sha256: str | None = None,
    note: str | None = None,
) -> Decision:
    """Propose approval of a Certification Practice Statement or a change to it (L1.17(a))."""
    if not version.strip():
        raise InvalidInput("pma.cps_version", "Name the version of the CPS to approve.")
    content = {
        "clause": "L1.17(a)",
        "document": document.value,
        "version": version.strip(),
        "document_sha256": _sha256(document_sha256) if document_sha256 is not None else None,
        "note": note,
    }
    return _propose(db, DecisionKind.CPS_APPROVAL, content, proposed_on=proposed_on, actor=actor)


def propose_recovery_key(
    db: Database,
    *,
    incident: str,
    requirement: RecoveryRequirement,
    dcc_notified_on: date,
    proposed_on: date,
    actor: str,
    guidance_version: str | None = None,
    evidence: str | None = None,
    note: str | None = None,
) -> Decision:
    """Propose the decision whether to require the Recovery or Contingency Private Key after the DCC
    notified a (suspected) Compromise of a Relevant Private Key (L1.17(i), L10.10(a)).

    ``evidence``: for a decision not to require either key, the evidence of L10.16(b) (attempts to
    replace Device Security Credentials, or why they were not feasible); with it, an approval is a
    Recovery Event under L10.16; a decision to require a key is one under L10.15.
    """
    if not incident.strip():
        raise InvalidInput("pma.incident", "Name the Compromise incident the decision is about.")
    if dcc_notified_on > proposed_on:
        raise InvalidInput("pma.dcc_notified_on", "The DCC's notification cannot come after the proposal.")
    if requirement is RecoveryRequirement.NEITHER:
        recovery_event = "L10.16" if evidence else None
    else:
        recovery_event = "L10.15"
    content = {
        "clause": "L1.17(i)",
        "incident": incident.strip(),
        "requirement": requirement.value,
        "dcc_notified_on": dcc_notified_on.isoformat(),
        "guidance_version": guidance_version,
        "evidence": evidence,
        "recovery_event": recovery_event,
        "note": note,
    }
    return _propose(db, DecisionKind.RECOVERY_KEY, content, proposed_on=proposed_on, actor=actor)


def record_ssc_views(db: Database, *, reference: str, views: str, received_on: date, actor: str) -> Decision:
    """Record the Security Sub-Committee's views on a proposal, for the PMA to take into account."""
    if not views.strip():
        raise InvalidInput("pma.ssc_views", "The SSC's views must be stated, not left blank.")
    with db.transaction() as tx:
        store.serialise_writes(tx)
        row = _decision_in(tx, reference, lock=True)
        if row.status != DecisionStatus.PROPOSED.value:
            raise InvalidInput(
                "pma.not_proposed", f"{row.reference} is {row.status}, not awaiting a decision."
            )
        content = json.loads(row.content)
        content.update({"ssc_views": views.strip(), "ssc_views_on": received_on.isoformat()})
        row = store.set_ssc_views(
            tx, row.id, views=views.strip(), received_on=received_on, content=_json(content)
        )
        audit.record(
            tx,
            actor=actor,
            action="pma.decision.ssc_views",
            object_type="pma.decision",
            object_id=row.reference,
            details={"received_on": received_on.isoformat(), "views": row.ssc_views},
        )
        return _decision(tx, row)


def withdraw(db: Database, *, reference: str, actor: str, reason: str | None = None) -> Decision:
    """Withdraw a proposal before it is decided."""
    with db.transaction() as tx:
        store.serialise_writes(tx)
        row = _decision_in(tx, reference, lock=True)
        if row.status != DecisionStatus.PROPOSED.value:
            raise InvalidInput(
                "pma.not_proposed", f"{row.reference} is {row.status}, not awaiting a decision."
            )
        row = store.set_decision_status(tx, row.id, DecisionStatus.WITHDRAWN.value)
        audit.record(
            tx,
            actor=actor,
            action="pma.decision.withdraw",
            object_type="pma.decision",
            object_id=row.reference,
            details={"reason": reason},
        )
        return _decision(tx, row)


def _propose(
    db: Database,
    kind: DecisionKind,
    content: dict[str, Any],
    *,
    proposed_on: date,
    actor: str,
    role: RemotePartyRole | None = None,
    entity_id: EntityId | None = None,
    public_key_sha256: str | None = None,
    not_after: datetime | None = None,
    validity_years: int | None = None,
    ssc_views: str | None = None,
    ssc_views_on: date | None = None,
) -> Decision:
    if ssc_views is not None and not ssc_views.strip():
        ssc_views = None
    if ssc_views is not None:
        ssc_views = ssc_views.strip()
        ssc_views_on = ssc_views_on or proposed_on
        content = {**content, "ssc_views": ssc_views, "ssc_views_on": ssc_views_on.isoformat()}
    elif ssc_views_on is not None:
        raise InvalidInput(
            "pma.ssc_views", "A date for the SSC's views was given without the views themselves."
        )
    with db.transaction() as tx:
        store.serialise_writes(tx)
        prefix = f"PMA-{proposed_on.year}-"
        reference = f"{prefix}{store.next_number(tx, prefix):04d}"
        row = store.add_decision(
            tx,
            reference=reference,
            kind=kind.value,
            status=DecisionStatus.PROPOSED.value,
            role_code=role.code if role else None,
            entity_id=entity_id.compact if entity_id else None,
            public_key_sha256=public_key_sha256,
            not_after=_iso(not_after),
            validity_years=validity_years,
            content=_json(content),
            ssc_views=ssc_views,
            ssc_views_on=ssc_views_on if ssc_views else None,
            proposed_on=proposed_on,
            created_at=utc_timestamp(),
        )
        audit.record(
            tx,
            actor=actor,
            action="pma.decision.propose",
            object_type="pma.decision",
            object_id=reference,
            details={"kind": kind.value, "proposed_on": proposed_on.isoformat(), "content": content},
        )
        return _decision(tx, row)


# deciding


def decide(
    db: Database,
    *,
    meeting: str,
    reference: str,
    votes: Mapping[int, VoteChoice],
    actor: str,
    casting_vote: VoteChoice | None = None,
) -> Decision:
    """Put a proposal to a quorate meeting and record every vote; approve it when the motion carries.

    ``votes`` maps the person casting (a member present, or an Alternate sitting for one) to the vote;
    it counts once for each member that person represents, except the Chair, who has only the casting
    vote on a tie (``casting_vote``, given by the Chair or the Chair's Alternate).
    """
    with db.transaction() as tx:
        store.serialise_writes(tx)
        meeting_rec = open_meeting_in(tx, meeting)
        row = _decision_in(tx, reference, lock=True)
        if row.status != DecisionStatus.PROPOSED.value:
            raise InvalidInput(
                "pma.not_proposed", f"{row.reference} is {row.status}, not awaiting a decision."
            )
        if meeting_rec.held_on < row.proposed_on:
            raise InvalidInput(
                "pma.decided_before_proposed",
                f"{row.reference} was proposed on {row.proposed_on}, after the meeting.",
            )
        q = _require_quorum(tx, meeting_rec)
        carried, vote_rows = _tally(tx, q, meeting_rec, row, "approve", votes, casting_vote)
        kind = DecisionKind(row.kind)
        if carried:
            _check_approvable(kind, row, meeting_rec.held_on)
        store.add_votes(tx, vote_rows)
        row = store.set_decided(
            tx,
            row.id,
            status=(DecisionStatus.APPROVED if carried else DecisionStatus.REFUSED).value,
            decided_on=meeting_rec.held_on,
            meeting_id=meeting_rec.id,
        )
        audit.record(
            tx,
            actor=actor,
            action="pma.decision.decide",
            object_type="pma.decision",
            object_id=row.reference,
            details={
                "meeting": meeting_rec.reference,
                "status": row.status,
                "votes": _vote_details(vote_rows),
                "sitting": [p.id for p in q.sitting],
            },
        )
        return _decision(tx, row)


def revoke(
    db: Database,
    *,
    meeting: str,
    reference: str,
    votes: Mapping[int, VoteChoice],
    actor: str,
    casting_vote: VoteChoice | None = None,
    reason: str | None = None,
) -> Decision:
    """Put a motion to revoke an approval to a quorate meeting; when it carries the approval no longer
    gates anything (``require_approval`` stops finding it)."""
    with db.transaction() as tx:
        store.serialise_writes(tx)
        meeting_rec = open_meeting_in(tx, meeting)
        row = _decision_in(tx, reference, lock=True)
        if row.status != DecisionStatus.APPROVED.value:
            raise InvalidInput(
                "pma.not_approved", f"{row.reference} is {row.status}: only an approval is revoked."
            )
        q = _require_quorum(tx, meeting_rec)
        carried, vote_rows = _tally(tx, q, meeting_rec, row, "revoke", votes, casting_vote)
        store.add_votes(tx, vote_rows)
        if carried:
            row = store.set_revoked(
                tx,
                row.id,
                status=DecisionStatus.REVOKED.value,
                revoked_on=meeting_rec.held_on,
                meeting_id=meeting_rec.id,
            )
        audit.record(
            tx,
            actor=actor,
            action="pma.decision.revoke",
            object_type="pma.decision",
            object_id=row.reference,
            details={
                "meeting": meeting_rec.reference,
                "carried": carried,
                "status": row.status,
                "reason": reason,
                "votes": _vote_details(vote_rows),
            },
        )
        return _decision(tx, row)


def _require_quorum(tx: Transaction, meeting: MeetingRecord) -> Quorum:
    q = quorum_in(tx, meeting)
    if q.quorate:
        return q
    if len(q.sitting) < QUORUM:
        absent_chair = "" if q.chair_by else ", and neither the Chair nor the Chair's Alternate is present"
        reason = f"{len(q.sitting)} member(s) sit where {QUORUM} are needed{absent_chair}"
    else:
        reason = "neither the Chair nor the Chair's Alternate is present"
    raise PolicyRefusal("pma.quorum", f"Meeting {q.meeting} cannot transact business: {reason}.", "L1.13")


def _tally(
    tx: Transaction,
    q: Quorum,
    meeting: MeetingRecord,
    decision: DecisionRecord,
    motion: str,
    votes: Mapping[int, VoteChoice],
    casting_vote: VoteChoice | None,
) -> tuple[bool, list[VoteRecord]]:
    if not votes:
        raise InvalidInput("pma.no_votes", "Record the votes of the members sitting; none were given.")
    present = {a.person_id: a.capacity for a in store.attendance_at(tx, meeting.id)}
    rows: list[VoteRecord] = []
    counts = {VoteChoice.FOR: 0, VoteChoice.AGAINST: 0, VoteChoice.ABSTAIN: 0}
    for person_id, choice in votes.items():
        person = person_in(tx, person_id)
        seats = [s for s in q.seats if s.represented_by.id == person_id]
        if not seats:
            capacity = present.get(person_id)
            if capacity == "dcc":
                raise PolicyRefusal(
                    "pma.no_vote",
                    f"{person.name} attends as the DCC representative, who may speak but has no vote.",
                    "L1.14(a)",
                )
            if capacity == "invitee":
                raise PolicyRefusal(
                    "pma.no_vote", f"{person.name} attends as an invitee, who has no vote.", "L1.14(b)"
                )
            raise PolicyRefusal(
                "pma.not_sitting",
                f"{person.name} does not sit at {q.meeting} as a member or an Alternate, so cannot vote.",
                "L1.15",
            )
        ordinary = [s for s in seats if s.member.office is not Office.CHAIR]
        if not ordinary:
            raise PolicyRefusal(
                "pma.chair_casting_only",
                f"{person.name} sits for the Chair, who has no vote except a casting vote on a tie.",
                "L1.15",
            )
        for seat in ordinary:
            counts[choice] += 1
            rows.append(
                VoteRecord(
                    decision_id=decision.id,
                    meeting_id=meeting.id,
                    motion=motion,
                    appointment_id=seat.member.appointment_id,
                    cast_by_person_id=person_id,
                    choice=choice.value,
                    casting=False,
                )
            )
    tied = counts[VoteChoice.FOR] == counts[VoteChoice.AGAINST]
    if casting_vote is not None:
        if not tied:
            raise InvalidInput("pma.casting_without_tie", "The Chair's casting vote is given only on a tie.")
        if casting_vote is VoteChoice.ABSTAIN:
            casting_vote = None
    if tied and casting_vote is not None:
        chair_seat = next(s for s in q.seats if s.member.office is Office.CHAIR)
        rows.append(
            VoteRecord(
                decision_id=decision.id,
                meeting_id=meeting.id,
                motion=motion,
                appointment_id=chair_seat.member.appointment_id,
                cast_by_person_id=chair_seat.represented_by.id,
                choice=casting_vote.value,
                casting=True,
            )
        )
        return casting_vote is VoteChoice.FOR, rows
    return counts[VoteChoice.FOR] > counts[VoteChoice.AGAINST], rows


def _check_approvable(kind: DecisionKind, row: DecisionRecord, held_on: date) -> None:
    # A key-reuse proposal's role was refused at proposal if not allowed (L11.4B(b)); nothing changes it.
    if kind in (DecisionKind.KEY_REUSE, DecisionKind.ORGANISATION_VALIDITY):
        if not row.ssc_views or row.ssc_views_on is None:
            raise PolicyRefusal(
                "pma.ssc_views_required",
                f"{row.reference} cannot be approved: the PMA must first take into account the views of the "
                "Security Sub-Committee, and none are recorded.",
                kind.clause,
            )
        if row.ssc_views_on > held_on:
            raise PolicyRefusal(
                "pma.ssc_views_required",
                f"{row.reference} cannot be approved on {held_on}: the SSC's views are dated "
                f"{row.ssc_views_on}, after the meeting.",
                kind.clause,
            )


# consumers


def require_approval(
    db: Database,
    kind: DecisionKind,
    *,
    role: RemotePartyRole,
    entity_id: EntityId,
    reference: str | None = None,
    public_key_sha256: str | None = None,
) -> Approval:
    """The approved decision of ``kind`` for this subject (role + EUI-64), or PolicyRefusal
    ``pma.no_approval`` citing the clause that needs it.

    With ``reference``, only that decision counts; a decision that names a public key matches only a
    request presenting that key (``public_key_sha256``, hex SHA-256 of the SubjectPublicKeyInfo DER).
    The most recently decided match wins.
    """
    key = _sha256(public_key_sha256) if public_key_sha256 is not None else None
    for approval in find_approvals(db, kind, role=role, entity_id=entity_id):
        if reference is not None and approval.reference != reference.strip():
            continue
        if approval.public_key_sha256 is not None and approval.public_key_sha256 != key:
            continue
        return approval
    which = f" {reference.strip()}" if reference else ""
    key_text = " for that public key" if key else ""
    raise PolicyRefusal(
        "pma.no_approval",
        f"The SMKI PMA has given no approval{which} of kind {kind.value}{key_text} for role "
        f"{role.label} and Entity Identifier {entity_id.dashed}.",
        kind.clause,
    )


def find_approvals(
    db: Database,
    kind: DecisionKind,
    *,
    role: RemotePartyRole | None = None,
    entity_id: EntityId | None = None,
) -> list[Approval]:
    """Approved (and not revoked) decisions of ``kind``, optionally for one role and subject; newest first."""
    with db.read_transaction() as tx:
        rows = store.decisions(
            tx,
            kind=kind.value,
            statuses=[DecisionStatus.APPROVED.value],
            role_code=role.code if role else None,
            entity_id=entity_id.compact if entity_id else None,
        )
        return [_approval(_decision(tx, row, with_votes=False)) for row in rows]


def get_decision(db: Database, reference: str) -> Decision:
    """A decision with its votes."""
    with db.read_transaction() as tx:
        return _decision(tx, _decision_in(tx, reference))


def list_decisions(
    db: Database,
    *,
    kind: DecisionKind | None = None,
    status: DecisionStatus | None = None,
    role: RemotePartyRole | None = None,
    entity_id: EntityId | None = None,
) -> list[Decision]:
    """Decisions filtered by kind, status, role and subject; newest first."""
    with db.read_transaction() as tx:
        rows = store.decisions(
            tx,
            kind=kind.value if kind else None,
            statuses=[status.value] if status else None,
            role_code=role.code if role else None,
            entity_id=entity_id.compact if entity_id else None,
        )
        return [_decision(tx, row, with_votes=False) for row in rows]


# helpers


def _check_key_reuse_role(role: RemotePartyRole) -> None:
    if role not in KEY_REUSE_ROLES:
        allowed = ", ".join(str(r) for r in KEY_REUSE_ROLES)
        raise PolicyRefusal(
            "pma.key_reuse_role",
            f"A Public Key may be re-used only for an Organisation Certificate whose Remote Party Role is "
            f"{allowed}, not {role.label}.",
            "L11.4B(b)",
        )


def _validity(
    not_after: datetime | None, validity_years: int | None, *, required: bool
) -> tuple[datetime | None, int | None]:
    if not_after is not None and validity_years is not None:
        raise InvalidInput("pma.validity", "Give the approved notAfter or the validity in years, not both.")
    if required and not_after is None and validity_years is None:
        raise InvalidInput("pma.validity", "Give the approved notAfter or the validity in years.")
    if validity_years is not None and not 1 <= validity_years <= 50:
        raise InvalidInput("pma.validity", "An Organisation Certificate's validity must be 1 to 50 years.")
    if not_after is not None:
        not_after = not_after.replace(tzinfo=UTC) if not_after.tzinfo is None else not_after.astimezone(UTC)
        not_after = not_after.replace(microsecond=0)
    return not_after, validity_years


def _sha256(text: str) -> str:
    t = text.strip().lower().replace(":", "")
    if not _SHA256_HEX.fullmatch(t):
        raise InvalidInput("pma.public_key_sha256", "A SHA-256 is 64 hexadecimal digits.")
    return t


def _role_name(role: RemotePartyRole) -> str:
    return role.name or str(role.code)


def _iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _parse_iso(value: str | None) -> datetime | None:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) if value else None


def _json(content: Mapping[str, Any]) -> str:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _decision_in(tx: Transaction, reference: str, *, lock: bool = False) -> DecisionRecord:
    row = store.decision_by_reference(tx, reference.strip(), lock=lock)
    if row is None:
        raise InvalidInput("pma.decision_unknown", f"No SMKI PMA decision {reference.strip()} is recorded.")
    return row


def _vote_details(rows: list[VoteRecord]) -> list[dict[str, Any]]:
    return [
        {
            "appointment": v.appointment_id,
            "cast_by": v.cast_by_person_id,
            "choice": v.choice,
            "casting": v.casting,
        }
        for v in rows
    ]


def _decision(tx: Transaction, row: DecisionRecord, *, with_votes: bool = True) -> Decision:
    votes: list[Vote] = []
    if with_votes:
        for v in store.votes_on(tx, row.id):
            appointment = store.get_appointment(tx, v.appointment_id)
            assert appointment is not None  # foreign key
            votes.append(
                Vote(
                    motion=v.motion,
                    office=Office(appointment.office),
                    member=person_in(tx, appointment.person_id).name,
                    cast_by=person_in(tx, v.cast_by_person_id).name,
                    choice=VoteChoice(v.choice),
                    casting=v.casting,
                )
            )
    meeting = store.get_meeting(tx, row.meeting_id) if row.meeting_id else None
    return Decision(
        reference=row.reference,
        kind=DecisionKind(row.kind),
        status=DecisionStatus(row.status),
        role=RemotePartyRole(row.role_code) if row.role_code is not None else None,
        entity_id=EntityId.parse(row.entity_id) if row.entity_id else None,
        proposed_on=row.proposed_on,
        decided_on=row.decided_on,
        meeting=meeting.reference if meeting else None,
        not_after=_parse_iso(row.not_after),
        validity_years=row.validity_years,
        public_key_sha256=row.public_key_sha256,
        content=json.loads(row.content),
        votes=tuple(votes),
    )


def _approval(decision: Decision) -> Approval:
    assert decision.decided_on is not None  # approved decisions are decided
    return Approval(
        reference=decision.reference,
        kind=decision.kind,
        role=decision.role,
        entity_id=decision.entity_id,
        decided_on=decision.decided_on,
        not_after=decision.not_after,
        validity_years=decision.validity_years,
        public_key_sha256=decision.public_key_sha256,
        content={**decision.content, "meeting": decision.meeting, "status": decision.status.value},
    )
