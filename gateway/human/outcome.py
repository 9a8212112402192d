"""Why a call went to a person, what the model offered, and the errors a task can end in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.errors import GatewayError
from gateway.human.task import EXPIRED, REJECTED, Task


@dataclass(frozen=True, slots=True)
class ModelReply:
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
    fallback: ModelReply | None = None  # sent instead of a timeout error (on_timeout = "draft")

    def headers(self, task: Task, answered_by: str) -> list[tuple[bytes, bytes]]:
        """The ``x-gateway-*`` headers of a reply on this route."""
        headers = [
            (b"x-gateway-route", self.route.encode()),
            (b"x-gateway-answered-by", answered_by.encode()),
            (b"x-gateway-task", task.id.encode()),
        ]
        if self.route != "human":
            headers.append((b"x-gateway-escalation", self.reason.encode()))
        if self.confidence is not None:
            headers.append((b"x-gateway-confidence", f"{self.confidence:.4f}".encode()))
        return headers


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
    return GatewayError(409, f"Task {task.id} was {task.status}.", code=f"human_{task.status}")
