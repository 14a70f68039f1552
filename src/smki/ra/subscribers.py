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
from sqlalchemy.orm import Session

from smki import audit
from smki.ca.revocation import revoke_certificate
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
from smki.storage import Database, ra_store
from smki.storage.ra_tables import SubscriberRecord

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
    with db.session() as session:
        load_party(session, party_id)
        added = ra_store.record_entry_test(session, party_id, policy.value, _now())
        if added:
            audit.record(
                session,
                actor=actor,
                action="ra.subscriber.entry_tests",
                object_type="ra.party",
                object_id=party_id,
                details={"policy": policy.value, "clause": "L3.2"},
            )
        return added


def standing(db: Database, party_id: str, policy: Hierarchy) -> SubscriberStatus | None:
    """The person's status under the policy (None when it never applied)."""
    with db.read_session() as session:
        row = ra_store.subscriber(session, party_id, policy.value)
        return SubscriberStatus(row.status) if row else None


def standings(db: Database, party_id: str) -> list[SubscriberStanding]:
    """Every policy the person has applied under, with its status."""
    with db.read_session() as session:
        load_party(session, party_id)
        return [
            SubscriberStanding(
                r.party_id, Hierarchy(r.policy), SubscriberStatus(r.status), r.last_clause, r.change_notified
            )
            for r in ra_store.subscribers_of(session, party_id)
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
    with db.session() as session:
        party = load_party(session, party_id)
        row = ra_store.subscriber(session, party_id, policy.value, for_update=True)
        before = SubscriberStatus(row.status) if row else None
        if event is SubscriberEvent.APPLY:
            tests = ra_store.entry_test_completed(session, party_id, policy.value)
            check_may_apply(party, policy, entry_tests_completed=tests)
        transition = next_status(before, event)
        if row is None:
            row = SubscriberRecord(party_id=party_id, policy=policy.value, change_notified=False)
        row.status = transition.after.value
        row.last_clause = transition.clause
        row.note = note
        row.updated_at = _now()
        if event is SubscriberEvent.NOTIFY_CHANGE:
            row.change_notified = True
        elif event in (
            SubscriberEvent.DCC_FINDS_CRITERIA_STILL_MET,
            SubscriberEvent.DCC_FINDS_CRITERIA_NO_LONGER_MET,
        ):
            row.change_notified = False
        ra_store.save_subscriber(session, row)
        audit.record(
            session,
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
            revoked = _revoke_on_ceasing(session, party_id, policy, actor=actor)
        return SubscriberStanding(
            party_id, policy, transition.after, transition.clause, row.change_notified, revoked
        )


def _revoke_on_ceasing(session: Session, party_id: str, policy: Hierarchy, *, actor: str) -> tuple[str, ...]:
    """L3.14(b)/(c): revoke the certificates of that policy for which the person is the Subscriber.

    Through the CA's one revocation path (status R, revocation row, audit, change order), reason
    privilegeWithdrawn (RFC 5280 5.3.1).
    """
    clause = revocation_on_ceasing(policy)
    if clause is None:
        return ()
    at = _now()
    serials: list[str] = []
    for cert in ra_store.certificates_of_subscriber(session, party_id, _REVOKED_KINDS[policy]):
        revoke_certificate(
            session,
            cert,
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
