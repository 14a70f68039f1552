"""Drop two indexes keyed by random values that no query needs.

- ``ix_certificates_serial_hex``: a lookup with the issuer goes through ``uq_certificates_issuer_name``
  (issuer_name, serial_hex); a lookup by serial alone goes through the issuance intents, whose
  ``serial_hex`` is unique across every issuer, and ``uq_certificates_intent_id`` (every certificate row
  is written by the issuance cycle with its intent; see storage.ca_store.serial_is).
- ``uq_audit_log_entry_hash``: the chain is proven by recomputing it (``smki audit verify``), never by
  looking an entry up by its hash, and ``seq`` is the key.

Each was one more b-tree leaf, at a random place, dirtied per certificate in every write transaction (on
SQLite, one more page written to the WAL per certificate of a batch). SQLite has no DROP CONSTRAINT:
batch mode rebuilds ``audit_log`` (nothing references it).

Revision ID: 0008_fewer_random_indexes
Revises: 0007_certificate_indexes
"""

from __future__ import annotations

from alembic import op

revision = "0008_fewer_random_indexes"
down_revision = "0007_certificate_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_certificates_serial_hex", table_name="certificates")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_constraint("uq_audit_log_entry_hash", type_="unique")


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.create_unique_constraint("uq_audit_log_entry_hash", ["entry_hash"])
    op.create_index("ix_certificates_serial_hex", "certificates", ["serial_hex"])
