"""The reviewer API: listing, the full task, lazy images, and every check on an answer.

A reviewer's answer is checked against the tools the agent declared before any
client sees it: each 422 names the field at fault and leaves the task open.
"""

from __future__ import annotations

import base64
import json
import urllib.request
import uuid
from typing import Any

import openai
import pytest
from harness import openai_client, run_gateway
from reviewer_client import EventLog, Reviewer, background, data_url, png

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["c", "f"]},
            },
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
CLOCK = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}},
    },
}
CHAT_COMPUTER = {
    "type": "function",
    "function": {
        "name": "computer",
        "parameters": {
            "type": "object",
            "properties": {
                "action": {"type": "string", "enum": ["click", "type"]},
                "x": {"type": "integer"},
                "y": {"type": "integer"},
                "text": {"type": "string"},
                "button": {"type": "string"},
            },
            "required": ["action"],
        },
    },
}
SCREEN = {
    "type": "computer_use_preview",
    "display_width": 1024,
    "display_height": 768,
    "environment": "browser",
}
RESPONSES_WEATHER = {"type": "function", **WEATHER["function"]}
CLICK = {"type": "click", "button": "left", "x": 10, "y": 10}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    with run_gateway(tmp_path_factory.mktemp("reviewer"), "") as gateway:
        yield gateway


def open_task(gateway, api: str, content: Any = None, text: str = "", **request: Any):
    """Send a request for ``human`` on a thread; the pending task and the client's future.

    The task is found by its preview: ``text``, which must be in ``content`` when given.
    """
    text = text or f"please {uuid.uuid4()}"
    client = openai_client(gateway)
    if api == "chat":
        message = {"role": "user", "content": content or text}
        future = background(
            client.chat.completions.create, model="human", messages=[message], **request
        )
    else:
        item = {"role": "user", "content": content or text}
        future = background(client.responses.create, model="human", input=[item], **request)
    task = Reviewer(gateway.url, "lister").wait_for_task(lambda t: t["preview"] == text)
    return task, future


# Each case: the API, the request's tools and options, a bad answer, the field blamed.
INVALID = {
    "undeclared tool": (
        "chat", {"tools": [WEATHER]},
        {"tool_calls": [{"name": "send_email", "arguments": {}}]}, "tool_calls.0.name",
    ),
    "required argument missing": (
        "chat", {"tools": [WEATHER]},
        {"tool_calls": [{"name": "get_weather", "arguments": {"unit": "c"}}]},
        "tool_calls.0.arguments",
    ),
    "argument of the wrong type": (
        "chat", {"tools": [WEATHER]},
        {"tool_calls": [{"name": "get_weather", "arguments": {"city": 5}}]},
        "tool_calls.0.arguments.city",
    ),
    "argument outside its enum": (
        "chat", {"tools": [WEATHER]},
        {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo", "unit": "k"}}]},
        "tool_calls.0.arguments.unit",
    ),
    "argument not in the schema": (
        "chat", {"tools": [WEATHER]},
        {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo", "why": 1}}]},
        "tool_calls.0.arguments",
    ),
    "arguments not JSON": (
        "chat", {"tools": [WEATHER]},
        {"tool_calls": [{"name": "get_weather", "arguments": "{city: Oslo"}]},
        "tool_calls.0.arguments",
    ),
    "tool_choice none, tool call given": (
        "chat", {"tools": [WEATHER], "tool_choice": "none"},
        {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]}, "tool_choice",
    ),
    "tool_choice required, text given": (
        "chat", {"tools": [WEATHER], "tool_choice": "required"},
        {"content": "It is sunny."}, "tool_choice",
    ),
    "named tool_choice, text given": (
        "chat",
        {"tools": [WEATHER, CLOCK],
         "tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
        {"content": "It is sunny."}, "tool_choice",
    ),
    "named tool_choice, other tool called": (
        "chat",
        {"tools": [WEATHER, CLOCK],
         "tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
        {"tool_calls": [{"name": "get_time", "arguments": {}}]}, "tool_choice",
    ),
    "responses named tool_choice, other tool called": (
        "responses",
        {"tools": [RESPONSES_WEATHER, {"type": "function", **CLOCK["function"]}],
         "tool_choice": {"type": "function", "name": "get_weather"}},
        {"tool_calls": [{"name": "get_time", "arguments": {}}]}, "tool_choice",
    ),
    "computer tool_choice, text given": (
        "responses", {"tools": [SCREEN], "tool_choice": {"type": "computer_use_preview"}},
        {"content": "I would click."}, "tool_choice",
    ),
    "parallel_tool_calls false, two calls": (
        "chat", {"tools": [WEATHER], "parallel_tool_calls": False},
        {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}},
                        {"name": "get_weather", "arguments": {"city": "Rome"}}]},
        "tool_calls",
    ),
    "empty answer": ("chat", {}, {}, None),
    "unknown answer field": ("chat", {}, {"content": "hi", "mood": "happy"}, "mood"),
    "click without x": (
        "responses", {"tools": [SCREEN]},
        {"computer_actions": [{"type": "click", "button": "left", "y": 5}]},
        "computer_actions.0.click.x",
    ),
    "unknown action": (
        "responses", {"tools": [SCREEN]},
        {"computer_actions": [{"type": "teleport", "x": 1, "y": 1}]}, "computer_actions.0",
    ),
    "click with an unknown button": (
        "responses", {"tools": [SCREEN]},
        {"computer_actions": [{"type": "click", "button": "thumb", "x": 1, "y": 1}]},
        "computer_actions.0.click.button",
    ),
    "click with a field it does not have": (
        "responses", {"tools": [SCREEN]},
        {"computer_actions": [{**CLICK, "keys": ["ctrl"]}]}, "computer_actions.0.click.keys",
    ),
    "fractional coordinate": (
        "responses", {"tools": [SCREEN]},
        {"computer_actions": [{**CLICK, "x": 10.5}]}, "computer_actions.0.click.x",
    ),
    "keypress without keys": (
        "responses", {"tools": [SCREEN]},
        {"computer_actions": [{"type": "keypress", "keys": []}]},
        "computer_actions.0.keypress.keys",
    ),
    "drag of one point": (
        "responses", {"tools": [SCREEN]},
        {"computer_actions": [{"type": "drag", "path": [{"x": 1, "y": 1}]}]},
        "computer_actions.0.drag.path",
    ),
    "type without text": (
        "responses", {"tools": [SCREEN]},
        {"computer_actions": [{"type": "type"}]}, "computer_actions.0.type.text",
    ),
    "click right of the display": (
        "responses", {"tools": [SCREEN]},
        {"computer_actions": [{**CLICK, "x": 1024}]}, "computer_actions.0",
    ),
    "move above the display": (
        "responses", {"tools": [SCREEN]},
        {"computer_actions": [{"type": "move", "x": 3, "y": -1}]}, "computer_actions.0",
    ),
    "drag ending below the display": (
        "responses", {"tools": [SCREEN]},
        {"computer_actions": [CLICK, {"type": "drag", "path": [{"x": 1, "y": 1},
                                                             {"x": 5, "y": 768}]}]},
        "computer_actions.1",
    ),
    "scroll outside the display": (
        "responses", {"tools": [SCREEN]},
        {"computer_actions": [{"type": "scroll", "x": 2000, "y": 5,
                               "scroll_x": 0, "scroll_y": 300}]},
        "computer_actions.0",
    ),
    "computer actions without a computer tool": (
        "responses", {"tools": [RESPONSES_WEATHER]},
        {"computer_actions": [CLICK]}, "computer_actions",
    ),
    "chat computer actions without a computer function": (
        "chat", {"tools": [WEATHER]}, {"computer_actions": [CLICK]}, "computer_actions",
    ),
    "chat computer action the computer function's schema refuses": (
        "chat", {"tools": [CHAT_COMPUTER]},
        {"computer_actions": [{"type": "keypress", "keys": ["ctrl", "s"]}]},
        "computer_actions.0.action",
    ),
}  # fmt: skip


@pytest.mark.parametrize(("api", "request_options", "answer", "param"), INVALID.values(),
                         ids=INVALID.keys())  # fmt: skip
def test_an_invalid_answer_is_422_naming_the_field(
    gateway, reviewer, api, request_options, answer, param
):
    task, reply = open_task(gateway, api, **request_options)
    refused = reviewer.answer(task["id"], **answer)
    assert refused.status == 422, refused.body
    error = refused.error
    assert error["type"] == "invalid_request_error"
    if param is not None:
        assert error["param"] == param, error
        assert error["message"].startswith(param.split(".")[0]), error
    else:
        assert "content" in error["message"]
    # Nothing reached the client and the task is still there to be answered properly.
    assert not reply.done()
    assert reviewer.task(task["id"])["status"] in ("pending", "claimed")
    assert reviewer.reject(task["id"], "test over").status == 200
    with pytest.raises(openai.UnprocessableEntityError):
        reply.result(timeout=10)


def test_422_messages_say_what_is_wrong(gateway, reviewer):
    task, reply = open_task(gateway, "responses", tools=[SCREEN, RESPONSES_WEATHER])
    undeclared = reviewer.answer(task["id"], tool_calls=[{"name": "send_email"}])
    assert "send_email" in undeclared.error["message"]
    assert "get_weather" in undeclared.error["message"]  # what was declared instead
    outside = reviewer.answer(task["id"], computer_actions=[{**CLICK, "y": 900}])
    assert "1024x768" in outside.error["message"]
    missing = reviewer.answer(
        task["id"], tool_calls=[{"name": "get_weather", "arguments": {"unit": "c"}}]
    )
    assert "city" in missing.error["message"]
    # A valid answer on the edge of the display is accepted.
    edge = {"type": "click", "button": "left", "x": 1023, "y": 767}
    assert reviewer.answer(task["id"], computer_actions=[edge]).status == 200
    assert reply.result(timeout=10).output[0].action.x == 1023


def test_answer_body_must_be_json(gateway, reviewer):
    task, reply = open_task(gateway, "chat")
    request = urllib.request.Request(
        f"{gateway.url}/api/tasks/{task['id']}/answer",
        data=b"{not json",
        method="POST",
        headers={"content-type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 400
    assert reviewer.answer(task["id"], content="fine").status == 200
    assert reply.result(timeout=10).choices[0].message.content == "fine"


def test_list_filters_by_status_oldest_first(gateway, reviewer):
    first, first_reply = open_task(gateway, "chat")
    second, second_reply = open_task(gateway, "chat")
    third, third_reply = open_task(gateway, "chat")
    assert reviewer.claim(second["id"]).status == 200
    assert reviewer.answer(third["id"], content="done").status == 200
    third_reply.result(timeout=10)

    def ids(status: str | None) -> list[str]:
        mine = {first["id"], second["id"], third["id"]}
        return [task["id"] for task in reviewer.tasks(status) if task["id"] in mine]

    assert ids(None) == [first["id"], second["id"]]  # the open ones, oldest first
    assert ids("pending") == [first["id"]]
    assert ids("claimed") == [second["id"]]
    assert ids("answered") == [third["id"]]
    assert ids("pending,answered") == [first["id"], third["id"]]
    assert ids("pending,claimed,answered") == [first["id"], second["id"], third["id"]]
    unknown = reviewer.call("GET", "/api/tasks?status=pending,lost")
    assert unknown.status == 400 and unknown.error["param"] == "status"
    for task, reply in ((first, first_reply), (second, second_reply)):
        assert reviewer.reject(task["id"], "cleanup").status == 200
        with pytest.raises(openai.UnprocessableEntityError):
            reply.result(timeout=10)


def test_full_task_has_the_request_tools_and_answer(gateway, reviewer):
    task, reply = open_task(
        gateway, "responses", tools=[SCREEN, RESPONSES_WEATHER], tool_choice="auto",
        instructions="Be careful", user="user-7",
    )  # fmt: skip
    full = reviewer.task(task["id"])
    assert full["id"] == task["id"] and full["status"] == "pending"
    assert full["api"] == "responses" and full["model"] == "human"
    assert full["reason"] == "human_route" and full["session"] == "user-7"
    assert full["created_at"] <= full["expires_at"] and full["claimed_by"] is None
    assert full["request"]["instructions"] == "Be careful"
    assert full["request"]["input"][0]["content"] == task["preview"]
    assert full["tool_choice"] == "auto"
    computer, weather = full["tools"]
    assert computer["type"] == "computer" and computer["declared_type"] == "computer_use_preview"
    assert (computer["display_width"], computer["display_height"]) == (1024, 768)
    assert weather["type"] == "function" and weather["name"] == "get_weather"
    assert weather["parameters"]["required"] == ["city"]
    assert full["answer"] is None
    answer = {"content": "Looking.", "computer_actions": [CLICK, {"type": "move", "x": 3, "y": 4}]}
    assert reviewer.answer(task["id"], **answer).status == 200
    reply.result(timeout=10)
    recorded = reviewer.task(task["id"])["answer"]
    assert recorded["content"] == "Looking."
    # Actions are kept whole, as sent: the click keeps its (default) button.
    assert recorded["computer_actions"] == [CLICK, {"type": "move", "x": 3, "y": 4}]


def test_images_are_links_fetched_one_by_one(gateway, reviewer):
    screens = [png(8, 6, shade) for shade in (10, 200)]
    text = f"look {uuid.uuid4()}"
    content = [
        {"type": "text", "text": text},
        {"type": "image_url", "image_url": {"url": data_url(screens[0]), "detail": "high"}},
        {"type": "image_url", "image_url": {"url": data_url(screens[1])}},
    ]
    encoded = [base64.b64encode(screen).decode() for screen in screens]
    with EventLog(gateway.url) as events:
        task, reply = open_task(gateway, "chat", content=content, text=text)
        created = events.wait_for("task.created", task["id"])
    assert task["preview"] == text
    for image in encoded:
        assert image not in json.dumps(created)
        raw_list = urllib.request.urlopen(f"{gateway.url}/api/tasks", timeout=10).read()
        assert image.encode() not in raw_list
    full = reviewer.task(task["id"])
    assert full["images"] == 2
    parts = full["request"]["messages"][0]["content"]
    links = [part["image_url"]["url"] for part in parts[1:]]
    assert links == [f"/api/tasks/{task['id']}/images/0", f"/api/tasks/{task['id']}/images/1"]
    assert parts[1]["image_url"]["detail"] == "high"
    for link, screen in zip(links, screens, strict=True):
        fetched = reviewer.call("GET", link)
        assert fetched.status == 200
        assert fetched.headers["content-type"] == "image/png"
        assert fetched.body == screen
    assert reviewer.call("GET", f"/api/tasks/{task['id']}/images/2").status == 404
    assert reviewer.answer(task["id"], content="two grey squares").status == 200
    assert reply.result(timeout=10).choices[0].message.content == "two grey squares"
