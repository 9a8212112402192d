"""Client-declared regular expressions, run with a time bound.

A tool's JSON Schema may carry ``pattern`` and ``patternProperties``; the
client wrote them, and a pattern like ``^(a|aa)+$`` backtracks for minutes on
a short string. jsonschema runs them with ``re`` on the event loop, where a
stalled match would stall the whole gateway.

So while the gateway checks an answer, jsonschema's keyword modules see a
``re`` whose ``search`` is the ``regex`` package's with a timeout: all the
patterns of one answer share ``PATTERN_BUDGET_S``, and a match that runs out
of it raises :class:`PatternTimeout` (a 422 for the reviewer). The swap lasts
only for the synchronous check (nothing else runs on the loop meanwhile); the
modules get ``re`` back after it.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from typing import Any

import regex
from jsonschema import _keywords, _legacy_keywords, _utils

PATTERN_BUDGET_S = 0.1  # for all the patterns of one answer together
_MODULES = (_keywords, _legacy_keywords, _utils)


class PatternTimeout(Exception):
    """A client's pattern did not finish within the answer's time budget."""

    def __init__(self, pattern: str) -> None:
        super().__init__(f"the pattern {pattern!r} took too long to evaluate")
        self.pattern = pattern


class _BoundedRe:
    """Stands in for ``re`` inside jsonschema while an answer is checked."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def search(self, pattern: str, string: str, flags: int = 0) -> Any:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise PatternTimeout(pattern)
        try:
            return regex.search(pattern, string, flags, timeout=remaining)
        except TimeoutError:
            raise PatternTimeout(pattern) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(re, name)


_active: _BoundedRe | None = None


@contextlib.contextmanager
def bounded_patterns(budget_s: float = PATTERN_BUDGET_S) -> Iterator[None]:
    """Run jsonschema's pattern matching with a time budget (nested calls share the outer one)."""
    global _active
    if _active is not None:
        yield
        return
    _active = _BoundedRe(time.monotonic() + budget_s)
    for module in _MODULES:
        module.re = _active
    try:
        yield
    finally:
        for module in _MODULES:
            module.re = re
        _active = None
