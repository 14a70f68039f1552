"""`smki audit verify` as an operator runs it: intact chain exits 0, an edited row exits 1 and is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from smki import audit
from smki.cli.main import app
from smki.storage import Database


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_audit_verify_names_the_edited_row(kind: str, tmp_path: Path, database_url_for) -> None:  # type: ignore[no-untyped-def]
    url = database_url_for(kind)
    db = Database(url)
    db.upgrade()
    for i in range(5):
        with db.transaction() as s:
            audit.record(s, actor="operator", action="test.step", object_type="thing", object_id=str(i))
    runner = CliRunner()
    env = {"SMKI_DATABASE_URL": url, "SMKI_HOME": str(tmp_path)}

    ok = runner.invoke(app, ["audit", "verify", "--json"], env=env)
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout) == {"ok": True, "entries": 5, "first_bad_seq": None, "reason": None}

    with db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_log SET object_id = 'tampered' WHERE seq = 2"))
    broken = runner.invoke(app, ["audit", "verify"], env=env)
    assert broken.exit_code == 1
    assert "entry 2" in broken.stdout
    db.dispose()
