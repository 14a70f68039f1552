"""Revocation: the one path that marks a certificate revoked, records why, audits it and orders the change.

The CA revokes on instruction; who may ask for which certificate is the RA's rule
(:mod:`smki.ra.revocation`, which also carries out L3.14(b)/(c) through :func:`revoke_certificate`).
A revoked end-entity certificate goes on its Issuing CA's CRL; a revoked Issuing CA certificate on its
Root's ARL (:mod:`smki.ca.crls`): in both cases the list of the CA named as the certificate's issuer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509

from smki import audit
from smki.model import CertificateKind, InvalidInput, SmkiError
from smki.storage import Database, Transaction, repository_store
from smki.storage.ca_store import StoredCertificate

# RFC 5280 5.3.1 reasons smki records. certificateHold is a suspension (smki never un-revokes),
# removeFromCRL belongs to delta CRLs and aACompromise to attribute authorities: all three are refused.
REASONS: tuple[x509.ReasonFlags, ...] = (
    x509.ReasonFlags.unspecified,
    x509.ReasonFlags.key_compromise,
    x509.ReasonFlags.ca_compromise,
    x509.ReasonFlags.affiliation_changed,
    x509.ReasonFlags.superseded,
    x509.ReasonFlags.cessation_of_operation,
    x509.ReasonFlags.privilege_withdrawn,
)


@dataclass(frozen=True)
class Revocation:
    """A certificate that is now revoked: what, why, by whom, when, and which list will carry it."""

    serial_hex: str
    issuer_name: str  # the CA whose CRL (or, for an Issuing CA certificate, whose ARL) lists it
    kind: CertificateKind
    subscriber: str | None
    reason: x509.ReasonFlags
    clause: str | None
    note: str | None
    actor: str
    revoked_at: datetime
    change_seq: int

    @property
    def list_kind(self) -> str:
        """``ARL`` for an Issuing CA certificate (its Root's list), ``CRL`` otherwise."""
        return "ARL" if self.kind.is_ca else "CRL"

    def sentence(self) -> str:
        """One line for the operator."""
        why = f" ({self.clause})" if self.clause else ""
        return (
            f"Revoked {self.kind.title} {self.serial_hex} of {self.issuer_name}: {self.reason.value}{why}; "
            f"it will be listed on the next {self.list_kind} of {self.issuer_name}."
        )

    def as_dict(self) -> dict[str, object]:
        """JSON-safe form."""
        return {
            "serial": self.serial_hex,
            "issuer": self.issuer_name,
            "kind": self.kind.value,
            "subscriber": self.subscriber,
            "reason": self.reason.value,
            "clause": self.clause,
            "note": self.note,
            "actor": self.actor,
            "revoked_at": self.revoked_at.isoformat(),
            "change_seq": self.change_seq,
            "list": f"{self.list_kind} of {self.issuer_name}",
        }


def parse_reason(text: str) -> x509.ReasonFlags:
    """``keyCompromise``, ``key_compromise``, ``key-compromise`` or ``KEYCOMPROMISE`` -> ReasonFlags."""
    wanted = text.strip().replace("_", "").replace("-", "").lower()
    for reason in x509.ReasonFlags:
        if reason.value.lower() == wanted:
            return check_reason(reason)
    names = ", ".join(r.value for r in REASONS)
    raise InvalidInput("revocation.reason", f"'{text[:60]}' is not a revocation reason: use one of {names}.")


def check_reason(reason: x509.ReasonFlags) -> x509.ReasonFlags:
    """The reason itself, or InvalidInput when smki does not revoke for it."""
    if reason not in REASONS:
        names = ", ".join(r.value for r in REASONS)
        raise InvalidInput(
            "revocation.reason", f"smki does not revoke with the reason {reason.value}: use one of {names}."
        )
    return reason


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def locate(tx: Transaction, serial_hex: str, *, issuer_name: str | None = None) -> StoredCertificate:
    """The certificate to revoke, locked for the rest of the transaction; refusals name what is wrong."""
    serial = repository_store.canonical_serial(serial_hex)
    rows = repository_store.lock_for_revocation(tx, serial, issuer_name)
    if not rows:
        where = f" issued by {issuer_name}" if issuer_name else ""
        raise SmkiError(
            "revocation.not_found", f"No certificate with serial {serial}{where} is in the repository."
        )
    if len(rows) > 1:
        raise InvalidInput(
            "revocation.ambiguous_serial",
            f"More than one certificate has serial {serial}: name its issuer (--issuer).",
        )
    return rows[0]


def revoke_certificate(
    tx: Transaction,
    certificate: StoredCertificate,
    reason: x509.ReasonFlags,
    *,
    actor: str,
    clause: str | None = None,
    note: str | None = None,
    at: datetime | None = None,
) -> Revocation:
    """Revoke one certificate in the caller's transaction: status R, revocation row, audit, change order.

    Refuses a certificate already revoked (``revocation.already_revoked``), a Root CA certificate (no CA
    above it lists it) and a reason smki does not use.
    """
    check_reason(reason)
    kind = CertificateKind(certificate.kind)
    if certificate.status == repository_store.STORED_REVOKED:
        raise SmkiError(
            "revocation.already_revoked",
            f"The {kind.title} {certificate.serial_hex} of {certificate.issuer_name} is already revoked.",
        )
    if kind.is_root:
        raise SmkiError(
            "revocation.root_certificate",
            f"The {kind.title} {certificate.serial_hex} cannot be revoked: no CA above it lists it, so it is "
            "replaced through the Recovery Procedure instead.",
            "L10",
        )
    when = at or _now()
    text = note or reason.value
    repository_store.add_revocation(
        tx,
        certificate.id,
        reason_code=reason.value,
        reason=text,
        clause=clause or "",
        actor=actor,
        at=when,
    )
    entry = audit.record(
        tx,
        actor=actor,
        action="certificate.revoke",
        object_type="certificate",
        object_id=f"{certificate.issuer_name}/{certificate.serial_hex}",
        details={
            "reason": reason.value,
            "note": note,
            "clause": clause,
            "kind": kind.value,
            "subscriber": certificate.subscriber,
            "entity_id": certificate.entity_id,
            "role_code": certificate.role_code,
            "revoked_at": when.isoformat(),
        },
    )
    repository_store.set_changes(tx, [(certificate.id, entry.seq)], at=when)
    return Revocation(
        serial_hex=certificate.serial_hex,
        issuer_name=certificate.issuer_name,
        kind=kind,
        subscriber=certificate.subscriber,
        reason=reason,
        clause=clause,
        note=note,
        actor=actor,
        revoked_at=when,
        change_seq=entry.seq,
    )


def revoke(
    db: Database,
    serial_hex: str,
    reason: x509.ReasonFlags,
    *,
    actor: str,
    issuer_name: str | None = None,
    clause: str | None = None,
    note: str | None = None,
) -> Revocation:
    """Revoke the certificate with this serial (optionally of one issuer) in its own transaction.

    This is the CA's operation and applies no SEC rule on who may ask: callers acting for a person go
    through :func:`smki.ra.revocation.request_revocation`.
    """
    check_reason(reason)
    with db.transaction() as tx:
        certificate = locate(tx, serial_hex, issuer_name=issuer_name)
        return revoke_certificate(tx, certificate, reason, actor=actor, clause=clause, note=note)
