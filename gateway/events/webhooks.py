"""Webhooks on task events: reach reviewers where they are.

``Webhooks`` subscribes to the task events (gateway/events.py) like a dashboard
does and turns each event a webhook asked for into a POST, delivered by a few
workers off the request path: publishing an event only puts it on a queue.
Deliveries are bounded (``max_pending`` waiting; beyond it the oldest is dropped
and logged) and retried on connection errors, timeouts, 429 and 5xx with a
doubling back-off. A body is JSON (the event, the task summary and a link to
the task on the dashboard) or Slack-compatible (``{"text": ...}``); with a
``secret`` it is signed: ``X-Signature: sha256=<hex HMAC-SHA256 of the body>``.

A webhook URL may hold a secret itself (Slack's do): logs name its host only.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import orjson

from gateway.config.root import Config
from gateway.config.sections import WebhookConfig
from gateway.events.fanout import Events

log = logging.getLogger("gateway.events.webhooks")

WORKERS = 4  # deliveries in flight at once
FIRST_BACKOFF_S = 1.0
USER_AGENT = "hitl-gateway-webhook/1"
SUMMARY_WORDS = {
    "task.created": "New task",
    "task.claimed": "Claimed",
    "task.released": "Released",
    "task.answered": "Answered",
    "task.rejected": "Rejected",
    "task.expired": "Expired",
    "task.cancelled": "Cancelled",
    "task.escalated": "Escalated",
    "task.graded": "Graded",
}


@dataclass(frozen=True, slots=True)
class Delivery:
    hook: WebhookConfig
    body: bytes
    event: str


def task_link(dashboard_url: str, task_id: str) -> str:
    """The dashboard opens the task named after ``#task=``."""
    return f"{dashboard_url.rstrip('/')}/#task={quote(task_id, safe='')}"


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def slack_escape(text: str) -> str:
    """Text shown as itself in Slack: its control characters escaped, as Slack asks.

    Every field taken from a request (the model name, the preview) goes through
    here: ``<http://evil|Approve>`` in a model name would otherwise be a live link.
    """
    for raw, escaped in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        text = text.replace(raw, escaped)
    return text


def message_body(hook: WebhookConfig, event: str, task: dict[str, Any], link: str) -> bytes:
    """What a webhook receives for one event."""
    if hook.format == "slack":
        what = SUMMARY_WORDS.get(event, event)
        step = f" (step {task['step']})" if task.get("step", 1) > 1 else ""
        preview = slack_escape(str(task.get("preview") or "").replace("\n", " ")[:200])
        model = slack_escape(str(task.get("model") or ""))
        text = f"{what} for *{model}*{step}: {preview} <{link}|open the task>"
        return orjson.dumps({"text": text})
    return orjson.dumps({"event": event, "sent_at": time.time(), "url": link, "task": task})


class Webhooks:
    """Subscribes to task events; posts the ones each webhook asked for."""

    def __init__(self, config: Config, events: Events) -> None:
        self.settings = config.notify
        self.events = events
        host = config.server.host
        host = f"[{host}]" if ":" in host else host
        self.dashboard_url = self.settings.dashboard_url or f"http://{host}:{config.server.port}/"
        self._pending: deque[Delivery] = deque()
        self._ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        self.dropped = 0

    async def start(self) -> None:
        if not self.settings.webhooks:
            return
        self._session = aiohttp.ClientSession(headers={"User-Agent": USER_AGENT})
        self._tasks = [asyncio.create_task(self._listen())]
        self._tasks += [asyncio.create_task(self._work()) for _ in range(WORKERS)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._session is not None:
            await self._session.close()

    # -- from events to deliveries ------------------------------------------------------

    async def _listen(self) -> None:
        while True:  # a subscriber that fell behind is dropped: subscribe again
            async with self.events.subscribe() as inbox:
                while (event := await inbox.get()) is not None:
                    if event.here:  # the process that made a change delivers its webhooks
                        self._enqueue(event.name, orjson.loads(event.data))

    def _enqueue(self, name: str, task: dict[str, Any]) -> None:
        link = task_link(self.dashboard_url, str(task.get("id", "")))
        for hook in self.settings.webhooks:
            if name not in hook.events:
                continue
            if len(self._pending) >= self.settings.max_pending:
                dropped = self._pending.popleft()
                self.dropped += 1
                log.warning("webhook queue full: dropped %s for %s", dropped.event, _host(dropped))
            self._pending.append(Delivery(hook, message_body(hook, name, task, link), name))
        self._ready.set()

    # -- delivering ------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            while not self._pending:
                self._ready.clear()
                await self._ready.wait()
            await self._deliver(self._pending.popleft())

    async def _deliver(self, delivery: Delivery) -> bool:
        hook = delivery.hook
        assert self._session is not None
        headers = {"Content-Type": "application/json", "X-Gateway-Event": delivery.event}
        if hook.secret:
            headers["X-Signature"] = signature(hook.secret, delivery.body)
        timeout = aiohttp.ClientTimeout(total=hook.timeout_s)
        wait = FIRST_BACKOFF_S
        for attempt in range(hook.retries + 1):
            try:
                # Never followed: a 307 would re-post the signed body wherever it points.
                async with self._session.post(
                    hook.url,
                    data=delivery.body,
                    headers=headers,
                    timeout=timeout,
                    allow_redirects=False,
                ) as reply:
                    await reply.read()
                    if reply.status < 300:
                        return True
                    if reply.status < 400:
                        log.warning("webhook %s answered %s to %s (redirect to %r, not followed)",
                                    _host(delivery), reply.status, delivery.event,
                                    reply.headers.get("Location"))  # fmt: skip
                        return False
                    if reply.status != 429 and reply.status < 500:
                        log.warning("webhook %s said %s to %s", _host(delivery), reply.status,
                                    delivery.event)  # fmt: skip
                        return False
                    problem = f"status {reply.status}"
            except (aiohttp.ClientError, TimeoutError) as error:
                problem = type(error).__name__
            if attempt < hook.retries:
                await asyncio.sleep(wait)
                wait *= 2
        log.warning("webhook %s: %s not delivered (%s)", _host(delivery), delivery.event, problem)
        return False


def _host(delivery: Delivery) -> str:
    return urlsplit(delivery.hook.url).netloc.rpartition("@")[2] or "?"
