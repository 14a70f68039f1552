"""SMI Status, Device type, certificate status, certificate kind and key usage are parsed once, in
``smki.model``, and the HTTP API and the CLI both use those parsers: the same text gets the same answer and
the same error code from each (issue 10 item 4), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from smki.api.app import create_app
from smki.cli.main import app as cli_app
from smki.model import (
    CertificateKind,
    CertificateStatus,
    DeviceType,
    EntityId,
    InvalidInput,
    KeyUsage,
    SmiStatus,
)
from smki.policy.eligibility import DeviceType as EligibilityDeviceType
from smki.profiles.environment import PkiEnvironment
from smki.ra import tokens
from smki.storage import Database

PASSPHRASE = "input-parsers-test-passphrase"

# --- the parsers themselves: each text and what it means, written out -----------------------------------

PARSED = [
    (SmiStatus.parse, "commissioned", SmiStatus.COMMISSIONED),
    (SmiStatus.parse, " Installed Not Commissioned ", SmiStatus.INSTALLED_NOT_COMMISSIONED),
    (SmiStatus.parse, "installed-not-commissioned", SmiStatus.INSTALLED_NOT_COMMISSIONED),
    (SmiStatus.parse, "INSTALLED_NOT_COMMISSIONED", SmiStatus.INSTALLED_NOT_COMMISSIONED),
    (SmiStatus.parse, "Pending", SmiStatus.PENDING),
    (DeviceType.parse, "ESME", DeviceType.ELECTRICITY_SMART_METER),
    (DeviceType.parse, "esme", DeviceType.ELECTRICITY_SMART_METER),
    (DeviceType.parse, "Electricity Smart Meter", DeviceType.ELECTRICITY_SMART_METER),
    (DeviceType.parse, "gas_smart_meter", DeviceType.GAS_SMART_METER),
    (DeviceType.parse, "CHF", DeviceType.COMMUNICATIONS_HUB_FUNCTION),
    (DeviceType.parse, "gpf", DeviceType.GAS_PROXY_FUNCTION),
    (DeviceType.parse, "type1", DeviceType.TYPE_1_DEVICE),
    (DeviceType.parse, "Type 1 Device", DeviceType.TYPE_1_DEVICE),
    (DeviceType.parse, "PPD", DeviceType.PRODUCTION_PROVING_DEVICE),
    (CertificateStatus.parse, "I", CertificateStatus.IN_USE),
    (CertificateStatus.parse, "i", CertificateStatus.IN_USE),
    (CertificateStatus.parse, "in use", CertificateStatus.IN_USE),
    (CertificateStatus.parse, "IN_USE", CertificateStatus.IN_USE),
    (CertificateStatus.parse, "not-in-use", CertificateStatus.NOT_IN_USE),
    (CertificateStatus.parse, "R", CertificateStatus.REVOKED),
    (CertificateKind.parse, "issuing-oca", CertificateKind.ISSUING_OCA),
    (CertificateKind.parse, "Issuing_OCA", CertificateKind.ISSUING_OCA),
    (CertificateKind.parse, "DEVICE", CertificateKind.DEVICE),
    (KeyUsage.parse, "DS", KeyUsage.DIGITAL_SIGNATURE),
    (KeyUsage.parse, "digitalSignature", KeyUsage.DIGITAL_SIGNATURE),
    (KeyUsage.parse, "key_agreement", KeyUsage.KEY_AGREEMENT),
    (KeyUsage.parse, "ka", KeyUsage.KEY_AGREEMENT),
]

REFUSED = [
    (SmiStatus.parse, "commisioned", "smi_status.unknown"),
    (SmiStatus.parse, "", "smi_status.unknown"),
    (DeviceType.parse, "toaster", "device_type.unknown"),
    (DeviceType.parse, "type 2 device", "device_type.unknown"),
    (CertificateStatus.parse, "Z", "certificate_status.unknown"),
    (CertificateStatus.parse, "active", "certificate_status.unknown"),
    (CertificateKind.parse, "mystery", "certificate_kind.unknown"),
    (KeyUsage.parse, "nonRepudiation", "key_usage.unknown"),
    (KeyUsage.parse, "CA", "key_usage.unknown"),
]


@pytest.mark.parametrize(("parse", "text", "expected"), PARSED)
def test_each_parser_reads_the_value_its_abbreviations_and_case_variants(parse, text, expected) -> None:  # type: ignore[no-untyped-def]
    assert parse(text) is expected


@pytest.mark.parametrize(("parse", "text", "code"), REFUSED)
def test_each_parser_refuses_with_its_one_code(parse, text, code) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as info:
        parse(text)
    assert info.value.code == code


def test_the_policy_layer_uses_the_models_device_type() -> None:
    assert EligibilityDeviceType is DeviceType


# --- the API and the CLI give the same answer for the same text ----------------------------------------


class World:
    def __init__(self, url: str, home: Path) -> None:
        self.url, self.home = url, home
        self.runner = CliRunner()
        self.env = {
            "SMKI_DATABASE_URL": url,
            "SMKI_KEY_PASSPHRASE": PASSPHRASE,
            "SMKI_KEY_PASSPHRASE_FILE": None,
        }

    def cli(self, *args: str) -> tuple[int, str, str]:
        result = self.runner.invoke(cli_app, [*args, "--home", str(self.home)], env=self.env)
        assert "Traceback" not in result.stdout + result.stderr, result.stderr
        return result.exit_code, result.stdout, result.stderr


def _cli_outcome(code: int, out: str, err: str) -> tuple[str, object]:
    if code == 0:
        return ("ok", json.loads(out))
    return ("refused", json.loads(err)["error"]["code"])


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_api_and_cli_read_the_same_text_the_same_way(
    kind: str, tmp_path: Path, database_url_for, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from smki.subscriber_tools import csr_builder

    home = tmp_path / "home"
    world = World(database_url_for(kind), home)
    monkeypatch.setenv("SMKI_KEY_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("SMKI_KEY_PASSPHRASE_FILE", raising=False)
    assert world.cli("init", "--json")[0] == 0
    supplier = ["--licence", "electricity-supply", "--id", "90-B3-D5-1F-30-01-00-00=import-supplier"]
    assert world.cli("party", "register", "acme", "--name", "Acme", *supplier)[0] == 0
    for command in ("entry-tests", "apply", "authorise"):
        assert world.cli("subscriber", command, "acme", "--policy", "device")[0] == 0
    db = Database(world.url)
    token = tokens.create_token(db, "acme", actor="dcc-ra").text
    headers = {"Authorization": f"Bearer {token}"}
    env = PkiEnvironment.load(home / "environment.json")

    with TestClient(create_app(home, database=db)) as client:
        # repository search: certificate status, certificate kind and key usage
        for option, texts in (
            ("status", ["I", "i", "in use", "IN_USE", "not-in-use", "Z", "active"]),
            ("kind", ["issuing-oca", "Issuing_OCA", "ROOT-DCA", "mystery"]),
            ("usage", ["DS", "ka", "digitalSignature", "CA", "nonRepudiation"]),
        ):
            for text in texts:
                response = client.get("/v1/repository/certificates", params={option: text})
                api = (
                    ("ok", sorted(i["serial"] for i in response.json()["items"]))
                    if response.status_code == 200
                    else ("refused", response.json()["code"])
                )
                state, value = _cli_outcome(*world.cli("repo", "search", f"--{option}", text, "--json"))
                cli = (
                    (state, sorted(i["serial"] for i in value["items"])) if state == "ok" else (state, value)
                )  # type: ignore[index]
                assert api == cli, (option, text, api, cli)
                if option == "status" and text in ("I", "i", "in use", "IN_USE"):
                    assert api[0] == "ok" and api[1], "the CA certificates are in use"

        # a Device request: Device type and SMI Status decide eligibility (L3.16) in both
        for device_type, smi_status, expected in (
            ("ESME", None, "ok"),
            ("electricity smart meter", "Commissioned", "ok"),  # the supplier row has no SMI condition
            ("gsme", "pending", "ok"),  # 'any other Party' while not commissioned
            ("GSME", "installed-not-commissioned", "eligibility.device.smi_status"),
            ("Gas_Smart_Meter", "COMMISSIONED", "eligibility.device.smi_status"),
            ("CHF", None, "eligibility.device.wrong_party"),
            ("toaster", None, "device_type.unknown"),
            ("ESME", "commisioned", "smi_status.unknown"),
        ):
            csr, _ = csr_builder.device_csr(
                EntityId.parse("00-DB-12-34-56-78-90-A1"), KeyUsage.DIGITAL_SIGNATURE, env
            )
            path = tmp_path / "device.csr"
            path.write_bytes(csr_builder.csr_pem(csr))
            args = ["request", "check", str(path), "--party", "acme", "--device-type", device_type, "--json"]
            if smi_status is not None:
                args += ["--smi-status", smi_status]
            state, value = _cli_outcome(*world.cli(*args))
            cli = "ok" if state == "ok" else value
            params = {"device_type": device_type, **({"smi_status": smi_status} if smi_status else {})}
            response = client.post(
                "/v1/requests",
                content=csr_builder.csr_pem(csr),
                params=params,
                headers={**headers, "Content-Type": "application/pkcs10"},
            )
            api = "ok" if response.status_code == 201 else response.json()["code"]
            assert api == cli == expected, (device_type, smi_status, api, cli)
    db.dispose()
