"""`smki party`, `smki subscriber`, `smki csr` and `smki request` as an operator and a subscriber use them,
on SQLite and PostgreSQL: a whole walk from the key ceremony to an issued certificate, and refusals printed
as one sentence with their clause and code (exit 2), never a traceback.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

from smki.cli.main import app
from smki.profiles.environment import PkiEnvironment
from smki.profiles.lint import lint

PASSPHRASE = "cli-requests-test-passphrase"


class Cli:
    def __init__(self, url: str, home: Path) -> None:
        self.url, self.home = url, home
        self.runner = CliRunner()

    def __call__(self, *args: str, code: int = 0) -> str:
        result = self.runner.invoke(
            app,
            [*args, "--home", str(self.home)] if args[0] != "csr" or args[1] == "device" else list(args),
            env={
                "SMKI_DATABASE_URL": self.url,
                "SMKI_KEY_PASSPHRASE": PASSPHRASE,
                "SMKI_KEY_PASSPHRASE_FILE": None,
            },
        )
        assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
        assert "Traceback" not in result.stdout + result.stderr
        return result.stdout if code == 0 else result.stderr


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_operator_walk_from_registration_to_issued_certificates(
    kind: str, tmp_path: Path, database_url_for
) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    cli = Cli(database_url_for(kind), home)
    cli("init", "--json")
    (home / "dcc-live-systems.json").write_text(json.dumps({"paragraphs": {"f": "recovery-hsm"}}))

    cli("party", "register", "dcc", "--name", "DCC", "--type", "dcc", "--id", "90-B3-D5-1F-30-00-00-01")
    out = cli(
        "party",
        "register",
        "acme",
        "--name",
        "Acme Energy",
        "--licence",
        "electricity-supply",
        "--id",
        "90-B3-D5-1F-30-01-00-00=import-supplier",
        "--json",
    )
    assert json.loads(out)["supplier_party"] is True
    cli(
        "party",
        "register",
        "dno",
        "--name",
        "Wires",
        "--licence",
        "electricity-distribution",
        "--id",
        "90-B3-D5-1F-30-02-00-00=electricity-distributor",
    )
    cli(
        "party",
        "register",
        "rdp",
        "--name",
        "RDP",
        "--type",
        "rdp",
        "--nominated-by",
        "dno",
        "--id",
        "90-B3-D5-1F-30-05-00-00=rdp",
    )

    # L3.2: no application before the Entry Process Tests; then apply and be authorised
    err = cli("subscriber", "apply", "acme", "--policy", "organisation", code=2)
    assert "[L3.2(a)]" in err and "(subscriber.entry_tests_incomplete)" in err
    for party, policies in (("acme", ("organisation", "device")), ("dcc", ("organisation",))):
        for policy in policies:
            cli("subscriber", "entry-tests", party, "--policy", policy)
            cli("subscriber", "apply", party, "--policy", policy)
            assert "authorised" in cli("subscriber", "authorise", party, "--policy", policy)

    # a supplier certificate, from a CSR made by `smki csr organisation`
    key = tmp_path / "acme-ds.key"
    csr = tmp_path / "acme-ds.csr"
    cli(
        "csr",
        "organisation",
        "--role",
        "supplier",
        "--eui",
        "90-B3-D5-1F-30-01-00-00",
        "--cn",
        "ACME",
        "--usage",
        "DS",
        "--key-out",
        str(key),
        "--out",
        str(csr),
    )
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    serialization.load_pem_private_key(key.read_bytes(), None)
    checked = json.loads(cli("request", "check", str(csr), "--party", "acme", "--json"))
    assert checked["clause"] == "L3.18(b)(ii)" and checked["public_key"] == "new-key"
    cert_file = tmp_path / "acme-ds.pem"
    issued = json.loads(
        cli("request", "submit", str(csr), "--party", "acme", "--out", str(cert_file), "--json")
    )
    assert issued["subscriber"] == "acme" and issued["role"] == 2
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    assert lint(cert, PkiEnvironment()).conforms

    # the same key again: refused under L11.4(b), in one sentence
    err = cli("request", "submit", str(csr), "--party", "acme", code=2)
    assert "[L11.4(b)]" in err and "(csr.duplicate_public_key)" in err and err.count("\n") == 1

    # somebody else's subjectUniqueID: refused under L3.18(a)(ii)
    err = cli("request", "check", str(csr), "--party", "dcc", code=2)
    assert "[L3.18(a)(ii)]" in err

    # a device certificate for an Electricity Smart Meter, then one refused once installed
    dkey, dcsr = tmp_path / "meter.key", tmp_path / "meter.csr"
    cli(
        "csr",
        "device",
        "--eui",
        "00-DB-12-34-56-78-90-01",
        "--usage",
        "KA",
        "--key-out",
        str(dkey),
        "--out",
        str(dcsr),
    )
    out = cli("request", "submit", str(dcsr), "--party", "acme", "--device-type", "ESME")
    assert out.startswith("Issued Device Certificate")
    err = cli("request", "check", str(dcsr), "--party", "dno", "--device-type", "ESME", code=2)
    assert "(subscriber.not_authorised)" in err

    # the DCC's recovery certificate comes only from the configured DCC Live System (L3.18(b)(i))
    rkey, rcsr = tmp_path / "rec.key", tmp_path / "rec.csr"
    cli(
        "csr",
        "organisation",
        "--role",
        "recovery",
        "--eui",
        "90-B3-D5-1F-30-00-00-01",
        "--key-out",
        str(rkey),
        "--out",
        str(rcsr),
    )
    err = cli("request", "check", str(rcsr), "--party", "dcc", "--dcc-live-system", "laptop", code=2)
    assert "[L3.18(b)(i)]" in err and "recovery-hsm" in err
    cli("request", "submit", str(rcsr), "--party", "dcc", "--dcc-live-system", "recovery-hsm")

    # L3.14(b): ceasing to be authorised revokes the subscriber's Organisation Certificates
    ceased = json.loads(cli("subscriber", "cease", "acme", "--policy", "organisation", "--json"))
    assert ceased["status"] == "ceased" and ceased["clause"] == "L3.13(b)"
    assert ceased["revoked"] == [issued["serial"]]
    shown = json.loads(cli("party", "show", "acme", "--json"))
    assert shown["subscriber"]["organisation"]["status"] == "ceased"
    assert shown["subscriber"]["device"]["status"] == "authorised"
    assert "intact" in cli("audit", "verify")


def test_bad_input_is_one_sentence_not_a_traceback(tmp_path: Path, database_url_for) -> None:  # type: ignore[no-untyped-def]
    cli = Cli(database_url_for("sqlite"), tmp_path / "home")
    err = cli("party", "register", "x", "--name", "X", "--type", "king", code=2)
    assert "(party.unknown_type)" in err
    err = cli("party", "register", "x", "--name", "X", "--id", "not-an-eui=other-user", code=2)
    assert "(entity_id.syntax)" in err
    garbage = tmp_path / "garbage.csr"
    garbage.write_bytes(b"hello")
    cli("party", "register", "x", "--name", "X", "--id", "01-02-03-04-05-06-07-08=other-user")
    err = cli("request", "check", str(garbage), "--party", "x", code=2)
    assert err.startswith("error: ") and err.count("\n") == 1
    key = tmp_path / "k.key"
    key.write_text("existing")
    err = cli("csr", "device", "--eui", "01-02-03-04-05-06-07-08", "--key-out", str(key), code=2)
    assert "(csr.key_file_exists)" in err and key.read_text() == "existing"
    err = cli("subscriber", "apply", "x", "--policy", "gold", code=2)
    assert "(subscriber.unknown_policy)" in err
