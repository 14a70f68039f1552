"""The audit chain: appended in the state change's transaction, verified whole, tampering named."""

from __future__ import annotations

import hashlib
import json
import multiprocessing

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from smki import audit
from smki.audit import log as audit_log
from smki.model import SmkiError
from smki.storage import Database


def _append(db: Database, n: int, actor: str = "operator") -> None:
    for i in range(n):
        with db.transaction() as s:
            audit.record(
                s,
                actor=actor,
                action="test.step",
                object_type="thing",
                object_id=str(i),
                details={"i": i, "note": "ünïcode"},
            )


def test_empty_chain_verifies(database: Database) -> None:
    result = audit.verify(database)
    assert result.ok and result.entries == 0


def test_appended_entries_verify_and_chain(database: Database) -> None:
    _append(database, 5)
    result = audit.verify(database)
    assert result.ok, result.sentence()
    assert result.entries == 5
    history = audit.log.entries_for(database, "thing", "3")
    assert [h.details["i"] for h in history] == [3]


def test_rolled_back_change_leaves_no_entry(database: Database) -> None:
    _append(database, 2)
    with pytest.raises(RuntimeError), database.transaction() as s:
        audit.record(s, actor="x", action="a", object_type="t", object_id="1")
        raise RuntimeError("crash after the audit write, before commit")
    result = audit.verify(database)
    assert result.ok and result.entries == 2


@pytest.mark.parametrize(
    "column,value", [("details", '{"i":99}'), ("actor", "mallory"), ("at", "2000-01-01T00:00:00.000000Z")]
)
def test_edited_row_is_named(database: Database, column: str, value: str) -> None:
    _append(database, 6)
    with database.engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE audit_log SET {column} = :v WHERE seq = 4"), {"v": value})
    result = audit.verify(database)
    assert not result.ok
    assert result.first_bad_seq == 4
    assert "4" in result.sentence()


def test_deleted_row_is_named(database: Database) -> None:
    _append(database, 6)
    with database.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_log WHERE seq = 3"))
    result = audit.verify(database)
    assert not result.ok and result.first_bad_seq == 3


def test_truncated_tail_is_detected(database: Database) -> None:
    _append(database, 6)
    with database.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_log WHERE seq >= 5"))
    result = audit.verify(database)
    assert not result.ok and result.first_bad_seq == 5


def test_rehashed_forgery_without_head_update_is_detected(database: Database) -> None:
    _append(database, 3)
    with database.engine.begin() as conn:
        row = conn.execute(sa.text("SELECT * FROM audit_log WHERE seq = 3")).mappings().one()
        details = json.dumps({"i": 42}, separators=(",", ":"))
        forged = audit.log.entry_hash(
            seq=3,
            at=row["at"],
            actor=row["actor"],
            action=row["action"],
            object_type=row["object_type"],
            object_id=row["object_id"],
            details=details,
            prev_hash=row["prev_hash"],
        )
        conn.execute(
            sa.text("UPDATE audit_log SET details=:d, entry_hash=:h WHERE seq=3"), {"d": details, "h": forged}
        )
    result = audit.verify(database)
    assert not result.ok


def test_secrets_are_refused_in_details(database: Database) -> None:
    with pytest.raises(SmkiError) as info, database.transaction() as s:
        audit.record(s, actor="op", action="a", object_type="t", object_id="1", details={"passphrase": "x"})
    assert info.value.code == "audit.secret_in_details"


def _worker(url: str, connect_args: dict[str, str], n: int) -> None:
    db = Database(url, connect_args=connect_args)
    _append(db, n, actor=f"worker-{multiprocessing.current_process().pid}")
    db.dispose()


def test_concurrent_writers_keep_one_chain(database: Database) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_worker, args=(database.url, dict(database.connect_args), 15)) for _ in range(3)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    result = audit.verify(database)
    assert result.ok, result.sentence()
    assert result.entries == 45


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 2**62),
    st.text(),
    st.text(),
    st.text(),
    st.text(),
    st.text(),
    st.text(),
    st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
)
def test_entry_hash_is_the_sha256_of_the_documented_canonical_json(
    seq: int, at: str, actor: str, action: str, object_type: str, object_id: str, details: str, prev: str
) -> None:
    # The chain format is fixed (entries written by any version must verify): the hash is SHA-256 of
    # json.dumps([seq, at, actor, action, object_type, object_id, details, prev_hash]), compact, UTF-8.
    canonical = json.dumps(
        [seq, at, actor, action, object_type, object_id, details, prev],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    expected = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    assert (
        audit_log.entry_hash(
            seq=seq,
            at=at,
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=object_id,
            details=details,
            prev_hash=prev,
        )
        == expected
    )


_NON_SECRET_KEY = st.text(max_size=12).filter(lambda key: not audit_log._SECRET_KEY.search(key))
_DETAILS_VALUE = st.none() | st.text() | st.integers() | st.booleans()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_NON_SECRET_KEY, _DETAILS_VALUE), max_size=12, unique_by=lambda kv: kv[0]))
def test_details_shape_encodes_as_the_documented_details_json(pairs: list[tuple[str, object]]) -> None:
    # Entry details are json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    # default=str); the fixed-shape encoder of a batch's entries must make exactly those bytes.
    keys = [key for key, _ in pairs]
    values = [value for _, value in pairs]
    details = dict(pairs)
    expected = json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    assert audit_log._DETAILS_JSON.encode(details) == expected
    assert audit.DetailsShape(keys).encode(values) == expected  # type: ignore[arg-type]


@settings(max_examples=100, deadline=None)
@given(
    st.text(),
    st.text(),
    st.text(),
    st.lists(st.tuples(st.text(), st.lists(st.none() | st.text(), min_size=3, max_size=3)), max_size=5),
)
def test_details_shape_prepares_the_entries_prepare_many_prepares(
    actor: str, action: str, object_type: str, entries: list[tuple[str, list[str | None]]]
) -> None:
    keys = ("kind", "issuer", '{odd} "key" ü')
    shape = audit.DetailsShape(keys)
    generic = audit.prepare_many(
        [
            audit.AuditInput(actor, action, object_type, oid, dict(zip(keys, values, strict=True)))
            for oid, values in entries
        ]
    )
    fast = shape.prepare_many(actor=actor, action=action, object_type=object_type, entries=entries)
    assert fast == generic


def test_details_shape_refuses_secret_keys_and_wrong_arity() -> None:
    with pytest.raises(SmkiError) as info:
        audit.DetailsShape(("kind", "private_key"))
    assert info.value.code == "audit.secret_in_details"
    with pytest.raises(ValueError):
        audit.DetailsShape(("kind", "kind"))
    with pytest.raises(ValueError):
        audit.DetailsShape(("kind",)).encode(["a", "b"])


def test_prepared_entries_chain_and_verify(database: Database) -> None:
    _append(database, 2)
    shape = audit.DetailsShape(("n", "note"))
    first = shape.prepare_many(
        actor="op", action="test.many", object_type="thing", entries=[("a", ("1", "ü")), ("b", ("2", None))]
    )
    second = shape.prepare_many(
        actor="op", action="test.many", object_type="thing", entries=[("c", ("3", "x"))]
    )
    with database.transaction() as s:
        assert audit.append_prepared(s, first) == range(3, 5)
        assert audit.append_prepared(s, []) == range(0)
    with database.transaction() as s:
        records = audit.record_prepared(s, second)
    assert [(r.seq, r.object_id, r.details) for r in records] == [(5, "c", {"n": "3", "note": "x"})]
    result = audit.verify(database)
    assert result.ok and result.entries == 5, result.sentence()
    assert [h.details for h in audit.log.entries_for(database, "thing", "b")] == [{"n": "2", "note": None}]
