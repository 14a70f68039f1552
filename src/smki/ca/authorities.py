"""The CAs in operation: route each request to its Issuing CA and run the issuance cycle."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from cryptography import x509
from cryptography.x509.oid import NameOID

from smki.ca.issuance import (
    CertificateJob,
    Clock,
    IssuanceCycle,
    IssuedCertificate,
    IssueRequest,
    SignatureCheck,
    SigningAuthority,
    StoredHook,
    serial_hex,
    utc_now,
)
from smki.keys import KeyBackend
from smki.model import CertificateKind, Hierarchy, InvalidInput, PolicyRefusal, SmkiError
from smki.profiles import builders
from smki.profiles.environment import PkiEnvironment
from smki.storage import Database, ca_store, repository_store

# Which Issuing CA signs each end-entity kind.
ISSUER_OF: Mapping[CertificateKind, CertificateKind] = {
    CertificateKind.ORGANISATION: CertificateKind.ISSUING_OCA,
    CertificateKind.DEVICE: CertificateKind.ISSUING_DCA,
    CertificateKind.IKI: CertificateKind.ISSUING_ICA,
}
ROOT_OF: Mapping[Hierarchy, CertificateKind] = {
    Hierarchy.ORGANISATION: CertificateKind.ROOT_OCA,
    Hierarchy.DEVICE: CertificateKind.ROOT_DCA,
    Hierarchy.IKI: CertificateKind.ROOT_ICA,
}
ISSUING_OF: Mapping[Hierarchy, CertificateKind] = {
    Hierarchy.ORGANISATION: CertificateKind.ISSUING_OCA,
    Hierarchy.DEVICE: CertificateKind.ISSUING_DCA,
    Hierarchy.IKI: CertificateKind.ISSUING_ICA,
}


def _certificate_key(certificate: x509.Certificate) -> tuple[str, str]:
    """(issuer name, serial hex) of a CA certificate, as the repository records it."""
    names = certificate.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    return (str(names[0].value) if names else "", serial_hex(certificate.serial_number))


class CertificateAuthorities:
    """The Root and Issuing OCA, DCA and ICA of one SMKI, with their keys, ready to issue."""

    def __init__(
        self,
        db: Database,
        keys: KeyBackend,
        env: PkiEnvironment,
        authorities: Mapping[CertificateKind, SigningAuthority],
        *,
        clock: Clock = utc_now,
    ) -> None:
        self.db = db
        self.keys = keys
        self.env = env
        self.authorities = dict(authorities)
        self.cycle = IssuanceCycle(db, keys, env, clock)

    @classmethod
    def open(
        cls, db: Database, keys: KeyBackend, env: PkiEnvironment, *, clock: Clock = utc_now
    ) -> CertificateAuthorities:
        """Load the active CAs from the database and check their keys are in the key store."""
        with db.read_transaction() as tx:
            in_force = ca_store.active_authority_certificates(tx)
        loaded: dict[CertificateKind, SigningAuthority] = {}
        for record, row in in_force:
            if row is None:
                raise SmkiError(
                    "ca.certificate_missing",
                    f"The certificate of CA {record.name} (serial {record.certificate_serial}) is not in "
                    "the repository: the database is damaged.",
                )
            kind = CertificateKind(record.kind)
            loaded[kind] = SigningAuthority(
                record.name, kind, record.key_label, x509.load_der_x509_certificate(row.der)
            )
            if not keys.exists(record.key_label):
                raise SmkiError(
                    "ca.key_missing",
                    f"The key of CA {record.name} (label {record.key_label!r}, {record.backend} keys) is not "
                    "in the key store this command opened: check --keys and the key settings.",
                )
        if not loaded:
            raise SmkiError(
                "ca.not_initialised",
                "No certificate authorities exist in this SMKI yet: run `smki init` first.",
            )
        return cls(db, keys, env, loaded, clock=clock)

    def authority(self, kind: CertificateKind) -> SigningAuthority:
        """The CA of the given kind, or one clear refusal when it does not exist."""
        found = self.authorities.get(kind)
        if found is None:
            raise SmkiError("ca.not_initialised", f"This SMKI has no {kind.title} yet: run `smki init`.")
        return found

    def root_certificate(self, hierarchy: Hierarchy) -> x509.Certificate:
        """The Root CA certificate of the hierarchy."""
        return self.authority(ROOT_OF[hierarchy]).certificate

    def issuing_ca_certificate(self, hierarchy: Hierarchy) -> x509.Certificate:
        """The Issuing CA certificate of the hierarchy."""
        return self.authority(ISSUING_OF[hierarchy]).certificate

    def issue(self, request: IssueRequest, *, actor: str) -> IssuedCertificate:
        """Sign one end-entity certificate; it is recorded and audited before it is returned."""
        return self.issue_many([request], actor=actor)[0]

    def issue_many(
        self,
        requests: Sequence[IssueRequest],
        *,
        actor: str,
        on_stored: StoredHook | None = None,
        signatures: SignatureCheck = SignatureCheck.EVERY,
    ) -> list[IssuedCertificate]:
        """Sign a batch: serials reserved in one transaction, results stored in one transaction.

        All or nothing: when any request fails its profile, no certificate of the batch is signed and
        every reserved serial is marked abandoned. A batch naming a CA whose certificate is revoked is
        refused before any serial is reserved.

        ``on_stored(tx, issued)`` runs inside the storing transaction, before it commits (the RA's
        L11.4 re-check, ``smki.ra.key_guard``); when it raises, nothing is stored and the intents are
        marked abandoned. ``signatures``: which signatures are verified before release (batch
        issuance asks for the first of each CA key per run).
        """
        jobs = [self._job(request) for request in requests]
        self.refuse_revoked_issuers({ISSUER_OF[request.kind] for request in requests})
        return self.cycle.run(jobs, actor=actor, on_stored=on_stored, signatures=signatures)

    def refuse_revoked_issuers(self, kinds: Iterable[CertificateKind]) -> None:
        """Refuse when the certificate of any of these CAs is revoked in the repository.

        Checked at issue time, not only when the CAs are opened: `smki serve` keeps them open while an
        operator may revoke an Issuing CA certificate (see docs/decisions.md).
        """
        wanted = {kind: _certificate_key(self.authority(kind).certificate) for kind in set(kinds)}
        with self.db.read_transaction() as tx:
            statuses = ca_store.certificate_statuses(tx, list(wanted.values()))
        for kind, key in wanted.items():
            if statuses.get(key) == repository_store.STORED_REVOKED:
                name = self.authority(kind).name
                raise PolicyRefusal(
                    "ca.authority_revoked",
                    f"The {kind.title} {name} may not issue: its certificate (serial {key[1]}) is revoked.",
                )

    def _job(self, request: IssueRequest) -> CertificateJob:
        issuer_kind = ISSUER_OF.get(request.kind)
        if issuer_kind is None:
            raise InvalidInput(
                "ca.kind_not_issuable",
                f"A {request.kind.title} is made only by the key ceremony (`smki init`), not on request.",
            )
        authority = self.authority(issuer_kind)
        env = self.env
        issuer = authority.issuer

        if request.kind is CertificateKind.ORGANISATION:
            if request.role is None:
                raise InvalidInput(
                    "ca.role_required", "An Organisation Certificate needs a Remote Party Role."
                )
            role = request.role

            def build(serial: int, now: datetime) -> x509.CertificateBuilder:
                return builders.organisation(
                    env,
                    issuer=issuer,
                    public_key=request.public_key,
                    serial=serial,
                    not_before=request.not_before or now,
                    role=role,
                    entity_id=request.entity_id,
                    key_usage=request.key_usage,
                    common_name=request.common_name,
                    not_after=request.not_after,
                    approval_reference=request.approval_reference,
                )

        elif request.kind is CertificateKind.DEVICE:
            if request.role is not None or request.common_name is not None or request.not_after is not None:
                raise InvalidInput(
                    "ca.device_fields",
                    "A Device Certificate carries no role, common name or chosen notAfter.",
                )

            def build(serial: int, now: datetime) -> x509.CertificateBuilder:
                return builders.device(
                    env,
                    issuer=issuer,
                    public_key=request.public_key,
                    serial=serial,
                    not_before=request.not_before or now,
                    entity_id=request.entity_id,
                    key_usage=request.key_usage,
                )

        else:

            def build(serial: int, now: datetime) -> x509.CertificateBuilder:
                return builders.iki(
                    env,
                    issuer=issuer,
                    public_key=request.public_key,
                    serial=serial,
                    not_before=request.not_before or now,
                    entity_id=request.entity_id,
                    key_usage=request.key_usage,
                    role=request.role,
                    common_name=request.common_name,
                    not_after=request.not_after,
                )

        return CertificateJob(
            kind=request.kind,
            issuer_name=authority.name,
            key_label=authority.key_label,
            signer_certificate=authority.certificate,
            build=build,
            key_usage=request.key_usage,
            entity_id=request.entity_id,
            role=request.role,
            subscriber=request.subscriber,
            approval_reference=request.approval_reference,
            public_key=request.public_key,
            public_key_der=request.public_key_der,
        )
