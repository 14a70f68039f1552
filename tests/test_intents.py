"""Serials a crash left reserved: listed, abandoned by an operator (audited), and never used afterwards,
even by an issuance that had reserved them and stores late (it is refused and releases nothing)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from typer.testing import CliRunner

from smki import audit
from smki.audit import log as audit_log
from smki.ca import CertificateAuthorities, IssueRequest, create_hierarchy
from smki.ca import issuance as issuance_module
from smki.ca.intents import abandon_stale, list_intents
from smki.cli.main import app
from smki.keys import SoftBackend
from smki.model import CertificateKind, EntityId, InvalidInput, KeyUsage, RemotePartyRole, SmkiError
from smki.profiles.environment import PkiEnvironment
from smki.storage import Database, ca_store

ENV = PkiEnvironment()


@pytest.fixture
def cas(database: Database, tmp_path: Path) -> Iterator[CertificateAuthorities]:
    keys = SoftBackend(tmp_path / "home", {"SMKI_KEY_PASSPHRASE": "intents-test-passphrase"})
    create_hierarchy(database, keys, ENV, actor="test")
    yield CertificateAuthorities.open(database, keys, ENV)
    keys.close()


def _org() -> IssueRequest:
    return IssueRequest(
        kind=CertificateKind.ORGANISATION,
        public_key=ec.generate_private_key(ec.SECP256R1()).public_key(),
        key_usage=KeyUsage.DIGITAL_SIGNATURE,
        entity_id=EntityId.parse("90-B3-D5-1F-30-01-00-00"),
        role=RemotePartyRole.SUPPLIER,
        subscriber="supplier-1",
    )


def _reserve(db: Database, serials: list[str], at: datetime) -> None:
    with db.transaction() as tx:
        ca_store.reserve_serials(
            tx, [ca_store.Reservation(x, "Z1", "organisation") for x in serials], actor="crashed", at=at
        )


def _states(db: Database) -> dict[str, str]:
    return {v.serial_hex: v.state for v in list_intents(db)}


def test_only_reservations_older_than_the_cut_off_are_abandoned_once_and_audited(database: Database) -> None:
    now = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)
    old = ["7" + f"{i:031X}" for i in range(3)]
    recent = ["6" + f"{i:031X}" for i in range(2)]
    _reserve(database, old, now - timedelta(hours=30))
    _reserve(database, recent, now - timedelta(minutes=5))
    with database.transaction() as tx:  # one finished intent, which must stay as it is
        ca_store.finish_intents(tx, [1], state=ca_store.SIGNED, at=now)
    before = audit.verify(database).entries

    done = abandon_stale(database, older_than=timedelta(hours=24), actor="operator:test", now=now)

    assert [v.serial_hex for v in done] == old[1:]  # intent 1 was signed, not reserved
    assert all(v.state == "abandoned" and v.reason and "operator" in v.reason for v in done)
    states = _states(database)
    assert states[old[0]] == "signed" and {states[x] for x in old[1:]} == {"abandoned"}
    assert {states[x] for x in recent} == {"reserved"}
    entries = audit_log.entries_for(database, "issuance_intent", str(done[0].intent_id))
    assert [e.action for e in entries][-1] == "ca.intents_abandoned"
    assert entries[-1].details["serials"] == old[1:]
    verdict = audit.verify(database)
    assert verdict.ok and verdict.entries == before + 1
    # Nothing left to do: nothing written.
    assert abandon_stale(database, older_than=timedelta(hours=24), actor="operator:test", now=now) == []
    assert audit.verify(database).entries == before + 1
    with pytest.raises(InvalidInput):
        abandon_stale(database, older_than=timedelta(hours=-1), actor="operator:test")
    with pytest.raises(InvalidInput):
        list_intents(database, state="lost")


def test_an_issuance_whose_serials_are_abandoned_before_it_stores_releases_nothing(
    database: Database, cas: CertificateAuthorities, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_store = issuance_module.IssuanceCycle._store

    def abandoned_first(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        abandon_stale(
            database,
            older_than=timedelta(0),
            actor="operator:test",
            now=datetime.now(UTC) + timedelta(seconds=2),
        )
        return real_store(self, *args, **kwargs)

    with database.read_transaction() as tx:
        stored_before = ca_store.count_certificates(tx)
    monkeypatch.setattr(issuance_module.IssuanceCycle, "_store", abandoned_first)
    with pytest.raises(SmkiError) as refused:
        cas.issue(_org(), actor="ra:test")
    assert refused.value.code == "ca.intent_not_reserved"
    with database.read_transaction() as tx:
        stored_after = ca_store.count_certificates(tx)
    assert stored_after == stored_before  # nothing stored, so nothing released
    assert "reserved" not in set(_states(database).values())
    assert audit.verify(database).ok
    monkeypatch.setattr(issuance_module.IssuanceCycle, "_store", real_store)
    assert cas.issue(_org(), actor="ra:test").serial_hex  # a new request draws new serials and works


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_cli_lists_and_abandons_stale_reservations(kind: str, tmp_path: Path, database_url_for) -> None:  # type: ignore[no-untyped-def]
    url = database_url_for(kind)
    db = Database(url)
    db.upgrade()
    stale = ["5" + f"{i:031X}" for i in range(4)]
    _reserve(db, stale, datetime.now(UTC) - timedelta(days=3))
    runner = CliRunner()
    env = {"SMKI_DATABASE_URL": url, "SMKI_HOME": str(tmp_path)}

    listed = runner.invoke(app, ["intents", "list", "--state", "reserved", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    assert [json.loads(line)["serial"] for line in listed.stdout.splitlines()] == stale

    done = runner.invoke(app, ["intents", "abandon", "--older-than-hours", "48"], env=env)
    assert done.exit_code == 0, done.output
    assert "4 reserved serial(s) older than 48 h marked abandoned" in done.stdout
    assert (
        runner.invoke(app, ["intents", "list", "--state", "reserved"], env=env).stdout.strip()
        == "0 intent(s)."
    )

    bad = runner.invoke(app, ["intents", "list", "--state", "lost"], env=env)
    assert bad.exit_code == 2 and "intent.state" in bad.output
    assert audit.verify(db).ok
    db.dispose()
