"""CRL and ARL publication: each Issuing OCA and Issuing ICA signs a CRL, each Root an ARL.

A list names every revoked certificate its CA issued (end-entity certificates on an Issuing CA's CRL,
Issuing CA certificates on a Root's ARL), with its revocation time and reason. The Issuing DCA issues
none: Device Certificates are not revoked (``smki.ra.revocation``). Each publication takes the next
cRLNumber of its CA (stored; the database's UNIQUE (ca, number) keeps it strictly increasing even with
two publishers), is signed by the CA's key through ``keys``, audited, kept in the database (the latest
DER per CA) and written to ``HOME/crl/<CA name>.crl`` (DER) and ``.pem``.

Lint before signing, as for certificates: the CA key signs through a checking signer that runs
``profiles.crl.check_tbs_certlist`` on the exact TBSCertList it is handed and refuses (``crl.lint_failed``,
nothing signed, stored or numbered) on any finding; the signed list must then carry that TBS and verify
under the CA's certificate before it is stored.

Schedule: thisUpdate = now, nextUpdate = now + interval (default 24 h). ``publish_due`` re-publishes
a list when its nextUpdate is less than half an interval away, or when a revocation is newer than it;
run ``smki crl publish --due`` from cron or a systemd timer (docs/repository.md).
"""

from __future__ import annotations

import base64
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509

from smki import audit
from smki.ca.issuance import check_key_usable
from smki.ca.tbs_lint import CheckingSigner
from smki.keys import KeyBackend
from smki.model import CertificateKind, InvalidInput, PolicyRefusal, SmkiError, StorageConflict
from smki.profiles.crl import RevokedEntry, check_signed_crl, check_tbs_certlist, sign_arl, sign_crl
from smki.storage import Database, ca_store, repository_store
from smki.storage.repository_store import CrlPublication

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = timedelta(hours=24)
CRL_DIRECTORY = "crl"
# Which CAs issue a list, and which: the Issuing OCA and ICA a CRL, every Root an ARL.
LIST_OF: dict[CertificateKind, str] = {
    CertificateKind.ISSUING_OCA: "CRL",
    CertificateKind.ISSUING_ICA: "CRL",
    CertificateKind.ROOT_OCA: "ARL",
    CertificateKind.ROOT_DCA: "ARL",
    CertificateKind.ROOT_ICA: "ARL",
}
_ATTEMPTS = 3


@dataclass(frozen=True)
class PublishedCrl:
    """One signed CRL or ARL."""

    ca_name: str
    ca_kind: CertificateKind
    der: bytes
    number: int
    this_update: datetime
    next_update: datetime
    entries: int

    @property
    def list_kind(self) -> str:
        """``CRL`` or ``ARL``."""
        return LIST_OF[self.ca_kind]

    @property
    def pem(self) -> str:
        """PEM text (``X509 CRL``)."""
        body = base64.encodebytes(self.der).decode("ascii").replace("\n", "")
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        return "-----BEGIN X509 CRL-----\n" + "\n".join(lines) + "\n-----END X509 CRL-----\n"

    def sentence(self) -> str:
        """One line for the operator."""
        return (
            f"{self.list_kind} of {self.ca_name} number {self.number}: {self.entries} revoked, "
            f"next update {self.next_update:%Y-%m-%d %H:%M:%S} UTC."
        )

    def as_dict(self) -> dict[str, object]:
        """JSON-safe form (without the DER)."""
        return {
            "ca": self.ca_name,
            "ca_kind": self.ca_kind.value,
            "list": self.list_kind,
            "number": self.number,
            "this_update": self.this_update.isoformat(),
            "next_update": self.next_update.isoformat(),
            "entries": self.entries,
        }


@dataclass(frozen=True)
class _Issuer:
    name: str
    kind: CertificateKind
    key_label: str
    certificate: x509.Certificate


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _issuers(db: Database) -> list[_Issuer]:
    """The active CAs that issue a list, in creation order."""
    with db.read_transaction() as tx:
        in_force = ca_store.active_authority_certificates(tx)
    return [
        _Issuer(
            record.name,
            CertificateKind(record.kind),
            record.key_label,
            x509.load_der_x509_certificate(row.der),
        )
        for record, row in in_force
        if row is not None and CertificateKind(record.kind) in LIST_OF
    ]


def _resolve(db: Database, name: str) -> _Issuer:
    """An active list-issuing CA by name (``Z1``) or kind (``issuing-oca``)."""
    issuers = _issuers(db)
    for issuer in issuers:
        if name in (issuer.name, issuer.kind.value):
            return issuer
    if name == CertificateKind.ISSUING_DCA.value or (name, CertificateKind.ISSUING_DCA.value) in _all_names(
        db
    ):
        raise InvalidInput(
            "crl.not_an_issuer",
            "The Issuing DCA issues no CRL: Device Certificates are not revoked.",
        )
    names = ", ".join(i.name for i in issuers) or "none (run `smki init`)"
    raise SmkiError(
        "crl.unknown_ca", f"No CA in force issues a list named '{name[:64]}': the issuers are {names}."
    )


def _all_names(db: Database) -> set[tuple[str, str]]:
    with db.read_transaction() as tx:
        return {(r.name, r.kind) for r in ca_store.all_authorities(tx)}


def issuer_names(db: Database) -> list[str]:
    """The names of the CAs in force that publish a CRL or ARL."""
    return [i.name for i in _issuers(db)]


def publish_crl(
    db: Database,
    keys: KeyBackend,
    ca_name: str,
    *,
    home: Path | None = None,
    interval: timedelta = DEFAULT_INTERVAL,
    actor: str = "system",
    now: datetime | None = None,
) -> PublishedCrl:
    """Sign, store, audit (one transaction) and, with ``home``, write the next CRL/ARL of one CA.

    ``ca_name`` is the CA's name (``Z1``) or kind (``issuing-oca``, ``root-oca``). Refusals:
    ``crl.unknown_ca``, ``crl.not_an_issuer`` (Issuing DCA), ``crl.bad_interval``,
    ``ca.key_outside_validity`` (Appendix B 6.3.2(C)), ``crl.concurrent_publish``, and ``crl.lint_failed``
    when the list breaks its profile (nothing signed or stored, and its cRLNumber stays free).
    """
    if interval <= timedelta(0):
        raise InvalidInput("crl.bad_interval", "The CRL update interval must be positive.")
    issuer = _resolve(db, ca_name)
    published = _publish(db, keys, issuer, interval=interval, actor=actor, now=now or _now())
    if home is not None:
        write_files(published, home)
    return published


def _publish(
    db: Database, keys: KeyBackend, issuer: _Issuer, *, interval: timedelta, actor: str, now: datetime
) -> PublishedCrl:
    check_key_usable(issuer.name, issuer.certificate, now)
    list_kind = LIST_OF[issuer.kind]
    linted: list[bytes] = []

    def lint(tbs: bytes) -> None:
        """The exact TBSCertList the CA key is about to sign: refused on any finding of the CRL profile."""
        _refuse_findings(issuer, list_kind, check_tbs_certlist(tbs, issuer.certificate))
        linted.append(tbs)

    signer = CheckingSigner(keys.signer(issuer.key_label), lint)
    issuer_name, ski = _envelope(issuer)
    sign = sign_arl if list_kind == "ARL" else sign_crl
    next_update = now + interval
    for _ in range(_ATTEMPTS):
        linted.clear()
        try:
            with db.transaction() as tx:
                entries = [
                    RevokedEntry(
                        int(r.serial_hex, 16),
                        r.revoked_at,
                        x509.ReasonFlags(r.reason_code) if r.reason_code else None,
                    )
                    for r in repository_store.revoked_by_issuer(tx, issuer.name)
                ]
                number = repository_store.last_crl_number(tx, issuer.name) + 1
                der = sign(
                    issuer_name=issuer_name,
                    issuer_key_identifier=ski,
                    crl_number=number,
                    this_update=now,
                    next_update=next_update,
                    entries=entries,
                    signer=signer,
                )
                _check_signed(issuer, list_kind, der, linted)
                repository_store.add_crl(
                    tx,
                    CrlPublication(
                        ca_name=issuer.name,
                        ca_kind=issuer.kind.value,
                        crl_number=number,
                        this_update=now,
                        next_update=next_update,
                        entries=len(entries),
                        der=der,
                        actor=actor,
                        published_at=_now(),
                    ),
                )
                audit.record(
                    tx,
                    actor=actor,
                    action="ca.crl_published",
                    object_type="crl",
                    object_id=f"{issuer.name}/{number}",
                    details={
                        "list": list_kind,
                        "ca_kind": issuer.kind.value,
                        "number": number,
                        "entries": len(entries),
                        "this_update": now.isoformat(),
                        "next_update": next_update.isoformat(),
                    },
                )
            return PublishedCrl(issuer.name, issuer.kind, der, number, now, next_update, len(entries))
        except StorageConflict:
            continue  # another process took this cRLNumber: read the new last number and sign again
    raise SmkiError(
        "crl.concurrent_publish", f"The {list_kind} of {issuer.name} is being published elsewhere."
    )


def _envelope(issuer: _Issuer) -> tuple[x509.Name, bytes]:
    """What the list names its issuer by: the CA certificate's subject and subjectKeyIdentifier."""
    ski = issuer.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    return issuer.certificate.subject, ski


def _refuse_findings(issuer: _Issuer, list_kind: str, findings: list[str]) -> None:
    """PolicyRefusal ``crl.lint_failed`` naming the first finding, when there is any."""
    if not findings:
        return
    log.error("%s of %s refused by the CRL profile check: %s", list_kind, issuer.name, "; ".join(findings))
    code, _, sentence = findings[0].partition(": ")
    more = f" (and {len(findings) - 1} more finding(s))" if len(findings) > 1 else ""
    raise PolicyRefusal(
        "crl.lint_failed",
        f"The {list_kind} of {issuer.name} was not signed because it breaks the CRL profile ({code}: "
        f"{sentence.rstrip('.')}){more}.",
    )


def _check_signed(issuer: _Issuer, list_kind: str, der: bytes, linted: list[bytes]) -> None:
    """The signed list holds exactly the TBSCertList that was linted, and its signature verifies."""
    if len(linted) != 1:
        findings = [f"crl.not_linted: The CA key was handed {len(linted)} TBSCertLists to sign, not one."]
    else:
        findings = check_signed_crl(der, linted[0], issuer.certificate)
    _refuse_findings(issuer, list_kind, findings)


def publish_all(
    db: Database,
    keys: KeyBackend,
    *,
    home: Path | None = None,
    interval: timedelta = DEFAULT_INTERVAL,
    actor: str = "system",
    now: datetime | None = None,
) -> list[PublishedCrl]:
    """Publish the next CRL or ARL of every CA in force that issues one."""
    if interval <= timedelta(0):
        raise InvalidInput("crl.bad_interval", "The CRL update interval must be positive.")
    at = now or _now()
    out = [_publish(db, keys, i, interval=interval, actor=actor, now=at) for i in _issuers(db)]
    if home is not None:
        for published in out:
            write_files(published, home)
    return out


def due(db: Database, *, interval: timedelta = DEFAULT_INTERVAL, now: datetime | None = None) -> list[str]:
    """The CAs whose list should be published now: none yet, nextUpdate less than interval/2 away, or a
    revocation newer than the latest list."""
    at = now or _now()
    names: list[str] = []
    issuers = _issuers(db)
    with db.read_transaction() as tx:
        for issuer in issuers:
            latest = repository_store.latest_crl(tx, issuer.name, with_der=False)
            if latest is None:
                names.append(issuer.name)
                continue
            # Revocations only ever add entries, so a different count means a revocation since.
            revoked = repository_store.revoked_count(tx, issuer.name)
            if latest.next_update - at < interval / 2 or revoked != latest.entries:
                names.append(issuer.name)
    return names


def publish_due(
    db: Database,
    keys: KeyBackend,
    home: Path | None,
    *,
    interval: timedelta = DEFAULT_INTERVAL,
    actor: str = "system",
    now: datetime | None = None,
) -> list[PublishedCrl]:
    """Publish the lists that :func:`due` names (for cron, a systemd timer or ``smki serve`` start-up)."""
    at = now or _now()
    return [
        publish_crl(db, keys, name, home=home, interval=interval, actor=actor, now=at)
        for name in due(db, interval=interval, now=at)
    ]


def _latest(db: Database, name: str) -> CrlPublication | None:
    candidate = next((i.name for i in _issuers(db) if name == i.kind.value), name)
    with db.read_transaction() as tx:
        found = repository_store.latest_crl(tx, candidate)
    return found if found is not None and found.der is not None else None


def latest_crl(db: Database, name: str) -> bytes:
    """The DER of the newest CRL/ARL of a CA, by name (``Z1``) or kind (``issuing-oca``).

    SmkiError ``crl.not_found`` when that CA has published none.
    """
    found = _latest(db, name)
    if found is None or found.der is None:
        raise SmkiError("crl.not_found", f"No CRL or ARL of '{name[:64]}' has been published.")
    return found.der


def latest_publication(db: Database, name: str) -> PublishedCrl:
    """The newest CRL/ARL of a CA with its number and dates (``crl.not_found`` if none)."""
    found = _latest(db, name)
    if found is None or found.der is None:
        raise SmkiError("crl.not_found", f"No CRL or ARL of '{name[:64]}' has been published.")
    return PublishedCrl(
        found.ca_name,
        CertificateKind(found.ca_kind),
        found.der,
        found.crl_number,
        found.this_update,
        found.next_update,
        found.entries,
    )


def file_stem(ca_name: str) -> str:
    """A file name for the CA's list: its name with anything but letters, digits, ``.-_`` made ``_``."""
    return "".join(ch if ch.isascii() and (ch.isalnum() or ch in "._-") else "_" for ch in ca_name)


def write_files(published: PublishedCrl, home: Path) -> list[Path]:
    """Write ``HOME/crl/<name>.crl`` (DER) and ``.pem``, each replaced atomically."""
    directory = home / CRL_DIRECTORY
    directory.mkdir(parents=True, exist_ok=True)
    stem = file_stem(published.ca_name)
    written = []
    for suffix, data in ((".crl", published.der), (".pem", published.pem.encode("ascii"))):
        path = directory / f"{stem}{suffix}"
        temporary = directory / f".{stem}{suffix}.tmp"
        temporary.write_bytes(data)
        os.replace(temporary, path)
        written.append(path)
    return written
