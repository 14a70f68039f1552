"""Serials reserved and never used: listing them, and abandoning those a crash left behind.

The issuance cycle commits an intent (``reserved``) before it signs and marks it ``signed`` in the
transaction that stores the certificate, or ``abandoned`` when issuance is refused. A process killed in
between leaves the intent ``reserved``: that serial was never released and is never drawn again, but the
intent says nothing about why. An operator abandons such intents once no issuance can still be using
them: ``abandon_stale`` marks every intent reserved before a cut-off as ``abandoned`` (one audit entry).

Abandoning an intent that an issuance is in fact still using is safe: the storing transaction marks its
intents ``signed`` only where they are still ``reserved`` and refuses (``ca.intent_not_reserved``,
nothing stored or released) when any is not.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from smki import audit
from smki.model import InvalidInput
from smki.storage import Database, ca_store

# An issuance keeps its serials reserved for seconds (a batch chunk: about a second); a day leaves no doubt.
DEFAULT_AGE = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class IntentView:
    """One reservation as the operator sees it."""

    intent_id: int
    serial_hex: str
    issuer_name: str
    kind: str
    state: str
    actor: str
    reserved_at: datetime
    finished_at: datetime | None
    reason: str | None


def list_intents(db: Database, *, state: str | None = None) -> list[IntentView]:
    """Every intent (or those in one state: ``reserved``, ``signed``, ``abandoned``), oldest first."""
    if state is not None and state not in (ca_store.RESERVED, ca_store.SIGNED, ca_store.ABANDONED):
        raise InvalidInput(
            "intent.state", f"There is no intent state {state!r}: use reserved, signed or abandoned."
        )
    with db.read_transaction() as tx:
        return [_view(i) for i in ca_store.intents(tx, state=state)]


def abandon_stale(
    db: Database, *, older_than: timedelta = DEFAULT_AGE, actor: str, now: datetime | None = None
) -> list[IntentView]:
    """Mark ``abandoned`` every intent still ``reserved`` that was reserved more than ``older_than`` ago;
    the intents so marked (none: nothing written)."""
    if older_than < timedelta(0):
        raise InvalidInput("intent.age", "The age of the reservations to abandon cannot be negative.")
    at = (now or datetime.now(UTC)).replace(microsecond=0)
    cutoff = at - older_than
    reason = f"left reserved since before {cutoff:%Y-%m-%d %H:%M:%S} UTC: abandoned by an operator"
    with db.transaction() as tx:
        stale = ca_store.reserved_before(tx, cutoff)
        if not stale:
            return []
        ids = [i.id for i in stale]
        ca_store.finish_intents(tx, ids, state=ca_store.ABANDONED, at=at, reason=reason)
        audit.record(
            tx,
            actor=actor,
            action="ca.intents_abandoned",
            object_type="issuance_intent",
            object_id=str(ids[0]),
            details={"serials": [i.serial_hex for i in stale], "intents": ids, "reason": reason},
        )
        views = [_view(i) for i in stale]
    return [replace(v, state=ca_store.ABANDONED, finished_at=at, reason=reason) for v in views]


def _view(intent: ca_store.Intent) -> IntentView:
    return IntentView(
        intent_id=intent.id,
        serial_hex=intent.serial_hex,
        issuer_name=intent.issuer_name,
        kind=intent.kind,
        state=intent.state,
        actor=intent.actor,
        reserved_at=intent.reserved_at,
        finished_at=intent.finished_at,
        reason=intent.reason,
    )


__all__ = ["DEFAULT_AGE", "IntentView", "abandon_stale", "list_intents"]
