"""Registration Authority: parties, identifiers, RDP nominations, entry tests, subscribers, revocations.

A branch off the base schema; it depends on the CA branch because a revocation names a certificate row.

Revision ID: 0004_ra
Revises: 0001_base
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_ra"
down_revision = "0001_base"
branch_labels = ("ra",)
depends_on = "0002_ca"

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ra_parties",
        sa.Column("party_id", sa.String(100), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("party_type", sa.String(10), nullable=False),
        sa.Column("licences", sa.String(200), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("party_id", name="pk_ra_parties"),
    )
    op.create_table(
        "ra_party_identifiers",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("party_id", sa.String(100), nullable=False),
        sa.Column("entity_id", sa.String(16), nullable=False),
        sa.Column("user_role", sa.String(40), nullable=False),
        sa.Column("service_provider", sa.String(100), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_ra_party_identifiers"),
        sa.ForeignKeyConstraint(
            ["party_id"], ["ra_parties.party_id"], name="fk_ra_party_identifiers_party_id_ra_parties"
        ),
        sa.UniqueConstraint("entity_id", "user_role", name="uq_ra_party_identifiers_entity_id"),
    )
    op.create_index("ix_ra_party_identifiers_party_id", "ra_party_identifiers", ["party_id"])
    op.create_index("ix_ra_party_identifiers_entity_id", "ra_party_identifiers", ["entity_id"])
    op.create_table(
        "ra_rdp_nominations",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("rdp_id", sa.String(100), nullable=False),
        sa.Column("network_party_id", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ra_rdp_nominations"),
        sa.ForeignKeyConstraint(
            ["rdp_id"], ["ra_parties.party_id"], name="fk_ra_rdp_nominations_rdp_id_ra_parties"
        ),
        sa.ForeignKeyConstraint(
            ["network_party_id"],
            ["ra_parties.party_id"],
            name="fk_ra_rdp_nominations_network_party_id_ra_parties",
        ),
        sa.UniqueConstraint("rdp_id", "network_party_id", name="uq_ra_rdp_nominations_rdp_id"),
    )
    op.create_index("ix_ra_rdp_nominations_rdp_id", "ra_rdp_nominations", ["rdp_id"])
    op.create_table(
        "ra_entry_tests",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("party_id", sa.String(100), nullable=False),
        sa.Column("policy", sa.String(20), nullable=False),
        sa.Column("completed_on", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ra_entry_tests"),
        sa.ForeignKeyConstraint(
            ["party_id"], ["ra_parties.party_id"], name="fk_ra_entry_tests_party_id_ra_parties"
        ),
        sa.UniqueConstraint("party_id", "policy", name="uq_ra_entry_tests_party_id"),
    )
    op.create_table(
        "ra_subscribers",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("party_id", sa.String(100), nullable=False),
        sa.Column("policy", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("last_clause", sa.String(40), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("change_notified", sa.Boolean(), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ra_subscribers"),
        sa.ForeignKeyConstraint(
            ["party_id"], ["ra_parties.party_id"], name="fk_ra_subscribers_party_id_ra_parties"
        ),
        sa.UniqueConstraint("party_id", "policy", name="uq_ra_subscribers_party_id"),
    )
    op.create_table(
        "ra_revocations",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("certificate_id", _ID, nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("clause", sa.String(40), nullable=False),
        sa.Column("revoked_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ra_revocations"),
        sa.ForeignKeyConstraint(
            ["certificate_id"], ["certificates.id"], name="fk_ra_revocations_certificate_id_certificates"
        ),
        sa.UniqueConstraint("certificate_id", name="uq_ra_revocations_certificate_id"),
    )


def downgrade() -> None:
    op.drop_table("ra_revocations")
    op.drop_table("ra_subscribers")
    op.drop_table("ra_entry_tests")
    op.drop_index("ix_ra_rdp_nominations_rdp_id", table_name="ra_rdp_nominations")
    op.drop_table("ra_rdp_nominations")
    op.drop_index("ix_ra_party_identifiers_entity_id", table_name="ra_party_identifiers")
    op.drop_index("ix_ra_party_identifiers_party_id", table_name="ra_party_identifiers")
    op.drop_table("ra_party_identifiers")
    op.drop_table("ra_parties")
