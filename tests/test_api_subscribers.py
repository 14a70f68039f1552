"""The subscriber API on SQLite and PostgreSQL: bearer tokens (401), token scope and the RA's refusals
(403 with the RA's clause), issuing over HTTP, fetching and revoking one's own certificates, and bad
input as 4xx JSON.

Real hierarchy, real keys, real CSRs; the app is the one `smki serve` runs, driven in-process.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from fastapi.testclient import TestClient

from smki.api.app import create_app
from smki.ca import create_hierarchy
from smki.keys import SoftBackend
from smki.model import EntityId, Hierarchy, KeyUsage, PolicyRefusal, RemotePartyRole, SmkiError
from smki.policy import Licence, Party, PartyIdentifier, PartyType, SubscriberEvent, UserRole
from smki.profiles.environment import PkiEnvironment
from smki.ra import RegistrationAuthority, parties, subscribers, tokens
from smki.ra.authority import CertificateRequest
from smki.storage import Database, audit_store
from smki.subscriber_tools import csr_builder

PASSPHRASE = "api-subscriber-test-passphrase"
ENV = PkiEnvironment()
SUPPLIER_ID = EntityId.parse("90-B3-D5-1F-30-01-00-00")
DNO_ID = EntityId.parse("90-B3-D5-1F-30-02-00-00")


def authorise(db: Database, party_id: str, policy: Hierarchy) -> None:
    subscribers.record_entry_tests(db, party_id, policy, actor="dcc-ra")
    subscribers.move(db, party_id, policy, SubscriberEvent.APPLY, actor=party_id)
    subscribers.move(db, party_id, policy, SubscriberEvent.DCC_AUTHORISES, actor="dcc-ra")


@dataclass
class Api:
    db: Database
    client: TestClient
    supplier_token: str
    dno_token: str

    @staticmethod
    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api(database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    home = tmp_path / "home"
    monkeypatch.setenv("SMKI_KEY_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("SMKI_KEY_PASSPHRASE_FILE", raising=False)
    create_hierarchy(database, SoftBackend(home, {"SMKI_KEY_PASSPHRASE": PASSPHRASE}), ENV, actor="test")
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
    parties.register_party(
        database,
        Party(
            "dno",
            "Wires",
            PartyType.PARTY,
            frozenset({Licence.ELECTRICITY_DISTRIBUTION}),
            (PartyIdentifier(DNO_ID, UserRole.ELECTRICITY_DISTRIBUTOR),),
        ),
        actor="dcc-ra",
    )
    for party_id in ("elec", "dno"):
        for policy in (Hierarchy.ORGANISATION, Hierarchy.DEVICE):
            authorise(database, party_id, policy)
    supplier = tokens.create_token(database, "elec", actor="dcc-ra").text
    dno = tokens.create_token(database, "dno", actor="dcc-ra").text
    with TestClient(create_app(home, database=database)) as client:
        yield Api(database, client, supplier, dno)


def org_csr(role: RemotePartyRole = RemotePartyRole.SUPPLIER, eui: EntityId = SUPPLIER_ID) -> str:
    csr, _key = csr_builder.organisation_csr(eui, role, KeyUsage.DIGITAL_SIGNATURE)
    return csr_builder.csr_pem(csr).decode("ascii")


def assert_error(response, status: int, code: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message", "clause"}
    assert body["code"] == code, body
    return body  # type: ignore[no-any-return]


# --- authentication -------------------------------------------------------------------------------


def test_no_token_is_401_json_with_bearer_challenge(api: Api) -> None:
    response = api.client.post("/v1/requests", json={"csr_pem": org_csr()})
    assert_error(response, 401, "auth.missing")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "header",
    [
        "Bearer smki_" + "A" * 43,  # well formed, never issued
        "Bearer not-a-token",
        "Basic dXNlcjpwYXNz",
    ],
)
def test_unknown_or_malformed_token_is_401(api: Api, header: str) -> None:
    response = api.client.post("/v1/requests", json={"csr_pem": org_csr()}, headers={"Authorization": header})
    assert response.status_code == 401, response.text
    assert response.json()["code"] in ("auth.invalid", "auth.missing")


def test_revoked_token_is_401(api: Api) -> None:
    made = tokens.create_token(api.db, "elec", [Hierarchy.ORGANISATION], actor="dcc-ra")
    ok = api.client.post("/v1/requests", json={"csr_pem": org_csr()}, headers=api.bearer(made.text))
    assert ok.status_code == 201, ok.text
    tokens.revoke_token(api.db, made.token.token_id, actor="dcc-ra")
    response = api.client.post("/v1/requests", json={"csr_pem": org_csr()}, headers=api.bearer(made.text))
    assert_error(response, 401, "auth.revoked")


def test_expired_token_is_401(api: Api) -> None:
    long_ago = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    made = tokens.create_token(api.db, "elec", actor="dcc-ra", expires_days=2, clock=lambda: long_ago)
    response = api.client.post("/v1/requests", json={"csr_pem": org_csr()}, headers=api.bearer(made.text))
    assert_error(response, 401, "auth.expired")
    fresh = tokens.create_token(api.db, "elec", actor="dcc-ra", expires_days=2)
    response = api.client.post("/v1/requests", json={"csr_pem": org_csr()}, headers=api.bearer(fresh.text))
    assert response.status_code == 201, response.text


def test_only_the_hash_of_a_token_is_stored_and_its_making_is_audited(api: Api) -> None:
    made = tokens.create_token(api.db, "dno", [Hierarchy.DEVICE], name="meters", actor="dcc-ra")
    assert made.text.startswith("smki_") and len(made.text) == 48
    with api.db.read_transaction() as tx:
        from smki.storage import token_store

        row = token_store.token_by_id(tx, made.token.token_id)
        assert row is not None
        assert row.token_sha256 == tokens.token_sha256(made.text)
        assert made.text not in repr(row)
        entries = audit_store.entries_for_object(tx, "api.token", str(made.token.token_id))
        assert [e.action for e in entries] == ["api.token.create"]
        assert made.text not in entries[0].details and row.token_sha256 not in entries[0].details


# --- token scope and the RA's refusals ------------------------------------------------------------


def test_token_for_a_policy_the_party_is_not_authorised_under_is_refused_with_the_ra_clause(api: Api) -> None:
    with pytest.raises(PolicyRefusal) as refused:
        tokens.create_token(api.db, "elec", [Hierarchy.IKI], actor="dcc-ra")
    assert refused.value.code == "subscriber.not_authorised"
    assert refused.value.clause == "L3.15(b)"


def test_supplier_asking_for_a_network_operator_certificate_is_403_with_the_ra_clause(api: Api) -> None:
    csr = org_csr(RemotePartyRole.NETWORK_OPERATOR, SUPPLIER_ID)
    ra = RegistrationAuthority(api.db, None, ENV)
    with pytest.raises(SmkiError) as expected:
        ra.check(CertificateRequest(csr=csr.encode(), party_id="elec"))
    assert isinstance(expected.value, PolicyRefusal) and expected.value.clause
    response = api.client.post("/v1/requests", json={"csr_pem": csr}, headers=api.bearer(api.supplier_token))
    body = assert_error(response, 403, expected.value.code)
    assert body["clause"] == expected.value.clause
    assert body["message"] == expected.value.message


def test_token_not_made_for_the_policy_of_the_csr_is_403(api: Api) -> None:
    device_only = tokens.create_token(api.db, "elec", [Hierarchy.DEVICE], actor="dcc-ra").text
    response = api.client.post("/v1/requests", json={"csr_pem": org_csr()}, headers=api.bearer(device_only))
    assert_error(response, 403, "token.policy_not_granted")


def test_party_that_ceased_to_be_authorised_is_refused_even_with_a_live_token(api: Api) -> None:
    subscribers.move(
        api.db, "elec", Hierarchy.ORGANISATION, SubscriberEvent.DCC_FINDS_CRITERIA_NO_LONGER_MET, actor="dcc"
    )
    response = api.client.post(
        "/v1/requests", json={"csr_pem": org_csr()}, headers=api.bearer(api.supplier_token)
    )
    body = assert_error(response, 403, "subscriber.not_authorised")
    assert body["clause"] == "L3.15(b)"


# --- issuing --------------------------------------------------------------------------------------


def test_supplier_gets_its_organisation_certificate_from_json_and_from_pem(api: Api) -> None:
    response = api.client.post(
        "/v1/requests", json={"csr_pem": org_csr()}, headers=api.bearer(api.supplier_token)
    )
    assert response.status_code == 201, response.text
    body = response.json()
    cert = x509.load_pem_x509_certificate(body["pem"].encode())
    assert format(cert.serial_number, "X").zfill(len(body["serial"])) == body["serial"]
    assert body["subscriber"] == "elec" and body["kind"] == "organisation" and body["role"] == 2
    assert body["entity_id"] == SUPPLIER_ID.dashed

    pem = api.client.post(
        "/v1/requests",
        content=org_csr(),
        headers={**api.bearer(api.supplier_token), "Content-Type": "application/x-pem-file"},
    )
    assert pem.status_code == 201, pem.text
    assert pem.json()["serial"] != body["serial"]


def test_device_csr_needs_its_device_type(api: Api) -> None:
    csr, _ = csr_builder.device_csr(
        EntityId.parse("00-DB-12-34-56-78-90-01"), KeyUsage.DIGITAL_SIGNATURE, ENV
    )
    pem = csr_builder.csr_pem(csr).decode()
    missing = api.client.post("/v1/requests", json={"csr_pem": pem}, headers=api.bearer(api.supplier_token))
    assert_error(missing, 400, "request.device_type_required")
    ok = api.client.post(
        "/v1/requests",
        json={"csr_pem": pem, "device_type": "ESME"},
        headers=api.bearer(api.supplier_token),
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["kind"] == "device"


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"content": b"", "headers": {"Content-Type": "application/x-pem-file"}}, 400, "request.empty"),
        ({"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 400, "request.bad_json"),
        ({"json": {"csr_pem": "x", "surprise": 1}}, 422, "request.invalid"),
        ({"json": ["not", "an", "object"]}, 422, "request.invalid"),
        ({"json": {"csr_pem": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"}}, 400, None),
        ({"json": {"csr_pem": "x", "validity_years": 99}}, 422, "request.invalid"),
        ({"json": {"csr_pem": "x", "smi_status": "sideways"}}, 400, None),
    ],
)
def test_malformed_requests_are_4xx_json(api: Api, kwargs: dict, status: int, code: str | None) -> None:  # type: ignore[type-arg]
    kwargs = dict(kwargs)  # the parameter is shared by the SQLite and PostgreSQL runs
    headers = {**api.bearer(api.supplier_token), **kwargs.pop("headers", {})}
    response = api.client.post("/v1/requests", headers=headers, **kwargs)
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message", "clause"}
    if code:
        assert body["code"] == code


# --- fetching and revoking ------------------------------------------------------------------------


def _issue(api: Api) -> str:
    response = api.client.post(
        "/v1/requests", json={"csr_pem": org_csr()}, headers=api.bearer(api.supplier_token)
    )
    assert response.status_code == 201, response.text
    return str(response.json()["serial"])


def test_subscriber_fetches_its_own_certificate_but_not_anothers(api: Api) -> None:
    serial = _issue(api)
    mine = api.client.get(f"/v1/requests/{serial}", headers=api.bearer(api.supplier_token))
    assert mine.status_code == 200, mine.text
    assert mine.json()["serial"] == serial
    again = api.client.get(f"/v1/certificates/{serial.lower()}", headers=api.bearer(api.supplier_token))
    assert again.status_code == 200, again.text
    theirs = api.client.get(f"/v1/certificates/{serial}", headers=api.bearer(api.dno_token))
    assert_error(theirs, 404, "request.not_found")
    assert_error(api.client.get(f"/v1/certificates/{serial}"), 401, "auth.missing")
    assert_error(
        api.client.get("/v1/certificates/XYZ", headers=api.bearer(api.supplier_token)), 400, "serial.syntax"
    )


def test_another_partys_token_cannot_revoke_a_certificate(api: Api) -> None:
    serial = _issue(api)
    refused = api.client.post(
        f"/v1/certificates/{serial}/revoke",
        json={"reason": "keyCompromise"},
        headers=api.bearer(api.dno_token),
    )
    body = assert_error(refused, 403, "revocation.not_subscriber")
    assert body["clause"]
    done = api.client.post(
        f"/v1/certificates/{serial}/revoke",
        json={"reason": "keyCompromise"},
        headers=api.bearer(api.supplier_token),
    )
    assert done.status_code == 200, done.text
    assert done.json()["serial"] == serial and done.json()["reason"] == "keyCompromise"
    again = api.client.post(
        f"/v1/certificates/{serial}/revoke",
        json={"reason": "superseded"},
        headers=api.bearer(api.supplier_token),
    )
    assert 400 <= again.status_code < 500 and again.json()["code"] == "revocation.already_revoked"
    status = api.client.get(f"/v1/repository/certificates/{serial}").json()
    assert json.dumps(status).count("R") >= 1
    bad = api.client.post(
        f"/v1/certificates/{serial}/revoke", json={"reason": "tired"}, headers=api.bearer(api.supplier_token)
    )
    assert_error(bad, 400, "revocation.reason")


# --- batches ----------------------------------------------------------------------------------------


def _device_pems(count: int, first: int = 0) -> list[str]:
    pems = []
    for n in range(first, first + count):
        eui = EntityId.from_bytes((0x00DB123456780000 + n).to_bytes(8, "big"))
        csr, _ = csr_builder.device_csr(eui, KeyUsage.DIGITAL_SIGNATURE, ENV)
        pems.append(csr_builder.csr_pem(csr).decode("ascii"))
    return pems


def _lines(response) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in response.text.splitlines()]


def test_batch_streams_one_result_per_csr_and_a_bad_csr_fails_alone(api: Api) -> None:
    csrs = _device_pems(12)
    csrs[3] = "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"
    csrs[7] = org_csr()  # not a Device request
    csrs[9] = csrs[8]  # the same key twice in one batch (L11.4)
    response = api.client.post(
        "/v1/requests/batch",
        json={"csrs": csrs, "device_type": "ESME"},
        headers=api.bearer(api.supplier_token),
    )
    lines = _lines(response)
    items, summary = lines[:-1], lines[-1]
    assert [i["index"] for i in items] == list(range(12))
    failed = {i["index"]: i["error"] for i in items if not i["ok"]}
    assert set(failed) == {3, 7, 9}
    for error in failed.values():
        assert set(error) == {"code", "message", "clause"}  # type: ignore[arg-type]
    assert summary == {"summary": {"total": 12, "issued": 9, "failed": 3, "unanswered": 0}}
    for item in items:
        if item["ok"]:
            cert = x509.load_pem_x509_certificate(str(item["pem"]).encode())
            assert format(cert.serial_number, "X").zfill(len(str(item["serial"]))) == item["serial"]
    found = api.client.get("/v1/repository/certificates", params={"kind": "device", "limit": 100}).json()
    assert found["count"] == 9


def test_batch_as_pem_bundle_with_query_parameters(api: Api) -> None:
    bundle = "".join(_device_pems(5, first=100))
    response = api.client.post(
        "/v1/requests/batch?device_type=GSME",
        content=bundle,
        headers={**api.bearer(api.dno_token), "Content-Type": "application/x-pem-file"},
    )
    lines = _lines(response)
    assert lines[-1] == {"summary": {"total": 5, "issued": 5, "failed": 0, "unanswered": 0}}


def test_batch_refusals_before_streaming(api: Api) -> None:
    org_only = tokens.create_token(api.db, "elec", [Hierarchy.ORGANISATION], actor="dcc-ra").text
    refused = api.client.post("/v1/requests/batch", json=_device_pems(2), headers=api.bearer(org_only))
    assert_error(refused, 403, "token.policy_not_granted")
    assert_error(api.client.post("/v1/requests/batch", json=_device_pems(2)), 401, "auth.missing")
    headers = api.bearer(api.supplier_token)
    assert_error(api.client.post("/v1/requests/batch", json=[], headers=headers), 400, "request.no_csr")
    assert_error(
        api.client.post(
            "/v1/requests/batch",
            content=b"junk",
            headers={**headers, "Content-Type": "application/x-pem-file"},
        ),
        400,
        "request.no_csr",
    )
    assert_error(
        api.client.post("/v1/requests/batch", json={"csrs": "x"}, headers=headers), 422, "request.invalid"
    )
    no_type = _lines(api.client.post("/v1/requests/batch", json=_device_pems(2, 200), headers=headers))
    assert [i["error"]["code"] for i in no_type[:-1]] == ["request.device_type_required"] * 2  # type: ignore[index]
