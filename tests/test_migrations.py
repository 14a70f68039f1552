"""Migrations run up and back down on both databases: 0007 drops the prefix-redundant certificate
indexes, 0008 the two random-key indexes no query needs."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command

from smki.storage import Database

DROPPED = {"ix_certificates_entity_id", "ix_certificates_kind", "ix_certificates_public_key_sha256"}


def certificate_indexes(db: Database) -> set[str]:
    return {i["name"] for i in sa.inspect(db.engine).get_indexes("certificates") if i["name"]}


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_0007_drops_the_covered_indexes_and_its_downgrade_restores_them(
    kind: str,
    database_url_for,  # type: ignore[no-untyped-def]
) -> None:
    db = Database(database_url_for(kind))
    db.upgrade()
    after = certificate_indexes(db)
    assert not DROPPED & after
    assert {"ix_certificates_entity_usage_role", "ix_certificates_kind_id"} <= after
    with db.engine.connect() as connection:
        cfg = db.alembic_config()
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "0005_repository")
        connection.commit()
    assert "0005_repository" in db.current_revisions()
    assert certificate_indexes(db) >= DROPPED
    db.upgrade()
    assert not DROPPED & certificate_indexes(db)
    db.dispose()


def audit_unique_constraints(db: Database) -> set[str]:
    inspector = sa.inspect(db.engine)
    return {c["name"] for c in inspector.get_unique_constraints("audit_log") if c["name"]}


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_0008_drops_the_random_key_indexes_keeps_the_chain_and_its_downgrade_restores_them(
    kind: str,
    database_url_for,  # type: ignore[no-untyped-def]
) -> None:
    from smki import audit

    db = Database(database_url_for(kind))
    with db.engine.connect() as connection:
        cfg = db.alembic_config()
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "heads")
        command.downgrade(cfg, "0007_certificate_indexes")
        connection.commit()
    assert "ix_certificates_serial_hex" in certificate_indexes(db)
    assert "uq_audit_log_entry_hash" in audit_unique_constraints(db)
    # Entries written before the upgrade are carried over by SQLite's table rebuild and still verify.
    with db.transaction() as s:
        for n in range(3):
            audit.record(s, actor="t", action="test.entry", object_type="thing", object_id=str(n))
    db.upgrade()
    assert "0008_fewer_random_indexes" in db.current_revisions()
    assert "ix_certificates_serial_hex" not in certificate_indexes(db)
    assert "uq_audit_log_entry_hash" not in audit_unique_constraints(db)
    assert {"ix_audit_log_action", "ix_audit_log_object_id"} <= {
        i["name"] for i in sa.inspect(db.engine).get_indexes("audit_log")
    }
    verdict = audit.verify(db)
    assert verdict.ok and verdict.entries == 3, verdict.sentence()
    with db.engine.connect() as connection:
        cfg = db.alembic_config()
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "0007_certificate_indexes")
        connection.commit()
    assert "ix_certificates_serial_hex" in certificate_indexes(db)
    assert "uq_audit_log_entry_hash" in audit_unique_constraints(db)
    assert audit.verify(db).ok
    db.dispose()
