"""The public repository endpoints on SQLite and PostgreSQL: search by EUI-64/usage/role/status/kind with
pages, a certificate as JSON, PEM and DER, extracts, and every malformed parameter as 400/422 JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from fastapi.testclient import TestClient

from smki.api.app import create_app
from smki.ca import CertificateAuthorities, create_hierarchy, crls
from smki.keys import SoftBackend
from smki.model import EntityId, Hierarchy, KeyUsage, RemotePartyRole
from smki.policy import Licence, Party, PartyIdentifier, PartyType, SubscriberEvent, UserRole
from smki.policy.eligibility import DeviceType
from smki.profiles.environment import PkiEnvironment
from smki.ra import RegistrationAuthority, parties, subscribers
from smki.ra.revocation import request_revocation
from smki.storage import Database
from smki.subscriber_tools import csr_builder

PASSPHRASE = "api-repository-test-passphrase"
ENV = PkiEnvironment()
SUPPLIER_ID = EntityId.parse("90-B3-D5-1F-30-01-00-00")
DEVICE_IDS = [EntityId.parse(f"00-DB-12-34-56-78-90-{n:02X}") for n in range(5)]


@pytest.fixture
def client(database: Database, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    home = tmp_path / "home"
    keys = SoftBackend(home, {"SMKI_KEY_PASSPHRASE": PASSPHRASE})
    create_hierarchy(database, keys, ENV, actor="test")
    parties.register_party(
        database,
        Party(
            "elec",
            "Elec Supply",
            PartyType.PARTY,
            frozenset({Licence.ELECTRICITY_SUPPLY}),
            (PartyIdentifier(SUPPLIER_ID, UserRole.IMPORT_SUPPLIER),),
        ),
        actor="dcc-ra",
    )
    for policy in (Hierarchy.ORGANISATION, Hierarchy.DEVICE):
        subscribers.record_entry_tests(database, "elec", policy, actor="dcc-ra")
        subscribers.move(database, "elec", policy, SubscriberEvent.APPLY, actor="elec")
        subscribers.move(database, "elec", policy, SubscriberEvent.DCC_AUTHORISES, actor="dcc-ra")
    ra = RegistrationAuthority(database, CertificateAuthorities.open(database, keys, ENV), ENV)
    serials: dict[str, str] = {}
    for usage in (KeyUsage.DIGITAL_SIGNATURE, KeyUsage.KEY_AGREEMENT):
        csr, _ = csr_builder.organisation_csr(SUPPLIER_ID, RemotePartyRole.SUPPLIER, usage)
        serials[usage.short] = ra.submit(csr_builder.csr_pem(csr), party_id="elec", actor="test").serial_hex
    for n, device in enumerate(DEVICE_IDS):
        csr, _ = csr_builder.device_csr(device, KeyUsage.DIGITAL_SIGNATURE, ENV)
        serials[f"device{n}"] = ra.submit(
            csr_builder.csr_pem(csr),
            party_id="elec",
            actor="test",
            device_type=DeviceType.ELECTRICITY_SMART_METER,
        ).serial_hex
    with TestClient(create_app(home, database=database)) as test_client:
        yield test_client, serials


def test_search_by_eui_usage_role_and_kind(client: tuple[TestClient, dict[str, str]]) -> None:
    api, serials = client
    found = api.get("/v1/repository/certificates", params={"eui": "90b3d51f30010000"}).json()
    assert sorted(i["serial"] for i in found["items"]) == sorted([serials["DS"], serials["KA"]])
    ka = api.get(
        "/v1/repository/certificates", params={"eui": SUPPLIER_ID.dashed, "usage": "KA", "role": "supplier"}
    ).json()
    assert [i["serial"] for i in ka["items"]] == [serials["KA"]]
    assert ka["items"][0]["status"]["code"] == "I"
    device = api.get("/v1/repository/certificates", params={"eui": DEVICE_IDS[2].dashed}).json()
    assert [i["serial"] for i in device["items"]] == [serials["device2"]]
    assert device["items"][0]["kind"] == "device"
    in_use = api.get("/v1/repository/certificates", params={"kind": "device", "status": "I"}).json()
    assert in_use["count"] == len(DEVICE_IDS)
    nothing = api.get("/v1/repository/certificates", params={"eui": SUPPLIER_ID.dashed, "status": "R"}).json()
    assert nothing["items"] == [] and nothing["next_after"] is None


def test_search_pages_do_not_repeat_or_skip(client: tuple[TestClient, dict[str, str]]) -> None:
    api, _ = client
    seen: list[str] = []
    url, params = "/v1/repository/certificates", {"kind": "device", "limit": "2"}
    while True:
        page = api.get(url, params=params).json()
        seen += [i["serial"] for i in page["items"]]
        if page["next_after"] is None:
            assert page["links"]["next"] is None
            break
        assert "after=" in page["links"]["next"]
        params = {**params, "after": page["next_after"]}
    assert len(seen) == len(set(seen)) == len(DEVICE_IDS)


def test_certificate_as_json_pem_and_der(client: tuple[TestClient, dict[str, str]]) -> None:
    api, serials = client
    serial = serials["DS"]
    body = api.get(f"/v1/repository/certificates/{serial}").json()
    assert body["serial"] == serial and body["entity_id"] == SUPPLIER_ID.dashed
    pem = api.get(f"/v1/repository/certificates/{serial.lower()}.pem")
    assert pem.status_code == 200 and pem.headers["content-type"].startswith("application/x-pem-file")
    der = api.get(f"/v1/repository/certificates/{serial}.der")
    assert der.headers["content-type"] == "application/pkix-cert"
    assert x509.load_pem_x509_certificate(pem.content) == x509.load_der_x509_certificate(der.content)
    assert format(x509.load_der_x509_certificate(der.content).serial_number, "X").zfill(len(serial)) == serial


def test_full_and_incremental_extracts_stream_jsonl(client: tuple[TestClient, dict[str, str]]) -> None:
    api, serials = client
    full = api.get("/v1/repository/extract")
    assert full.status_code == 200 and full.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in full.text.splitlines()]
    assert lines[0]["extract"] == "full"
    assert set(serials.values()) <= {line.get("serial") for line in lines}
    as_of = lines[0]["as_of_change_seq"]
    incremental = api.get("/v1/repository/extract", params={"since_sequence": as_of})
    body = [json.loads(line) for line in incremental.text.splitlines()]
    assert body[0]["extract"] == "incremental"
    assert not [line for line in body if "serial" in line]
    pem = api.get("/v1/repository/extract", params={"format": "pem"})
    assert pem.text.count("-----BEGIN CERTIFICATE-----") >= len(serials)


def test_crl_lists_a_revoked_certificate_and_verifies_arl_too(
    client: tuple[TestClient, dict[str, str]], database: Database, tmp_path: Path
) -> None:
    api, serials = client
    assert api.get("/v1/repository/crl/Z1").json()["code"] == "crl.not_found"
    request_revocation(
        database,
        party_id="elec",
        serial_hex=serials["DS"],
        reason=x509.ReasonFlags.key_compromise,
        actor="elec",
    )
    keys = SoftBackend(tmp_path / "home", {"SMKI_KEY_PASSPHRASE": PASSPHRASE})
    crls.publish_crl(database, keys, "Z1", actor="test")
    crls.publish_crl(database, keys, "ZA", actor="test")
    der = api.get("/v1/repository/crl/Z1")
    assert der.status_code == 200 and der.headers["content-type"] == "application/pkix-crl"
    crl = x509.load_der_x509_crl(der.content)
    issuing = x509.load_pem_x509_certificate(api.get("/ca/Z1.pem").content)
    assert crl.is_signature_valid(issuing.public_key())  # type: ignore[arg-type]
    assert crl.get_revoked_certificate_by_serial_number(int(serials["DS"], 16)) is not None
    assert crl.get_revoked_certificate_by_serial_number(int(serials["KA"], 16)) is None
    pem = api.get("/v1/repository/crl/Z1", params={"format": "pem"})
    assert pem.text.startswith("-----BEGIN X509 CRL-----")
    assert x509.load_pem_x509_crl(pem.content) == crl
    arl = x509.load_der_x509_crl(api.get("/v1/repository/arl/ZA").content)
    root = x509.load_pem_x509_certificate(api.get("/ca/ZA.pem").content)
    assert arl.is_signature_valid(root.public_key())  # type: ignore[arg-type]
    assert api.get("/v1/repository/crl/ZA").json()["code"] == "crl.not_found"
    assert api.get("/v1/repository/arl/Z1").json()["code"] == "crl.not_found"
    status = api.get(f"/v1/repository/certificates/{serials['DS']}").json()
    assert status["status"]["code"] == "R" and status["revocation_reason"] == "keyCompromise"
    revoked = api.get("/v1/repository/certificates", params={"status": "R"}).json()
    assert [i["serial"] for i in revoked["items"]] == [serials["DS"]]


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/v1/repository/certificates", {"eui": "not-an-eui"}, 400, "entity_id.syntax"),
        ("/v1/repository/certificates", {"eui": "90-B3-D5-1F-30-01-00"}, 400, None),
        ("/v1/repository/certificates", {"usage": "XX"}, 400, None),
        ("/v1/repository/certificates", {"role": "chancellor"}, 400, None),
        ("/v1/repository/certificates", {"status": "Z"}, 400, "certificate_status.unknown"),
        ("/v1/repository/certificates", {"kind": "mystery"}, 400, "certificate_kind.unknown"),
        ("/v1/repository/certificates", {"limit": "0"}, 422, "request.invalid"),
        ("/v1/repository/certificates", {"limit": "many"}, 422, "request.invalid"),
        ("/v1/repository/certificates", {"after": "abc"}, 400, "repository.bad_cursor"),
        ("/v1/repository/certificates", {"issuer": "Z1;DROP"}, 400, "ca.name_syntax"),
        ("/v1/repository/certificates/NOTHEX", {}, 400, "serial.syntax"),
        ("/v1/repository/certificates/" + "A" * 41, {}, 400, "serial.syntax"),
        ("/v1/repository/certificates/0123.txt", {}, 400, "download.bad_extension"),
        ("/v1/repository/certificates/0123456789ABCDEF", {}, 404, "repository.not_found"),
        ("/v1/repository/extract", {"since_sequence": "-1"}, 422, "request.invalid"),
        ("/v1/repository/extract", {"since_time": "2026-01-01T00:00:00"}, 400, "repository.bad_since"),
        ("/v1/repository/extract", {"format": "xml"}, 422, "request.invalid"),
        ("/v1/repository/crl/Z1", {"format": "txt"}, 422, "request.invalid"),
        ("/v1/repository/crl/NOSUCHCA", {}, 404, None),
        ("/v1/repository/crl/bad%2Fname", {}, 404, None),
        ("/v1/repository/arl/%00", {}, 400, "ca.name_syntax"),
    ],
)
def test_bad_parameters_are_4xx_json_with_a_code(
    client: tuple[TestClient, dict[str, str]],
    path: str,
    params: dict[str, str],
    status: int,
    code: str | None,
) -> None:
    api, _ = client
    response = api.get(path, params=params)
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message", "clause"}
    if code is not None:
        assert body["code"] == code
