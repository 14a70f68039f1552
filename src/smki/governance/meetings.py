"""Meetings of the SMKI PMA (L1.12-L1.15): attendance, who represents which member, and the quorum.

Quorum (L1.13): four SMKI PMA Members present, one of whom is the Chair or the Chair's Alternate. We
count distinct individuals sitting as members or Alternates (see docs/decisions.md): the Specialist
sitting for an absent Chair is one of the four, not two.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date

from smki import audit
from smki.governance.membership import (
    Holding,
    Person,
    alternates_in,
    holders_in,
    holding_in,
    person_in,
    utc_timestamp,
)
from smki.governance.offices import QUORUM, Office
from smki.model import InvalidInput, PolicyRefusal
from smki.storage import Database, Transaction
from smki.storage import governance_store as store
from smki.storage.governance_store import MeetingRecord


class Capacity(enum.Enum):
    """In what capacity a person attends a meeting."""

    MEMBER = "member"  # an SMKI PMA Member in his or her own right
    ALTERNATE = "alternate"  # acting for an absent member (L1.12)
    DCC = "dcc"  # the DCC representative: may speak, has no vote (L1.14(a))
    INVITEE = "invitee"  # other persons invited (L1.14(b), C5.13(c)): attendance only

    @classmethod
    def parse(cls, text: str) -> Capacity:
        """Accept the value: member, alternate, dcc or invitee."""
        t = text.strip().lower()
        for capacity in cls:
            if capacity.value == t:
                return capacity
        raise InvalidInput(
            "pma.capacity", f"'{text}' is not a capacity: use {', '.join(c.value for c in cls)}."
        )


class MeetingStatus(enum.Enum):
    """Decisions are taken only while a meeting is open."""

    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Attendee:
    """One attendance record."""

    person: Person
    capacity: Capacity
    for_member: Person | None
    note: str | None


@dataclass(frozen=True, slots=True)
class Seat:
    """A member represented at a meeting: in person, or by an Alternate (``by_alternate``)."""

    member: Holding
    represented_by: Person
    by_alternate: bool


@dataclass(frozen=True, slots=True)
class Quorum:
    """Who is represented at a meeting and whether business may be transacted (L1.13)."""

    meeting: str
    held_on: date
    seats: tuple[Seat, ...]
    sitting: tuple[Person, ...]  # distinct individuals sitting as members or Alternates
    chair_by: Person | None  # the Chair, or the Chair's Alternate, when present
    quorate: bool

    def sentence(self) -> str:
        """One sentence for the operator."""
        chair = (
            f"the Chair's seat is taken by {self.chair_by.name}"
            if self.chair_by
            else "neither the Chair nor the Chair's Alternate is present"
        )
        verdict = "quorate" if self.quorate else "not quorate"
        sitting = len(self.sitting)
        return (
            f"Meeting {self.meeting} is {verdict}: {sitting} of the {QUORUM} members needed sit, and {chair}."
        )

    def as_dict(self) -> dict[str, object]:
        """JSON shape for ``--json`` outputs."""
        return {
            "meeting": self.meeting,
            "held_on": self.held_on.isoformat(),
            "quorate": self.quorate,
            "sitting": [{"id": p.id, "name": p.name} for p in self.sitting],
            "chair_by": {"id": self.chair_by.id, "name": self.chair_by.name} if self.chair_by else None,
            "seats": [
                {
                    "office": s.member.office.value,
                    "member": s.member.person.name,
                    "represented_by": s.represented_by.name,
                    "by_alternate": s.by_alternate,
                }
                for s in self.seats
            ],
        }


@dataclass(frozen=True, slots=True)
class Meeting:
    """A meeting, its date, whether it is open, and who attended."""

    reference: str
    held_on: date
    status: MeetingStatus
    attendees: tuple[Attendee, ...]

    def as_dict(self) -> dict[str, object]:
        """JSON shape for ``--json`` outputs."""
        return {
            "reference": self.reference,
            "held_on": self.held_on.isoformat(),
            "status": self.status.value,
            "attendees": [
                {
                    "person": {"id": a.person.id, "name": a.person.name},
                    "capacity": a.capacity.value,
                    "for": a.for_member.name if a.for_member else None,
                    "note": a.note,
                }
                for a in self.attendees
            ],
        }


def open_meeting(db: Database, *, held_on: date, actor: str) -> Meeting:
    """Open a meeting held on ``held_on``; its reference is ``PMA-M-<year>-<nnnn>``."""
    with db.transaction() as tx:
        store.serialise_writes(tx)
        prefix = f"PMA-M-{held_on.year}-"
        reference = f"{prefix}{store.next_number(tx, prefix):04d}"
        row = store.add_meeting(
            tx,
            reference=reference,
            held_on=held_on,
            status=MeetingStatus.OPEN.value,
            created_at=utc_timestamp(),
        )
        audit.record(
            tx,
            actor=actor,
            action="pma.meeting.open",
            object_type="pma.meeting",
            object_id=reference,
            details={"held_on": held_on.isoformat()},
        )
        return _meeting(tx, row)


def attend(
    db: Database,
    *,
    meeting: str,
    person_id: int,
    capacity: Capacity,
    actor: str,
    for_member: int | None = None,
    note: str | None = None,
) -> Meeting:
    """Record that a person attended in a capacity; an Alternate names the member (``for_member``)."""
    with db.transaction() as tx:
        store.serialise_writes(tx)
        row = open_meeting_in(tx, meeting)
        day = row.held_on
        person = person_in(tx, person_id)
        for_appointment: int | None = None
        if capacity is not Capacity.ALTERNATE and for_member is not None:
            raise InvalidInput("pma.for_member", "Only an Alternate attends for a member.")
        if capacity is Capacity.MEMBER and holding_in(tx, person_id, day) is None:
            raise PolicyRefusal(
                "pma.not_a_member",
                f"{person.name} holds no SMKI PMA office on {day}, so cannot attend as a member.",
                "L1.3",
            )
        if capacity is Capacity.ALTERNATE:
            for_appointment = _check_alternate(tx, row, person, for_member)
        present = store.attendance_at(tx, row.id)
        if any(
            a.person_id == person_id
            and a.capacity == capacity.value
            and a.for_appointment_id == for_appointment
            for a in present
        ):
            raise InvalidInput(
                "pma.already_attending", f"{person.name} is already recorded at {meeting} in that capacity."
            )
        store.add_attendance(
            tx,
            meeting_id=row.id,
            person_id=person_id,
            capacity=capacity.value,
            for_appointment_id=for_appointment,
            note=note,
        )
        audit.record(
            tx,
            actor=actor,
            action="pma.meeting.attend",
            object_type="pma.meeting",
            object_id=meeting,
            details={"person": person_id, "capacity": capacity.value, "for_member": for_member, "note": note},
        )
        return _meeting(tx, row)


def _check_alternate(tx: Transaction, meeting: MeetingRecord, person: Person, for_member: int | None) -> int:
    day = meeting.held_on
    if for_member is None:
        raise InvalidInput("pma.for_member", "An Alternate must name the member he or she acts for.")
    member = holding_in(tx, for_member, day)
    if member is None:
        name = person_in(tx, for_member).name
        raise PolicyRefusal(
            "pma.not_a_member", f"{name} holds no SMKI PMA office on {day}: nobody can act for them.", "L1.12"
        )
    present = store.attendance_at(tx, meeting.id)
    if any(a.person_id == for_member and a.capacity == Capacity.MEMBER.value for a in present):
        raise PolicyRefusal(
            "pma.member_present",
            f"{member.person.name} is present in person: an Alternate acts only for an absent member.",
            "L1.12",
        )
    if member.office is Office.CHAIR:
        specialists = holders_in(tx, Office.SPECIALIST, day)
        if any(s.person.id == person.id for s in specialists):
            raise InvalidInput(
                "pma.specialist_sits_as_member",
                "Record the SMKI Specialist as a member: he or she sits for an absent Chair without further "
                "nomination (L1.12(a)).",
            )
        if holding_in(tx, person.id, day) is not None:
            raise PolicyRefusal(
                "pma.chair_alternate_member",
                f"{person.name} is an SMKI PMA Member: the Chair's nominated Alternate may not be another "
                "member.",
                "L1.12(b)",
            )
        specialist_ids = {s.person.id for s in specialists}
        if any(a.person_id in specialist_ids and a.capacity == Capacity.MEMBER.value for a in present):
            raise PolicyRefusal(
                "pma.specialist_available",
                "The SMKI Specialist is present and acts as the Chair's Alternate; the Chair's nominee acts "
                "only when the Specialist is unavailable.",
                "L1.12(b)",
            )
    if not any(alt.alternate.id == person.id for alt in alternates_in(tx, member.appointment_id, day)):
        clause = "L1.12(b)" if member.office is Office.CHAIR else "L1.12"
        raise PolicyRefusal(
            "pma.not_alternate",
            f"{person.name} is not appointed as Alternate for {member.person.name} on {day}.",
            clause,
        )
    return member.appointment_id


def close_meeting(db: Database, *, meeting: str, actor: str) -> Meeting:
    """Close a meeting: no further attendance or decisions are recorded at it."""
    with db.transaction() as tx:
        store.serialise_writes(tx)
        row = open_meeting_in(tx, meeting)
        row = store.set_meeting_status(tx, row.id, MeetingStatus.CLOSED.value)
        audit.record(
            tx, actor=actor, action="pma.meeting.close", object_type="pma.meeting", object_id=meeting
        )
        return _meeting(tx, row)


def get_meeting(db: Database, reference: str) -> Meeting:
    """A meeting and its attendance."""
    with db.read_transaction() as tx:
        return _meeting(tx, meeting_in(tx, reference))


def quorum(db: Database, reference: str) -> Quorum:
    """Who is represented at the meeting and whether it is quorate (L1.13)."""
    with db.read_transaction() as tx:
        return quorum_in(tx, meeting_in(tx, reference))


def quorum_in(tx: Transaction, meeting: MeetingRecord) -> Quorum:
    """``quorum`` inside an open transaction (for the decisions module)."""
    day = meeting.held_on
    rows = store.attendance_at(tx, meeting.id)
    seats: dict[int, Seat] = {}
    for a in rows:
        if a.capacity == Capacity.MEMBER.value:
            holding = holding_in(tx, a.person_id, day)
            if holding is not None:
                seats[holding.appointment_id] = Seat(holding, holding.person, False)
    chairs = holders_in(tx, Office.CHAIR, day)
    chair = chairs[0] if chairs else None
    if chair is not None and chair.appointment_id not in seats:
        # L1.12(a): the Specialist is deemed the Chair's Alternate; L1.12(b): else the Chair's nominee.
        specialist = next((s for s in seats.values() if s.member.office is Office.SPECIALIST), None)
        if specialist is not None:
            seats[chair.appointment_id] = Seat(chair, specialist.represented_by, True)
    for a in rows:
        if a.capacity != Capacity.ALTERNATE.value or a.for_appointment_id is None:
            continue
        if a.for_appointment_id in seats:
            continue  # the member is present in person (or the Specialist already sits for the Chair)
        valid = [
            alt for alt in alternates_in(tx, a.for_appointment_id, day) if alt.alternate.id == a.person_id
        ]
        if valid:
            seats[a.for_appointment_id] = Seat(valid[0].member, valid[0].alternate, True)
    ordered = sorted(
        seats.values(), key=lambda s: (list(Office).index(s.member.office), s.member.appointment_id)
    )
    sitting: dict[int, Person] = {}
    for seat in ordered:
        sitting.setdefault(seat.represented_by.id, seat.represented_by)
    chair_by = seats[chair.appointment_id].represented_by if chair and chair.appointment_id in seats else None
    quorate = len(sitting) >= QUORUM and chair_by is not None
    return Quorum(meeting.reference, day, tuple(ordered), tuple(sitting.values()), chair_by, quorate)


def meeting_in(tx: Transaction, reference: str, *, lock: bool = False) -> MeetingRecord:
    """The stored meeting, or InvalidInput naming the unknown reference."""
    row = store.meeting_by_reference(tx, reference.strip(), lock=lock)
    if row is None:
        raise InvalidInput("pma.meeting_unknown", f"No SMKI PMA meeting {reference.strip()} is recorded.")
    return row


def open_meeting_in(tx: Transaction, reference: str) -> MeetingRecord:
    """The stored meeting, locked, refusing a closed meeting."""
    row = meeting_in(tx, reference, lock=True)
    if row.status != MeetingStatus.OPEN.value:
        raise InvalidInput("pma.meeting_closed", f"Meeting {row.reference} is closed.")
    return row


def _meeting(tx: Transaction, row: MeetingRecord) -> Meeting:
    attendees = []
    for a in store.attendance_at(tx, row.id):
        for_member = None
        if a.for_appointment_id is not None:
            appointment = store.get_appointment(tx, a.for_appointment_id)
            assert appointment is not None  # foreign key
            for_member = person_in(tx, appointment.person_id)
        attendees.append(Attendee(person_in(tx, a.person_id), Capacity(a.capacity), for_member, a.note))
    return Meeting(row.reference, row.held_on, MeetingStatus(row.status), tuple(attendees))
