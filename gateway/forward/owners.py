"""Which client made each Responses id an upstream minted, so that only it may use the id.

A Responses request forwarded upstream returns the upstream's id, and ``GET`` or
``DELETE /v1/responses/{id}``, ``input_items`` and ``cancel`` reach the upstream
with the gateway's own key: without a record, any client could read or delete any
other's. So with client keys configured, the forward route records the id with
the digest of the client's key (a store row, kept ``store.forwarded_response_days``)
before the client sees the id, and those routes serve an id only to the client
that made it; anyone else, and any id never recorded, gets the 404 of an unknown
id. Without client keys every caller is the same anonymous client: nothing is
recorded, and an id the gateway does not know is asked of the upstreams.
"""

from __future__ import annotations

import hmac
import re
import time

import orjson

from gateway.human.store import Store

# An SSE reply's id is in its first event (``response.created``); a first event this
# long without one means there is none to find (OpenAI's is about 1 KB).
MAX_SSE_HEAD = 1 << 20
_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")
_EVENT_END = re.compile(rb"\r?\n\r?\n")


class ForwardedResponses:
    """Records and checks who made each forwarded Responses id (see the module)."""

    def __init__(self, store: Store, enabled: bool, keep_days: float) -> None:
        self.store = store
        self.enabled = enabled  # client keys are configured
        self.keep_s = keep_days * 86400

    def watcher(self, client: bytes, streaming: bool) -> IdWatcher | None:
        """What reads a forwarded reply for its id and records it; ``None`` when off."""
        return IdWatcher(self, client, streaming) if self.enabled else None

    async def record(self, response_id: str, client: bytes) -> None:
        await self.store.put_forwarded(response_id, client.hex(), time.time() + self.keep_s)

    async def may_use(self, response_id: str, client: bytes) -> bool:
        """Whether the upstreams may be asked about this id on this client's behalf."""
        if not self.enabled:
            return True
        owner = await self.store.forwarded_owner(response_id, time.time())
        return owner is not None and hmac.compare_digest(owner, client.hex())

    async def forget(self, response_id: str) -> None:
        if self.enabled:
            await self.store.delete_forwarded(response_id)


class IdWatcher:
    """Reads the head of a forwarded Responses reply until it knows the response id.

    Called by the relay with the bytes so far (``done``: the reply is complete);
    returns ``True`` once it has recorded the id or knows there is none, and the
    relay sends on what it held back. A JSON reply is held whole (its id could
    be anywhere in it); a stream only until its first event.
    """

    def __init__(self, owners: ForwardedResponses, client: bytes, streaming: bool) -> None:
        self.owners = owners
        self.client = client
        self.streaming = streaming

    async def __call__(self, head: bytearray, done: bool) -> bool:
        if self.streaming:
            event = _first_data_event(bytes(head), done)
            if event is None:  # none complete yet: wait for more, within reason
                return done or len(head) > MAX_SSE_HEAD
            response_id = _id_in_event(event)
        elif not done:
            return False
        else:
            response_id = _id_in_json(head)
        if response_id is not None:
            await self.owners.record(response_id, self.client)
        return True


def _id_in_json(body: bytearray) -> str | None:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return _plain_id(data.get("id")) if isinstance(data, dict) else None


def _first_data_event(head: bytes, done: bool) -> bytes | None:
    """The first complete SSE event that carries ``data`` (comments come before it)."""
    events = _EVENT_END.split(head)
    complete = events if done else events[:-1]
    return next((event for event in complete if b"data:" in event), None)


def _id_in_event(event: bytes) -> str | None:
    """The response id in an SSE event's ``data`` (``{"response": {"id": ...}}``)."""
    data = b"\n".join(line[5:].strip() for line in event.splitlines() if line.startswith(b"data:"))
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    response = payload.get("response") if isinstance(payload, dict) else None
    return _plain_id(response.get("id")) if isinstance(response, dict) else None


def _plain_id(value: object) -> str | None:
    return value if isinstance(value, str) and _ID.fullmatch(value) else None
