"""CPU per certificate in one batch worker, without processes or the parent: check, then issue.

    .venv/bin/python bench/worker_cpu.py --n 16000

Sets up a fresh SMKI home like bench/batch_issuance.py (SQLite), starts one worker in this process
(``smki.ra.batch._init_worker``) and times ``_check_chunk`` and ``_issue_chunk`` over the first N cached
Device CSRs (bench/make_csrs.py) in chunks of 4,000, in process CPU time. It answers "did the code get
slower?" without the scheduling and the noise of the two-process run; compare trees in the same minutes.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from batch_issuance import setup
from make_csrs import csr_file, read_csrs

from smki.ca import home_environment
from smki.model.kinds import DeviceType
from smki.ra import batch

CHUNK = 4000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=16000)
    args = parser.parse_args()
    csrs = read_csrs(csr_file(100000))[: args.n]
    with tempfile.TemporaryDirectory(prefix="smki-bench-") as tmp:
        home = Path(tmp) / "home"
        db, env, _ = setup("sqlite", home)
        os.environ.update({k: v for k, v in env.items() if k.startswith("SMKI_")})
        batch._init_worker(
            batch.BatchSetup(
                database_url=db.url,
                connect_args={},
                home=str(home),
                env=home_environment(home),
                key_backend="soft",
                party_id="bench-supplier",
                actor="bench",
                device_type=DeviceType.ELECTRICITY_SMART_METER,
                smi_status=None,
            )
        )
        check = issue = 0.0
        for start in range(0, len(csrs), CHUNK):
            t0 = time.process_time()
            checked = batch._check_chunk(start, csrs[start : start + CHUNK])
            t1 = time.process_time()
            results = batch._issue_chunk(start, [accepted.index for accepted in checked.accepted])
            check, issue = check + t1 - t0, issue + time.process_time() - t1
            assert not checked.refused and all(r.ok for r in results), "every bench CSR must be issued"
        db.dispose()
    n = len(csrs)
    total = (check + issue) / n * 1e6
    print(
        f"check {check / n * 1e6:.1f} us + issue {issue / n * 1e6:.1f} us = {total:.1f} us "
        f"of CPU per certificate ({n} certificates, one process)"
    )


if __name__ == "__main__":
    main()
