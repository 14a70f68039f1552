"""HTTP status of every SmkiError the API can meet: one table (smki.api.errors), key store and signing
failures as 503 with the JSON error shape, and no code raised under src/smki left to the default."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from smki.api import errors
from smki.api.app import create_app
from smki.model import InvalidInput, PolicyRefusal, SmkiError, StorageConflict, StorageUnavailable
from smki.ra.tokens import NotAuthenticated
from smki.storage import Database
from test_api_subscribers import Api, api, assert_error, org_csr  # noqa: F401  (api is a fixture)

SRC = Path(__file__).resolve().parents[1] / "src" / "smki"
ERROR_CLASSES = {"SmkiError": SmkiError, "InvalidInput": InvalidInput, "PolicyRefusal": PolicyRefusal}


def raised_codes() -> dict[str, set[str]]:
    """Every literal error code raised under src/smki, with the error classes raising it."""
    found: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            first = node.args[0]
            if name in (*ERROR_CLASSES, "NotAuthenticated") and isinstance(first, ast.Constant):
                found.setdefault(str(first.value), set()).add(str(name))
            elif name in ERROR_CLASSES and isinstance(first, ast.JoinedStr):
                # f"{code_prefix}_missing" and friends: the codes secret_from_env makes for the key store.
                prefix = first.values[0]
                if isinstance(prefix, ast.Constant) and str(prefix.value).endswith("."):
                    found.setdefault(str(prefix.value) + "x", set()).add(str(name))
    return found


def test_every_plain_smki_error_code_is_in_the_status_table() -> None:
    codes = raised_codes()
    assert len(codes) > 200  # the walk really saw the source
    unclassified = sorted(
        code
        for code, classes in codes.items()
        if "SmkiError" in classes and errors.status_entry(code) is None and not code.endswith(".not_found")
    )
    assert unclassified == [], "give these codes an HTTP status in smki.api.errors.STATUS_BY_CODE"


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (SmkiError("keys.passphrase_missing", "m"), 503),
        (SmkiError("keys.not_found", "m"), 503),  # the key store's, not a resource the client named
        (InvalidInput("keys.bad_label", "m"), 503),
        (SmkiError("ca.key_missing", "m"), 503),
        (SmkiError("ca.bad_signature", "m"), 503),
        (SmkiError("ca.build_failed", "m"), 503),
        (SmkiError("ca.not_initialised", "m"), 503),
        (SmkiError("storage.unreachable", "m"), 503),
        (StorageUnavailable("storage.unreachable", "m"), 503),
        (StorageConflict("storage.conflict", "m"), 409),  # exact code before its family (storage.* 503)
        (SmkiError("storage.error", "m"), 503),
        (SmkiError("revocation.already_revoked", "m"), 409),
        (SmkiError("repository.not_found", "m"), 404),
        (PolicyRefusal("ca.authority_revoked", "m"), 403),
        (PolicyRefusal("subscriber.not_authorised", "m", "L3.15(b)"), 403),
        (InvalidInput("serial.syntax", "m"), 400),
        (NotAuthenticated("auth.expired", "m"), 401),
    ],
)
def test_status_for_follows_the_table(error: SmkiError, status: int) -> None:
    assert errors.status_for(error) == status


@pytest.mark.parametrize(
    "code",
    ["keys.passphrase_missing", "keys.pkcs11_error", "ca.key_missing", "ca.bad_signature", "ca.build_failed"],
)
def test_key_store_and_signing_failures_are_503_json_through_the_app(tmp_path: Path, code: str) -> None:
    app = create_app(tmp_path / "home")

    def fail() -> None:
        raise SmkiError(code, "The key store failed.")

    app.add_api_route("/v1/fail", fail)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/v1/fail")
    assert response.status_code == 503
    assert response.json() == {"code": code, "message": "The key store failed.", "clause": None}


def test_missing_key_passphrase_is_503_json(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    # The RA opens its key store on the first request: without a passphrase it cannot sign.
    monkeypatch.delenv("SMKI_KEY_PASSPHRASE")
    response = api.client.post(
        "/v1/requests", json={"csr_pem": org_csr()}, headers=api.bearer(api.supplier_token)
    )
    body = assert_error(response, 503, "keys.passphrase_missing")
    assert "SMKI_KEY_PASSPHRASE" in str(body["message"])


def test_missing_ca_key_is_503_json(api: Api, tmp_path: Path) -> None:  # noqa: F811
    for key_file in (tmp_path / "home" / "keys").iterdir():
        key_file.unlink()
    response = api.client.post(
        "/v1/requests", json={"csr_pem": org_csr()}, headers=api.bearer(api.supplier_token)
    )
    assert_error(response, 503, "ca.key_missing")


def test_storage_errors_through_the_app_are_json_unreachable_with_retry_after(tmp_path: Path) -> None:
    app = create_app(tmp_path / "home")

    def unreachable() -> None:
        raise StorageUnavailable(
            "storage.unreachable", "The SMKI database cannot be reached; try again later."
        )

    def conflict() -> None:
        raise StorageConflict(
            "storage.conflict", "The change conflicts with a record stored at the same time."
        )

    app.add_api_route("/v1/unreachable", unreachable)
    app.add_api_route("/v1/conflict", conflict)
    with TestClient(app) as client:
        down = client.get("/v1/unreachable")
        clash = client.get("/v1/conflict")
    assert assert_error(down, 503, "storage.unreachable")["clause"] is None
    assert down.headers["Retry-After"] == str(errors.STORAGE_RETRY_AFTER_SECONDS)
    assert_error(clash, 409, "storage.conflict")
    assert "Retry-After" not in clash.headers


def test_subscriber_request_while_the_database_is_unreachable_is_503_json(tmp_path: Path) -> None:
    # Authentication reads the token in a transaction: the lost database leaves it as storage.unreachable.
    db = Database("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2})
    app = create_app(tmp_path / "home", database=db)
    with TestClient(app) as client:
        response = client.post(
            "/v1/requests", json={"csr_pem": org_csr()}, headers={"Authorization": "Bearer smki_" + "a" * 43}
        )
    assert_error(response, 503, "storage.unreachable")
    assert response.headers["Retry-After"] == str(errors.STORAGE_RETRY_AFTER_SECONDS)
    db.dispose()
