"""Subscriber endpoints (bearer token): submit a CSR, submit a batch of Device CSRs, fetch, revoke.

Thin: the token says which party asks (``smki.api.auth``); ``smki.ra`` decides everything else and its
refusals come back as JSON ``{code, message, clause}``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from smki import ca
from smki.api.auth import current_token
from smki.api.deps import database
from smki.api.errors import error_body
from smki.api.routes_repository import certificate_view, parse_serial
from smki.ca.issuance import IssuedCertificate
from smki.ca.revocation import parse_reason
from smki.keys import open_backend
from smki.model import CertificateKind, DeviceType, Hierarchy, InvalidInput, SmiStatus, SmkiError
from smki.ra import RegistrationAuthority, home_live_systems
from smki.ra.batch import BatchIssuer
from smki.ra.revocation import request_revocation
from smki.ra.tokens import (
    ApiToken,
    require_own_certificate,
    require_policy,
    require_policy_for_csr,
    screen_batch,
)
from smki.storage import Database

router = APIRouter(prefix="/v1", tags=["subscribers"])
log = logging.getLogger("smki.api")

MAX_CSR_BYTES = 64 * 1024
MAX_BATCH_BYTES = 32 * 1024 * 1024
MAX_BATCH_ITEMS = 10_000
BATCH_WORKERS = min(4, os.cpu_count() or 1)  # signing processes per batch request
NDJSON = "application/x-ndjson"
_PEM_CSR = re.compile(
    rb"-----BEGIN (?:NEW )?CERTIFICATE REQUEST-----.*?-----END (?:NEW )?CERTIFICATE REQUEST-----", re.S
)
_KINDS = {
    "device": CertificateKind.DEVICE,
    "organisation": CertificateKind.ORGANISATION,
    "iki": CertificateKind.IKI,
}

# One CA signer per application: PKCS#11 sessions must not be shared between threads (ARCHITECTURE.md).
_OPEN_LOCK = threading.Lock()
_SIGNING_LOCK = threading.Lock()

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed input: `{code, message, clause}`."},
    401: {"description": "No valid API token: `{code, message, clause}`."},
    403: {"description": "Refused by a rule of the SEC or the token's scope: `{code, message, clause}`."},
    404: {"description": "Not found: `{code, message, clause}`."},
    409: {"description": "Conflict: `{code, message, clause}`."},
    422: {"description": "The request does not match the schema: `{code, message, clause}`."},
    503: {"description": "Key store, signing or database unavailable: `{code, message, clause}`."},
}


class CertificateRequestBody(BaseModel):
    """A CSR and the facts it cannot carry itself."""

    model_config = ConfigDict(extra="forbid")

    csr_pem: str = Field(max_length=MAX_CSR_BYTES, description="The PKCS#10 request, PEM.")
    kind: Literal["device", "organisation", "iki"] | None = Field(
        default=None, description="What certificate is asked for (default: read from the CSR)."
    )
    device_type: str | None = Field(
        default=None, max_length=40, description="For a Device: ESME, GSME, CHF, GPF..."
    )
    smi_status: str | None = Field(
        default=None, max_length=40, description="The Device's SMI Status, if any."
    )
    dcc_live_system: str | None = Field(
        default=None, max_length=100, description="DCC Live System of a DCC request."
    )
    approval_reference: str | None = Field(
        default=None, max_length=100, description="An SMKI PMA decision reference."
    )
    not_after: datetime | None = Field(
        default=None, description="Requested notAfter (Organisation Certificates)."
    )
    validity_years: int | None = Field(default=None, ge=1, le=50, description="Requested validity in years.")


class BatchBody(BaseModel):
    """Many Device CSRs of one Device type."""

    model_config = ConfigDict(extra="forbid")

    csrs: list[str] = Field(max_length=MAX_BATCH_ITEMS, description="PKCS#10 requests, PEM, one per Device.")
    device_type: str | None = Field(default=None, max_length=40, description="ESME, GSME, CHF, GPF, PPD...")
    smi_status: str | None = Field(
        default=None, max_length=40, description="The Devices' SMI Status, if any."
    )


class RevokeBody(BaseModel):
    """Why a certificate is to be revoked."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        default="unspecified",
        max_length=40,
        description="RFC 5280 reason: keyCompromise, affiliationChanged, superseded, cessationOfOperation, "
        "unspecified.",
    )


def _pem_or_json(schema: dict[str, Any], pem_description: str) -> dict[str, Any]:
    text = {"schema": {"type": "string", "description": pem_description}}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": schema},
                "application/x-pem-file": text,
                "application/pkcs10": text,
            },
        }
    }


def registration_authority(request: Request, db: Database = Depends(database)) -> RegistrationAuthority:
    """The RA with its CAs for this app, opened on first use (keys from the home's key backend)."""
    state = request.app.state
    found: RegistrationAuthority | None = getattr(state, "registration_authority", None)
    if found is not None:
        return found
    with _OPEN_LOCK:
        found = getattr(state, "registration_authority", None)
        if found is None:
            home = state.home
            env = ca.home_environment(home)
            keys = open_backend(ca.backend_in_use(db) or "soft", home)
            cas = ca.CertificateAuthorities.open(db, keys, env)
            found = RegistrationAuthority(db, cas, env, live_systems=home_live_systems(home))
            state.registration_authority = found
        return found


def _actor(token: ApiToken) -> str:
    return f"party:{token.party_id} (token {token.token_id})"


def _validation_error(exc: ValidationError) -> RequestValidationError:
    return RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()])


async def _body(request: Request, limit: int) -> bytes:
    data = bytearray()
    async for chunk in request.stream():
        data.extend(chunk)
        if len(data) > limit:
            raise InvalidInput("request.too_large", f"The request body is larger than {limit} bytes.")
    if not data:
        raise InvalidInput("request.empty", "The request body is empty: send a CSR (PEM) or JSON.")
    return bytes(data)


def _is_json(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json"


def _json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("request.bad_json", "The request body is not valid JSON.") from None


def _smi_status(text: str | None) -> SmiStatus | None:
    return SmiStatus.parse(text) if text is not None else None  # smi_status.unknown, as the CLI


def _device_type(text: str | None) -> DeviceType | None:
    return DeviceType.parse(text) if text else None  # device_type.unknown, as the CLI


def issued_json(issued: IssuedCertificate, request: Request) -> dict[str, Any]:
    """What a subscriber gets back for an issued certificate."""
    return {
        "serial": issued.serial_hex,
        "issuer": issued.issuer_name,
        "kind": issued.kind.value,
        "entity_id": issued.entity_id.dashed if issued.entity_id else None,
        "role": issued.role.code if issued.role else None,
        "key_usage": issued.key_usage.value,
        "not_before": issued.not_before.isoformat(),
        "not_after": issued.not_after.isoformat(),
        "subscriber": issued.subscriber,
        "pem": issued.pem,
        "links": {
            "self": str(request.url_for("get_certificate", serial=issued.serial_hex)),
            "repository": str(request.url_for("repository_certificate", name=issued.serial_hex)),
        },
    }


@router.post(
    "/requests",
    status_code=201,
    responses=ERRORS,
    openapi_extra=_pem_or_json(
        CertificateRequestBody.model_json_schema(),
        "A PKCS#10 request, PEM (other fields as query parameters).",
    ),
)
async def submit_request(
    request: Request,
    kind: Literal["device", "organisation", "iki"] | None = Query(None, description="With a PEM body."),
    device_type: str | None = Query(None, max_length=40, description="With a PEM body: ESME, GSME, CHF..."),
    smi_status: str | None = Query(None, max_length=40, description="With a PEM body."),
    approval_reference: str | None = Query(None, max_length=100, description="With a PEM body."),
    token: ApiToken = Depends(current_token),
    authority: RegistrationAuthority = Depends(registration_authority),
) -> JSONResponse:
    """Submit one CSR: the RA runs its whole pipeline for the token's party and the CA issues it."""
    data = await _body(request, MAX_CSR_BYTES * 2)
    if _is_json(request):
        try:
            body = CertificateRequestBody.model_validate(_json(data))
        except ValidationError as exc:
            raise _validation_error(exc) from None
        csr = body.csr_pem.encode("utf-8")
    else:
        body = CertificateRequestBody(
            csr_pem="",
            kind=kind,
            device_type=device_type,
            smi_status=smi_status,
            approval_reference=approval_reference,
        )
        csr = data
    issued = await run_in_threadpool(_submit_one, authority, token, csr, body)
    return JSONResponse(issued_json(issued, request), status_code=201)


def _submit_one(
    authority: RegistrationAuthority, token: ApiToken, csr: bytes, body: CertificateRequestBody
) -> IssuedCertificate:
    wanted = _KINDS[body.kind] if body.kind else None
    chosen = require_policy_for_csr(token, csr, authority.env, kind=wanted)
    with _SIGNING_LOCK:
        return authority.submit(
            csr,
            party_id=token.party_id,
            actor=_actor(token),
            kind=chosen,
            approval_reference=body.approval_reference,
            smi_status=_smi_status(body.smi_status),
            device_type=_device_type(body.device_type),
            dcc_live_system=body.dcc_live_system,
            not_after=body.not_after,
            validity_years=body.validity_years,
        )


def _split_bundle(data: bytes) -> list[bytes]:
    found = _PEM_CSR.findall(data)
    if not found:
        raise InvalidInput("request.no_csr", "The body holds no PEM CERTIFICATE REQUEST block.")
    return list(found)


@router.post(
    "/requests/batch",
    responses={**ERRORS, 200: {"description": "NDJSON: one line per CSR, in order, then a summary line."}},
    openapi_extra=_pem_or_json(
        BatchBody.model_json_schema(), "PEM CERTIFICATE REQUEST blocks, one per Device."
    ),
)
async def submit_batch(
    request: Request,
    device_type: str | None = Query(None, max_length=40, description="With a PEM bundle: ESME, GSME..."),
    smi_status: str | None = Query(None, max_length=40, description="With a PEM bundle."),
    db: Database = Depends(database),
    token: ApiToken = Depends(current_token),
    authority: RegistrationAuthority = Depends(registration_authority),
) -> StreamingResponse:
    """Submit many Device CSRs; results stream back as NDJSON while they are issued. A bad CSR fails alone."""
    require_policy(token, Hierarchy.DEVICE)  # refused before reading the body
    data = await _body(request, MAX_BATCH_BYTES)
    if _is_json(request):
        parsed = _json(data)
        if isinstance(parsed, list):
            parsed = {"csrs": parsed, "device_type": device_type, "smi_status": smi_status}
        try:
            body = BatchBody.model_validate(parsed)
        except ValidationError as exc:
            raise _validation_error(exc) from None
        csrs = [c.encode("utf-8") for c in body.csrs]
    else:
        body = BatchBody(csrs=[], device_type=device_type, smi_status=smi_status)
        csrs = _split_bundle(data)
    if not csrs:
        raise InvalidInput("request.no_csr", "The batch holds no CSR.")
    if len(csrs) > MAX_BATCH_ITEMS:
        raise InvalidInput("request.batch_too_large", f"A batch holds at most {MAX_BATCH_ITEMS} CSRs.")
    kind_of_device = _device_type(body.device_type)
    status = _smi_status(body.smi_status)
    issuer = BatchIssuer(db, request.app.state.home, authority.env, workers=BATCH_WORKERS)

    def results() -> Iterator[_Answer]:
        screened = screen_batch(token, csrs, authority.env, kind=CertificateKind.DEVICE)
        refused = sorted(screened.refused.items())
        issued = issuer.run(
            screened.accepted,
            party_id=token.party_id,
            actor=_actor(token),
            device_type=kind_of_device,
            smi_status=status,
        )
        for item in issued:
            index = screened.positions[item.index]
            while refused and refused[0][0] < index:
                yield _refused(*refused.pop(0))
            yield _Answer(index, item.ok, item.serial_hex, item.pem, item.error)
        for pair in refused:
            yield _refused(*pair)

    return StreamingResponse(_ndjson(results(), len(csrs)), media_type=NDJSON)


@dataclass(frozen=True)
class _Answer:
    index: int
    ok: bool
    serial_hex: str | None
    pem: str | None
    error: dict[str, str | None] | None


def _refused(index: int, error: dict[str, str | None]) -> _Answer:
    return _Answer(index, False, None, None, error)


def _ndjson(results: Iterator[_Answer], total: int) -> Iterator[bytes]:
    issued = failed = 0
    try:
        for item in results:
            line: dict[str, Any] = {"index": item.index, "ok": item.ok}
            if item.ok:
                issued += 1
                line.update(serial=item.serial_hex, pem=item.pem)
            else:
                failed += 1
                line["error"] = item.error
            yield json.dumps(line).encode("utf-8") + b"\n"
    except SmkiError as exc:
        yield json.dumps({"error": exc.as_dict()}).encode("utf-8") + b"\n"
    except Exception:  # the response has started: say so on the stream rather than cut it
        log.exception("unexpected error while streaming a batch")
        yield (
            json.dumps({"error": error_body("internal", "The batch stopped; the error is logged.")}).encode()
            + b"\n"
        )
    summary = {"total": total, "issued": issued, "failed": failed, "unanswered": total - issued - failed}
    yield json.dumps({"summary": summary}).encode("utf-8") + b"\n"


def _own_certificate(db: Database, token: ApiToken, serial: str) -> dict[str, Any]:
    view = certificate_view(db, parse_serial(serial))
    data: dict[str, Any] = view.as_dict()
    require_own_certificate(token, data.get("subscriber"), data.get("serial", serial))
    return data


@router.get("/requests/{serial}", responses=ERRORS)
def get_request(
    serial: str, token: ApiToken = Depends(current_token), db: Database = Depends(database)
) -> dict[str, Any]:
    """The result of one of your requests: the certificate issued, with its status."""
    return _own_certificate(db, token, serial)


@router.get("/certificates/{serial}", responses=ERRORS, name="get_certificate")
def get_certificate(
    serial: str, token: ApiToken = Depends(current_token), db: Database = Depends(database)
) -> dict[str, Any]:
    """One of your certificates, with its status (the public repository shows everyone's)."""
    return _own_certificate(db, token, serial)


@router.post("/certificates/{serial}/revoke", responses=ERRORS)
def revoke_certificate(
    serial: str,
    body: RevokeBody,
    token: ApiToken = Depends(current_token),
    db: Database = Depends(database),
) -> dict[str, Any]:
    """Ask for one of your certificates to be revoked; the RA decides whether you may."""
    serial_hex = parse_serial(serial)
    reason = parse_reason(body.reason)
    view = certificate_view(db, serial_hex).as_dict()
    require_policy(token, CertificateKind(view["kind"]).hierarchy)
    revocation = request_revocation(
        db, party_id=token.party_id, serial_hex=serial_hex, reason=reason, actor=_actor(token)
    )
    return revocation.as_dict()
