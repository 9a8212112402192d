"""The MCP door through the ``mcp`` SDK's own client, against a real gateway process.

A call waits for a person; the reviewer answers through the reviewer API, as
the dashboard does; the tool result is what the SDK parsed (``CallToolResult``).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import urllib.request
import uuid

import anyio
import mcp_types as types
import pytest
from harness import Gateway, free_port, run_gateway, wait_until
from mcp_client import connect, off_loop
from reviewer_client import Reviewer

CONFIG = """
[human]
reattach_grace_s = 0.3

[mcp]
progress_s = 0.3
"""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    with run_gateway(tmp_path_factory.mktemp("mcp"), CONFIG) as gateway:
        yield gateway


def tagged(text: str) -> str:
    return f"{text} {uuid.uuid4().hex[:8]}"


async def pending(reviewer: Reviewer, preview: str) -> dict:
    return await off_loop(reviewer.wait_for_task, lambda task: task["preview"] == preview)


def only_text(result: types.CallToolResult) -> str:
    assert len(result.content) == 1
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


async def test_lists_both_tools_with_their_arguments(gateway):
    async with connect(gateway.url) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == {"ask_human", "request_permission"}
    ask = tools["ask_human"].input_schema
    assert ask["required"] == ["question"]
    assert set(ask["properties"]) == {
        "question",
        "context",
        "options",
        "schema",
        "images",
        "timeout_s",
    }
    permission = tools["request_permission"].input_schema
    assert set(permission["required"]) == {"tool_name", "input"}
    assert "tool_use_id" in permission["properties"]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_ask_human_text_answer(gateway, reviewer, mode):
    question = tagged("What is the release called?")
    async with connect(gateway.url, mode=mode) as client:
        assert client.protocol_version == ("2026-07-28" if mode == "auto" else "2025-11-25")
        call = asyncio.create_task(
            client.call_tool("ask_human", {"question": question, "context": "We ship **Friday**."})
        )
        task = await pending(reviewer, question)
        assert (task["kind"], task["model"]) == ("question", "mcp")
        seen = await off_loop(reviewer.task, task["id"])
        context, asked = seen["request"]["messages"]
        assert context == {"role": "system", "content": "We ship **Friday**."}
        assert [part["text"] for part in asked["content"]] == [question]
        assert seen["output_format"] is None
        reply = await off_loop(reviewer.answer, task["id"], content="Aurora")
        assert reply.status == 200, reply.body
        result = await call
    assert only_text(result) == "Aurora"
    assert result.is_error is False
    assert result.structured_content is None


async def test_ask_human_options_take_one_of_them(gateway, reviewer):
    question = tagged("Deploy now?")
    async with connect(gateway.url) as client:
        call = asyncio.create_task(
            client.call_tool("ask_human", {"question": question, "options": ["yes", "not yet"]})
        )
        task = await pending(reviewer, question)
        seen = await off_loop(reviewer.task, task["id"])
        assert seen["output_format"]["schema"]["properties"]["answer"]["enum"] == ["yes", "not yet"]
        wrong = await off_loop(reviewer.answer, task["id"], content={"answer": "maybe"})
        assert wrong.status == 422
        assert wrong.error["param"] == "content.answer"
        assert not call.done()
        reply = await off_loop(reviewer.answer, task["id"], content={"answer": "not yet"})
        assert reply.status == 200, reply.body
        result = await call
    assert only_text(result) == "not yet"
    assert result.is_error is False


async def test_ask_human_schema_answer_is_checked_and_structured(gateway, reviewer):
    question = tagged("Who reviews it?")
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "hours": {"type": "integer", "minimum": 1}},
        "required": ["name", "hours"],
    }
    async with connect(gateway.url) as client:
        call = asyncio.create_task(
            client.call_tool("ask_human", {"question": question, "schema": schema})
        )
        task = await pending(reviewer, question)
        wrong = await off_loop(reviewer.answer, task["id"], content={"name": "Ada", "hours": 0})
        assert wrong.status == 422
        assert wrong.error["param"] == "content.hours"
        missing = await off_loop(reviewer.answer, task["id"], content={"name": "Ada"})
        assert missing.status == 422 and "hours" in missing.error["message"]
        reply = await off_loop(reviewer.answer, task["id"], content={"name": "Ada", "hours": 3})
        assert reply.status == 200, reply.body
        result = await call
    assert json.loads(only_text(result)) == {"name": "Ada", "hours": 3}
    assert result.structured_content == {"name": "Ada", "hours": 3}
    assert result.is_error is False


async def test_ask_human_images_reach_the_task(gateway, reviewer):
    question = tagged("Which screen is broken?")
    pixel = (
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8Bg"
        "AAMBAQAYYc1aAAAAAElFTkSuQmCC"
    )
    async with connect(gateway.url) as client:
        call = asyncio.create_task(
            client.call_tool("ask_human", {"question": question, "images": [pixel]})
        )
        task = await pending(reviewer, question)
        seen = await off_loop(reviewer.task, task["id"])
        assert seen["images"] == 1
        await off_loop(reviewer.answer, task["id"], content="the first")
        assert only_text(await call) == "the first"


async def test_ask_human_rejected_is_an_error_with_the_reason(gateway, reviewer):
    question = tagged("Delete the old branch?")
    async with connect(gateway.url) as client:
        call = asyncio.create_task(client.call_tool("ask_human", {"question": question}))
        task = await pending(reviewer, question)
        await off_loop(reviewer.reject, task["id"], "ask the release manager")
        result = await call
    assert result.is_error is True
    assert "ask the release manager" in only_text(result)


async def test_ask_human_timeout_is_an_error_saying_so(gateway, reviewer):
    question = tagged("Anyone there?")
    async with connect(gateway.url) as client:
        result = await client.call_tool("ask_human", {"question": question, "timeout_s": 0.5})
    assert result.is_error is True
    assert "No person answered within 0.5 s" in only_text(result)
    [task] = [t for t in await off_loop(reviewer.tasks, "expired") if t["preview"] == question]
    assert task["kind"] == "question"


async def test_bad_arguments_are_a_tool_error_naming_the_field(gateway):
    async with connect(gateway.url) as client:
        result = await client.call_tool(
            "ask_human", {"question": "x", "schema": {"type": "string"}}
        )
        both = await client.call_tool(
            "ask_human", {"question": "x", "options": ["a"], "schema": {"type": "object"}}
        )
        permission = await client.call_tool("request_permission", {"tool_name": "Bash"})
    assert result.is_error and only_text(result).startswith("Invalid arguments: schema:")
    assert both.is_error and "options, schema" in only_text(both)
    assert permission.is_error and "input" in only_text(permission)


async def test_progress_while_the_person_thinks(gateway, reviewer):
    question = tagged("Still there?")
    heard: list[tuple[float, float | None, str | None]] = []

    async def progress(value: float, total: float | None, message: str | None) -> None:
        heard.append((value, total, message))

    async with connect(gateway.url) as client:
        call = asyncio.create_task(
            client.call_tool("ask_human", {"question": question}, progress_callback=progress)
        )
        task = await pending(reviewer, question)
        for _ in range(100):  # bounded: progress comes every 0.3 s
            if len(heard) >= 2:
                break
            await asyncio.sleep(0.05)
        await off_loop(reviewer.answer, task["id"], content="yes")
        await call
    assert len(heard) >= 2
    assert heard[1][0] > heard[0][0]  # progress only grows
    assert "waiting for a person" in (heard[0][2] or "")


def permission_args(command: str) -> dict:
    return {
        "tool_name": "Bash",
        "input": {"command": command, "description": "list files"},
        "tool_use_id": "toolu_" + uuid.uuid4().hex[:12],
    }


async def permission_call(gateway, reviewer, answer: dict | None = None, reject: str | None = None):
    command = tagged("ls -la")
    async with connect(gateway.url) as client:
        call = asyncio.create_task(client.call_tool("request_permission", permission_args(command)))
        task = await pending(reviewer, f"Bash: {command}")
        assert task["kind"] == "permission"
        if reject is not None:
            await off_loop(reviewer.reject, task["id"], reject)
        else:
            reply = await off_loop(reviewer.answer, task["id"], content=answer)
            assert reply.status == 200, reply.body
        result = await call
    assert result.is_error is False
    assert result.structured_content is None
    return command, json.loads(only_text(result))


async def test_permission_allow_runs_the_input_as_sent(gateway, reviewer):
    command, decided = await permission_call(gateway, reviewer, {"behavior": "allow"})
    assert decided == {
        "behavior": "allow",
        "updatedInput": {"command": command, "description": "list files"},
    }


async def test_permission_allow_with_an_edited_input(gateway, reviewer):
    edited = {"command": "ls", "description": "list files"}
    _, decided = await permission_call(
        gateway, reviewer, {"behavior": "allow", "updatedInput": edited}
    )
    assert decided == {"behavior": "allow", "updatedInput": edited}


async def test_permission_deny_with_a_message(gateway, reviewer):
    _, decided = await permission_call(
        gateway, reviewer, {"behavior": "deny", "message": "not on prod"}
    )
    assert decided == {"behavior": "deny", "message": "not on prod"}


async def test_permission_rejected_is_a_deny_with_the_reason(gateway, reviewer):
    _, decided = await permission_call(gateway, reviewer, reject="use the staging box")
    assert decided == {"behavior": "deny", "message": "use the staging box"}


async def test_permission_answer_must_be_a_decision(gateway, reviewer):
    command = tagged("rm -rf build")
    async with connect(gateway.url) as client:
        call = asyncio.create_task(client.call_tool("request_permission", permission_args(command)))
        task = await pending(reviewer, f"Bash: {command}")
        for wrong, param in (
            ({"behavior": "maybe"}, "content.behavior"),
            ({"behavior": "deny", "updatedInput": {}}, "content"),
            ({"behavior": "allow", "updatedInput": "ls"}, "content.updatedInput"),
        ):
            reply = await off_loop(reviewer.answer, task["id"], content=wrong)
            assert (reply.status, reply.error["param"]) == (422, param), reply.body
        await off_loop(reviewer.answer, task["id"], content={"behavior": "deny"})
        decided = json.loads(only_text(await call))
    assert decided == {"behavior": "deny", "message": "A person denied this tool call."}


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_cancelled_call_cancels_its_task(gateway, reviewer, mode):
    """auto: the SDK closes the call's stream; legacy: it sends notifications/cancelled."""
    question = tagged("Never mind?")
    async with connect(gateway.url, mode=mode) as client:
        with anyio.move_on_after(30) as scope:
            call = asyncio.create_task(client.call_tool("ask_human", {"question": question}))
            task = await pending(reviewer, question)
            call.cancel()  # the SDK sends notifications/cancelled / closes the stream
            with pytest.raises(asyncio.CancelledError):
                await call
        assert not scope.cancelled_caught
    cancelled = await off_loop(reviewer.wait_for_status, task["id"], "cancelled")
    assert cancelled["kind"] == "question"


async def test_origin_from_another_site_is_refused_in_json_rpc(gateway):
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    request = urllib.request.Request(
        gateway.url + "/mcp",
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            "origin": "http://attacker.example",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    error = json.loads(refused.value.read())
    assert error["jsonrpc"] == "2.0" and error["error"]["data"]["code"] == "cross_origin"


KEYED = """
[server]
max_body_mb = 0.01

[auth]
client_keys = ["key-one", "key-two"]
"""


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    with run_gateway(tmp_path_factory.mktemp("mcp-keys"), KEYED) as gateway:
        yield gateway


def raw_post(url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], dict]:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    request = urllib.request.Request(
        url + "/mcp",
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            **headers,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, dict(reply.headers), {}
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def test_client_key_required_when_keys_are_set(keyed):
    for headers in ({}, {"authorization": "Bearer wrong"}):
        status, headers_back, body = raw_post(keyed.url, headers)
        assert status == 401
        assert headers_back.get("www-authenticate") == "Bearer"
        assert body["error"]["data"]["code"] == "invalid_api_key"
    status, _, _ = raw_post(keyed.url, {"authorization": "Bearer key-one"})
    assert status == 200


async def test_tasks_carry_the_clients_identity(keyed):
    """The same question from two keys is two tasks; a retry with the same key re-attaches."""
    reviewer = Reviewer(keyed.url)
    question = tagged("Same words?")
    async with connect(keyed.url, "key-one") as one, connect(keyed.url, "key-two") as two:
        first = asyncio.create_task(one.call_tool("ask_human", {"question": question}))
        second = asyncio.create_task(two.call_tool("ask_human", {"question": question}))
        again = asyncio.create_task(one.call_tool("ask_human", {"question": question}))
        await pending(reviewer, question)

        def two_tasks() -> list[dict]:
            found = [t for t in reviewer.tasks("pending") if t["preview"] == question]
            return found if len(found) == 2 else []

        tasks = await off_loop(wait_until, two_tasks, 10, 0.02, "a task per client")
        for task, answer in zip(tasks, ("A", "B"), strict=True):
            await off_loop(reviewer.answer, task["id"], content=answer)
        # Had the retry made a task of its own, nobody would answer it: bounded wait.
        results = [only_text(await asyncio.wait_for(c, 10)) for c in (first, second, again)]
    assert sorted(results[:2]) == ["A", "B"]
    assert results[2] == results[0]  # the same key's identical call shares the answer


def get_text(url: str, headers: dict[str, str] | None = None) -> str:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as reply:
        return reply.read().decode()


def created(metrics: str, kind: str) -> float:
    line = f'gateway_tasks_created_total{{kind="{kind}",model="mcp"}} '
    found = [row for row in metrics.splitlines() if row.startswith(line)]
    return float(found[0].split()[-1]) if found else 0.0


async def test_stats_metrics_and_exports_know_the_kinds(gateway, reviewer):
    before = await off_loop(get_text, gateway.url + "/metrics")
    stats_before = (await off_loop(reviewer.ok, "GET", "/api/stats"))["kinds"]["hour"]
    question = tagged("Ship it?")
    command, allowed = await permission_call(gateway, reviewer, {"behavior": "allow"})
    _, denied = await permission_call(gateway, reviewer, {"behavior": "deny", "message": "no"})
    edited_input = {"command": "ls", "description": "list files"}
    _, edited = await permission_call(
        gateway, reviewer, {"behavior": "allow", "updatedInput": edited_input}
    )
    async with connect(gateway.url) as client:
        call = asyncio.create_task(client.call_tool("ask_human", {"question": question}))
        task = await pending(reviewer, question)
        await off_loop(reviewer.answer, task["id"], content="yes")
        await call

    after = await off_loop(get_text, gateway.url + "/metrics")
    assert created(after, "permission") == created(before, "permission") + 3
    assert created(after, "question") == created(before, "question") + 1
    stats = (await off_loop(reviewer.ok, "GET", "/api/stats"))["kinds"]["hour"]
    answered = stats["permission"]["answered"] - stats_before.get("permission", {}).get(
        "answered", 0
    )
    assert answered == 3
    assert stats["question"]["answered"] >= 1

    records = [
        json.loads(line)
        for line in (await off_loop(get_text, gateway.url + "/api/export?format=records&model=mcp"))
        .strip()
        .splitlines()
    ]
    mine = [r for r in records if r["preview"] == question]
    assert mine[0]["kind"] == "question"
    assert mine[0]["request"]["mcp"]["question"] == question
    stored = types.CallToolResult.model_validate(mine[0]["result"])  # the shaper's body
    assert (only_text(stored), stored.is_error) == ("yes", False)

    rows = [
        json.loads(line)
        for line in (await off_loop(get_text, gateway.url + "/api/export?format=eval&model=mcp"))
        .strip()
        .splitlines()
    ]
    by_command = {
        json.loads(row["model_answer"]["tool_calls"][0]["function"]["arguments"])["command"]: row
        for row in rows
    }
    row = by_command[command]
    assert row["model_answer"]["tool_calls"][0]["function"]["name"] == "Bash"
    assert (row["verdict"], row["allowed"], row["correct"]) == ("approved", True, True)
    # Text content is a string in every export (issue 16, item 7).
    assert json.loads(row["human_answer"]["content"]) == allowed  # what the agent got
    verdicts = {(r["verdict"], r["allowed"]) for r in rows}
    assert {("rejected", False), ("edited", True)} <= verdicts
    assert all(r["verdict"] for r in rows)
    assert allowed["behavior"] == "allow" and denied["behavior"] == "deny"
    assert edited["updatedInput"] == edited_input


def test_get_opens_no_stream(gateway):
    request = urllib.request.Request(
        gateway.url + "/mcp", headers={"accept": "text/event-stream"}, method="GET"
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 405
    assert refused.value.headers["allow"] == "POST, DELETE"
    error = json.loads(refused.value.read())
    assert error["error"]["data"]["code"] == "method_not_allowed"


async def test_a_restart_keeps_the_task_and_the_same_call_gets_the_answer(tmp_path):
    """The gateway stops while a call waits: the call ends with an error saying to call
    again; the task stays; the same call to the restarted gateway waits on it."""
    config = tmp_path / "gateway.toml"
    config.write_text(f'[store]\npath = "{tmp_path / "gateway.db"}"\n')
    gateway = Gateway(config, free_port())
    gateway.start()
    question = tagged("Still on after the restart?")
    reviewer = Reviewer(gateway.url)
    try:
        async with connect(gateway.url) as client:
            call = asyncio.create_task(client.call_tool("ask_human", {"question": question}))
            task = await pending(reviewer, question)
            await off_loop(gateway.stop)
            result = await asyncio.wait_for(call, 10)
        assert result.is_error is True
        assert "restarting" in only_text(result)
        gateway.start()
        async with connect(gateway.url) as client:
            again = asyncio.create_task(client.call_tool("ask_human", {"question": question}))
            [same] = await off_loop(
                wait_until,
                lambda: [t for t in reviewer.tasks("pending") if t["preview"] == question],
                10,
                0.02,
                "the task after the restart",
            )
            assert same["id"] == task["id"]
            await off_loop(reviewer.answer, task["id"], content="yes")
            assert only_text(await asyncio.wait_for(again, 10)) == "yes"
    finally:
        gateway.stop()


def test_a_body_over_max_body_mb_is_413_in_json_rpc(keyed):
    question = "x" * 20_000  # over the 10 KB this gateway takes
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "ask_human", "arguments": {"question": question}},
    }
    request = urllib.request.Request(
        keyed.url + "/mcp",
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            "authorization": "Bearer key-one",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 413
    assert json.loads(refused.value.read())["error"]["data"]["code"] == "request_too_large"
    assert [t for t in Reviewer(keyed.url).tasks() if t["preview"].startswith("xxx")] == []


LEGACY_HEADERS = {
    "content-type": "application/json",
    "accept": "application/json, text/event-stream",
    "mcp-protocol-version": "2025-06-18",
}


def open_call(gateway, request_id: int, question: str) -> http.client.HTTPResponse:
    """A tools/call whose response stream stays open (read its headers only)."""
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=20)
    body = {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": "ask_human", "arguments": {"question": question}},
    }
    connection.request("POST", "/mcp", json.dumps(body), LEGACY_HEADERS)
    reply = connection.getresponse()
    assert reply.status == 200
    return reply


def cancel(gateway, request_id: int) -> int:
    body = {
        "jsonrpc": "2.0",
        "method": "notifications/cancelled",
        "params": {"requestId": request_id},
    }
    request = urllib.request.Request(
        gateway.url + "/mcp", json.dumps(body).encode(), LEGACY_HEADERS, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        return reply.status


def test_notifications_cancelled_reaches_the_waiting_call(gateway, reviewer):
    """The 2025 protocol's cancel comes as its own POST, which stateless mode handles
    alone: the door hands it to the call it names, whose stream is still open."""
    question = tagged("Cancelled by notification?")
    reply = open_call(gateway, 4242, question)
    task = reviewer.wait_for_task(lambda t: t["preview"] == question)
    assert cancel(gateway, 4242) == 202
    reviewer.wait_for_status(task["id"], "cancelled")
    events = reply.read().decode()  # the stream ends: the call is over
    assert "The call was cancelled." in events


def test_a_cancel_that_could_name_two_calls_is_ignored(gateway, reviewer):
    """Two clients without a key on one address whose request ids collide: the cancel
    could be either's, so neither is cancelled (each ends when its stream closes)."""
    question = tagged("Whose cancel?")
    first, second = open_call(gateway, 77, question), open_call(gateway, 77, question + "!")
    one = reviewer.wait_for_task(lambda t: t["preview"] == question)
    two = reviewer.wait_for_task(lambda t: t["preview"] == question + "!")
    assert cancel(gateway, 77) == 202
    answered = reviewer.answer(one["id"], content="still asked")
    assert answered.status == 200, answered.body  # had the cancel landed: a 409
    assert reviewer.task(two["id"])["status"] == "pending"
    assert "still asked" in first.read().decode()
    second.close()
    reviewer.wait_for_status(two["id"], "cancelled")
