"""SMKI Repository: change sequence on certificates, query indexes, revocation reasons, published CRLs.

* ``certificates.change_seq`` / ``changed_at``: the audit sequence number and time of the entry that last
  changed the certificate (issue or revocation). Audit entries are appended under the audit head's lock,
  held to commit, so change sequences become visible in increasing order: what an incremental extract
  needs. Existing rows are backfilled from their newest audit entry.
* Composite indexes for repository search with keyset pagination (``id`` is the key).
* ``ra_revocations.reason_code`` (RFC 5280 CRLReason name) and ``actor``: the one revocation table.
* ``crl_publications``: every CRL/ARL issued, its cRLNumber (monotonic per CA) and the latest DER.

Revision ID: 0005_repository
Revises: 0002_ca
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_repository"
down_revision = "0002_ca"
branch_labels = ("repository",)
depends_on = "0004_ra"

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)

_INDEXES = (
    ("ix_certificates_entity_usage_role", ["entity_id", "key_usage", "role_code"]),
    ("ix_certificates_issuer_id", ["issuer_name", "id"]),
    ("ix_certificates_status_id", ["status", "id"]),
    ("ix_certificates_kind_id", ["kind", "id"]),
    ("ix_certificates_not_after", ["not_after"]),
    ("ix_certificates_not_before", ["not_before"]),
    ("ix_certificates_change_seq", ["change_seq"]),
    ("ix_certificates_changed_at", ["changed_at"]),
)


def upgrade() -> None:
    with op.batch_alter_table("certificates") as batch:
        batch.add_column(sa.Column("change_seq", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("changed_at", _TS, nullable=True))
    # Backfill: the newest audit entry naming the certificate (issue: serial; RA revocation: issuer/serial).
    op.execute(
        "UPDATE certificates SET change_seq = (SELECT MAX(a.seq) FROM audit_log a "
        "WHERE a.object_type = 'certificate' AND (a.object_id = certificates.serial_hex "
        "OR a.object_id = certificates.issuer_name || '/' || certificates.serial_hex))"
    )
    op.execute("UPDATE certificates SET changed_at = issued_at")
    for name, columns in _INDEXES:
        op.create_index(name, "certificates", columns)

    with op.batch_alter_table("ra_revocations") as batch:
        batch.add_column(sa.Column("reason_code", sa.String(32), nullable=True))
        batch.add_column(sa.Column("actor", sa.String(200), nullable=True))

    op.create_table(
        "crl_publications",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("ca_name", sa.String(64), nullable=False),
        sa.Column("ca_kind", sa.String(20), nullable=False),
        sa.Column("crl_number", sa.BigInteger(), nullable=False),
        sa.Column("this_update", _TS, nullable=False),
        sa.Column("next_update", _TS, nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("published_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_crl_publications"),
        sa.UniqueConstraint("ca_name", "crl_number", name="uq_crl_publications_ca_name"),
    )


def downgrade() -> None:
    op.drop_table("crl_publications")
    with op.batch_alter_table("ra_revocations") as batch:
        batch.drop_column("actor")
        batch.drop_column("reason_code")
    for name, _columns in _INDEXES:
        op.drop_index(name, table_name="certificates")
    with op.batch_alter_table("certificates") as batch:
        batch.drop_column("changed_at")
        batch.drop_column("change_seq")
