"""`smki token create|list|revoke` on SQLite and PostgreSQL: printed once, stored hashed, scoped to the
policies the party is authorised under (others refused with the RA's clause), audited, and revocable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from smki.cli.main import app
from smki.ra import tokens
from smki.storage import Database, audit_store, token_store

PASSPHRASE = "token-cli-test-passphrase"


class Cli:
    def __init__(self, url: str, home: Path) -> None:
        self.url, self.home = url, home
        self.runner = CliRunner()

    def __call__(self, *args: str, code: int = 0) -> str:
        result = self.runner.invoke(
            app,
            [*args, "--home", str(self.home)],
            env={
                "SMKI_DATABASE_URL": self.url,
                "SMKI_KEY_PASSPHRASE": PASSPHRASE,
                "SMKI_KEY_PASSPHRASE_FILE": None,
            },
        )
        assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
        assert "Traceback" not in result.stdout + result.stderr
        return result.stdout if code == 0 else result.stderr


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_token_create_list_revoke(kind: str, tmp_path: Path, database_url_for) -> None:  # type: ignore[no-untyped-def]
    url = database_url_for(kind)
    cli = Cli(url, tmp_path / "home")
    cli("init")
    cli(
        "party",
        "register",
        "acme",
        "--name",
        "Acme Energy",
        "--licence",
        "electricity-supply",
        "--id",
        "90-B3-D5-1F-30-01-00-00=import-supplier",
    )
    refused = cli("token", "create", "--party", "acme", code=2)
    assert "[L3.15(b)]" in refused and "(subscriber.not_authorised)" in refused
    for step in ("entry-tests", "apply", "authorise"):
        cli("subscriber", step, "acme", "--policy", "organisation")
    refused = cli("token", "create", "--party", "acme", "--policy", "device", code=2)
    assert "Device Certificate Policy" in refused and "[L3.15(b)]" in refused
    assert "unknown_policy" in cli("token", "create", "--party", "acme", "--policy", "gold", code=2)
    assert "party.unknown" in cli("token", "create", "--party", "nobody", code=2)

    text = cli("token", "create", "--party", "acme", "--name", "portal", "--expires", "30").strip()
    assert text.startswith("smki_") and len(text) == 48 and "\n" not in text
    made = json.loads(cli("token", "create", "--party", "acme", "--policy", "organisation", "--json"))
    assert made["token"].startswith("smki_") and made["policies"] == ["organisation"]

    listed = json.loads(cli("token", "list", "--json"))
    assert [t["id"] for t in listed] == [1, 2]
    assert listed[0]["name"] == "portal" and listed[0]["state"] == "active" and listed[0]["expires_at"]
    assert all("token" not in t for t in listed)
    plain = cli("token", "list")
    assert text not in plain and text[:9] in plain

    db = Database(url)
    try:
        assert tokens.authenticate(db, text).party_id == "acme"
        with db.read_transaction() as tx:
            stored = token_store.token_by_id(tx, 1)
            assert stored is not None and stored.token_sha256 == tokens.token_sha256(text)
            actions = [e.action for e in audit_store.entries_for_object(tx, "api.token", "1")]
        assert actions == ["api.token.create"]

        assert "revoked" in cli("token", "revoke", "1")
        assert "already_revoked" in cli("token", "revoke", "1", code=2)
        assert "token.not_found" in cli("token", "revoke", "99", code=2)
        assert json.loads(cli("token", "list", "--json", "--party", "acme"))[0]["state"] == "revoked"
        with pytest.raises(tokens.NotAuthenticated) as refused_auth:
            tokens.authenticate(db, text)
        assert refused_auth.value.code == "auth.revoked"
        with db.read_transaction() as tx:
            actions = [e.action for e in audit_store.entries_for_object(tx, "api.token", "1")]
        assert actions == ["api.token.create", "api.token.revoke"]
    finally:
        db.dispose()


def test_token_text_is_random_and_only_its_shape_is_accepted(database: Database) -> None:
    for presented in (None, "", "smki_short", "Bearer smki_" + "a" * 43, "smki_" + "a" * 42 + "!"):
        with pytest.raises(tokens.NotAuthenticated):
            tokens.authenticate(database, presented)
    with pytest.raises(tokens.NotAuthenticated) as unknown:
        tokens.authenticate(database, "smki_" + "a" * 43)
    assert unknown.value.code == "auth.invalid"
