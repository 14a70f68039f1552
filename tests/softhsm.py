"""A fresh SoftHSM2 token per test, in the test's own temporary directory.

Use it from any test module::

    pytest_plugins = ["softhsm"]  # registers the softhsm_token fixture (and its assertion rewriting)

    if TYPE_CHECKING:
        from softhsm import SoftHsmToken  # annotations only: importing it first defeats the plugin's rewrite

    @pytest.mark.softhsm
    def test_something(softhsm_token: SoftHsmToken) -> None:
        backend = Pkcs11Backend.from_env(softhsm_token.env())
        ...
        backend.close()

The fixture writes ``softhsm2.conf`` (``directories.tokendir`` under ``tmp_path``), points
``SOFTHSM2_CONF`` at it for the test, initialises a token with ``softhsm2-util --init-token --free`` and
random PINs, then re-initialises the PKCS#11 library in this process (``C_Finalize`` + ``C_Initialize``)
because SoftHSM2 reads its configuration and token list only at ``C_Initialize``. Sessions left open by
an earlier test become invalid then: close every ``Pkcs11Backend`` a test opens.

SoftHSM2 missing is a failure, not a skip: ``make system-deps`` installs it (CI runs
scripts/install-system-deps.sh).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

DEFAULT_MODULE = "/usr/lib/softhsm/libsofthsm2.so"


@dataclass(frozen=True)
class SoftHsmToken:
    """One initialised SoftHSM2 token: where the library is, which token, and its PINs."""

    module: str
    label: str
    pin: str
    so_pin: str
    conf: Path
    token_dir: Path

    def env(self, **extra: str) -> dict[str, str]:
        """The environment ``open_backend("pkcs11", ...)`` / ``Pkcs11Backend.from_env`` read."""
        values = {
            "SMKI_PKCS11_MODULE": self.module,
            "SMKI_PKCS11_TOKEN": self.label,
            "SMKI_PKCS11_PIN": self.pin,
            "SOFTHSM2_CONF": str(self.conf),
        }
        values.update(extra)
        return values


def make_token(directory: Path, label: str = "smki-test", module: str | None = None) -> SoftHsmToken:
    """Create ``directory/softhsm2.conf`` and a fresh token in ``directory/tokens``; set ``SOFTHSM2_CONF``.

    The caller restores ``SOFTHSM2_CONF`` (the fixture does, through monkeypatch).
    """
    module = module or os.environ.get("SMKI_PKCS11_MODULE") or DEFAULT_MODULE
    util = shutil.which("softhsm2-util")
    if util is None or not Path(module).is_file():
        pytest.fail(
            f"SoftHSM2 is not installed (softhsm2-util on PATH and {module}): `make system-deps` installs it "
            "from Debian's packages (CI runs scripts/install-system-deps.sh).",
            pytrace=False,
        )
    token_dir = directory / "tokens"
    token_dir.mkdir(parents=True, mode=0o700)
    conf = directory / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {token_dir}\nobjectstore.backend = file\nlog.level = ERROR\n"
        "slots.removable = false\n"
    )
    os.environ["SOFTHSM2_CONF"] = str(conf)
    pin = secrets.token_hex(8)
    so_pin = secrets.token_hex(8)
    done = subprocess.run(
        [util, "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", so_pin],
        capture_output=True,
        text=True,
        env={**os.environ, "SOFTHSM2_CONF": str(conf)},
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"softhsm2-util could not initialise a token: {done.stderr.strip()}", pytrace=False)
    _reinitialise_library(module)
    return SoftHsmToken(module=module, label=label, pin=pin, so_pin=so_pin, conf=conf, token_dir=token_dir)


def _reinitialise_library(module: str) -> None:
    """Make this process's PKCS#11 library read the new SOFTHSM2_CONF (it reads it at C_Initialize only)."""
    import pkcs11

    lib = pkcs11.lib(module)  # loads and initialises, or returns the library already loaded
    lib.reinitialize()


@pytest.fixture
def softhsm_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SoftHsmToken]:
    """A fresh SoftHSM2 token for this test (module path, token label, user PIN, SO PIN, config file)."""
    monkeypatch.setenv("SOFTHSM2_CONF", str(tmp_path / "softhsm" / "softhsm2.conf"))  # restored afterwards
    token = make_token(tmp_path / "softhsm")
    yield token
    import pkcs11

    pkcs11.lib(token.module).finalize()  # nothing keeps pointing into the deleted token directory
