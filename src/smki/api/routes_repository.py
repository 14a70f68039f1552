"""The public SMKI Repository over HTTP (no authentication): search, certificates, CRLs, ARLs, extracts.

Search takes what the DCC's SMKI interface takes (research notes 8.2): an EUI-64 (subject or
subjectAltName), key usage (DS/KA), Remote Party Role, status (P, I, N, E, R), issuer and kind.
Every parameter is parsed here into a model value, so bad input is a 400 with a code, never a 500.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse

from smki import repository
from smki.api.deps import database
from smki.ca import crls
from smki.model import (
    CertificateKind,
    CertificateStatus,
    EntityId,
    InvalidInput,
    KeyUsage,
    RemotePartyRole,
    SmkiError,
)
from smki.storage import Database

router = APIRouter(prefix="/v1/repository", tags=["repository"])

PEM_MEDIA_TYPE = "application/x-pem-file"
CERT_MEDIA_TYPE = "application/pkix-cert"
CRL_MEDIA_TYPE = "application/pkix-crl"
_SERIAL = re.compile(r"[0-9A-Fa-f]{1,40}")
_CA_NAME = re.compile(r"[A-Za-z0-9 ._-]{1,64}")

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed parameter: `{code, message, clause}`."},
    404: {"description": "Not found: `{code, message, clause}`."},
    422: {"description": "The request does not match the schema: `{code, message, clause}`."},
}


def parse_serial(text: str) -> str:
    """A certificate serial as upper-case hex (1 to 40 digits), or InvalidInput."""
    stripped = text.strip().replace(":", "")
    if stripped.lower().startswith("0x"):
        stripped = stripped[2:]
    if not _SERIAL.fullmatch(stripped):
        raise InvalidInput("serial.syntax", "A serial number is 1 to 40 hexadecimal digits.")
    return stripped.upper()


def parse_ca_name(text: str) -> str:
    """A CA name as it appears in a certificate's issuer CN (e.g. Z1, E357), or InvalidInput."""
    if not _CA_NAME.fullmatch(text):
        raise InvalidInput("ca.name_syntax", "A CA name is 1 to 64 letters, digits, spaces, dots or dashes.")
    return text


def certificate_view(
    db: Database, serial_hex: str, issuer_name: str | None = None
) -> repository.CertificateView:
    """The repository's view of one certificate (SmkiError *.not_found when there is none)."""
    return repository.get_certificate(db, serial_hex, issuer_name=issuer_name)


@router.get("/certificates", responses=ERRORS)
def search_certificates(
    request: Request,
    eui: str | None = Query(None, max_length=64, description="EUI-64 of the subject or subjectAltName."),
    usage: str | None = Query(None, max_length=20, description="DS or KA."),
    role: str | None = Query(None, max_length=40, description="Remote Party Role: name, code or 0x hex."),
    status: str | None = Query(None, max_length=12, description="P, I, N, E or R."),
    issuer: str | None = Query(None, max_length=64, description="Issuer CA name, e.g. Z1 or E357."),
    kind: str | None = Query(None, max_length=20, description="organisation, device, iki, issuing-oca..."),
    limit: int = Query(100, ge=1, le=1000, description="Page size."),
    after: str | None = Query(None, max_length=200, description="The next_after of the previous page."),
    db: Database = Depends(database),
) -> dict[str, Any]:
    """Search the SMKI Repository. Pages: pass the answer's ``next_after`` as ``after``."""
    page = repository.search(
        db,
        entity_id=EntityId.parse(eui) if eui is not None else None,
        key_usage=KeyUsage.parse(usage) if usage is not None else None,
        role=RemotePartyRole.parse(role) if role is not None else None,
        status=CertificateStatus.parse(status) if status is not None else None,
        issuer_name=parse_ca_name(issuer) if issuer is not None else None,
        kind=CertificateKind.parse(kind) if kind is not None else None,
        limit=limit,
        after=after,
    )
    items = [item.as_dict() for item in page.items]
    next_link = None
    if page.next_after is not None:
        next_link = str(request.url.include_query_params(after=page.next_after))
    return {"items": items, "count": len(items), "next_after": page.next_after, "links": {"next": next_link}}


@router.get(
    "/certificates/{name}",
    name="repository_certificate",
    responses={
        **ERRORS,
        200: {
            "description": "JSON; or the certificate itself for SERIAL.pem / SERIAL.der.",
            "content": {"application/json": {}, PEM_MEDIA_TYPE: {}, CERT_MEDIA_TYPE: {}},
        },
    },
)
def repository_certificate(
    name: str,
    issuer: str | None = Query(
        None, max_length=64, description="Issuer CA name, when a serial is ambiguous."
    ),
    db: Database = Depends(database),
) -> Response:
    """One certificate by serial: ``/SERIAL`` (JSON with status), ``/SERIAL.pem`` or ``/SERIAL.der``."""
    stem, dot, extension = name.rpartition(".")
    if not dot:
        stem, extension = name, "json"
    if extension not in ("json", "pem", "der"):
        raise InvalidInput("download.bad_extension", "Ask for SERIAL, SERIAL.pem or SERIAL.der.")
    view = certificate_view(db, parse_serial(stem), parse_ca_name(issuer) if issuer is not None else None)
    if extension == "pem":
        return Response(view.pem, media_type=PEM_MEDIA_TYPE)
    if extension == "der":
        return Response(view.der, media_type=CERT_MEDIA_TYPE)
    import json

    return Response(json.dumps(view.as_dict()), media_type="application/json")


def _revocation_list(der: bytes, fmt: str) -> Response:
    if fmt == "pem":
        pem = x509.load_der_x509_crl(der).public_bytes(serialization.Encoding.PEM)
        return Response(pem, media_type=PEM_MEDIA_TYPE)
    return Response(der, media_type=CRL_MEDIA_TYPE)


_CRL_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    200: {
        "description": "The list, DER (default) or PEM.",
        "content": {CRL_MEDIA_TYPE: {}, PEM_MEDIA_TYPE: {}},
    },
}


def _latest(db: Database, name: str, *, root: bool) -> bytes:
    published = crls.latest_publication(db, parse_ca_name(name))
    if published.ca_kind.is_root is not root:
        other = "arl" if published.ca_kind.is_root else "crl"
        raise SmkiError(
            "crl.not_found",
            f"{published.ca_name} publishes an {other.upper()}, not a{'n ARL' if root else ' CRL'}: "
            f"ask /v1/repository/{other}/{published.ca_name}.",
        )
    return published.der


@router.get("/crl/{ca_name}", responses=_CRL_RESPONSES)
def certificate_revocation_list(
    ca_name: str,
    format: Literal["der", "pem"] = Query("der", description="der (application/pkix-crl) or pem."),
    db: Database = Depends(database),
) -> Response:
    """The latest CRL an Issuing CA published (e.g. ``/crl/Z1``)."""
    return _revocation_list(_latest(db, ca_name, root=False), format)


@router.get("/arl/{root_name}", responses=_CRL_RESPONSES)
def authority_revocation_list(
    root_name: str,
    format: Literal["der", "pem"] = Query("der", description="der (application/pkix-crl) or pem."),
    db: Database = Depends(database),
) -> Response:
    """The latest ARL a Root CA published (e.g. ``/arl/ZA``)."""
    return _revocation_list(_latest(db, root_name, root=True), format)


_EXTRACT_TYPES = {"jsonl": "application/x-ndjson", "pem": PEM_MEDIA_TYPE}


@router.get(
    "/extract",
    responses={
        **ERRORS,
        200: {"description": "The extract, streamed.", "content": {v: {} for v in _EXTRACT_TYPES.values()}},
    },
)
def extract(
    since_sequence: int | None = Query(
        None, ge=0, le=2**62, description="Incremental: the changes after this change sequence number."
    ),
    since_time: datetime | None = Query(
        None, description="Incremental: the changes at or after this time (ISO 8601 with a timezone)."
    ),
    format: Literal["jsonl", "pem"] = Query("jsonl", description="jsonl (one JSON object a line) or pem."),
    db: Database = Depends(database),
) -> StreamingResponse:
    """A full extract of the repository, or (with ``since_sequence``/``since_time``) an incremental one.

    JSONL: a header line, one certificate a line, a trailer whose ``as_of_change_seq`` /
    ``last_change_seq`` is where the next incremental extract starts.
    """
    if since_sequence is None and since_time is None:
        stream = repository.full_extract(db, fmt=format)
    else:
        stream = repository.incremental_extract(
            db, since_sequence=since_sequence, since_time=since_time, fmt=format
        )
    first = next(stream)  # refusals (bad format, naive time) surface here, before the response starts
    return StreamingResponse(_chain(first, stream), media_type=_EXTRACT_TYPES[format])


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest
