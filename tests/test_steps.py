"""Which task a request continues (gateway/human/steps.py): pure functions in-process,
then the whole loop with the openai SDK as the agent against a real gateway."""

from __future__ import annotations

import asyncio
import io
import time
import uuid

import orjson
import pytest
from harness import openai_client, run_gateway
from PIL import Image
from reviewer_client import WEATHER_TOOL, background, data_url, png

from gateway.app import SHAPERS
from gateway.human.steps import Steps, session_name
from gateway.human.store import AuditEntry, Change
from gateway.human.task import Task
from gateway.store.sqlite import SQLiteStore

OWNER = "ab" * 8


def answered(steps: Steps, task_id: str, api: str, request: dict, result: dict, **fields) -> Task:
    task = Task(
        task_id,
        "answered",
        api,
        "human",
        "human_route",
        fields.pop("session", "s"),
        0.0,
        1.0,
        "d",
        fields.pop("owner", OWNER),
        result=result,
        **fields,
    )
    steps.answered(task, request)
    return task


def chat_result(message: dict) -> dict:
    return {"id": "chatcmpl-1", "choices": [{"index": 0, "message": message}]}


def test_chat_text_answers_link_by_content_and_identical_runs_stay_apart() -> None:
    steps = Steps(SHAPERS)
    first = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    reply = {"role": "assistant", "content": "Hello!"}
    # Two independent runs that begin alike and got the same answer.
    answered(steps, "task_a", "chat.completions", {"messages": first}, chat_result(reply))
    answered(steps, "task_b", "chat.completions", {"messages": first}, chat_result(reply))
    # The next turn resends the answer with other whitespace and content parts.
    resent = {"role": "assistant", "content": [{"type": "text", "text": "  Hello!\n"}]}
    nxt = {"messages": [*first, resent, {"role": "user", "content": "More"}]}
    one = steps.follow(OWNER, "chat.completions", nxt)
    two = steps.follow(OWNER, "chat.completions", nxt)
    assert {one.task_id, two.task_id} == {"task_a", "task_b"}  # one each, never merged
    assert one.step == 1
    # Another client, or the other API, never links; a different answer never links.
    assert steps.follow("cd" * 8, "chat.completions", nxt) is None
    assert steps.follow(OWNER, "responses", {"input": nxt["messages"]}) is None
    changed = {"messages": [*first, {"role": "assistant", "content": "Bye"}]}
    assert steps.follow(OWNER, "chat.completions", changed) is None
    # Only the same first message, no answer in between: a new run.
    assert steps.follow(OWNER, "chat.completions", {"messages": first}) is None


def test_minted_ids_link_tool_outputs_computer_outputs_and_previous_response_ids() -> None:
    steps = Steps(SHAPERS)
    call = {"id": "call_x1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    answered(
        steps,
        "task_c",
        "chat.completions",
        {"messages": [{"role": "user", "content": "go"}]},
        chat_result({"role": "assistant", "content": None, "tool_calls": [call]}),
        step=3,
        session="run-9",
    )
    # The agent rewrote the history but kept the tool output's id.
    nxt = {
        "messages": [
            {"role": "user", "content": "GO"},
            {"role": "tool", "tool_call_id": "call_x1", "content": "ok"},
        ]
    }
    found = steps.follow(OWNER, "chat.completions", nxt)
    assert (found.task_id, found.step, found.session) == ("task_c", 3, "run-9")

    output = [
        {"type": "computer_call", "id": "cu_7", "call_id": "call_7", "action": {"type": "click"}}
    ]
    result = {"id": "resp_7", "output": output}
    answered(steps, "task_r", "responses", {"input": "open it"}, result)
    shot = {"type": "computer_call_output", "call_id": "call_7", "output": {}}
    assert steps.follow(OWNER, "responses", {"input": [shot]}).task_id == "task_r"
    assert steps.follow(OWNER, "responses", {"input": "next"}, "resp_7").task_id == "task_r"
    assert steps.follow(OWNER, "responses", {"input": "next"}, "resp_other") is None


def test_session_names_are_readable_and_unique() -> None:
    data = {
        "messages": [
            {"role": "system", "content": "x"},
            {"role": "user", "content": "Book a   table for two at eight tonight please"},
        ]
    }
    names = {session_name("chat.completions", data) for _ in range(20)}
    assert len(names) > 1
    assert all(name.startswith("Book a table for two at eight tonight pl…") for name in names)
    assert session_name("responses", {"input": []}).startswith("run #")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    with run_gateway(tmp_path_factory.mktemp("steps"), "") as gateway:
        yield gateway


def test_an_agent_loop_is_one_session_of_numbered_steps(gateway, reviewer) -> None:
    """Chat tool calls, a text answer, a Responses computer loop with ids and a chain."""
    client = openai_client(gateway, "sk-steps")
    question = f"Weather in Paris? {uuid.uuid4()}"
    messages = [{"role": "user", "content": question}]
    chat = client.chat.completions.create
    reply = background(chat, model="human", messages=messages, tools=[WEATHER_TOOL])
    first = reviewer.wait_for_task(lambda t: t["preview"] == question)
    assert (first["step"], first["follows"], first["kind"]) == (1, None, "tools")
    assert first["session"].startswith("Weather in Paris?")
    call = {"name": "get_weather", "arguments": {"city": "Paris"}}
    assert reviewer.answer(first["id"], tool_calls=[call]).status == 200
    message = reply.result(timeout=10).choices[0].message
    messages += [
        message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "18C"},
    ]
    reply = background(chat, model="human", messages=messages, tools=[WEATHER_TOOL])
    second = reviewer.wait_for_task(lambda t: t["follows"] == first["id"])
    assert (second["step"], second["session"]) == (2, first["session"])
    assert reviewer.answer(second["id"], content="It is 18C.").status == 200
    messages += [
        {"role": "assistant", "content": "It is 18C."},
        {"role": "user", "content": "Thanks"},
    ]
    reply.result(timeout=10)
    reply = background(chat, model="human", messages=messages)
    third = reviewer.wait_for_task(lambda t: t["follows"] == second["id"])
    assert (third["step"], third["kind"]) == (3, "text")
    assert reviewer.answer(third["id"], content="You're welcome.").status == 200
    reply.result(timeout=10)

    # The same first message again, from scratch: a new run, a new session.
    reply = background(chat, model="human", messages=messages[:1], tools=[WEATHER_TOOL])
    again = reviewer.wait_for_task(lambda t: t["preview"] == question and t["id"] != first["id"])
    assert (again["step"], again["follows"]) == (1, None)
    assert again["session"] != first["session"]
    assert reviewer.reject(again["id"], "test over").status == 200

    # Responses computer use: the screenshot output names the gateway's call id,
    # then previous_response_id chains.
    tool = {
        "type": "computer_use_preview",
        "display_width": 64,
        "display_height": 48,
        "environment": "browser",
    }
    goal = f"Sign in {uuid.uuid4()}"
    reply = background(client.responses.create, model="human", tools=[tool], input=goal)
    one = reviewer.wait_for_task(lambda t: t["preview"] == goal)
    assert one["kind"] == "screen"
    click = {"type": "click", "button": "left", "x": 3, "y": 4}
    assert reviewer.answer(one["id"], computer_actions=[click]).status == 200
    response = reply.result(timeout=10)
    items = [item.model_dump(exclude_none=True) for item in response.output]
    shot = {
        "type": "computer_call_output",
        "call_id": response.output[0].call_id,
        "output": {"type": "computer_screenshot", "image_url": data_url(png())},
    }
    replay = [{"role": "user", "content": goal}, *items, shot]
    reply = background(client.responses.create, model="human", tools=[tool], input=replay)
    two = reviewer.wait_for_task(lambda t: t["follows"] == one["id"])
    assert (two["step"], two["session"]) == (2, one["session"])
    assert reviewer.answer(two["id"], content="Signed in.").status == 200
    response = reply.result(timeout=10)
    reply = background(
        client.responses.create, model="human", input="And now?", previous_response_id=response.id
    )
    three = reviewer.wait_for_task(lambda t: t["follows"] == two["id"])
    assert (three["step"], three["session"]) == (3, one["session"])
    assert reviewer.answer(three["id"], content="Done.").status == 200
    reply.result(timeout=10)


def test_thumbnails_and_image_sizes_for_the_timeline(gateway, reviewer) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 400), (200, 30, 30)).save(buffer, "PNG")
    big = data_url(buffer.getvalue())
    goal = f"Look {uuid.uuid4()}"
    content = [
        {"type": "input_text", "text": goal},
        {"type": "input_image", "image_url": data_url(png())},
        {"type": "input_image", "image_url": big},
    ]
    client = openai_client(gateway, "sk-thumbs")
    reply = background(
        client.responses.create, model="human", input=[{"role": "user", "content": content}]
    )
    task = reviewer.wait_for_task(lambda t: t["preview"] == goal)
    full = reviewer.task(task["id"])
    assert full["images"] == 2 and full["image_sizes"] == [[4, 3], [640, 400]]
    thumb = reviewer.call("GET", f"/api/tasks/{task['id']}/images/latest?w=160")
    assert thumb.status == 200 and thumb.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(thumb.body)) as image:
        assert image.size == (160, 100)
    original = reviewer.call("GET", f"/api/tasks/{task['id']}/images/1")
    assert original.headers["content-type"] == "image/png"
    assert reviewer.call("GET", f"/api/tasks/{task['id']}/images/5?w=160").status == 404
    assert reviewer.answer(task["id"], content="seen").status == 200
    reply.result(timeout=10)


async def test_answers_recorded_by_another_process_are_indexed(tmp_path) -> None:
    """A shared store tells of answers made elsewhere by id only: the row is read."""
    store = SQLiteStore(tmp_path / "steps.db")
    await store.open()
    try:
        steps = Steps(SHAPERS)
        await steps.rebuild(store)
        request = {"messages": [{"role": "user", "content": "Ping?"}]}
        task = Task("task_other", "answered", "chat.completions", "human", "human_route",
                    "run #1", 0.0, 1.0, "d", OWNER, step=2, answered_at=time.time(),
                    result=chat_result({"role": "assistant", "content": "Pong."}))  # fmt: skip
        entry = AuditEntry(task.id, time.time(), "created", None)
        await store.create(task, orjson.dumps(request), entry)
        nxt = {"messages": [*request["messages"], {"role": "assistant", "content": "Pong."}]}
        assert steps.follow(OWNER, "chat.completions", nxt) is None
        steps._heard(Change(task.id, "task.answered"))  # as PostgreSQL's notifier would
        await asyncio.wait_for(asyncio.gather(*steps._jobs), 5)
        found = steps.follow(OWNER, "chat.completions", nxt)
        assert (found.task_id, found.step, found.session) == ("task_other", 2, "run #1")
    finally:
        await store.close()
