"""What the SMKI Repository shows of a certificate, and how its status is derived."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from smki.model import CertificateKind, CertificateStatus, EntityId, KeyUsage, RemotePartyRole
from smki.storage import repository_store
from smki.storage.repository_store import RepositoryEntry

STATUS_NAMES = {
    CertificateStatus.PENDING: "Pending",
    CertificateStatus.IN_USE: "In use",
    CertificateStatus.NOT_IN_USE: "Not in use",
    CertificateStatus.EXPIRED: "Expired",
    CertificateStatus.REVOKED: "Revoked",
}


def derive_status(stored: str, not_before: datetime, not_after: datetime, now: datetime) -> CertificateStatus:
    """The repository status at ``now``: R if revoked; else E after notAfter; else P before notBefore;
    else the stored I (In use) or N (Not in use). Mirrors ``repository_store.status_condition``."""
    if stored == repository_store.STORED_REVOKED:
        return CertificateStatus.REVOKED
    if not_after < now:
        return CertificateStatus.EXPIRED
    if not_before > now:
        return CertificateStatus.PENDING
    return CertificateStatus(stored)


@dataclass(frozen=True)
class CertificateView:
    """One certificate as the SMKI Repository reports it (status derived at the time of the query)."""

    serial_hex: str
    issuer_name: str
    kind: CertificateKind
    role: RemotePartyRole | None
    entity_id: EntityId | None
    key_usage: KeyUsage
    status: CertificateStatus
    not_before: datetime
    not_after: datetime
    subscriber: str | None
    der: bytes
    revoked_at: datetime | None = None
    revocation_reason: str | None = None  # RFC 5280 CRLReason name, e.g. keyCompromise
    change_seq: int | None = None

    @property
    def pem(self) -> str:
        """PEM text of the certificate."""
        body = base64.encodebytes(self.der).decode("ascii").replace("\n", "")
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form: serial hex, EUI-64 dashed, role code and name, usage DS/KA, status letter and
        name, ISO 8601 times, PEM."""
        return {
            "serial": self.serial_hex,
            "issuer": self.issuer_name,
            "kind": self.kind.value,
            "role": ({"code": self.role.code, "name": self.role.name} if self.role is not None else None),
            "entity_id": self.entity_id.dashed if self.entity_id is not None else None,
            "key_usage": self.key_usage.short,
            "status": {"code": self.status.value, "name": STATUS_NAMES[self.status]},
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "subscriber": self.subscriber,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at is not None else None,
            "revocation_reason": self.revocation_reason,
            "change_seq": self.change_seq,
            "pem": self.pem,
        }


def view_of(entry: RepositoryEntry, now: datetime) -> CertificateView:
    """The view of a stored certificate, its status derived at ``now``."""
    return CertificateView(
        serial_hex=entry.serial_hex,
        issuer_name=entry.issuer_name,
        kind=CertificateKind(entry.kind),
        role=RemotePartyRole(entry.role_code) if entry.role_code is not None else None,
        entity_id=EntityId.parse(entry.entity_id) if entry.entity_id else None,
        key_usage=KeyUsage(entry.key_usage),
        status=derive_status(entry.status, entry.not_before, entry.not_after, now),
        not_before=entry.not_before,
        not_after=entry.not_after,
        subscriber=entry.subscriber,
        der=entry.der,
        revoked_at=entry.revoked_at,
        revocation_reason=entry.revocation_reason,
        change_seq=entry.change_seq,
    )
