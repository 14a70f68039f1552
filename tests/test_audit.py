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
        with db.session() as s:
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
    with pytest.raises(RuntimeError), database.session() as s:
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
    with pytest.raises(SmkiError) as info, database.session() as s:
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
