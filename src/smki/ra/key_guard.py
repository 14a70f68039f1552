"""L11.4 again, inside the transaction that stores the certificates: no two concurrent requests can both win.

The RA checks duplicate keys (``policy.csr.check_duplicate_key``) against what the repository held when it
read it; the CA stores the certificates later, in another transaction. Two requests with the same new key
(two API calls, two batch workers, two processes) could both pass that check. So the RA hands the CA a
hook (``key_guard``) that runs in the storing transaction, after the rows are inserted and before the
commit: it takes the per-hierarchy lock (``ra_store.lock_key_families``), looks for another certificate of
the family with each key decided as new, and refuses with the same ``csr.duplicate_public_key`` refusal
(L11.4(a), (b) or (c)) as the RA would have. The refusal rolls the whole transaction back; the CA marks
the intents abandoned (audited) and releases nothing.

A request whose re-use of a key the RA allowed (L11.4A with the SMKI PMA's L11.4B(a) approval, or the Root
OCA exception) is not re-checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from smki.ca import IssuedCertificate
from smki.ca.issuance import StoredHook
from smki.model import CertificateKind, Hierarchy, PolicyRefusal, SmkiError
from smki.policy.csr import KeyDecision, check_duplicate_key
from smki.storage import Transaction, ra_store


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyClaim:
    """One request's public key as the RA decided it: its kind (hence family), key digest, and whether
    re-using a key already in the family was allowed."""

    kind: CertificateKind
    public_key_sha256: str  # hex SHA-256 of the SubjectPublicKeyInfo DER
    reuse_allowed: bool

    @classmethod
    def decided(
        cls, kind: CertificateKind, public_key_sha256: str, decision: KeyDecision, approvals: Sequence[str]
    ) -> KeyClaim:
        """The claim of a request the RA accepted with ``decision`` and these SMKI PMA approvals."""
        return cls(
            kind=kind,
            public_key_sha256=public_key_sha256,
            reuse_allowed=reuse_allowed_by(decision, approvals),
        )


def reuse_allowed_by(decision: KeyDecision, approvals: Sequence[str]) -> bool:
    """``KeyClaim.decided(...).reuse_allowed``, without making the claim (the batch checker needs only it)."""
    return decision is KeyDecision.ROOT_OCA_REUSE or (
        decision is KeyDecision.REUSE_NEEDS_PMA_APPROVAL and bool(approvals)
    )


def key_guard(claims: Sequence[KeyClaim]) -> StoredHook:
    """The hook for ``CertificateAuthorities.issue_many(..., on_stored=...)``: one claim per request, in
    request order."""
    frozen = tuple(claims)

    def guard(tx: Transaction, issued: list[IssuedCertificate]) -> None:
        check_claims(tx, frozen, issued)

    return guard


def check_claims(tx: Transaction, claims: Sequence[KeyClaim], issued: Sequence[IssuedCertificate]) -> None:
    """Refuse (PolicyRefusal ``csr.duplicate_public_key``) when a key decided as new is already in another
    certificate of its family than those being stored in the transaction ``tx``."""
    if len(claims) != len(issued) or any(
        c.public_key_sha256 != i.public_key_sha256 or c.kind is not i.kind
        for c, i in zip(claims, issued, strict=True)
    ):
        raise SmkiError(
            "ra.key_guard_mismatch",
            "The certificates being stored are not the ones the RA checked; nothing was released.",
        )
    new_keys: dict[Hierarchy, list[int]] = {}
    seen: set[tuple[Hierarchy, str]] = set()
    for index, claim in enumerate(claims):
        family = (claim.kind.hierarchy, claim.public_key_sha256)
        if not claim.reuse_allowed:
            if family in seen:  # the same new key twice in one store (the RA's check_many prevents it)
                _refuse(claim, index, len(claims))
            new_keys.setdefault(claim.kind.hierarchy, []).append(index)
        seen.add(family)
    if not new_keys:
        return
    ra_store.lock_key_families(tx, [h.value for h in new_keys])
    ours = [i.certificate_id for i in issued if i.certificate_id is not None]
    for hierarchy, indexes in new_keys.items():
        found = ra_store.public_keys_in_family(
            tx,
            [claims[i].public_key_sha256 for i in indexes],
            hierarchy.value,
            excluding_certificate_ids=ours,
        )
        for index in indexes:
            if claims[index].public_key_sha256 in found:
                _refuse(claims[index], index, len(claims))


def _refuse(claim: KeyClaim, index: int, count: int) -> None:
    # The request was decided for a new key, so the refusal is L11.4's own; a re-use the L11.4A/B
    # exceptions would allow goes through the RA again with its SMKI PMA approval.
    try:
        check_duplicate_key(claim.kind, key_in_family=True, requester_is_dcc=False)
    except PolicyRefusal as exc:
        if count > 1:
            raise PolicyRefusal(
                exc.code, f"Request {index + 1} of {count}: {exc.message}", exc.clause
            ) from None
        raise
    raise AssertionError(f"check_duplicate_key allowed a duplicate {claim.kind.title} key")


__all__ = ["KeyClaim", "check_claims", "key_guard", "reuse_allowed_by"]
