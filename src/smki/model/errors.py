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
