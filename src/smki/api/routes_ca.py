"""Downloads of the CA certificates and the DCC's commissioning certificates (L3.22 lodging)."""

from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from smki.api.deps import database
from smki.ca import PublishedCertificate, hierarchy_state
from smki.model import InvalidInput, SmkiError
from smki.storage import Database

router = APIRouter(tags=["certificate authorities"])

PEM_MEDIA_TYPE = "application/x-pem-file"
DER_MEDIA_TYPE = "application/pkix-cert"


def _describe(item: PublishedCertificate, request: Request, base: str) -> dict[str, Any]:
    return {
        "name": item.name,
        "title": item.title,
        "kind": item.kind.value,
        "ca_name": item.subject_name,
        "issuer": item.issuer_name,
        "serial": item.serial_hex,
        "not_before": item.not_before.isoformat(),
        "not_after": item.not_after.isoformat(),
        "key_usage": item.key_usage.value,
        "role": item.role.code if item.role is not None else None,
        "role_name": item.role.name if item.role is not None else None,
        "entity_id": item.entity_id.dashed if item.entity_id is not None else None,
        "paragraph": item.paragraph,
        "links": {
            "pem": str(request.url_for(base, filename=f"{item.name}.pem")),
            "der": str(request.url_for(base, filename=f"{item.name}.der")),
        },
    }


def _file(items: list[PublishedCertificate], filename: str, what: str) -> Response:
    stem, dot, extension = filename.rpartition(".")
    if not dot or extension not in ("pem", "der"):
        raise InvalidInput("download.bad_extension", f"Ask for {filename!r} as NAME.pem or NAME.der.")
    for item in items:
        if stem in (item.name, item.subject_name, item.serial_hex):
            if extension == "der":
                return Response(item.der, media_type=DER_MEDIA_TYPE)
            pem = x509.load_der_x509_certificate(item.der).public_bytes(serialization.Encoding.PEM)
            return Response(pem, media_type=PEM_MEDIA_TYPE)
    raise SmkiError("download.not_found", f"There is no {what} named {stem!r}.")


@router.get("/ca")
def list_authorities(request: Request, db: Database = Depends(database)) -> dict[str, Any]:
    """The Root and Issuing CA certificates in force, with download links."""
    state = hierarchy_state(db)
    return {"authorities": [_describe(a, request, "download_authority") for a in state.authorities]}


@router.get("/ca/{filename}", name="download_authority")
def download_authority(filename: str, db: Database = Depends(database)) -> Response:
    """A CA certificate as PEM or DER: /ca/root-oca.pem, /ca/Z1.der (by kind or by CA name)."""
    return _file(hierarchy_state(db).authorities, filename, "CA certificate")


@router.get("/certificates/commissioning")
def list_commissioning(request: Request, db: Database = Depends(database)) -> dict[str, Any]:
    """The DCC's certificates for commissioning Devices (L3.23(e)-(i)), with download links."""
    state = hierarchy_state(db)
    return {"certificates": [_describe(c, request, "download_commissioning") for c in state.commissioning]}


@router.get("/certificates/commissioning/{filename}", name="download_commissioning")
def download_commissioning(filename: str, db: Database = Depends(database)) -> Response:
    """A commissioning certificate as PEM or DER: /certificates/commissioning/dcc-recovery.pem."""
    return _file(hierarchy_state(db).commissioning, filename, "commissioning certificate")
