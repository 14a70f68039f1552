"""API tokens: who a subscriber's HTTP request comes from, and what it may be used for.

A token is ``smki_`` followed by 32 random bytes, URL-safe base64 (43 characters). It is shown once, when
it is made; the database keeps only its SHA-256. A fast unsalted hash is enough here because the token is
256 bits of randomness: there is no dictionary to try, and a lookup by hash needs no per-row salt.

A token belongs to one party and lists the Certificate Policies it may be used under. It can only list
policies under which the party is an Authorised Subscriber when it is made (L3.15(b): only an Authorised
Subscriber can be an Eligible Subscriber); each request is still checked in full by the RA, so a party that
later ceases to be authorised is refused with the RA's clause even with a live token.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from smki import audit
from smki.model import CertificateKind, Hierarchy, InvalidInput, PolicyRefusal, SmkiError
from smki.policy.csr import read_csr
from smki.policy.subscribers import POLICY_TITLES, SubscriberStatus, require_authorised
from smki.profiles.environment import PkiEnvironment
from smki.ra.parties import load_party
from smki.storage import Database, ra_store, token_store
from smki.storage.token_store import StoredToken

TOKEN_PREFIX = "smki_"
TOKEN_BYTES = 32
DEFAULT_EXPIRY_DAYS = 90
MAX_EXPIRY_DAYS = 3650
_TOKEN_SHAPE = re.compile(r"smki_[A-Za-z0-9_-]{43}")

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class NotAuthenticated(SmkiError):
    """No token, or a token that is unknown, revoked or expired: the API answers 401."""


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A token as the RA knows it (never its text)."""

    token_id: int
    hint: str
    party_id: str
    policies: frozenset[Hierarchy]
    name: str | None
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def state(self, now: datetime) -> str:
        """``active``, ``revoked`` or ``expired``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def as_dict(self, now: datetime | None = None) -> dict[str, object]:
        """The JSON shape of ``smki token list --json``."""
        return {
            "id": self.token_id,
            "hint": self.hint,
            "party_id": self.party_id,
            "policies": sorted(p.value for p in self.policies),
            "name": self.name,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "state": self.state(now or _utc_now()),
        }


@dataclass(frozen=True, slots=True)
class NewToken:
    """A token just made: ``text`` is shown to the operator once and stored nowhere."""

    token: ApiToken
    text: str


def token_sha256(text: str) -> str:
    """The hex SHA-256 under which a token's text is stored."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _from_stored(stored: StoredToken) -> ApiToken:
    return ApiToken(
        token_id=stored.id,
        hint=stored.hint,
        party_id=stored.party_id,
        policies=frozenset(Hierarchy(v) for v in stored.policies),
        name=stored.name,
        created_by=stored.created_by,
        created_at=stored.created_at,
        expires_at=stored.expires_at,
        revoked_at=stored.revoked_at,
    )


def create_token(
    db: Database,
    party_id: str,
    policies: Sequence[Hierarchy] = (),
    *,
    actor: str,
    name: str | None = None,
    expires_days: int | None = DEFAULT_EXPIRY_DAYS,
    clock: Clock = _utc_now,
) -> NewToken:
    """Make a token for a party under the given policies (default: every policy it is authorised under).

    ``expires_days`` None or 0 makes a token that does not expire. Audited; the text is returned once.
    """
    if expires_days is not None and not 0 <= expires_days <= MAX_EXPIRY_DAYS:
        raise InvalidInput("token.bad_expiry", f"A token expires in 0 (never) to {MAX_EXPIRY_DAYS} days.")
    if name is not None and len(name) > 200:
        raise InvalidInput("token.bad_name", "A token's name is at most 200 characters.")
    now = clock()
    with db.transaction() as tx:
        party = load_party(tx, party_id)
        statuses = {
            Hierarchy(s.policy): SubscriberStatus(s.status) for s in ra_store.subscribers_of(tx, party_id)
        }
        wanted = list(dict.fromkeys(policies))
        if not wanted:
            wanted = [h for h in Hierarchy if statuses.get(h) is SubscriberStatus.AUTHORISED]
            if not wanted:
                require_authorised(None, Hierarchy.ORGANISATION, party.party_id)
        for policy in wanted:
            require_authorised(statuses.get(policy), policy, party.party_id)
        text = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
        expires_at = now + timedelta(days=expires_days) if expires_days else None
        token = _from_stored(
            token_store.add_token(
                tx,
                token_sha256=token_sha256(text),
                hint=text[: len(TOKEN_PREFIX) + 4],
                party_id=party.party_id,
                policies=sorted(p.value for p in wanted),
                name=name,
                created_by=actor,
                created_at=now,
                expires_at=expires_at,
            )
        )
        audit.record(
            tx,
            actor=actor,
            action="api.token.create",
            object_type="api.token",
            object_id=str(token.token_id),
            details={
                "party_id": token.party_id,
                "policies": sorted(p.value for p in token.policies),
                "name": name,
                "expires_at": expires_at.isoformat() if expires_at else None,
                "hint": token.hint,
            },
        )
    return NewToken(token, text)


def list_tokens(db: Database, *, party_id: str | None = None) -> list[ApiToken]:
    """Every token (of one party, when given), oldest first."""
    with db.read_transaction() as tx:
        return [_from_stored(t) for t in token_store.tokens(tx, party_id=party_id)]


def revoke_token(db: Database, token_id: int, *, actor: str, clock: Clock = _utc_now) -> ApiToken:
    """Revoke a token: it stops working at once. Revoking it again is refused."""
    with db.transaction() as tx:
        found = token_store.token_by_id(tx, token_id, for_update=True)
        if found is None:
            raise SmkiError("token.not_found", f"There is no token with id {token_id}.")
        if found.revoked_at is not None:
            raise InvalidInput("token.already_revoked", f"Token {token_id} is already revoked.")
        at = clock()
        token_store.revoke_token(tx, token_id, at=at)
        audit.record(
            tx,
            actor=actor,
            action="api.token.revoke",
            object_type="api.token",
            object_id=str(token_id),
            details={"party_id": found.party_id, "hint": found.hint},
        )
        return replace(_from_stored(found), revoked_at=at)


def authenticate(db: Database, presented: str | None, *, clock: Clock = _utc_now) -> ApiToken:
    """The live token whose text was presented, or NotAuthenticated (missing, unknown, revoked, expired)."""
    if not presented:
        raise NotAuthenticated(
            "auth.missing", "This endpoint needs an API token: send 'Authorization: Bearer <token>'."
        )
    if not _TOKEN_SHAPE.fullmatch(presented):
        raise NotAuthenticated("auth.invalid", "The API token is not valid.")
    with db.read_transaction() as tx:
        stored = token_store.token_by_sha256(tx, token_sha256(presented))
    token = _from_stored(stored) if stored is not None else None
    if token is None:
        raise NotAuthenticated("auth.invalid", "The API token is not valid.")
    state = token.state(clock())
    if state == "revoked":
        raise NotAuthenticated("auth.revoked", f"API token {token.token_id} has been revoked.")
    if state == "expired":
        raise NotAuthenticated("auth.expired", f"API token {token.token_id} has expired.")
    return token


def require_policy(token: ApiToken, policy: Hierarchy) -> None:
    """Refuse a request under a Certificate Policy the token was not made for."""
    if policy in token.policies:
        return
    granted = ", ".join(sorted(p.value for p in token.policies)) or "none"
    raise PolicyRefusal(
        "token.policy_not_granted",
        f"API token {token.token_id} of '{token.party_id}' is not for the {POLICY_TITLES[policy]} "
        f"(it is for: {granted}).",
    )


def require_policy_for_csr(
    token: ApiToken, csr: bytes, env: PkiEnvironment, *, kind: CertificateKind | None = None
) -> CertificateKind:
    """Read what the CSR asks for and refuse it when the token is not for that policy; return the kind."""
    facts = read_csr(csr, env, expected_kind=kind)
    require_policy(token, facts.kind.hierarchy)
    return facts.kind


@dataclass(frozen=True, slots=True)
class ScreenedBatch:
    """A batch after the token's scope check: what goes on to the RA, and what was refused already."""

    accepted: list[bytes]
    positions: list[int]  # the input index of each accepted CSR
    refused: dict[int, dict[str, str | None]]  # input index -> error


def screen_batch(
    token: ApiToken, csrs: Sequence[bytes], env: PkiEnvironment, *, kind: CertificateKind
) -> ScreenedBatch:
    """Refuse, one by one, the CSRs of a batch that are not of ``kind`` or not in the token's scope."""
    require_policy(token, kind.hierarchy)
    accepted: list[bytes] = []
    positions: list[int] = []
    refused: dict[int, dict[str, str | None]] = {}
    for index, csr in enumerate(csrs):
        try:
            require_policy_for_csr(token, csr, env, kind=kind)
        except SmkiError as exc:
            refused[index] = exc.as_dict()
            continue
        accepted.append(csr)
        positions.append(index)
    return ScreenedBatch(accepted, positions, refused)


def require_own_certificate(token: ApiToken, subscriber: str | None, serial_hex: str) -> None:
    """A subscriber endpoint shows a party its own certificates only (the repository shows everyone's)."""
    if subscriber != token.party_id:
        raise SmkiError(
            "request.not_found",
            f"'{token.party_id}' has no certificate with serial {serial_hex}; "
            "the public repository (/v1/repository/certificates) shows every certificate.",
        )


__all__ = [
    "DEFAULT_EXPIRY_DAYS",
    "TOKEN_PREFIX",
    "ApiToken",
    "NewToken",
    "NotAuthenticated",
    "ScreenedBatch",
    "authenticate",
    "create_token",
    "list_tokens",
    "require_own_certificate",
    "require_policy",
    "require_policy_for_csr",
    "revoke_token",
    "screen_batch",
    "token_sha256",
]
