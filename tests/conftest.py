"""Shared test fixtures: where the real DCC certificates live, and the databases to test against."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
REAL_CERTS = Path(os.environ.get("SMKI_REAL_CERTS", REPO_ROOT.parent / "shared" / "smki-real-certs"))
POSTGRES_URL = os.environ.get("SMKI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def real_certs() -> Path:
    """The directory of real DCC test certificates (../shared/smki-real-certs).

    A missing directory fails the tests that need it (never a skip): CI always has ../shared beside the
    clone, so its absence is a broken checkout, not an optional extra."""
    if not (REAL_CERTS / "index.csv").is_file():
        pytest.fail(
            f"real DCC certificates not found at {REAL_CERTS}: these golden-vector tests need "
            "../shared/smki-real-certs beside the clone (or SMKI_REAL_CERTS)",
            pytrace=False,
        )
    return REAL_CERTS


def _postgres_database(schema: str) -> object:
    """A Database on PostgreSQL whose tables live in their own schema (dropped by the caller)."""
    import sqlalchemy as sa

    from smki.storage import Database

    admin = sa.create_engine(POSTGRES_URL)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:  # CI always has PostgreSQL: fail loudly, never skip
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL}: {exc.orig}")
    finally:
        admin.dispose()
    return Database(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"})


def _drop_postgres_schema(schema: str) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A fresh, migrated Database: SQLite in tmp_path, and PostgreSQL in a schema of its own."""
    import uuid

    from smki.storage import Database

    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'smki.db'}")
        db.upgrade()
        yield db
        db.dispose()
        return
    schema = "t_" + uuid.uuid4().hex[:16]
    db = _postgres_database(schema)
    assert isinstance(db, Database)
    try:
        db.upgrade()
        yield db
    finally:
        db.dispose()
        _drop_postgres_schema(schema)


@pytest.fixture
def database_url_for(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Factory giving (url, connect_args) for a fresh SQLite file or PostgreSQL schema, for CLI tests."""
    import uuid

    schemas: list[str] = []

    def make(kind: str) -> str:
        if kind == "sqlite":
            return f"sqlite:///{tmp_path / ('smki-' + uuid.uuid4().hex[:8] + '.db')}"
        schema = "t_" + uuid.uuid4().hex[:16]
        _postgres_database(schema)
        schemas.append(schema)
        sep = "&" if "?" in POSTGRES_URL else "?"
        return f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"

    yield make
    for schema in schemas:
        _drop_postgres_schema(schema)
