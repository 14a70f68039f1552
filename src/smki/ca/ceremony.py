"""The key ceremony: create the Root and Issuing OCA, DCA and ICA and the DCC's commissioning certificates.

L3.22-L3.24: the DCC establishes and lodges in the SMKI Repository the Root and Issuing OCA and DCA
Certificates and five DCC Organisation Certificates (Recovery; accessControlBroker DS and KA; wanProvider;
transitionalCoS). smki also makes the Root and Issuing ICA so IKI Certificates can be issued.

Every certificate goes through the ordinary issuance cycle (intent, lint, sign, record, audit). The new
CA records and credentials are written inactive and switched on together in the last transaction, so an
interrupted ceremony leaves the previous state in force (and its certificates recorded, never lost).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from smki import audit
from smki.ca.issuance import (
    CertificateJob,
    Clock,
    IssuanceCycle,
    IssuedCertificate,
    SigningAuthority,
    utc_now,
)
from smki.keys import KeyBackend
from smki.model import CertificateKind, EntityId, InvalidInput, KeyUsage, RemotePartyRole
from smki.policy.authorities import (
    COMMISSIONING_CERTIFICATE_TABLE,
    CommissioningCertificate,
    check_commissioning_certificate,
    check_key_ceremony,
)
from smki.profiles import builders
from smki.profiles.environment import PkiEnvironment
from smki.profiles.parse import certificate_fields
from smki.storage import Database, Transaction, ca_store

DCC_SUBSCRIBER = "DCC"


# L3.23(e)-(i) with the key usage, Remote Party Role and DCC Role of the L3.24 table (in ``policy``).
COMMISSIONING_CERTIFICATES: tuple[CommissioningCertificate, ...] = COMMISSIONING_CERTIFICATE_TABLE

# The DCC's EUI-64 per role; defaults are the DCC Boxed test values (research notes 3.2).
DEFAULT_DCC_ENTITY_IDS: Mapping[RemotePartyRole, EntityId] = {
    RemotePartyRole.RECOVERY: EntityId.parse("90-B3-D5-1F-30-00-00-01"),
    RemotePartyRole.ACCESS_CONTROL_BROKER: EntityId.parse("90-B3-D5-1F-30-00-00-02"),
    RemotePartyRole.TRANSITIONAL_COS: EntityId.parse("90-B3-D5-1F-30-00-00-04"),
    RemotePartyRole.WAN_PROVIDER: EntityId.parse("90-B3-D5-1F-30-00-00-07"),
}

_CA_SPECS: tuple[tuple[CertificateKind, str], ...] = (
    (CertificateKind.ROOT_OCA, "root_oca_name"),
    (CertificateKind.ROOT_DCA, "root_dca_name"),
    (CertificateKind.ROOT_ICA, "root_ica_name"),
    (CertificateKind.ISSUING_OCA, "issuing_oca_name"),
    (CertificateKind.ISSUING_DCA, "issuing_dca_name"),
    (CertificateKind.ISSUING_ICA, "issuing_ica_name"),
)
_ROOT_FOR_ISSUING = {
    CertificateKind.ISSUING_OCA: CertificateKind.ROOT_OCA,
    CertificateKind.ISSUING_DCA: CertificateKind.ROOT_DCA,
    CertificateKind.ISSUING_ICA: CertificateKind.ROOT_ICA,
}


def parse_dcc_entity_ids(items: Iterable[str]) -> dict[RemotePartyRole, EntityId]:
    """Read ``ROLE=EUI-64`` overrides (e.g. ``recovery=90-B3-D5-1F-30-00-00-01``) onto the defaults."""
    chosen = dict(DEFAULT_DCC_ENTITY_IDS)
    allowed = {spec.role for spec in COMMISSIONING_CERTIFICATES}
    for item in items:
        role_text, sep, eui = item.partition("=")
        if not sep:
            raise InvalidInput(
                "init.dcc_entity_syntax",
                f"'{item}' is not ROLE=EUI-64 (for example recovery=90-B3-D5-1F-30-00-00-01).",
            )
        role = RemotePartyRole.parse(role_text)
        if role not in allowed:
            raise InvalidInput(
                "init.dcc_entity_role",
                f"The DCC's commissioning certificates have no role {role.label}; use one of "
                + ", ".join(sorted({str(r) for r in allowed}))
                + ".",
            )
        chosen[role] = EntityId.parse(eui)
    return chosen


@dataclass(frozen=True)
class CeremonyResult:
    """What a key ceremony made."""

    ceremony: str
    backend: str
    authorities: list[tuple[str, IssuedCertificate, str]]  # (file stem, certificate, key label)
    commissioning: list[tuple[CommissioningCertificate, IssuedCertificate, str]]
    contingency_key_label: str
    contingency_symmetric_key_label: str
    retired: tuple[int, int] = field(default=(0, 0))


def existing_hierarchy(db: Database) -> list[tuple[CertificateKind, str]]:
    """The kinds and names of the CAs in force (empty when no hierarchy is in force)."""
    with db.read_transaction() as tx:
        return [(CertificateKind(r.kind), r.name) for r in ca_store.active_authorities(tx)]


def create_hierarchy(
    db: Database,
    keys: KeyBackend,
    env: PkiEnvironment,
    *,
    actor: str,
    dcc_entity_ids: Mapping[RemotePartyRole, EntityId] | None = None,
    force: bool = False,
    clock: Clock = utc_now,
) -> CeremonyResult:
    """Run the key ceremony; refuse when a hierarchy is already in force unless ``force`` (which retires
    the old records, keeping every certificate, record and key).

    Who may hold the CA certificates, and how many Roots, is ``policy.authorities.check_key_ceremony``
    (L3.17, L3.19, L3.21: ``init.hierarchy_exists``); what each commissioning certificate must say is its
    row of the L3.24 table, checked on the signed certificates before anything is activated.
    """
    entity_ids = dict(dcc_entity_ids or DEFAULT_DCC_ENTITY_IDS)
    backend = keys.name
    check_key_ceremony(existing_hierarchy(db), replacing=force)
    now = clock()
    ceremony = f"{now:%Y%m%d%H%M%S}-{secrets.token_hex(3)}"
    labels = {kind: f"smki-{ceremony}-{kind.value}" for kind, _ in _CA_SPECS}
    contingency_label = f"smki-{ceremony}-root-oca-contingency"
    symmetric_label = f"smki-{ceremony}-root-oca-contingency-symmetric"
    credential_labels = {spec.name: f"smki-{ceremony}-{spec.name}" for spec in COMMISSIONING_CERTIFICATES}

    with db.transaction() as tx:
        audit.record(
            tx,
            actor=actor,
            action="ca.key_ceremony_started",
            object_type="key_ceremony",
            object_id=ceremony,
            details={
                "backend": backend,
                "key_labels": sorted([*labels.values(), *credential_labels.values()]),
                "contingency_key_label": contingency_label,
                "contingency_symmetric_key_label": symmetric_label,
                "force": force,
            },
        )

    public_keys = {kind: keys.generate(label) for kind, label in labels.items()}
    # The Contingency Key Pair and its Symmetric Key: the public key travels wrapped in the Root OCA.
    contingency_public = keys.generate(contingency_label)
    keys.generate_symmetric(symmetric_label)
    wrapped = keys.wrap(symmetric_label, contingency_public_key_plaintext(contingency_public))

    cycle = IssuanceCycle(db, keys, env, clock)
    names = {kind: str(getattr(env, attr)) for kind, attr in _CA_SPECS}

    def record_authorities(tx: Transaction, issued: list[IssuedCertificate]) -> None:
        for item in issued:
            subject_kind = item.kind
            ca_store.add_authority(
                tx,
                ca_store.Authority(
                    name=names[subject_kind],
                    kind=subject_kind.value,
                    hierarchy=subject_kind.hierarchy.value,
                    key_label=labels[subject_kind],
                    backend=backend,
                    certificate_serial=item.serial_hex,
                    contingency_key_label=(
                        contingency_label if subject_kind is CertificateKind.ROOT_OCA else None
                    ),
                    contingency_symmetric_key_label=(
                        symmetric_label if subject_kind is CertificateKind.ROOT_OCA else None
                    ),
                    active=False,
                    ceremony=ceremony,
                    created_at=item.not_before,
                ),
            )

    root_jobs = [
        _root_job(kind, names[kind], labels[kind], public_keys[kind], env, wrapped)
        for kind in (CertificateKind.ROOT_OCA, CertificateKind.ROOT_DCA, CertificateKind.ROOT_ICA)
    ]
    roots = cycle.run(root_jobs, actor=actor, on_stored=record_authorities)
    root_by_kind = {job.kind: item for job, item in zip(root_jobs, roots, strict=True)}

    issuing_jobs = []
    for kind in (CertificateKind.ISSUING_OCA, CertificateKind.ISSUING_DCA, CertificateKind.ISSUING_ICA):
        root_kind = _ROOT_FOR_ISSUING[kind]
        root = SigningAuthority(
            names[root_kind], root_kind, labels[root_kind], root_by_kind[root_kind].certificate
        )
        issuing_jobs.append(_issuing_job(kind, root, public_keys[kind], env))
    issuing = cycle.run(issuing_jobs, actor=actor, on_stored=record_authorities)
    issuing_oca = SigningAuthority(
        names[CertificateKind.ISSUING_OCA],
        CertificateKind.ISSUING_OCA,
        labels[CertificateKind.ISSUING_OCA],
        issuing[0].certificate,
    )

    credential_keys = {
        spec.name: keys.generate(credential_labels[spec.name]) for spec in COMMISSIONING_CERTIFICATES
    }
    commissioning_jobs = [
        _commissioning_job(spec, issuing_oca, credential_keys[spec.name], entity_ids[spec.role], env)
        for spec in COMMISSIONING_CERTIFICATES
    ]
    retired: list[tuple[int, int]] = []

    def record_and_activate(tx: Transaction, issued: list[IssuedCertificate]) -> None:
        for spec, item in zip(COMMISSIONING_CERTIFICATES, issued, strict=True):
            said = certificate_fields(item.certificate)
            check_commissioning_certificate(spec, key_usage=said.key_usage, role=said.role)
            assert item.certificate_id is not None
            ca_store.add_commissioning_credential(
                tx,
                ca_store.Credential(
                    name=spec.name,
                    paragraph=spec.paragraph,
                    title=spec.title,
                    certificate_id=item.certificate_id,
                    key_label=credential_labels[spec.name],
                    backend=backend,
                    active=False,
                    ceremony=ceremony,
                ),
            )
        retired.append(ca_store.retire_hierarchy(tx))
        ca_store.activate_ceremony(tx, ceremony)
        audit.record(
            tx,
            actor=actor,
            action="ca.hierarchy_activated",
            object_type="key_ceremony",
            object_id=ceremony,
            details={
                "authorities": {names[k]: k.value for k, _ in _CA_SPECS},
                "commissioning": [spec.name for spec in COMMISSIONING_CERTIFICATES],
                "retired_authorities": retired[0][0],
                "retired_credentials": retired[0][1],
            },
        )

    commissioning = cycle.run(commissioning_jobs, actor=actor, on_stored=record_and_activate)
    authorities = [(job.kind.value, item, job.key_label) for job, item in zip(root_jobs, roots, strict=True)]
    authorities += [
        (job.kind.value, item, labels[job.kind]) for job, item in zip(issuing_jobs, issuing, strict=True)
    ]
    return CeremonyResult(
        ceremony=ceremony,
        backend=backend,
        authorities=authorities,
        commissioning=[
            (spec, item, credential_labels[spec.name])
            for spec, item in zip(COMMISSIONING_CERTIFICATES, commissioning, strict=True)
        ],
        contingency_key_label=contingency_label,
        contingency_symmetric_key_label=symmetric_label,
        retired=retired[0] if retired else (0, 0),
    )


def contingency_public_key_plaintext(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """What is wrapped under the Contingency Symmetric Key: the SubjectPublicKeyInfo DER, as
    ``profiles.contingency`` defines WrappedApexContingencyKey (RFC 5649 wrap, done inside ``keys``)."""
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def write_certificate_files(result: CeremonyResult, directory: Path) -> list[Path]:
    """Write each CA and commissioning certificate as ``<name>.pem``; old files move to ``retired-*``."""
    directory.mkdir(parents=True, exist_ok=True)
    existing = sorted(directory.glob("*.pem"))
    if existing:
        archive = directory / f"retired-{result.ceremony}"
        archive.mkdir(exist_ok=True)
        for path in existing:
            path.rename(archive / path.name)
    written = []
    items = [(stem, item) for stem, item, _ in result.authorities]
    items += [(spec.name, item) for spec, item, _ in result.commissioning]
    for stem, item in items:
        path = directory / f"{stem}.pem"
        path.write_text(item.pem, encoding="ascii")
        written.append(path)
    return written


def _root_job(
    kind: CertificateKind,
    name: str,
    label: str,
    public_key: ec.EllipticCurvePublicKey,
    env: PkiEnvironment,
    wrapped_contingency_key: bytes,
) -> CertificateJob:
    def build(serial: int, now: datetime) -> x509.CertificateBuilder:
        if kind is CertificateKind.ROOT_OCA:
            return builders.root_oca(
                env,
                public_key=public_key,
                serial=serial,
                not_before=now,
                wrapped_contingency_key=wrapped_contingency_key,
            )
        if kind is CertificateKind.ROOT_DCA:
            return builders.root_dca(env, public_key=public_key, serial=serial, not_before=now)
        return builders.root_ica(env, public_key=public_key, serial=serial, not_before=now)

    return CertificateJob(
        kind=kind,
        issuer_name=name,
        key_label=label,
        signer_certificate=None,
        build=build,
        key_usage=KeyUsage.CERT_SIGN,
        role=RemotePartyRole.ROOT if kind is CertificateKind.ROOT_OCA else None,
        subscriber=DCC_SUBSCRIBER,
    )


def _issuing_job(
    kind: CertificateKind, root: SigningAuthority, public_key: ec.EllipticCurvePublicKey, env: PkiEnvironment
) -> CertificateJob:
    issuer = root.issuer

    def build(serial: int, now: datetime) -> x509.CertificateBuilder:
        make = {
            CertificateKind.ISSUING_OCA: builders.issuing_oca,
            CertificateKind.ISSUING_DCA: builders.issuing_dca,
            CertificateKind.ISSUING_ICA: builders.issuing_ica,
        }[kind]
        return make(env, issuer=issuer, public_key=public_key, serial=serial, not_before=now)

    return CertificateJob(
        kind=kind,
        issuer_name=root.name,
        key_label=root.key_label,
        signer_certificate=root.certificate,
        build=build,
        key_usage=KeyUsage.CERT_SIGN,
        role=RemotePartyRole.ISSUING_AUTHORITY if kind is CertificateKind.ISSUING_OCA else None,
        subscriber=DCC_SUBSCRIBER,
    )


def _commissioning_job(
    spec: CommissioningCertificate,
    issuing_oca: SigningAuthority,
    public_key: ec.EllipticCurvePublicKey,
    entity_id: EntityId,
    env: PkiEnvironment,
) -> CertificateJob:
    issuer = issuing_oca.issuer

    def build(serial: int, now: datetime) -> x509.CertificateBuilder:
        return builders.organisation(
            env,
            issuer=issuer,
            public_key=public_key,
            serial=serial,
            not_before=now,
            role=spec.role,
            entity_id=entity_id,
            key_usage=spec.key_usage,
        )

    return CertificateJob(
        kind=CertificateKind.ORGANISATION,
        issuer_name=issuing_oca.name,
        key_label=issuing_oca.key_label,
        signer_certificate=issuing_oca.certificate,
        build=build,
        key_usage=spec.key_usage,
        entity_id=entity_id,
        role=spec.role,
        subscriber=DCC_SUBSCRIBER,
    )
