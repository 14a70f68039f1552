"""The only package that talks to the database: SQLAlchemy models, Alembic migrations, transactions."""

from smki.storage.base import Base
from smki.storage.database import Database

__all__ = ["Base", "Database"]
