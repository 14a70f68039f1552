"""Membership of the SMKI PMA (L1.3-L1.12): persons, appointments as dated intervals, removal,
replacement of Sub-Committee nominees, and Alternates.

An appointment holds office on day D when ``starts_on <= D < end``; ``end`` is the day it stopped
(removal, resignation, replacement, a successor), else the end of its term (or of the Chair's
continuation, L1.5(e)), else open.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from smki import audit
from smki.governance.offices import OFFICES, REMOVAL_CLAUSE, Office, PersonKind, add_months, add_years
from smki.model import InvalidInput, PolicyRefusal
from smki.storage import Database, Transaction
from smki.storage import governance_store as store
from smki.storage.governance_store import AlternateRecord, AppointmentRecord, PersonRecord

DEFAULT_CONTINUATION_MONTHS = 6  # L1.5(e) "a reasonable period": see docs/decisions.md


class EndReason(enum.Enum):
    """Why an appointment ended before its scheduled end."""

    REMOVED = "removed"
    RESIGNED = "resigned"
    REPLACED = "replaced"  # L1.10: the nominating Sub-Committee replaced its nominee
    SUCCESSOR = "successor"  # L1.5(e): the Chair's continuation ends when the successor takes office

    @classmethod
    def parse(cls, text: str) -> EndReason:
        """Accept ``removed`` or ``resigned`` (the reasons an operator gives)."""
        t = text.strip().lower()
        for reason in (cls.REMOVED, cls.RESIGNED):
            if reason.value == t:
                return reason
        raise InvalidInput(
            "pma.end_reason", f"'{text}' is not a reason to end an office: use removed or resigned."
        )


@dataclass(frozen=True, slots=True)
class Person:
    """A person the PMA records; ``kind`` says whether it is an individual (L1.4)."""

    id: int
    name: str
    kind: PersonKind

    @property
    def label(self) -> str:
        """``Alice Example (#3)``."""
        return f"{self.name} (#{self.id})"


@dataclass(frozen=True, slots=True)
class Holding:
    """One appointment to one office: who, by whom, and the interval it covers."""

    appointment_id: int
    office: Office
    person: Person
    appointed_by: str
    starts_on: date
    term_ends_on: date | None
    ends_on: date | None  # first day no longer in office; None while open-ended
    end_reason: str | None

    def holds_on(self, day: date) -> bool:
        """True when the person held this office on ``day``."""
        return self.starts_on <= day and (self.ends_on is None or day < self.ends_on)

    def in_continuation_on(self, day: date) -> bool:
        """True on a day after the Chair's term while the successor's appointment is delayed (L1.5(e))."""
        return self.holds_on(day) and self.term_ends_on is not None and day >= self.term_ends_on

    def as_dict(self) -> dict[str, object]:
        """JSON shape for ``--json`` outputs."""
        return {
            "appointment": self.appointment_id,
            "office": self.office.value,
            "title": self.office.rule.title,
            "person": {"id": self.person.id, "name": self.person.name},
            "appointed_by": self.appointed_by,
            "starts_on": self.starts_on.isoformat(),
            "term_ends_on": self.term_ends_on.isoformat() if self.term_ends_on else None,
            "ends_on": self.ends_on.isoformat() if self.ends_on else None,
            "end_reason": self.end_reason,
        }


@dataclass(frozen=True, slots=True)
class AlternateAppointment:
    """An Alternate for one member's appointment, valid ``starts_on <= D < ends_on`` (L1.12)."""

    id: int
    member: Holding
    alternate: Person
    starts_on: date
    ends_on: date | None

    def valid_on(self, day: date) -> bool:
        """True when the Alternate may act for the member on ``day`` (the member must also hold office)."""
        return (
            self.starts_on <= day
            and (self.ends_on is None or day < self.ends_on)
            and self.member.holds_on(day)
        )


# persons


def add_person(db: Database, *, name: str, kind: PersonKind = PersonKind.INDIVIDUAL, actor: str) -> Person:
    """Record a person (a prospective member, Alternate, DCC representative or invitee)."""
    clean = name.strip()
    if not clean or len(clean) > 200:
        raise InvalidInput("pma.person_name", "A person's name must be 1 to 200 characters.")
    with db.transaction() as tx:
        row = store.add_person(tx, name=clean, kind=kind.value, created_at=utc_timestamp())
        audit.record(
            tx,
            actor=actor,
            action="pma.person.add",
            object_type="pma.person",
            object_id=str(row.id),
            details={"name": clean, "kind": kind.value},
        )
        return _person(row)


def persons(db: Database) -> list[Person]:
    """Every person recorded."""
    with db.read_transaction() as tx:
        return [_person(row) for row in store.all_persons(tx)]


def find_person(db: Database, text: str) -> Person:
    """A person named by id (``3``, ``#3``) or by exact name, which must be unambiguous."""
    with db.read_transaction() as tx:
        return _person(_resolve(tx, text))


def _resolve(tx: Transaction, text: str) -> PersonRecord:
    t = text.strip().lstrip("#")
    if t.isdigit():
        row = store.get_person(tx, int(t))
        if row is None:
            raise InvalidInput("pma.person_unknown", f"No person #{t} is recorded.")
        return row
    rows = store.persons_named(tx, text.strip())
    if not rows:
        raise InvalidInput("pma.person_unknown", f"No person named '{text.strip()}' is recorded.")
    if len(rows) > 1:
        ids = ", ".join(f"#{r.id}" for r in rows)
        raise InvalidInput(
            "pma.person_ambiguous", f"Several persons are named '{text.strip()}' ({ids}): use the id."
        )
    return rows[0]


def _get_person(tx: Transaction, person_id: int) -> PersonRecord:
    row = store.get_person(tx, person_id)
    if row is None:
        raise InvalidInput("pma.person_unknown", f"No person #{person_id} is recorded.")
    return row


# appointments


def appoint(
    db: Database,
    *,
    person_id: int,
    office: Office,
    starts_on: date,
    actor: str,
    member_confirmation: bool = False,
    independent: bool = False,
    by_panel: bool = False,
    continuation_months: int = DEFAULT_CONTINUATION_MONTHS,
) -> Holding:
    """Appoint a person to an office from ``starts_on``; refuse anything L1.3-L1.10 forbids.

    ``member_confirmation``: the person has given the Member Confirmation (C6.9), which L1.5(d),
    L1.6(a), L1.8(a) and L1.10 require. ``independent``: the Panel found the Chair sufficiently
    independent (L1.5(a)). ``by_panel``: the Panel nominates the SSC or TABASC representative because
    that Sub-Committee does not exist yet (L1.10). ``continuation_months``: the reasonable period a Chair
    continues after the term while a successor's appointment is delayed (L1.5(e)).
    """
    with db.transaction() as tx:
        store.serialise_writes(tx)
        holding = _appoint(
            tx,
            person_id=person_id,
            office=office,
            starts_on=starts_on,
            actor=actor,
            member_confirmation=member_confirmation,
            independent=independent,
            by_panel=by_panel,
            continuation_months=continuation_months,
        )
        return holding


def _appoint(
    tx: Transaction,
    *,
    person_id: int,
    office: Office,
    starts_on: date,
    actor: str,
    member_confirmation: bool,
    independent: bool,
    by_panel: bool,
    continuation_months: int,
) -> Holding:
    rule = office.rule
    person = _get_person(tx, person_id)
    if person.kind != PersonKind.INDIVIDUAL.value:
        raise PolicyRefusal(
            "pma.not_individual",
            f"{person.name} is a {person.kind.replace('-', ' ')}: an SMKI PMA Member must be an individual.",
            "L1.4",
        )
    if by_panel and rule.interim_appointer is None:
        raise InvalidInput(
            "pma.by_panel",
            f"Only the SSC and TABASC representatives can be nominated by the Panel, not the {office.value}.",
        )
    if office is Office.CHAIR and not independent:
        raise PolicyRefusal(
            "pma.chair_independence",
            "The SMKI PMA Chair must be found sufficiently independent of any particular Party or class "
            "of Parties.",
            "L1.5(a)",
        )
    confirmation_clause = _CONFIRMATION_CLAUSE.get(office)
    if confirmation_clause and not member_confirmation:
        raise PolicyRefusal(
            "pma.member_confirmation",
            f"The appointment as {rule.title} is subject to the Member Confirmation (Section C6.9), "
            "which has not been given.",
            confirmation_clause,
        )
    if not 0 <= continuation_months <= 24:
        raise InvalidInput("pma.continuation", "The Chair's continuation period must be 0 to 24 months.")

    term_ends_on = add_years(starts_on, rule.term_years) if rule.term_years else None
    scheduled_end = term_ends_on
    if rule.continues_after_term and term_ends_on is not None:
        scheduled_end = add_months(term_ends_on, continuation_months)

    # L1.4: no one person holds more than one office at the same time.
    for other in store.appointments_of_person(tx, person_id):
        if _overlaps(other, starts_on, scheduled_end):
            raise PolicyRefusal(
                "pma.one_office",
                f"{person.name} already holds office as {Office(other.office).rule.title} "
                f"({_interval(other)}): no one person can hold more than one office at the same time.",
                "L1.4",
            )
    # L1.12(b): the Chair's nominated Alternate may not be another SMKI PMA Member.
    for alt in _chair_alternates_of(tx, person_id):
        if _intervals_overlap(alt.starts_on, alt.ends_on, starts_on, scheduled_end):
            raise PolicyRefusal(
                "pma.chair_alternate_member",
                f"{person.name} is nominated as Alternate for the SMKI PMA Chair from {alt.starts_on}: "
                "that Alternate may not be an SMKI PMA Member.",
                "L1.12(b)",
            )

    existing = store.appointments_in_office(tx, office.value)
    if rule.continues_after_term:
        # L1.5(e): a Chair continuing after the term does so only until the successor takes office.
        for index, prior in enumerate(existing):
            if (
                prior.ended_on is None
                and prior.term_ends_on is not None
                and prior.term_ends_on <= starts_on < _until(prior)
            ):
                existing[index] = store.end_appointment(
                    tx,
                    prior.id,
                    ended_on=starts_on,
                    end_reason=EndReason.SUCCESSOR.value,
                    end_note=prior.end_note,
                )
                audit.record(
                    tx,
                    actor=actor,
                    action="pma.appointment.end",
                    object_type="pma.appointment",
                    object_id=str(prior.id),
                    details={
                        "office": office.value,
                        "ended_on": starts_on.isoformat(),
                        "reason": "successor",
                    },
                )
    _check_seats(tx, office, existing, starts_on, scheduled_end)

    appointed_by = f"{rule.interim_appointer} (interim, L1.10)" if by_panel else rule.appointed_by
    row = store.add_appointment(
        tx,
        person_id=person_id,
        office=office.value,
        appointed_by=appointed_by,
        starts_on=starts_on,
        term_ends_on=term_ends_on,
        scheduled_end=scheduled_end,
        created_at=utc_timestamp(),
    )
    audit.record(
        tx,
        actor=actor,
        action="pma.appoint",
        object_type="pma.appointment",
        object_id=str(row.id),
        details={
            "person": person_id,
            "office": office.value,
            "appointed_by": appointed_by,
            "starts_on": starts_on.isoformat(),
            "term_ends_on": term_ends_on.isoformat() if term_ends_on else None,
            "scheduled_end": scheduled_end.isoformat() if scheduled_end else None,
            "member_confirmation": member_confirmation,
            "independent": independent,
        },
    )
    return _holding(tx, row)


_CONFIRMATION_CLAUSE: dict[Office, str] = {
    Office.CHAIR: "L1.5(d)",
    Office.SUPPLIER_LARGE: "L1.6(a)",
    Office.SUPPLIER_SMALL: "L1.6(a)",
    Office.NETWORK_ELECTRICITY: "L1.8(a)",
    Office.NETWORK_GAS: "L1.8(a)",
    Office.SSC: "L1.10",
    Office.TABASC: "L1.10",
}


def _check_seats(
    tx: Transaction, office: Office, existing: Iterable[AppointmentRecord], start: date, end: date | None
) -> None:
    seats = office.rule.seats
    overlapping = [a for a in existing if _overlaps(a, start, end)]
    for day in sorted({start, *(a.starts_on for a in overlapping if a.starts_on > start)}):
        holding = [a for a in overlapping if a.starts_on <= day < _until(a)]
        if len(holding) >= seats:
            names = ", ".join(_get_person(tx, a.person_id).name for a in holding)
            noun = "office is" if seats == 1 else f"{seats} seats are"
            raise PolicyRefusal(
                "pma.office_full",
                f"The {office.rule.title} {noun} already held on {day} ({names}): "
                "end that appointment before appointing another.",
                "L1.3",
            )


def end_appointment(
    db: Database,
    *,
    person_id: int,
    on: date,
    reason: EndReason,
    actor: str,
    note: str | None = None,
) -> Holding:
    """End the office a person holds on ``on`` (they no longer hold it from that day).

    Removal applies to the Chair (L1.5(d)), the Supplier and Network Members (L1.6(c), L1.8(c)) and the
    Specialist; the SSC and TABASC representatives are replaced by their Sub-Committee instead (L1.10).
    Any member may resign.
    """
    if reason not in (EndReason.REMOVED, EndReason.RESIGNED):
        raise InvalidInput("pma.end_reason", "An office is ended by removal or resignation.")
    with db.transaction() as tx:
        store.serialise_writes(tx)
        row = _current_appointment(tx, person_id, on)
        office = Office(row.office)
        if reason is EndReason.REMOVED and office not in REMOVAL_CLAUSE:
            raise PolicyRefusal(
                "pma.replace_not_remove",
                f"The {office.rule.title} is not removed by the SMKI PMA: the nominating Sub-Committee "
                "replaces its nominee by prior notice to the Secretariat.",
                "L1.10",
            )
        if on <= row.starts_on:
            raise InvalidInput(
                "pma.end_before_start", f"The appointment starts on {row.starts_on}: end it after that."
            )
        row = store.end_appointment(tx, row.id, ended_on=on, end_reason=reason.value, end_note=note)
        audit.record(
            tx,
            actor=actor,
            action="pma.appointment.end",
            object_type="pma.appointment",
            object_id=str(row.id),
            details={
                "person": person_id,
                "office": office.value,
                "ended_on": on.isoformat(),
                "reason": reason.value,
                "clause": REMOVAL_CLAUSE.get(office),
                "note": note,
            },
        )
        return _holding(tx, row)


def replace_nominee(
    db: Database,
    *,
    office: Office,
    person_id: int,
    on: date,
    notice_given_on: date,
    actor: str,
    member_confirmation: bool = False,
    by_panel: bool = False,
) -> Holding:
    """The SSC or TABASC nominates (or replaces) its representative from ``on`` by prior notice (L1.10).

    ``by_panel``: the Panel does so because the Sub-Committee does not exist yet (L1.10, last sentence).
    """
    if office not in (Office.SSC, Office.TABASC):
        raise PolicyRefusal(
            "pma.not_nominated_office",
            f"Only the SSC and TABASC representatives are nominated and replaced by their Sub-Committee, "
            f"not the {office.rule.title}.",
            "L1.10",
        )
    if notice_given_on > on:
        raise PolicyRefusal(
            "pma.prior_notice",
            f"A replacement takes effect only after prior notice to the Secretariat: notice on "
            f"{notice_given_on} is after {on}.",
            "L1.10",
        )
    with db.transaction() as tx:
        store.serialise_writes(tx)
        for current in store.appointments_in_office(tx, office.value):
            if current.starts_on <= on < _until(current):
                if current.person_id == person_id:
                    raise InvalidInput(
                        "pma.same_nominee", "That person is already the nominee: nothing to replace."
                    )
                if on <= current.starts_on:
                    raise InvalidInput(
                        "pma.end_before_start",
                        f"The current nominee starts on {current.starts_on}: replace after that.",
                    )
                store.end_appointment(
                    tx,
                    current.id,
                    ended_on=on,
                    end_reason=EndReason.REPLACED.value,
                    end_note=current.end_note,
                )
                audit.record(
                    tx,
                    actor=actor,
                    action="pma.appointment.end",
                    object_type="pma.appointment",
                    object_id=str(current.id),
                    details={
                        "office": office.value,
                        "ended_on": on.isoformat(),
                        "reason": "replaced",
                        "notice_given_on": notice_given_on.isoformat(),
                        "clause": "L1.10",
                    },
                )
        return _appoint(
            tx,
            person_id=person_id,
            office=office,
            starts_on=on,
            actor=actor,
            member_confirmation=member_confirmation,
            independent=False,
            by_panel=by_panel,
            continuation_months=0,
        )


def _current_appointment(tx: Transaction, person_id: int, on: date) -> AppointmentRecord:
    person = _get_person(tx, person_id)
    for row in store.appointments_of_person(tx, person_id):
        if row.starts_on <= on < _until(row):
            return row
    raise InvalidInput("pma.not_a_member", f"{person.name} holds no SMKI PMA office on {on}.")


# alternates


def appoint_alternate(
    db: Database,
    *,
    member_person_id: int,
    alternate_person_id: int,
    starts_on: date,
    actor: str,
    ends_on: date | None = None,
    independent: bool = False,
) -> AlternateAppointment:
    """A member appoints an Alternate (L1.12); for the Chair this is the nomination of L1.12(b).

    The Chair is deemed to have nominated the SMKI Specialist (L1.12(a)), so nothing is recorded for
    that; the Chair nominates someone else for when the Specialist is unavailable, who may not be an SMKI
    PMA Member and must be sufficiently independent (``independent``).
    """
    if ends_on is not None and ends_on <= starts_on:
        raise InvalidInput(
            "pma.alternate_interval", "An Alternate's end date must come after the start date."
        )
    with db.transaction() as tx:
        store.serialise_writes(tx)
        member_row = _holding_row_on(tx, member_person_id, starts_on)
        if member_row is None:
            name = _get_person(tx, member_person_id).name
            raise PolicyRefusal(
                "pma.not_a_member",
                f"{name} holds no SMKI PMA office on {starts_on}, so cannot appoint an Alternate.",
                "L1.12",
            )
        alternate = _get_person(tx, alternate_person_id)
        if alternate_person_id == member_person_id:
            raise InvalidInput("pma.alternate_self", "A member cannot be his or her own Alternate.")
        if alternate.kind != PersonKind.INDIVIDUAL.value:
            raise PolicyRefusal(
                "pma.not_individual",
                f"{alternate.name} is a {alternate.kind.replace('-', ' ')}: an Alternate acts as a member "
                "and must be an individual.",
                "L1.4",
            )
        office = Office(member_row.office)
        if office is Office.CHAIR:
            for other in store.appointments_of_person(tx, alternate_person_id):
                if _intervals_overlap(other.starts_on, _end(other), starts_on, ends_on):
                    raise PolicyRefusal(
                        "pma.chair_alternate_member",
                        f"{alternate.name} is an SMKI PMA Member ({Office(other.office).rule.title}): "
                        "the Chair's nominated Alternate may not be another SMKI PMA Member.",
                        "L1.12(b)",
                    )
            if not independent:
                raise PolicyRefusal(
                    "pma.chair_alternate_independence",
                    "The Chair's nominated Alternate must be sufficiently independent of any particular "
                    "Party or class of Parties.",
                    "L1.12(b)",
                )
        for existing in store.alternates_for(tx, member_row.id):
            if _intervals_overlap(existing.starts_on, existing.ends_on, starts_on, ends_on):
                raise PolicyRefusal(
                    "pma.one_alternate",
                    f"{_get_person(tx, member_person_id).name} already has an Alternate from "
                    f"{existing.starts_on}: end it first.",
                    "L1.12",
                )
        row = store.add_alternate(
            tx,
            appointment_id=member_row.id,
            alternate_person_id=alternate_person_id,
            starts_on=starts_on,
            ends_on=ends_on,
            independent=independent,
            created_at=utc_timestamp(),
        )
        audit.record(
            tx,
            actor=actor,
            action="pma.alternate.appoint",
            object_type="pma.alternate",
            object_id=str(row.id),
            details={
                "member": member_person_id,
                "office": office.value,
                "alternate": alternate_person_id,
                "starts_on": starts_on.isoformat(),
                "ends_on": ends_on.isoformat() if ends_on else None,
                "independent": independent,
                "clause": "L1.12(b)" if office is Office.CHAIR else "L1.12",
            },
        )
        return _alternate(tx, row)


def alternates_on(db: Database, day: date) -> list[AlternateAppointment]:
    """Every Alternate appointment valid on ``day`` (the Specialist's deemed one is not recorded)."""
    with db.read_transaction() as tx:
        result: list[AlternateAppointment] = []
        for appointment in store.all_appointments(tx):
            for row in store.alternates_for(tx, appointment.id):
                alt = _alternate(tx, row)
                if alt.valid_on(day):
                    result.append(alt)
        return result


def _chair_alternates_of(tx: Transaction, person_id: int) -> list[AlternateRecord]:
    result: list[AlternateRecord] = []
    for appointment in store.appointments_in_office(tx, Office.CHAIR.value):
        result.extend(
            a for a in store.alternates_for(tx, appointment.id) if a.alternate_person_id == person_id
        )
    return result


# queries


def holders_on(db: Database, office: Office, day: date) -> list[Holding]:
    """Who held ``office`` on ``day``, from the recorded history."""
    with db.read_transaction() as tx:
        return holders_in(tx, office, day)


def holder_on(db: Database, office: Office, day: date) -> Holding | None:
    """Who held a single-seat office on ``day`` (None when vacant); e.g. who was Chair on a date."""
    if office.rule.seats != 1:
        raise InvalidInput(
            "pma.office_has_seats",
            f"The {office.value} office has {office.rule.seats} seats: ask for holders_on.",
        )
    found = holders_on(db, office, day)
    return found[0] if found else None


def members_on(db: Database, day: date) -> list[Holding]:
    """Every SMKI PMA Member on ``day``, in the order of L1.3."""
    with db.read_transaction() as tx:
        return members_in(tx, day)


def history(db: Database, office: Office | None = None) -> list[Holding]:
    """Every appointment (to one office, or all), oldest first."""
    with db.read_transaction() as tx:
        rows = store.appointments_in_office(tx, office.value) if office else store.all_appointments(tx)
        return [_holding(tx, row) for row in rows]


def vacancies_on(db: Database, day: date) -> dict[Office, int]:
    """Unfilled seats per office on ``day`` (empty when the PMA is fully constituted under L1.3)."""
    held = members_on(db, day)
    result = {}
    for office, rule in OFFICES.items():
        free = rule.seats - sum(1 for h in held if h.office is office)
        if free:
            result[office] = free
    return result


def holders_in(tx: Transaction, office: Office, day: date) -> list[Holding]:
    """``holders_on`` inside an open transaction (for other governance modules)."""
    rows = store.appointments_in_office(tx, office.value)
    return [_holding(tx, r) for r in rows if r.starts_on <= day < _until(r)]


def members_in(tx: Transaction, day: date) -> list[Holding]:
    """``members_on`` inside an open transaction (for other governance modules)."""
    order = list(Office)
    rows = [r for r in store.all_appointments(tx) if r.starts_on <= day < _until(r)]
    holdings = [_holding(tx, r) for r in rows]
    return sorted(holdings, key=lambda h: (order.index(h.office), h.starts_on, h.appointment_id))


def holding_in(tx: Transaction, person_id: int, day: date) -> Holding | None:
    """The office a person holds on ``day`` inside an open transaction, or None."""
    row = _holding_row_on(tx, person_id, day)
    return _holding(tx, row) if row else None


def alternates_in(tx: Transaction, appointment_id: int, day: date) -> list[AlternateAppointment]:
    """The Alternates valid on ``day`` for one appointment, inside an open transaction."""
    return [
        alt
        for alt in (_alternate(tx, row) for row in store.alternates_for(tx, appointment_id))
        if alt.valid_on(day)
    ]


def person_in(tx: Transaction, person_id: int) -> Person:
    """A person inside an open transaction (InvalidInput when unknown)."""
    return _person(_get_person(tx, person_id))


def _holding_row_on(tx: Transaction, person_id: int, day: date) -> AppointmentRecord | None:
    for row in store.appointments_of_person(tx, person_id):
        if row.starts_on <= day < _until(row):
            return row
    return None


# conversions and interval arithmetic


def _end(row: AppointmentRecord) -> date | None:
    if row.ended_on is not None:
        return row.ended_on
    return row.scheduled_end


def _until(row: AppointmentRecord) -> date:
    """The first day the appointment no longer holds office (``date.max`` while open-ended)."""
    end = _end(row)
    return date.max if end is None else end


def _overlaps(row: AppointmentRecord, start: date, end: date | None) -> bool:
    return _intervals_overlap(row.starts_on, _end(row), start, end)


def _intervals_overlap(a_start: date, a_end: date | None, b_start: date, b_end: date | None) -> bool:
    return (b_end is None or a_start < b_end) and (a_end is None or b_start < a_end)


def _interval(row: AppointmentRecord) -> str:
    end = _end(row)
    return f"from {row.starts_on}" + (f" until {end}" if end else "")


def _person(row: PersonRecord) -> Person:
    return Person(row.id, row.name, PersonKind(row.kind))


def _holding(tx: Transaction, row: AppointmentRecord) -> Holding:
    return Holding(
        appointment_id=row.id,
        office=Office(row.office),
        person=_person(_get_person(tx, row.person_id)),
        appointed_by=row.appointed_by,
        starts_on=row.starts_on,
        term_ends_on=row.term_ends_on,
        ends_on=_end(row),
        end_reason=row.end_reason,
    )


def _alternate(tx: Transaction, row: AlternateRecord) -> AlternateAppointment:
    appointment = store.get_appointment(tx, row.appointment_id)
    assert appointment is not None  # foreign key
    return AlternateAppointment(
        id=row.id,
        member=_holding(tx, appointment),
        alternate=_person(_get_person(tx, row.alternate_person_id)),
        starts_on=row.starts_on,
        ends_on=row.ends_on,
    )


def utc_timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
