"""Why a call went to a person, what the model offered, and the errors a task can end in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.errors import GatewayError
from gateway.human.task import EXPIRED, REJECTED, Task


@dataclass(frozen=True, slots=True)
class HeldReply:
    """A model's whole reply, held back while a person decides (hybrid routes)."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


@dataclass(frozen=True, slots=True)
class Escalation:
    """Why a call went to a person, and what the model offered (hybrid routes)."""

    reason: str = "human_route"
    route: str = "human"
    draft: dict[str, Any] | None = None
    confidence: float | None = None
    timeout_reply: HeldReply | None = None  # sent instead of a timeout error (on_timeout = "draft")


HUMAN_ROUTE = Escalation()


def outcome_error(task: Task) -> GatewayError:
    """The error a client gets for a task that ended without an answer."""
    if task.status == REJECTED:
        return GatewayError(
            422,
            f"The reviewer rejected this request: {task.reject_reason or 'no reason given'}",
            code="human_rejected",
            retry=False,
        )
    if task.status == EXPIRED:
        return GatewayError(
            504,
            "No person answered this request in time.",
            type="timeout_error",
            code="human_timeout",
            retry=False,
        )
    # The one status left is cancelled (every client had gone past the re-attach grace).
    return GatewayError(409, f"Task {task.id} was {task.status}.", code="human_cancelled")
