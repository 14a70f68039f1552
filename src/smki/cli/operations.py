"""Operator commands for the running SMKI: the key ceremony (`init`), `serve`, and audit verification."""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path
from typing import Any

import typer

from smki import audit
from smki.cli.context import HOME_OPTION, exit_with, open_database
from smki.model import SmkiError
from smki.settings import resolve_home

audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)


def operator_actor() -> str:
    """Who the audit log names for an operator command."""
    try:
        return f"operator:{getpass.getuser()}"
    except (KeyError, OSError):
        return "operator"


def init(
    home: Path | None = HOME_OPTION,
    keys: str = typer.Option("soft", "--keys", help="Where CA keys live: soft (encrypted files) or pkcs11."),
    force: bool = typer.Option(
        False,
        "--force",
        help="Make a new hierarchy even though one is in force; the old one is retired, never deleted.",
    ),
    env_file: Path | None = typer.Option(
        None,
        "--env",
        help="PKI environment file (JSON: policy OIDs, CA names); default: the DCC test values.",
    ),
    dcc_entity: list[str] = typer.Option(
        [],
        "--dcc-entity",
        help="The DCC's EUI-64 for a commissioning role, ROLE=EUI-64 (repeatable); defaults are DCC Boxed's.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print what was made as JSON."),
) -> None:
    """Key ceremony: make the Root and Issuing OCA, DCA and ICA and the DCC's commissioning certificates."""
    from smki import ca
    from smki.keys import open_backend
    from smki.profiles.environment import PkiEnvironment
    from smki.settings import resolve_home

    resolved = resolve_home(home)
    try:
        resolved.mkdir(parents=True, exist_ok=True)
        if env_file is not None and not env_file.is_file():
            raise SmkiError("init.env_missing", f"The environment file {env_file} does not exist.")
        env = PkiEnvironment.load(env_file) if env_file is not None else ca.home_environment(resolved)
        entity_ids = ca.parse_dcc_entity_ids(dcc_entity)
        db = open_database(resolved)
        backend = open_backend(keys, resolved)
        try:
            result = ca.create_hierarchy(
                db, backend, env, actor=operator_actor(), dcc_entity_ids=entity_ids, force=force
            )
        finally:
            backend.close()
        (resolved / ca.ENVIRONMENT_FILE).write_text(env.to_json() + "\n", encoding="utf-8")
        files = ca.write_certificate_files(result, resolved / "certs")
        chain = audit.verify(db)
        db.dispose()
    except SmkiError as exc:
        raise exit_with(exc, as_json=as_json) from None
    if as_json:
        typer.echo(json.dumps(_ceremony_json(result, resolved, files, chain.entries), indent=2))
        return
    _print_ceremony(result, resolved, chain.entries)


def _ceremony_json(result: Any, home: Path, files: list[Path], audit_entries: int) -> dict[str, Any]:
    def item(stem: str, cert: Any, label: str) -> dict[str, Any]:
        return {
            "name": stem,
            "kind": cert.kind.value,
            "issuer": cert.issuer_name,
            "serial": cert.serial_hex,
            "not_before": cert.not_before.isoformat(),
            "not_after": cert.not_after.isoformat(),
            "key_label": label,
            "file": str(home / "certs" / f"{stem}.pem"),
        }

    return {
        "ceremony": result.ceremony,
        "home": str(home),
        "key_backend": result.backend,
        "authorities": [item(stem, cert, label) for stem, cert, label in result.authorities],
        "commissioning": [
            {
                **item(spec.name, cert, label),
                "paragraph": spec.paragraph,
                "title": spec.title,
                "role": spec.role.code,
                "key_usage": spec.key_usage.value,
                "entity_id": cert.entity_id.dashed if cert.entity_id else None,
            }
            for spec, cert, label in result.commissioning
        ],
        "contingency_key_label": result.contingency_key_label,
        "contingency_symmetric_key_label": result.contingency_symmetric_key_label,
        "retired_authorities": result.retired[0],
        "files": [str(f) for f in files],
        "audit_entries": audit_entries,
    }


def _print_ceremony(result: Any, home: Path, audit_entries: int) -> None:
    def validity(cert: Any) -> str:
        return f"{cert.not_before:%Y-%m-%d %H:%M:%S} -> {cert.not_after:%Y-%m-%d %H:%M:%S} UTC"

    typer.echo(f"Key ceremony {result.ceremony}: {result.backend} keys, SMKI home {home}")
    if result.retired[0]:
        typer.echo(
            f"Retired the previous hierarchy ({result.retired[0]} CAs); its records and keys are kept."
        )
    typer.echo("\nCertificate authorities:")
    for stem, cert, _label in result.authorities:
        ca_name = cert.certificate.subject.rfc4514_string()
        typer.echo(f"  {cert.kind.title:<24} {ca_name:<14} serial {cert.serial_hex}  {validity(cert)}")
        typer.echo(f"  {'':<24} certs/{stem}.pem")
    typer.echo(
        f"  Root OCA contingency key {result.contingency_key_label} (public key wrapped in the Root OCA "
        f"under {result.contingency_symmetric_key_label})"
    )
    typer.echo("\nCommissioning certificates (L3.23(e)-(i), issued by the Issuing OCA):")
    for spec, cert, _label in result.commissioning:
        eui = cert.entity_id.dashed if cert.entity_id else "-"
        typer.echo(f"  {spec.paragraph} {spec.title}")
        typer.echo(
            f"  {'':<8} {spec.role.label}, {spec.key_usage.value}, {eui}, serial {cert.serial_hex}, "
            f"{validity(cert)}"
        )
        typer.echo(f"  {'':<8} certs/{spec.name}.pem")
    typer.echo(
        f"\nAll lodged in the SMKI Repository and audited ({audit_entries} audit entries). Next: smki serve"
    )


def serve(
    home: Path | None = HOME_OPTION,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8080, "--port", help="Port to listen on."),
    workers: int = typer.Option(
        1,
        "--workers",
        min=1,
        help="Server processes sharing the port (each opens its own database connections and keys).",
    ),
) -> None:
    """Serve the SMKI web API (health, CA and commissioning certificate downloads) with uvicorn."""
    import uvicorn

    from smki.api.app import create_app
    from smki.api.server import HTTP_PROTOCOL

    try:
        db = open_database(home)  # checked and migrated once, before any server process starts
    except SmkiError as exc:
        raise exit_with(exc) from None
    if workers == 1:
        uvicorn.run(create_app(home, database=db), host=host, port=port, log_level="info", http=HTTP_PROTOCOL)
        return
    db.dispose()
    # Each worker process imports the app factory by name and builds the app for this home.
    os.environ["SMKI_HOME"] = str(resolve_home(home))
    uvicorn.run(
        "smki.api.app:app_from_environment",
        factory=True,
        workers=workers,
        http=HTTP_PROTOCOL,
        host=host,
        port=port,
        log_level="info",
    )


@audit_app.command("verify")
def audit_verify(
    home: Path | None = HOME_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Check the whole audit chain; name the first entry that does not match. Exit 1 when broken."""
    try:
        db = open_database(home, migrate=False)
        result = audit.verify(db)
    except SmkiError as exc:
        raise exit_with(exc, as_json=as_json) from None
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": result.ok,
                    "entries": result.entries,
                    "first_bad_seq": result.first_bad_seq,
                    "reason": result.reason,
                }
            )
        )
    else:
        typer.echo(result.sentence())
    raise typer.Exit(0 if result.ok else 1)


intents_app = typer.Typer(
    help="Issuance intents: the serials reserved before signing, and those a crash left reserved.",
    no_args_is_help=True,
)


def _intent_json(view: Any) -> dict[str, Any]:
    return {
        "intent": view.intent_id,
        "serial": view.serial_hex,
        "issuer": view.issuer_name,
        "kind": view.kind,
        "state": view.state,
        "actor": view.actor,
        "reserved_at": view.reserved_at.isoformat(),
        "finished_at": view.finished_at.isoformat() if view.finished_at else None,
        "reason": view.reason,
    }


@intents_app.command("list")
def intents_list(
    home: Path | None = HOME_OPTION,
    state: str | None = typer.Option(None, "--state", help="Only this state: reserved, signed or abandoned."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """List issuance intents, oldest first."""
    from smki.ca.intents import list_intents

    try:
        views = list_intents(open_database(home), state=state)
    except SmkiError as exc:
        raise exit_with(exc, as_json=as_json) from None
    for view in views:
        if as_json:
            typer.echo(json.dumps(_intent_json(view)))
        else:
            typer.echo(
                f"{view.intent_id:>8} {view.serial_hex} {view.issuer_name:<5} {view.kind:<13} "
                f"{view.state:<9} reserved {view.reserved_at:%Y-%m-%d %H:%M:%S} by {view.actor}"
            )
    if not as_json:
        typer.echo(f"{len(views)} intent(s).")


@intents_app.command("abandon")
def intents_abandon(
    home: Path | None = HOME_OPTION,
    older_than_hours: float = typer.Option(
        24.0, "--older-than-hours", min=0.0, help="Abandon reservations older than this (default a day)."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per abandoned intent."),
) -> None:
    """Mark abandoned the serials a crash left reserved (never used; audited). Safe while issuing: an
    issuance whose serials are abandoned under it is refused and releases nothing."""
    from datetime import timedelta

    from smki.ca.intents import abandon_stale

    try:
        views = abandon_stale(
            open_database(home), older_than=timedelta(hours=older_than_hours), actor=operator_actor()
        )
    except SmkiError as exc:
        raise exit_with(exc, as_json=as_json) from None
    for view in views:
        if as_json:
            typer.echo(json.dumps(_intent_json(view)))
    if not as_json:
        typer.echo(
            f"{len(views)} reserved serial(s) older than {older_than_hours:g} h marked abandoned (audited)."
        )


def register(app: typer.Typer) -> None:
    """Add the operations commands to the `smki` app."""
    app.command("init")(init)
    app.command("serve")(serve)
    app.add_typer(audit_app, name="audit")
    app.add_typer(intents_app, name="intents")
