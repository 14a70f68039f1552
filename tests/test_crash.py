"""Crash at every step of the issuance cycle (SIGKILL via SMKI_TEST_CRASH_AT) and lose nothing.

A child process issues certificates one by one and appends each serial to a file (fsync'd) the moment
``issue`` returns it, i.e. once it is released. It SIGKILLs itself the third time it reaches the step under
test. Afterwards: every released certificate is recorded, no serial was used twice (also after issuing
more), a serial reserved by the killed attempt is never reused, and `smki audit verify` passes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from smki import audit
from smki.ca import CertificateAuthorities, IssueRequest, create_hierarchy
from smki.ca.crashpoints import ENV_VAR, STEPS
from smki.keys import SoftBackend
from smki.model import CertificateKind, EntityId, KeyUsage, RemotePartyRole
from smki.profiles.environment import PkiEnvironment
from smki.storage import Database, ca_store

PASSPHRASE = "crash-test-passphrase"
ENV = PkiEnvironment()

CHILD = r"""
import os, sys
from pathlib import Path
from cryptography.hazmat.primitives.asymmetric import ec
from smki.ca import CertificateAuthorities, IssueRequest
from smki.keys import SoftBackend
from smki.model import CertificateKind, EntityId, KeyUsage, RemotePartyRole
from smki.profiles.environment import PkiEnvironment
from smki.storage import Database

url, home, released = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
db = Database(url)
cas = CertificateAuthorities.open(db, SoftBackend(home, os.environ), PkiEnvironment())
with open(released, "a", encoding="ascii") as out:
    for i in range(6):
        request = IssueRequest(
            CertificateKind.ORGANISATION,
            ec.generate_private_key(ec.SECP256R1()).public_key(),
            KeyUsage.DIGITAL_SIGNATURE,
            EntityId.from_bytes(bytes([0x90, 0xB3, 0xD5, 0x1F, 0x30, 0x01, 0x00, i])),
            role=RemotePartyRole.SUPPLIER,
            subscriber="crash-test",
        )
        issued = cas.issue(request, actor="crash-child")
        out.write(issued.serial_hex + "\n")
        out.flush()
        os.fsync(out.fileno())
print("finished without crashing")
"""


def _run_child(url: str, home: Path, released: Path, step: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SMKI_KEY_PASSPHRASE": PASSPHRASE,
        ENV_VAR: f"{step}:3",
        "SMKI_DATABASE_URL": url,
    }
    env.pop("SMKI_KEY_PASSPHRASE_FILE", None)
    return subprocess.run(
        [sys.executable, "-c", CHILD, url, str(home), str(released)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_sigkill_at_every_step_loses_nothing_and_reuses_no_serial(
    kind: str, tmp_path: Path, database_url_for
) -> None:  # type: ignore[no-untyped-def]
    url = database_url_for(kind)
    home = tmp_path / "home"
    db = Database(url)
    db.upgrade()
    keys = SoftBackend(home, {"SMKI_KEY_PASSPHRASE": PASSPHRASE})
    create_hierarchy(db, keys, ENV, actor="test")

    all_released: list[str] = []
    left_reserved: list[str] = []
    for step in STEPS:
        released = tmp_path / f"released-{step}.txt"
        with db.read_session() as s:
            before = {i.serial_hex for i in ca_store.intents(s)}
        child = _run_child(url, home, released, step)
        assert child.returncode == -signal.SIGKILL, (step, child.returncode, child.stdout, child.stderr)
        serials = released.read_text(encoding="ascii").split() if released.exists() else []
        assert len(serials) == 2, (step, serials)  # two released before the third attempt was killed
        all_released += serials

        with db.read_session() as s:
            for serial in serials:  # every released certificate is recorded
                row = ca_store.certificate_by_serial(s, serial)
                assert row is not None and row.subscriber == "crash-test", (step, serial)
            new = [(i.serial_hex, i.state) for i in ca_store.intents(s) if i.serial_hex not in before]
            assert len(new) == 3, step
            killed_serial, killed_state = new[-1]
            recorded = ca_store.certificate_by_serial(s, killed_serial) is not None
        if step == "stored":  # committed, then killed before returning: recorded but never released
            assert killed_state == "signed" and recorded
        else:  # killed before the commit: the serial stays reserved, with no certificate
            assert killed_state == "reserved" and not recorded, step
            left_reserved.append(killed_serial)
        assert audit.verify(db).ok, step

    # Carry on issuing after the crashes: fresh serials only.
    cas = CertificateAuthorities.open(db, keys, ENV)
    for i in range(5):
        cas.issue(
            IssueRequest(
                CertificateKind.ORGANISATION,
                _public_key(),
                KeyUsage.KEY_AGREEMENT,
                EntityId.from_bytes(bytes([0x90, 0xB3, 0xD5, 0x1F, 0x30, 0x02, 0x00, i])),
                role=RemotePartyRole.NETWORK_OPERATOR,
            ),
            actor="after-crash",
        )
    with db.read_session() as s:
        intents = ca_store.intents(s)
        intent_serials = [i.serial_hex for i in intents]
        state = {i.serial_hex: i.state for i in intents}
        certificates = _all_certificate_serials(s)
    assert len(intent_serials) == len(set(intent_serials))
    assert len(certificates) == len(set(certificates))
    assert set(certificates) <= set(intent_serials)  # every certificate came through a reserved intent
    assert all(state[c] == "signed" for c in certificates)
    assert not set(left_reserved) & set(certificates)  # a reserved-but-unsigned serial is never used
    assert all(state[s] == "reserved" for s in left_reserved)
    assert set(all_released) <= set(certificates)

    cli = subprocess.run(
        [str(Path(sys.executable).parent / "smki"), "audit", "verify", "--home", str(home)],
        env={**os.environ, "SMKI_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert "intact" in cli.stdout
    keys.close()
    db.dispose()


def _public_key():  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1()).public_key()


def _all_certificate_serials(session) -> list[str]:  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    from smki.storage.ca_tables import CertificateRecord

    return list(session.execute(sa.select(CertificateRecord.serial_hex)).scalars())


def test_crash_hook_is_inert_when_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    from smki.ca.crashpoints import crash_point

    monkeypatch.delenv(ENV_VAR, raising=False)
    for step in STEPS:
        crash_point(step)  # returns: this process is still here
    monkeypatch.setenv(ENV_VAR, "signed:1000")
    crash_point("signed")
