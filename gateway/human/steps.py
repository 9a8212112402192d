"""Which earlier task a new request continues: the steps of an agent's run.

An agent loop sends its whole conversation every turn (or a
``previous_response_id``). A request whose conversation extends an earlier
task's conversation plus that task's answer is that task's next step.

Two ways to see it, tried in order:

- **Ids the gateway minted.** Every answer carries ids only the gateway made
  (``call_...`` tool call ids, ``cu_``/``fc_``/``msg_`` item ids, ``resp_...``
  response ids). A later request that mentions one (a tool output's
  ``tool_call_id`` / ``call_id``, the resent assistant turn, a
  ``previous_response_id``) continues the task that minted it.
- **Text only.** An answer with no ids (plain text) is matched by content: the
  earlier conversation plus the answer, each item reduced to its role and
  whitespace-normalised text, hashed as a chain, must be a prefix of the new
  conversation. Two independent runs that began alike and got the same text
  answer hash alike; the first run still waiting for its next step gets it.

Everything is scoped by client (the owner hash) and API, so one client's ids or
texts never link to another's tasks. The index lives in memory, bounded, and
is rebuilt from the store's recently answered tasks at start-up.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.human.request import messages_of, texts
from gateway.human.store import Change, Store
from gateway.human.task import Task
from gateway.human.work import Shapers

INDEX_LIMIT = 100_000  # keys kept; the oldest go first
TEXT_CANDIDATES = 8  # tasks kept per text key (independent runs that look alike)
REBUILD_WINDOW_S = 24 * 3600  # answered this recently: re-indexed at start-up
REBUILD_LIMIT = 5000
SESSION_WORDS = 40  # characters of the first user text in a generated session name
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Step:
    """The task a request continues: its id, step number and session."""

    task_id: str
    step: int
    session: str


def _normalised(item: Any) -> bytes:
    """An item as role (or type) and its text, whitespace collapsed; images as a mark."""
    if isinstance(item, str):
        return b"user\x00" + _SPACES.sub(" ", item).strip().encode()
    if not isinstance(item, dict):
        return b"?"
    kind = item.get("role") or item.get("type") or "?"
    body = item.get("content") if "role" in item else item
    text = " ".join(part for part in texts(body) if part.strip())
    return f"{kind}\x00{_SPACES.sub(' ', text).strip()}".encode()


def _chain(items: list[Any], start: bytes = b"") -> list[bytes]:
    """The digest of every prefix of ``items``: digest i covers items[0..i]."""
    digests = []
    last = start
    for item in items:
        last = hashlib.sha256(last + b"\x01" + _normalised(item)).digest()
        digests.append(last)
    return digests


def ids_in(api: str, items: list[Any]) -> list[str]:
    """Ids a conversation mentions, newest last: tool call and item ids."""
    found: list[str] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        if api == "chat.completions":
            if isinstance(item.get("tool_call_id"), str):
                found.append(item["tool_call_id"])
            for call in item.get("tool_calls") or []:
                if isinstance(call, dict) and isinstance(call.get("id"), str):
                    found.append(call["id"])
        else:
            for key in ("id", "call_id"):
                if isinstance(item.get(key), str):
                    found.append(item[key])
    return found


def session_name(api: str, data: dict[str, Any]) -> str:
    """A readable, unique name for a run nobody named: its first user words and a tag."""
    first = ""
    for message in messages_of(api, data):
        user = isinstance(message, dict) and message.get("role") == "user"
        if isinstance(message, str) or user:
            body = message if isinstance(message, str) else message.get("content")
            first = _SPACES.sub(" ", " ".join(texts(body))).strip()
            if first:
                break
    if not first and isinstance(data.get("instructions"), str):
        first = _SPACES.sub(" ", data["instructions"]).strip()
    words = first[:SESSION_WORDS].rstrip() + ("…" if len(first) > SESSION_WORDS else "")
    return f"{words or 'run'} #{secrets.token_hex(2)}"


class Steps:
    """The in-memory index from minted ids and answer texts to the tasks behind them."""

    def __init__(self, shapers: Shapers, limit: int = INDEX_LIMIT) -> None:
        self.limit = limit
        self._shapers = shapers  # each door reads back the answers it shaped
        self._ids: OrderedDict[tuple[str, str, str], Step] = OrderedDict()
        self._texts: OrderedDict[tuple[str, str, bytes], list[Step]] = OrderedDict()
        self._followed: OrderedDict[str, None] = OrderedDict()  # tasks with a next step
        self._store: Store | None = None
        self._jobs: set[asyncio.Task[None]] = set()  # held so they are not collected

    # -- recording answers ----------------------------------------------------------

    def answered(self, task: Task, request: dict[str, Any]) -> None:
        """Index an answered task by the ids in its answer and by its whole conversation."""
        shaper = self._shapers.get(task.dialect)
        if task.result is None or shaper is None:
            return
        step = Step(task.id, task.step, task.session)
        for minted in shaper.minted_ids(task):
            self._put(self._ids, (task.owner, task.api, minted), step)
        items = [*messages_of(task.api, request), *shaper.answer_items(task)]
        digests = _chain(items)
        if digests:
            key = (task.owner, task.api, digests[-1])
            candidates = [*self._texts.pop(key, []), step][-TEXT_CANDIDATES:]
            self._put(self._texts, key, candidates)

    def _put(self, index: OrderedDict, key: Any, value: Any) -> None:
        index[key] = value
        index.move_to_end(key)
        while len(index) > self.limit:
            index.popitem(last=False)

    async def rebuild(self, store: Store) -> None:
        """Index the recently answered tasks again (after a restart), and from now on
        the answers other gateway processes record in a shared store."""
        self._store = store
        store.listen(self._heard)
        since = time.time() - REBUILD_WINDOW_S
        for task in await store.answered_after(since, limit=REBUILD_LIMIT):
            body = await store.request(task.id)
            if body:
                self.answered(task, orjson.loads(body))
            if task.follows:
                self._put(self._followed, task.follows, None)

    def _heard(self, change: Change) -> None:
        # A change made here carries its row and was indexed by answered(); one from
        # another process carries only the id: read the task and its request.
        if change.event == "task.answered" and change.task is None:
            job = asyncio.get_running_loop().create_task(self._index(change.task_id))
            self._jobs.add(job)
            job.add_done_callback(self._jobs.discard)

    async def _index(self, task_id: str) -> None:
        assert self._store is not None
        task = await self._store.get(task_id)
        body = await self._store.request(task_id)
        if task is not None and body:
            self.answered(task, orjson.loads(body))

    # -- finding the step a request continues ----------------------------------------

    def follow(
        self, owner: str, api: str, data: dict[str, Any], previous_response_id: str | None = None
    ) -> Step | None:
        """The task this request continues, or ``None`` for the first step of a run."""
        found = self._find(owner, api, data, previous_response_id)
        if found is not None:
            self._put(self._followed, found.task_id, None)
        return found

    def minted(self, owner: str, api: str, minted_id: str) -> Step | None:
        """The task whose answer carried ``minted_id`` (a tool call id), if indexed; the
        task is not marked as followed (a look, not a next step)."""
        return self._ids.get((owner, api, minted_id))

    def _find(
        self, owner: str, api: str, data: dict[str, Any], previous_response_id: str | None
    ) -> Step | None:
        if previous_response_id:
            step = self._ids.get((owner, api, previous_response_id))
            if step is not None:
                return step
        # The match latest in the conversation wins: a resent tool call id may
        # name step 1 while the text answer after it is step 2's.
        items = messages_of(api, data)
        best: tuple[int, Step] | None = None
        for position, item in enumerate(items):
            for minted in ids_in(api, [item]):
                step = self._ids.get((owner, api, minted))
                if step is not None:
                    best = (position, step)
        for position, digest in reversed(list(enumerate(_chain(items)))):
            if best is not None and position <= best[0]:
                break
            candidates = self._texts.get((owner, api, digest))
            if candidates:
                waiting = [c for c in candidates if c.task_id not in self._followed]
                return (waiting or candidates)[0 if waiting else -1]
        return best[1] if best else None
