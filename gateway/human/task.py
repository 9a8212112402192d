"""The task: one request waiting for, or answered by, a person."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

PENDING = "pending"
CLAIMED = "claimed"
ANSWERED = "answered"
REJECTED = "rejected"
EXPIRED = "expired"
CANCELLED = "cancelled"

# The dedup key of a task whose client holds no connection but polls for the outcome
# (Cua's human-tool protocol): "polled:" + the task's id, so no retry can attach to it.
POLLED = "polled:"

# The kind of a task that grades a model's answer a client already has (shadow review).
GRADE = "grade"

OPEN = (PENDING, CLAIMED)
FINISHED = (ANSWERED, REJECTED, EXPIRED, CANCELLED)
STATUSES = OPEN + FINISHED


# The dialect of the conversation form itself (OpenAI's Chat Completions and
# Responses): its requests are stored as the client sent them, nothing translated.
CONVERSATION_DIALECT = "openai"


@dataclass(slots=True)
class Task:
    """A task's stored fields, without its request body (that stays in the store)."""

    id: str
    status: str
    api: str  # "chat.completions" or "responses"
    model: str
    reason: str
    session: str
    created_at: float
    expires_at: float
    dedup: str  # hash of client, session header and body: how retries find the task
    owner: str  # hash of the client's key: only its owner may read a stored response
    stream: bool = False
    preview: str = ""  # the last user text, shortened, for queue rows
    prompt_tokens: int = 0
    claimed_by: str | None = None
    claimed_at: float | None = None
    lease_until: float | None = None
    clients: int = 0  # clients waiting on it, over every process
    gone_at: float | None = None  # no client since: cancelled at this moment (re-attach grace)
    answered_at: float | None = None  # answered or rejected: when, and answered_by who
    answered_by: str | None = None
    finished_at: float | None = None  # when the task left the queue, for any reason
    answer: dict[str, Any] | None = None
    result: dict[str, Any] | None = None  # the OpenAI body the client receives
    delivered: bool = False
    reject_reason: str | None = None
    draft: dict[str, Any] | None = None
    confidence: float | None = None
    response_id: str | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: Any = None
    kind: str = "text"  # screen, tools, structured or text: what the reviewer will do
    step: int = 1  # the step within its run (see human/steps.py)
    follows: str | None = None  # the task whose answer this request continues
    output_format: dict[str, Any] | None = None  # the JSON required (human/formats.py)
    n: int = 1  # how many answers (choices) the client asked for
    # Who sees the task: reviewer groups (empty: every reviewer), see human/groups.py.
    groups: tuple[str, ...] = ()
    escalate_at: float | None = None  # pending this long: escalate_to is added to groups
    escalate_to: tuple[str, ...] = ()
    rubric: str | None = None  # a grade task's rubric (config [rubrics])
    reviews: int = 1  # a grade task is done after this many different reviewers' grades
    graded: int = 0  # grades so far
    dialect: str = CONVERSATION_DIALECT  # the door whose shaper makes the client's body

    @property
    def translated(self) -> bool:
        """Whether the client spoke another dialect than the conversation form (Anthropic's,
        MCP's): then the store keeps its request as sent too (``Store.original``)."""
        return self.dialect != CONVERSATION_DIALECT

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    @property
    def polled(self) -> bool:
        """Nobody waits on a connection: never cancelled for want of a client."""
        return self.dedup.startswith(POLLED)

    def summary(self) -> dict[str, Any]:
        """The fields a queue row or a dashboard event needs: no request, no images."""
        return {
            "id": self.id,
            "status": self.status,
            "api": self.api,
            "model": self.model,
            "reason": self.reason,
            "session": self.session,
            "preview": self.preview,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "claimed_by": self.claimed_by,
            "claimed_at": self.claimed_at,
            "answered_at": self.answered_at,
            "answered_by": self.answered_by,
            "finished_at": self.finished_at,
            "confidence": self.confidence,
            "has_draft": self.draft is not None,
            "kind": self.kind,
            "step": self.step,
            "follows": self.follows,
            "n": self.n,
            "groups": list(self.groups),
            "escalate_at": self.escalate_at,
            "rubric": self.rubric,
            "reviews": self.reviews,
            "graded": self.graded,
        }

    def record(self) -> dict[str, Any]:
        return asdict(self)
