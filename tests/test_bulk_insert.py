"""storage.bulk.insert_rows stores exactly what a Core insert stores (SQLite fast path; PostgreSQL Core)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from smki.storage import Database
from smki.storage.bulk import insert_rows
from smki.storage.ca_tables import CertificateRecord

COLUMNS = [c.name for c in CertificateRecord.__table__.columns if c.name != "id"]


def _rows(n: int, offset: int) -> list[dict[str, object]]:
    now = datetime(2026, 11, 21, 20, 30, 1, tzinfo=UTC)
    return [
        {
            "serial_hex": secrets.token_hex(16).upper(),
            "issuer_name": "E357",
            "kind": "device",
            "hierarchy": "device",
            "role_code": None if i % 2 else 2,
            "entity_id": secrets.token_hex(8).upper(),
            "key_usage": "digitalSignature",
            "subject_der": b"0\x00",
            "not_before": now + timedelta(seconds=i),
            "not_after": datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
            "status": "U",
            "public_key_sha256": secrets.token_hex(32),
            "der": secrets.token_bytes(40 + i),
            "subscriber": None if i % 3 else "party-é",
            "issued_at": now,
            "intent_id": None,
            "change_seq": offset + i,
            "changed_at": now,
        }
        for i in range(n)
    ]


def _stored(db: Database, serials: list[str]) -> list[tuple[object, ...]]:
    columns = COLUMNS
    with db.read_session() as s:
        records = s.execute(
            sa.select(CertificateRecord).where(CertificateRecord.serial_hex.in_(serials))
        ).scalars()
        by_serial = {r.serial_hex: tuple(getattr(r, c) for c in columns) for r in records}
    return [by_serial[x] for x in serials]


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_bulk_rows_read_back_like_core_rows(kind: str, database_url_for) -> None:  # type: ignore[no-untyped-def]
    db = Database(database_url_for(kind))
    db.upgrade()
    core_rows, bulk_rows = _rows(20, 0), _rows(20, 100)
    with db.session() as s:
        s.connection().execute(sa.insert(CertificateRecord), core_rows)
        insert_rows(s, CertificateRecord, bulk_rows)
    core = _stored(db, [str(r["serial_hex"]) for r in core_rows])
    bulk = _stored(db, [str(r["serial_hex"]) for r in bulk_rows])
    # identical but for the per-row values each set was made with: compare each with its own input
    columns = COLUMNS
    for stored, rows in ((core, core_rows), (bulk, bulk_rows)):
        for values, row in zip(stored, rows, strict=True):
            for column, value in zip(columns, values, strict=True):
                expected = row[column]
                if isinstance(value, datetime) and isinstance(expected, datetime):
                    assert value.replace(tzinfo=UTC) == expected, column
                else:
                    assert value == expected, column
    # and the raw stored text of the date columns is the same form both ways (SQLite stores strings)
    if kind == "sqlite":
        with db.read_session() as s:
            forms = s.execute(
                sa.text("SELECT DISTINCT length(not_before), length(issued_at) FROM certificates")
            )
            assert len(list(forms)) == 1


def test_sqlite_ids_given_back_are_the_rows_ids_in_order(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = Database(f"sqlite:///{tmp_path / 'smki.db'}")
    db.upgrade()
    for round_ in range(3):  # ids continue after earlier rows
        rows = _rows(50, round_ * 100)
        with db.session() as s:
            ids = insert_rows(s, CertificateRecord, rows)
        assert ids is not None and len(ids) == 50
        with db.read_session() as s:
            by_serial = dict(
                s.execute(
                    sa.select(CertificateRecord.serial_hex, CertificateRecord.id).where(
                        CertificateRecord.serial_hex.in_([r["serial_hex"] for r in rows])
                    )
                ).all()
            )
        assert ids == [by_serial[r["serial_hex"]] for r in rows]


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_constraint_broken_by_bulk_rows_is_sqlalchemys_integrity_error_and_nothing_is_stored(
    kind: str,
    database_url_for,  # type: ignore[no-untyped-def]
) -> None:
    # Callers rely on it: reserve_serials turns it into SerialCollision and draws new serials.
    db = Database(database_url_for(kind))
    db.upgrade()
    rows = _rows(30, 0)
    rows[17]["serial_hex"] = rows[3]["serial_hex"]  # the same (issuer_name, serial_hex) twice
    with pytest.raises(sa.exc.IntegrityError), db.session() as s:
        insert_rows(s, CertificateRecord, rows)
    with db.read_session() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(CertificateRecord)).scalar_one() == 0
    db.dispose()
