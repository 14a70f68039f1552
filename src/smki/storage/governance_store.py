"""Database access for the SMKI PMA: the only place governance queries run. No SEC rule lives here.

Values only: persons, appointments, alternates, meetings, attendance, decisions and votes leave here as
the frozen records below, never as ORM rows; every change is a command (insert one, end an
appointment, set a decision's state). Reads select columns, and changes are UPDATE statements, so no
ORM entity (and no stale identity-map copy of one) is ever held.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Executable, insert, select, update

from smki.storage import audit_store
from smki.storage.governance_tables import (
    PmaAlternate,
    PmaAppointment,
    PmaAttendance,
    PmaDecision,
    PmaMeeting,
    PmaPerson,
    PmaVote,
)
from smki.storage.transaction import Transaction, session_of

# values


@dataclass(frozen=True, slots=True)
class PersonRecord:
    """A stored person; ``kind`` is the stored text (individual, body-corporate, ...)."""

    id: int
    name: str
    kind: str


@dataclass(frozen=True, slots=True)
class AppointmentRecord:
    """A stored appointment to an office (``office`` is the stored text, e.g. ``supplier-large``)."""

    id: int
    person_id: int
    office: str
    appointed_by: str
    starts_on: date
    term_ends_on: date | None
    scheduled_end: date | None
    ended_on: date | None
    end_reason: str | None
    end_note: str | None


@dataclass(frozen=True, slots=True)
class AlternateRecord:
    """A stored Alternate appointment for one member's appointment."""

    id: int
    appointment_id: int
    alternate_person_id: int
    starts_on: date
    ends_on: date | None
    independent: bool


@dataclass(frozen=True, slots=True)
class MeetingRecord:
    """A stored meeting (``status``: open or closed)."""

    id: int
    reference: str
    held_on: date
    status: str


@dataclass(frozen=True, slots=True)
class AttendanceRecord:
    """One stored attendance: who, in what capacity, and for which appointment when an Alternate."""

    id: int
    meeting_id: int
    person_id: int
    capacity: str
    for_appointment_id: int | None
    note: str | None


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """A stored decision (``content`` is the canonical JSON text, ``not_after`` ISO-8601 UTC text)."""

    id: int
    reference: str
    kind: str
    status: str
    role_code: int | None
    entity_id: str | None
    public_key_sha256: str | None
    not_after: str | None
    validity_years: int | None
    content: str
    ssc_views: str | None
    ssc_views_on: date | None
    proposed_on: date
    decided_on: date | None
    meeting_id: int | None
    revoked_on: date | None
    revoked_meeting_id: int | None


@dataclass(frozen=True, slots=True)
class VoteRecord:
    """One vote on one motion (approve or revoke); also the command to record it."""

    decision_id: int
    meeting_id: int
    motion: str
    appointment_id: int
    cast_by_person_id: int
    choice: str
    casting: bool


_PERSON = (PmaPerson.id, PmaPerson.name, PmaPerson.kind)
_APPOINTMENT = (
    PmaAppointment.id,
    PmaAppointment.person_id,
    PmaAppointment.office,
    PmaAppointment.appointed_by,
    PmaAppointment.starts_on,
    PmaAppointment.term_ends_on,
    PmaAppointment.scheduled_end,
    PmaAppointment.ended_on,
    PmaAppointment.end_reason,
    PmaAppointment.end_note,
)
_ALTERNATE = (
    PmaAlternate.id,
    PmaAlternate.appointment_id,
    PmaAlternate.alternate_person_id,
    PmaAlternate.starts_on,
    PmaAlternate.ends_on,
    PmaAlternate.independent,
)
_MEETING = (PmaMeeting.id, PmaMeeting.reference, PmaMeeting.held_on, PmaMeeting.status)
_ATTENDANCE = (
    PmaAttendance.id,
    PmaAttendance.meeting_id,
    PmaAttendance.person_id,
    PmaAttendance.capacity,
    PmaAttendance.for_appointment_id,
    PmaAttendance.note,
)
_DECISION = (
    PmaDecision.id,
    PmaDecision.reference,
    PmaDecision.kind,
    PmaDecision.status,
    PmaDecision.role_code,
    PmaDecision.entity_id,
    PmaDecision.public_key_sha256,
    PmaDecision.not_after,
    PmaDecision.validity_years,
    PmaDecision.content,
    PmaDecision.ssc_views,
    PmaDecision.ssc_views_on,
    PmaDecision.proposed_on,
    PmaDecision.decided_on,
    PmaDecision.meeting_id,
    PmaDecision.revoked_on,
    PmaDecision.revoked_meeting_id,
)
_VOTE = (
    PmaVote.decision_id,
    PmaVote.meeting_id,
    PmaVote.motion,
    PmaVote.appointment_id,
    PmaVote.cast_by_person_id,
    PmaVote.choice,
    PmaVote.casting,
)


def _person(row: tuple[Any, ...]) -> PersonRecord:
    return PersonRecord(int(row[0]), str(row[1]), str(row[2]))


def _appointment(row: tuple[Any, ...]) -> AppointmentRecord:
    return AppointmentRecord(*row)


def _alternate(row: tuple[Any, ...]) -> AlternateRecord:
    return AlternateRecord(row[0], row[1], row[2], row[3], row[4], bool(row[5]))


def _meeting(row: tuple[Any, ...]) -> MeetingRecord:
    return MeetingRecord(*row)


def _attendance(row: tuple[Any, ...]) -> AttendanceRecord:
    return AttendanceRecord(*row)


def _decision(row: tuple[Any, ...]) -> DecisionRecord:
    return DecisionRecord(*row)


def _vote(row: tuple[Any, ...]) -> VoteRecord:
    return VoteRecord(row[0], row[1], row[2], row[3], row[4], row[5], bool(row[6]))


def _one_or_none(tx: Transaction, stmt: Executable) -> tuple[Any, ...] | None:
    row = session_of(tx).execute(stmt).one_or_none()
    return tuple(row) if row is not None else None


def _all(tx: Transaction, stmt: Executable) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in session_of(tx).execute(stmt)]


def _insert(tx: Transaction, table: Any, values: dict[str, Any]) -> int:
    """Insert one row and return its id."""
    return int(session_of(tx).execute(insert(table).values(**values).returning(table.id)).scalar_one())


def serialise_writes(tx: Transaction) -> None:
    """Take the lock every audited write takes anyway (the audit head), before reading what a rule checks.

    Governance rules read the record and then write (an office is vacant, a reference is free); holding
    the lock from the start means two operators cannot both pass the same check on PostgreSQL.
    """
    audit_store.lock_head(tx)


# persons


def add_person(tx: Transaction, *, name: str, kind: str, created_at: str) -> PersonRecord:
    """Insert a person and return it with its id."""
    new_id = _insert(tx, PmaPerson, {"name": name, "kind": kind, "created_at": created_at})
    return PersonRecord(new_id, name, kind)


def get_person(tx: Transaction, person_id: int) -> PersonRecord | None:
    """The person with this id, or None."""
    row = _one_or_none(tx, select(*_PERSON).where(PmaPerson.id == person_id))
    return _person(row) if row is not None else None


def persons_named(tx: Transaction, name: str) -> list[PersonRecord]:
    """Every person recorded under exactly this name, in the order recorded."""
    return [
        _person(r) for r in _all(tx, select(*_PERSON).where(PmaPerson.name == name).order_by(PmaPerson.id))
    ]


def all_persons(tx: Transaction) -> list[PersonRecord]:
    """Every person, in the order recorded."""
    return [_person(r) for r in _all(tx, select(*_PERSON).order_by(PmaPerson.id))]


# appointments


def add_appointment(
    tx: Transaction,
    *,
    person_id: int,
    office: str,
    appointed_by: str,
    starts_on: date,
    term_ends_on: date | None,
    scheduled_end: date | None,
    created_at: str,
) -> AppointmentRecord:
    """Insert an appointment and return it with its id."""
    new_id = _insert(
        tx,
        PmaAppointment,
        {
            "person_id": person_id,
            "office": office,
            "appointed_by": appointed_by,
            "starts_on": starts_on,
            "term_ends_on": term_ends_on,
            "scheduled_end": scheduled_end,
            "created_at": created_at,
        },
    )
    return AppointmentRecord(
        new_id, person_id, office, appointed_by, starts_on, term_ends_on, scheduled_end, None, None, None
    )


def end_appointment(
    tx: Transaction, appointment_id: int, *, ended_on: date, end_reason: str, end_note: str | None = None
) -> AppointmentRecord:
    """Record that an appointment ended on ``ended_on`` (for ``end_reason``); return it as now stored."""
    session_of(tx).execute(
        update(PmaAppointment)
        .where(PmaAppointment.id == appointment_id)
        .values(ended_on=ended_on, end_reason=end_reason, end_note=end_note)
        .execution_options(synchronize_session=False)
    )
    ended = get_appointment(tx, appointment_id)
    assert ended is not None  # just updated
    return ended


def get_appointment(tx: Transaction, appointment_id: int) -> AppointmentRecord | None:
    """The appointment with this id, or None."""
    row = _one_or_none(tx, select(*_APPOINTMENT).where(PmaAppointment.id == appointment_id))
    return _appointment(row) if row is not None else None


def appointments_in_office(tx: Transaction, office: str) -> list[AppointmentRecord]:
    """Every appointment ever made to one office, oldest first."""
    stmt = (
        select(*_APPOINTMENT)
        .where(PmaAppointment.office == office)
        .order_by(PmaAppointment.starts_on, PmaAppointment.id)
    )
    return [_appointment(r) for r in _all(tx, stmt)]


def appointments_of_person(tx: Transaction, person_id: int) -> list[AppointmentRecord]:
    """Every appointment one person has held, oldest first."""
    stmt = (
        select(*_APPOINTMENT)
        .where(PmaAppointment.person_id == person_id)
        .order_by(PmaAppointment.starts_on, PmaAppointment.id)
    )
    return [_appointment(r) for r in _all(tx, stmt)]


def all_appointments(tx: Transaction) -> list[AppointmentRecord]:
    """Every appointment, oldest first."""
    stmt = select(*_APPOINTMENT).order_by(PmaAppointment.starts_on, PmaAppointment.id)
    return [_appointment(r) for r in _all(tx, stmt)]


# alternates


def add_alternate(
    tx: Transaction,
    *,
    appointment_id: int,
    alternate_person_id: int,
    starts_on: date,
    ends_on: date | None,
    independent: bool,
    created_at: str,
) -> AlternateRecord:
    """Insert an alternate appointment and return it with its id."""
    new_id = _insert(
        tx,
        PmaAlternate,
        {
            "appointment_id": appointment_id,
            "alternate_person_id": alternate_person_id,
            "starts_on": starts_on,
            "ends_on": ends_on,
            "independent": independent,
            "created_at": created_at,
        },
    )
    return AlternateRecord(new_id, appointment_id, alternate_person_id, starts_on, ends_on, independent)


def alternates_for(tx: Transaction, appointment_id: int) -> list[AlternateRecord]:
    """The alternates a member's appointment has had, oldest first."""
    stmt = (
        select(*_ALTERNATE)
        .where(PmaAlternate.appointment_id == appointment_id)
        .order_by(PmaAlternate.starts_on, PmaAlternate.id)
    )
    return [_alternate(r) for r in _all(tx, stmt)]


# meetings and attendance


def next_number(tx: Transaction, prefix: str) -> int:
    """The next sequence number for references starting ``prefix`` (meetings and decisions).

    Locks the audit head first: every governance write locks it anyway, so this serialises allocation
    across processes on PostgreSQL without a table of its own.
    """
    session = session_of(tx)
    audit_store.lock_head(tx)
    numbers = [0]
    for column in (PmaMeeting.reference, PmaDecision.reference):
        for ref in session.execute(select(column).where(column.like(prefix + "%"))).scalars():
            tail = ref[len(prefix) :]
            if tail.isdigit():
                numbers.append(int(tail))
    return max(numbers) + 1


def add_meeting(
    tx: Transaction, *, reference: str, held_on: date, status: str, created_at: str
) -> MeetingRecord:
    """Insert a meeting and return it with its id."""
    values = {"reference": reference, "held_on": held_on, "status": status, "created_at": created_at}
    return MeetingRecord(_insert(tx, PmaMeeting, values), reference, held_on, status)


def set_meeting_status(tx: Transaction, meeting_id: int, status: str) -> MeetingRecord:
    """Set a meeting's status (open, closed); return the meeting as now stored."""
    session_of(tx).execute(
        update(PmaMeeting)
        .where(PmaMeeting.id == meeting_id)
        .values(status=status)
        .execution_options(synchronize_session=False)
    )
    meeting = get_meeting(tx, meeting_id)
    assert meeting is not None  # just updated
    return meeting


def meeting_by_reference(tx: Transaction, reference: str, *, lock: bool = False) -> MeetingRecord | None:
    """The meeting with this reference, optionally locked for update."""
    stmt = select(*_MEETING).where(PmaMeeting.reference == reference)
    if lock:
        stmt = stmt.with_for_update()
    row = _one_or_none(tx, stmt)
    return _meeting(row) if row is not None else None


def get_meeting(tx: Transaction, meeting_id: int) -> MeetingRecord | None:
    """The meeting with this id, or None."""
    row = _one_or_none(tx, select(*_MEETING).where(PmaMeeting.id == meeting_id))
    return _meeting(row) if row is not None else None


def add_attendance(
    tx: Transaction,
    *,
    meeting_id: int,
    person_id: int,
    capacity: str,
    for_appointment_id: int | None,
    note: str | None,
) -> AttendanceRecord:
    """Record one attendance and return it with its id."""
    values = {
        "meeting_id": meeting_id,
        "person_id": person_id,
        "capacity": capacity,
        "for_appointment_id": for_appointment_id,
        "note": note,
    }
    new_id = _insert(tx, PmaAttendance, values)
    return AttendanceRecord(new_id, meeting_id, person_id, capacity, for_appointment_id, note)


def attendance_at(tx: Transaction, meeting_id: int) -> list[AttendanceRecord]:
    """Who attended a meeting, in the order recorded."""
    stmt = select(*_ATTENDANCE).where(PmaAttendance.meeting_id == meeting_id).order_by(PmaAttendance.id)
    return [_attendance(r) for r in _all(tx, stmt)]


# decisions and votes


def add_decision(
    tx: Transaction,
    *,
    reference: str,
    kind: str,
    status: str,
    role_code: int | None,
    entity_id: str | None,
    public_key_sha256: str | None,
    not_after: str | None,
    validity_years: int | None,
    content: str,
    ssc_views: str | None,
    ssc_views_on: date | None,
    proposed_on: date,
    created_at: str,
) -> DecisionRecord:
    """Insert a decision and return it with its id."""
    values: dict[str, Any] = {
        "reference": reference,
        "kind": kind,
        "status": status,
        "role_code": role_code,
        "entity_id": entity_id,
        "public_key_sha256": public_key_sha256,
        "not_after": not_after,
        "validity_years": validity_years,
        "content": content,
        "ssc_views": ssc_views,
        "ssc_views_on": ssc_views_on,
        "proposed_on": proposed_on,
        "created_at": created_at,
    }
    decision = get_decision(tx, _insert(tx, PmaDecision, values))
    assert decision is not None  # just inserted
    return decision


def get_decision(tx: Transaction, decision_id: int) -> DecisionRecord | None:
    """The decision with this id, or None."""
    row = _one_or_none(tx, select(*_DECISION).where(PmaDecision.id == decision_id))
    return _decision(row) if row is not None else None


def decision_by_reference(tx: Transaction, reference: str, *, lock: bool = False) -> DecisionRecord | None:
    """The decision with this reference, optionally locked for update."""
    stmt = select(*_DECISION).where(PmaDecision.reference == reference)
    if lock:
        stmt = stmt.with_for_update()
    row = _one_or_none(tx, stmt)
    return _decision(row) if row is not None else None


def _update_decision(tx: Transaction, decision_id: int, values: dict[str, Any]) -> DecisionRecord:
    session_of(tx).execute(
        update(PmaDecision)
        .where(PmaDecision.id == decision_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    decision = get_decision(tx, decision_id)
    assert decision is not None  # just updated
    return decision


def set_ssc_views(
    tx: Transaction, decision_id: int, *, views: str, received_on: date, content: str
) -> DecisionRecord:
    """Store the SSC's views on a decision, their date and the decision's new content JSON."""
    return _update_decision(
        tx, decision_id, {"ssc_views": views, "ssc_views_on": received_on, "content": content}
    )


def set_decision_status(tx: Transaction, decision_id: int, status: str) -> DecisionRecord:
    """Set a decision's status alone (e.g. withdrawn); return it as now stored."""
    return _update_decision(tx, decision_id, {"status": status})


def set_decided(
    tx: Transaction, decision_id: int, *, status: str, decided_on: date, meeting_id: int
) -> DecisionRecord:
    """Record the outcome of the motion to approve: the status, the day and the meeting."""
    return _update_decision(
        tx, decision_id, {"status": status, "decided_on": decided_on, "meeting_id": meeting_id}
    )


def set_revoked(
    tx: Transaction, decision_id: int, *, status: str, revoked_on: date, meeting_id: int
) -> DecisionRecord:
    """Record a carried motion to revoke: the status, the day and the meeting."""
    return _update_decision(
        tx, decision_id, {"status": status, "revoked_on": revoked_on, "revoked_meeting_id": meeting_id}
    )


def decisions(
    tx: Transaction,
    *,
    kind: str | None = None,
    statuses: Sequence[str] | None = None,
    role_code: int | None = None,
    entity_id: str | None = None,
) -> list[DecisionRecord]:
    """Decisions filtered by kind, status, role and subject; newest decision first."""
    stmt = select(*_DECISION)
    if kind is not None:
        stmt = stmt.where(PmaDecision.kind == kind)
    if statuses is not None:
        stmt = stmt.where(PmaDecision.status.in_(list(statuses)))
    if role_code is not None:
        stmt = stmt.where(PmaDecision.role_code == role_code)
    if entity_id is not None:
        stmt = stmt.where(PmaDecision.entity_id == entity_id)
    stmt = stmt.order_by(PmaDecision.decided_on.desc().nulls_last(), PmaDecision.reference.desc())
    return [_decision(r) for r in _all(tx, stmt)]


def add_votes(tx: Transaction, votes: Sequence[VoteRecord]) -> None:
    """Record the votes on one motion, in order."""
    session = session_of(tx)
    for vote in votes:
        session.execute(
            insert(PmaVote).values(
                decision_id=vote.decision_id,
                meeting_id=vote.meeting_id,
                motion=vote.motion,
                appointment_id=vote.appointment_id,
                cast_by_person_id=vote.cast_by_person_id,
                choice=vote.choice,
                casting=vote.casting,
            )
        )


def votes_on(tx: Transaction, decision_id: int) -> list[VoteRecord]:
    """Every vote cast on a decision, in the order recorded."""
    stmt = select(*_VOTE).where(PmaVote.decision_id == decision_id).order_by(PmaVote.id)
    return [_vote(r) for r in _all(tx, stmt)]
