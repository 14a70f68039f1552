"""Batch Device Certificate issuance end to end (smki.ra.batch.BatchIssuer), vs the raw bound.

    .venv/bin/python bench/batch_issuance.py --n 100000 --workers 2 --db sqlite postgres

For each database: a fresh SMKI home made by `smki init --keys soft` (SQLite file in the home, or a
PostgreSQL schema of its own at 127.0.0.1:5432, dropped after), one Authorised Subscriber (an Import
Supplier, authorised under the Device policy); then N cached CSRs (bench/make_csrs.py) are timed through
the whole pipeline: parse, proof of possession, profile, subscriber, eligibility, duplicate key, serial
reservation, pre-issuance lint, signing, storing and audit. Afterwards (untimed) `smki audit verify`
must pass and the repository must hold exactly N Device Certificates. The raw bound (one P-256
sign + verify per op on P processes, bench/baseline.py) is measured before and after each run.

The issuance path is the fast one unless SMKI_SIMPLE_PATH=1 is set or --simple-path is given (every
certificate built, fully linted and verified: smki.ca.issuance); the output names the path that ran.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baseline import machine, raw_bound
from make_csrs import csr_file, read_csrs

from smki import audit
from smki.ca import home_environment
from smki.ca.issuance import SIMPLE_PATH_ENV, IssuancePath
from smki.model import EntityId, Hierarchy
from smki.policy import DeviceType, Licence, Party, PartyIdentifier, PartyType, SubscriberEvent, UserRole
from smki.ra import parties, subscribers
from smki.ra.batch import BatchIssuer
from smki.storage import Database
from smki.storage.ca_tables import CertificateRecord

POSTGRES = os.environ.get("SMKI_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SMKI = str(Path(sys.executable).with_name("smki"))
PASSPHRASE = "bench-batch-passphrase-0123456789"


def setup(kind: str, home: Path) -> tuple[Database, dict[str, str], str | None]:
    env = {**os.environ, "SMKI_KEY_PASSPHRASE": PASSPHRASE}
    env.pop("SMKI_KEY_PASSPHRASE_FILE", None)
    schema = None
    if kind == "postgres":
        schema = "bench_" + uuid.uuid4().hex[:12]
        admin = sa.create_engine(POSTGRES)
        with admin.begin() as c:
            c.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        env["SMKI_DATABASE_URL"] = f"{POSTGRES}?options=-csearch_path%3D{schema}"
    else:
        env.pop("SMKI_DATABASE_URL", None)
    subprocess.run(
        [SMKI, "init", "--home", str(home), "--keys", "soft"], env=env, check=True, capture_output=True
    )
    url = env.get("SMKI_DATABASE_URL") or f"sqlite:///{home / 'smki.db'}"
    db = Database(url)
    party = Party(
        "bench-supplier",
        "Bench Supplier",
        PartyType.PARTY,
        frozenset({Licence.ELECTRICITY_SUPPLY}),
        (PartyIdentifier(EntityId.parse("90-B3-D5-1F-30-01-00-00"), UserRole.IMPORT_SUPPLIER),),
    )
    parties.register_party(db, party, actor="bench")
    subscribers.record_entry_tests(db, party.party_id, Hierarchy.DEVICE, actor="bench")
    subscribers.move(db, party.party_id, Hierarchy.DEVICE, SubscriberEvent.APPLY, actor=party.party_id)
    subscribers.move(db, party.party_id, Hierarchy.DEVICE, SubscriberEvent.DCC_AUTHORISES, actor="bench")
    return db, env, schema


def drop(schema: str | None) -> None:
    if schema is None:
        return
    admin = sa.create_engine(POSTGRES)
    with admin.begin() as c:
        c.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def run_one(
    kind: str, csrs: list[bytes], workers: int, chunk: int, bound_seconds: float
) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="smki-bench-") as tmp:
        home = Path(tmp) / "home"
        db, env, schema = setup(kind, home)
        saved = dict(os.environ)
        os.environ.update({k: v for k, v in env.items() if k.startswith("SMKI_")})
        try:
            before = raw_bound(workers, bound_seconds)
            issuer = BatchIssuer(db, home, home_environment(home), workers=workers, chunk_size=chunk)
            start = time.perf_counter()
            ok = failed = 0
            for result in issuer.run(
                csrs, party_id="bench-supplier", actor="bench", device_type=DeviceType.ELECTRICITY_SMART_METER
            ):
                if result.ok:
                    ok += 1
                else:
                    failed += 1
                    if failed <= 3:
                        print("refused:", result.index, result.error)
            elapsed = time.perf_counter() - start
            after = raw_bound(workers, bound_seconds)
            verdict = audit.verify(db)
            with db.read_session() as s:
                devices = s.execute(
                    sa.select(sa.func.count())
                    .select_from(CertificateRecord)
                    .where(CertificateRecord.kind == "device")
                ).scalar_one()
            assert verdict.ok, verdict.sentence()
            assert devices == len(csrs) == ok, (devices, len(csrs), ok)
            cli = subprocess.run(
                [SMKI, "audit", "verify", "--home", str(home)], env=env, capture_output=True, text=True
            )
            assert cli.returncode == 0, cli.stdout + cli.stderr
            db.dispose()
        finally:
            os.environ.clear()
            os.environ.update(saved)
            drop(schema)
    rate = ok / elapsed
    mean = (before + after) / 2
    return {
        "db": kind,
        "n": len(csrs),
        "workers": workers,
        "seconds": elapsed,
        "rate": rate,
        "before": before,
        "after": after,
        "ratio": rate / mean,
        "audit": verdict.entries,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[2])
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    parser.add_argument("--chunk-size", type=int, default=4000)
    parser.add_argument("--bound-seconds", type=float, default=3.0)
    parser.add_argument(
        "--simple-path", action="store_true", help=f"issue on the simple path ({SIMPLE_PATH_ENV}=1)"
    )
    args = parser.parse_args()
    if args.simple_path:
        os.environ[SIMPLE_PATH_ENV] = "1"  # the worker processes inherit it
    print(machine())
    print(f"issuance path: {IssuancePath.from_environment().value}")
    csrs = read_csrs(csr_file(args.n))
    print(
        "| database | N | P | seconds | certs/s | raw bound P before / after (ops/s) "
        "| certs/s ÷ mean raw bound |"
    )
    print("|---|---|---|---|---|---|---|")
    for kind in args.db:
        for workers in args.workers:
            r = run_one(kind, csrs, workers, args.chunk_size, args.bound_seconds)
            print(
                f"| {r['db']} | {r['n']:,} | {r['workers']} | {r['seconds']:.1f} | {r['rate']:,.0f} | "
                f"{r['before']:,.0f} / {r['after']:,.0f} | {r['ratio']:.1%} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
