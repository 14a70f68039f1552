"""The `smki` command: each command group lives in its own module and is registered here."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

import typer

from smki import __version__
from smki.model import SmkiError

app = typer.Typer(
    name="smki",
    help="GB Smart Metering Key Infrastructure: certificate authorities, RA, repository and SMKI PMA.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# (module, attribute): a module exposes `register(app)` to add its commands or groups.
_COMMAND_MODULES = (
    "smki.cli.certificates",
    "smki.cli.operations",
    "smki.cli.governance",
    "smki.cli.requests",
    "smki.cli.batch",
    "smki.cli.repository",
    "smki.cli.tokens",
)


@app.callback(invoke_without_command=True)
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    if version:
        typer.echo(f"smki {__version__}")
        raise typer.Exit(0)


def _register_all() -> None:
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # that command group is not built yet
            raise
        register: Callable[[typer.Typer], Any] = module.register
        register(app)


_register_all()


def main() -> None:  # pragma: no cover - console entry point
    """Run the CLI, turning any SmkiError that escapes a command into one sentence."""
    try:
        app()
    except SmkiError as exc:
        print(f"error: {exc.message} ({exc.code})", file=sys.stderr)
        sys.exit(2)
