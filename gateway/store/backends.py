"""The store backend a ``[store]`` config names, imported only when chosen."""

from __future__ import annotations

from gateway.config.sections import StoreConfig
from gateway.human.store import Store


def store_for(config: StoreConfig) -> Store:
    """The backend ``[store]`` names: PostgreSQL for a ``postgresql://`` url, else SQLite."""
    if config.postgres:
        from gateway.store.postgres import PostgresStore  # asyncpg is imported only when used

        return PostgresStore(config.url or "", config.pool_size, config.timeout_s)
    from gateway.store.sqlite import SQLiteStore

    return SQLiteStore(config.sqlite_path, int(config.timeout_s * 1000))
