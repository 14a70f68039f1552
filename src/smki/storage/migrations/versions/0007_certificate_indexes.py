"""Drop two certificate indexes that a composite index already covers.

``ix_certificates_entity_id`` (entity_id) is the prefix of ``ix_certificates_entity_usage_role`` and
``ix_certificates_kind`` (kind) the prefix of ``ix_certificates_kind_id`` (both from 0005): every lookup
they served uses the composite one, and each certificate insert maintained two b-trees for nothing (at
10^8 device certificates, gigabytes of index).

Revision ID: 0007_certificate_indexes
Revises: 0005_repository
"""

from __future__ import annotations

from alembic import op

revision = "0007_certificate_indexes"
down_revision = "0005_repository"
branch_labels = None
depends_on = None

_DROPPED = (
    ("ix_certificates_entity_id", ["entity_id"]),
    ("ix_certificates_kind", ["kind"]),
)


def upgrade() -> None:
    for name, _ in _DROPPED:
        op.drop_index(name, table_name="certificates")


def downgrade() -> None:
    for name, columns in _DROPPED:
        op.create_index(name, "certificates", columns)
