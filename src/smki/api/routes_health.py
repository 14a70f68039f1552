"""GET /health: is the service up, is the database reachable, and what hierarchy is in force."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from smki import __version__
from smki.api.deps import database
from smki.ca import hierarchy_state
from smki.model import SmkiError
from smki.storage import Database

router = APIRouter(tags=["health"])


@router.get("/health")
def health(db: Database = Depends(database)) -> JSONResponse:
    """Status, database reachability and what is initialised (CAs, commissioning certificates)."""
    body: dict[str, Any] = {"status": "ok", "version": __version__}
    try:
        db.check_reachable()
    except SmkiError as exc:
        body.update(status="unavailable", database="unreachable", initialised=False, error=exc.as_dict())
        return JSONResponse(body, status_code=503)
    body["database"] = "reachable"
    if not db.has_table("certificate_authorities"):
        body.update(initialised=False, hint="run `smki init`")
        return JSONResponse(body)
    state = hierarchy_state(db)
    body["initialised"] = state.initialised
    if not state.initialised:
        body["hint"] = "run `smki init`"
    body["key_backend"] = state.backend
    body["ceremony"] = state.ceremony
    body["authorities"] = [
        {
            "kind": a.kind.value,
            "name": a.subject_name,
            "serial": a.serial_hex,
            "not_after": a.not_after.isoformat(),
        }
        for a in state.authorities
    ]
    body["commissioning_certificates"] = [c.name for c in state.commissioning]
    body["certificates"] = state.certificates
    return JSONResponse(body)
