"""Running the schema migrations on a SQLite file.

Each numbered migration above the recorded version is applied in its own
``BEGIN IMMEDIATE`` transaction with its version row; an ``ADD COLUMN`` that a
file made before migrations existed already has is skipped.
"""

from __future__ import annotations

import re
import sqlite3
import time

from gateway.store.migrations import migrations

_ADD_COLUMN = re.compile(r"ALTER TABLE (\w+) ADD COLUMN (\w+)", re.IGNORECASE)


def _adds_a_present_column(db: sqlite3.Connection, statement: str) -> bool:
    """An ``ADD COLUMN`` that a file made before migrations existed already has."""
    match = _ADD_COLUMN.match(statement)
    if match is None:
        return False
    table, column = match.groups()
    return any(row[1] == column for row in db.execute(f"PRAGMA table_info({table})"))


def migrate(db: sqlite3.Connection) -> None:
    """Apply every numbered migration above the recorded version, each with its version."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
    )
    for migration in migrations("sqlite"):
        db.execute("BEGIN IMMEDIATE")
        try:
            done = db.execute(
                "SELECT 1 FROM schema_migrations WHERE version = ?", (migration.version,)
            ).fetchone()
            if not done:
                for statement in migration.statements():
                    if not _adds_a_present_column(db, statement):
                        db.execute(statement)
                db.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                    (migration.version, migration.name, time.time()),
                )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
