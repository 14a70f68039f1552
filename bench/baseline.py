"""The raw bound of this machine, measured in the same run as any benchmark that quotes a ratio to it.

One operation = one ECDSA P-256 sign (SHA-256) + one verify of that signature, with ``cryptography``, on a
message the size of a small TBSCertificate. ``raw_bound(processes, seconds)`` runs ``processes`` worker
processes for ``seconds`` each and returns the sum of their rates (operations per second).

    .venv/bin/python bench/baseline.py --processes 1 2 --seconds 3
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import threading
import time

import cryptography
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

MESSAGE = bytes(range(256)) + bytes(88)  # 344 bytes: about a TBSCertificate of a SMKI certificate


def _worker(args: tuple[float, threading.Barrier]) -> float:
    seconds, barrier = args
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    algorithm = ec.ECDSA(hashes.SHA256())
    for _ in range(50):  # warm up
        public.verify(key.sign(MESSAGE, algorithm), MESSAGE, algorithm)
    barrier.wait()  # all workers measure the same wall-clock window
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(100):
            public.verify(key.sign(MESSAGE, algorithm), MESSAGE, algorithm)
        count += 100
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def raw_bound(processes: int, seconds: float) -> float:
    """Sign+verify operations per second on ``processes`` processes, summed over them."""
    if processes < 1 or seconds <= 0:
        raise ValueError("processes must be >= 1 and seconds > 0")
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        barrier = manager.Barrier(processes)
        with context.Pool(processes) as pool:
            rates = pool.map(_worker, [(seconds, barrier)] * processes)
    return sum(rates)


def machine() -> str:
    """One line describing the machine and the versions measured."""
    return (
        f"nproc {os.cpu_count()}, {platform.machine()}, Python {platform.python_version()}, "
        f"cryptography {cryptography.__version__}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    print(machine())
    print("| processes | sign+verify ops/s |")
    print("|---|---|")
    for processes in args.processes:
        print(f"| {processes} | {raw_bound(processes, args.seconds):,.0f} |")


if __name__ == "__main__":
    main()
