"""`smki repo` (get, search, extract), `smki revoke` and `smki crl` (publish, show): thin commands over
smki.repository, smki.ra.revocation and smki.ca.crls."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import typer

from smki.cli.context import HOME_OPTION, exit_with, open_database
from smki.cli.operations import operator_actor
from smki.model import SmkiError

repo_app = typer.Typer(help="The SMKI Repository: find, show and extract certificates.", no_args_is_help=True)
crl_app = typer.Typer(help="CRLs (Issuing OCA, Issuing ICA) and ARLs (Roots).", no_args_is_help=True)


def _print_view(view: Any) -> None:
    role = view.role.label if view.role is not None else "-"
    eui = view.entity_id.dashed if view.entity_id is not None else "-"
    typer.echo(
        f"{view.serial_hex}  {view.issuer_name:<5} {view.kind.value:<12} {view.status.value}  "
        f"{view.key_usage.short}  {eui}  role {role}  subscriber {view.subscriber or '-'}  "
        f"{view.not_before:%Y-%m-%d} .. {view.not_after:%Y-%m-%d}"
    )


@repo_app.command("get")
def repo_get(
    serial: str = typer.Argument(..., help="Certificate serial number (hex)."),
    issuer: str | None = typer.Option(
        None, "--issuer", help="Issuer CA name, when two issuers share a serial."
    ),
    pem: bool = typer.Option(False, "--pem", help="Print the certificate as PEM."),
    as_json: bool = typer.Option(False, "--json", help="Print the repository record as JSON."),
    home: Path | None = HOME_OPTION,
) -> None:
    """Show one certificate of the repository with its status (P, I, N, E or R)."""
    from smki import repository

    try:
        view = repository.get_certificate(open_database(home), serial, issuer_name=issuer)
    except SmkiError as exc:
        raise exit_with(exc, as_json=as_json) from None
    if pem:
        typer.echo(view.pem, nl=False)
    elif as_json:
        typer.echo(json.dumps(view.as_dict(), indent=2))
    else:
        _print_view(view)
        if view.revoked_at is not None:
            typer.echo(f"revoked {view.revoked_at:%Y-%m-%d %H:%M:%S} UTC, reason {view.revocation_reason}")


@repo_app.command("search")
def repo_search(
    eui: str | None = typer.Option(None, "--eui", help="EUI-64 of the subject (Organisation/IKI) or Device."),
    usage: str | None = typer.Option(None, "--usage", help="DS or KA."),
    role: str | None = typer.Option(None, "--role", help="Remote Party Role name or code."),
    status: str | None = typer.Option(None, "--status", help="P, I, N, E or R."),
    issuer: str | None = typer.Option(None, "--issuer", help="Issuer CA name (e.g. Z1)."),
    kind: str | None = typer.Option(None, "--kind", help="organisation, device, iki, issuing-oca, ..."),
    limit: int = typer.Option(100, "--limit", help="Results per page (1-1000)."),
    after: str | None = typer.Option(None, "--after", help="Cursor printed at the end of the previous page."),
    as_json: bool = typer.Option(False, "--json", help="Print the page as JSON."),
    home: Path | None = HOME_OPTION,
) -> None:
    """Search the repository; filters combine (AND)."""
    from smki import repository
    from smki.model import (
        CertificateKind,
        CertificateStatus,
        EntityId,
        KeyUsage,
        RemotePartyRole,
    )

    try:
        # the model's parsers, as the API uses them (certificate_status.unknown, certificate_kind.unknown)
        wanted_status = CertificateStatus.parse(status) if status is not None else None
        wanted_kind = CertificateKind.parse(kind) if kind is not None else None
        page = repository.search(
            open_database(home),
            entity_id=EntityId.parse(eui) if eui is not None else None,
            key_usage=KeyUsage.parse(usage) if usage is not None else None,
            role=RemotePartyRole.parse(role) if role is not None else None,
            status=wanted_status,
            issuer_name=issuer,
            kind=wanted_kind,
            limit=limit,
            after=after,
        )
    except SmkiError as exc:
        raise exit_with(exc, as_json=as_json) from None
    if as_json:
        typer.echo(json.dumps({"items": [v.as_dict() for v in page.items], "next_after": page.next_after}))
        return
    for view in page.items:
        _print_view(view)
    typer.echo(
        f"{len(page.items)} certificate(s)."
        + (f" Next page: --after {page.next_after}" if page.next_after else "")
    )


def _parse_time(text: str) -> datetime:
    from smki.model import InvalidInput

    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            "repository.bad_since", f"'{text}' is not an ISO 8601 time such as 2026-01-31T00:00:00Z."
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@repo_app.command("extract")
def repo_extract(
    since_seq: int | None = typer.Option(
        None, "--since-seq", help="Only changes after this change sequence."
    ),
    since: str | None = typer.Option(
        None, "--since", help="Only changes at or after this ISO 8601 time (UTC)."
    ),
    fmt: str = typer.Option("jsonl", "--format", help="jsonl or pem."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write to this file (default stdout)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress on stderr."),
    home: Path | None = HOME_OPTION,
) -> None:
    """Stream a full extract, or an incremental one with --since-seq / --since (weekly full + daily
    incremental, as the DCC publishes)."""
    from smki import repository

    def progress(count: int) -> None:
        if not quiet:
            typer.echo(f"\r{count} certificates", err=True, nl=False)

    try:
        db = open_database(home)
        if since_seq is None and since is None:
            chunks = repository.full_extract(db, fmt=fmt, progress=progress)
        else:
            since_time = _parse_time(since) if since is not None else None
            chunks = repository.incremental_extract(
                db, since_sequence=since_seq, since_time=since_time, fmt=fmt, progress=progress
            )
        if output is not None:
            temporary = output.with_name(f".{output.name}.part")
            with temporary.open("wb") as stream:
                _copy(chunks, stream)
            temporary.replace(output)
        else:
            _copy(chunks, sys.stdout.buffer)
            sys.stdout.buffer.flush()
    except SmkiError as exc:
        raise exit_with(exc) from None
    if not quiet:
        typer.echo(" extracted." if output is None else f" written to {output}.", err=True)


def _copy(chunks: Any, stream: BinaryIO) -> None:
    for chunk in chunks:
        stream.write(chunk)


def revoke(
    serial: str = typer.Argument(..., help="Serial number (hex) of the certificate to revoke."),
    reason: str = typer.Option(..., "--reason", help="RFC 5280 reason: keyCompromise, superseded, ..."),
    as_party: str | None = typer.Option(
        None, "--as-party", help="Request as this registered party (a Subscriber); default: the DCC."
    ),
    issuer: str | None = typer.Option(
        None, "--issuer", help="Issuer CA name, when two issuers share a serial."
    ),
    note: str | None = typer.Option(None, "--note", help="Why, in words (kept in the audit log)."),
    publish: bool = typer.Option(False, "--publish", help="Publish the CRL/ARL that lists it straight away."),
    keys: str = typer.Option("auto", "--keys", help="Key backend for --publish (auto: the CAs' own)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    home: Path | None = HOME_OPTION,
) -> None:
    """Revoke a certificate (Organisation, IKI or Issuing CA); who may is the RA's rule."""
    from smki.ca.revocation import parse_reason
    from smki.ra import revocation
    from smki.settings import resolve_home

    try:
        db = open_database(home)
        wanted = parse_reason(reason)
        actor = operator_actor() if as_party is None else f"party:{as_party} via {operator_actor()}"
        if as_party is None:
            done = revocation.revoke_as_dcc(
                db, serial_hex=serial, reason=wanted, actor=actor, issuer_name=issuer, note=note
            )
        else:
            done = revocation.request_revocation(
                db,
                party_id=as_party,
                serial_hex=serial,
                reason=wanted,
                actor=actor,
                issuer_name=issuer,
                note=note,
            )
        published = _publish(db, resolve_home(home), keys, [done.issuer_name]) if publish else []
    except SmkiError as exc:
        raise exit_with(exc, as_json=as_json) from None
    if as_json:
        typer.echo(json.dumps({**done.as_dict(), "published": [p.as_dict() for p in published]}))
        return
    typer.echo(done.sentence())
    for item in published:
        typer.echo(item.sentence())


def _publish(
    db: Any, home: Path, keys: str, names: list[str] | None, *, due: bool = False, hours: float = 24
) -> list[Any]:
    from smki import ca
    from smki.ca import crls
    from smki.keys import open_backend

    chosen = keys if keys != "auto" else (ca.backend_in_use(db) or "soft")
    backend = open_backend(chosen, home)
    interval = timedelta(hours=hours)
    try:
        actor = operator_actor()
        if due:
            return crls.publish_due(db, backend, home, interval=interval, actor=actor)
        if names is None:
            return crls.publish_all(db, backend, home=home, interval=interval, actor=actor)
        return [crls.publish_crl(db, backend, n, home=home, interval=interval, actor=actor) for n in names]
    finally:
        backend.close()


@crl_app.command("publish")
def crl_publish(
    ca_name: str | None = typer.Option(None, "--ca", help="One CA by name (Z1) or kind (issuing-oca)."),
    all_: bool = typer.Option(False, "--all", help="Every CA that issues a CRL or ARL."),
    due: bool = typer.Option(False, "--due", help="Only lists that are due (for cron / systemd timers)."),
    hours: float = typer.Option(24.0, "--interval-hours", help="nextUpdate = thisUpdate + this many hours."),
    keys: str = typer.Option("auto", "--keys", help="Key backend (auto: the one holding the CA keys)."),
    as_json: bool = typer.Option(False, "--json", help="Print what was published as JSON."),
    home: Path | None = HOME_OPTION,
) -> None:
    """Sign and publish CRLs/ARLs to the database and HOME/crl/<CA>.crl and .pem."""
    from smki.model import InvalidInput
    from smki.settings import resolve_home

    try:
        if sum((ca_name is not None, all_, due)) != 1:
            raise InvalidInput("crl.which", "Say which lists to publish: --ca NAME, --all or --due.")
        resolved = resolve_home(home)
        db = open_database(resolved)
        published = _publish(
            db, resolved, keys, [ca_name] if ca_name is not None else None, due=due, hours=hours
        )
    except SmkiError as exc:
        raise exit_with(exc, as_json=as_json) from None
    if as_json:
        typer.echo(json.dumps([p.as_dict() for p in published]))
        return
    for item in published:
        typer.echo(item.sentence())
    if not published:
        typer.echo("No list is due.")


@crl_app.command("show")
def crl_show(
    name: str = typer.Argument(..., help="CA name (Z1) or kind (issuing-oca, root-oca)."),
    pem: bool = typer.Option(False, "--pem", help="Print the CRL as PEM."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON, with the revoked serials."),
    home: Path | None = HOME_OPTION,
) -> None:
    """Show the latest CRL/ARL of a CA: number, dates and entries."""
    from cryptography import x509

    from smki.ca import crls

    try:
        latest = crls.latest_publication(open_database(home), name)
    except SmkiError as exc:
        raise exit_with(exc, as_json=as_json) from None
    if pem:
        typer.echo(latest.pem, nl=False)
        return
    crl = x509.load_der_x509_crl(latest.der)
    entries = []
    for revoked in crl:
        try:
            reason: str | None = revoked.extensions.get_extension_for_class(x509.CRLReason).value.reason.value
        except x509.ExtensionNotFound:
            reason = None
        digits = f"{revoked.serial_number:X}"
        entries.append(
            {
                "serial": digits.zfill(len(digits) + len(digits) % 2),
                "revoked_at": revoked.revocation_date_utc.isoformat(),
                "reason": reason,
            }
        )
    if as_json:
        typer.echo(json.dumps({**latest.as_dict(), "revoked": entries}, indent=2))
        return
    typer.echo(latest.sentence())
    typer.echo(f"this update {latest.this_update:%Y-%m-%d %H:%M:%S} UTC")
    for entry in entries:
        typer.echo(f"  {entry['serial']}  {entry['revoked_at']}  {entry['reason'] or 'unspecified'}")


def register(app: typer.Typer) -> None:
    """Add `repo`, `revoke` and `crl` to the `smki` app."""
    app.add_typer(repo_app, name="repo")
    app.command("revoke")(revoke)
    app.add_typer(crl_app, name="crl")
