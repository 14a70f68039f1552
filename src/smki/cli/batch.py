"""`smki request batch FILE|DIR`: many CSRs through the RA and CA (smki.ra.batch), with a progress bar.

Thin: the rules live in smki.ra / smki.policy. Each result is one JSON line in --out (index, file, ok,
serial, error); exit 0 when every CSR was issued, 1 when some were refused, 2 when the batch could not run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import typer

from smki.cli.context import HOME_OPTION, exit_with, open_database
from smki.model import InvalidInput, SmiStatus, SmkiError

_END = b"-----END CERTIFICATE REQUEST-----"


def _sources(path: Path) -> list[tuple[str, Path, int | None]]:
    """(label, file, position in a PEM bundle or None) for each CSR, in a stable order."""
    if path.is_dir():
        files = sorted(
            p for p in path.iterdir() if p.is_file() and p.suffix.lower() in (".pem", ".csr", ".der")
        )
    elif path.is_file():
        files = [path]
    else:
        raise InvalidInput("batch.not_found", f"{path} is neither a file nor a directory of CSRs.")
    out: list[tuple[str, Path, int | None]] = []
    for file in files:
        count = file.read_bytes().count(_END)
        if count > 1:
            out.extend((f"{file.name}#{i + 1}", file, i) for i in range(count))
        else:
            out.append((file.name, file, None))
    return out


def _read(sources: list[tuple[str, Path, int | None]]) -> Iterator[bytes]:
    cache: tuple[Path, list[bytes]] | None = None
    for _, file, position in sources:
        if position is None:
            yield file.read_bytes()
            continue
        if cache is None or cache[0] != file:
            parts = [p + _END + b"\n" for p in file.read_bytes().split(_END) if p.strip()]
            cache = (file, parts)
        yield cache[1][position]


def register(app: typer.Typer) -> None:
    """Add `smki request batch` to the `request` group (made by smki.cli.requests)."""
    from smki.cli.requests import request_app

    @request_app.command("batch")
    def request_batch(
        source: Path = typer.Argument(..., help="A PEM bundle of CSRs, or a directory of CSR files."),
        party_id: str = typer.Option(..., "--party", help="The requesting party's id."),
        device_type: str | None = typer.Option(
            None, "--device-type", help="CHF, GPF, ESME, GSME, type-1-device or PPD (Device requests)."
        ),
        smi_status: str | None = typer.Option(None, "--smi-status", help="The Devices' SMI Status, if any."),
        workers: int = typer.Option(0, "--workers", help="Worker processes (0: one per core)."),
        chunk_size: int = typer.Option(4000, "--chunk-size", help="CSRs per transaction."),
        out: Path | None = typer.Option(None, "--out", help="Write one JSON line per CSR here."),
        keys: str | None = typer.Option(
            None, "--keys", help="Where CA keys live: soft or pkcs11 (default: as init)."
        ),
        home: Path | None = HOME_OPTION,
        actor: str | None = typer.Option(
            None, "--actor", help="Who the audit log names (default party:<id>)."
        ),
    ) -> None:
        """Submit many CSRs: each is checked and issued alone or refused alone; results in input order."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        from smki import ca
        from smki.model import DeviceType
        from smki.ra.batch import BatchIssuer
        from smki.settings import resolve_home

        try:
            sources = _sources(source)
            status = SmiStatus.parse(smi_status) if smi_status else None  # as the API and request submit
            kind = DeviceType.parse(device_type) if device_type else None
            resolved = resolve_home(home)
            db = open_database(resolved)
            issuer = BatchIssuer(
                db,
                resolved,
                ca.home_environment(resolved),
                workers=workers,
                chunk_size=chunk_size,
                key_backend=keys,
            )
        except SmkiError as exc:
            raise exit_with(exc) from None
        issued = refused = 0
        sink = out.open("w", encoding="utf-8") if out is not None else None
        try:
            with Progress(
                TextColumn("issuing"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                transient=True,
            ) as bar:
                task = bar.add_task("batch", total=len(sources))
                results = issuer.run(
                    _read(sources),
                    party_id=party_id,
                    actor=actor or f"party:{party_id}",
                    progress=lambda done, _total: bar.update(task, completed=done),
                    device_type=kind,
                    smi_status=status,
                )
                for result in results:
                    issued += result.ok
                    refused += not result.ok
                    if sink is not None:
                        line = {
                            "index": result.index,
                            "file": sources[result.index][0],
                            "ok": result.ok,
                            "serial": result.serial_hex,
                            "pem": result.pem,
                            "error": result.error,
                        }
                        sink.write(json.dumps(line) + "\n")
                        sink.flush()
                    elif not result.ok and result.error is not None:
                        typer.echo(
                            f"{sources[result.index][0]}: {result.error['message']} ({result.error['code']})",
                            err=True,
                        )
        except SmkiError as exc:
            raise exit_with(exc) from None
        finally:
            if sink is not None:
                sink.close()
        typer.echo(f"{issued} issued, {refused} refused, of {len(sources)} CSRs.")
        raise typer.Exit(0 if refused == 0 else 1)
