"""Build, sign and DER-encode CRLs of 10^5 and 10^6 entries with a P-256 key; quote the time against the
raw sign+verify bound measured in the same run (bench/baseline.py).

    .venv/bin/python bench/crl_build.py --entries 100000 1000000

Two paths of smki.profiles.crl are timed on the same entries:

* ``encoder``: ``sign_crl`` (encodes the TBSCertList itself, signs it with the signer) - what smki uses;
* ``builder``: ``build_crl(...).sign(key, SHA256())`` then ``public_bytes(DER)`` - cryptography's
  CertificateRevocationListBuilder with the revoked list passed in one go.

The entries (random 16-octet serials, distinct revocation times over a year, 30% with a reason) are made
before the clock starts: they come from storage in production. Each result is checked afterwards
(signature valid, entry count) outside the timing. The acceptance target (issue 6) is 10^6 entries in
under 30 s.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baseline import machine, raw_bound

from smki.profiles.crl import RevokedEntry, build_crl, sign_crl

TARGET_SECONDS = 30.0
REASONS = [
    x509.ReasonFlags.key_compromise,
    x509.ReasonFlags.superseded,
    x509.ReasonFlags.cessation_of_operation,
    x509.ReasonFlags.affiliation_changed,
]


def make_entries(count: int, now: datetime, seed: int = 6) -> list[RevokedEntry]:
    """``count`` entries with unique positive 16-octet serials, as smki issues them."""
    rng = random.Random(seed)
    serials: set[int] = set()
    while len(serials) < count:
        serials.add(rng.randrange(1 << 120, 1 << 127))
    year = 365 * 24 * 3600
    return [
        RevokedEntry(
            serial,
            now - timedelta(seconds=rng.randrange(year)),
            REASONS[rng.randrange(len(REASONS))] if rng.random() < 0.3 else None,
        )
        for serial in serials
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--paths", nargs="+", choices=["encoder", "builder"], default=["encoder", "builder"])
    parser.add_argument("--baseline-seconds", type=float, default=3.0)
    args = parser.parse_args()

    key = ec.generate_private_key(ec.SECP256R1())
    issuer = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "07", _ASN1Type.PrintableString),
            x509.NameAttribute(NameOID.COMMON_NAME, "Z1", _ASN1Type.PrintableString),
        ]
    )
    now = datetime.now(UTC).replace(microsecond=0)
    envelope = {
        "issuer_name": issuer,
        "issuer_key_identifier": bytes.fromhex("4F5688D7EC933BE2"),
        "crl_number": 1,
        "this_update": now,
        "next_update": now + timedelta(days=1),
    }

    def encoder(entries: list[RevokedEntry]) -> bytes:
        return sign_crl(**envelope, entries=entries, signer=key)  # type: ignore[arg-type]

    def builder(entries: list[RevokedEntry]) -> bytes:
        crl = build_crl(**envelope, entries=entries).sign(key, hashes.SHA256())  # type: ignore[arg-type]
        return crl.public_bytes(serialization.Encoding.DER)

    paths: dict[str, Callable[[list[RevokedEntry]], bytes]] = {"encoder": encoder, "builder": builder}

    print(f"# {machine()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", flush=True)
    before = raw_bound(1, args.baseline_seconds)
    before_2 = raw_bound(2, args.baseline_seconds)
    print(f"# raw bound before: P=1 {before:,.0f} ops/s, P=2 {before_2:,.0f} ops/s", flush=True)

    rows: list[tuple[int, str, float, int]] = []
    for count in args.entries:
        entries = make_entries(count, now)
        for name in args.paths:
            start = time.perf_counter()
            der = paths[name](entries)
            seconds = time.perf_counter() - start
            crl = x509.load_der_x509_crl(der)
            assert crl.is_signature_valid(key.public_key()), "signature does not verify"
            assert len(crl) == count, "entry count differs"
            rows.append((count, name, seconds, len(der)))
            print(f"# {count:>9,} {name}: {seconds:.2f} s, {len(der):,} bytes", flush=True)
            del der, crl
        del entries

    after = raw_bound(1, args.baseline_seconds)
    after_2 = raw_bound(2, args.baseline_seconds)
    print(f"# raw bound after:  P=1 {after:,.0f} ops/s, P=2 {after_2:,.0f} ops/s", flush=True)
    bound = (before + after) / 2
    print()
    print(
        "| entries | path | build+sign+DER (s) | DER size (MB) | entries/s "
        "| raw bound P=1, mean of before/after (sign+verify ops/s) | entries/s ÷ raw bound | under 30 s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for count, name, seconds, size in rows:
        rate = count / seconds
        print(
            f"| {count:,} | {name} | {seconds:.2f} | {size / 1e6:.1f} | {rate:,.0f} | {bound:,.0f} "
            f"(before {before:,.0f}, after {after:,.0f}) | {rate / bound:.1f} | "
            f"{'yes' if seconds < TARGET_SECONDS else 'NO'} |"
        )


if __name__ == "__main__":
    main()
