"""Batch issuance of Device Certificates (and any other end-entity kind) through the full RA pipeline.

Each CSR goes through ``RegistrationAuthority.check_many`` (parse, proof of possession, profile, subscriber
authorised, eligibility, duplicate key, approvals) and the accepted ones through the RA's ``issue`` (the
CA's ``issue_many``: serials reserved and committed before signing; certificates, intents and one audit
entry per certificate stored in one transaction per chunk). Nothing here decides a rule.

Work is split into chunks (``chunk_size`` CSRs) and done by ``workers`` spawned processes, each with its own
database connection and its own key backend (``smki.keys.open_backend``: no key material crosses a process
boundary). A chunk is done in two steps so that a key appearing twice in the batch is refused exactly as
``check_many`` refuses a duplicate within one call, whatever chunks the two requests fall in:

1. *check* (worker, ``_check_chunk``): ``check_many`` on the chunk; the worker keeps the accepted decisions
   and sends back a ``CheckedChunk``: each accepted request's ``AcceptedKey`` and each refusal.
2. the parent takes chunks in order and refuses an accepted request whose key an earlier chunk of the
   batch already had accepted (L11.4, through ``policy.csr.check_duplicate_key``);
3. *issue* (the same worker, ``_issue_chunk``): the RA issues the chunk's decisions the parent kept, with
   the duplicate-key guard (``smki.ra.key_guard``): inside the storing transaction, under the
   per-hierarchy lock, a key decided as new that another batch, worker or process has had certified since
   step 1 is refused (L11.4). Should the CA or the guard refuse one of them, the chunk is issued again one
   request at a time so that only that request fails. The CA verifies the first signature of each of its
   keys per chunk (``SignatureCheck.FIRST_PER_KEY``).

What crosses a process boundary is typed and plain: a ``BatchSetup`` to start each worker, a chunk's start
and CSR bytes or kept indexes to it, a ``CheckedChunk`` or ``BatchItemResult`` values back. No key object
or key bytes of any CA.

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
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, TypeVar

from smki.ca import CertificateAuthorities, backend_in_use
from smki.ca.issuance import SignatureCheck
from smki.model import CertificateKind, Hierarchy, RemotePartyRole, SmiStatus, SmkiError
from smki.policy.csr import check_duplicate_key
from smki.policy.eligibility import DeviceType
from smki.profiles.environment import PkiEnvironment
from smki.ra.authority import CertificateRequest, Decision, RegistrationAuthority
from smki.ra.parties import load_parties
from smki.storage import Database

_T = TypeVar("_T")


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

    def __reduce__(self) -> tuple[type[BatchItemResult], tuple[Any, ...]]:
        # Pickled as its field values (workers send results back): a fifth of the default's cost.
        return (BatchItemResult, (self.index, self.ok, self.serial_hex, self.der, self.error))


@dataclass(frozen=True, slots=True)
class AcceptedKey:
    """A request a worker accepted, as the parent needs it for the cross-chunk duplicate-key check."""

    index: int
    kind: CertificateKind
    role: RemotePartyRole | None
    public_key_sha256: str  # hex SHA-256 of the SubjectPublicKeyInfo DER

    def __reduce__(self) -> tuple[type[AcceptedKey], tuple[Any, ...]]:
        # Pickled as its field values (one per accepted CSR): a fifth of the default's cost.
        return (AcceptedKey, (self.index, self.kind, self.role, self.public_key_sha256))


@dataclass(frozen=True, slots=True)
class CheckedChunk:
    """What a worker's check of one chunk sends back: the accepted requests' keys and the refusals."""

    accepted: tuple[AcceptedKey, ...]
    refused: tuple[BatchItemResult, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchSetup:
    """What each worker process is started with: where the SMKI is, and the batch's common request facts."""

    database_url: str
    connect_args: dict[str, Any]
    home: str
    env: PkiEnvironment
    key_backend: str
    party_id: str
    actor: str
    device_type: DeviceType | None
    smi_status: SmiStatus | None


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
        with self.db.read_transaction() as tx:
            requester = load_parties(tx, {party_id}).get(party_id)
        requester_is_dcc = requester is not None and requester.is_dcc
        accepted_keys: dict[Hierarchy, set[bytes]] = {h: set() for h in Hierarchy}
        setup = BatchSetup(
            database_url=self.db.url,
            connect_args=self.db.connect_args,
            home=str(self.home),
            env=self.env,
            key_backend=self.key_backend,
            party_id=party_id,
            actor=actor,
            device_type=device_type,
            smi_status=smi_status,
        )
        depth = 2 * self.workers
        context = get_context("spawn")
        # One single-process executor per worker: a chunk is checked and issued by the same worker, which
        # keeps the chunk's accepted decisions in memory between the two steps.
        pools = [
            ProcessPoolExecutor(1, mp_context=context, initializer=_init_worker, initargs=(setup,))
            for _ in range(self.workers)
        ]

        def pool_of(start: int) -> ProcessPoolExecutor:
            return pools[(start // chunk_size) % len(pools)]

        checks: deque[tuple[int, int, Future[CheckedChunk]]] = deque()
        issues: deque[tuple[int, int, list[BatchItemResult], Future[list[BatchItemResult]]]] = deque()
        chunks = _chunks(csrs, chunk_size)
        exhausted = False
        done = 0
        try:
            while True:
                # 1. keep up to ``depth`` chunks in flight: send the next ones to be checked
                while not exhausted and len(checks) + len(issues) < depth:
                    chunk = next(chunks, None)
                    if chunk is None:
                        exhausted = True
                        break
                    start, items = chunk
                    checks.append((start, len(items), pool_of(start).submit(_check_chunk, start, items)))
                # 2. the oldest checked chunk: refuse keys an earlier chunk had, send the rest to be issued
                if checks and (len(issues) < self.workers or not issues):
                    start, count, check_future = checks.popleft()
                    checked = _result(check_future)
                    refused = list(checked.refused)
                    keep: list[int] = []
                    for item in checked.accepted:
                        key = bytes.fromhex(item.public_key_sha256)
                        family = accepted_keys[item.kind.hierarchy]
                        if key in family:
                            try:
                                check_duplicate_key(
                                    item.kind,
                                    key_in_family=True,
                                    requester_is_dcc=requester_is_dcc,
                                    role=item.role,
                                )
                            except SmkiError as exc:
                                refused.append(_refused(item.index, exc))
                                continue
                        family.add(key)
                        keep.append(item.index)
                    issues.append((start, count, refused, pool_of(start).submit(_issue_chunk, start, keep)))
                    continue
                if not issues:
                    break
                # 3. the oldest issued chunk: its results, in input order
                start, count, refused, issue_future = issues.popleft()
                outcomes = {r.index: r for r in _result(issue_future)}
                outcomes.update((r.index, r) for r in refused)
                for index in range(start, start + count):
                    yield outcomes[index]
                done += count
                if progress is not None:
                    progress(done, total)
        except BrokenProcessPool:
            # ``submit`` raises this too once a worker has died (``_result`` covers ``future.result()``).
            raise _worker_died() from None
        finally:
            for pool in pools:
                pool.shutdown(wait=True, cancel_futures=True)


def _result(future: Future[_T]) -> _T:
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


def _refused(index: int, refusal: SmkiError) -> BatchItemResult:
    return BatchItemResult(index=index, ok=False, serial_hex=None, der=None, error=refusal.as_dict())


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


@dataclass(slots=True)
class _Worker:
    """A worker process's own RA and CAs, and the decisions of the chunks it checked and has yet to issue."""

    setup: BatchSetup
    ra: RegistrationAuthority
    pending: dict[int, dict[int, Decision]] = field(default_factory=dict)  # chunk start -> index -> decision


_worker: _Worker | None = None  # this process's, once ``_init_worker`` has run


def _init_worker(setup: BatchSetup) -> None:
    from smki.keys import open_backend

    global _worker
    db = Database(setup.database_url, connect_args=setup.connect_args)
    keys = open_backend(setup.key_backend, Path(setup.home))
    cas = CertificateAuthorities.open(db, keys, setup.env)
    _worker = _Worker(setup, RegistrationAuthority(db, cas, setup.env))
    # What is loaded now (modules, the database engine, the CAs) lives as long as the worker: moved out of
    # the collector's reach, the full collections that each chunk's many objects set off no longer walk it.
    gc.collect()
    gc.freeze()


def _current_worker() -> _Worker:
    if _worker is None:
        raise RuntimeError("not a batch worker process: _init_worker has not run")
    return _worker


def _check_chunk(start: int, csrs: list[bytes]) -> CheckedChunk:
    """Step 1: check the chunk; keep the accepted decisions here until the parent sends the chunk back."""
    worker = _current_worker()
    setup = worker.setup
    requests = [
        CertificateRequest(
            csr=csr, party_id=setup.party_id, device_type=setup.device_type, smi_status=setup.smi_status
        )
        for csr in csrs
    ]
    kept: dict[int, Decision] = {}
    accepted: list[AcceptedKey] = []
    refused: list[BatchItemResult] = []
    for index, outcome in enumerate(worker.ra.check_many(requests), start):
        if isinstance(outcome, SmkiError):
            refused.append(_refused(index, outcome))
            continue
        kept[index] = outcome
        facts = outcome.facts
        accepted.append(AcceptedKey(index, facts.kind, facts.role, facts.public_key_sha256))
    worker.pending[start] = kept
    return CheckedChunk(tuple(accepted), tuple(refused))


def _issue_chunk(start: int, indexes: list[int]) -> list[BatchItemResult]:
    """Step 3: issue the chunk's decisions at ``indexes`` (those the parent kept), all at once or, should
    one be refused, one by one."""
    worker = _current_worker()
    kept = worker.pending.pop(start)
    decisions = [kept[index] for index in indexes]
    if not decisions:
        return []
    try:
        issued = worker.ra.issue(decisions, actor=worker.setup.actor, signatures=SignatureCheck.FIRST_PER_KEY)
    except SmkiError:
        # The CA or the duplicate-key guard refused one of them (nothing of the chunk was released).
        return [
            _issue_alone(worker, index, decision) for index, decision in zip(indexes, decisions, strict=True)
        ]
    return [
        BatchItemResult(index=index, ok=True, serial_hex=cert.serial_hex, der=cert.der, error=None)
        for index, cert in zip(indexes, issued, strict=True)
    ]


def _issue_alone(worker: _Worker, index: int, decision: Decision) -> BatchItemResult:
    try:
        [cert] = worker.ra.issue(
            [decision], actor=worker.setup.actor, signatures=SignatureCheck.FIRST_PER_KEY
        )
    except SmkiError as exc:
        return _refused(index, exc)
    return BatchItemResult(index=index, ok=True, serial_hex=cert.serial_hex, der=cert.der, error=None)


__all__ = ["AcceptedKey", "BatchIssuer", "BatchItemResult", "BatchSetup", "CheckedChunk"]
