"""Test hook: kill the process at a named step of the issuance cycle, to prove a crash loses nothing.

Set ``SMKI_TEST_CRASH_AT=<step>`` (or ``<step>:<n>`` for the n-th time the step is reached) and the process
SIGKILLs itself there. Steps, in cycle order: ``reserved`` (serials committed), ``linted`` (built and
linted, nothing signed), ``signed`` (signed, not stored), ``storing`` (inside the storing transaction,
before commit), ``stored`` (committed, not yet returned). Unset, the hook is one dictionary lookup;
``IssuanceCycle.run`` reads :func:`armed` once per run and skips the per-certificate ``linted`` calls when
the variable is unset.
"""

from __future__ import annotations

import os
import signal

ENV_VAR = "SMKI_TEST_CRASH_AT"
STEPS = ("reserved", "linted", "signed", "storing", "stored")

_reached: dict[str, int] = {}


def armed() -> bool:
    """True when SMKI_TEST_CRASH_AT is set (to anything): only then can :func:`crash_point` act."""
    return bool(os.environ.get(ENV_VAR))


def crash_point(step: str) -> None:
    """SIGKILL this process when SMKI_TEST_CRASH_AT names ``step`` (and its count is reached)."""
    wanted = os.environ.get(ENV_VAR)
    if not wanted:
        return
    name, _, count = wanted.partition(":")
    if name != step:
        return
    _reached[step] = _reached.get(step, 0) + 1
    if _reached[step] >= (int(count) if count else 1):
        os.kill(os.getpid(), signal.SIGKILL)
