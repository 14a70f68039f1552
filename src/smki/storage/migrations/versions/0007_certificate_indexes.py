"""Drop three certificate indexes that a composite index already covers.

``ix_certificates_entity_id`` (entity_id) is the prefix of ``ix_certificates_entity_usage_role`` and
``ix_certificates_kind`` (kind) the prefix of ``ix_certificates_kind_id`` (both from 0005); a lookup by
``public_key_sha256`` alone goes through ``ix_certificates_hierarchy_public_key`` with the three
hierarchies (storage.ca_store). Each certificate insert maintained these b-trees for nothing; the key
index, keyed by a random hash, also dirtied one more page per certificate in every write transaction (at
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
    ("ix_certificates_public_key_sha256", ["public_key_sha256"]),
)


def upgrade() -> None:
    for name, _ in _DROPPED:
        op.drop_index(name, table_name="certificates")


def downgrade() -> None:
    for name, columns in _DROPPED:
        op.create_index(name, "certificates", columns)
