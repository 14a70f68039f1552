"""`smki init`: the key ceremony of L3.22-L3.24, refusing a second hierarchy, and keys in SoftHSM2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from typer.testing import CliRunner

from smki import audit
from smki.ca import CertificateAuthorities, IssueRequest, hierarchy_state
from smki.cli.main import app
from smki.keys import Pkcs11Backend, SoftBackend
from smki.model import CertificateKind, EntityId, Hierarchy, KeyUsage, RemotePartyRole
from smki.profiles.contingency import wrapped_contingency_key_of
from smki.profiles.environment import PkiEnvironment
from smki.profiles.lint import lint
from smki.storage import Database, ca_store
from softhsm import SoftHsmToken, softhsm_token  # noqa: F401

PASSPHRASE = "init-test-passphrase"
SMKI = str(Path(sys.executable).parent / "smki")

# L3.24: (certificate, keyUsage, Remote Party Role); EUI-64 defaults from DCC Boxed.
L3_24 = {
    "dcc-recovery": ("L3.23(e)", "digitalSignature", 1, "90-B3-D5-1F-30-00-00-01"),
    "dcc-acb-ds": ("L3.23(f)", "digitalSignature", 4, "90-B3-D5-1F-30-00-00-02"),
    "dcc-acb-ka": ("L3.23(g)", "keyAgreement", 4, "90-B3-D5-1F-30-00-00-02"),
    "dcc-wan-provider": ("L3.23(h)", "digitalSignature", 6, "90-B3-D5-1F-30-00-00-07"),
    "dcc-transitional-cos": ("L3.23(i)", "digitalSignature", 5, "90-B3-D5-1F-30-00-00-04"),
}


def _invoke(args: list[str], url: str, home: Path) -> tuple[int, str, str]:
    runner = CliRunner()
    result = runner.invoke(
        app,
        [*args, "--home", str(home)],
        env={"SMKI_DATABASE_URL": url, "SMKI_KEY_PASSPHRASE": PASSPHRASE, "SMKI_KEY_PASSPHRASE_FILE": None},
    )
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_init_makes_both_hierarchies_and_the_l3_23_commissioning_certificates(
    kind: str, tmp_path: Path, database_url_for
) -> None:  # type: ignore[no-untyped-def]
    url = database_url_for(kind)
    home = tmp_path / "home"
    code, out, err = _invoke(["init", "--json"], url, home)
    assert code == 0, out + err
    made = json.loads(out)

    assert [a["kind"] for a in made["authorities"]] == [
        "root-oca",
        "root-dca",
        "root-ica",
        "issuing-oca",
        "issuing-dca",
        "issuing-ica",
    ]
    by_name = {c["name"]: c for c in made["commissioning"]}
    assert set(by_name) == set(L3_24)
    env = PkiEnvironment()
    issuing_oca = x509.load_pem_x509_certificate((home / "certs" / "issuing-oca.pem").read_bytes())
    for name, (paragraph, usage, role, eui) in L3_24.items():
        item = by_name[name]
        assert (item["paragraph"], item["key_usage"], item["role"], item["entity_id"]) == (
            paragraph,
            usage,
            role,
            eui,
        )
        cert = x509.load_pem_x509_certificate((home / "certs" / f"{name}.pem").read_bytes())
        report = lint(cert, env, issuer=issuing_oca)
        assert report.conforms, report.codes
        assert report.role == RemotePartyRole(role) and report.entity_id == EntityId.parse(eui)
        assert report.key_usage == KeyUsage(usage)

    db = Database(url)
    state = hierarchy_state(db)
    assert state.initialised and len(state.authorities) == 6 and len(state.commissioning) == 5
    assert state.certificates == 11 and state.backend == "soft"
    with db.read_transaction() as tx:
        for item in made["authorities"] + made["commissioning"]:
            row = ca_store.certificate_by_serial(tx, item["serial"])
            assert row is not None and row.subscriber == "DCC"
    assert audit.verify(db).ok
    assert json.loads((home / "environment.json").read_text()) == json.loads(env.to_json())

    # The Root OCA carries the Contingency Public Key wrapped under the Contingency Symmetric Key.
    keys = SoftBackend(home, {"SMKI_KEY_PASSPHRASE": PASSPHRASE})
    root_oca = x509.load_pem_x509_certificate((home / "certs" / "root-oca.pem").read_bytes())
    spki = keys.unwrap(made["contingency_symmetric_key_label"], wrapped_contingency_key_of(env, root_oca))
    contingency = keys.public_key(made["contingency_key_label"])
    assert spki == contingency.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert made["contingency_key_label"] not in {a["key_label"] for a in made["authorities"]}
    keys.close()
    db.dispose()


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_second_init_is_refused_and_force_retires_keeping_everything(
    kind: str, tmp_path: Path, database_url_for
) -> None:  # type: ignore[no-untyped-def]
    url = database_url_for(kind)
    home = tmp_path / "home"
    code, out, _ = _invoke(["init", "--json"], url, home)
    assert code == 0
    first = json.loads(out)

    code, out, err = _invoke(["init"], url, home)
    assert code == 2
    assert "error:" in err and "L3.19(b)" in err and "--force" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1

    code, out, err = _invoke(["init", "--force", "--json"], url, home)
    assert code == 0, out + err
    second = json.loads(out)
    assert second["retired_authorities"] == 6
    db = Database(url)
    state = hierarchy_state(db)
    assert {a.serial_hex for a in state.authorities} == {a["serial"] for a in second["authorities"]}
    with db.read_transaction() as tx:
        assert ca_store.count_certificates(tx) == 22  # the retired hierarchy's certificates are kept
        retired = [r for r in ca_store.all_authorities(tx) if not r.active]
        assert {r.certificate_serial for r in retired} == {a["serial"] for a in first["authorities"]}
    assert (home / "certs" / f"retired-{second['ceremony']}" / "root-oca.pem").is_file()
    keys = SoftBackend(home, {"SMKI_KEY_PASSPHRASE": PASSPHRASE})
    assert all(keys.exists(a["key_label"]) for a in first["authorities"])  # old keys are not destroyed
    keys.close()
    assert audit.verify(db).ok
    db.dispose()


def test_init_takes_the_environment_and_dcc_entity_ids(tmp_path: Path, database_url_for) -> None:  # type: ignore[no-untyped-def]
    url = database_url_for("sqlite")
    home = tmp_path / "home"
    env_file = tmp_path / "env.json"
    env_file.write_text(json.dumps({"issuing_oca_name": "Z2", "root_oca_name": "ZB"}))
    code, out, err = _invoke(
        ["init", "--json", "--env", str(env_file), "--dcc-entity", "wanProvider=00-11-22-33-44-55-66-77"],
        url,
        home,
    )
    assert code == 0, out + err
    made = json.loads(out)
    names = {a["kind"]: a for a in made["authorities"]}
    assert names["issuing-oca"]["issuer"] == "ZB"
    issuing = x509.load_pem_x509_certificate((home / "certs" / "issuing-oca.pem").read_bytes())
    assert issuing.subject.rfc4514_string() == "CN=Z2,OU=07"
    wan = next(c for c in made["commissioning"] if c["name"] == "dcc-wan-provider")
    assert wan["entity_id"] == "00-11-22-33-44-55-66-77" and wan["issuer"] == "Z2"
    assert json.loads((home / "environment.json").read_text())["issuing_oca_name"] == "Z2"


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--dcc-entity", "supplier=00-11-22-33-44-55-66-77"], "init.dcc_entity_role"),
        (["--dcc-entity", "wanProvider"], "init.dcc_entity_syntax"),
        (["--dcc-entity", "wanProvider=zz"], "entity_id.syntax"),
        (["--keys", "paper"], "keys.unknown_backend"),
    ],
)
def test_init_refuses_bad_options_in_one_sentence(
    tmp_path: Path, database_url_for, args: list[str], code: str
) -> None:  # type: ignore[no-untyped-def]
    exit_code, _out, err = _invoke(["init", *args], database_url_for("sqlite"), tmp_path / "home")
    assert exit_code == 2
    assert f"({code})" in err and "Traceback" not in err
    assert not (tmp_path / "home" / "certs").exists()


@pytest.mark.softhsm
def test_init_with_keys_in_softhsm_then_issue(
    tmp_path: Path,
    database_url_for,  # type: ignore[no-untyped-def]
    softhsm_token: SoftHsmToken,  # noqa: F811
) -> None:
    url = database_url_for("sqlite")
    home = tmp_path / "home"
    env = {**os.environ, **softhsm_token.env(), "SMKI_DATABASE_URL": url}
    done = subprocess.run(
        [SMKI, "init", "--home", str(home), "--keys", "pkcs11", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    made = json.loads(done.stdout)
    assert made["key_backend"] == "pkcs11"
    assert not (home / "keys").exists()  # nothing written as software keys

    backend = Pkcs11Backend.from_env(softhsm_token.env())
    try:
        labels = set(backend.labels())
        assert {a["key_label"] for a in made["authorities"]} <= labels
        assert {c["key_label"] for c in made["commissioning"]} <= labels
        assert made["contingency_symmetric_key_label"] in labels
        db = Database(url)
        cas = CertificateAuthorities.open(db, backend, PkiEnvironment())
        subject_key = ec.generate_private_key(ec.SECP256R1()).public_key()
        org = cas.issue(
            IssueRequest(
                kind=CertificateKind.ORGANISATION,
                public_key=subject_key,
                key_usage=KeyUsage.DIGITAL_SIGNATURE,
                entity_id=EntityId.parse("90-B3-D5-1F-30-01-00-00"),
                role=RemotePartyRole.SUPPLIER,
            ),
            actor="ra:test",
        )
        device = cas.issue(
            IssueRequest(
                kind=CertificateKind.DEVICE,
                public_key=ec.generate_private_key(ec.SECP256R1()).public_key(),
                key_usage=KeyUsage.KEY_AGREEMENT,
                entity_id=EntityId.parse("00-DB-12-34-56-78-90-01"),
            ),
            actor="ra:test",
        )
        for issued, hierarchy in ((org, Hierarchy.ORGANISATION), (device, Hierarchy.DEVICE)):
            _openssl_verify(
                tmp_path,
                cas.root_certificate(hierarchy),
                cas.issuing_ca_certificate(hierarchy),
                issued.certificate,
            )
            assert lint(
                issued.certificate, PkiEnvironment(), issuer=cas.issuing_ca_certificate(hierarchy)
            ).conforms
        assert audit.verify(db).ok
        db.dispose()
    finally:
        backend.close()


def _openssl_verify(
    directory: Path, root: x509.Certificate, issuing: x509.Certificate, leaf: x509.Certificate
) -> None:
    paths = []
    for name, cert in (("root", root), ("issuing", issuing), ("leaf", leaf)):
        path = directory / f"{name}.pem"
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        paths.append(str(path))
    done = subprocess.run(
        ["openssl", "verify", "-x509_strict", "-CAfile", paths[0], "-untrusted", paths[1], paths[2]],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
