"""Crash at every step of the issuance cycle (SIGKILL via SMKI_TEST_CRASH_AT) and lose nothing.

A child process issues certificates one by one and appends each serial to a file (fsync'd) the moment
``issue`` returns it, i.e. once it is released. It SIGKILLs itself the third time it reaches the step under
test. Afterwards: every released certificate is recorded, no serial was used twice (also after issuing
more), a serial reserved by the killed attempt is never reused, and `smki audit verify` passes.

The same again for Device Certificates issued in batches through the template path (``issue_many``: the
first certificate of each shape built, the others signed straight from its linted TBS template), with the
``linted`` kill landing on a template-signed certificate. Under ``SMKI_SIMPLE_PATH=1`` (``make unit``
runs this file again with it) the same batches take the simple path, and no template may be used.
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
from smki.ca.issuance import IssuancePath, SignatureCheck
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
            kind=CertificateKind.ORGANISATION,
            public_key=ec.generate_private_key(ec.SECP256R1()).public_key(),
            key_usage=KeyUsage.DIGITAL_SIGNATURE,
            entity_id=EntityId.from_bytes(bytes([0x90, 0xB3, 0xD5, 0x1F, 0x30, 0x01, 0x00, i])),
            role=RemotePartyRole.SUPPLIER,
            subscriber="crash-test",
        )
        issued = cas.issue(request, actor="crash-child")
        out.write(issued.serial_hex + "\n")
        out.flush()
        os.fsync(out.fileno())
print("finished without crashing")
"""


def _run_child(
    url: str, home: Path, released: Path, step: str, *, script: str = CHILD, at: str = "3", extra: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SMKI_KEY_PASSPHRASE": PASSPHRASE,
        ENV_VAR: f"{step}:{at}",
        "SMKI_DATABASE_URL": url,
    }
    env.pop("SMKI_KEY_PASSPHRASE_FILE", None)
    return subprocess.run(
        [sys.executable, "-c", script, url, str(home), str(released), extra],
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
        with db.read_transaction() as s:
            before = {i.serial_hex for i in ca_store.intents(s)}
        child = _run_child(url, home, released, step)
        assert child.returncode == -signal.SIGKILL, (step, child.returncode, child.stdout, child.stderr)
        serials = released.read_text(encoding="ascii").split() if released.exists() else []
        assert len(serials) == 2, (step, serials)  # two released before the third attempt was killed
        all_released += serials

        with db.read_transaction() as s:
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
                kind=CertificateKind.ORGANISATION,
                public_key=_public_key(),
                key_usage=KeyUsage.KEY_AGREEMENT,
                entity_id=EntityId.from_bytes(bytes([0x90, 0xB3, 0xD5, 0x1F, 0x30, 0x02, 0x00, i])),
                role=RemotePartyRole.NETWORK_OPERATOR,
            ),
            actor="after-crash",
        )
    with db.read_transaction() as s:
        intents = ca_store.intents(s)
        intent_serials = [i.serial_hex for i in intents]
        state = {i.serial_hex: i.state for i in intents}
    certificates = _all_certificate_serials(db)
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


DEVICE_CHILD = r"""
import os, sys
from pathlib import Path
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from smki.ca import CertificateAuthorities, IssueRequest
from smki.ca.issuance import SignatureCheck
from smki.ca.tbs_lint import TemplateCache
from smki.keys import SoftBackend
from smki.model import CertificateKind, EntityId, KeyUsage
from smki.profiles.environment import PkiEnvironment
from smki.storage import Database

url, home, released, fills = sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4]
fill = TemplateCache.fill
fills_fd = os.open(fills, os.O_WRONLY | os.O_CREAT | os.O_APPEND)

def counted_fill(self, *args):  # one line per template-signed certificate, written before it is signed
    os.write(fills_fd, b"fill\n")
    return fill(self, *args)

TemplateCache.fill = counted_fill
db = Database(url)
cas = CertificateAuthorities.open(db, SoftBackend(home, os.environ), PkiEnvironment())
with open(released, "a", encoding="ascii") as out:
    for batch in range(4):
        requests = []
        for i in range(4):  # DS, KA, DS, KA: two template shapes, the first of each built
            key = ec.generate_private_key(ec.SECP256R1()).public_key()
            requests.append(
                IssueRequest(
                    kind=CertificateKind.DEVICE,
                    public_key=key,
                    key_usage=KeyUsage.DIGITAL_SIGNATURE if i % 2 == 0 else KeyUsage.KEY_AGREEMENT,
                    entity_id=EntityId(bytes([0x00, 0xDB, 0xC7, 0x05, 0x00, 0x00, batch, i])),
                    subscriber="crash-test",
                    public_key_der=key.public_bytes(
                        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                    ),
                )
            )
        issued = cas.issue_many(requests, actor="crash-child", signatures=SignatureCheck.FIRST_PER_KEY)
        out.write("".join(c.serial_hex + "\n" for c in issued))
        out.flush()
        os.fsync(out.fileno())
print("finished without crashing")
"""
# Each batch of 4 reaches ``linted`` 4 times (built DS, built KA, template DS, template KA): the 11th is
# the third batch's first template-signed certificate. Every other step is reached once per batch.
DEVICE_KILL_AT = {step: "11" if step == "linted" else "3" for step in STEPS}
# Template fills (fast path) done when each step of the third batch is reached: two per batch.
DEVICE_FILLS = {"reserved": 4, "linted": 5, "signed": 6, "storing": 6, "stored": 6}


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_sigkill_at_every_step_of_device_template_issuance_loses_nothing(
    kind: str, tmp_path: Path, database_url_for
) -> None:  # type: ignore[no-untyped-def]
    simple = IssuancePath.from_environment() is IssuancePath.SIMPLE  # the child inherits the switch
    url = database_url_for(kind)
    home = tmp_path / "home"
    db = Database(url)
    db.upgrade()
    keys = SoftBackend(home, {"SMKI_KEY_PASSPHRASE": PASSPHRASE})
    create_hierarchy(db, keys, ENV, actor="test")

    all_released: list[str] = []
    left_reserved: list[str] = []
    for step in STEPS:
        released, fills = tmp_path / f"device-released-{step}.txt", tmp_path / f"device-fills-{step}.txt"
        with db.read_transaction() as s:
            before = {i.serial_hex for i in ca_store.intents(s)}
        child = _run_child(
            url, home, released, step, script=DEVICE_CHILD, at=DEVICE_KILL_AT[step], extra=str(fills)
        )
        assert child.returncode == -signal.SIGKILL, (step, child.returncode, child.stdout, child.stderr)
        filled = len(fills.read_text(encoding="ascii").split()) if fills.exists() else 0
        assert filled == (0 if simple else DEVICE_FILLS[step]), (step, filled)
        serials = released.read_text(encoding="ascii").split() if released.exists() else []
        assert len(serials) == 8, (step, serials)  # two batches released before the third was killed
        all_released += serials

        with db.read_transaction() as s:
            for serial in serials:  # every released certificate is recorded
                row = ca_store.certificate_by_serial(s, serial)
                assert row is not None and row.subscriber == "crash-test" and row.kind == "device", (
                    step,
                    serial,
                )
            new = [(i.serial_hex, i.state) for i in ca_store.intents(s) if i.serial_hex not in before]
            assert len(new) == 12, step
            killed = new[-4:]
            recorded = [ca_store.certificate_by_serial(s, serial) is not None for serial, _ in killed]
        if step == "stored":  # committed, then killed before returning: recorded but never released
            assert all(state == "signed" for _, state in killed) and all(recorded)
        else:  # killed before the commit: the serials stay reserved, with no certificate
            assert all(state == "reserved" for _, state in killed) and not any(recorded), step
            left_reserved += [serial for serial, _ in killed]
        assert audit.verify(db).ok, step

    # Carry on issuing Device batches after the crashes (the rerun): fresh serials only.
    cas = CertificateAuthorities.open(db, keys, ENV)
    for batch in range(2):
        cas.issue_many(
            [
                IssueRequest(
                    kind=CertificateKind.DEVICE,
                    public_key=_public_key(),
                    key_usage=KeyUsage.KEY_AGREEMENT,
                    entity_id=EntityId(bytes([0x00, 0xDB, 0xC7, 0x05, 0x01, 0x00, batch, i])),
                )
                for i in range(4)
            ],
            actor="after-crash",
            signatures=SignatureCheck.FIRST_PER_KEY,
        )
    with db.read_transaction() as s:
        intents = ca_store.intents(s)
        intent_serials = [i.serial_hex for i in intents]
        state = {i.serial_hex: i.state for i in intents}
    certificates = _all_certificate_serials(db)
    assert len(intent_serials) == len(set(intent_serials))
    assert len(certificates) == len(set(certificates))
    assert set(certificates) <= set(intent_serials)
    assert all(state[c] == "signed" for c in certificates)
    assert not set(left_reserved) & set(certificates)  # a reserved-but-unsigned serial is never used
    assert all(state[s] == "reserved" for s in left_reserved)
    assert set(all_released) <= set(certificates)
    assert audit.verify(db).ok
    keys.close()
    db.dispose()


def _public_key():  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1()).public_key()


def _all_certificate_serials(db: Database) -> list[str]:
    import sqlalchemy as sa

    from smki.storage.ca_tables import CertificateRecord

    with db.read_session() as session:
        return list(session.execute(sa.select(CertificateRecord.serial_hex)).scalars())


def test_crash_hook_is_inert_when_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    from smki.ca.crashpoints import crash_point

    monkeypatch.delenv(ENV_VAR, raising=False)
    for step in STEPS:
        crash_point(step)  # returns: this process is still here
    monkeypatch.setenv(ENV_VAR, "signed:1000")
    crash_point("signed")
