"""Concurrent identical changes to the RA's party register, on SQLite and PostgreSQL: the loser gets the
refusal a sequential duplicate gets (a stable code), never a database IntegrityError.

Both threads are held after their duplicate check until the other has made it too, so on PostgreSQL both
pass the check and both insert; SQLite serialises writers, so there the barrier times out and the second
thread meets the committed row in its check.
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
ACME = Party(
    "acme",
    "Acme Energy",
    PartyType.PARTY,
    frozenset({Licence.ELECTRICITY_SUPPLY}),
    (PartyIdentifier(SUPPLIER_ID, UserRole.IMPORT_SUPPLIER),),
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


def refusal_of(db: Database, call: Callable[[], object]) -> tuple[str, str, str | None]:
    with pytest.raises(SmkiError) as refused:
        call()
    return refused.value.code, refused.value.message, refused.value.clause


def test_concurrent_identical_registrations_one_wins_the_other_is_refused_as_a_duplicate(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
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


def test_concurrent_identical_identifiers_one_is_added_the_other_refused_as_a_duplicate(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
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
