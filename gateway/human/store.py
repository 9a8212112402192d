"""The store's contract: what the domain may ask of any backend.

The store is the truth. Every change of a task's state is one conditional write
that says whether it won: a transition names the state it expects (``Expected``)
and returns the task as written, or ``None`` when the task was no longer in
that state (another reviewer, process or sweep got there first). Memory above
this layer only caches what a store returned.

A backend is one module implementing ``Store``: ``sqlite.py`` (one process, no
set-up) and ``postgres.py`` (many processes on many machines). Every failure to
reach or write the database is raised as ``StoreUnavailable``, a retryable 503.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.errors import GatewayError
from gateway.human.grades import Grade
from gateway.human.query import Purged, SessionFilter, SessionSummary, TaskFilter
from gateway.human.task import OPEN, Task

# Deadlines a task can carry, by the column that stores them.
EXPIRY = "expires_at"  # the route's timeout: the task expires
LEASE = "lease_until"  # a claim's lease: the task goes back to pending
GONE = "gone_at"  # no client attached since then plus the re-attach grace: cancelled
ESCALATE = "escalate_at"  # pending (nobody claimed it) this long: more groups see it
DEADLINES = (EXPIRY, LEASE, GONE, ESCALATE)


class StoreUnavailable(GatewayError):
    """The database could not be reached or did not take a write; nothing changed."""

    def __init__(self, cause: BaseException | str) -> None:
        super().__init__(
            503,
            "The gateway's task store is unavailable; retry shortly.",
            type="api_error",
            code="store_unavailable",
            retry=True,
            headers={"retry-after": "1"},
        )
        self.cause = cause


@dataclass(frozen=True, slots=True)
class AuditEntry:
    task_id: str
    at: float
    event: str
    actor: str | None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class StoredResponse:
    id: str
    task_id: str
    owner: str
    session: str
    body: bytes  # the response object as JSON
    input: list[Any]  # the whole input that led to it, previous turns resolved


@dataclass(frozen=True, slots=True)
class Expected:
    """The state a transition expects; it is written only where all of this holds."""

    statuses: tuple[str, ...] = OPEN
    holder: str | None = None  # pending, or claimed by this reviewer
    held_by: str | None = None  # claimed by exactly this reviewer
    due: str | None = None  # this deadline column is set and has passed ``now``
    now: float = 0.0
    unattached: bool = False  # no client attached anywhere
    undelivered: bool = False  # its outcome has not reached a client yet


@dataclass(frozen=True, slots=True)
class Change:
    """A notification: task ``task_id`` went through ``event`` (e.g. ``task.answered``).

    ``task`` is the row as written when the change was made in this process;
    a change from another process carries only the id, and the row is read.
    """

    task_id: str
    event: str
    task: Task | None = None


@dataclass(frozen=True, slots=True)
class Due:
    """A deadline that has passed on an open task."""

    task_id: str
    deadline: str  # one of DEADLINES


@dataclass(frozen=True, slots=True)
class Graded:
    """What recording a grade did: ``task`` as it is now (``None``: no such task) and
    whether the grade was added (not when the task was finished or this reviewer had
    graded it already)."""

    task: Task | None
    added: bool


Listener = Callable[[Change], None]


class Store(Protocol):
    """Tasks, their requests and audit trail, responses, reviewer sessions, counters."""

    shared: bool  # several gateway processes may use this store at once

    async def open(self) -> None:
        """Connect, and create or upgrade the schema through the numbered migrations."""

    async def close(self) -> None: ...

    async def ping(self) -> bool:
        """Whether the database answers now (for ``/readyz``)."""

    def listen(self, listener: Listener) -> None:
        """Call ``listener`` for every task change, from this process and, where the
        store is shared, every other one."""

    # -- tasks: conditional writes ----------------------------------------------------

    async def create(
        self, task: Task, request: bytes, entry: AuditEntry, original: bytes | None = None
    ) -> tuple[Task, bool]:
        """Store a new open task, or find the open task with its dedup key.

        Returns the open task for ``task.dedup`` and whether this call made it."""

    async def transition(
        self,
        task_id: str,
        guard: Expected,
        changes: Mapping[str, Any],
        entry: AuditEntry | None = None,
        event: str | None = None,
    ) -> Task | None:
        """Write ``changes`` (and ``entry``) if the task matches ``guard``; notify
        ``event``. The task as written, or ``None`` when the guard did not hold."""

    async def attach(self, task_id: str, count: int = 1) -> Task | None:
        """``count`` more clients of this process wait on the open task (its gone
        deadline is cleared)."""

    async def detach(self, task_id: str, gone_at: float, count: int = 1) -> Task | None:
        """``count`` clients of this process fewer; with none left anywhere, the gone
        deadline is set to ``gone_at``."""

    async def forget_clients(self, gone_at: float) -> None:
        """No client waits anywhere (a one-process store after a restart): every open
        task's gone deadline is ``gone_at``."""

    async def heartbeat(self, now: float) -> bool:
        """This process is alive; ``False`` when the store had not known it (new, or
        buried by another process after a silence: its clients must attach again)."""

    async def bury(self, now: float, silent_s: float, gone_at: float) -> int:
        """Processes silent for ``silent_s`` are dead: take their clients off their
        tasks (gone deadline ``gone_at`` where none is left). Exactly one live process
        buries each dead one. Returns how many were buried."""

    async def leave(self) -> None:
        """This process stops (its clients were detached)."""

    async def due(self, now: float, limit: int = 500) -> list[Due]:
        """Open tasks with a deadline at or before ``now``."""

    # -- tasks: reads -------------------------------------------------------------------

    async def get(self, task_id: str) -> Task | None: ...

    async def finished_among(self, task_ids: Sequence[str]) -> list[Task]:
        """Those of these tasks that have finished (usually none: a cheap check)."""

    async def find(self, dedup: str, finished_since: float) -> Task | None:
        """The open task with this dedup key, else the newest undelivered outcome
        for it finished at or after ``finished_since``."""

    async def request(self, task_id: str) -> bytes | None: ...

    async def original(self, task_id: str) -> bytes | None:
        """The request as the client sent it, when its door translated it (else ``None``)."""
        ...

    async def list(
        self,
        statuses: Sequence[str],
        *,
        model: str | None = None,
        session: str | None = None,
        newest_first: bool = False,
        limit: int = 500,
        groups: frozenset[str] | None = None,
        kind: str | None = None,
    ) -> list[Task]:
        """Tasks in these statuses, oldest first; ``groups``: only those a reviewer in
        these groups sees (``None``: all); ``kind``: only this kind."""

    async def answered_after(
        self, after: float, *, model: str | None = None, limit: int = 200
    ) -> builtins.list[Task]:
        """Answered tasks whose answer came after ``after``, oldest answer first."""

    async def audit(self, task_id: str) -> builtins.list[AuditEntry]: ...

    async def stats(self, since: float) -> dict[str, Any]:
        """``counts`` by status, ``answer_seconds`` of answers since ``since``, and
        ``kinds``: tasks created since ``since`` by kind and status."""

    async def escalations_since(self, since: float) -> dict[tuple[str, str], int]: ...

    async def drafted_answers_since(self, since: float) -> builtins.list[tuple[dict, dict]]: ...

    # -- grades ---------------------------------------------------------------------------

    async def grade(self, grade: Grade, entry: AuditEntry) -> Graded:
        """Add ``grade`` to its open task, once per reviewer; the grade that makes
        ``task.reviews`` finishes the task (answered, by that reviewer). A claim by the
        grader is let go. Notifies ``task.graded``."""

    async def grades(self, task_ids: Sequence[str]) -> dict[str, builtins.list[Grade]]:
        """The grades of these tasks, oldest first."""

    async def grades_since(
        self, since: float, limit: int = 50_000
    ) -> builtins.list[tuple[str, str | None, Grade]]:
        """The newest ``limit`` grades made at or after ``since``, newest first, each with
        its task's model and rubric."""

    # -- stored responses (Responses API) -----------------------------------------------

    async def put_response(self, response: StoredResponse) -> None: ...

    async def get_response(self, response_id: str) -> StoredResponse | None: ...

    async def delete_response(self, response_id: str) -> bool:
        """Forget a stored response; ``False`` when there was none."""

    # -- forwarded responses: which client made each upstream-minted Responses id ----------

    async def put_forwarded(self, response_id: str, owner: str, expires_at: float) -> None:
        """Record that client ``owner`` made upstream response ``response_id``, until
        ``expires_at`` (rows already expired are dropped on the way)."""

    async def forwarded_owner(self, response_id: str, now: float) -> str | None:
        """The client that made this forwarded response, unless unknown or expired."""

    async def delete_forwarded(self, response_id: str) -> None: ...

    # -- the installation -------------------------------------------------------------------

    async def fingerprint(self, fingerprint: str) -> str:
        """The fingerprint of the secret the store was first used with: ``fingerprint``
        itself when none was recorded yet (it is recorded now, once, race-free)."""

    # -- reviewer sessions ----------------------------------------------------------------

    async def open_session(self, key: str, reviewer: str, now: float) -> None:
        """Record a dashboard session under ``key`` (a digest of the cookie)."""

    async def touch_session(self, key: str, now: float, idle_s: float) -> str | None:
        """The reviewer of a session used within ``idle_s``, renewing it; else ``None``."""

    async def close_session(self, key: str) -> None: ...

    # -- counters -------------------------------------------------------------------------

    async def add_counts(self, name: str, counts: Mapping[tuple[str, int], int]) -> None:
        """Add to counter ``name`` per (key, minute)."""

    async def counts_since(self, name: str, minute: int) -> dict[str, int]:
        """Counter ``name`` per key, summed over minutes from ``minute`` on."""

    # -- export, sessions and retention (gateway/export) ------------------------------------

    async def export_page(
        self, filter: TaskFilter, after: tuple[float, str] | None, limit: int
    ) -> builtins.list[tuple[Task, bytes | None]]:
        """Finished tasks the filter keeps, with their request bodies, ordered by
        (finished_at, id) and starting after ``after`` (keyset paging). A body larger
        than ``export_sql.INLINE_BODY_BYTES`` comes back as ``None``: read it with
        ``request`` when its turn comes."""

    async def sessions(
        self, filter: SessionFilter, after: tuple[float, str] | None, limit: int
    ) -> builtins.list[SessionSummary]:
        """Sessions with their task counts, by first task's creation then id, after ``after``."""

    async def purge(self, before: float, limit: int) -> Purged:
        """Delete up to ``limit`` finished tasks that finished before ``before``, with their
        requests, audit entries and stored responses, in one transaction."""
