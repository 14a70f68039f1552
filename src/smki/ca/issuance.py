"""The issuance cycle: reserve a serial, build, lint, sign, verify, record, and only then release.

``IssuanceCycle.run`` does the steps in this order for a list of jobs (one certificate or a batch chunk);
docs/issuance-cycle.md maps each step to its code and to what a crash there leaves behind.

1. *Reserve* (``IssuanceCycle._reserve``): serials are drawn at random and reserved as intent rows in their
   own committed transaction; the database's UNIQUE constraint makes reuse impossible, even across
   processes, and a reserved serial is never drawn again whatever happens next.
2. *Lint* (``_Run.sign``): each certificate's exact to-be-signed bytes are linted against its profile
   before the CA key signs them (``tbs_lint``: the check runs inside the signing call, no throwaway
   signature).
3. *Sign and verify*: the CA key signs; the signature is checked against the CA certificate, every one
   (``SignatureCheck.EVERY``, the default) or the first of each CA key in the run
   (``SignatureCheck.FIRST_PER_KEY``, which batch issuance asks for).
4. *Store* (``IssuanceCycle._store``): in one transaction the certificates are stored, their intents marked
   signed, and one audit entry per certificate is written. Only after the commit is a certificate
   returned. A refusal at any step marks the run's intents abandoned (audited) and releases nothing.

Everything one run learns (the Device TBS templates, the CA signers it opened, the keys whose signature
it has verified, whether the crash test hook is set) lives in the ``_Run`` that ``run`` makes and drops;
the long-lived ``IssuanceCycle`` holds only its database, keys, environment and clock.

Two paths, side by side (``IssuancePath``), read once per run from the environment:

- *fast* (default): within a run, the first Device Certificate of each shape (kind, key usage, issuer) is
  built with ``profiles.builders``, fully linted and kept as a template (``tbs_lint.TemplateCache``); the
  next ones of that shape are signed straight from the template with their own serial, key and EUI-64
  put in (``_Run._sign_from_template``), which is byte for byte what the builder would make.
- *simple* (``SMKI_SIMPLE_PATH=1``): every certificate is built with ``profiles.builders`` and signed by
  cryptography's ``CertificateBuilder.sign`` through the linting signer, fully linted, and its signature
  verified, whatever ``SignatureCheck`` the caller asked for. No template is made or used. Slower; the
  reference the fast path is tested against (tests/test_issuance_paths.py), and the path to fall back to
  should the fast one ever be in doubt.

A crash anywhere leaves serials unique, every released certificate recorded and the audit chain valid;
an intent left ``reserved`` marks a serial that was never released and will never be used again.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from functools import cached_property, lru_cache

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

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
from smki.storage import Database, Transaction, ca_store

# Appendix B 6.3.2(C): no OCA Private Key is used after the end of its certificate's Validity Period.
# smki applies the same rule (and "not before it starts") to every CA key.
KEY_VALIDITY_CLAUSE = "Appendix B 6.3.2(C)"
# Set to 1 (anything but empty or 0): every certificate takes the simple path (module docstring).
SIMPLE_PATH_ENV = "SMKI_SIMPLE_PATH"
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


class SignatureCheck(Enum):
    """Which signatures of a run are verified against the CA certificate before anything is released."""

    EVERY = "every"
    # The first signature of each CA key in each run: catches a wrong or broken key (wrong label, wrong
    # token), not a one-off faulty signature; saves one verify per certificate (docs/decisions.md).
    FIRST_PER_KEY = "first-per-key"


class IssuancePath(Enum):
    """How certificates are built and signed (module docstring): chosen by ``SMKI_SIMPLE_PATH``."""

    FAST = "fast"
    SIMPLE = "simple"

    @classmethod
    def from_environment(cls) -> IssuancePath:
        """SIMPLE when ``SMKI_SIMPLE_PATH`` is set to anything but empty or ``0``; FAST otherwise."""
        return cls.SIMPLE if os.environ.get(SIMPLE_PATH_ENV, "").strip() not in ("", "0") else cls.FAST


@dataclass(frozen=True, kw_only=True)
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


@dataclass(frozen=True, kw_only=True)
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


@dataclass(frozen=True, kw_only=True)
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


# Runs inside the storing transaction, before it commits (the RA's L11.4 re-check, ``smki.ra.key_guard``).
StoredHook = Callable[[Transaction, list[IssuedCertificate]], None]


class IssuanceCycle:
    """Runs the record-intent-then-sign cycle for a list of jobs (one certificate or a batch).

    Long-lived and stateless between runs: each :meth:`run` keeps what it learns in a ``_Run`` of its own.
    """

    def __init__(self, db: Database, keys: KeyBackend, env: PkiEnvironment, clock: Clock = utc_now) -> None:
        self.db = db
        self.keys = keys
        self.env = env
        self.clock = clock

    def run(
        self,
        jobs: Sequence[CertificateJob],
        *,
        actor: str,
        on_stored: StoredHook | None = None,
        signatures: SignatureCheck = SignatureCheck.EVERY,
    ) -> list[IssuedCertificate]:
        """Issue every job or none: a refusal abandons the whole batch's intents (audited)."""
        if not jobs:
            return []
        now = self.clock()
        for name, certificate in {j.issuer_name: j.signer_certificate for j in jobs}.items():
            if certificate is not None:
                check_key_usable(name, certificate, now)
        # Step 1: reserve the serials (committed).
        serials, reserved_hexes, intent_ids = self._reserve(jobs, actor=actor, now=now)
        crash_point("reserved")
        # Steps 2 and 3: lint, sign and verify each certificate.
        signing = _Run(
            self.keys,
            self.env,
            now=now,
            path=IssuancePath.from_environment(),
            signatures=signatures,
            crash_armed=crash_points_armed(),
        )
        try:
            certificates = [
                signing.sign(job, serial, index=index, batch=len(jobs))
                for index, (job, serial) in enumerate(zip(jobs, serials, strict=True))
            ]
            crash_point("signed")
        except SmkiError as exc:
            self._abandon(intent_ids, serials, actor=actor, reason=f"{exc.code}: {exc.message}")
            raise
        except Exception as exc:
            self._abandon(intent_ids, serials, actor=actor, reason=f"ca.build_failed: {exc}")
            raise SmkiError(
                "ca.build_failed", f"The certificate could not be built or signed: {exc}."
            ) from None
        # Step 4: store certificates, intents and audit in one transaction; only then release.
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
                with self.db.transaction() as tx:
                    ids = ca_store.reserve_serials(tx, reservations, actor=actor, at=now)
                    audit.record(
                        tx,
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
        with self.db.transaction() as tx:
            # The audit entries come first: their sequence numbers order changes for incremental
            # repository extracts, and go into each certificate row as it is inserted.
            seqs = audit.append_prepared(tx, prepared)
            for row, seq in zip(rows, seqs, strict=True):
                row["change_seq"] = seq
            ids = ca_store.add_certificates(tx, rows)
            signed = ca_store.finish_intents(tx, intent_ids, state=ca_store.SIGNED, at=issued_at)
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
                on_stored(tx, issued)
            crash_point("storing")
        crash_point("stored")
        return issued

    def _abandon(self, intent_ids: Sequence[int], serials: Sequence[int], *, actor: str, reason: str) -> None:
        with self.db.transaction() as tx:
            ca_store.finish_intents(
                tx, intent_ids, state=ca_store.ABANDONED, at=self.clock(), reason=reason[:2000]
            )
            audit.record(
                tx,
                actor=actor,
                action="ca.issuance_abandoned",
                object_type="issuance_intent",
                object_id=str(intent_ids[0]),
                details={"serials": [serial_hex(s) for s in serials], "reason": reason[:2000]},
            )


# -- steps 2 and 3: one run's signing ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Signed:
    """A signed certificate not yet stored: what the repository row needs besides the job."""

    serial: int
    der: bytes
    not_before: datetime
    not_after: datetime
    subject_der: bytes
    public_key_sha256: str


@dataclass(frozen=True, slots=True)
class _ShapeCommon:
    """What every Device Certificate of one linted template shape in a run shares."""

    not_before: datetime
    not_after: datetime
    subject_der: bytes


class _Run:
    """The signing state of one :meth:`IssuanceCycle.run`, made when it starts and dropped when it ends."""

    def __init__(
        self,
        keys: KeyBackend,
        env: PkiEnvironment,
        *,
        now: datetime,
        path: IssuancePath,
        signatures: SignatureCheck,
        crash_armed: bool,
    ) -> None:
        self.keys = keys
        self.env = env
        self.now = now  # the notBefore of certificates that ask for none
        self.fast = path is IssuancePath.FAST
        # The simple path verifies every signature, whatever the caller asked for.
        self.verify_every = signatures is SignatureCheck.EVERY or not self.fast
        # Whether the crash test hook is set: the per-certificate ``linted`` step is skipped when it is
        # not, as ``crash_point`` would return at once.
        self.crash_armed = crash_armed
        self.signers: dict[str, ec.EllipticCurvePrivateKey] = {}  # by key label
        self.verified: set[str] = set()  # key labels with a verified signature in this run
        self.templates = TemplateCache()  # fast path: fully linted Device TBS templates, by shape
        self.shapes: dict[ShapeKey, _ShapeCommon] = {}  # fast path: what those shapes' certificates share

    def sign(self, job: CertificateJob, serial: int, *, index: int, batch: int) -> _Signed:
        """Lint, sign and verify one certificate: from its shape's template when the fast path has one,
        else built by its profile builder and signed by cryptography through the linting signer."""
        if self.fast:
            signed = self._sign_from_template(job, serial)
            if signed is not None:
                return signed
        return self._build_and_sign(job, serial, index=index, batch=batch)

    def _build_and_sign(self, job: CertificateJob, serial: int, *, index: int, batch: int) -> _Signed:
        def check(tbs: bytes) -> None:
            self._lint_tbs(job, tbs, serial, index=index, batch=batch)
            if self.crash_armed:
                crash_point("linted")

        builder = job.build(serial, self.now)
        certificate = builder.sign(CheckingSigner(self._signer(job.key_label), check), hashes.SHA256())
        if self._must_verify(job):
            try:
                certificate.verify_directly_issued_by(job.signer_certificate or certificate)
            except (ValueError, TypeError, InvalidSignature):
                raise _bad_signature(job) from None
            self.verified.add(job.key_label)
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
        if self.fast and shape is not None and self.templates.has(shape) and shape not in self.shapes:
            self.shapes[shape] = _ShapeCommon(signed.not_before, signed.not_after, signed.subject_der)
        return signed

    def _lint_tbs(self, job: CertificateJob, tbs: bytes, serial: int, *, index: int, batch: int) -> None:
        """Lint the exact TBSCertificate about to be signed; raise before the CA key signs a bad one.

        Fast path: a Device TBS that is its shape's template with this request's values passes; the
        first fully linted one of each shape becomes the template."""
        shape = _device_shape(job) if self.fast else None
        values = None
        if shape is not None:
            assert job.public_key is not None and job.entity_id is not None
            values = TemplateValues.of(serial, job.public_key, job.entity_id)
            if self.templates.matches(shape, tbs, values):
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
            self.templates.learn(shape, tbs, values)

    def _sign_from_template(self, job: CertificateJob, serial: int) -> _Signed | None:
        """Fast path: sign a Device Certificate whose TBS is its shape's linted template with this
        request's values put in. None: no template yet (build it).

        The bytes are exactly those the builder would make and the template check would accept (see
        ``tbs_lint``), so building and checking them again is skipped.
        """
        shape = _device_shape(job)
        common = self.shapes.get(shape) if shape is not None else None
        if shape is None or common is None or not builders.is_smki_serial(serial):
            return None
        assert job.public_key is not None and job.entity_id is not None
        values = TemplateValues.of(serial, job.public_key, job.entity_id, job.public_key_der)
        tbs = self.templates.fill(shape, values)
        if tbs is None:
            return None
        if self.crash_armed:
            crash_point("linted")
        signature = self._signer(job.key_label).sign(tbs, _ECDSA_SHA256)
        if self._must_verify(job):
            ca_key = job.signer_certificate.public_key() if job.signer_certificate is not None else None
            if not isinstance(ca_key, ec.EllipticCurvePublicKey):
                raise _bad_signature(job)
            try:
                ca_key.verify(signature, tbs, _ECDSA_SHA256)
            except InvalidSignature:
                raise _bad_signature(job) from None
            self.verified.add(job.key_label)
        return _Signed(
            serial=serial,
            der=_certificate_der(tbs, signature),
            not_before=common.not_before,
            not_after=common.not_after,
            subject_der=common.subject_der,
            public_key_sha256=hashlib.sha256(P256_SPKI_HEADER + values.point).hexdigest(),
        )

    def _must_verify(self, job: CertificateJob) -> bool:
        return self.verify_every or job.key_label not in self.verified

    def _signer(self, key_label: str) -> ec.EllipticCurvePrivateKey:
        signer = self.signers.get(key_label)
        if signer is None:
            signer = self.signers[key_label] = self.keys.signer(key_label)
        return signer


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
