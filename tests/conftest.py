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
