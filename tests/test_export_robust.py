"""Malformed stored rows never end an export: each is skipped (or shown with its error).

A real SQLite store is filled with answered tasks whose stored requests, answers
and drafts are broken in the ways a client or an old version could leave them;
every format must still stream every good line, and every line it writes must pass
the fine-tuning checks.
"""

from __future__ import annotations

import time
import uuid

import orjson
import pytest

from gateway.export.stream import ExportQuery, ExportStats, export_lines
from gateway.export.validate_sft import dpo_problems, sft_problems
from gateway.human.store import AuditEntry, Expected
from gateway.human.task import ANSWERED, PENDING, Task
from gateway.store.sqlite import SQLiteStore

GOOD_REQUEST = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
GOOD_RESULT = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "yo"}}]}
DRAFT = {"content": "draft text", "tool_calls": [], "computer_actions": [], "confidence": 0.3}

BAD_REQUESTS = [
    b"not json at all",
    b'{"messages": null}',
    b'{"messages": "hello"}',
    b'{"messages": [42]}',
    b'{"messages": [{"role": "wizard", "content": "x"}]}',
    b'{"messages": [{"role": "tool", "content": "orphan output"}]}',
    b'{"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f"}}]}]}',
    b'{"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": "x"}]}]}',
    b'{"messages": [{"role": "user", "content": {"nested": ["odd"]}}]}',
    b'{"input": 7}',
    b'{"input": [{"type": "function_call_output", "output": "no call id"}]}',
    b"[]",
    b"null",
]
BAD_RESULTS = [None, {}, {"choices": []}, {"choices": [None]}, {"choices": [{"message": 5}]}]


async def add(store: SQLiteStore, request: bytes, result, api="chat.completions", **fields):
    now = time.time()
    task = Task(
        id="task_" + uuid.uuid4().hex[:12], status=PENDING, api=api, model="m+human",
        reason="low_confidence", session=fields.pop("session", "s"), created_at=now,
        expires_at=now + 60, dedup=uuid.uuid4().hex, owner="o", **fields,
    )  # fmt: skip
    task, _ = await store.create(task, request, AuditEntry(task.id, now, "created", None))
    changes = {
        "status": ANSWERED, "answered_at": now, "finished_at": now, "answered_by": "rita",
        "answer": {"content": "something else entirely"}, "result": result,
    }  # fmt: skip
    await store.transition(task.id, Expected(), changes)


@pytest.fixture
async def store(tmp_path):
    store = SQLiteStore(tmp_path / "store.db")
    await store.open()
    good = orjson.dumps(GOOD_REQUEST)
    for index, request in enumerate(BAD_REQUESTS):
        await add(store, request, GOOD_RESULT, draft=DRAFT, confidence=0.3, session=f"bad{index}")
        await add(store, good, GOOD_RESULT, draft=DRAFT, confidence=0.3, session=f"bad{index}")
    for result in BAD_RESULTS:
        await add(store, good, result, draft=DRAFT, confidence=0.3)
    await add(store, b'{"input": [{"type": "computer_call"}]}', {"output": []}, api="responses")
    await add(store, good, GOOD_RESULT, draft={"tool_calls": "oops"}, confidence=0.3)
    yield store
    await store.close()


async def lines(store, format: str) -> tuple[list[dict], ExportStats]:
    stats = ExportStats()
    chunks = [chunk async for chunk in export_lines(store, ExportQuery(format), None, stats)]
    return [orjson.loads(line) for line in b"".join(chunks).splitlines()], stats


async def test_every_format_streams_every_good_line(store):
    good = len(BAD_REQUESTS)
    sft, stats = await lines(store, "sft")
    assert len(sft) == good + 1  # the task with the broken draft still has a good answer
    assert all(sft_problems(line) == [] for line in sft)
    assert sum(stats.skipped.values()) >= len(BAD_REQUESTS) + len(BAD_RESULTS) - 1
    dpo, _ = await lines(store, "dpo")
    assert len(dpo) == good and all(dpo_problems(line) == [] for line in dpo)
    rows, _ = await lines(store, "eval")
    assert len(rows) == good + 1  # evaluation rows are not fine-tuning lines: a bad image URL stays
    records, _ = await lines(store, "records")
    assert len(records) == 2 * good + len(BAD_RESULTS) + 2  # records keep everything
    trajectories, _ = await lines(store, "trajectory")
    steps = [step for line in trajectories for step in line["steps"]]
    assert len(steps) == len(records)
    assert sum(step["error"] is None for step in steps) >= good
