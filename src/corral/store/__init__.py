"""Persistence of desired state: SQLite by default, any SQLAlchemy URL (PostgreSQL) otherwise."""

from corral.store.store import Store

__all__ = ["Store"]
