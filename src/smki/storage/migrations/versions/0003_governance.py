"""SMKI PMA governance: persons, appointments, alternates, meetings, attendance, decisions, votes.

A branch off the base schema (the CA and RA branches are its siblings); ``upgrade heads`` applies all.

Revision ID: 0003_governance
Revises: 0001_base
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_governance"
down_revision = "0001_base"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pma_person",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pma_person"),
    )
    op.create_table(
        "pma_appointment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("office", sa.String(32), nullable=False),
        sa.Column("appointed_by", sa.String(200), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("term_ends_on", sa.Date(), nullable=True),
        sa.Column("scheduled_end", sa.Date(), nullable=True),
        sa.Column("ended_on", sa.Date(), nullable=True),
        sa.Column("end_reason", sa.String(32), nullable=True),
        sa.Column("end_note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pma_appointment"),
        sa.ForeignKeyConstraint(
            ["person_id"], ["pma_person.id"], name="fk_pma_appointment_person_id_pma_person"
        ),
    )
    op.create_index("ix_pma_appointment_person_id", "pma_appointment", ["person_id"])
    op.create_index("ix_pma_appointment_office", "pma_appointment", ["office"])
    op.create_table(
        "pma_alternate",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("appointment_id", sa.Integer(), nullable=False),
        sa.Column("alternate_person_id", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("independent", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pma_alternate"),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["pma_appointment.id"],
            name="fk_pma_alternate_appointment_id_pma_appointment",
        ),
        sa.ForeignKeyConstraint(
            ["alternate_person_id"], ["pma_person.id"], name="fk_pma_alternate_alternate_person_id_pma_person"
        ),
    )
    op.create_index("ix_pma_alternate_appointment_id", "pma_alternate", ["appointment_id"])
    op.create_index("ix_pma_alternate_alternate_person_id", "pma_alternate", ["alternate_person_id"])
    op.create_table(
        "pma_meeting",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(32), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pma_meeting"),
        sa.UniqueConstraint("reference", name="uq_pma_meeting_reference"),
    )
    op.create_table(
        "pma_attendance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("capacity", sa.String(16), nullable=False),
        sa.Column("for_appointment_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_pma_attendance"),
        sa.ForeignKeyConstraint(
            ["meeting_id"], ["pma_meeting.id"], name="fk_pma_attendance_meeting_id_pma_meeting"
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["pma_person.id"], name="fk_pma_attendance_person_id_pma_person"
        ),
        sa.ForeignKeyConstraint(
            ["for_appointment_id"],
            ["pma_appointment.id"],
            name="fk_pma_attendance_for_appointment_id_pma_appointment",
        ),
        sa.UniqueConstraint(
            "meeting_id", "person_id", "capacity", "for_appointment_id", name="uq_pma_attendance"
        ),
    )
    op.create_index("ix_pma_attendance_meeting_id", "pma_attendance", ["meeting_id"])
    op.create_table(
        "pma_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("role_code", sa.Integer(), nullable=True),
        sa.Column("entity_id", sa.String(16), nullable=True),
        sa.Column("public_key_sha256", sa.String(64), nullable=True),
        sa.Column("not_after", sa.String(32), nullable=True),
        sa.Column("validity_years", sa.Integer(), nullable=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("ssc_views", sa.Text(), nullable=True),
        sa.Column("ssc_views_on", sa.Date(), nullable=True),
        sa.Column("proposed_on", sa.Date(), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("meeting_id", sa.Integer(), nullable=True),
        sa.Column("revoked_on", sa.Date(), nullable=True),
        sa.Column("revoked_meeting_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pma_decision"),
        sa.UniqueConstraint("reference", name="uq_pma_decision_reference"),
        sa.ForeignKeyConstraint(
            ["meeting_id"], ["pma_meeting.id"], name="fk_pma_decision_meeting_id_pma_meeting"
        ),
        sa.ForeignKeyConstraint(
            ["revoked_meeting_id"], ["pma_meeting.id"], name="fk_pma_decision_revoked_meeting_id_pma_meeting"
        ),
    )
    op.create_index("ix_pma_decision_subject", "pma_decision", ["kind", "role_code", "entity_id"])
    op.create_table(
        "pma_vote",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("motion", sa.String(16), nullable=False),
        sa.Column("appointment_id", sa.Integer(), nullable=False),
        sa.Column("cast_by_person_id", sa.Integer(), nullable=False),
        sa.Column("choice", sa.String(16), nullable=False),
        sa.Column("casting", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pma_vote"),
        sa.ForeignKeyConstraint(
            ["decision_id"], ["pma_decision.id"], name="fk_pma_vote_decision_id_pma_decision"
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"], ["pma_meeting.id"], name="fk_pma_vote_meeting_id_pma_meeting"
        ),
        sa.ForeignKeyConstraint(
            ["appointment_id"], ["pma_appointment.id"], name="fk_pma_vote_appointment_id_pma_appointment"
        ),
        sa.ForeignKeyConstraint(
            ["cast_by_person_id"], ["pma_person.id"], name="fk_pma_vote_cast_by_person_id_pma_person"
        ),
    )
    op.create_index("ix_pma_vote_decision_id", "pma_vote", ["decision_id"])


def downgrade() -> None:
    op.drop_index("ix_pma_vote_decision_id", table_name="pma_vote")
    op.drop_table("pma_vote")
    op.drop_index("ix_pma_decision_subject", table_name="pma_decision")
    op.drop_table("pma_decision")
    op.drop_index("ix_pma_attendance_meeting_id", table_name="pma_attendance")
    op.drop_table("pma_attendance")
    op.drop_table("pma_meeting")
    op.drop_index("ix_pma_alternate_alternate_person_id", table_name="pma_alternate")
    op.drop_index("ix_pma_alternate_appointment_id", table_name="pma_alternate")
    op.drop_table("pma_alternate")
    op.drop_index("ix_pma_appointment_office", table_name="pma_appointment")
    op.drop_index("ix_pma_appointment_person_id", table_name="pma_appointment")
    op.drop_table("pma_appointment")
    op.drop_table("pma_person")
