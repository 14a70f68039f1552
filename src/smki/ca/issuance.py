"""The issuance cycle: reserve a serial, build, lint, sign, record, and only then release.

1. Serials are drawn at random and reserved as intent rows in their own committed transaction; the
   database's UNIQUE constraint makes reuse impossible, even across processes, and a reserved serial is
   never drawn again whatever happens next.
2. Each certificate is built and its exact to-be-signed bytes are linted against its profile before the
   CA key signs them (``tbs_lint``: the check runs inside the signing call, no throwaway signature).
3. The CA key signs; the signature is checked against the CA certificate (in batch mode, the first
   signature of each key per run: ``verify_every_signature``).
4. In one transaction the certificates are stored, their intents marked signed, and one audit entry per
   certificate is written. Only after the commit is a certificate returned.

A crash anywhere leaves serials unique, every released certificate recorded and the audit chain valid;
an intent left ``reserved`` marks a serial that was never released and will never be used again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.orm import Session

from smki import audit
from smki.ca.crashpoints import crash_point
from smki.ca.tbs_lint import CheckingSigner, TemplateCache, TemplateValues, candidate_der
from smki.keys import KeyBackend
from smki.model import (
    CertificateKind,
    CertificateStatus,
    EntityId,
    KeyUsage,
    PolicyRefusal,
    RemotePartyRole,
    SmkiError,
)
from smki.profiles import builders
from smki.profiles.environment import PkiEnvironment
from smki.profiles.lint import LintReport, lint
from smki.profiles.lint_rules import Severity
from smki.storage import Database, ca_store, repository_store

# Appendix B 6.3.2(C): no OCA Private Key is used after the end of its certificate's Validity Period.
# smki applies the same rule (and "not before it starts") to every CA key.
KEY_VALIDITY_CLAUSE = "Appendix B 6.3.2(C)"
_SERIAL_ATTEMPTS = 5
# Lint findings about the signature itself: meaningless on the unsigned candidate (tbs_lint).
_THROWAWAY_SIGNATURE_CODES = frozenset({"sig.invalid", "sig.not_by_aki_key"})
# A validity other than the policy's, which the builder accepts only with an SMKI PMA approval reference
# (Appendix B 6.3.2(A)(i)); lint cannot see approvals, so with a reference these findings do not refuse.
_APPROVED_VALIDITY_CODES = frozenset({"validity.too_long", "validity.too_short"})

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """Now, in UTC, to the second (certificates carry whole seconds)."""
    return datetime.now(UTC).replace(microsecond=0)


def spki_sha256(public_key: ec.EllipticCurvePublicKey) -> str:
    """Hex SHA-256 of the SubjectPublicKeyInfo DER: how the repository indexes keys (L11.4)."""
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


def serial_hex(serial: int) -> str:
    """The repository form of a serial: upper-case hex, two digits per octet (32 for 16 octets)."""
    text = f"{serial:X}"
    return text.zfill(len(text) + len(text) % 2)


@dataclass(frozen=True)
class IssueRequest:
    """What the RA (or an operator command) asks a CA to sign. The CA does not judge eligibility."""

    kind: CertificateKind
    public_key: ec.EllipticCurvePublicKey
    key_usage: KeyUsage
    entity_id: EntityId
    role: RemotePartyRole | None = None
    common_name: str | None = None
    not_before: datetime | None = None
    not_after: datetime | None = None
    approval_reference: str | None = None
    subscriber: str | None = None  # the party the certificate is issued to (repository search, revocation)


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate that is signed, recorded in the repository and audited: safe to hand out."""

    serial: int
    serial_hex: str
    kind: CertificateKind
    der: bytes
    issuer_name: str
    not_before: datetime
    not_after: datetime
    public_key_sha256: str
    key_usage: KeyUsage
    entity_id: EntityId | None = None
    role: RemotePartyRole | None = None
    subscriber: str | None = None
    certificate_id: int | None = None

    @property
    def certificate(self) -> x509.Certificate:
        """The certificate as a cryptography object."""
        return x509.load_der_x509_certificate(self.der)

    @property
    def pem(self) -> str:
        """PEM text of the certificate."""
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


@dataclass(frozen=True)
class SigningAuthority:
    """A CA able to sign: its name (the CN in issued certificates' issuer), key label and certificate."""

    name: str
    kind: CertificateKind
    key_label: str
    certificate: x509.Certificate

    @property
    def issuer(self) -> builders.IssuerInfo:
        """What the profile builders need to name this CA as issuer."""
        return builders.IssuerInfo.from_certificate(self.certificate)


@dataclass(frozen=True)
class CertificateJob:
    """One certificate to make: who signs, and how to build it once its serial is known.

    ``signer_certificate`` is None only for a self-signed Root, whose own certificate is being made.
    """

    kind: CertificateKind
    issuer_name: str
    key_label: str
    signer_certificate: x509.Certificate | None
    build: Callable[[int, datetime], x509.CertificateBuilder]
    key_usage: KeyUsage
    entity_id: EntityId | None = None
    role: RemotePartyRole | None = None
    subscriber: str | None = None
    approval_reference: str | None = None
    public_key: ec.EllipticCurvePublicKey | None = None  # the subject key, for template lint (tbs_lint)


StoredHook = Callable[[Session, list[IssuedCertificate]], None]


class IssuanceCycle:
    """Runs the record-intent-then-sign cycle for a list of jobs (one certificate or a batch)."""

    def __init__(self, db: Database, keys: KeyBackend, env: PkiEnvironment, clock: Clock = utc_now) -> None:
        self.db = db
        self.keys = keys
        self.env = env
        self.clock = clock
        self._signers: dict[str, ec.EllipticCurvePrivateKey] = {}
        self._templates = TemplateCache()
        # True: every signature is verified against the CA certificate before release. False (batch
        # issuance): the first signature of each key in each run is, which catches a wrong or broken key
        # (see docs/decisions.md).
        self.verify_every_signature = True

    def run(
        self, jobs: Sequence[CertificateJob], *, actor: str, on_stored: StoredHook | None = None
    ) -> list[IssuedCertificate]:
        """Issue every job or none: a refusal abandons the whole batch's intents (audited)."""
        if not jobs:
            return []
        now = self.clock()
        for job in jobs:
            if job.signer_certificate is not None:
                check_key_usable(job.issuer_name, job.signer_certificate, now)
        serials, intent_ids = self._reserve(jobs, actor=actor, now=now)
        crash_point("reserved")
        self._templates.clear()
        verified: set[str] = set()
        try:
            certificates = []
            for index, (job, serial) in enumerate(zip(jobs, serials, strict=True)):
                builder = job.build(serial, now)
                certificates.append(
                    self._sign(job, builder, serial, index=index, batch=len(jobs), verified=verified)
                )
            crash_point("signed")
        except SmkiError as exc:
            self._abandon(intent_ids, serials, actor=actor, reason=f"{exc.code}: {exc.message}")
            raise
        except Exception as exc:
            self._abandon(intent_ids, serials, actor=actor, reason=f"ca.build_failed: {exc}")
            raise SmkiError(
                "ca.build_failed", f"The certificate could not be built or signed: {exc}."
            ) from None
        return self._store(jobs, certificates, intent_ids, actor=actor, on_stored=on_stored)

    # -- step 1 -------------------------------------------------------------------------------------------
    def _reserve(
        self, jobs: Sequence[CertificateJob], *, actor: str, now: datetime
    ) -> tuple[list[int], list[int]]:
        for _ in range(_SERIAL_ATTEMPTS):
            serials = [builders.new_serial() for _ in jobs]
            if len(set(serials)) != len(serials):
                continue
            reservations = [
                ca_store.Reservation(serial_hex(s), job.issuer_name, job.kind.value)
                for s, job in zip(serials, jobs, strict=True)
            ]
            try:
                with self.db.session() as session:
                    ids = ca_store.reserve_serials(session, reservations, actor=actor, at=now)
                    audit.record(
                        session,
                        actor=actor,
                        action="ca.serials_reserved",
                        object_type="issuance_intent",
                        object_id=str(ids[0]),
                        details={
                            "intents": [ids[0], ids[-1]],
                            "serials": [r.serial_hex for r in reservations],
                            "issuers": sorted({r.issuer_name for r in reservations}),
                        },
                    )
                return serials, ids
            except ca_store.SerialCollision:
                continue
        raise SmkiError("ca.serial_collision", "No unused serial number could be reserved; try again.")

    # -- steps 2 and 3 -------------------------------------------------------------------------------------
    def _lint_tbs(self, job: CertificateJob, tbs: bytes, serial: int, *, index: int, batch: int) -> None:
        """Lint the exact TBSCertificate about to be signed; raise before the CA key signs a bad one."""
        values = shape = None
        if job.kind is CertificateKind.DEVICE and job.public_key is not None and job.entity_id is not None:
            values = TemplateValues.of(serial, job.public_key, job.entity_id)
            shape = (job.kind, job.key_usage, job.issuer_name)
            if self._templates.matches(shape, tbs, values):
                return
        report = lint(candidate_der(tbs), self.env, issuer=job.signer_certificate)
        failures = lint_failures(
            report, approved_validity=job.approval_reference is not None and not job.kind.is_ca
        )
        if failures:
            where = f"request {index + 1} of {batch}: " if batch > 1 else ""
            raise PolicyRefusal(
                "ca.lint_failed",
                f"The {job.kind.title} was not signed because it breaks its profile ({where}"
                + "; ".join(failures)
                + ").",
            )
        if shape is not None and values is not None:
            self._templates.learn(shape, tbs, values)

    def _sign(
        self,
        job: CertificateJob,
        builder: x509.CertificateBuilder,
        serial: int,
        *,
        index: int,
        batch: int,
        verified: set[str],
    ) -> x509.Certificate:
        signer = self._signers.get(job.key_label)
        if signer is None:
            signer = self.keys.signer(job.key_label)
            self._signers[job.key_label] = signer

        def check(tbs: bytes) -> None:
            self._lint_tbs(job, tbs, serial, index=index, batch=batch)
            crash_point("linted")

        certificate = builder.sign(CheckingSigner(signer, check), hashes.SHA256())
        if not self.verify_every_signature and job.key_label in verified:
            return certificate
        issuer_certificate = job.signer_certificate or certificate
        try:
            certificate.verify_directly_issued_by(issuer_certificate)
        except (ValueError, TypeError, InvalidSignature):
            raise SmkiError(
                "ca.bad_signature",
                f"The key {job.key_label!r} produced a signature that does not verify against the "
                f"certificate of CA {job.issuer_name}; nothing was released.",
            ) from None
        verified.add(job.key_label)
        return certificate

    # -- step 4 -------------------------------------------------------------------------------------------
    def _store(
        self,
        jobs: Sequence[CertificateJob],
        certificates: Sequence[x509.Certificate],
        intent_ids: Sequence[int],
        *,
        actor: str,
        on_stored: StoredHook | None,
    ) -> list[IssuedCertificate]:
        issued_at = self.clock()
        rows: list[dict[str, object]] = []
        issued: list[IssuedCertificate] = []
        for job, cert, intent_id in zip(jobs, certificates, intent_ids, strict=True):
            public_key = cert.public_key()
            assert isinstance(public_key, ec.EllipticCurvePublicKey)
            item = IssuedCertificate(
                serial=cert.serial_number,
                serial_hex=serial_hex(cert.serial_number),
                kind=job.kind,
                der=cert.public_bytes(serialization.Encoding.DER),
                issuer_name=job.issuer_name,
                not_before=cert.not_valid_before_utc,
                not_after=cert.not_valid_after_utc,
                public_key_sha256=spki_sha256(public_key),
                key_usage=job.key_usage,
                entity_id=job.entity_id,
                role=job.role,
                subscriber=job.subscriber,
            )
            issued.append(item)
            rows.append(
                {
                    "serial_hex": item.serial_hex,
                    "issuer_name": item.issuer_name,
                    "kind": item.kind.value,
                    "hierarchy": item.kind.hierarchy.value,
                    "role_code": item.role.code if item.role is not None else None,
                    "entity_id": item.entity_id.compact if item.entity_id is not None else None,
                    "key_usage": item.key_usage.value,
                    "subject_der": cert.subject.public_bytes(),
                    "not_before": item.not_before,
                    "not_after": item.not_after,
                    "status": CertificateStatus.IN_USE.value,
                    "public_key_sha256": item.public_key_sha256,
                    "der": item.der,
                    "subscriber": item.subscriber,
                    "issued_at": issued_at,
                    "intent_id": intent_id,
                }
            )
        with self.db.session() as session:
            ids = ca_store.add_certificates(session, rows)
            ca_store.finish_intents(session, intent_ids, state=ca_store.SIGNED, at=issued_at)
            issued = [_with_id(item, cid) for item, cid in zip(issued, ids, strict=True)]
            changes: list[tuple[int, int]] = []
            entries = audit.record_many(
                session,
                [
                    audit.AuditInput(
                        actor=actor,
                        action="ca.certificate_issued",
                        object_type="certificate",
                        object_id=item.serial_hex,
                        details={
                            "kind": item.kind.value,
                            "issuer": item.issuer_name,
                            "subscriber": item.subscriber,
                            "entity_id": item.entity_id.dashed if item.entity_id else None,
                            "role": item.role.code if item.role else None,
                            "key_usage": item.key_usage.value,
                            "not_before": item.not_before.isoformat(),
                            "not_after": item.not_after.isoformat(),
                            "public_key_sha256": item.public_key_sha256,
                            "approval_reference": job.approval_reference,
                        },
                    )
                    for item, job in zip(issued, jobs, strict=True)
                ],
            )
            changes.extend((cid, entry.seq) for cid, entry in zip(ids, entries, strict=True))
            # The audit sequence orders changes for incremental repository extracts.
            repository_store.set_changes(session, changes, at=issued_at)
            if on_stored is not None:
                on_stored(session, issued)
            crash_point("storing")
        crash_point("stored")
        return issued

    def _abandon(self, intent_ids: Sequence[int], serials: Sequence[int], *, actor: str, reason: str) -> None:
        with self.db.session() as session:
            ca_store.finish_intents(
                session, intent_ids, state=ca_store.ABANDONED, at=self.clock(), reason=reason[:2000]
            )
            audit.record(
                session,
                actor=actor,
                action="ca.issuance_abandoned",
                object_type="issuance_intent",
                object_id=str(intent_ids[0]),
                details={"serials": [serial_hex(s) for s in serials], "reason": reason[:2000]},
            )


def check_key_usable(name: str, certificate: x509.Certificate, now: datetime) -> None:
    """Refuse to use a CA key outside the Validity Period of the certificate holding its public key."""
    not_before, not_after = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    if now < not_before or now > not_after:
        state = "has ended" if now > not_after else "has not begun"
        raise PolicyRefusal(
            "ca.key_outside_validity",
            f"The key of CA {name} may not be used: the Validity Period of its certificate "
            f"({not_before:%Y-%m-%d %H:%M:%S} to {not_after:%Y-%m-%d %H:%M:%S} UTC) {state}.",
            KEY_VALIDITY_CLAUSE,
        )


def lint_failures(report: LintReport, *, approved_validity: bool = False) -> list[str]:
    """The ERROR findings that forbid signing, as 'code: message'.

    Signature findings are left out (the candidate carries no real signature; the real one is verified
    after signing), and so are validity-length findings when the request carries an approval reference.
    """
    ignored = _THROWAWAY_SIGNATURE_CODES | (_APPROVED_VALIDITY_CODES if approved_validity else frozenset())
    return [
        f"{f.code}: {f.message}"
        for f in report.findings
        if f.severity is Severity.ERROR and f.code not in ignored
    ]


def _with_id(item: IssuedCertificate, certificate_id: int) -> IssuedCertificate:
    from dataclasses import replace

    return replace(item, certificate_id=certificate_id)
