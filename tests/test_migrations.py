"""Migrations run up and back down on both databases; 0007 drops the two prefix-redundant indexes."""

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
    assert "0007_certificate_indexes" in db.current_revisions()
    after = certificate_indexes(db)
    assert not DROPPED & after
    assert {"ix_certificates_entity_usage_role", "ix_certificates_kind_id"} <= after
    with db.engine.connect() as connection:
        cfg = db.alembic_config()
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "repository@-1")
        connection.commit()
    assert "0005_repository" in db.current_revisions()
    assert certificate_indexes(db) >= DROPPED
    db.upgrade()
    assert not DROPPED & certificate_indexes(db)
    db.dispose()
