"""Make N Device Certificate CSRs (GBCS CS02c shape, fresh P-256 key each) once and cache them.

    .venv/bin/python bench/make_csrs.py --n 100000      # -> bench/out/device-csrs-100000.pem

The file is the N PEM requests concatenated; EUI-64s are 00-DB-BE-NC-xx-xx-xx-xx with the index in the low
32 bits, so every request is for a different Device. bench/out/ is gitignored.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
END = b"-----END CERTIFICATE REQUEST-----\n"


def _make(bounds: tuple[int, int]) -> bytes:
    from smki.model import EntityId, KeyUsage
    from smki.profiles.environment import PkiEnvironment
    from smki.subscriber_tools import csr_builder

    env = PkiEnvironment()
    out = []
    for i in range(*bounds):
        eui = EntityId(bytes.fromhex("00DBBE0C") + i.to_bytes(4, "big"))
        usage = KeyUsage.DIGITAL_SIGNATURE if i % 2 == 0 else KeyUsage.KEY_AGREEMENT
        out.append(csr_builder.csr_pem(csr_builder.device_csr(eui, usage, env)[0]))
    return b"".join(out)


def csr_file(n: int) -> Path:
    """The cached file of ``n`` CSRs, made now (on every core) when missing."""
    path = OUT / f"device-csrs-{n}.pem"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    step = 5000
    with multiprocessing.get_context("spawn").Pool(os.cpu_count() or 1) as pool:
        parts = pool.map(_make, [(s, min(n, s + step)) for s in range(0, n, step)])
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(b"".join(parts))
    tmp.replace(path)
    return path


def read_csrs(path: Path) -> list[bytes]:
    """The PEM requests of a file made by csr_file."""
    return [part + END for part in path.read_bytes().split(END) if part.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=100_000)
    args = parser.parse_args()
    start = time.perf_counter()
    path = csr_file(args.n)
    print(f"{path} ({len(read_csrs(path))} CSRs) in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
