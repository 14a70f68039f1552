"""The one error type every refusal in smki uses: a stable code, one sentence, and the clause."""

from __future__ import annotations


class SmkiError(Exception):
    """A refusal or failure shown to a user as one clear sentence.

    ``code`` is stable (tests, API clients and scripts match on it); ``clause`` names the SEC
    provision that the refusal applies, when a rule of the Code refused it (e.g. ``L11.4(b)``).
    """

    def __init__(self, code: str, message: str, clause: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.clause = clause

    def __str__(self) -> str:
        if self.clause:
            return f"{self.message} ({self.clause})"
        return self.message

    def as_dict(self) -> dict[str, str | None]:
        """The JSON shape used by the API and ``--json`` outputs."""
        return {"code": self.code, "message": self.message, "clause": self.clause}


class InvalidInput(SmkiError):
    """Input that cannot be understood at all (bad syntax, wrong length, unparseable encoding)."""


class PolicyRefusal(SmkiError):
    """A well-formed request that a rule of the Smart Energy Code refuses."""


class StorageConflict(SmkiError):
    """The database refused a change because a concurrent one took the same unique value first.

    Raised by ``storage`` in place of the driver's integrity error, so that callers can retry a change
    (its checks then refuse it as they refuse a sequential duplicate) without importing the driver.
    """


class StorageUnavailable(SmkiError):
    """The database cannot be reached (refused, lost or restarted connection): ``storage.unreachable``."""
