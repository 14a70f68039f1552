"""Repository queries at 10^6 certificates, library level (no HTTP), on SQLite and PostgreSQL.

    .venv/bin/python bench/repository_queries.py --rows 1000000 [--postgres URL]

Fills a fresh, migrated database with ``--rows`` certificate rows (device certificates in pairs DS/KA per
EUI-64, 1% organisation certificates, 0.1% revoked, change sequences increasing) by bulk INSERT, then
times, each the median of 20 runs: lookup by serial, search by EUI-64 + key usage, the first page of
status R, a deep keyset page by issuer, a page of status E (none expired: scans the status index) and an
incremental extract of the last 1000 changes. The DER column holds the same 304-byte placeholder in every
row (its content does not affect the query plans; rendering real certificates adds PEM/JSON cost per
row, not per query). The fill is not timed.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from smki import repository
from smki.model import CertificateStatus, EntityId, KeyUsage
from smki.storage import Database

BATCH = 20000
EUI_BASE = 0x00DB000000000000


def eui_of(i: int) -> str:
    """The EUI-64 (16 upper-case hex digits) of row ``i``: rows 2k and 2k+1 share EUI-64 ``EUI_BASE + k``."""
    return f"{EUI_BASE + i // 2:016X}"


def serial_of(i: int) -> str:
    """The serial (upper-case hex) of row ``i``."""
    return f"{(1 << 120) + i * 7919:032X}"


def fill(db: Database, rows: int) -> tuple[list[str], list[str]]:
    """Insert the rows; return some serials and EUI-64s to look up."""
    now = datetime.now(UTC).replace(microsecond=0)
    der = bytes.fromhex("3082") + bytes(300)
    serials: list[str] = []
    euis: list[str] = []
    columns = (
        "serial_hex", "issuer_name", "kind", "hierarchy", "role_code", "entity_id", "key_usage",
        "subject_der", "not_before", "not_after", "status", "public_key_sha256", "der", "subscriber",
        "issued_at", "change_seq", "changed_at", "intent_id",
    )  # fmt: skip
    table = sa.table("certificates", *(sa.column(c) for c in columns))
    # Every certificate the issuance cycle stores has the intent that reserved its serial; a lookup by
    # serial alone goes through it (storage.ca_store.serial_is), so the rows get theirs too.
    intent_columns = (
        "id", "serial_hex", "issuer_name", "kind", "state", "actor", "reserved_at", "finished_at",
    )  # fmt: skip
    intents = sa.table("issuance_intents", *(sa.column(c) for c in intent_columns))
    with db.engine.begin() as conn:
        for start in range(0, rows, BATCH):
            values = []
            reserved = []
            for i in range(start, min(rows, start + BATCH)):
                organisation = i % 100 == 0
                eui = eui_of(i)
                serial = serial_of(i)
                values.append(
                    {
                        "serial_hex": serial,
                        "issuer_name": "Z1" if organisation else "E357",
                        "kind": "organisation" if organisation else "device",
                        "hierarchy": "organisation" if organisation else "device",
                        "role_code": 2 if organisation else None,
                        "entity_id": eui,
                        "key_usage": "digitalSignature" if i % 2 == 0 else "keyAgreement",
                        "subject_der": b"\x30\x00",
                        "not_before": now - timedelta(days=1),
                        "not_after": now + timedelta(days=3650),
                        "status": "R" if organisation and i % 1000 == 0 else "I",
                        "public_key_sha256": f"{i:064x}",
                        "der": der,
                        "subscriber": "bench",
                        "issued_at": now,
                        "change_seq": i + 1,
                        "changed_at": now,
                        "intent_id": i + 1,
                    }
                )
                reserved.append(
                    {
                        "id": i + 1,
                        "serial_hex": serial,
                        "issuer_name": "Z1" if organisation else "E357",
                        "kind": "organisation" if organisation else "device",
                        "state": "signed",
                        "actor": "bench",
                        "reserved_at": now,
                        "finished_at": now,
                    }
                )
                if i % (rows // 20 or 1) == 0:
                    serials.append(serial)
                    euis.append(eui)
            conn.execute(sa.insert(intents), reserved)
            conn.execute(sa.insert(table), values)
    if not db.is_sqlite:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE certificates")
    else:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return serials, euis


def median_ms(action: Callable[[], object], runs: int = 20) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def run(db: Database, rows: int, label: str) -> None:
    start = time.perf_counter()
    serials, euis = fill(db, rows)
    print(f"{label}: filled {rows:,} rows in {time.perf_counter() - start:.0f} s (not timed below)")
    deep = repository.search(db, issuer_name="E357", limit=1000)
    for _ in range(5):  # walk a few pages in to have a deep cursor
        assert deep.next_after is not None
        deep = repository.search(db, issuer_name="E357", limit=1000, after=deep.next_after)
    cursor = deep.next_after
    for serial in serials[:5]:  # the timed lookups find what was stored (checked, not timed)
        found = repository.get_certificate(db, serial)
        assert found is not None and found.serial_hex == serial, serial
    cases: list[tuple[str, Callable[[], object]]] = [
        ("get_certificate(serial)", lambda: [repository.get_certificate(db, s) for s in serials[:5]]),
        (
            "search(eui, usage=DS)",
            lambda: [
                repository.search(db, entity_id=EntityId.parse(e), key_usage=KeyUsage.DIGITAL_SIGNATURE)
                for e in euis[:5]
            ],
        ),
        ("search(status=R) first 100", lambda: repository.search(db, status=CertificateStatus.REVOKED)),
        (
            "search(issuer=E357) page 7 of 1000",
            lambda: repository.search(db, issuer_name="E357", limit=1000, after=cursor),
        ),
        (
            "search(status=E) (none)",
            lambda: repository.search(db, status=CertificateStatus.EXPIRED, limit=10),
        ),
        (
            "incremental last 1000 changes",
            lambda: b"".join(repository.incremental_extract(db, since_sequence=rows - 1000)),
        ),
    ]
    for name, action in cases:
        per = 5 if name.startswith(("get_", "search(eui")) else 1
        print(f"  {name:<40} {median_ms(action) / per:9.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--postgres", default=None, help="PostgreSQL URL; a schema of its own is made and dropped"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'bench.db'}")
        db.upgrade()
        run(db, args.rows, "SQLite")
        db.dispose()
    if args.postgres:
        schema = "bench_" + uuid.uuid4().hex[:8]
        admin = sa.create_engine(args.postgres)
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        try:
            db = Database(args.postgres, connect_args={"options": f"-csearch_path={schema}"})
            db.upgrade()
            run(db, args.rows, "PostgreSQL")
            db.dispose()
        finally:
            with admin.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            admin.dispose()


if __name__ == "__main__":
    main()
