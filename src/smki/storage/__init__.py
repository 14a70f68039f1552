"""The only package that talks to the database: SQLAlchemy models, Alembic migrations, transactions."""

from smki.storage.base import Base
from smki.storage.database import Database
from smki.storage.transaction import Transaction

__all__ = ["Base", "Database", "Transaction"]
