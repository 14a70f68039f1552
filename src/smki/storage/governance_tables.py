"""Tables of the SMKI PMA (Section L1): persons, appointments as dated intervals, alternates, meetings,
attendance, decisions and the votes that carried or refused them."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from smki.storage.base import Base


class PmaPerson(Base):
    """Anyone the PMA records: members, alternates, the DCC representative, invitees (L1.3, L1.14)."""

    __tablename__ = "pma_person"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)  # individual, body-corporate, ...
    created_at: Mapped[str] = mapped_column(String(32), nullable=False)


class PmaAppointment(Base):
    """One person holding one office from ``starts_on`` until the day before the effective end.

    The effective end is ``ended_on`` when set (removal, resignation, replacement, successor), else
    ``scheduled_end`` (end of a fixed term, or of the Chair's continuation), else open.
    """

    __tablename__ = "pma_appointment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("pma_person.id"), nullable=False, index=True)
    office: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    appointed_by: Mapped[str] = mapped_column(String(200), nullable=False)
    starts_on: Mapped[date] = mapped_column(Date, nullable=False)
    term_ends_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    scheduled_end: Mapped[date | None] = mapped_column(Date, nullable=True)
    ended_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    end_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    end_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[str] = mapped_column(String(32), nullable=False)


class PmaAlternate(Base):
    """An Alternate appointed by a member (L1.12), or nominated by the Chair when the Specialist is
    unavailable (L1.12(b)). Valid from ``starts_on`` until the day before ``ends_on`` (open if None)."""

    __tablename__ = "pma_alternate"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("pma_appointment.id"), nullable=False, index=True)
    alternate_person_id: Mapped[int] = mapped_column(ForeignKey("pma_person.id"), nullable=False, index=True)
    starts_on: Mapped[date] = mapped_column(Date, nullable=False)
    ends_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    independent: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[str] = mapped_column(String(32), nullable=False)


class PmaMeeting(Base):
    """A meeting of the SMKI PMA on one date; decisions are taken only while it is open."""

    __tablename__ = "pma_meeting"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    held_on: Mapped[date] = mapped_column(Date, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # open, closed
    created_at: Mapped[str] = mapped_column(String(32), nullable=False)


class PmaAttendance(Base):
    """Who was at a meeting and in what capacity: member, alternate (for whom), DCC, invitee (L1.14)."""

    __tablename__ = "pma_attendance"
    __table_args__ = (
        UniqueConstraint(
            "meeting_id", "person_id", "capacity", "for_appointment_id", name="uq_pma_attendance"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("pma_meeting.id"), nullable=False, index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("pma_person.id"), nullable=False)
    capacity: Mapped[str] = mapped_column(String(16), nullable=False)
    for_appointment_id: Mapped[int | None] = mapped_column(ForeignKey("pma_appointment.id"), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


class PmaDecision(Base):
    """A matter put to the PMA: its kind, subject, content and where it stands."""

    __tablename__ = "pma_decision"
    __table_args__ = (Index("ix_pma_decision_subject", "kind", "role_code", "entity_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    role_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    entity_id: Mapped[str | None] = mapped_column(String(16), nullable=True)  # compact EUI-64
    public_key_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    not_after: Mapped[str | None] = mapped_column(String(32), nullable=True)  # ISO-8601 UTC
    validity_years: Mapped[int | None] = mapped_column(Integer, nullable=True)
    content: Mapped[str] = mapped_column(Text, nullable=False)  # canonical JSON
    ssc_views: Mapped[str | None] = mapped_column(Text, nullable=True)
    ssc_views_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    proposed_on: Mapped[date] = mapped_column(Date, nullable=False)
    decided_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("pma_meeting.id"), nullable=True)
    revoked_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    revoked_meeting_id: Mapped[int | None] = mapped_column(ForeignKey("pma_meeting.id"), nullable=True)
    created_at: Mapped[str] = mapped_column(String(32), nullable=False)


class PmaVote(Base):
    """One member's vote on one motion (approve or revoke), cast in person or by an Alternate."""

    __tablename__ = "pma_vote"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("pma_decision.id"), nullable=False, index=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("pma_meeting.id"), nullable=False)
    motion: Mapped[str] = mapped_column(String(16), nullable=False)  # approve, revoke
    appointment_id: Mapped[int] = mapped_column(ForeignKey("pma_appointment.id"), nullable=False)
    cast_by_person_id: Mapped[int] = mapped_column(ForeignKey("pma_person.id"), nullable=False)
    choice: Mapped[str] = mapped_column(String(16), nullable=False)  # for, against, abstain
    casting: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
