"""Batch issuance of Device Certificates (and any other end-entity kind) through the full RA pipeline.

Each CSR goes through ``RegistrationAuthority.check_many`` (parse, proof of possession, profile, subscriber
authorised, eligibility, duplicate key, approvals) and the accepted ones through the CA's ``issue_many``
(serials reserved and committed before signing; certificates, intents and one audit entry per certificate
stored in one transaction per chunk). Nothing here decides a rule.

Work is split into chunks (``chunk_size`` CSRs) and done by ``workers`` spawned processes, each with its own
database connection and its own key backend (``smki.keys.open_backend``: no key material crosses a process
boundary). A chunk is done in two steps so that a key appearing twice in the batch is refused exactly as
``check_many`` refuses a duplicate within one call, whatever chunks the two requests fall in:

1. *check* (worker): ``check_many`` on the chunk; the accepted requests come back with their key digest.
2. the parent takes chunks in order and refuses an accepted request whose key an earlier chunk of the
   batch already had accepted (L11.4, through ``policy.csr.check_duplicate_key``);
3. *issue* (the same worker, which kept the chunk's accepted requests from step 1): ``issue_many`` on
   the rest of the chunk, with the RA's duplicate-key guard
   (``smki.ra.key_guard``): inside the storing transaction, under the per-hierarchy lock, a key decided as
   new that another batch, worker or process has had certified since step 1 is refused (L11.4). Should
   the CA or the guard refuse one of them, the chunk is issued again one request at a time so that only
   that request fails.

Results stream in input order; at most ``2 * workers`` chunks are in flight, so memory does not grow with
the batch (the parent keeps the key digests accepted so far, 32 bytes each, for step 2).
"""

from __future__ import annotations

import base64
import gc
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sized
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import load_der_public_key

from smki.ca import CertificateAuthorities, IssueRequest, backend_in_use
from smki.model import CertificateKind, EntityId, Hierarchy, KeyUsage, RemotePartyRole, SmiStatus, SmkiError
from smki.policy.csr import check_duplicate_key
from smki.policy.eligibility import DeviceType
from smki.profiles.environment import PkiEnvironment
from smki.ra.authority import CertificateRequest, Decision, RegistrationAuthority
from smki.ra.key_guard import KeyClaim, key_guard, reuse_allowed_by
from smki.ra.parties import load_parties
from smki.storage import Database


@dataclass(frozen=True, slots=True)
class BatchItemResult:
    """The outcome of one CSR of a batch: its certificate, or the refusal (``SmkiError.as_dict()``)."""

    index: int
    ok: bool
    serial_hex: str | None
    der: bytes | None
    error: dict[str, str | None] | None

    @property
    def pem(self) -> str | None:
        """The certificate as PEM text (made when asked for)."""
        return _pem(self.der) if self.der is not None else None


# What crosses the process boundary: plain values only (no key objects, no key bytes of any CA).
# (index, hierarchy, key sha256, issue fields, re-use of a certified key allowed)
_Accepted = tuple[int, str, str, tuple[Any, ...], bool]
_Refused = tuple[int, dict[str, str | None]]


class BatchIssuer:
    """Issues certificates for a stream of CSRs, in chunks, on worker processes (see the module doc)."""

    def __init__(
        self,
        db: Database,
        home: Path,
        env: PkiEnvironment,
        *,
        workers: int = 0,
        chunk_size: int = 4000,
        key_backend: str | None = None,
    ) -> None:
        if chunk_size < 1:
            raise SmkiError("batch.chunk_size", "The chunk size must be at least 1.")
        self.db = db
        self.home = Path(home)
        self.env = env
        self.workers = workers if workers > 0 else (os.cpu_count() or 1)
        self.chunk_size = chunk_size
        self.key_backend = key_backend or backend_in_use(db) or "soft"

    def run(
        self,
        csrs: Iterable[bytes],
        *,
        party_id: str,
        actor: str,
        progress: Callable[[int, int], None] | None = None,
        device_type: DeviceType | None = None,
        smi_status: SmiStatus | None = None,
    ) -> Iterator[BatchItemResult]:
        """Check and issue every CSR; yield one result per CSR, in input order, as chunks finish.

        ``device_type`` / ``smi_status`` describe the Devices of a Device Certificate batch (L3.16); without
        ``device_type`` each Device request is refused as the RA refuses it alone. ``progress(done, total)``
        is called after each chunk (total 0 when ``csrs`` has no length).
        """
        total = len(csrs) if isinstance(csrs, Sized) else 0
        chunk_size = _balanced_chunk_size(total, self.workers, self.chunk_size)
        with self.db.read_session() as session:
            requester = load_parties(session, {party_id}).get(party_id)
        requester_is_dcc = requester is not None and requester.is_dcc
        accepted_keys: dict[str, set[bytes]] = {h.value: set() for h in Hierarchy}
        depth = 2 * self.workers
        context = get_context("spawn")
        # One single-process executor per worker: a chunk is checked and issued by the same worker, which
        # keeps the chunk's accepted requests in memory between the two steps.
        pools = [
            ProcessPoolExecutor(
                1,
                mp_context=context,
                initializer=_init_worker,
                initargs=(self.db.url, self.db.connect_args, str(self.home), self.env, self.key_backend),
            )
            for _ in range(self.workers)
        ]

        def pool_of(start: int) -> ProcessPoolExecutor:
            return pools[(start // chunk_size) % len(pools)]

        checks: deque[tuple[int, int, Future[tuple[list[_Accepted], list[_Refused]]]]] = deque()
        issues: deque[tuple[int, int, list[_Refused], Future[list[_Outcome]]]] = deque()
        chunks = _chunks(csrs, chunk_size)
        exhausted = False
        done = 0
        try:
            while True:
                while not exhausted and len(checks) + len(issues) < depth:
                    chunk = next(chunks, None)
                    if chunk is None:
                        exhausted = True
                        break
                    start, items = chunk
                    fut = pool_of(start).submit(_check_chunk, start, items, party_id, device_type, smi_status)
                    checks.append((start, len(items), fut))
                if checks and (len(issues) < self.workers or not issues):
                    start, count, check_future = checks.popleft()
                    accepted, refused = _result(check_future)
                    keep: list[_Accepted] = []
                    for item in accepted:
                        index, hierarchy, digest, fields, _ = item
                        key = bytes.fromhex(digest)
                        if key in accepted_keys[hierarchy]:
                            try:
                                check_duplicate_key(
                                    CertificateKind(fields[0]),
                                    key_in_family=True,
                                    requester_is_dcc=requester_is_dcc,
                                    role=RemotePartyRole(fields[4]) if fields[4] is not None else None,
                                )
                            except SmkiError as exc:
                                refused.append((index, exc.as_dict()))
                                continue
                        accepted_keys[hierarchy].add(key)
                        keep.append(item)
                    issue_future = pool_of(start).submit(_issue_chunk, keep, actor)
                    issues.append((start, count, refused, issue_future))
                    continue
                if not issues:
                    break
                start, count, refused, issue_future = issues.popleft()
                outcomes: dict[int, tuple[bool, str | None, bytes | None, dict[str, str | None] | None]] = {}
                for index, ok, serial, der, error in _result(issue_future):
                    outcomes[index] = (ok, serial, der, error)
                for index, error in refused:
                    outcomes[index] = (False, None, None, error)
                for index in range(start, start + count):
                    ok, serial, der, error = outcomes[index]
                    yield BatchItemResult(index, ok, serial, der, error)
                done += count
                if progress is not None:
                    progress(done, total)
        except BrokenProcessPool:
            # ``submit`` raises this too once a worker has died (``_result`` covers ``future.result()``).
            raise _worker_died() from None
        finally:
            for pool in pools:
                pool.shutdown(wait=True, cancel_futures=True)


_Outcome = tuple[int, bool, str | None, bytes | None, dict[str, str | None] | None]


def _result(future: Future[Any]) -> Any:
    try:
        return future.result()
    except BrokenProcessPool:
        raise _worker_died() from None


def _worker_died() -> SmkiError:
    return SmkiError(
        "batch.worker_died",
        "A batch worker process died; the certificates already returned are issued and recorded, the "
        "rest were not released: submit them again (already certified keys are refused as duplicates).",
    )


def _balanced_chunk_size(total: int, workers: int, limit: int) -> int:
    """At most ``limit`` CSRs per chunk, and, when the batch size is known, chunks of equal size in a
    multiple of ``workers`` so that no worker is left with the last chunk alone."""
    if total <= 0:
        return limit
    rounds = -(-total // (workers * limit))
    return max(1, -(-total // (rounds * workers)))


def _chunks(csrs: Iterable[bytes], size: int) -> Iterator[tuple[int, list[bytes]]]:
    items: list[bytes] = []
    start = 0
    for csr in csrs:
        items.append(csr)
        if len(items) == size:
            yield start, items
            start += size
            items = []
    if items:
        yield start, items


def _pem(der: bytes) -> str:
    body = base64.b64encode(der).decode("ascii")
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN CERTIFICATE-----\n{lines}\n-----END CERTIFICATE-----\n"


# --- worker processes ---------------------------------------------------------------------------------

_worker: dict[str, Any] = {}
_PENDING_LIMIT = 100_000


def _init_worker(
    url: str, connect_args: dict[str, Any], home: str, env: PkiEnvironment, key_backend: str
) -> None:
    from smki.keys import open_backend

    db = Database(url, connect_args=connect_args)
    keys = open_backend(key_backend, Path(home))
    cas = CertificateAuthorities.open(db, keys, env)
    cas.cycle.verify_every_signature = False  # the first signature of each key per chunk is verified
    _worker["ra"] = RegistrationAuthority(db, cas, env)
    _worker["cas"] = cas
    _worker["pending"] = {}
    # What is loaded now (modules, the database engine, the CAs) lives as long as the worker: moved out of
    # the collector's reach, the full collections that each chunk's many objects set off no longer walk it.
    gc.collect()
    gc.freeze()


def _check_chunk(
    start: int,
    csrs: list[bytes],
    party_id: str,
    device_type: DeviceType | None,
    smi_status: SmiStatus | None,
) -> tuple[list[_Accepted], list[_Refused]]:
    ra: RegistrationAuthority = _worker["ra"]
    pending: dict[int, IssueRequest] = _worker.setdefault("pending", {})
    if len(pending) > _PENDING_LIMIT:  # requests the parent refused (cross-chunk duplicates) pile up
        pending.clear()
    requests = [
        CertificateRequest(csr, party_id, device_type=device_type, smi_status=smi_status) for csr in csrs
    ]
    accepted: list[_Accepted] = []
    refused: list[_Refused] = []
    for offset, outcome in enumerate(ra.check_many(requests)):
        index = start + offset
        if isinstance(outcome, SmkiError):
            refused.append((index, outcome.as_dict()))
            continue
        facts = outcome.facts
        pending[index] = outcome.issue_request
        accepted.append(
            (
                index,
                facts.kind.hierarchy.value,
                facts.public_key_sha256,
                _fields(outcome),
                reuse_allowed_by(outcome.key_decision, outcome.approvals),
            )
        )
    return accepted, refused


def _fields(decision: Decision) -> tuple[Any, ...]:
    r = decision.issue_request
    return (
        r.kind.value,
        decision.facts.public_key_der,
        r.key_usage.value,
        r.entity_id.value,
        r.role.code if r.role is not None else None,
        r.common_name,
        r.not_before,
        r.not_after,
        r.approval_reference,
        r.subscriber,
    )


def _request(fields: tuple[Any, ...]) -> IssueRequest:
    kind, spki, usage, eui, role, common_name, not_before, not_after, approval, subscriber = fields
    public_key = load_der_public_key(spki)
    return IssueRequest(
        kind=CertificateKind(kind),
        public_key=public_key,  # type: ignore[arg-type]  # a P-256 key: check_many accepted it
        key_usage=KeyUsage(usage),
        entity_id=EntityId(eui),
        role=RemotePartyRole(role) if role is not None else None,
        common_name=common_name,
        not_before=not_before,
        not_after=not_after,
        approval_reference=approval,
        subscriber=subscriber,
        public_key_der=spki,
    )


def _pending_request(kept: IssueRequest | None, fields: tuple[Any, ...]) -> IssueRequest:
    """The request kept at check time when it is the one these fields describe, else one rebuilt."""
    if kept is not None and kept.kind.value == fields[0] and kept.entity_id.value == fields[3]:
        return kept
    return _request(fields)


def _issue_chunk(items: list[_Accepted], actor: str) -> list[_Outcome]:
    cas: CertificateAuthorities = _worker["cas"]
    if not items:
        return []
    # The requests this worker accepted when it checked the chunk; rebuilt from the fields otherwise.
    pending: dict[int, IssueRequest] = _worker.setdefault("pending", {})
    requests = [_pending_request(pending.pop(index, None), fields) for index, _, _, fields, _ in items]
    # L11.4 again in the storing transaction: another batch or process may have certified a key since.
    # (each request's kind is the CertificateKind(fields[0]) its fields name: ``_pending_request``)
    claims = [
        KeyClaim(request.kind, digest, reuse)
        for request, (_, _, digest, _, reuse) in zip(requests, items, strict=True)
    ]
    try:
        issued = cas.issue_many(requests, actor=actor, on_stored=key_guard(claims))
    except SmkiError:
        # One of them was refused by the CA or the duplicate-key guard (nothing of the chunk was released):
        # issue one by one so that only the refused request fails.
        out: list[_Outcome] = []
        for (index, *_), request, claim in zip(items, requests, claims, strict=True):
            try:
                one = cas.issue_many([request], actor=actor, on_stored=key_guard([claim]))[0]
            except SmkiError as exc:
                out.append((index, False, None, None, exc.as_dict()))
                continue
            out.append((index, True, one.serial_hex, one.der, None))
        return out
    return [
        (index, True, cert.serial_hex, cert.der, None)
        for (index, *_), cert in zip(items, issued, strict=True)
    ]


__all__ = ["BatchIssuer", "BatchItemResult"]
