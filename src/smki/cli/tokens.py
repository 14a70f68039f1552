"""`smki token create|list|revoke`: API tokens for subscribers (thin: the rules are in ``smki.ra.tokens``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from smki.cli.context import HOME_OPTION, exit_with, open_database
from smki.model import SmkiError

token_app = typer.Typer(
    help="API tokens: bearer tokens a party uses with the HTTP API.", no_args_is_help=True
)

JSON_OPTION = typer.Option(False, "--json", help="Print the result as JSON.")
ACTOR_OPTION = typer.Option(None, "--actor", help="Who the audit log names (default: operator:<user>).")


def _actor(actor: str | None) -> str:
    if actor:
        return actor
    from smki.cli.operations import operator_actor

    return operator_actor()


@token_app.command("create")
def token_create(
    party_id: str = typer.Option(..., "--party", help="The party the token acts for."),
    policy: list[str] = typer.Option(
        [],
        "--policy",
        help="device, organisation or iki (repeatable; default: every policy the party is authorised under).",
    ),
    name: str | None = typer.Option(None, "--name", help="A label to recognise the token by."),
    expires: int = typer.Option(90, "--expires", help="Days until the token expires (0: never)."),
    home: Path | None = HOME_OPTION,
    actor: str | None = ACTOR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Make a token for a party. It is printed once: only its SHA-256 is stored."""
    from smki.ra import tokens
    from smki.ra.subscribers import parse_policy

    def act() -> Any:
        policies = [parse_policy(p) for p in policy]
        return tokens.create_token(
            open_database(home), party_id, policies, actor=_actor(actor), name=name, expires_days=expires
        )

    try:
        made = act()
    except SmkiError as exc:
        raise exit_with(exc, as_json=as_json) from None
    if as_json:
        typer.echo(json.dumps({**made.token.as_dict(), "token": made.text}, indent=2))
        return
    token = made.token
    policies = ", ".join(sorted(p.value for p in token.policies))
    expiry = token.expires_at.isoformat() if token.expires_at else "never"
    typer.echo(made.text)
    typer.echo(
        f"Token {token.token_id} for '{token.party_id}' ({policies}), expires {expiry}. "
        "It is shown only now: keep it secret.",
        err=True,
    )


@token_app.command("list")
def token_list(
    party_id: str | None = typer.Option(None, "--party", help="Only this party's tokens."),
    home: Path | None = HOME_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Every token (never its text): id, party, policies, state."""
    from smki.ra import tokens

    try:
        found = tokens.list_tokens(open_database(home), party_id=party_id)
    except SmkiError as exc:
        raise exit_with(exc, as_json=as_json) from None
    rows = [t.as_dict() for t in found]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        policies = ",".join(row["policies"])  # type: ignore[arg-type]
        typer.echo(
            f"{row['id']:>4}  {row['hint']}…  {row['party_id']:<20} {policies:<26} {row['state']:<8} "
            f"expires {row['expires_at'] or 'never'}  {row['name'] or ''}".rstrip()
        )


@token_app.command("revoke")
def token_revoke(
    token_id: int = typer.Argument(..., help="The token's id (see `smki token list`)."),
    home: Path | None = HOME_OPTION,
    actor: str | None = ACTOR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Revoke a token: requests with it are refused from now on."""
    from smki.ra import tokens

    try:
        token = tokens.revoke_token(open_database(home), token_id, actor=_actor(actor))
    except SmkiError as exc:
        raise exit_with(exc, as_json=as_json) from None
    if as_json:
        typer.echo(json.dumps(token.as_dict(), indent=2))
    else:
        typer.echo(f"Token {token.token_id} of '{token.party_id}' is revoked.")


def register(app: typer.Typer) -> None:
    """Add `smki token` to the `smki` app."""
    app.add_typer(token_app, name="token")
