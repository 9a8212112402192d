"""What a door hands the human service, and what the service hands back.

The core speaks no wire format and no HTTP. A door decodes its client's request
into a ``Work``: who asks, the conversation, and hints. The service makes or finds
the task and yields ``Outcome``s: ``Tick``s while nobody has answered, then
one final outcome. The door encodes each as its own JSON, SSE or error envelope.

The conversation is in the form the dashboard, the steps index, validation and
the exports read: a Chat Completions request (``messages``, ``tools``,
``tool_choice``, ``response_format``, ``n``) or a Responses request (``input``
items). ``Work.api`` names the form. A door for another dialect translates its
request into one of the two and keeps the client's bytes as ``original``.

A person's checked answer (``Reply`` objects) becomes the client's body through
the ``Shaper`` its door registered for ``Task.dialect``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.errors import GatewayError
from gateway.human.answers import Reply
from gateway.human.outcome import Escalation, HeldReply, outcome_error
from gateway.human.task import ANSWERED, CONVERSATION_DIALECT, EXPIRED, Task


@dataclass(frozen=True, slots=True)
class HumanRoute:
    """Make a task for a person and wait for the answer."""

    timeout_s: float
    keepalive_s: float
    groups: tuple[str, ...] = ()  # reviewer groups that see its tasks; empty: everyone
    escalate_after_s: float | None = None  # unclaimed this long: escalate_to see it too
    escalate_to: tuple[str, ...] = ()
    kind: str = "human"


@dataclass(slots=True)
class Work:
    """One request for a person's work, as a door hands it to the human service."""

    api: str  # the conversation's form: "chat.completions" or "responses"
    dialect: str  # the door whose shaper shapes the answer ("openai", "anthropic", "mcp")
    model: str
    client: bytes  # the digest of the client's key, b"" without one
    data: dict[str, Any]  # the request in the conversation form
    body: bytes  # ``data`` as stored (the OpenAI doors keep the client's own bytes)
    stream: bool = False  # the client wants ``Tick``s (keep-alives) while it waits
    session_hint: str | None = None  # the client's own session name (``x-session-id``)
    kind: str | None = None  # the work to do, when the door knows: "question", "permission"
    original: bytes | None = None  # the client's bytes, when the door translated them
    timeout_s: float | None = None  # instead of the route's timeout
    dedup: str = field(default="")  # same client, session and body: the same request retried

    def __post_init__(self) -> None:
        if not self.dedup:
            digest = hashlib.sha256(self.client)
            digest.update(self.api.encode())  # the same body to two APIs is two requests
            if self.dialect != CONVERSATION_DIALECT:  # keys stored before dialects still match
                digest.update(self.dialect.encode())
            digest.update((self.session_hint or "").encode())
            digest.update(self.original if self.original is not None else self.body)
            self.dedup = digest.hexdigest()


# -- outcomes --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tick:
    """Still waiting: nobody has answered yet, time for a keep-alive or a progress note."""

    task: Task | None  # None while a hybrid route still waits on its model


@dataclass(frozen=True, slots=True)
class Answered:
    """A person answered: ``task.result`` is the body the door's shaper built."""

    task: Task
    answered_by: str  # "human", or "draft" when the person accepted the model's draft


@dataclass(frozen=True, slots=True)
class Ended:
    """The task ended without an answer (rejected, expired, cancelled) or the
    server is stopping: the door sends ``error`` in its own envelope."""

    task: Task
    error: GatewayError


@dataclass(frozen=True, slots=True)
class DraftSent:
    """Nobody answered in time and the route says so: the model's held reply goes out."""

    task: Task
    reply: HeldReply


@dataclass(frozen=True, slots=True)
class ClientLeft:
    """The client went away; its task is cancelled after the re-attach grace."""

    task: Task


Outcome = Tick | Answered | Ended | DraftSent | ClientLeft
ClientGone = Callable[[], Awaitable[None]]  # returns once the client has disconnected


# -- the port each door implements -----------------------------------------------------


@dataclass(slots=True)
class Shaped:
    """A person's answer in a door's wire shape."""

    result: dict[str, Any]  # stored as ``task.result``; the body the client receives
    response_id: str | None = None  # an id the client may fetch the result by later
    kept_input: list[Any] | None = None  # kept with ``response_id`` for chained requests


class Shaper(Protocol):
    """How one door turns a checked answer into its body, and reads it back."""

    def shape(self, task: Task, request: dict[str, Any], replies: list[Reply]) -> Shaped:
        """The client's body for these replies (ids are minted here, once)."""
        ...

    def answer_items(self, task: Task) -> list[Any]:
        """The answer as conversation items, as the client would send it back."""
        ...

    def minted_ids(self, task: Task) -> list[str]:
        """Every id the shaper put in the answer (how a next step finds this one)."""
        ...


Shapers = Mapping[str, Shaper]


def outcome_of(task: Task, why: Escalation) -> Answered | Ended | DraftSent:
    """The final outcome of a finished task."""
    if task.status == EXPIRED and why.timeout_reply is not None:
        return DraftSent(task, why.timeout_reply)
    if task.status != ANSWERED:
        return Ended(task, outcome_error(task))
    answered_by = "draft" if (task.answer or {}).get("accept_draft") else "human"
    return Answered(task, answered_by)
