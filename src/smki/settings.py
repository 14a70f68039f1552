"""Where an SMKI keeps its state: the home directory and the database URL. Stdlib only."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

DEFAULT_HOME = "./smki-data"


def resolve_home(option: str | Path | None = None, env: Mapping[str, str] = os.environ) -> Path:
    """The data directory: ``--home``, else ``SMKI_HOME``, else ``./smki-data``."""
    chosen = option if option is not None else env.get("SMKI_HOME") or DEFAULT_HOME
    return Path(chosen).expanduser().resolve()


def database_url(home: Path, env: Mapping[str, str] = os.environ) -> str:
    """``SMKI_DATABASE_URL`` (e.g. PostgreSQL in production), else SQLite under the home directory."""
    url = env.get("SMKI_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{home / 'smki.db'}"
