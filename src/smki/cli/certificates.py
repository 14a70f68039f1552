"""`smki lint` and `smki show`: check certificates and CSRs against their SMKI profiles, or explain them.

Thin: reading files is here; classification, findings and descriptions live in ``smki.profiles``.
Exit codes of `smki lint`: 0 every item conforms, 1 some item deviates, 2 some input is unreadable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
from cryptography import x509

from smki.cli.context import exit_with
from smki.model import InvalidInput, SmkiError
from smki.profiles.environment import PkiEnvironment
from smki.profiles.lint import LintReport, lint
from smki.profiles.parse import load_certificate, parse_item, split_pem_or_der
from smki.profiles.show import describe, render

# Files picked up when a directory is given (explicitly named files are always read).
CERTIFICATE_SUFFIXES = {".pem", ".der", ".crt", ".cer", ".csr", ".req", ".p10"}

EXIT_CONFORMS, EXIT_DEVIATES, EXIT_UNREADABLE = 0, 1, 2

ENV_OPTION = typer.Option(
    None,
    "--env",
    help="PkiEnvironment JSON (policy OIDs, hwType, CA names); default: the DCC test PKI values.",
    show_default=False,
)
ISSUER_OPTION = typer.Option(
    None,
    "--issuer",
    help="Issuing CA certificate (PEM or DER) to check signatures, AKI and issuer name.",
    show_default=False,
)
JSON_OPTION = typer.Option(False, "--json", help="Print one JSON document.")


@dataclass
class _FileResult:
    path: str
    reports: list[tuple[int, LintReport | SmkiError]] = field(default_factory=list)
    error: SmkiError | None = None


def _load_env(path: Path | None) -> PkiEnvironment:
    if path is None:
        return PkiEnvironment()
    if not path.is_file():
        raise InvalidInput("environment.missing", f"The environment file {path} does not exist.")
    return PkiEnvironment.load(path)


def _load_issuer(path: Path | None) -> x509.Certificate | None:
    if path is None:
        return None
    return load_certificate(_read(path))


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput("input.unreadable", f"Cannot read {path}: {exc.strerror or exc}.") from None


def _expand(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(
                sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in CERTIFICATE_SUFFIXES)
            )
        else:
            out.append(path)
    return out


def _lint_file(path: Path, env: PkiEnvironment, issuer: x509.Certificate | None) -> _FileResult:
    result = _FileResult(str(path))
    try:
        items = split_pem_or_der(_read(path))
    except SmkiError as exc:
        result.error = exc
        return result
    for number, (kind, der) in enumerate(items, start=1):
        try:
            result.reports.append((number, lint(parse_item(kind, der).fields, env, issuer=issuer)))
        except SmkiError as exc:
            result.reports.append((number, exc))
    return result


def _exit_code(results: list[_FileResult]) -> int:
    code = EXIT_CONFORMS
    for r in results:
        if r.error is not None or any(isinstance(rep, SmkiError) for _, rep in r.reports):
            return EXIT_UNREADABLE
        if any(isinstance(rep, LintReport) and not rep.conforms for _, rep in r.reports):
            code = EXIT_DEVIATES
    return code


def _headline(report: LintReport) -> str:
    parts = [report.kind_label]
    if report.role is not None:
        parts.append(f"role {report.role.label}")
    if report.entity_id is not None:
        parts.append(f"EUI-64 {report.entity_id.dashed}")
    if report.key_usage is not None:
        parts.append(f"{report.key_usage.value} ({report.key_usage.short})")
    elif report.key_usage_bits:
        parts.append("key usage " + "+".join(report.key_usage_bits))
    if report.issuer is not None:
        described = f" ({report.issuer_description})" if report.issuer_description else ""
        parts.append(f"issuer {report.issuer}{described}")
    return ", ".join(parts)


def _print_text(results: list[_FileResult]) -> None:
    for r in results:
        if r.error is not None:
            typer.echo(f"{r.path}: unreadable: {r.error.message} ({r.error.code})", err=True)
            continue
        for number, rep in r.reports:
            label = r.path if len(r.reports) == 1 else f"{r.path} [item {number}]"
            if isinstance(rep, SmkiError):
                typer.echo(f"{label}: unreadable: {rep.message} ({rep.code})", err=True)
                continue
            typer.echo(f"{label}: {_headline(rep)}")
            if not rep.findings:
                typer.echo("  conforms")
            for f in rep.findings:
                typer.echo(f"  {f.severity.value} {f.code}: {f.message}")


def _json_document(results: list[_FileResult], exit_code: int) -> dict[str, Any]:
    files: list[dict[str, Any]] = []
    counts = {"items": 0, "conforming": 0, "deviating": 0, "unreadable": 0}
    for r in results:
        entry: dict[str, Any] = {"path": r.path, "error": r.error.as_dict() if r.error else None, "items": []}
        if r.error is not None:
            counts["unreadable"] += 1
        for number, rep in r.reports:
            counts["items"] += 1
            if isinstance(rep, SmkiError):
                counts["unreadable"] += 1
                entry["items"].append({"item": number, "error": rep.as_dict()})
            else:
                counts["conforming" if rep.conforms else "deviating"] += 1
                entry["items"].append({"item": number, **rep.as_dict()})
        files.append(entry)
    return {"exit_code": exit_code, "summary": counts, "files": files}


def lint_command(
    files: list[Path] = typer.Argument(..., help="Certificates or CSRs (PEM or DER), or directories."),
    as_json: bool = JSON_OPTION,
    issuer_path: Path | None = ISSUER_OPTION,
    env_path: Path | None = ENV_OPTION,
) -> None:
    """Check certificates and CSRs against their SMKI profiles. Exit 0 conform, 1 deviate, 2 unreadable."""
    try:
        env = _load_env(env_path)
        issuer = _load_issuer(issuer_path)
    except SmkiError as exc:
        raise exit_with(exc, as_json=as_json) from None
    paths = _expand(files)
    if not paths:
        error = InvalidInput("input.no_files", "No certificate or CSR files were found in the given paths.")
        raise exit_with(error, as_json=as_json)
    results = [_lint_file(p, env, issuer) for p in paths]
    code = _exit_code(results)
    if as_json:
        typer.echo(json.dumps(_json_document(results, code), indent=2))
    else:
        _print_text(results)
    raise typer.Exit(code)


def show_command(
    file: Path = typer.Argument(..., help="A certificate or CSR (PEM or DER; every PEM block is shown)."),
    as_json: bool = JSON_OPTION,
    issuer_path: Path | None = ISSUER_OPTION,
    env_path: Path | None = ENV_OPTION,
) -> None:
    """Explain a certificate or CSR in SMKI terms: kind, role, EUI-64, usage, validity, issuer, policy."""
    try:
        env = _load_env(env_path)
        issuer = _load_issuer(issuer_path)
        items = [parse_item(kind, der) for kind, der in split_pem_or_der(_read(file))]
        descriptions = [describe(item.fields, env, issuer=issuer) for item in items]
    except SmkiError as exc:
        raise exit_with(exc, as_json=as_json) from None
    if as_json:
        doc: Any = descriptions[0] if len(descriptions) == 1 else descriptions
        typer.echo(json.dumps(doc, indent=2))
    else:
        typer.echo("\n\n".join(render(d) for d in descriptions))


def register(app: typer.Typer) -> None:
    """Add `lint` and `show` to the `smki` app."""
    app.command("lint")(lint_command)
    app.command("show")(show_command)
