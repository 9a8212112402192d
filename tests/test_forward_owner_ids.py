"""Reading a forwarded Responses reply for its id, chunk by chunk (in-process, real SQLite).

The relay holds the reply back until the reader says it has seen enough; these
are the shapes an upstream may send: a stream whose first event arrives in
pieces, CRLF line ends, a comment before the first event, a JSON body whose id
is not its first key, and replies that carry no id at all.
"""

from __future__ import annotations

import time

import orjson
import pytest

from gateway.forward.owners import MAX_SSE_HEAD, ForwardedResponses
from gateway.store.sqlite import SQLiteStore

CLIENT = b"\x01" * 32


@pytest.fixture
async def owners(tmp_path):
    store = SQLiteStore(tmp_path / "store.db")
    await store.open()
    yield ForwardedResponses(store, enabled=True, keep_days=30)
    await store.close()


async def feed(owners: ForwardedResponses, streaming: bool, chunks: list[bytes]) -> int:
    """Feed ``chunks`` as the relay would; how many were read before the reader had enough."""
    reader = owners.watcher(CLIENT, streaming)
    assert reader is not None
    head = bytearray()
    for index, chunk in enumerate(chunks):
        head += chunk
        if await reader(head, index == len(chunks) - 1):
            return index + 1
    raise AssertionError("the reader never had enough")


async def owner_of(owners: ForwardedResponses, response_id: str) -> str | None:
    return await owners.store.forwarded_owner(response_id, time.time())


def event(kind: str, data: dict, end: bytes = b"\n") -> bytes:
    return b"event: " + kind.encode() + end + b"data: " + orjson.dumps(data) + end + end


async def test_a_stream_is_held_only_until_its_first_event_is_whole(owners) -> None:
    first = event("response.created", {"type": "response.created", "response": {"id": "resp_s1"}})
    rest = event("response.completed", {"type": "response.completed"})
    chunks = [first[:10], first[10:30], first[30:], rest]
    assert await feed(owners, True, chunks) == 3  # the second event is not waited for
    assert await owner_of(owners, "resp_s1") == CLIENT.hex()


async def test_crlf_and_a_comment_before_the_first_event(owners) -> None:
    data = {"type": "response.created", "response": {"id": "resp_s2"}}
    chunks = [b": keep-alive\r\n\r\n", event("response.created", data, b"\r\n")]
    assert await feed(owners, True, chunks) == 2
    assert await owner_of(owners, "resp_s2") == CLIENT.hex()


async def test_a_json_body_is_read_whole_wherever_its_id_is(owners) -> None:
    body = orjson.dumps({"output": [{"id": "msg_1"}], "object": "response", "id": "resp_j1"})
    assert await feed(owners, False, [body[:7], body[7:]]) == 2
    assert await owner_of(owners, "resp_j1") == CLIENT.hex()
    assert await owner_of(owners, "msg_1") is None


@pytest.mark.parametrize(
    ("streaming", "chunks"),
    [
        (False, [b"not json"]),
        (False, [b'{"id": "../../etc"}']),  # never an id that is not plain
        (True, [b"data: [DONE]\n\n"]),
        # Gives up on a first event that never ends, before the reply does.
        (True, [b"data: " + b"x" * (MAX_SSE_HEAD + 1), b"more"]),
    ],
)
async def test_replies_without_a_plain_id_record_nothing(owners, streaming, chunks) -> None:
    assert await feed(owners, streaming, chunks) == 1
    assert await owners.store.forwarded_owner("../../etc", time.time()) is None


async def test_without_client_keys_nothing_is_read_or_recorded(tmp_path) -> None:
    store = SQLiteStore(tmp_path / "store.db")
    await store.open()
    try:
        owners = ForwardedResponses(store, enabled=False, keep_days=30)
        assert owners.watcher(CLIENT, True) is None
        assert await owners.may_use("resp_anything", b"")
    finally:
        await store.close()
