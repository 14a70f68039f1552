"""CRL and ARL publication: each Issuing OCA and Issuing ICA signs a CRL, each Root an ARL.

A list names every revoked certificate its CA issued (end-entity certificates on an Issuing CA's CRL,
Issuing CA certificates on a Root's ARL), with its revocation time and reason. The Issuing DCA issues
none: Device Certificates are not revoked (``smki.ra.revocation``). Each publication takes the next
cRLNumber of its CA (stored; the database's UNIQUE (ca, number) keeps it strictly increasing even with
two publishers), is signed by the CA's key through ``keys``, audited, kept in the database (the latest
DER per CA) and written to ``HOME/crl/<CA name>.crl`` (DER) and ``.pem``.

Schedule: thisUpdate = now, nextUpdate = now + interval (default 24 h). ``publish_due`` re-publishes
a list when its nextUpdate is less than half an interval away, or when a revocation is newer than it;
run ``smki crl publish --due`` from cron or a systemd timer (docs/repository.md).
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from sqlalchemy.exc import IntegrityError

from smki import audit
from smki.ca.issuance import check_key_usable
from smki.keys import KeyBackend
from smki.model import CertificateKind, InvalidInput, SmkiError
from smki.profiles.crl import RevokedEntry, sign_arl, sign_crl
from smki.storage import Database, ca_store, repository_store
from smki.storage.repository_store import CrlPublication

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
    found: list[_Issuer] = []
    with db.read_session() as session:
        for record in ca_store.active_authorities(session):
            kind = CertificateKind(record.kind)
            if kind not in LIST_OF:
                continue
            row = ca_store.certificate_by_serial(session, record.certificate_serial)
            if row is None:
                continue
            found.append(
                _Issuer(record.name, kind, record.key_label, x509.load_der_x509_certificate(row.der))
            )
    return found


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
    with db.read_session() as session:
        return {(r.name, r.kind) for r in ca_store.all_authorities(session)}


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
    ``ca.key_outside_validity`` (Appendix B 6.3.2(C)), ``crl.concurrent_publish``.
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
    signer = keys.signer(issuer.key_label)
    ski = issuer.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    sign = sign_arl if LIST_OF[issuer.kind] == "ARL" else sign_crl
    next_update = now + interval
    for _ in range(_ATTEMPTS):
        try:
            with db.session() as session:
                revoked = repository_store.revoked_by_issuer(session, issuer.name)
                entries = [
                    RevokedEntry(
                        int(serial, 16),
                        ca_store.utc(revoked_at),
                        x509.ReasonFlags(code) if code else None,
                    )
                    for serial, revoked_at, code in revoked
                ]
                number = repository_store.last_crl_number(session, issuer.name) + 1
                der = sign(
                    issuer_name=issuer.certificate.subject,
                    issuer_key_identifier=ski,
                    crl_number=number,
                    this_update=now,
                    next_update=next_update,
                    entries=entries,
                    signer=signer,
                )
                repository_store.add_crl(
                    session,
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
                    session,
                    actor=actor,
                    action="ca.crl_published",
                    object_type="crl",
                    object_id=f"{issuer.name}/{number}",
                    details={
                        "list": LIST_OF[issuer.kind],
                        "ca_kind": issuer.kind.value,
                        "number": number,
                        "entries": len(entries),
                        "this_update": now.isoformat(),
                        "next_update": next_update.isoformat(),
                    },
                )
            return PublishedCrl(issuer.name, issuer.kind, der, number, now, next_update, len(entries))
        except IntegrityError:
            continue  # another process took this cRLNumber: read the new last number and sign again
    raise SmkiError(
        "crl.concurrent_publish", f"The {LIST_OF[issuer.kind]} of {issuer.name} is being published elsewhere."
    )


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
    with db.read_session() as session:
        for issuer in issuers:
            latest = repository_store.latest_crl(session, issuer.name)
            if latest is None:
                names.append(issuer.name)
                continue
            # Revocations only ever add entries, so a different count means a revocation since.
            revoked = repository_store.revoked_count(session, issuer.name)
            if ca_store.utc(latest.next_update) - at < interval / 2 or revoked != latest.entries:
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
    with db.read_session() as session:
        found = repository_store.latest_crl(session, candidate)
        if found is None or found.der is None:
            return None
        session.expunge(found)
        return found


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
        ca_store.utc(found.this_update),
        ca_store.utc(found.next_update),
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
