"""`make run` (scripts/run.sh HOME HOST PORT): the first run makes the SMKI, later runs only serve it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from test_serve import free_port, running, wait_for_health

REPO = Path(__file__).resolve().parents[1]


def test_run_script_initialises_once_with_a_demo_passphrase_then_serves(tmp_path: Path) -> None:
    home = tmp_path / "smki-data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMKI_")}  # a new user's shell
    ceremonies = []
    for attempt in range(2):
        port = free_port()
        log = tmp_path / f"run-{attempt}.log"
        with running(
            ["bash", str(REPO / "scripts" / "run.sh"), str(home), "127.0.0.1", str(port)], env, log
        ) as p:
            health = wait_for_health(f"http://127.0.0.1:{port}", p, timeout=120).json()
        assert health["initialised"] is True and health["key_backend"] == "soft", log.read_text()
        ceremonies.append(health["ceremony"])
        text = log.read_text()
        assert ("Key ceremony" in text) == (attempt == 0), text
    assert ceremonies[0] == ceremonies[1]  # the second run did not make a new hierarchy
    passphrase = home / "passphrase"
    assert stat.S_IMODE(passphrase.stat().st_mode) == 0o600
    secret = passphrase.read_bytes().strip()
    assert len(secret) >= 32
    assert secret.decode() not in (tmp_path / "run-0.log").read_text()
    assert (home / "smki.db").is_file() and (home / "certs" / "root-oca.pem").is_file()
