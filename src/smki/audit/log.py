"""Writing and verifying the audit chain.

Each entry's hash covers its sequence number, time, actor, action, object, details and the previous
entry's hash, so editing, deleting or reordering any entry breaks the chain from that entry on.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from smki.model.errors import SmkiError
from smki.storage import Database, Transaction, audit_store

GENESIS_HASH = "0" * 64
# Made once (json.dumps with options builds an encoder per call): entry details as canonical JSON, and
# the elements of entry_hash's canonical list.
_DETAILS_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
_STRING_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
# What _STRING_JSON.encode does with a str (JSONEncoder.encode returns encode_basestring(o) for a str when
# ensure_ascii is False), called directly: the per-entry fields are all text.
_encode_text = json.encoder.encode_basestring
_SECRET_KEY = re.compile(r"pass(word|phrase)?|pin$|secret|private", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """A read-only view of one entry."""

    seq: int
    at: str
    actor: str
    action: str
    object_type: str
    object_id: str
    details: dict[str, Any]
    entry_hash: str


def entry_hash(
    *,
    seq: int,
    at: str,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    details: str,
    prev_hash: str,
) -> str:
    """SHA-256 over the canonical JSON of an entry's fields and the previous hash:
    ``[seq, at, actor, action, object_type, object_id, details, prev_hash]``, compact, UTF-8."""
    return _chain_hash(seq, at, _middle(actor, action, object_type, object_id, details), prev_hash)


def _middle(actor: str, action: str, object_type: str, object_id: str, details: str) -> str:
    """The canonical JSON list elements between the time and the previous hash (entry_hash)."""
    return _middle_start(actor, action, object_type) + _middle_end(object_id, details)


def _middle_start(actor: str, action: str, object_type: str) -> str:
    """The first three elements of :func:`_middle`, with the comma that follows them."""
    return f"{_encode_text(actor)},{_encode_text(action)},{_encode_text(object_type)},"


def _middle_end(object_id: str, details: str) -> str:
    """The last two elements of :func:`_middle`."""
    return f"{_encode_text(object_id)},{_encode_text(details)}"


def _chain_hash(seq: int, at: str, middle: str, prev_hash: str) -> str:
    return _chain_hash_of_json(seq, _encode_text(at), middle, _encode_text(prev_hash))


def _chain_hash_of_json(seq: int, at_json: str, middle: str, prev_hash_json: str) -> str:
    """:func:`_chain_hash` given the time and previous hash already encoded as JSON strings."""
    # The compact JSON list, element by element (json.dumps encodes list elements independently).
    canonical = f"[{seq},{at_json},{middle},{prev_hash_json}]"
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def record(
    tx: Transaction,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    details: dict[str, Any] | None = None,
) -> AuditRecord:
    """Append one entry in the caller's transaction (it commits or rolls back with the state change)."""
    payload = details or {}
    _refuse_secrets(payload)
    details_json = _DETAILS_JSON.encode(payload)
    item = AuditInput(actor, action, object_type, object_id, payload)
    middle = _middle(actor, action, object_type, object_id, details_json)
    row = _append_prepared(tx, [PreparedEntry(item, details_json, middle)])[0]
    seq, at, digest = row["seq"], row["at"], row["entry_hash"]
    return AuditRecord(seq, at, actor, action, object_type, object_id, payload, digest)


@dataclass(frozen=True, slots=True)
class AuditInput:
    """One entry to append with :func:`record_many`."""

    actor: str
    action: str
    object_type: str
    object_id: str
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PreparedEntry:
    """An entry made ready outside the write transaction: details screened and serialised, and the
    canonical JSON of its fields between the time and the previous hash (see :func:`entry_hash`)."""

    item: AuditInput
    details_json: str
    middle: str


def prepare_many(items: Sequence[AuditInput]) -> list[PreparedEntry]:
    """Screen and serialise entries before the write transaction, so that the time the audit head is
    locked is spent only on chaining and inserting."""
    out: list[PreparedEntry] = []
    for item in items:
        _refuse_secrets(item.details)
        details_json = _DETAILS_JSON.encode(item.details)
        middle = _middle(item.actor, item.action, item.object_type, item.object_id, details_json)
        out.append(PreparedEntry(item, details_json, middle))
    return out


DetailsValue = str | int | None


def _encode_scalar(value: DetailsValue) -> str:
    """A details value other than text as ``_DETAILS_JSON`` encodes it inside a dict."""
    if value is None:
        return "null"
    if isinstance(value, str):  # a str subclass (a str itself is encoded directly: DetailsShape.encode)
        return _encode_text(value)
    if isinstance(value, int):  # bool included (true / false)
        return _DETAILS_JSON.encode(value)
    raise TypeError(f"a details value of a DetailsShape is text, an integer or None, not {type(value)}")


class DetailsShape:
    """The details of entries that all carry the same keys, each with a value that is text, an integer
    or None (a batch's per-certificate entries).

    The keys are screened for secrets once, when the shape is made (such values hold nothing
    :func:`_refuse_secrets` looks into), and :meth:`encode` makes exactly the JSON that ``_DETAILS_JSON``
    makes of such a dict (sorted keys, compact, not ASCII-escaped) with one ``str.format`` instead of the
    generic encoder (tests/test_audit.py checks the two agree).
    """

    def __init__(self, keys: Sequence[str]) -> None:
        if len(set(keys)) != len(keys):
            raise ValueError(f"the keys of a details shape must differ: {list(keys)!r}")
        _refuse_secrets(dict.fromkeys(keys))
        self.keys = tuple(keys)
        # '{{"a":{1},"b":{0}}}' for keys ("b", "a"): each key, in sorted order, then the position of its
        # value in the values given to ``encode``; braces of the format syntax doubled in the keys' JSON.
        fields = ",".join(
            _encode_text(key).replace("{", "{{").replace("}", "}}") + f":{{{index}}}"
            for key, index in sorted((key, index) for index, key in enumerate(self.keys))
        )
        self._format = "{{" + fields + "}}"

    def encode(self, values: Sequence[DetailsValue]) -> str:
        """The details JSON of the dict mapping this shape's keys to ``values`` (in the keys' order)."""
        if len(values) != len(self.keys):
            raise ValueError(f"{len(self.keys)} details values expected, not {len(values)}")
        # Text, the usual value, straight to the string encoder; anything else through _encode_scalar.
        return self._format.format(
            *[_encode_text(value) if type(value) is str else _encode_scalar(value) for value in values]
        )

    def prepare_many(
        self,
        *,
        actor: str,
        action: str,
        object_type: str,
        entries: Iterable[tuple[str, Sequence[DetailsValue]]],
    ) -> list[PreparedEntry]:
        """:func:`prepare_many` for entries of this shape sharing actor, action and object type, given as
        (object id, details values) pairs: the same PreparedEntry for each."""
        start = _middle_start(actor, action, object_type)
        keys = self.keys
        out: list[PreparedEntry] = []
        for object_id, values in entries:
            details_json = self.encode(values)
            item = AuditInput(actor, action, object_type, object_id, dict(zip(keys, values, strict=True)))
            out.append(PreparedEntry(item, details_json, start + _middle_end(object_id, details_json)))
        return out


def record_many(tx: Transaction, items: Sequence[AuditInput]) -> list[AuditRecord]:
    """Append one entry per item, chained in order, in the caller's transaction: the head is locked once
    and the entries are inserted in one statement (a batch's per-certificate entries)."""
    return record_prepared(tx, prepare_many(items))


def record_prepared(tx: Transaction, prepared: Sequence[PreparedEntry]) -> list[AuditRecord]:
    """:func:`record_many` for entries already made ready by :func:`prepare_many`."""
    rows = _append_prepared(tx, prepared)
    return [
        AuditRecord(
            row["seq"],
            row["at"],
            row["actor"],
            row["action"],
            row["object_type"],
            row["object_id"],
            entry.item.details,
            row["entry_hash"],
        )
        for row, entry in zip(rows, prepared, strict=True)
    ]


def append_prepared(tx: Transaction, prepared: Sequence[PreparedEntry]) -> range:
    """:func:`record_prepared` when only the new entries' sequence numbers are wanted (consecutive, in
    the order of ``prepared``)."""
    rows = _append_prepared(tx, prepared)
    return range(rows[0]["seq"], rows[-1]["seq"] + 1) if rows else range(0)


def _append_prepared(tx: Transaction, prepared: Sequence[PreparedEntry]) -> list[dict[str, Any]]:
    """Chain and insert the entries in the caller's transaction; their rows, in order."""
    if not prepared:
        return []
    head = audit_store.lock_head(tx)
    seq, prev = head.last_seq, head.last_hash
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    at_json = _encode_text(at)
    prev_json = _encode_text(prev)
    rows: list[dict[str, Any]] = []
    for entry in prepared:
        item = entry.item
        seq += 1
        digest = _chain_hash_of_json(seq, at_json, entry.middle, prev_json)
        rows.append(
            {
                "seq": seq,
                "at": at,
                "actor": item.actor,
                "action": item.action,
                "object_type": item.object_type,
                "object_id": item.object_id,
                "details": entry.details_json,
                "prev_hash": prev,
                "entry_hash": digest,
            }
        )
        prev = digest
        prev_json = f'"{digest}"'  # a hex digest is its own JSON string content: nothing to escape
    audit_store.append_many(tx, rows)
    return rows


@dataclass(frozen=True, slots=True)
class VerificationResult:
    """The outcome of checking the whole chain."""

    ok: bool
    entries: int
    first_bad_seq: int | None = None
    reason: str | None = None

    def sentence(self) -> str:
        """One sentence for the operator."""
        if self.ok:
            return f"The audit chain of {self.entries} entries is intact."
        return f"The audit chain is broken at entry {self.first_bad_seq}: {self.reason}."


def verify(db: Database) -> VerificationResult:
    """Recompute every hash in order; name the first entry that does not match."""
    expected_prev = GENESIS_HASH
    expected_seq = 1
    count = 0
    with db.read_transaction() as tx:
        for entry in audit_store.iter_entries(tx):
            if entry.seq != expected_seq:
                return VerificationResult(
                    False,
                    count,
                    expected_seq,
                    f"entry {expected_seq} is missing (next present is {entry.seq})",
                )
            if entry.prev_hash != expected_prev:
                return VerificationResult(
                    False, count, entry.seq, "its previous-hash does not match the entry before it"
                )
            recomputed = entry_hash(
                seq=entry.seq,
                at=entry.at,
                actor=entry.actor,
                action=entry.action,
                object_type=entry.object_type,
                object_id=entry.object_id,
                details=entry.details,
                prev_hash=entry.prev_hash,
            )
            if recomputed != entry.entry_hash:
                return VerificationResult(
                    False, count, entry.seq, "its content does not match its recorded hash (it was edited)"
                )
            expected_prev = entry.entry_hash
            expected_seq += 1
            count += 1
        head = audit_store.read_head(tx)
        if head is None:
            return VerificationResult(False, count, None, "the audit head row is missing")
        head_seq, head_hash = head.last_seq, head.last_hash
    if head_seq != count or head_hash != expected_prev:
        return VerificationResult(
            False,
            count,
            count + 1 if head_seq > count else head_seq,
            f"the head names entry {head_seq} but the chain ends at entry {count} "
            "(entries were removed from the end)",
        )
    return VerificationResult(True, count)


def entries_for(db: Database, object_type: str, object_id: str) -> list[AuditRecord]:
    """The audit history of one object, oldest first."""
    with db.read_transaction() as tx:
        return [
            AuditRecord(
                e.seq,
                e.at,
                e.actor,
                e.action,
                e.object_type,
                e.object_id,
                json.loads(e.details),
                e.entry_hash,
            )
            for e in audit_store.entries_for_object(tx, object_type, object_id)
        ]


# Keys already found harmless (entries of one kind repeat the same few keys).
_PLAIN_KEYS: set[str] = set()


def _refuse_secrets(details: dict[str, Any]) -> None:
    for key, value in details.items():
        if key not in _PLAIN_KEYS:
            if _SECRET_KEY.search(key):
                raise SmkiError(
                    "audit.secret_in_details", f"Refusing to write the field {key!r} into the audit log."
                )
            if len(_PLAIN_KEYS) < 1024:
                _PLAIN_KEYS.add(key)
        if isinstance(value, dict):
            _refuse_secrets(value)
