"""Numbered schema migrations, one SQL file per step and dialect.

``NNNN_name.<dialect>.sql``: a backend applies, in order, every step above the
version recorded in its ``schema_migrations`` table, each in one transaction
with its version. A new column on ``Task`` needs a new step for every dialect
(``tests/test_store_contract.py`` checks that the schema covers every field).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

_NAME = re.compile(r"(\d{4})_(\w+)\.(\w+)\.sql")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    def statements(self) -> list[str]:
        """The migration's statements (no migration uses ``;`` inside a literal or a trigger)."""
        text = "\n".join(
            line for line in self.sql.splitlines() if not line.lstrip().startswith("--")
        )
        return [part.strip() for part in text.split(";") if part.strip()]


def migrations(dialect: str) -> list[Migration]:
    found = []
    for entry in resources.files(__package__).iterdir():
        match = _NAME.fullmatch(entry.name)
        if match and match.group(3) == dialect:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text()))
    return sorted(found, key=lambda migration: migration.version)
