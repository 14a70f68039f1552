"""Certificate authorities: issued certificates, issuance intents, CA records, commissioning credentials.

Revision ID: 0002_ca
Revises: 0001_base
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_ca"
down_revision = "0001_base"
branch_labels = ("ca",)
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "issuance_intents",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("serial_hex", sa.String(40), nullable=False),
        sa.Column("issuer_name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("reserved_at", _TS, nullable=False),
        sa.Column("finished_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_issuance_intents"),
        sa.UniqueConstraint("serial_hex", name="uq_issuance_intents_serial_hex"),
    )
    op.create_index("ix_issuance_intents_state", "issuance_intents", ["state"])

    op.create_table(
        "certificates",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("serial_hex", sa.String(40), nullable=False),
        sa.Column("issuer_name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("hierarchy", sa.String(20), nullable=False),
        sa.Column("role_code", sa.Integer(), nullable=True),
        sa.Column("entity_id", sa.String(16), nullable=True),
        sa.Column("key_usage", sa.String(24), nullable=False),
        sa.Column("subject_der", sa.LargeBinary(), nullable=False),
        sa.Column("not_before", _TS, nullable=False),
        sa.Column("not_after", _TS, nullable=False),
        sa.Column("status", sa.String(1), nullable=False),
        sa.Column("public_key_sha256", sa.String(64), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("subscriber", sa.String(200), nullable=True),
        sa.Column("issued_at", _TS, nullable=False),
        sa.Column("intent_id", _ID, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_certificates"),
        sa.UniqueConstraint("issuer_name", "serial_hex", name="uq_certificates_issuer_name"),
        sa.UniqueConstraint("intent_id", name="uq_certificates_intent_id"),
        sa.ForeignKeyConstraint(
            ["intent_id"], ["issuance_intents.id"], name="fk_certificates_intent_id_issuance_intents"
        ),
    )
    op.create_index("ix_certificates_serial_hex", "certificates", ["serial_hex"])
    op.create_index("ix_certificates_kind", "certificates", ["kind"])
    op.create_index("ix_certificates_entity_id", "certificates", ["entity_id"])
    op.create_index("ix_certificates_public_key_sha256", "certificates", ["public_key_sha256"])
    op.create_index("ix_certificates_subscriber", "certificates", ["subscriber"])
    op.create_index(
        "ix_certificates_hierarchy_public_key", "certificates", ["hierarchy", "public_key_sha256"]
    )

    op.create_table(
        "certificate_authorities",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("hierarchy", sa.String(20), nullable=False),
        sa.Column("key_label", sa.String(128), nullable=False),
        sa.Column("backend", sa.String(16), nullable=False),
        sa.Column("certificate_serial", sa.String(40), nullable=False),
        sa.Column("contingency_key_label", sa.String(128), nullable=True),
        sa.Column("contingency_symmetric_key_label", sa.String(128), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("ceremony", sa.String(32), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_certificate_authorities"),
        sa.UniqueConstraint("key_label", name="uq_certificate_authorities_key_label"),
    )
    op.create_index("ix_certificate_authorities_name", "certificate_authorities", ["name"])
    op.create_index("ix_certificate_authorities_active", "certificate_authorities", ["active"])

    op.create_table(
        "commissioning_credentials",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("paragraph", sa.String(16), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("certificate_id", _ID, nullable=False),
        sa.Column("key_label", sa.String(128), nullable=False),
        sa.Column("backend", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("ceremony", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_commissioning_credentials"),
        sa.UniqueConstraint("key_label", name="uq_commissioning_credentials_key_label"),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
            name="fk_commissioning_credentials_certificate_id_certificates",
        ),
    )
    op.create_index("ix_commissioning_credentials_name", "commissioning_credentials", ["name"])
    op.create_index("ix_commissioning_credentials_active", "commissioning_credentials", ["active"])


def downgrade() -> None:
    op.drop_table("commissioning_credentials")
    op.drop_table("certificate_authorities")
    op.drop_table("certificates")
    op.drop_table("issuance_intents")
