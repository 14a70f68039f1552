"""`smki lint` and `smki show` on the real DCC certificates: exit codes, text and JSON."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from smki.cli.main import app

runner = CliRunner()
Z1 = "ca/IssuingOCA-Z1-issued-by-ZA-71872BDB.pem"
ORG = "org/Z1-supplier-ds__90B3D51F30010000__supplier-ds__4FBC5252.pem"
DEVICE = "device/00DB123456789001-ds-71C56392.pem"
MDR = "org/mdr-ds__90B3D51F30010009__other-ds__173CFBF0.pem"
CSR = "csr/device-CSR-00DB1234567890A0-ds-from-RTDS-CS02c.pem"


def test_conforming_files_exit_0_with_their_classification(real_certs: Path) -> None:
    result = runner.invoke(
        app, ["lint", str(real_certs / ORG), str(real_certs / DEVICE), str(real_certs / CSR)]
    )
    assert result.exit_code == 0, result.output
    assert "Organisation Certificate, role supplier (2), EUI-64 90-B3-D5-1F-30-01-00-00" in result.output
    assert "digitalSignature (DS)" in result.output
    assert "issuer OU=07, CN=Z1 (the environment's Issuing OCA)" in result.output
    assert "Device Certificate Signing Request, EUI-64 00-DB-12-34-56-78-90-A0" in result.output
    assert result.output.count("  conforms") == 3


def test_a_deviating_file_exits_1_and_names_its_findings(real_certs: Path) -> None:
    result = runner.invoke(app, ["lint", str(real_certs / ORG), str(real_certs / MDR)])
    assert result.exit_code == 1
    assert "error sig.null_params:" in result.output
    assert "error issuer.unexpected: The issuer is OU=07, CN=Z99" in result.output


def test_the_whole_real_directory_as_json(real_certs: Path) -> None:
    result = runner.invoke(app, ["lint", "--json", str(real_certs)])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["exit_code"] == 1
    assert doc["summary"]["items"] == len(list(real_certs.glob("*/*.pem")))
    assert doc["summary"]["unreadable"] == 0
    by_name = {Path(f["path"]).name: f for f in doc["files"]}
    mdr = by_name[Path(MDR).name]["items"][0]
    assert mdr["conforms"] is False and "sig.null_params" in [f["code"] for f in mdr["findings"]]
    org = by_name[Path(ORG).name]["items"][0]
    assert (org["kind"], org["role"]["code"], org["entity_id"], org["findings"]) == (
        "organisation",
        2,
        "90-B3-D5-1F-30-01-00-00",
        [],
    )
    deviating = {Path(f["path"]).name for f in doc["files"] if not f["items"][0]["conforms"]}
    assert len(deviating) == doc["summary"]["deviating"] == 17


def test_issuer_option_checks_signatures(real_certs: Path) -> None:
    ok = runner.invoke(app, ["lint", "--issuer", str(real_certs / Z1), str(real_certs / ORG)])
    assert ok.exit_code == 0, ok.output
    z2 = real_certs / "org/supplier-ka__90B3D51F30010000__supplier-ka__56BAD381.pem"
    bad = runner.invoke(app, ["lint", "--issuer", str(real_certs / Z1), str(z2)])
    assert bad.exit_code == 1 and "sig.invalid" in bad.output


def test_unreadable_input_exits_2_with_one_sentence(real_certs: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"not a certificate")
    result = runner.invoke(app, ["lint", str(real_certs / ORG), str(junk)])
    assert result.exit_code == 2
    assert "unreadable: The file is neither a PEM nor a DER" in result.output
    assert "Traceback" not in result.output
    missing = runner.invoke(app, ["lint", str(tmp_path / "absent.pem")])
    assert missing.exit_code == 2 and "Traceback" not in missing.output
    bad_issuer = runner.invoke(app, ["lint", "--issuer", str(junk), str(real_certs / ORG)])
    assert bad_issuer.exit_code == 2 and "error:" in bad_issuer.output


def test_der_and_bundles_and_directories(real_certs: Path, tmp_path: Path) -> None:
    from smki.profiles.parse import split_pem_or_der

    ((_, der),) = split_pem_or_der((real_certs / DEVICE).read_bytes())
    (tmp_path / "device.der").write_bytes(der)
    (tmp_path / "bundle.pem").write_bytes((real_certs / ORG).read_bytes() + (real_certs / MDR).read_bytes())
    (tmp_path / "notes.txt").write_text("ignored in a directory")
    shutil.copy(real_certs / CSR, tmp_path / "sub.pem")
    result = runner.invoke(app, ["lint", "--json", str(tmp_path)])
    doc = json.loads(result.stdout)
    assert result.exit_code == 1
    assert sorted(Path(f["path"]).name for f in doc["files"]) == ["bundle.pem", "device.der", "sub.pem"]
    bundle = next(f for f in doc["files"] if f["path"].endswith("bundle.pem"))
    assert [i["conforms"] for i in bundle["items"]] == [True, False]


def test_env_option_changes_what_conforms(real_certs: Path, tmp_path: Path) -> None:
    env = tmp_path / "env.json"
    env.write_text(json.dumps({"issuing_oca_name": "Z99"}))
    result = runner.invoke(app, ["lint", "--env", str(env), str(real_certs / ORG)])
    assert result.exit_code == 1 and "issuer.unexpected" in result.output
    env.write_text(json.dumps({"no_such_setting": "x"}))
    refused = runner.invoke(app, ["lint", "--env", str(env), str(real_certs / ORG)])
    assert refused.exit_code == 2 and "environment.unknown_key" in refused.output


def test_show_tells_the_smki_meaning(real_certs: Path) -> None:
    result = runner.invoke(app, ["show", str(real_certs / ORG)])
    assert result.exit_code == 0, result.output
    for expected in (
        "Organisation Certificate",
        "supplier (2, OU 02)",
        "90-B3-D5-1F-30-01-00-00",
        "digitalSignature (DS)",
        "1.2.826.0.1.8641679.1.2.1.4 (Organisation Certificate Policy)",
        "4FBC5252",
        "conforms to its SMKI profile",
    ):
        assert expected in result.output
    device = runner.invoke(app, ["show", "--json", str(real_certs / DEVICE)])
    doc = json.loads(device.stdout)
    assert doc["kind"] == "device" and doc["entity_id"] == "00-DB-12-34-56-78-90-01"
    assert doc["not_after"].startswith("9999-12-31T23:59:59")
    assert doc["hardware_module_names"][0]["hw_type_is_environment"] is True
    assert doc["contingency_key_extension"] is False


def test_show_of_a_null_parameter_certificate_says_it_deviates(real_certs: Path) -> None:
    result = runner.invoke(app, ["show", str(real_certs / MDR)])
    assert result.exit_code == 0
    assert "sig.null_params" in result.output and "MDR" in result.output


def test_console_script_exit_codes(real_certs: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    smki = Path(sys.executable).with_name("smki")
    junk = tmp_path / "junk.der"
    junk.write_bytes(b"\x30\x03\x02\x01\x00")
    codes = [
        subprocess.run([str(smki), "lint", *args], capture_output=True, text=True, check=False)
        for args in ([str(real_certs / ORG)], [str(real_certs / MDR)], [str(junk)])
    ]
    assert [c.returncode for c in codes] == [0, 1, 2]
    assert "Traceback" not in codes[2].stderr + codes[2].stdout
