"""Fixtures shared by test modules that start their own ``gateway`` fixture.

Each module defines ``gateway`` (its own config and process); what is here builds
on whichever one the module has.
"""

from __future__ import annotations

import pytest
from reviewer_client import Reviewer


@pytest.fixture
def reviewer(gateway) -> Reviewer:
    """Reviewer ``alice`` on the module's gateway (a module may define its own)."""
    return Reviewer(gateway.url, "alice")


@pytest.fixture(scope="session")
def postgres_cluster():
    """A throwaway PostgreSQL 15 server for the whole session (skipped without one)."""
    import postgres

    if not postgres.available():
        pytest.skip(f"PostgreSQL server binaries not found in {postgres.BIN}")
    cluster = postgres.shared_cluster()
    yield cluster
    cluster.destroy()
    postgres._shared = None
