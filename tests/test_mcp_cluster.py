"""The MCP door on two gateway processes sharing one PostgreSQL database: stateless
streamable HTTP, so any process takes any request, and the task is in the store.
A call waiting on one process is answered through the other; when its process
dies, the same call to the other process waits on the same task."""

from __future__ import annotations

import asyncio
import uuid

import mcp_types as types
import pytest
from harness import Gateway, free_port, wait_until
from mcp.shared.exceptions import MCPError
from mcp_client import connect, off_loop
from reviewer_client import Reviewer


@pytest.fixture
def pair(postgres_cluster, tmp_path):
    url = postgres_cluster.create_database()
    path = tmp_path / "cluster.toml"
    path.write_text(f'[store]\nurl = "{url}"\nsweep_s = 0.2\n[human]\nreattach_grace_s = 60\n')
    gateways = []
    try:
        for _ in range(2):
            gateways.append(Gateway(path, free_port(), cwd=tmp_path).start())
        yield gateways
    finally:
        for gateway in gateways:
            gateway.stop()


def text_of(result: types.CallToolResult) -> str:
    [block] = result.content
    assert isinstance(block, types.TextContent)
    return block.text


def pending(reviewer: Reviewer, preview: str) -> list[dict]:
    return [t for t in reviewer.tasks("pending") if t["preview"] == preview]


async def test_a_call_on_one_process_is_answered_through_the_other(pair):
    a, b = pair
    question = f"Across processes? {uuid.uuid4().hex[:8]}"
    reviewer = Reviewer(b.url)
    async with connect(a.url) as client:
        call = asyncio.create_task(client.call_tool("ask_human", {"question": question}))
        [task] = await off_loop(wait_until, lambda: pending(reviewer, question), 10, 0.02)
        assert (await off_loop(reviewer.answer, task["id"], content="from B")).status == 200
        result = await asyncio.wait_for(call, 10)
    assert text_of(result) == "from B"


async def test_the_same_call_to_another_process_waits_on_the_same_task(pair):
    a, b = pair
    question = f"After a crash? {uuid.uuid4().hex[:8]}"
    reviewer = Reviewer(b.url)

    async def doomed() -> None:
        async with connect(a.url) as client:
            await client.call_tool("ask_human", {"question": question})

    first = asyncio.create_task(doomed())
    [task] = await off_loop(wait_until, lambda: pending(reviewer, question), 10, 0.02)
    await off_loop(a.kill)  # as a crash: no goodbye to the store
    with pytest.raises((MCPError, ExceptionGroup)):  # the client's connection broke
        await asyncio.wait_for(first, 10)
    async with connect(b.url) as client:
        again = asyncio.create_task(client.call_tool("ask_human", {"question": question}))
        await off_loop(
            wait_until,
            lambda: reviewer.task(task["id"])["status"] == "pending" and not again.done(),
            5,
            0.05,
        )
        assert (await off_loop(reviewer.answer, task["id"], content="still here")).status == 200
        result = await asyncio.wait_for(again, 10)
    assert text_of(result) == "still here"
    assert [
        t["id"] for t in await off_loop(reviewer.tasks, "answered") if t["preview"] == question
    ] == [task["id"]]
