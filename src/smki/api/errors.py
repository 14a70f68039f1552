"""Every error the API returns is JSON ``{code, message, clause}``: refusals, bad input and unknown paths."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from smki.model import InvalidInput, PolicyRefusal, SmkiError
from smki.ra.tokens import NotAuthenticated

log = logging.getLogger("smki.api")


def error_body(code: str, message: str, clause: str | None = None) -> dict[str, str | None]:
    """The one error shape of the API."""
    return {"code": code, "message": message, "clause": clause}


def status_for(error: SmkiError) -> int:
    """HTTP status for a refusal: no valid token 401, not found 404, unreachable storage 503, policy 403,
    bad input 400."""
    if isinstance(error, NotAuthenticated):
        return 401
    if error.code.endswith("not_found"):
        return 404
    if error.code in ("storage.unreachable", "ca.not_initialised"):
        return 503
    if isinstance(error, PolicyRefusal):
        return 403
    if isinstance(error, InvalidInput):
        return 400
    return 409


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

    @app.exception_handler(OperationalError)
    async def _storage_down(_request: Request, _exc: OperationalError) -> JSONResponse:
        log.warning("database unreachable while serving a request")
        return JSONResponse(
            error_body("storage.unreachable", "The SMKI database cannot be reached; try again later."),
            status_code=503,
        )

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error while serving a request")
        return JSONResponse(
            error_body("internal", "The server could not complete the request; the error is logged."),
            status_code=500,
        )
