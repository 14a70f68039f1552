"""What route handlers share: the SMKI home and its database, held on the application's state."""

from __future__ import annotations

from pathlib import Path

from fastapi import Request

from smki.storage import Database


def database(request: Request) -> Database:
    """The database of the SMKI home this app serves."""
    db: Database = request.app.state.database
    return db


def home(request: Request) -> Path:
    """The SMKI home directory this app serves."""
    path: Path = request.app.state.home
    return path
