"""Concurrent identical changes to the RA's party register, on SQLite and PostgreSQL: the loser gets the
refusal a sequential duplicate gets (a stable code), never a database IntegrityError.

Each thread, once its duplicate check has passed, is held until the other has made that check too (or for
1 s). Changes to the register are serialised (SQLite: one writer at a time; PostgreSQL: the register's
advisory lock, ``ra_store.lock_party_register``), so the barrier times out and the second thread meets
the committed row in its check. Without that lock both would pass the check on PostgreSQL: for an
identical change the UNIQUE constraint then refuses one insert (and the change is checked again); for one
EUI-64 claimed by two persons under two different User Roles no constraint would refuse either.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

import pytest

from smki import audit
from smki.model import EntityId, SmkiError
from smki.policy.parties import Licence, Party, PartyIdentifier, PartyType, UserRole
from smki.ra import parties
from smki.storage import Database, ra_store

SUPPLIER_ID = EntityId.parse("90-B3-D5-1F-30-01-00-00")
SECOND_ID = EntityId.parse("90-B3-D5-1F-30-01-00-01")
GAS_ID = EntityId.parse("90-B3-D5-1F-30-01-00-02")
ACME = Party(
    "acme",
    "Acme Energy",
    PartyType.PARTY,
    frozenset({Licence.ELECTRICITY_SUPPLY}),
    (PartyIdentifier(SUPPLIER_ID, UserRole.IMPORT_SUPPLIER),),
)
GASCO = Party(
    "gasco",
    "Gasco",
    PartyType.PARTY,
    frozenset({Licence.GAS_SUPPLY}),
    (PartyIdentifier(GAS_ID, UserRole.GAS_SUPPLIER),),
)


def race(calls: list[Callable[[], object]]) -> list[object]:
    """Run the calls in threads released together; each result is a return value or the exception."""
    start = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(index: int) -> None:
        start.wait()
        try:
            results[index] = calls[index]()
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def hold_after_check(monkeypatch: pytest.MonkeyPatch, name: str, passed: Callable[[Any], bool]) -> None:
    """Make ra_store.<name> wait (up to 1 s) for the other thread once its result lets the change go on."""
    real = getattr(ra_store, name)
    both_checked = threading.Barrier(2, timeout=1)

    def held(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        if passed(result):
            with contextlib.suppress(threading.BrokenBarrierError):  # SQLite: the other writer waits for us
                both_checked.wait()
        return result

    monkeypatch.setattr(ra_store, name, held)


def without_register_lock(monkeypatch: pytest.MonkeyPatch, skipped: bool) -> None:
    """When ``skipped``, changes to the register do not take its lock: on PostgreSQL two identical changes
    then both pass their checks and the UNIQUE constraint refuses one (the retry in smki.ra.parties)."""
    if skipped:
        monkeypatch.setattr(ra_store, "lock_party_register", lambda tx: None)


def refusal_of(db: Database, call: Callable[[], object]) -> tuple[str, str, str | None]:
    with pytest.raises(SmkiError) as refused:
        call()
    return refused.value.code, refused.value.message, refused.value.clause


@pytest.mark.parametrize("lock_skipped", [False, True], ids=["locked", "retried"])
def test_concurrent_identical_registrations_one_wins_the_other_is_refused_as_a_duplicate(
    database: Database, monkeypatch: pytest.MonkeyPatch, lock_skipped: bool
) -> None:
    without_register_lock(monkeypatch, lock_skipped)
    hold_after_check(monkeypatch, "get_party", lambda found: found is None)
    results = race([lambda: parties.register_party(database, ACME, actor="ra-1")] * 2)
    winners = [r for r in results if isinstance(r, Party)]
    losers = [r for r in results if not isinstance(r, Party)]
    assert len(winners) == 1 and len(losers) == 1, results
    loser = losers[0]
    assert isinstance(loser, SmkiError), repr(loser)
    sequential = refusal_of(database, lambda: parties.register_party(database, ACME, actor="ra-2"))
    assert (loser.code, loser.message, loser.clause) == sequential
    assert sequential[0] == "party.exists"
    assert parties.list_parties(database) == [ACME]
    registrations = [e for e in audit.log.entries_for(database, "ra.party", "acme")]
    assert [e.action for e in registrations] == ["ra.party.register"]
    assert audit.verify(database).ok


@pytest.mark.parametrize("lock_skipped", [False, True], ids=["locked", "retried"])
def test_concurrent_identical_identifiers_one_is_added_the_other_refused_as_a_duplicate(
    database: Database, monkeypatch: pytest.MonkeyPatch, lock_skipped: bool
) -> None:
    without_register_lock(monkeypatch, lock_skipped)
    parties.register_party(database, ACME, actor="ra")
    extra = PartyIdentifier(SECOND_ID, UserRole.IMPORT_SUPPLIER)
    hold_after_check(monkeypatch, "holders_of", lambda holders: not holders)
    results = race([lambda: parties.add_identifier(database, "acme", extra, actor="ra-1")] * 2)
    losers = [r for r in results if not isinstance(r, Party)]
    assert len(losers) == 1 and isinstance(losers[0], SmkiError), results
    sequential = refusal_of(database, lambda: parties.add_identifier(database, "acme", extra, actor="ra-2"))
    assert (losers[0].code, losers[0].message, losers[0].clause) == sequential
    assert sequential[0] == "party.duplicate_identifier"
    assert parties.get_party(database, "acme").identifiers == (*ACME.identifiers, extra)
    assert audit.verify(database).ok


def one_held_the_other_refused(
    database: Database, calls: list[Callable[[], object]], eui64: EntityId
) -> tuple[Party, SmkiError]:
    """Race the calls; exactly one succeeds, the other gets the refusal a sequential claim of the same EUI-64
    by another person gets (checked by making the losing call again)."""
    results = race(calls)
    winners = [r for r in results if isinstance(r, Party)]
    losers = [(i, r) for i, r in enumerate(results) if not isinstance(r, Party)]
    assert len(winners) == 1 and len(losers) == 1, results
    index, loser = losers[0]
    assert isinstance(loser, SmkiError), repr(loser)
    sequential = refusal_of(database, calls[index])
    assert (loser.code, loser.message, loser.clause) == sequential
    assert sequential[0] == "party.identifier_held" and sequential[2] == "L3.18(a)"
    holders = {
        p.party_id for p in parties.list_parties(database) if any(i.entity_id == eui64 for i in p.identifiers)
    }
    assert holders == {winners[0].party_id}
    assert audit.verify(database).ok
    return winners[0], loser


def test_one_eui64_registered_concurrently_by_two_persons_under_two_roles_is_held_by_one(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = PartyIdentifier(SECOND_ID, UserRole.IMPORT_SUPPLIER)
    acme = Party(ACME.party_id, ACME.name, ACME.party_type, ACME.licences, (shared,))
    gasco = Party(
        GASCO.party_id,
        GASCO.name,
        GASCO.party_type,
        GASCO.licences,
        (PartyIdentifier(SECOND_ID, UserRole.GAS_SUPPLIER),),
    )
    hold_after_check(monkeypatch, "holders_of", lambda holders: not holders)
    winner, _ = one_held_the_other_refused(
        database,
        [
            lambda: parties.register_party(database, acme, actor="ra-1"),
            lambda: parties.register_party(database, gasco, actor="ra-2"),
        ],
        SECOND_ID,
    )
    assert [p.party_id for p in parties.list_parties(database)] == [winner.party_id]
    assert parties.get_party(database, winner.party_id) == winner


def test_one_eui64_added_concurrently_to_two_persons_under_two_roles_is_held_by_one(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    parties.register_party(database, ACME, actor="ra")
    parties.register_party(database, GASCO, actor="ra")
    for_acme = PartyIdentifier(SECOND_ID, UserRole.IMPORT_SUPPLIER)
    for_gasco = PartyIdentifier(SECOND_ID, UserRole.GAS_SUPPLIER)
    hold_after_check(monkeypatch, "holders_of", lambda holders: not holders)
    winner, _ = one_held_the_other_refused(
        database,
        [
            lambda: parties.add_identifier(database, "acme", for_acme, actor="ra-1"),
            lambda: parties.add_identifier(database, "gasco", for_gasco, actor="ra-2"),
        ],
        SECOND_ID,
    )
    registered = {"acme": ACME, "gasco": GASCO}
    added = {"acme": for_acme, "gasco": for_gasco}
    (loser_id,) = set(registered) - {winner.party_id}
    assert winner.identifiers == (*registered[winner.party_id].identifiers, added[winner.party_id])
    assert parties.get_party(database, winner.party_id) == winner
    assert parties.get_party(database, loser_id) == registered[loser_id]


def test_a_change_refused_by_the_database_twice_is_a_concurrent_change_and_leaves_no_trace(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A writer that skips the register's checks (no lock, no duplicate check): the UNIQUE constraint refuses
    # both attempts (storage.conflict), so the change gives up with a stable code instead of looping.
    parties.register_party(database, ACME, actor="ra")
    entries = len(list(audit.log.entries_for(database, "ra.party", "acme")))
    without_register_lock(monkeypatch, True)
    monkeypatch.setattr(ra_store, "get_party", lambda tx, party_id: None)
    renamed = Party("acme", "Acme Again", ACME.party_type, ACME.licences, ())
    code, message, clause = refusal_of(
        database, lambda: parties.register_party(database, renamed, actor="ra-2")
    )
    assert code == "party.concurrent_change" and clause is None and "try again" in message
    monkeypatch.undo()
    assert parties.list_parties(database) == [ACME]
    assert len(list(audit.log.entries_for(database, "ra.party", "acme"))) == entries
    assert audit.verify(database).ok
