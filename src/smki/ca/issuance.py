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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property, lru_cache

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.orm import Session

from smki import audit
from smki.ca.crashpoints import armed as crash_points_armed
from smki.ca.crashpoints import crash_point
from smki.ca.tbs_lint import (
    CheckingSigner,
    ShapeKey,
    TemplateCache,
    TemplateValues,
    candidate_der,
)
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
from smki.profiles.der import (
    ECDSA_WITH_SHA256_ALGORITHM,
    P256_SPKI_HEADER,
    TAG_BIT_STRING,
    TAG_SEQUENCE,
    encode_length,
    tlv,
)
from smki.profiles.environment import PkiEnvironment
from smki.profiles.lint import LintReport, lint
from smki.profiles.lint_rules import Severity
from smki.storage import Database, ca_store

# Appendix B 6.3.2(C): no OCA Private Key is used after the end of its certificate's Validity Period.
# smki applies the same rule (and "not before it starts") to every CA key.
KEY_VALIDITY_CLAUSE = "Appendix B 6.3.2(C)"
_SERIAL_ATTEMPTS = 5
# Lint findings about the signature itself: meaningless on the unsigned candidate (tbs_lint).
_THROWAWAY_SIGNATURE_CODES = frozenset({"sig.invalid", "sig.not_by_aki_key"})
# A validity other than the policy's, which the builder accepts only with an SMKI PMA approval reference
# (Appendix B 6.3.2(A)(i)); lint cannot see approvals, so with a reference these findings do not refuse.
_APPROVED_VALIDITY_CODES = frozenset({"validity.too_long", "validity.too_short"})
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
# The details of each certificate's ``ca.certificate_issued`` audit entry, values in this order (_store).
_ISSUED_DETAILS = audit.DetailsShape(
    (
        "kind",
        "issuer",
        "subscriber",
        "entity_id",
        "role",
        "key_usage",
        "not_before",
        "not_after",
        "public_key_sha256",
        "approval_reference",
    )
)

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
    # ``public_key``'s SubjectPublicKeyInfo DER when the caller read the key from it (the RA, from the CSR):
    # it must encode that same key. Device Certificates made from a template take the point from it.
    public_key_der: bytes | None = field(default=None, compare=False, repr=False)


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

    @cached_property
    def issuer(self) -> builders.IssuerInfo:
        """What the profile builders need to name this CA as issuer (read once from its certificate)."""
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
    public_key_der: bytes | None = None  # its SubjectPublicKeyInfo, when known (``IssueRequest``)


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
        # What every Device Certificate of a linted template shape shares (notBefore, notAfter, subject).
        self._device_shapes: dict[ShapeKey, tuple[datetime, datetime, bytes]] = {}
        # True: every signature is verified against the CA certificate before release. False (batch
        # issuance): the first signature of each key in each run is, which catches a wrong or broken key
        # (see docs/decisions.md).
        self.verify_every_signature = True
        # Whether the crash test hook is set (read once per run): the per-certificate ``linted`` step is
        # skipped when it is not, as ``crash_point`` would return at once.
        self._crash_armed = False

    def run(
        self, jobs: Sequence[CertificateJob], *, actor: str, on_stored: StoredHook | None = None
    ) -> list[IssuedCertificate]:
        """Issue every job or none: a refusal abandons the whole batch's intents (audited)."""
        if not jobs:
            return []
        self._crash_armed = crash_points_armed()
        now = self.clock()
        for name, certificate in {j.issuer_name: j.signer_certificate for j in jobs}.items():
            if certificate is not None:
                check_key_usable(name, certificate, now)
        serials, reserved_hexes, intent_ids = self._reserve(jobs, actor=actor, now=now)
        crash_point("reserved")
        self._templates.clear()
        self._device_shapes.clear()
        verified: set[str] = set()
        try:
            certificates: list[_Signed] = []
            for index, (job, serial) in enumerate(zip(jobs, serials, strict=True)):
                signed = self._sign_from_template(job, serial, verified)
                if signed is None:
                    builder = job.build(serial, now)
                    signed = self._sign(job, builder, serial, index=index, batch=len(jobs), verified=verified)
                certificates.append(signed)
            crash_point("signed")
        except SmkiError as exc:
            self._abandon(intent_ids, serials, actor=actor, reason=f"{exc.code}: {exc.message}")
            raise
        except Exception as exc:
            self._abandon(intent_ids, serials, actor=actor, reason=f"ca.build_failed: {exc}")
            raise SmkiError(
                "ca.build_failed", f"The certificate could not be built or signed: {exc}."
            ) from None
        try:
            hexes = [
                hex_ if cert.serial == serial else serial_hex(cert.serial)
                for cert, serial, hex_ in zip(certificates, serials, reserved_hexes, strict=True)
            ]
            return self._store(jobs, certificates, hexes, intent_ids, actor=actor, on_stored=on_stored)
        except SmkiError as exc:
            # Refused inside the storing transaction (e.g. the RA's L11.4 re-check in ``on_stored``): it
            # rolled back, so nothing was stored or released; the serials are marked abandoned, never reused.
            self._abandon(intent_ids, serials, actor=actor, reason=f"{exc.code}: {exc.message}")
            raise

    # -- step 1 -------------------------------------------------------------------------------------------
    def _reserve(
        self, jobs: Sequence[CertificateJob], *, actor: str, now: datetime
    ) -> tuple[list[int], list[str], list[int]]:
        """Reserve a new serial for each job: (serials, their repository hex forms, intent ids)."""
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
                return serials, [r.serial_hex for r in reservations], ids
            except ca_store.SerialCollision:
                continue
        raise SmkiError("ca.serial_collision", "No unused serial number could be reserved; try again.")

    # -- steps 2 and 3 -------------------------------------------------------------------------------------
    def _lint_tbs(self, job: CertificateJob, tbs: bytes, serial: int, *, index: int, batch: int) -> None:
        """Lint the exact TBSCertificate about to be signed; raise before the CA key signs a bad one."""
        values = None
        shape = _device_shape(job)
        if shape is not None:
            assert job.public_key is not None and job.entity_id is not None
            values = TemplateValues.of(serial, job.public_key, job.entity_id)
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

    def _signer(self, key_label: str) -> ec.EllipticCurvePrivateKey:
        signer = self._signers.get(key_label)
        if signer is None:
            signer = self.keys.signer(key_label)
            self._signers[key_label] = signer
        return signer

    def _sign(
        self,
        job: CertificateJob,
        builder: x509.CertificateBuilder,
        serial: int,
        *,
        index: int,
        batch: int,
        verified: set[str],
    ) -> _Signed:
        signer = self._signer(job.key_label)

        def check(tbs: bytes) -> None:
            self._lint_tbs(job, tbs, serial, index=index, batch=batch)
            if self._crash_armed:
                crash_point("linted")

        certificate = builder.sign(CheckingSigner(signer, check), hashes.SHA256())
        if self.verify_every_signature or job.key_label not in verified:
            issuer_certificate = job.signer_certificate or certificate
            try:
                certificate.verify_directly_issued_by(issuer_certificate)
            except (ValueError, TypeError, InvalidSignature):
                raise _bad_signature(job) from None
            verified.add(job.key_label)
        public_key = certificate.public_key()
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        signed = _Signed(
            serial=certificate.serial_number,
            der=certificate.public_bytes(serialization.Encoding.DER),
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
            subject_der=certificate.subject.public_bytes(),
            public_key_sha256=spki_sha256(public_key),
        )
        shape = _device_shape(job)
        if shape is not None and self._templates.has(shape) and shape not in self._device_shapes:
            self._device_shapes[shape] = (signed.not_before, signed.not_after, signed.subject_der)
        return signed

    def _sign_from_template(self, job: CertificateJob, serial: int, verified: set[str]) -> _Signed | None:
        """Sign a Device Certificate whose TBS is its shape's linted template with this request's values.

        The bytes are exactly those the builder would make and the template check would accept (see
        ``tbs_lint``), so building and checking them again is skipped. None: no template yet (build it).
        """
        shape = _device_shape(job)
        common = self._device_shapes.get(shape) if shape is not None else None
        if shape is None or common is None or not builders.is_smki_serial(serial):
            return None
        assert job.public_key is not None and job.entity_id is not None
        values = TemplateValues.of(serial, job.public_key, job.entity_id, job.public_key_der)
        tbs = self._templates.fill(shape, values)
        if tbs is None:
            return None
        if self._crash_armed:
            crash_point("linted")
        signature = self._signer(job.key_label).sign(tbs, _ECDSA_SHA256)
        if self.verify_every_signature or job.key_label not in verified:
            ca_key = job.signer_certificate.public_key() if job.signer_certificate is not None else None
            if not isinstance(ca_key, ec.EllipticCurvePublicKey):
                raise _bad_signature(job)
            try:
                ca_key.verify(signature, tbs, _ECDSA_SHA256)
            except InvalidSignature:
                raise _bad_signature(job) from None
            verified.add(job.key_label)
        der = _certificate_der(tbs, signature)
        not_before, not_after, subject_der = common
        return _Signed(
            serial=serial,
            der=der,
            not_before=not_before,
            not_after=not_after,
            subject_der=subject_der,
            public_key_sha256=hashlib.sha256(P256_SPKI_HEADER + values.point).hexdigest(),
        )

    # -- step 4 -------------------------------------------------------------------------------------------
    def _store(
        self,
        jobs: Sequence[CertificateJob],
        certificates: Sequence[_Signed],
        hexes: Sequence[str],
        intent_ids: Sequence[int],
        *,
        actor: str,
        on_stored: StoredHook | None,
    ) -> list[IssuedCertificate]:
        issued_at = self.clock()
        # A batch's jobs share a few kinds, key usages and validity dates: each value below is read or
        # formatted once per batch (an enum member's value and isoformat cost more than a dict lookup).
        # The dates are all UTC (read from the signed certificates), so equal dates format alike.
        kinds = {kind: (kind.value, kind.hierarchy.value) for kind in {job.kind for job in jobs}}
        usages = {usage: usage.value for usage in {job.key_usage for job in jobs}}
        dates = {
            date: date.isoformat()
            for date in {cert.not_before for cert in certificates} | {cert.not_after for cert in certificates}
        }
        in_use = CertificateStatus.IN_USE.value
        # Everything that needs no lock is made ready before the write transaction (on SQLite its lock
        # serialises every writer): the audit entries' JSON and the certificate rows.
        prepared = _ISSUED_DETAILS.prepare_many(
            actor=actor,
            action="ca.certificate_issued",
            object_type="certificate",
            entries=[
                (
                    hex_,
                    (
                        kinds[job.kind][0],
                        job.issuer_name,
                        job.subscriber,
                        job.entity_id.dashed if job.entity_id else None,
                        job.role.code if job.role else None,
                        usages[job.key_usage],
                        dates[cert.not_before],
                        dates[cert.not_after],
                        cert.public_key_sha256,
                        job.approval_reference,
                    ),
                )
                for job, cert, hex_ in zip(jobs, certificates, hexes, strict=True)
            ],
        )
        rows: list[dict[str, object]] = [
            {
                "serial_hex": hex_,
                "issuer_name": job.issuer_name,
                "kind": kinds[job.kind][0],
                "hierarchy": kinds[job.kind][1],
                "role_code": job.role.code if job.role is not None else None,
                "entity_id": job.entity_id.compact if job.entity_id is not None else None,
                "key_usage": usages[job.key_usage],
                "subject_der": cert.subject_der,
                "not_before": cert.not_before,
                "not_after": cert.not_after,
                "status": in_use,
                "public_key_sha256": cert.public_key_sha256,
                "der": cert.der,
                "subscriber": job.subscriber,
                "issued_at": issued_at,
                "intent_id": intent_id,
                "change_seq": None,
                "changed_at": issued_at,
            }
            for job, cert, hex_, intent_id in zip(jobs, certificates, hexes, intent_ids, strict=True)
        ]
        with self.db.session() as session:
            # The audit entries come first: their sequence numbers order changes for incremental
            # repository extracts, and go into each certificate row as it is inserted.
            seqs = audit.append_prepared(session, prepared)
            for row, seq in zip(rows, seqs, strict=True):
                row["change_seq"] = seq
            ids = ca_store.add_certificates(session, rows)
            signed = ca_store.finish_intents(session, intent_ids, state=ca_store.SIGNED, at=issued_at)
            if signed != len(intent_ids):
                # An operator abandoned these serials meanwhile (`smki intents abandon`): they stay unused.
                raise SmkiError(
                    "ca.intent_not_reserved",
                    f"{len(intent_ids) - signed} of the {len(intent_ids)} serials reserved for this request "
                    "were marked abandoned before the certificates were stored; nothing was released: "
                    "submit the request again.",
                )
            issued = [
                IssuedCertificate(
                    serial=cert.serial,
                    serial_hex=hex_,
                    kind=job.kind,
                    der=cert.der,
                    issuer_name=job.issuer_name,
                    not_before=cert.not_before,
                    not_after=cert.not_after,
                    public_key_sha256=cert.public_key_sha256,
                    key_usage=job.key_usage,
                    entity_id=job.entity_id,
                    role=job.role,
                    subscriber=job.subscriber,
                    certificate_id=cid,
                )
                for job, cert, hex_, cid in zip(jobs, certificates, hexes, ids, strict=True)
            ]
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


@dataclass(frozen=True, slots=True)
class _Signed:
    """A signed certificate not yet stored: what the repository row needs besides the job."""

    serial: int
    der: bytes
    not_before: datetime
    not_after: datetime
    subject_der: bytes
    public_key_sha256: str


def _certificate_der(tbs: bytes, signature: bytes) -> bytes:
    """The Certificate SEQUENCE of ``tbs`` signed ecdsa-with-SHA256 with ``signature`` (DER).

    Equal to ``tlv(SEQUENCE, tbs + algorithm + tlv(BIT STRING, 0x00 + signature))`` (property-tested), in
    one join: an ECDSA signature's BIT STRING has a one-octet length, and the outer header is looked up by
    length (the certificates of a template shape have a few lengths, as signatures have).
    """
    bits = len(signature) + 1  # the unused-bits octet, then the signature
    if bits >= 0x80:
        return tlv(TAG_SEQUENCE, tbs + ECDSA_WITH_SHA256_ALGORITHM + tlv(TAG_BIT_STRING, b"\x00" + signature))
    header = _sequence_header(len(tbs) + len(ECDSA_WITH_SHA256_ALGORITHM) + 2 + bits)
    return b"".join((header, tbs, ECDSA_WITH_SHA256_ALGORITHM, bytes((TAG_BIT_STRING, bits, 0)), signature))


@lru_cache(maxsize=64)
def _sequence_header(length: int) -> bytes:
    """The tag and length octets of a SEQUENCE of ``length`` content octets."""
    return bytes((TAG_SEQUENCE,)) + encode_length(length)


def _device_shape(job: CertificateJob) -> ShapeKey | None:
    """The template shape of a Device Certificate job (None for every other kind)."""
    if job.kind is not CertificateKind.DEVICE or job.public_key is None or job.entity_id is None:
        return None
    return (job.kind, job.key_usage, job.issuer_name)


def _bad_signature(job: CertificateJob) -> SmkiError:
    return SmkiError(
        "ca.bad_signature",
        f"The key {job.key_label!r} produced a signature that does not verify against the "
        f"certificate of CA {job.issuer_name}; nothing was released.",
    )
