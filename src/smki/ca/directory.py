"""Read-only views of the CAs in force and the DCC's commissioning certificates (for serve and the CLI)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from smki.model import CertificateKind, EntityId, KeyUsage, RemotePartyRole
from smki.profiles.environment import PkiEnvironment
from smki.storage import Database, ca_store


@dataclass(frozen=True)
class PublishedCertificate:
    """A CA or commissioning certificate as the public download pages show it."""

    name: str  # file stem: root-oca, issuing-oca, ..., dcc-recovery
    title: str
    kind: CertificateKind
    subject_name: str | None  # the CA's name, for CA certificates
    issuer_name: str
    serial_hex: str
    not_before: datetime
    not_after: datetime
    key_usage: KeyUsage
    role: RemotePartyRole | None
    entity_id: EntityId | None
    paragraph: str | None
    der: bytes


@dataclass(frozen=True)
class HierarchyState:
    """What the SMKI home holds: the CAs and commissioning certificates in force, and how many certs."""

    authorities: list[PublishedCertificate]
    commissioning: list[PublishedCertificate]
    certificates: int
    backend: str | None
    ceremony: str | None

    @property
    def initialised(self) -> bool:
        """True when a complete hierarchy is in force."""
        return bool(self.authorities)


def hierarchy_state(db: Database) -> HierarchyState:
    """Load the active CAs and commissioning certificates with their certificates."""
    if not db.has_table("certificate_authorities"):
        return HierarchyState([], [], 0, None, None)
    authorities: list[PublishedCertificate] = []
    commissioning: list[PublishedCertificate] = []
    backend = ceremony = None
    with db.read_transaction() as tx:
        in_force = ca_store.active_authority_certificates(tx)
        credentials = ca_store.active_commissioning_credentials(tx)
        count = ca_store.count_certificates(tx)
    for record, row in in_force:
        if row is None:
            continue
        kind = CertificateKind(record.kind)
        backend, ceremony = record.backend, record.ceremony
        authorities.append(
            PublishedCertificate(
                name=kind.value,
                title=kind.title,
                kind=kind,
                subject_name=record.name,
                issuer_name=row.issuer_name,
                serial_hex=row.serial_hex,
                not_before=row.not_before,
                not_after=row.not_after,
                key_usage=KeyUsage(row.key_usage),
                role=RemotePartyRole(row.role_code) if row.role_code is not None else None,
                entity_id=None,
                paragraph=None,
                der=row.der,
            )
        )
    for credential, row in credentials:
        commissioning.append(
            PublishedCertificate(
                name=credential.name,
                title=credential.title,
                kind=CertificateKind(row.kind),
                subject_name=None,
                issuer_name=row.issuer_name,
                serial_hex=row.serial_hex,
                not_before=row.not_before,
                not_after=row.not_after,
                key_usage=KeyUsage(row.key_usage),
                role=RemotePartyRole(row.role_code) if row.role_code is not None else None,
                entity_id=EntityId.parse(row.entity_id) if row.entity_id else None,
                paragraph=credential.paragraph,
                der=row.der,
            )
        )
    order = [k.value for k in CertificateKind]
    authorities.sort(key=lambda p: order.index(p.kind.value))
    return HierarchyState(authorities, commissioning, count, backend, ceremony)


def backend_in_use(db: Database) -> str | None:
    """The key backend ('soft' or 'pkcs11') holding the keys of the CAs in force, if any."""
    with db.read_transaction() as tx:
        records = ca_store.active_authorities(tx)
    return records[0].backend if records else None


ENVIRONMENT_FILE = "environment.json"


def home_environment(home: Path) -> PkiEnvironment:
    """The PKI environment of an SMKI home (``HOME/environment.json``, written by ``smki init``)."""
    return PkiEnvironment.load(home / ENVIRONMENT_FILE)
