"""The store's export, sessions and purge queries, on SQLite and a real PostgreSQL server."""

from __future__ import annotations

import time

import orjson
import pytest
from reviewer_client import data_url, png
from test_store_contract import entry, new_task
from test_store_contract import stores as stores  # the two-backend fixture

from gateway.export.stream import ExportQuery, export_lines
from gateway.human.query import SessionFilter, TaskFilter
from gateway.human.store import Expected, StoredResponse
from gateway.human.task import ANSWERED, EXPIRED, REJECTED, Task
from gateway.store.export_sql import INLINE_BODY_BYTES


@pytest.fixture
def store(stores):
    return stores[0]


async def finished(store, status: str, finished_at: float, request: bytes = b"{}", **fields):
    task = new_task(**fields)
    task, _ = await store.create(task, request, entry(task.id, "created"))
    changes = {"status": status, "finished_at": finished_at, "clients": 0}
    if status in (ANSWERED, REJECTED):
        changes |= {"answered_at": finished_at, "answered_by": "rita"}
    written = await store.transition(task.id, Expected(), changes, entry(task.id, status))
    assert written is not None
    return written


async def test_export_pages_in_finish_order_with_filters(store):
    base = 1_000_000.0
    made: list[Task] = []
    for i in range(7):  # two share a finish time: the id breaks the tie
        draft = {"content": "x"} if i < 3 else None
        model, session = ("m1" if i % 2 else "m2"), f"s{i % 3}"
        body = f'{{"i": {i}}}'.encode()
        made.append(
            await finished(
                store, ANSWERED, base + i // 2, body, model=model, session=session, draft=draft
            )
        )
    await finished(store, EXPIRED, base + 10)
    expected = sorted(made, key=lambda t: (t.finished_at, t.id))
    seen, after = [], None
    while True:
        page = await store.export_page(TaskFilter(statuses=(ANSWERED,)), after, 3)
        seen += page
        if len(page) < 3:
            break
        after = (page[-1][0].finished_at, page[-1][0].id)
    assert [task.id for task, _ in seen] == [task.id for task in expected]
    assert {body for _, body in seen} == {f'{{"i": {i}}}'.encode() for i in range(7)}
    m1 = await store.export_page(TaskFilter(statuses=(ANSWERED,), model="m1"), None, 100)
    assert {task.model for task, _ in m1} == {"m1"} and len(m1) == 3
    drafted = await store.export_page(TaskFilter(drafted=True), None, 100)
    assert len(drafted) == 3
    ranged = TaskFilter(since=base + 1, until=base + 3, session="s0")
    assert all(
        base + 1 <= t.finished_at < base + 3 and t.session == "s0"
        for t, _ in await store.export_page(ranged, None, 100)
    )
    assert await store.export_page(TaskFilter(reviewer="nobody"), None, 100) == []
    assert len(await store.export_page(TaskFilter(), None, 100)) == 8  # every finished status


async def test_large_request_bodies_are_left_out_of_a_page(store):
    big = b'{"pad": "' + b"x" * (INLINE_BODY_BYTES + 1) + b'"}'
    task = await finished(store, ANSWERED, 5.0, big)
    [(found, body)] = await store.export_page(TaskFilter(), None, 10)
    assert found.id == task.id and body is None
    assert await store.request(task.id) == big


async def test_sessions_are_counted_and_paged(store):
    now = time.time()
    for i, session in enumerate(["b", "a", "b", "c"]):
        await finished(store, ANSWERED if i != 2 else REJECTED, now, session=session,
                       created_at=now + i, model=f"m{i % 2}")  # fmt: skip
    open_task = new_task(session="c", created_at=now + 9)
    await store.create(open_task, b"{}", entry(open_task.id, "created"))
    first = await store.sessions(SessionFilter(), None, 2)
    assert [s.session for s in first] == ["b", "a"]
    b = first[0]
    assert (b.tasks, b.answered, b.rejected, b.open, b.models) == (2, 1, 1, 0, ("m0",))
    rest = await store.sessions(SessionFilter(), (first[-1].started_at, first[-1].session), 2)
    assert [s.session for s in rest] == ["c"]
    assert (rest[0].tasks, rest[0].open, rest[0].models) == (2, 1, ("human", "m1"))
    newest = await store.sessions(SessionFilter(newest_first=True), None, 10)
    assert [s.session for s in newest] == ["c", "a", "b"]
    assert [s.session for s in await store.sessions(SessionFilter(model="m1"), None, 9)] == [
        "a",
        "c",
    ]


async def test_purge_removes_old_finished_tasks_with_everything_they_own(store):
    shot = data_url(png(shade=9)).encode()
    request = b'{"messages": [{"content": [{"image_url": {"url": "' + shot + b'"}}]}]}'
    old = await finished(store, ANSWERED, 100.0, request)
    await store.put_response(StoredResponse("resp_old", old.id, "o", "s", b"{}", []))
    kept = await finished(store, ANSWERED, time.time())
    waiting = new_task(created_at=1.0)  # open tasks are never purged, however old
    await store.create(waiting, b"{}", entry(waiting.id, "created"))
    purged = await store.purge(1000.0, 500)
    assert (purged.tasks, purged.requests, purged.responses, purged.images) == (1, 1, 1, 1)
    assert purged.audit == 2 and purged.bytes == len(request)
    assert await store.get(old.id) is None and await store.request(old.id) is None
    assert await store.get_response("resp_old") is None and await store.audit(old.id) == []
    assert await store.get(kept.id) is not None and await store.get(waiting.id) is not None
    assert (await store.purge(1000.0, 500)).tasks == 0


async def test_every_format_streams_from_either_backend(store):
    request = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}'
    result = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "yo"}}]}
    draft = {"content": "hello there", "tool_calls": [], "computer_actions": []}
    for session in ("one", "two"):
        task = await finished(store, ANSWERED, time.time(), request, session=session, draft=draft)
        await store.transition(
            task.id, Expected(statuses=(ANSWERED,)), {"result": result, "answer": {"content": "yo"}}
        )
    out = {}
    for format in ("sft", "dpo", "eval", "records", "trajectory"):
        chunks = [c async for c in export_lines(store, ExportQuery(format, TaskFilter()))]
        out[format] = [orjson.loads(line) for line in b"".join(chunks).splitlines()]
    assert [len(out[f]) for f in ("sft", "dpo", "eval", "records", "trajectory")] == [2] * 5
    assert out["sft"][0]["messages"][-1]["content"] == "yo"
    assert {row["verdict"] for row in out["eval"]} == {"replaced"}
    assert [len(line["steps"]) for line in out["trajectory"]] == [1, 1]
