"""What every command needs: the SMKI home, its database, and printing a refusal as one sentence."""

from __future__ import annotations

from pathlib import Path

import typer

from smki.model import SmkiError
from smki.settings import database_url, resolve_home
from smki.storage import Database

HOME_OPTION = typer.Option(
    None, "--home", envvar="SMKI_HOME", help="SMKI data directory (default ./smki-data).", show_default=False
)


def open_database(home: Path | None, *, migrate: bool = True) -> Database:
    """Open (and by default migrate) the database of the SMKI home; refusals become SmkiError."""
    resolved = resolve_home(home)
    db = Database(database_url(resolved))
    db.check_reachable()
    if migrate:
        db.upgrade()
    return db


def exit_with(error: SmkiError, *, as_json: bool = False) -> typer.Exit:
    """Print a refusal as one sentence (or JSON) on stderr; return the Exit(2) to raise."""
    if as_json:
        import json

        typer.echo(json.dumps({"error": error.as_dict()}), err=True)
    else:
        clause = f" [{error.clause}]" if error.clause else ""
        typer.echo(f"error: {error.message}{clause} ({error.code})", err=True)
    return typer.Exit(2)
