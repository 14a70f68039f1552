"""Authorised Subscriber administration (L3.2-L3.14): applications, the DCC's decisions, Panel referrals,
changes in circumstance, and the revocation that follows ceasing to be authorised (L3.14(b), (c)).

Each move is checked against ``policy.subscribers.LIFECYCLE``, stored and audited in one transaction;
when a person ceases to be authorised under the Organisation (or IKI) policy, its certificates of that
policy are revoked in that same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509

from smki import audit
from smki.ca.revocation import locate, revoke_certificate
from smki.model import CertificateKind, Hierarchy, InvalidInput
from smki.policy.subscribers import (
    POLICY_TITLES,
    SubscriberEvent,
    SubscriberStatus,
    check_may_apply,
    next_status,
    revocation_on_ceasing,
)
from smki.ra.parties import load_party
from smki.storage import Database, Transaction, ra_store

_REVOKED_KINDS = {
    Hierarchy.ORGANISATION: [CertificateKind.ORGANISATION.value],
    Hierarchy.IKI: [CertificateKind.IKI.value],
}


@dataclass(frozen=True, slots=True)
class SubscriberStanding:
    """A person's standing under one Certificate Policy, after a move."""

    party_id: str
    policy: Hierarchy
    status: SubscriberStatus
    clause: str
    change_notified: bool
    revoked_serials: tuple[str, ...] = ()

    def sentence(self) -> str:
        """One line for the operator."""
        title = POLICY_TITLES[self.policy]
        text = f"'{self.party_id}' is {self.status.value} under the {title} ({self.clause})."
        if self.revoked_serials:
            text += f" Revoked {len(self.revoked_serials)} certificate(s): {', '.join(self.revoked_serials)}."
        return text


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def record_entry_tests(db: Database, party_id: str, policy: Hierarchy, *, actor: str) -> bool:
    """Record that a person completed the SMKI and Repository Entry Process Tests for a policy (L3.2)."""
    with db.transaction() as tx:
        load_party(tx, party_id)
        added = ra_store.record_entry_test(tx, party_id, policy.value, _now())
        if added:
            audit.record(
                tx,
                actor=actor,
                action="ra.subscriber.entry_tests",
                object_type="ra.party",
                object_id=party_id,
                details={"policy": policy.value, "clause": "L3.2"},
            )
        return added


def standing(db: Database, party_id: str, policy: Hierarchy) -> SubscriberStatus | None:
    """The person's status under the policy (None when it never applied)."""
    with db.read_transaction() as tx:
        stored = ra_store.subscriber(tx, party_id, policy.value)
    return SubscriberStatus(stored.status) if stored else None


def standings(db: Database, party_id: str) -> list[SubscriberStanding]:
    """Every policy the person has applied under, with its status."""
    with db.read_transaction() as tx:
        load_party(tx, party_id)
        return [
            SubscriberStanding(
                s.party_id, Hierarchy(s.policy), SubscriberStatus(s.status), s.last_clause, s.change_notified
            )
            for s in ra_store.subscribers_of(tx, party_id)
        ]


def move(
    db: Database,
    party_id: str,
    policy: Hierarchy,
    event: SubscriberEvent,
    *,
    actor: str,
    note: str | None = None,
) -> SubscriberStanding:
    """Apply one lifecycle event (apply, the DCC's decision, a referral, the Panel's determination ...)."""
    with db.transaction() as tx:
        party = load_party(tx, party_id)
        stored = ra_store.subscriber(tx, party_id, policy.value, for_update=True)
        before = SubscriberStatus(stored.status) if stored else None
        if event is SubscriberEvent.APPLY:
            tests = ra_store.entry_test_completed(tx, party_id, policy.value)
            check_may_apply(party, policy, entry_tests_completed=tests)
        transition = next_status(before, event)
        change_notified = stored.change_notified if stored else False
        if event is SubscriberEvent.NOTIFY_CHANGE:
            change_notified = True
        elif event in (
            SubscriberEvent.DCC_FINDS_CRITERIA_STILL_MET,
            SubscriberEvent.DCC_FINDS_CRITERIA_NO_LONGER_MET,
        ):
            change_notified = False
        ra_store.set_subscriber_status(
            tx,
            party_id,
            policy.value,
            status=transition.after.value,
            clause=transition.clause,
            note=note,
            change_notified=change_notified,
            at=_now(),
        )
        audit.record(
            tx,
            actor=actor,
            action=f"ra.subscriber.{event.value}",
            object_type="ra.subscriber",
            object_id=f"{party_id}/{policy.value}",
            details={
                "from": before.value if before else None,
                "to": transition.after.value,
                "clause": transition.clause,
                "note": note,
            },
        )
        revoked: tuple[str, ...] = ()
        if transition.after is SubscriberStatus.CEASED:
            revoked = _revoke_on_ceasing(tx, party_id, policy, actor=actor)
        return SubscriberStanding(
            party_id, policy, transition.after, transition.clause, change_notified, revoked
        )


def _revoke_on_ceasing(tx: Transaction, party_id: str, policy: Hierarchy, *, actor: str) -> tuple[str, ...]:
    """L3.14(b)/(c): revoke the certificates of that policy for which the person is the Subscriber.

    Through the CA's one revocation path (status R, revocation row, audit, change order), reason
    privilegeWithdrawn (RFC 5280 5.3.1).
    """
    clause = revocation_on_ceasing(policy)
    if clause is None:
        return ()
    at = _now()
    serials: list[str] = []
    for cert in ra_store.certificates_of_subscriber(tx, party_id, _REVOKED_KINDS[policy]):
        revoke_certificate(
            tx,
            locate(tx, cert.serial_hex, issuer_name=cert.issuer_name),
            x509.ReasonFlags.privilege_withdrawn,
            actor=actor,
            clause=clause,
            note="subscriber ceased to be authorised",
            at=at,
        )
        serials.append(cert.serial_hex)
    return tuple(serials)


def parse_policy(text: str) -> Hierarchy:
    """``device``, ``organisation`` (or ``org``) or ``iki``."""
    key = text.strip().lower()
    if key in ("org", "organization"):
        key = "organisation"
    try:
        return Hierarchy(key)
    except ValueError:
        raise InvalidInput(
            "subscriber.unknown_policy",
            f"'{text}' is not a Certificate Policy: use device, organisation or iki.",
        ) from None
