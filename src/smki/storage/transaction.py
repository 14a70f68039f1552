"""The one handle that the rest of smki holds on the database: an open transaction, opaque outside storage.

Domain packages (``ca``, ``ra``, ``governance``, ``audit``, ``repository``) open a transaction with
``Database.transaction()`` (write) or ``Database.read_transaction()`` (read) and pass it to the functions
of the ``*_store`` modules, which return values (frozen dataclasses or ``model`` types), never ORM rows.
Nothing outside ``storage`` can reach the SQLAlchemy session behind it: the attribute is private and only
:func:`session_of`, used by the store modules, unwraps it.

Driver and SQLAlchemy errors never leave a transaction block as themselves: ``Database`` maps them to
:class:`~smki.model.errors.SmkiError` codes (:func:`mapped_error`): a broken constraint is a
``StorageConflict`` (``storage.conflict``), a lost or refused connection ``storage.unreachable``.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from smki.model.errors import SmkiError, StorageConflict, StorageUnavailable


class Transaction:
    """An open transaction: commits when its ``with`` block ends normally, rolls back otherwise.

    Opaque on purpose: it offers nothing but being passed to ``storage`` functions, so rules cannot grow
    around ORM rows. ``read_only`` says whether it came from ``read_transaction()``; ``is_postgres``
    lets a caller choose a lock strategy without knowing the driver.
    """

    __slots__ = ("__session", "is_postgres", "read_only")

    def __init__(self, session: Session, *, read_only: bool, is_postgres: bool) -> None:
        self.__session = session
        self.read_only = read_only
        self.is_postgres = is_postgres

    def __repr__(self) -> str:
        kind = "read" if self.read_only else "write"
        return f"<smki {kind} transaction>"


def session_of(tx: Transaction) -> Session:
    """The SQLAlchemy session behind ``tx``: for the ``storage`` package's own modules only."""
    if isinstance(tx, Transaction):
        return tx._Transaction__session  # type: ignore[attr-defined,no-any-return]
    raise TypeError(f"expected a storage Transaction, not {type(tx).__name__}")


def mapped_error(exc: BaseException) -> SmkiError | None:
    """The SmkiError that stands for a SQLAlchemy or driver error, or None when ``exc`` is neither."""
    if isinstance(exc, IntegrityError):
        return StorageConflict(
            "storage.conflict",
            "The change conflicts with a record stored at the same time (a unique value is already taken); "
            "try again.",
        )
    if isinstance(exc, OperationalError | InterfaceError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    ):
        return StorageUnavailable(
            "storage.unreachable", "The SMKI database cannot be reached; try again later."
        )
    if isinstance(exc, SQLAlchemyError):
        return SmkiError("storage.error", "The SMKI database refused the operation; the error is logged.")
    return None
