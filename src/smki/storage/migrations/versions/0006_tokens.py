"""API tokens: bearer tokens of parties, stored as SHA-256 hashes.

A branch off the base schema; it depends on the RA branch because a token names a party.

Revision ID: 0006_tokens
Revises: 0001_base
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_tokens"
down_revision = "0001_base"
branch_labels = ("tokens",)
depends_on = "0004_ra"

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("hint", sa.String(16), nullable=False),
        sa.Column("party_id", sa.String(100), nullable=False),
        sa.Column("policies", sa.String(60), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=True),
        sa.Column("revoked_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.ForeignKeyConstraint(
            ["party_id"], ["ra_parties.party_id"], name="fk_api_tokens_party_id_ra_parties"
        ),
        sa.UniqueConstraint("token_sha256", name="uq_api_tokens_token_sha256"),
    )
    op.create_index("ix_api_tokens_party_id", "api_tokens", ["party_id"])


def downgrade() -> None:
    op.drop_index("ix_api_tokens_party_id", table_name="api_tokens")
    op.drop_table("api_tokens")
