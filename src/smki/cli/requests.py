"""`smki party`, `smki subscriber`, `smki request` and `smki csr`: thin commands over ``smki.ra``.

No rule of the Code lives here: every decision is made by ``smki.policy`` through ``smki.ra``, and a
refusal is printed as its one sentence, its clause and its code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from smki.cli.context import HOME_OPTION, exit_with, open_database
from smki.model import (
    CertificateKind,
    EntityId,
    InvalidInput,
    KeyUsage,
    RemotePartyRole,
    SmiStatus,
    SmkiError,
)
from smki.subscriber_tools.key_pairs import write_subscriber_key

party_app = typer.Typer(
    help="Parties, their User IDs and RDP nominations, as the RA knows them.", no_args_is_help=True
)
subscriber_app = typer.Typer(help="Authorised Subscribers: applications and decisions.", no_args_is_help=True)
request_app = typer.Typer(
    help="Certificate Signing Requests through the Registration Authority.", no_args_is_help=True
)
csr_app = typer.Typer(
    help="Make subscriber CSRs (and their private keys) for trying the RA.", no_args_is_help=True
)

JSON_OPTION = typer.Option(False, "--json", help="Print the result as JSON.")
ACTOR_OPTION = typer.Option(None, "--actor", help="Who the audit log names (default: operator:<user>).")


def _actor(actor: str | None) -> str:
    if actor:
        return actor
    from smki.cli.operations import operator_actor

    return operator_actor()


def _run(action: Callable[[], Any], *, as_json: bool) -> Any:
    try:
        return action()
    except SmkiError as exc:
        raise exit_with(exc, as_json=as_json) from None


def _party_json(party: Any) -> dict[str, Any]:
    return {
        "party_id": party.party_id,
        "name": party.name,
        "type": party.party_type.value,
        "licences": sorted(lic.value for lic in party.licences),
        "identifiers": [
            {
                "entity_id": i.entity_id.dashed,
                "user_role": i.user_role.value if i.user_role else None,
                "service_provider": i.service_provider,
            }
            for i in party.identifiers
        ],
        "nominated_by": sorted(party.nominated_by),
        "network_party": party.is_network_party,
        "supplier_party": party.is_supplier_party,
    }


def _print_party(party: Any) -> None:
    kinds = [
        k
        for k, on in (("Network Party", party.is_network_party), ("Supplier Party", party.is_supplier_party))
        if on
    ]
    typer.echo(
        f"{party.party_id}: {party.name} ({party.party_type.value}{', ' + ', '.join(kinds) if kinds else ''})"
    )
    if party.licences:
        typer.echo("  licences: " + ", ".join(sorted(lic.value for lic in party.licences)))
    for ident in party.identifiers:
        role = ident.user_role.value if ident.user_role else "own identifier"
        sp = f" (DCC Service Provider {ident.service_provider})" if ident.service_provider else ""
        typer.echo(f"  {ident.entity_id.dashed}  {role}{sp}")
    if party.nominated_by:
        typer.echo("  nominated by: " + ", ".join(sorted(party.nominated_by)))


def _identifier(text: str) -> Any:
    """``EUI-64=USER-ROLE`` (or a bare EUI-64 for the DCC and SECCo) as a PartyIdentifier."""
    from smki.policy.parties import PartyIdentifier, UserRole

    eui, _, role = text.partition("=")
    return PartyIdentifier(EntityId.parse(eui), UserRole.parse(role) if role else None)


# --- smki party ---------------------------------------------------------------------------------------


@party_app.command("register")
def party_register(
    party_id: str = typer.Argument(..., help="A short identifier for the party, e.g. 'acme-energy'."),
    name: str = typer.Option(..., "--name", help="The party's name."),
    party_type: str = typer.Option("party", "--type", help="dcc, secco, party (a SEC Party) or rdp."),
    licence: list[str] = typer.Option(
        [], "--licence", help="electricity-supply, gas-supply, ... (repeatable)."
    ),
    identifier: list[str] = typer.Option(
        [], "--id", help="EUI-64=USER-ROLE, e.g. 90-B3-D5-1F-30-01-00-00=import-supplier (repeatable)."
    ),
    nominated_by: list[str] = typer.Option([], "--nominated-by", help="Nominating Network Party (RDPs)."),
    home: Path | None = HOME_OPTION,
    actor: str | None = ACTOR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Register the DCC, SECCo, a Party or an RDP with its identifiers."""
    from smki.policy.parties import Licence, Party, PartyType
    from smki.ra import parties

    def act() -> Any:
        try:
            kind = PartyType(party_type.strip().lower())
        except ValueError:
            raise InvalidInput(
                "party.unknown_type", f"'{party_type}' is not dcc, secco, party or rdp."
            ) from None
        try:
            licences = frozenset(Licence(v.strip().lower()) for v in licence)
        except ValueError:
            raise InvalidInput(
                "party.unknown_licence",
                "A licence is one of " + ", ".join(lic.value for lic in Licence) + ".",
            ) from None
        party = Party(
            party_id.strip(),
            name,
            kind,
            licences,
            tuple(_identifier(i) for i in identifier),
            frozenset(nominated_by),
        )
        return parties.register_party(open_database(home), party, actor=_actor(actor))

    party = _run(act, as_json=as_json)
    if as_json:
        typer.echo(json.dumps(_party_json(party), indent=2))
    else:
        typer.echo("Registered:")
        _print_party(party)


@party_app.command("add-id")
def party_add_id(
    party_id: str = typer.Argument(...),
    identifier: str = typer.Argument(..., help="EUI-64=USER-ROLE (or just the EUI-64 for the DCC or SECCo)."),
    service_provider: str | None = typer.Option(
        None, "--service-provider", help="DCC Service Provider name."
    ),
    home: Path | None = HOME_OPTION,
    actor: str | None = ACTOR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Give a party another User ID, RDP ID or (for the DCC) identifier."""
    from dataclasses import replace

    from smki.ra import parties

    def act() -> Any:
        ident = replace(_identifier(identifier), service_provider=service_provider)
        return parties.add_identifier(open_database(home), party_id, ident, actor=_actor(actor))

    party = _run(act, as_json=as_json)
    typer.echo(json.dumps(_party_json(party), indent=2)) if as_json else _print_party(party)


@party_app.command("nominate")
def party_nominate(
    rdp_id: str = typer.Argument(...),
    network_party_id: str = typer.Argument(...),
    home: Path | None = HOME_OPTION,
    actor: str | None = ACTOR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Record another Network Party's nomination of an RDP."""
    from smki.ra import parties

    party = _run(
        lambda: parties.nominate(open_database(home), rdp_id, network_party_id, actor=_actor(actor)),
        as_json=as_json,
    )
    typer.echo(json.dumps(_party_json(party), indent=2)) if as_json else _print_party(party)


@party_app.command("show")
def party_show(
    party_id: str = typer.Argument(...), home: Path | None = HOME_OPTION, as_json: bool = JSON_OPTION
) -> None:
    """Show a party, its identifiers and its standing under each Certificate Policy."""
    from smki.ra import parties, subscribers

    def act() -> Any:
        db = open_database(home)
        return parties.get_party(db, party_id), subscribers.standings(db, party_id)

    party, standings = _run(act, as_json=as_json)
    if as_json:
        data = _party_json(party)
        data["subscriber"] = {
            s.policy.value: {"status": s.status.value, "clause": s.clause} for s in standings
        }
        typer.echo(json.dumps(data, indent=2))
        return
    _print_party(party)
    for s in standings:
        typer.echo(f"  {s.policy.value}: {s.status.value} ({s.clause})")


@party_app.command("list")
def party_list(home: Path | None = HOME_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Every registered party."""
    from smki.ra import parties

    found = _run(lambda: parties.list_parties(open_database(home)), as_json=as_json)
    if as_json:
        typer.echo(json.dumps([_party_json(p) for p in found], indent=2))
        return
    for party in found:
        typer.echo(f"{party.party_id:<20} {party.party_type.value:<6} {party.name}")


# --- smki subscriber -------------------------------------------------------------------------------------

POLICY_OPTION = typer.Option(..., "--policy", help="device, organisation or iki.")
NOTE_OPTION = typer.Option(None, "--note", help="Why (recorded in the audit log).")


@subscriber_app.command("entry-tests")
def subscriber_entry_tests(
    party_id: str = typer.Argument(...),
    policy: str = POLICY_OPTION,
    home: Path | None = HOME_OPTION,
    actor: str | None = ACTOR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Record that a party completed the SMKI and Repository Entry Process Tests for a policy."""
    from smki.ra import subscribers

    def act() -> bool:
        return subscribers.record_entry_tests(
            open_database(home), party_id, subscribers.parse_policy(policy), actor=_actor(actor)
        )

    added = _run(act, as_json=as_json)
    if as_json:
        typer.echo(json.dumps({"party_id": party_id, "policy": policy, "recorded": added}))
    else:
        typer.echo("Recorded." if added else "Already recorded.")


def _event_command(name: str, event_name: str, doc: str) -> None:
    def command(
        party_id: str = typer.Argument(...),
        policy: str = POLICY_OPTION,
        note: str | None = NOTE_OPTION,
        home: Path | None = HOME_OPTION,
        actor: str | None = ACTOR_OPTION,
        as_json: bool = JSON_OPTION,
    ) -> None:
        from smki.policy.subscribers import SubscriberEvent
        from smki.ra import subscribers

        def act() -> Any:
            return subscribers.move(
                open_database(home),
                party_id,
                subscribers.parse_policy(policy),
                SubscriberEvent(event_name),
                actor=_actor(actor),
                note=note,
            )

        standing = _run(act, as_json=as_json)
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "party_id": standing.party_id,
                        "policy": standing.policy.value,
                        "status": standing.status.value,
                        "clause": standing.clause,
                        "revoked": list(standing.revoked_serials),
                    }
                )
            )
        else:
            typer.echo(standing.sentence())

    command.__doc__ = doc
    subscriber_app.command(name)(command)


for _name, _event, _doc in (
    ("apply", "apply", "A party applies to become an Authorised Subscriber under a policy."),
    ("authorise", "dcc-authorises", "The DCC authorises an applicant."),
    ("refuse", "dcc-refuses", "The DCC notifies an applicant that it does not meet the criteria."),
    ("refer", "refer-to-panel", "The applicant (or a ceased subscriber) refers the matter to the Panel."),
    ("panel-met", "panel-finds-criteria-met", "The Panel determines that the applicant meets the criteria."),
    ("panel-not-met", "panel-finds-criteria-not-met", "The Panel determines that it does not (binding)."),
    ("notify-change", "notify-change", "An Authorised Subscriber notifies a change in circumstance."),
    (
        "confirm",
        "dcc-finds-criteria-still-met",
        "The DCC assesses a change and the subscriber still qualifies.",
    ),
    (
        "cease",
        "dcc-finds-criteria-no-longer-met",
        "The DCC finds the subscriber no longer qualifies; its Organisation and IKI certificates are revoked",
    ),
):
    _event_command(_name, _event, _doc)


# --- smki request ------------------------------------------------------------------------------------------


def _parse_time(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput("request.bad_time", f"'{text}' is not an ISO-8601 date and time.") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _request(
    csr_file: Path,
    party_id: str,
    kind: str | None,
    device_type: str | None,
    smi_status: str | None,
    dcc_live_system: str | None,
    approval: str | None,
    not_after: str | None,
    validity_years: int | None,
) -> Any:
    from smki.model import DeviceType
    from smki.ra import CertificateRequest

    try:
        data = csr_file.read_bytes()
    except OSError as exc:
        raise InvalidInput("request.unreadable", f"The CSR file {csr_file} cannot be read: {exc}.") from None
    status = SmiStatus.parse(smi_status) if smi_status else None  # smi_status.unknown, as the API
    kinds = {
        "device": CertificateKind.DEVICE,
        "organisation": CertificateKind.ORGANISATION,
        "iki": CertificateKind.IKI,
    }
    if kind is not None and kind.strip().lower() not in kinds:
        raise InvalidInput("request.bad_kind", "The kind is device, organisation or iki.")
    return CertificateRequest(
        csr=data,
        party_id=party_id,
        kind=kinds[kind.strip().lower()] if kind else None,
        device_type=DeviceType.parse(device_type) if device_type else None,
        smi_status=status,
        dcc_live_system=dcc_live_system,
        approval_reference=approval,
        not_after=_parse_time(not_after),
        validity_years=validity_years,
    )


CSR_ARG = typer.Argument(..., help="The PKCS#10 request (PEM or DER).")
PARTY_OPTION = typer.Option(..., "--party", help="The requesting party's id.")
KIND_OPTION = typer.Option(None, "--kind", help="device, organisation or iki (default: read from the CSR).")
DEVICE_TYPE_OPTION = typer.Option(None, "--device-type", help="CHF, GPF, ESME, GSME, type-1-device or PPD.")
SMI_OPTION = typer.Option(None, "--smi-status", help="The Device's SMI Status, if it has one.")
SYSTEM_OPTION = typer.Option(None, "--dcc-live-system", help="The DCC Live System the request comes from.")
APPROVAL_OPTION = typer.Option(
    None, "--approval", help="Reference of an SMKI PMA decision (e.g. PMA-2026-0001)."
)
NOT_AFTER_OPTION = typer.Option(None, "--not-after", help="Requested notAfter (Organisation, ISO-8601).")
YEARS_OPTION = typer.Option(None, "--validity-years", help="Requested validity in years (Organisation).")


def _open_ra(home: Path | None, keys: str | None) -> Any:
    from smki import ca
    from smki.ra import RegistrationAuthority, home_live_systems
    from smki.settings import resolve_home

    resolved = resolve_home(home)
    db = open_database(resolved)
    env = ca.home_environment(resolved)
    cas = None
    if keys is not None:
        from smki.keys import open_backend

        chosen = keys if keys != "auto" else (ca.backend_in_use(db) or "soft")
        cas = ca.CertificateAuthorities.open(db, open_backend(chosen, resolved), env)
    return RegistrationAuthority(db, cas, env, live_systems=home_live_systems(resolved))


@request_app.command("submit")
def request_submit(
    csr_file: Path = CSR_ARG,
    party_id: str = PARTY_OPTION,
    kind: str | None = KIND_OPTION,
    device_type: str | None = DEVICE_TYPE_OPTION,
    smi_status: str | None = SMI_OPTION,
    dcc_live_system: str | None = SYSTEM_OPTION,
    approval: str | None = APPROVAL_OPTION,
    not_after: str | None = NOT_AFTER_OPTION,
    validity_years: int | None = YEARS_OPTION,
    out: Path | None = typer.Option(None, "--out", help="Write the certificate (PEM) here."),
    keys: str = typer.Option("auto", "--keys", help="Where CA keys live: soft, pkcs11 or auto."),
    home: Path | None = HOME_OPTION,
    actor: str | None = ACTOR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Submit a CSR: it is checked against the SEC and, when allowed, the certificate is issued."""

    def act() -> Any:
        request = _request(
            csr_file,
            party_id,
            kind,
            device_type,
            smi_status,
            dcc_live_system,
            approval,
            not_after,
            validity_years,
        )
        authority = _open_ra(home, keys)
        issued = authority.submit_many([request], actor=_actor(actor) if actor else f"party:{party_id}")[0]
        if out is not None:
            out.write_text(issued.pem, encoding="ascii")
        return issued

    issued = _run(act, as_json=as_json)
    summary = {
        "serial": issued.serial_hex,
        "issuer": issued.issuer_name,
        "kind": issued.kind.value,
        "entity_id": issued.entity_id.dashed if issued.entity_id else None,
        "role": issued.role.code if issued.role else None,
        "key_usage": issued.key_usage.value,
        "not_before": issued.not_before.isoformat(),
        "not_after": issued.not_after.isoformat(),
        "subscriber": issued.subscriber,
        "file": str(out) if out else None,
    }
    if as_json:
        typer.echo(json.dumps({**summary, "pem": issued.pem}, indent=2))
        return
    typer.echo(
        f"Issued {issued.kind.title} {issued.serial_hex} by {issued.issuer_name} to '{issued.subscriber}', "
        f"valid {issued.not_before:%Y-%m-%d %H:%M:%S} -> {issued.not_after:%Y-%m-%d %H:%M:%S} UTC."
    )
    if out is None:
        typer.echo(issued.pem, nl=False)
    else:
        typer.echo(f"Written to {out}.")


@request_app.command("check")
def request_check(
    csr_file: Path = CSR_ARG,
    party_id: str = PARTY_OPTION,
    kind: str | None = KIND_OPTION,
    device_type: str | None = DEVICE_TYPE_OPTION,
    smi_status: str | None = SMI_OPTION,
    dcc_live_system: str | None = SYSTEM_OPTION,
    approval: str | None = APPROVAL_OPTION,
    not_after: str | None = NOT_AFTER_OPTION,
    validity_years: int | None = YEARS_OPTION,
    home: Path | None = HOME_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Dry run: every check a submission would pass through, without issuing anything."""

    def act() -> Any:
        request = _request(
            csr_file,
            party_id,
            kind,
            device_type,
            smi_status,
            dcc_live_system,
            approval,
            not_after,
            validity_years,
        )
        return _open_ra(home, None).check(request)

    decision = _run(act, as_json=as_json)
    facts, issue = decision.facts, decision.issue_request
    data = {
        "kind": facts.kind.value,
        "entity_id": facts.entity_id.dashed,
        "role": facts.role.code if facts.role else None,
        "key_usage": facts.key_usage.value,
        "eligible_as": decision.eligibility.row,
        "clause": decision.eligibility.clause,
        "public_key": decision.key_decision.value,
        "approvals": list(decision.approvals),
        "not_after": issue.not_after.isoformat() if issue.not_after else None,
    }
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    role = f", role {facts.role.label}" if facts.role else ""
    typer.echo(
        f"Acceptable: a {facts.kind.title} for {facts.entity_id}{role}, {facts.key_usage.value}; eligible as "
        f"{decision.eligibility.row} ({decision.eligibility.clause}); "
        f"public key {decision.key_decision.value}"
        + (f"; approvals {', '.join(decision.approvals)}" if decision.approvals else "")
        + "."
    )


# --- smki csr -----------------------------------------------------------------------------------------

KEY_OUT_OPTION = typer.Option(
    ..., "--key-out", help="Where to write the new private key (PKCS#8 PEM, mode 0600; never overwritten)."
)
CSR_OUT_OPTION = typer.Option(None, "--out", help="Write the CSR here (default: print it).")
USAGE_OPTION = typer.Option("DS", "--usage", help="DS (digitalSignature) or KA (keyAgreement).")


def _emit_csr(csr: Any, key: Any, key_out: Path, out: Path | None) -> None:
    from smki.subscriber_tools import csr_builder

    write_subscriber_key(key_out, key)
    pem = csr_builder.csr_pem(csr).decode("ascii")
    if out is not None:
        out.write_text(pem, encoding="ascii")
        typer.echo(f"CSR written to {out}; subscriber private key written to {key_out} (mode 0600).")
    else:
        typer.echo(pem, nl=False)
        typer.echo(f"Subscriber private key written to {key_out} (mode 0600).", err=True)


@csr_app.command("organisation")
def csr_organisation(
    role: str = typer.Option(..., "--role", help="Remote Party Role: name (supplier) or code (2, 0x7F)."),
    eui: str = typer.Option(..., "--eui", help="The subscriber's EUI-64 (its User ID or RDP ID)."),
    cn: str | None = typer.Option(None, "--cn", help="Optional common name."),
    usage: str = USAGE_OPTION,
    key_out: Path = KEY_OUT_OPTION,
    out: Path | None = CSR_OUT_OPTION,
) -> None:
    """Make an Organisation Certificate request with a new P-256 key."""
    from smki.subscriber_tools import csr_builder

    def act() -> None:
        csr, key = csr_builder.organisation_csr(
            EntityId.parse(eui), RemotePartyRole.parse(role), KeyUsage.parse(usage), common_name=cn
        )
        _emit_csr(csr, key, key_out, out)

    _run(act, as_json=False)


@csr_app.command("device")
def csr_device(
    eui: str = typer.Option(..., "--eui", help="The Device's EUI-64 (the first one, with --count)."),
    usage: str = USAGE_OPTION,
    key_out: Path = KEY_OUT_OPTION,
    out: Path | None = CSR_OUT_OPTION,
    count: int = typer.Option(
        1,
        "--count",
        min=1,
        max=100_000,
        help="Make requests for this many consecutive EUI-64s: --out gets one PEM bundle and --key-out is "
        "a directory of EUI.key.pem files.",
    ),
    home: Path | None = HOME_OPTION,
) -> None:
    """Make a Device Certificate request shaped like a Device's own (GBCS CS02c) with a new P-256 key."""
    from smki import ca
    from smki.settings import resolve_home
    from smki.subscriber_tools import csr_builder

    def act() -> None:
        env = ca.home_environment(resolve_home(home))
        first = EntityId.parse(eui)
        if count == 1:
            csr, key = csr_builder.device_csr(first, KeyUsage.parse(usage), env)
            _emit_csr(csr, key, key_out, out)
            return
        start = int.from_bytes(first.value, "big")
        if start + count > 2**64:
            raise InvalidInput("csr.count", f"{count} EUI-64s from {first} run past FF-FF-FF-FF-FF-FF-FF-FF.")
        try:
            key_out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InvalidInput("csr.key_dir", f"The key directory {key_out} cannot be made: {exc}.") from None
        bundle: list[bytes] = []
        for n in range(count):
            entity = EntityId.from_bytes((start + n).to_bytes(8, "big"))
            csr, key = csr_builder.device_csr(entity, KeyUsage.parse(usage), env)
            write_subscriber_key(key_out / f"{entity.compact}.key.pem", key)
            bundle.append(csr_builder.csr_pem(csr))
        if out is not None:
            out.write_bytes(b"".join(bundle))
            typer.echo(f"{count} CSRs written to {out}; their private keys to {key_out}/ (mode 0600).")
        else:
            typer.echo(b"".join(bundle).decode("ascii"), nl=False)
            typer.echo(f"{count} private keys written to {key_out}/ (mode 0600).", err=True)

    _run(act, as_json=False)


@csr_app.command("iki")
def csr_iki(
    eui: str = typer.Option(..., "--eui", help="The subscriber's EUI-64."),
    cn: str | None = typer.Option(None, "--cn", help="Optional common name."),
    key_out: Path = KEY_OUT_OPTION,
    out: Path | None = CSR_OUT_OPTION,
) -> None:
    """Make an IKI Certificate request (digitalSignature) with a new P-256 key."""
    from smki.subscriber_tools import csr_builder

    def act() -> None:
        csr, key = csr_builder.iki_csr(EntityId.parse(eui), common_name=cn)
        _emit_csr(csr, key, key_out, out)

    _run(act, as_json=False)


def register(app: typer.Typer) -> None:
    """Add the RA command groups to the `smki` app."""
    app.add_typer(party_app, name="party")
    app.add_typer(subscriber_app, name="subscriber")
    app.add_typer(request_app, name="request")
    app.add_typer(csr_app, name="csr")
