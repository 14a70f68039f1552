"""Bearer-token authentication for the subscriber endpoints: ``Authorization: Bearer smki_...``.

Missing, unknown, revoked or expired tokens are refused by ``smki.ra.tokens.authenticate`` and answered 401
(with ``WWW-Authenticate: Bearer``); what a valid token may do is decided in ``smki.ra`` (403 with clause).
"""

from __future__ import annotations

from fastapi import Depends, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from smki.api.deps import database
from smki.ra.tokens import ApiToken, authenticate
from smki.storage import Database

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="An API token made by `smki token create` (it starts with `smki_`).",
)


def current_token(
    credentials: HTTPAuthorizationCredentials | None = Security(bearer),
    db: Database = Depends(database),
) -> ApiToken:
    """The live token the request carries, or a 401 refusal."""
    return authenticate(db, credentials.credentials if credentials is not None else None)
