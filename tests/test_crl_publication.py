"""CRL and ARL publication on SQLite and PostgreSQL: signed lists that openssl verifies, revoked serials
with reasons, cRLNumber increasing, files under HOME/crl, what is due, ARLs that make openssl refuse a
chain through a revoked Issuing CA, and the `smki revoke` / `smki crl` / `smki repo` commands."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from typer.testing import CliRunner

from smki import audit, repository
from smki.ca import CertificateAuthorities, IssuedCertificate, IssueRequest, create_hierarchy, crls
from smki.ca import revocation as ca_revocation
from smki.cli.main import app
from smki.keys import SoftBackend
from smki.model import (
    CertificateKind,
    EntityId,
    Hierarchy,
    InvalidInput,
    KeyUsage,
    PolicyRefusal,
    RemotePartyRole,
    SmkiError,
)
from smki.profiles.crl import check_crl
from smki.profiles.environment import PkiEnvironment
from smki.storage import Database

ENV = PkiEnvironment()
PASSPHRASE = "crl-test-passphrase"
SUPPLIER = EntityId.parse("90-B3-D5-1F-30-01-00-00")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def keys(home: Path) -> Iterator[SoftBackend]:
    backend = SoftBackend(home, {"SMKI_KEY_PASSPHRASE": PASSPHRASE})
    yield backend
    backend.close()


@pytest.fixture
def cas(database: Database, keys: SoftBackend) -> CertificateAuthorities:
    create_hierarchy(database, keys, ENV, actor="test")
    return CertificateAuthorities.open(database, keys, ENV)


def issue_org(cas: CertificateAuthorities) -> IssuedCertificate:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    request = IssueRequest(
        kind=CertificateKind.ORGANISATION,
        public_key=key,
        key_usage=KeyUsage.DIGITAL_SIGNATURE,
        entity_id=SUPPLIER,
        role=RemotePartyRole.SUPPLIER,
        subscriber="acme",
    )
    return cas.issue(request, actor="t")


def pem_file(path: Path, *certs: x509.Certificate) -> Path:
    path.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in certs))
    return path


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)


def test_crl_after_revocation_lists_the_serial_with_its_reason_and_openssl_verifies_it(
    database: Database, cas: CertificateAuthorities, keys: SoftBackend, home: Path, tmp_path: Path
) -> None:
    with pytest.raises(SmkiError) as none_yet:
        crls.latest_crl(database, "Z1")
    assert none_yet.value.code == "crl.not_found"
    kept = issue_org(cas)
    gone = issue_org(cas)
    ca_revocation.revoke(database, gone.serial_hex, x509.ReasonFlags.key_compromise, actor="op")
    now = datetime.now(UTC).replace(microsecond=0)
    published = crls.publish_crl(database, keys, "Z1", home=home, now=now, actor="op")
    assert (published.ca_name, published.list_kind, published.number, published.entries) == (
        "Z1",
        "CRL",
        1,
        1,
    )
    assert published.this_update == now and published.next_update == now + crls.DEFAULT_INTERVAL

    crl = x509.load_der_x509_crl(crls.latest_crl(database, "Z1"))
    issuing = cas.issuing_ca_certificate(Hierarchy.ORGANISATION)
    assert check_crl(crl, issuing) == []
    entry = crl.get_revoked_certificate_by_serial_number(gone.serial)
    assert entry is not None
    assert (
        entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        is x509.ReasonFlags.key_compromise
    )
    assert crl.get_revoked_certificate_by_serial_number(kept.serial) is None
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 1
    assert crls.latest_crl(database, "issuing-oca") == published.der  # by kind too
    assert (home / "crl" / "Z1.crl").read_bytes() == published.der
    assert (
        x509.load_pem_x509_crl((home / "crl" / "Z1.pem").read_bytes()).public_bytes(Encoding.DER)
        == published.der
    )

    bundle = pem_file(tmp_path / "bundle.pem", issuing, cas.root_certificate(Hierarchy.ORGANISATION))
    result = openssl(
        "crl",
        "-in",
        str(home / "crl" / "Z1.crl"),
        "-inform",
        "DER",
        "-CAfile",
        str(bundle),
        "-noout",
        "-verify",
    )
    assert result.returncode == 0 and "verify OK" in result.stdout + result.stderr, result
    wrong = pem_file(
        tmp_path / "wrong.pem", cas.issuing_ca_certificate(Hierarchy.IKI), cas.root_certificate(Hierarchy.IKI)
    )
    refused = openssl(
        "crl",
        "-in",
        str(home / "crl" / "Z1.crl"),
        "-inform",
        "DER",
        "-CAfile",
        str(wrong),
        "-noout",
        "-verify",
    )
    assert "verify OK" not in refused.stdout + refused.stderr

    history = audit.log.entries_for(database, "crl", "Z1/1")
    assert [h.action for h in history] == ["ca.crl_published"] and history[0].details["entries"] == 1


def test_crl_number_increases_on_each_publish_and_only_the_latest_is_served(
    database: Database, cas: CertificateAuthorities, keys: SoftBackend
) -> None:
    numbers = [crls.publish_crl(database, keys, "I1").number for _ in range(3)]
    assert numbers == [1, 2, 3]
    crl = x509.load_der_x509_crl(crls.latest_crl(database, "I1"))
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 3
    assert len(crl) == 0 and check_crl(crl, cas.issuing_ca_certificate(Hierarchy.IKI)) == []
    assert crls.latest_publication(database, "I1").number == 3
    assert crls.publish_crl(database, keys, "Z1").number == 1  # per CA
    with pytest.raises(InvalidInput) as dca:
        crls.publish_crl(database, keys, "E357")
    assert dca.value.code == "crl.not_an_issuer"
    with pytest.raises(SmkiError) as unknown:
        crls.publish_crl(database, keys, "nope")
    assert unknown.value.code == "crl.unknown_ca"
    with pytest.raises(InvalidInput):
        crls.publish_crl(database, keys, "Z1", interval=timedelta(0))


class CountingSigner:
    """The CA key, counting what it signs; with ``forge`` set it returns a signature of another key."""

    def __init__(self, signer: ec.EllipticCurvePrivateKey, *, forge: bool = False) -> None:
        self.signer = signer
        self.forge = forge
        self.signed = 0

    def sign(self, data: bytes, algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        self.signed += 1
        if self.forge:
            return ec.generate_private_key(ec.SECP256R1()).sign(data, algorithm)
        return self.signer.sign(data, algorithm)


def counting_signer(
    monkeypatch: pytest.MonkeyPatch, keys: SoftBackend, *, forge: bool = False
) -> list[CountingSigner]:
    made: list[CountingSigner] = []
    real = keys.signer

    def signer(label: str) -> CountingSigner:
        made.append(CountingSigner(real(label), forge=forge))
        return made[-1]

    monkeypatch.setattr(keys, "signer", signer)
    return made


def wrong_issuer_name(issuer: crls._Issuer) -> tuple[x509.Name, bytes]:
    ski = issuer.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    return issuer.certificate.issuer, ski  # the Root's name on the Issuing CA's list


def wrong_key_identifier(issuer: crls._Issuer) -> tuple[x509.Name, bytes]:
    return issuer.certificate.subject, bytes(8)


@pytest.mark.parametrize(
    ("breakage", "finding"), [(wrong_issuer_name, "crl.issuer"), (wrong_key_identifier, "crl.aki")]
)
def test_a_crl_that_breaks_its_profile_is_refused_before_the_ca_key_signs_and_takes_no_number(
    database: Database,
    cas: CertificateAuthorities,
    keys: SoftBackend,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    breakage: object,
    finding: str,
) -> None:
    gone = issue_org(cas)
    ca_revocation.revoke(database, gone.serial_hex, x509.ReasonFlags.key_compromise, actor="op")
    signers = counting_signer(monkeypatch, keys)
    with monkeypatch.context() as broken:
        broken.setattr(crls, "_envelope", breakage)
        with pytest.raises(PolicyRefusal) as refused:
            crls.publish_crl(database, keys, "Z1", home=home, actor="op")
    assert refused.value.code == "crl.lint_failed"
    assert f"({finding}: " in refused.value.message and "CRL of Z1 was not signed" in refused.value.message
    assert len(refused.value.message.splitlines()) == 1
    assert [s.signed for s in signers] == [0]  # the CA key signed nothing
    with pytest.raises(SmkiError) as none:
        crls.latest_crl(database, "Z1")
    assert none.value.code == "crl.not_found"
    assert not (home / "crl").exists()
    assert audit.log.entries_for(database, "crl", "Z1/1") == []
    assert crls.due(database) == crls.issuer_names(database)  # nothing was published

    published = crls.publish_crl(database, keys, "Z1", home=home, actor="op")
    assert published.number == 1 and published.entries == 1  # the refused attempt took no cRLNumber
    assert [s.signed for s in signers] == [0, 1]


def test_a_list_whose_signature_does_not_verify_is_refused_before_it_is_stored(
    database: Database, cas: CertificateAuthorities, keys: SoftBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    signers = counting_signer(monkeypatch, keys, forge=True)
    with pytest.raises(PolicyRefusal) as refused:
        crls.publish_crl(database, keys, "root-oca")
    assert refused.value.code == "crl.lint_failed" and "(crl.signature: " in refused.value.message
    assert "ARL of " in refused.value.message
    assert [s.signed for s in signers] == [1]
    with pytest.raises(SmkiError) as none:
        crls.latest_crl(database, "root-oca")
    assert none.value.code == "crl.not_found"
    monkeypatch.undo()
    assert crls.publish_crl(database, keys, "root-oca").number == 1


def test_revoked_issuing_ca_goes_on_the_root_arl_and_openssl_then_rejects_a_leaf(
    database: Database, cas: CertificateAuthorities, keys: SoftBackend, home: Path, tmp_path: Path
) -> None:
    leaf = issue_org(cas)
    root = cas.root_certificate(Hierarchy.ORGANISATION)
    issuing = cas.issuing_ca_certificate(Hierarchy.ORGANISATION)
    root_file = pem_file(tmp_path / "root.pem", root)
    issuing_file = pem_file(tmp_path / "issuing.pem", issuing)
    leaf_file = pem_file(tmp_path / "leaf.pem", leaf.certificate)
    crl_dir = home / "crl"

    def verify() -> subprocess.CompletedProcess[str]:
        return openssl(
            "verify", "-crl_check_all", "-CAfile", str(root_file), "-untrusted", str(issuing_file),
            "-CRLfile", str(crl_dir / "ZA.pem"), "-CRLfile", str(crl_dir / "Z1.pem"), str(leaf_file),
        )  # fmt: skip

    published = crls.publish_all(database, keys, home=home)
    assert sorted(p.ca_name for p in published) == ["E300", "I1", "IA", "Z1", "ZA"]
    ok = verify()
    assert ok.returncode == 0, ok

    issuing_serial = f"{issuing.serial_number:X}"
    done = ca_revocation.revoke(database, issuing_serial, x509.ReasonFlags.ca_compromise, actor="op")
    assert done.list_kind == "ARL" and done.issuer_name == "ZA"
    arl = crls.publish_crl(database, keys, "ZA", home=home)
    assert arl.list_kind == "ARL" and arl.number == 2 and arl.entries == 1
    parsed = x509.load_der_x509_crl(arl.der)
    assert check_crl(parsed, root) == [] and parsed.get_revoked_certificate_by_serial_number(
        issuing.serial_number
    )
    rejected = verify()
    assert rejected.returncode != 0 and "certificate revoked" in rejected.stdout + rejected.stderr


def test_publish_due_publishes_what_is_missing_stale_or_behind_a_revocation(
    database: Database, cas: CertificateAuthorities, keys: SoftBackend, home: Path
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    assert sorted(crls.due(database, now=now)) == ["E300", "I1", "IA", "Z1", "ZA"]
    first = crls.publish_due(database, keys, home, now=now)
    assert len(first) == 5 and all(p.number == 1 for p in first)
    assert crls.due(database, now=now) == [] and crls.publish_due(database, keys, home, now=now) == []
    cert = issue_org(cas)
    ca_revocation.revoke(database, cert.serial_hex, x509.ReasonFlags.superseded, actor="op")
    assert crls.due(database, now=now) == ["Z1"]
    again = crls.publish_due(database, keys, home, now=now + timedelta(seconds=1))
    assert [(p.ca_name, p.number, p.entries) for p in again] == [("Z1", 2, 1)]
    # more than half an interval on, nextUpdate is near: everything is due again
    assert crls.due(database, now=now + timedelta(hours=11)) == []
    assert len(crls.due(database, now=now + timedelta(hours=13))) == 5


class Cli:
    def __init__(self, url: str, home: Path) -> None:
        self.url, self.home, self.runner = url, home, CliRunner()

    def __call__(self, *args: str, code: int = 0) -> str:
        result = self.runner.invoke(
            app,
            [*args, "--home", str(self.home)],
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
def test_cli_repo_revoke_and_crl_commands(kind: str, tmp_path: Path, database_url_for) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    cli = Cli(database_url_for(kind), home)
    cli("init", "--json")
    page = json.loads(cli("repo", "search", "--kind", "organisation", "--usage", "DS", "--json"))
    assert page["next_after"] is None and {i["kind"] for i in page["items"]} == {"organisation"}
    serial = page["items"][0]["serial"]
    assert json.loads(cli("repo", "get", serial, "--json"))["status"]["code"] == "I"
    assert cli("repo", "get", serial, "--pem").startswith("-----BEGIN CERTIFICATE-----")
    err = cli("repo", "get", "7F" * 16, code=2)
    assert "(repository.not_found)" in err and err.count("\n") == 1
    assert "(certificate_status.unknown)" in cli("repo", "search", "--status", "X", code=2)

    cli("party", "register", "acme", "--name", "Acme", "--licence", "electricity-supply",
        "--id", "90-B3-D5-1F-30-01-00-00=import-supplier")  # fmt: skip
    refused = cli("revoke", serial, "--reason", "keyCompromise", "--as-party", "acme", code=2)
    assert "[Appendix B 4.9.2] (revocation.not_subscriber)" in refused
    done = json.loads(cli("revoke", serial, "--reason", "keyCompromise", "--publish", "--json"))
    assert done["list"] == "CRL of Z1" and done["published"][0]["number"] == 1
    assert "(revocation.already_revoked)" in cli("revoke", serial, "--reason", "superseded", code=2)
    assert "(revocation.reason)" in cli("revoke", serial, "--reason", "certificateHold", code=2)

    shown = json.loads(cli("crl", "show", "Z1", "--json"))
    assert shown["number"] == 1 and [e["serial"] for e in shown["revoked"]] == [serial]
    assert shown["revoked"][0]["reason"] == "keyCompromise"
    assert "(crl.which)" in cli("crl", "publish", code=2)
    published = json.loads(cli("crl", "publish", "--all", "--json"))
    assert {p["ca"]: p["number"] for p in published}["Z1"] == 2
    assert json.loads(cli("crl", "publish", "--due", "--json")) == []
    assert "(crl.not_found)" in cli("crl", "show", "E357", code=2)
    assert (home / "crl" / "ZA.crl").is_file()

    out_file = tmp_path / "full.jsonl"
    cli("repo", "extract", "-o", str(out_file))
    lines = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert lines[0]["extract"] == "full" and lines[-1]["certificates"] == len(lines) - 2
    mark = lines[0]["as_of_change_seq"]
    assert serial in {line.get("serial") for line in lines}
    incremental = [
        json.loads(line) for line in cli("repo", "extract", "--since-seq", str(mark), "--quiet").splitlines()
    ]
    assert incremental[1:-1] == [] and incremental[-1]["last_change_seq"] == mark
    pem = cli("repo", "extract", "--format", "pem", "--quiet")
    assert len(x509.load_pem_x509_certificates(pem.encode())) == lines[-1]["certificates"]
    assert len(repository.FORMATS) == 2
