"""What the export, the sessions view and retention ask of the store, as data.

The store implements the queries (``export_page``, ``sessions``, ``purge``);
these are their arguments and results, shared by both backends.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from gateway.human.task import FINISHED


@dataclass(frozen=True, slots=True)
class TaskFilter:
    """Finished tasks to read, oldest finish first (keyset-paged by finish time and id)."""

    statuses: tuple[str, ...] = FINISHED
    since: float | None = None  # finished at or after
    until: float | None = None  # finished before
    model: str | None = None
    session: str | None = None
    reason: str | None = None
    reviewer: str | None = None  # answered (or rejected) by
    drafted: bool = False  # only tasks that carry a model draft (or a proposed tool call)
    groups: frozenset[str] | None = None  # only tasks a reviewer in these groups sees


@dataclass(frozen=True, slots=True)
class SessionFilter:
    since: float | None = None  # a task created at or after
    until: float | None = None  # a task created before
    model: str | None = None
    reviewer: str | None = None
    session: str | None = None
    newest_first: bool = False
    groups: frozenset[str] | None = None  # only tasks a reviewer in these groups sees


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """A session's tasks counted (over the tasks the filter kept)."""

    session: str
    tasks: int
    open: int
    answered: int
    rejected: int
    started_at: float
    last_at: float
    models: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "models": list(self.models)}


@dataclass(slots=True)
class Purged:
    """What one purge removed."""

    tasks: int = 0
    requests: int = 0
    audit: int = 0
    responses: int = 0
    images: int = 0  # inline images in the removed requests
    bytes: int = 0  # size of the removed request bodies

    def add(self, other: Purged) -> None:
        for name in ("tasks", "requests", "audit", "responses", "images", "bytes"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, int]:
        return asdict(self)
