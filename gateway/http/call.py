"""A client's request as the domain sees it, and the headers that say how it was answered.

``Call`` lives here, below the doors and the domain, so that both can name it
without importing each other (no cycle, not even under ``TYPE_CHECKING``).
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from gateway.http.asgi import Headers, Receive, Scope, Send, disconnected, header
from gateway.http.body import RequestHead
from gateway.human.outcome import HUMAN_ROUTE, Escalation
from gateway.human.task import Task


@dataclass(slots=True)
class Call:
    """One client request to a model endpoint, read and parsed."""

    api: str  # "chat.completions" or "responses"
    path: str  # the path below the upstream's base URL
    scope: Scope
    receive: Receive
    send: Send
    body: bytes
    data: dict[str, Any]
    head: RequestHead
    client: bytes  # the digest of the client's key, b"" without one
    started: float  # perf_counter() when the request arrived
    response_started: bool = False  # the status line has gone out (a stream began)

    def header(self, name: bytes) -> str | None:
        return header(self.scope, name)

    def gone(self) -> Awaitable[None]:
        """Done once the client has gone (its body read already): the human service's
        ``ClientGone``. A method, so a waiting client holds no partial for it."""
        return disconnected(self.receive)


def gateway_headers(
    route: str,
    answered_by: str | None = None,
    *,
    task: str | None = None,
    escalation: str | None = None,
    confidence: float | None = None,
) -> Headers:
    """The ``x-gateway-*`` headers of a reply: its route, who answered (``model``,
    ``human`` or ``draft``), the task, why a hybrid call went to a person, and the
    model's confidence score."""
    headers = [(b"x-gateway-route", route.encode())]
    if answered_by is not None:
        headers.append((b"x-gateway-answered-by", answered_by.encode()))
    if task is not None:
        headers.append((b"x-gateway-task", task.encode()))
    if escalation is not None:
        headers.append((b"x-gateway-escalation", escalation.encode()))
    if confidence is not None:
        headers.append((b"x-gateway-confidence", f"{confidence:.4f}".encode()))
    return headers


def escalation_headers(why: Escalation, task: Task | None, answered_by: str | None) -> Headers:
    """The ``x-gateway-*`` headers of a reply on a human or hybrid route.

    ``task`` is ``None`` while a hybrid route still waits on its model: only the
    route is known then.
    """
    if task is None:
        return gateway_headers(why.route)
    return gateway_headers(
        why.route,
        answered_by,
        task=task.id,
        escalation=None if why.route == "human" else why.reason,
        confidence=why.confidence,
    )


def outcome_headers(route: str, task: Task | None, answered_by: str | None) -> Headers:
    """The ``x-gateway-*`` headers of a human or hybrid outcome (``route``): on a hybrid
    route the task's stored reason and draft confidence say why a person was involved."""
    if route == "human" or task is None:
        why = HUMAN_ROUTE if route == "human" else Escalation(route=route)
    else:
        why = Escalation(reason=task.reason, route=route, confidence=task.confidence)
    return escalation_headers(why, task, answered_by)
