"""Opening the database, running migrations, and transactions that either commit whole or not at all."""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from smki.model.errors import SmkiError
from smki.storage.transaction import Transaction, mapped_error

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class Database:
    """One SMKI database (SQLite file or PostgreSQL), with its migrations.

    ``session()`` opens a write transaction: on SQLite it begins IMMEDIATE so that two writers never
    interleave (the audit chain and serial allocation rely on it); on PostgreSQL rows that must be
    serialised are locked explicitly. ``read_session()`` opens a read-only transaction that does not
    block writers.
    """

    def __init__(self, url: str, *, echo: bool = False, connect_args: dict[str, Any] | None = None) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        args: dict[str, Any] = dict(connect_args or {})
        self.connect_args: dict[str, Any] = dict(connect_args or {})
        if self.is_sqlite:
            args.setdefault("timeout", 60)
            self._ensure_sqlite_directory(url)
        self.engine: Engine = create_engine(url, echo=echo, connect_args=args, future=True)
        self.read_engine: Engine = (
            create_engine(url, echo=echo, connect_args=args, future=True) if self.is_sqlite else self.engine
        )
        if self.is_sqlite:
            _configure_sqlite(self.engine, immediate=True)
            _configure_sqlite(self.read_engine, immediate=False)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(self.read_engine, expire_on_commit=False)
        self._writer = _WriterLock(_sqlite_file(url)) if self.is_sqlite else None

    @staticmethod
    def _ensure_sqlite_directory(url: str) -> None:
        path = url.split("sqlite:///", 1)[-1]
        if path and path != ":memory:" and not path.startswith("file:"):
            Path(path).parent.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """A write transaction for the domain packages: commits when the block ends normally, rolls back on
        any exception. A SQLAlchemy or driver error leaves the block as an SmkiError (``storage.conflict``,
        ``storage.unreachable``, ``storage.error``), never as itself."""
        with _mapping_errors(), self.session() as session:
            yield Transaction(session, read_only=False, is_postgres=not self.is_sqlite)

    @contextmanager
    def read_transaction(self) -> Iterator[Transaction]:
        """A read-only transaction for the domain packages (rolled back at the end); errors mapped as in
        :meth:`transaction`."""
        with _mapping_errors(), self.read_session() as session:
            yield Transaction(session, read_only=True, is_postgres=not self.is_sqlite)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A write transaction: commits when the block ends normally, rolls back on any exception."""
        with self._writer.held() if self._writer is not None else _nothing():
            session = self._sessions()
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A read-only transaction (rolled back at the end)."""
        session = self._read_sessions()
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    def upgrade(self) -> None:
        """Bring the schema to the newest revision of every migration branch."""
        from alembic import command

        with self.engine.connect() as connection:
            cfg = self.alembic_config()
            cfg.attributes["connection"] = connection
            try:
                command.upgrade(cfg, "heads")
            except SQLAlchemyError as exc:
                raise SmkiError(
                    "storage.migration_failed", f"The database schema could not be upgraded: {exc}."
                ) from None
            connection.commit()

    def alembic_config(self) -> Any:
        """An Alembic Config pointing at smki's migrations and this database."""
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        return cfg

    def current_revisions(self) -> set[str]:
        """The migration revisions applied to this database (empty when never initialised)."""
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as connection:
            return set(MigrationContext.configure(connection).get_current_heads())

    def has_table(self, name: str) -> bool:
        """True when the table exists (used to tell a fresh database from an initialised one)."""
        with _mapping_errors():
            return inspect(self.engine).has_table(name)

    def check_reachable(self) -> None:
        """Raise one clear SmkiError when the database cannot be reached."""
        try:
            with self.engine.connect():
                pass
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise SmkiError(
                "storage.unreachable", f"The database at {_redact(self.url)} cannot be reached: {reason}."
            ) from None

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()
        if self._writer is not None:
            self._writer.close()


def _configure_sqlite(engine: Engine, *, immediate: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's begin event decide
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL" if not immediate else "PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=60000")
        # Checkpoint every 64 MB of WAL rather than 4 MB: a page that several write transactions dirty
        # (index leaves under random serials and key hashes) is copied back to the database file once.
        cursor.execute("PRAGMA wal_autocheckpoint=16384")
        # A page cache of 256 MB for the writer (64 MB for readers) instead of SQLite's 2 MB: inserts under
        # random serials and key hashes touch index leaves all over each index (allocated as used).
        cursor.execute("PRAGMA cache_size=-262144" if immediate else "PRAGMA cache_size=-65536")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def _mapping_errors() -> Iterator[None]:
    """Turn a SQLAlchemy or driver error into the SmkiError that stands for it (see ``mapped_error``)."""
    try:
        yield
    except SQLAlchemyError as exc:
        mapped = mapped_error(exc)
        if mapped is None:  # pragma: no cover - every SQLAlchemyError maps
            raise
        if mapped.code == "storage.error":
            log.exception("database error")
        raise mapped from None


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _sqlite_file(url: str) -> Path | None:
    path = url.split("sqlite:///", 1)[-1].split("?", 1)[0]
    if not path or path == ":memory:" or path.startswith("file:") or "sqlite:///" not in url:
        return None
    return Path(path)


class _WriterLock:
    """Queues this host's smki writers of one SQLite file before BEGIN IMMEDIATE.

    SQLite lets a blocked writer poll with growing sleeps (up to 100 ms) until the lock is free; with
    several busy writers (batch workers, the server) that wastes much of each wait. An exclusive
    ``flock`` on ``<database>.writer`` (plus a thread lock, since flock does not exclude threads sharing
    the descriptor) wakes the next writer as soon as the previous one commits. Re-entrant per thread.
    Writers that are not smki still meet SQLite's own lock and busy timeout, as before.
    """

    def __init__(self, database: Path | None) -> None:
        self._path = database.with_name(database.name + ".writer") if database is not None else None
        self._thread_lock = threading.RLock()
        self._fd: int | None = None
        self._pid = 0
        self._depth = 0

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._thread_lock:
            if self._path is None:
                yield
                return
            if self._depth == 0:
                fcntl.flock(self._descriptor(), fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._fd is not None:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the lock file (it is opened again by the next write)."""
        with self._thread_lock:
            if self._fd is not None and self._depth == 0:
                os.close(self._fd)
                self._fd = None

    def _descriptor(self) -> int:
        if self._fd is None or self._pid != os.getpid():  # a forked child opens its own description
            assert self._path is not None
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._fd


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}@{host}"
    return url
