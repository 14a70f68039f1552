"""Every error the API returns is JSON ``{code, message, clause}``: refusals, bad input and unknown paths."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from smki.model import InvalidInput, PolicyRefusal, SmkiError, StorageUnavailable
from smki.ra.tokens import NotAuthenticated
from smki.storage.transaction import mapped_error

log = logging.getLogger("smki.api")


def error_body(code: str, message: str, clause: str | None = None) -> dict[str, str | None]:
    """The one error shape of the API."""
    return {"code": code, "message": message, "clause": clause}


# The one table from error code to HTTP status. A key is an exact code or a code family ("keys.*"); an
# exact code wins over its family. Codes in neither fall back to ``*.not_found`` -> 404, then the error's
# class (STATUS_BY_CLASS), then 409. tests/test_api_errors.py checks every plain SmkiError code raised
# under src/smki is here, so a new failure mode cannot fall to 409 unnoticed.
STATUS_BY_CODE: Mapping[str, int] = {
    # 401: no valid token.
    "auth.*": 401,
    # 503: the service cannot do it now, whatever the request: key store, signing, database, audit log.
    "keys.*": 503,  # no passphrase or PIN, key missing or unreadable, token gone: never the client's fault
    "storage.*": 503,
    "storage.conflict": 409,  # a concurrent change took the same unique value first: submit again
    "audit.no_head": 503,
    "ca.not_initialised": 503,
    "ca.key_missing": 503,
    "ca.certificate_missing": 503,
    "ca.bad_signature": 503,
    "ca.build_failed": 503,
    "ca.serial_collision": 503,
    "ra.no_ca": 503,
    "ra.key_guard_mismatch": 503,
    "batch.worker_died": 503,
    "csr.key_file_unwritable": 503,
    # 500: a bug in smki caught before it did harm (the audit log refused to hold a secret).
    "audit.secret_in_details": 500,
    # 404: nothing by that name.
    "crl.unknown_ca": 404,
    # 403: a rule refuses it, with its clause.
    "revocation.root_certificate": 403,
    # 409: a conflict with the current state.
    "revocation.already_revoked": 409,
    "crl.concurrent_publish": 409,
    "csr.key_file_exists": 409,
    "party.concurrent_change": 409,
    "ca.intent_not_reserved": 409,  # an operator abandoned the serials meanwhile: submit again
    # 400: an argument that cannot be used.
    "batch.chunk_size": 400,
    "init.env_missing": 400,
}
STATUS_BY_CLASS: tuple[tuple[type[SmkiError], int], ...] = (
    (NotAuthenticated, 401),
    (PolicyRefusal, 403),
    (InvalidInput, 400),
)
UNCLASSIFIED_STATUS = 409


def status_entry(code: str) -> int | None:
    """The status STATUS_BY_CODE gives this code (exactly or through its family), or None."""
    if code in STATUS_BY_CODE:
        return STATUS_BY_CODE[code]
    return STATUS_BY_CODE.get(code.split(".", 1)[0] + ".*")


def status_for(error: SmkiError) -> int:
    """HTTP status for a refusal or failure: the code table, then ``*.not_found``, then the error's class."""
    found = status_entry(error.code)
    if found is not None:
        return found
    if error.code.endswith(".not_found"):
        return 404
    for error_class, status in STATUS_BY_CLASS:
        if isinstance(error, error_class):
            return status
    return UNCLASSIFIED_STATUS


def install_error_handlers(app: FastAPI) -> None:
    """Render SmkiError, HTTP errors, validation errors and anything unexpected as the JSON error shape."""

    @app.exception_handler(SmkiError)
    async def _smki_error(_request: Request, exc: SmkiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, NotAuthenticated) else None
        return JSONResponse(
            error_body(exc.code, exc.message, exc.clause), status_code=status_for(exc), headers=headers
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "http.not_found", 405: "http.method_not_allowed"}.get(exc.status_code, "http.error")
        message = "There is nothing at this address." if exc.status_code == 404 else str(exc.detail)
        return JSONResponse(error_body(code, message), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"The request is not valid: {first.get('msg', 'malformed input')}" + (
            f" (at {where})." if where else "."
        )
        return JSONResponse(error_body("request.invalid", message), status_code=422)

    @app.exception_handler(StorageUnavailable)
    async def _storage_down(_request: Request, exc: StorageUnavailable) -> JSONResponse:
        return _storage_unavailable(exc)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        # A driver error raised outside a transaction block (Database.has_table ...) still gets its code.
        mapped = mapped_error(exc)
        if isinstance(mapped, StorageUnavailable):
            return _storage_unavailable(mapped)
        log.exception("unexpected error while serving a request")
        if mapped is not None:
            return JSONResponse(error_body(mapped.code, mapped.message), status_code=status_for(mapped))
        return JSONResponse(
            error_body("internal", "The server could not complete the request; the error is logged."),
            status_code=500,
        )


# How long a client should wait before trying again when the database cannot be reached.
STORAGE_RETRY_AFTER_SECONDS = 5


def _storage_unavailable(exc: StorageUnavailable) -> JSONResponse:
    log.warning("database unreachable while serving a request")
    return JSONResponse(
        error_body(exc.code, exc.message, exc.clause),
        status_code=status_for(exc),
        headers={"Retry-After": str(STORAGE_RETRY_AFTER_SECONDS)},
    )
