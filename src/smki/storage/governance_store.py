"""Database access for the SMKI PMA: the only place governance queries run. No SEC rule lives here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import select

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


def serialise_writes(tx: Transaction) -> None:
    """Take the lock every audited write takes anyway (the audit head), before reading what a rule checks.

    Governance rules read the record and then write (an office is vacant, a reference is free); holding
    the lock from the start means two operators cannot both pass the same check on PostgreSQL.
    """
    audit_store.lock_head(tx)


# persons


def add_person(tx: Transaction, person: PmaPerson) -> PmaPerson:
    """Insert a person and return it with its id."""
    session = session_of(tx)
    session.add(person)
    session.flush()
    return person


def get_person(tx: Transaction, person_id: int) -> PmaPerson | None:
    """The person with this id, or None."""
    session = session_of(tx)
    return session.get(PmaPerson, person_id)


def persons_named(tx: Transaction, name: str) -> list[PmaPerson]:
    """Every person recorded under exactly this name."""
    session = session_of(tx)
    return list(session.execute(select(PmaPerson).where(PmaPerson.name == name)).scalars())


def all_persons(tx: Transaction) -> list[PmaPerson]:
    """Every person, in the order recorded."""
    session = session_of(tx)
    return list(session.execute(select(PmaPerson).order_by(PmaPerson.id)).scalars())


# appointments


def add_appointment(tx: Transaction, appointment: PmaAppointment) -> PmaAppointment:
    """Insert an appointment and return it with its id."""
    session = session_of(tx)
    session.add(appointment)
    session.flush()
    return appointment


def get_appointment(tx: Transaction, appointment_id: int) -> PmaAppointment | None:
    """The appointment with this id, or None."""
    session = session_of(tx)
    return session.get(PmaAppointment, appointment_id)


def appointments_in_office(tx: Transaction, office: str) -> list[PmaAppointment]:
    """Every appointment ever made to one office, oldest first."""
    session = session_of(tx)
    stmt = select(PmaAppointment).where(PmaAppointment.office == office).order_by(PmaAppointment.starts_on)
    return list(session.execute(stmt).scalars())


def appointments_of_person(tx: Transaction, person_id: int) -> list[PmaAppointment]:
    """Every appointment one person has held, oldest first."""
    session = session_of(tx)
    stmt = (
        select(PmaAppointment).where(PmaAppointment.person_id == person_id).order_by(PmaAppointment.starts_on)
    )
    return list(session.execute(stmt).scalars())


def all_appointments(tx: Transaction) -> list[PmaAppointment]:
    """Every appointment, oldest first."""
    session = session_of(tx)
    stmt = select(PmaAppointment).order_by(PmaAppointment.starts_on, PmaAppointment.id)
    return list(session.execute(stmt).scalars())


def starting_between(tx: Transaction, first: date, last: date) -> list[PmaAppointment]:
    """Appointments that start on any day from ``first`` to ``last`` inclusive."""
    session = session_of(tx)
    stmt = select(PmaAppointment).where(PmaAppointment.starts_on >= first, PmaAppointment.starts_on <= last)
    return list(session.execute(stmt).scalars())


# alternates


def add_alternate(tx: Transaction, alternate: PmaAlternate) -> PmaAlternate:
    """Insert an alternate appointment and return it with its id."""
    session = session_of(tx)
    session.add(alternate)
    session.flush()
    return alternate


def alternates_for(tx: Transaction, appointment_id: int) -> list[PmaAlternate]:
    """The alternates a member's appointment has had, oldest first."""
    session = session_of(tx)
    stmt = (
        select(PmaAlternate)
        .where(PmaAlternate.appointment_id == appointment_id)
        .order_by(PmaAlternate.starts_on, PmaAlternate.id)
    )
    return list(session.execute(stmt).scalars())


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


def add_meeting(tx: Transaction, meeting: PmaMeeting) -> PmaMeeting:
    """Insert a meeting and return it with its id."""
    session = session_of(tx)
    session.add(meeting)
    session.flush()
    return meeting


def meeting_by_reference(tx: Transaction, reference: str, *, lock: bool = False) -> PmaMeeting | None:
    """The meeting with this reference, optionally locked for update."""
    session = session_of(tx)
    stmt = select(PmaMeeting).where(PmaMeeting.reference == reference)
    if lock:
        stmt = stmt.with_for_update()
    return session.execute(stmt).scalar_one_or_none()


def get_meeting(tx: Transaction, meeting_id: int) -> PmaMeeting | None:
    """The meeting with this id, or None."""
    session = session_of(tx)
    return session.get(PmaMeeting, meeting_id)


def add_attendance(tx: Transaction, attendance: PmaAttendance) -> PmaAttendance:
    """Record one attendance row."""
    session = session_of(tx)
    session.add(attendance)
    session.flush()
    return attendance


def attendance_at(tx: Transaction, meeting_id: int) -> list[PmaAttendance]:
    """Who attended a meeting, in the order recorded."""
    session = session_of(tx)
    stmt = select(PmaAttendance).where(PmaAttendance.meeting_id == meeting_id).order_by(PmaAttendance.id)
    return list(session.execute(stmt).scalars())


# decisions and votes


def add_decision(tx: Transaction, decision: PmaDecision) -> PmaDecision:
    """Insert a decision and return it with its id."""
    session = session_of(tx)
    session.add(decision)
    session.flush()
    return decision


def decision_by_reference(tx: Transaction, reference: str, *, lock: bool = False) -> PmaDecision | None:
    """The decision with this reference, optionally locked for update."""
    session = session_of(tx)
    stmt = select(PmaDecision).where(PmaDecision.reference == reference)
    if lock:
        stmt = stmt.with_for_update()
    return session.execute(stmt).scalar_one_or_none()


def decisions(
    tx: Transaction,
    *,
    kind: str | None = None,
    statuses: Sequence[str] | None = None,
    role_code: int | None = None,
    entity_id: str | None = None,
) -> list[PmaDecision]:
    """Decisions filtered by kind, status, role and subject; newest decision first."""
    session = session_of(tx)
    stmt = select(PmaDecision)
    if kind is not None:
        stmt = stmt.where(PmaDecision.kind == kind)
    if statuses is not None:
        stmt = stmt.where(PmaDecision.status.in_(list(statuses)))
    if role_code is not None:
        stmt = stmt.where(PmaDecision.role_code == role_code)
    if entity_id is not None:
        stmt = stmt.where(PmaDecision.entity_id == entity_id)
    stmt = stmt.order_by(PmaDecision.decided_on.desc().nulls_last(), PmaDecision.reference.desc())
    return list(session.execute(stmt).scalars())


def add_votes(tx: Transaction, votes: Sequence[PmaVote]) -> None:
    """Record the votes on one motion."""
    session = session_of(tx)
    session.add_all(list(votes))
    session.flush()


def votes_on(tx: Transaction, decision_id: int) -> list[PmaVote]:
    """Every vote cast on a decision, in the order recorded."""
    session = session_of(tx)
    stmt = select(PmaVote).where(PmaVote.decision_id == decision_id).order_by(PmaVote.id)
    return list(session.execute(stmt).scalars())
