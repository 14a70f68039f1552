"""One rule set for CSRs: the RA refuses exactly what `smki lint` reports as an error, with the same code.

1. Property (hypothesis): for Device and Organisation requests with any combination of the corpus defects
   (compressed point, P-384, RSA, SHA-1, two usages, nonRepudiation, two hardware names, 7-octet EUI,
   subject on a device, bad OU, a CA role, a non-critical keyUsage), ``policy.csr.read_csr`` refuses
   exactly when ``profiles.lint.lint`` reports an error, with the code of lint's first error; a clean
   request is accepted; the batch's template cache gives the same outcome as the plain reading.
2. Corpus: one request per defect, refused by `smki lint`, `smki request check`, the HTTP API
   (``POST /v1/requests``), the API batch (``POST /v1/requests/batch``) and `smki request batch` with the
   code written out below, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from csr_corpus import (
    CORPUS,
    DEVICE_DEFECTS,
    ENV,
    EUI,
    KEY_DEFECTS,
    ORGANISATION_DEFECTS,
    USAGE_DEFECTS,
    CsrSpec,
    defect_code,
    make_csr,
    pem,
)
from smki.api.app import create_app
from smki.ca import create_hierarchy
from smki.cli.main import app as cli_app
from smki.keys import SoftBackend
from smki.model import CertificateKind, Hierarchy, KeyUsage, PolicyRefusal, RemotePartyRole, SmkiError
from smki.policy import Licence, Party, PartyIdentifier, PartyType, SubscriberEvent, UserRole
from smki.policy.csr import DeviceCsrTemplates, read_csr
from smki.profiles.lint import lint
from smki.profiles.lint_rules import Severity
from smki.ra import parties, subscribers, tokens
from smki.storage import Database

PASSPHRASE = "csr-rules-test-passphrase"


def ra_outcome(der: bytes, templates: DeviceCsrTemplates | None = None) -> tuple[str, ...]:
    """("accepted", kind) or ("refused", code, clause) as the RA's CSR check gives it."""
    try:
        facts = read_csr(der, ENV, templates=templates)
    except SmkiError as exc:
        return ("refused", exc.code, str(exc.clause))
    return ("accepted", facts.kind.value)


def lint_errors(der: bytes) -> tuple[str, ...]:
    return tuple(f.code for f in lint(der, ENV).findings if f.severity is Severity.ERROR)


# --- 1. the property --------------------------------------------------------------------------------------


@st.composite
def specs(draw: st.DrawFn) -> CsrSpec:
    kind = draw(st.sampled_from(["device", "organisation"]))
    usage = draw(st.sampled_from([KeyUsage.DIGITAL_SIGNATURE, KeyUsage.KEY_AGREEMENT]))
    defects: set[str] = set()
    key = draw(st.sampled_from([None, *KEY_DEFECTS]))
    if key is not None:
        defects.add(key)
    ku = draw(st.sampled_from([None, *USAGE_DEFECTS]))
    if ku is not None:
        defects.add(ku)
    own = DEVICE_DEFECTS if kind == "device" else ORGANISATION_DEFECTS
    defects |= set(draw(st.sets(st.sampled_from([*own, "sha1", "ku_not_critical"]), max_size=3)))
    role = draw(st.sampled_from([r.code for r in (RemotePartyRole.SUPPLIER, RemotePartyRole.OTHER)]))
    bad_ou = draw(st.sampled_from(["zz", "2", "0a", "supplier", "1FF", ""]))
    return CsrSpec(kind, usage, frozenset(defects), role, bad_ou)


@pytest.fixture(scope="module")
def warm() -> DeviceCsrTemplates:
    templates = DeviceCsrTemplates()
    for usage in (KeyUsage.DIGITAL_SIGNATURE, KeyUsage.KEY_AGREEMENT):
        read_csr(make_csr(CsrSpec("device", usage)), ENV, templates=templates)
    return templates


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs())
def test_the_ra_refuses_exactly_what_lint_reports_as_an_error_with_its_code(
    warm: DeviceCsrTemplates, spec: CsrSpec
) -> None:
    der = make_csr(spec)
    errors = lint_errors(der)
    outcome = ra_outcome(der)
    if errors:
        assert outcome[:2] == ("refused", errors[0]), (spec, errors, outcome)
    else:
        assert outcome == ("accepted", spec.kind), (spec, outcome)
    # the generator makes what it says: a clean request conforms, and each defect is reported
    assert bool(errors) == bool(spec.defects), (spec, errors)
    for defect in spec.defects:
        if defect == "ca_role" and "bad_ou" in spec.defects:
            continue  # the bad OU replaces the CA role's OU
        if defect == "eui7" and "two_hw_names" in spec.defects:
            continue  # lint reads no hwSerialNum from a SAN that does not hold exactly one name
        assert defect_code(spec.kind, defect) in errors, (spec, defect, errors)
    # the batch's fast path (DeviceCsrTemplates) agrees with the plain reading
    assert ra_outcome(der, warm) == outcome


def test_a_clean_request_is_read_with_its_facts() -> None:
    for kind, usage in [("device", KeyUsage.KEY_AGREEMENT), ("organisation", KeyUsage.DIGITAL_SIGNATURE)]:
        facts = read_csr(make_csr(CsrSpec(kind, usage, role_code=RemotePartyRole.OTHER.code)), ENV)
        assert (facts.kind.value, facts.key_usage, facts.entity_id) == (kind, usage, EUI)
        assert facts.role == (None if kind == "device" else RemotePartyRole.OTHER)


@pytest.mark.parametrize(
    ("spec", "code", "clause"),
    [
        (CsrSpec("device", defects=frozenset({"compressed"})), "key.compressed", "Appendix A Annex B"),
        (CsrSpec("organisation", defects=frozenset({"bad_ou"})), "subject.ou_not_hex", "Appendix B Annex B"),
        (CsrSpec("organisation", defects=frozenset({"ca_role"})), "subject.ca_role", "L3.19"),
    ],
)
def test_a_refusal_cites_the_rules_clause(spec: CsrSpec, code: str, clause: str) -> None:
    with pytest.raises(PolicyRefusal) as info:
        read_csr(make_csr(spec), ENV)
    assert (info.value.code, info.value.clause) == (code, clause)


def test_a_bad_signature_is_refused_for_proof_of_possession_with_its_clause() -> None:
    der = bytearray(make_csr(CsrSpec("device")))
    der[-5] ^= 0x01  # inside the signature's s value
    assert lint_errors(bytes(der))[0] == "csr.pop_invalid"
    assert ra_outcome(bytes(der)) == ("refused", "csr.pop_invalid", "Appendix A 3.2.1")


def test_iki_requests_are_checked_as_iki_when_asked_for() -> None:
    org = make_csr(CsrSpec("organisation", KeyUsage.KEY_AGREEMENT))
    assert read_csr(org, ENV).kind is CertificateKind.ORGANISATION
    with pytest.raises(PolicyRefusal) as info:
        read_csr(org, ENV, expected_kind=CertificateKind.IKI)
    assert (info.value.code, info.value.clause) == ("ku.iki_usage", "IKI Certificate Policy")
    assert "ku.iki_usage" in lint(org, ENV, requested_kind=CertificateKind.IKI).codes
    signing = make_csr(CsrSpec("organisation", KeyUsage.DIGITAL_SIGNATURE))
    assert read_csr(signing, ENV, expected_kind=CertificateKind.IKI).kind is CertificateKind.IKI
    with pytest.raises(PolicyRefusal) as info:
        read_csr(signing, ENV, expected_kind=CertificateKind.DEVICE)
    assert info.value.code == "csr.wrong_kind"


# --- 2. the corpus through every entry point -------------------------------------------------------------


def test_the_corpus_codes_are_what_lint_reports_first() -> None:
    for name, (spec, code) in CORPUS.items():
        assert lint_errors(make_csr(spec))[:1] == (code,), name


def _write_corpus(where: Path) -> dict[str, Path]:
    where.mkdir()
    files = {}
    for name, (spec, _code) in CORPUS.items():
        files[name] = where / f"{name}.csr"
        files[name].write_bytes(pem(make_csr(spec)))
    return files


@pytest.mark.parametrize("db_kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_cli_lint_request_check_and_batch_refuse_the_corpus_with_the_same_code(
    db_kind: str, tmp_path: Path, database_url_for
) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    runner = CliRunner()
    env = {
        "SMKI_DATABASE_URL": database_url_for(db_kind),
        "SMKI_KEY_PASSPHRASE": PASSPHRASE,
        "SMKI_KEY_PASSPHRASE_FILE": None,
    }

    def cli(*args: str, code: int) -> tuple[str, str]:
        result = runner.invoke(cli_app, list(args), env=env)
        assert result.exit_code == code, (args, result.stdout, result.stderr, result.exception)
        return result.stdout, result.stderr

    cli("init", "--home", str(home), "--json", code=0)
    cli(
        "party", "register", "acme", "--name", "Acme", "--licence", "electricity-supply",
        "--id", "00-DB-12-34-56-78-90-A1=import-supplier", "--home", str(home), code=0,
    )  # fmt: skip
    for policy in ("organisation", "device"):
        cli("subscriber", "entry-tests", "acme", "--policy", policy, "--home", str(home), code=0)
        cli("subscriber", "apply", "acme", "--policy", policy, "--home", str(home), code=0)
        cli("subscriber", "authorise", "acme", "--policy", policy, "--home", str(home), code=0)
    files = _write_corpus(tmp_path / "corpus")
    for name, path in files.items():
        expected = CORPUS[name][1]
        out, _ = cli("lint", str(path), "--env", str(home / "environment.json"), "--json", code=1)
        findings = json.loads(out)["files"][0]["items"][0]["findings"]
        assert next(f["code"] for f in findings if f["severity"] == "error") == expected, name
        _, err = cli(
            "request", "check", str(path), "--party", "acme", "--device-type", "ESME",
            "--home", str(home), "--json", code=2,
        )  # fmt: skip
        assert json.loads(err)["error"]["code"] == expected, name
    results = tmp_path / "batch.jsonl"
    cli(
        "request", "batch", str(tmp_path / "corpus"), "--party", "acme", "--device-type", "ESME",
        "--workers", "1", "--out", str(results), "--home", str(home), code=1,
    )  # fmt: skip
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert len(lines) == len(CORPUS)
    for line in lines:
        name = Path(line["file"]).stem
        assert not line["ok"] and line["error"]["code"] == CORPUS[name][1], line


@dataclass
class Api:
    client: TestClient
    headers: dict[str, str]


@pytest.fixture
def api(database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    home = tmp_path / "home"
    monkeypatch.setenv("SMKI_KEY_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("SMKI_KEY_PASSPHRASE_FILE", raising=False)
    create_hierarchy(database, SoftBackend(home, {"SMKI_KEY_PASSPHRASE": PASSPHRASE}), ENV, actor="test")
    party = Party(
        "acme",
        "Acme",
        PartyType.PARTY,
        frozenset({Licence.ELECTRICITY_SUPPLY}),
        (PartyIdentifier(EUI, UserRole.IMPORT_SUPPLIER),),
    )
    parties.register_party(database, party, actor="dcc-ra")
    for policy in (Hierarchy.ORGANISATION, Hierarchy.DEVICE):
        subscribers.record_entry_tests(database, "acme", policy, actor="dcc-ra")
        subscribers.move(database, "acme", policy, SubscriberEvent.APPLY, actor="acme")
        subscribers.move(database, "acme", policy, SubscriberEvent.DCC_AUTHORISES, actor="dcc-ra")
    token = tokens.create_token(database, "acme", actor="dcc-ra").text
    with TestClient(create_app(home, database=database)) as client:
        yield Api(client, {"Authorization": f"Bearer {token}"})


def test_the_api_and_its_batch_refuse_the_corpus_with_the_code_lint_reports(api: Api) -> None:
    device_pems: list[tuple[str, str]] = []
    for name, (spec, expected) in CORPUS.items():
        text = pem(make_csr(spec)).decode("ascii")
        response = api.client.post(
            "/v1/requests", json={"csr_pem": text, "device_type": "ESME"}, headers=api.headers
        )
        assert response.status_code == 403, (name, response.text)
        assert response.json()["code"] == expected, (name, response.json())
        if spec.kind == "device":
            device_pems.append((name, text))
    response = api.client.post(
        "/v1/requests/batch",
        json={"csrs": [text for _, text in device_pems], "device_type": "ESME"},
        headers=api.headers,
    )
    assert response.status_code == 200, response.text
    lines = [json.loads(line) for line in response.text.splitlines() if line.strip()]
    items = {line["index"]: line for line in lines if "index" in line}
    assert len(items) == len(device_pems)
    for index, (name, _text) in enumerate(device_pems):
        assert not items[index]["ok"] and items[index]["error"]["code"] == CORPUS[name][1], (
            name,
            items[index],
        )


def test_der_and_pem_give_the_same_refusal() -> None:
    for spec, code in CORPUS.values():
        der = make_csr(spec)
        assert ra_outcome(der)[1] == ra_outcome(pem(der))[1] == code
