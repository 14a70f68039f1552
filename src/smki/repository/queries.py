"""Repository queries: one certificate by serial, searches with keyset pagination, full and incremental
extracts streamed in batches."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from smki.model import (
    CertificateKind,
    CertificateStatus,
    EntityId,
    InvalidInput,
    KeyUsage,
    RemotePartyRole,
    SmkiError,
)
from smki.repository.views import CertificateView, view_of
from smki.storage import Database, repository_store

MAX_PAGE = 1000
EXTRACT_BATCH = 1000
FORMATS = ("jsonl", "pem")

Progress = Callable[[int], None]


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True)
class SearchPage:
    """One page of results; ``next_after`` is the cursor of the next page (None on the last one)."""

    items: list[CertificateView]
    next_after: str | None


def get_certificate(
    db: Database, serial_hex: str, *, issuer_name: str | None = None, now: datetime | None = None
) -> CertificateView:
    """The certificate with this serial (hex, any case, optional ``0x`` or colons), optionally of one issuer.

    InvalidInput ``serial.syntax`` for a malformed serial; SmkiError ``repository.not_found`` when no
    certificate has it; InvalidInput ``repository.ambiguous_serial`` when two issuers used it.
    """
    serial = repository_store.canonical_serial(serial_hex)
    at = now or _now()
    with db.read_transaction() as tx:
        entries = repository_store.by_serial(tx, serial, issuer_name)
    if not entries:
        where = f" issued by {issuer_name}" if issuer_name else ""
        raise SmkiError(
            "repository.not_found",
            f"No certificate with serial {serial}{where} is in the SMKI Repository.",
        )
    if len(entries) > 1:
        raise InvalidInput(
            "repository.ambiguous_serial",
            f"More than one certificate has serial {serial}: name its issuer.",
        )
    return view_of(entries[0], at)


def _cursor(after: str | None) -> int | None:
    if after is None:
        return None
    if not after.isdigit() or len(after) > 19:
        raise InvalidInput("repository.bad_cursor", f"'{after[:40]}' is not a cursor this repository gave.")
    return int(after)


def search(
    db: Database,
    *,
    entity_id: EntityId | None = None,
    key_usage: KeyUsage | None = None,
    role: RemotePartyRole | None = None,
    status: CertificateStatus | None = None,
    issuer_name: str | None = None,
    kind: CertificateKind | None = None,
    limit: int = 100,
    after: str | None = None,
    now: datetime | None = None,
) -> SearchPage:
    """Certificates matching every given filter, oldest first, ``limit`` at a time.

    ``entity_id`` matches an Organisation or IKI subject's x500UniqueIdentifier and a Device
    Certificate's hwSerialNum alike. Pass the returned ``next_after`` as ``after`` for the next page
    (keyset pagination: no page repeats or skips a certificate, whatever is issued in between).
    """
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput("repository.bad_limit", f"The page size must be between 1 and {MAX_PAGE}.")
    after_id = _cursor(after)
    at = now or _now()
    with db.read_transaction() as tx:
        entries = repository_store.search(
            tx,
            now=at,
            entity_id=entity_id.compact if entity_id is not None else None,
            key_usage=key_usage.value if key_usage is not None else None,
            role_code=role.code if role is not None else None,
            status=status.value if status is not None else None,
            issuer_name=issuer_name,
            kind=kind.value if kind is not None else None,
            after_id=after_id,
            limit=limit + 1,
        )
    items = [view_of(entry, at) for entry in entries[:limit]]
    next_after = str(entries[limit - 1].id) if len(entries) > limit else None
    return SearchPage(items, next_after)


# --- extracts ------------------------------------------------------------------------------------------


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise InvalidInput("repository.bad_format", f"'{fmt}' is not an extract format: use jsonl or pem.")


def _json_line(value: dict[str, object]) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode("utf-8") + b"\n"


def _render(views: list[CertificateView], fmt: str) -> bytes:
    if fmt == "jsonl":
        return b"".join(_json_line(v.as_dict()) for v in views)
    parts = []
    for v in views:
        # Text outside BEGIN/END lines is ignored by PEM readers (RFC 7468 section 2).
        parts.append(
            f"Serial: {v.serial_hex}\nIssuer: {v.issuer_name}\nStatus: {v.status.value}\n{v.pem}".encode(
                "ascii"
            )
        )
    return b"".join(parts)


def _header(fmt: str, header: dict[str, object]) -> bytes:
    if fmt == "jsonl":
        return _json_line(header)
    return "".join(f"# {k}: {v}\n" for k, v in header.items()).encode("utf-8")


def full_extract(
    db: Database,
    *,
    fmt: str = "jsonl",
    batch_size: int = EXTRACT_BATCH,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> Iterator[bytes]:
    """Every certificate in the repository, streamed: a header, one chunk per batch, a trailer.

    Each batch is read in its own short read transaction (keyset on id), so a 10^8-row extract never
    holds a snapshot or memory for the whole table. The header's ``as_of_change_seq`` is where the
    next incremental extract should start; certificates changed during the extract may appear in both.
    JSONL: header ``{"extract": "full", ...}``, one ``CertificateView.as_dict()`` per line, trailer
    ``{"end": true, "certificates": N}``. PEM: ``# key: value`` header lines, then each certificate.
    """
    _check_format(fmt)
    at = now or _now()
    with db.read_transaction() as tx:
        as_of = repository_store.max_change_seq(tx)
    yield _header(fmt, {"extract": "full", "as_of_change_seq": as_of, "generated_at": at.isoformat()})
    after_id, total = 0, 0
    while True:
        with db.read_transaction() as tx:
            entries = repository_store.batch_by_id(tx, after_id=after_id, limit=batch_size)
        if entries:
            after_id = entries[-1].id
        views = [view_of(entry, at) for entry in entries]
        if not views:
            break
        total += len(views)
        yield _render(views, fmt)
        if progress is not None:
            progress(total)
    if fmt == "jsonl":
        yield _json_line({"end": True, "certificates": total})


def incremental_extract(
    db: Database,
    *,
    since_sequence: int | None = None,
    since_time: datetime | None = None,
    fmt: str = "jsonl",
    batch_size: int = EXTRACT_BATCH,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> Iterator[bytes]:
    """The certificates issued or changed (revoked) after change ``since_sequence`` and/or at or after
    ``since_time``, in change order, each once in its current state; streamed like :func:`full_extract`.

    The trailer (JSONL) gives ``last_change_seq``: the ``since_sequence`` of the next incremental.
    With neither bound, every certificate that has a change sequence is listed.
    """
    _check_format(fmt)
    if since_sequence is not None and since_sequence < 0:
        raise InvalidInput("repository.bad_since", "The change sequence to start after must not be negative.")
    if since_time is not None and (since_time.tzinfo is None or since_time.utcoffset() is None):
        raise InvalidInput("repository.bad_since", "The time to start from must carry a timezone.")
    at = now or _now()
    after_seq = since_sequence or 0
    with db.read_transaction() as tx:
        up_to = repository_store.max_change_seq(tx)
        if since_time is not None:
            first = repository_store.first_change_at_or_after(tx, since_time)
            after_seq = max(after_seq, (first - 1) if first is not None else up_to)
    yield _header(
        fmt,
        {
            "extract": "incremental",
            "since_change_seq": since_sequence,
            "since_time": since_time.isoformat() if since_time is not None else None,
            "as_of_change_seq": up_to,
            "generated_at": at.isoformat(),
        },
    )
    total = 0
    while True:
        with db.read_transaction() as tx:
            entries = repository_store.batch_by_change(
                tx, after_seq=after_seq, up_to_seq=up_to, limit=batch_size, since_time=since_time
            )
        if entries:
            after_seq = entries[-1].change_seq or after_seq
        views = [view_of(entry, at) for entry in entries]
        if not views:
            break
        total += len(views)
        yield _render(views, fmt)
        if progress is not None:
            progress(total)
    if fmt == "jsonl":
        yield _json_line({"end": True, "certificates": total, "last_change_seq": up_to})
