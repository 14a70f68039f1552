"""The README's walk-through, step by step, against a real `make run` server (scripts/run.sh on a free port):
register a party, authorise it, make a token, submit an Organisation CSR with curl's request, submit 1,000
Device CSRs in one batch, find them by EUI-64, revoke the Organisation Certificate, publish the CRL and check
it with `openssl crl -verify`. On SQLite (as `make run`) and PostgreSQL (SMKI_DATABASE_URL).

If this test fails, the README is wrong: fix whichever of the two is.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from test_serve import free_port, running, wait_for_health

REPO = Path(__file__).resolve().parents[1]
SMKI = str(Path(sys.executable).parent / "smki")
README = REPO / "README.md"
DEVICES = 1000


def test_readme_walkthrough_names_the_commands_this_test_runs() -> None:
    text = README.read_text(encoding="utf-8")
    assert text.index("make run") < text.index("## Walk-through")
    for needle in (
        "smki party register acme",
        "smki subscriber authorise acme --policy",
        "smki token create --party acme",
        "smki csr organisation --role supplier --eui 90-B3-D5-1F-30-01-00-00",
        "/v1/requests",
        "smki csr device --eui 00-DB-12-34-56-78-00-00 --count 1000",
        "/v1/requests/batch?device_type=ESME",
        "/v1/repository/certificates?eui=00-DB-12-34-56-78-01-F4",
        "/revoke",
        "smki crl publish --ca Z1",
        "/v1/repository/crl/Z1",
        "openssl crl -inform DER -in Z1.crl -CAfile oca-chain.pem -verify",
    ):
        assert needle in text, needle


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_walkthrough_against_make_run(kind: str, tmp_path: Path, database_url_for) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "smki-data"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMKI_")}
    if kind == "postgres":
        env["SMKI_DATABASE_URL"] = database_url_for("postgres")
    with running(
        ["bash", str(REPO / "scripts" / "run.sh"), str(home), "127.0.0.1", str(port)],
        env,
        tmp_path / "server.log",
    ) as server:
        assert wait_for_health(base, server, timeout=120).json()["initialised"] is True
        cli_env = {**env, "SMKI_HOME": str(home)}

        def smki(*args: str) -> str:
            done = subprocess.run(
                [SMKI, *args], env=cli_env, cwd=tmp_path, capture_output=True, text=True, check=False
            )
            assert done.returncode == 0, (args, done.stdout, done.stderr)
            return done.stdout

        # 1. register a party and make it an Authorised Subscriber (Organisation and Device policies)
        smki(
            "party",
            "register",
            "acme",
            "--name",
            "Acme Energy",
            "--licence",
            "electricity-supply",
            "--id",
            "90-B3-D5-1F-30-01-00-00=import-supplier",
        )
        for policy in ("organisation", "device"):
            for step in ("entry-tests", "apply", "authorise"):
                smki("subscriber", step, "acme", "--policy", policy)
        # 2. a token, printed once
        token = smki("token", "create", "--party", "acme", "--name", "walkthrough").strip()
        assert re.fullmatch(r"smki_[A-Za-z0-9_-]{43}", token)
        auth = {"Authorization": f"Bearer {token}"}
        pem_type = {"Content-Type": "application/x-pem-file"}

        with httpx.Client(base_url=base, timeout=120) as http:
            # 3. an Organisation CSR, submitted as curl --data-binary @acme-ds.csr does
            smki(
                "csr",
                "organisation",
                "--role",
                "supplier",
                "--eui",
                "90-B3-D5-1F-30-01-00-00",
                "--key-out",
                "acme-ds.key",
                "--out",
                "acme-ds.csr",
            )
            org = http.post(
                "/v1/requests", content=(tmp_path / "acme-ds.csr").read_bytes(), headers={**auth, **pem_type}
            )
            assert org.status_code == 201, org.text
            serial = org.json()["serial"]
            assert org.json()["entity_id"] == "90-B3-D5-1F-30-01-00-00"

            # 4. 1,000 Device CSRs in one batch, results streamed as NDJSON
            smki(
                "csr",
                "device",
                "--eui",
                "00-DB-12-34-56-78-00-00",
                "--count",
                str(DEVICES),
                "--key-out",
                "device-keys",
                "--out",
                "devices.pem",
            )
            assert len(list((tmp_path / "device-keys").iterdir())) == DEVICES
            lines = []
            with http.stream(
                "POST",
                "/v1/requests/batch?device_type=ESME",
                content=(tmp_path / "devices.pem").read_bytes(),
                headers={**auth, **pem_type},
            ) as response:
                assert response.status_code == 200
                lines = [json.loads(line) for line in response.iter_lines() if line]
            assert lines[-1] == {
                "summary": {"total": DEVICES, "issued": DEVICES, "failed": 0, "unanswered": 0}
            }
            assert [item["index"] for item in lines[:-1]] == list(range(DEVICES))

            # 5. find one by EUI-64 (device 500 = ...01-F4)
            found = http.get("/v1/repository/certificates", params={"eui": "00-DB-12-34-56-78-01-F4"}).json()
            assert found["count"] == 1 and found["items"][0]["serial"] == lines[500]["serial"]
            assert found["items"][0]["status"]["code"] == "I"

            # 6. revoke the Organisation Certificate
            revoked = http.post(
                f"/v1/certificates/{serial}/revoke", json={"reason": "keyCompromise"}, headers=auth
            )
            assert revoked.status_code == 200, revoked.text

            # 7. publish the CRL, download it and the OCA certificates, verify with openssl
            smki_keys = {**cli_env, "SMKI_KEY_PASSPHRASE_FILE": str(home / "passphrase")}
            done = subprocess.run(
                [SMKI, "crl", "publish", "--ca", "Z1"],
                env=smki_keys,
                capture_output=True,
                text=True,
                check=False,
            )
            assert done.returncode == 0, done.stderr
            (tmp_path / "Z1.crl").write_bytes(http.get("/v1/repository/crl/Z1").content)
            chain = http.get("/ca/Z1.pem").content + http.get("/ca/root-oca.pem").content
            (tmp_path / "oca-chain.pem").write_bytes(chain)
        check = subprocess.run(
            [
                "openssl",
                "crl",
                "-inform",
                "DER",
                "-in",
                "Z1.crl",
                "-CAfile",
                "oca-chain.pem",
                "-verify",
                "-noout",
                "-text",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        )
        assert check.returncode == 0 and "verify OK" in check.stderr + check.stdout, check.stderr
        assert f"Serial Number: {serial}" in check.stdout
        crl = x509.load_der_x509_crl((tmp_path / "Z1.crl").read_bytes())
        assert crl.get_revoked_certificate_by_serial_number(int(serial, 16)) is not None
    log = (tmp_path / "server.log").read_text(errors="replace")
    assert " 500 " not in log and "Traceback" not in log
