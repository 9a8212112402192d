"""Pure parts of the export: the fine-tuning validator, conversion, verdicts, lines."""

from __future__ import annotations

import json

import pytest
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam
from pydantic import TypeAdapter
from reviewer_client import WEATHER_TOOL, data_url, png

from gateway.export.convert import Unconvertible, computer_tool, items_to_messages
from gateway.export.datasets import dpo_line, eval_line, line_as_parts, sft_line, verdict
from gateway.export.images import ImageFiles
from gateway.export.redact import LineFinisher
from gateway.export.validate_sft import dpo_problems, sft_problems
from gateway.human.task import Task

MESSAGES = TypeAdapter(list[ChatCompletionMessageParam])
TOOLS = TypeAdapter(list[ChatCompletionToolParam])
SHOT = data_url(png(shade=10))


def call(call_id: str, name: str = "get_weather", arguments: str = '{"city": "Oslo"}') -> dict:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


GOOD = {
    "messages": [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [call("c1")]},
        {"role": "tool", "tool_call_id": "c1", "content": "18C"},
        {"role": "assistant", "content": "It is 18C."},
    ],
    "tools": [WEATHER_TOOL],
    "parallel_tool_calls": True,
}


def test_validator_accepts_a_well_formed_line():
    assert sft_problems(GOOD) == []


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda line: line.pop("messages"), "missing_messages_list"),
        (lambda line: line["messages"][1].update(role="human"), "unrecognized_role"),
        (lambda line: line["messages"][1].update(extra=1), "message_unrecognized_key"),
        (lambda line: line["messages"][1].update(content=""), "missing_content"),
        (lambda line: line["messages"].pop(), "last_message_not_assistant"),
        (lambda line: line["messages"][4].update(content=None), "empty_assistant"),
        (lambda line: line["messages"].pop(3), "unanswered_tool_call"),
        (lambda line: line["messages"][3].update(tool_call_id="c9"), "tool_without_call"),
        (
            lambda line: line["messages"][2]["tool_calls"][0]["function"].update(arguments="{x"),
            "invalid_arguments",
        ),
        (
            lambda line: line["messages"][2]["tool_calls"][0]["function"].update(arguments={}),
            "arguments_not_string",
        ),
        (
            lambda line: line["messages"][2]["tool_calls"][0]["function"].update(name="nope"),
            "undeclared_function",
        ),
        (
            lambda line: line["messages"][0].update(
                content=[{"type": "image_url", "image_url": {"url": SHOT}}]
            ),
            "image_not_in_user_message",
        ),
        (
            lambda line: line["messages"][1].update(
                content=[{"type": "image_url", "image_url": {"url": "data:text/html,x"}}]
            ),
            "invalid_image_url",
        ),
        (lambda line: line.update(extra=True), "unrecognized_key"),
    ],
)
def test_validator_names_each_broken_rule(change, code):
    line = json.loads(json.dumps(GOOD))
    change(line)
    problems = sft_problems(line)
    assert any(problem.startswith(code) for problem in problems), problems


def test_relative_image_paths_only_when_asked():
    line = {
        "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "i/a.png"}}]},
            {"role": "assistant", "content": "ok"},
        ]
    }
    assert sft_problems(line, local_images=True) == []
    assert sft_problems(line)
    line["messages"][0]["content"][0]["image_url"]["url"] = "../etc/a.png"
    assert sft_problems(line, local_images=True)


COMPUTER_REQUEST = {
    "model": "human",
    "instructions": "Operate the browser.",
    "tools": [
        {
            "type": "computer_use_preview",
            "display_width": 1024,
            "display_height": 768,
            "environment": "browser",
        },
        {"type": "function", "name": "lookup", "parameters": {"type": "object"}},
    ],
    "input": [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "Open the menu"},
                {"type": "input_image", "image_url": SHOT, "detail": "auto"},
            ],
        },
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {
            "type": "computer_call",
            "id": "cu_1",
            "call_id": "call_a",
            "action": {"type": "click", "button": "left", "x": 5, "y": 6},
            "pending_safety_checks": [],
            "status": "completed",
        },
        {
            "type": "computer_call_output",
            "call_id": "call_a",
            "output": {"type": "input_image", "image_url": SHOT, "current_url": "https://x.test"},
        },
        {"type": "function_call", "call_id": "call_b", "name": "lookup", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_b", "output": "found"},
    ],
}

RESPONSE_RESULT = {
    "object": "response",
    "output": [
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "ok"}],
        },
        {
            "type": "computer_call",
            "call_id": "call_c",
            "action": {"type": "type", "text": "hello"},
            "pending_safety_checks": [],
        },
    ],
}


def task(**fields) -> Task:
    defaults = dict(
        id="task_1", status="answered", api="responses", model="cu+human", reason="audit",
        session="s", created_at=1.0, expires_at=2.0, dedup="d", owner="o", answered_at=1.5,
        answered_by="rita",
    )  # fmt: skip
    return Task(**{**defaults, **fields})


def test_responses_computer_use_becomes_a_valid_chat_line():
    line = sft_line(task(result=RESPONSE_RESULT), COMPUTER_REQUEST)
    assert sft_problems(line) == [], sft_problems(line)
    MESSAGES.validate_python(line["messages"])
    TOOLS.validate_python(line["tools"])
    roles = [m["role"] for m in line["messages"]]
    assert roles == [
        "system",
        "user",
        "assistant",
        "tool",
        "user",
        "assistant",
        "tool",
        "assistant",
    ]
    assert line["tools"][0] == computer_tool(COMPUTER_REQUEST["tools"][0])
    assert "1024x768" in line["tools"][0]["function"]["description"]
    click = line["messages"][2]["tool_calls"][0]
    assert click["id"] == "call_a" and click["function"]["name"] == "computer"
    assert json.loads(click["function"]["arguments"])["action"]["x"] == 5
    assert line["messages"][4]["content"] == [{"type": "image_url", "image_url": {"url": SHOT}}]
    # Parts only where an image is; every other message's text is a string.
    assert line["messages"][1]["content"] == [
        {"type": "text", "text": "Open the menu"},
        {"type": "image_url", "image_url": {"url": SHOT, "detail": "auto"}},
    ]
    others = [m["content"] for i, m in enumerate(line["messages"]) if i not in (1, 4)]
    assert all(isinstance(c, str) or c is None for c in others), others
    assert line["messages"][0]["content"] == "Operate the browser."
    answer = line["messages"][-1]
    assert answer["content"] == "ok"

    # content=parts: every message's content a list of parts, images where they were.
    parts = line_as_parts("sft", json.loads(json.dumps(line)))
    assert sft_problems(parts) == []
    assert parts["messages"][0]["content"] == [{"type": "text", "text": "Operate the browser."}]
    assert parts["messages"][1]["content"] == line["messages"][1]["content"]
    assert parts["messages"][-1]["content"] == [{"type": "text", "text": "ok"}]
    assert all(isinstance(m["content"], list) for m in parts["messages"] if m["content"])
    assert json.loads(answer["tool_calls"][0]["function"]["arguments"]) == {
        "action": {"type": "type", "text": "hello"}
    }


def test_parallel_screenshots_come_after_all_tool_messages():
    items = [
        {"role": "user", "content": "go"},
        {"type": "computer_call", "call_id": "a", "action": {"type": "wait"}},
        {"type": "computer_call", "call_id": "b", "action": {"type": "screenshot"}},
        {"type": "computer_call_output", "call_id": "a", "output": {"image_url": SHOT}},
        {"type": "computer_call_output", "call_id": "b", "output": {"image_url": SHOT}},
    ]
    messages = items_to_messages(items)
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool", "user"]
    assert len(messages[-1]["content"]) == 2


def test_a_request_without_messages_is_unconvertible():
    with pytest.raises(Unconvertible):
        sft_line(task(api="chat.completions", result={"choices": []}), {"messages": None})


DRAFT = {"content": "The answer is 42", "tool_calls": [], "computer_actions": [], "confidence": 0.4}


@pytest.mark.parametrize(
    ("status", "answer", "expected"),
    [
        ("answered", {"accept_draft": True, "content": "The answer is 42"}, "approved"),
        ("answered", {"content": "The answer is 42"}, "approved"),
        ("answered", {"content": "The answer is 42, surely"}, "edited"),
        ("answered", {"content": "Paris"}, "replaced"),
        ("answered", {"tool_calls": [{"name": "f", "arguments": {}}]}, "replaced"),
        ("rejected", None, "rejected"),
        ("expired", None, None),
    ],
)
def test_verdicts(status, answer, expected):
    assert verdict(task(status=status, answer=answer, draft=DRAFT)) == expected


def chat_result(content: str) -> dict:
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}


def test_dpo_and_eval_lines():
    request = {"messages": [{"role": "user", "content": "q"}]}
    edited = task(
        api="chat.completions",
        answer={"content": "Paris"},
        result=chat_result("Paris"),
        draft=DRAFT,
        confidence=0.4,
    )
    line = dpo_line(edited, request)
    assert dpo_problems(line) == []
    assert line["preferred_output"][0]["content"] == "Paris"
    assert line["non_preferred_output"][0]["content"] == "The answer is 42"
    assert line["input"]["messages"][0]["content"] == "q"
    parts = line_as_parts("dpo", line)
    assert dpo_problems(parts) == []
    assert parts["preferred_output"][0]["content"] == [{"type": "text", "text": "Paris"}]
    assert parts["input"]["messages"][0]["content"] == [{"type": "text", "text": "q"}]
    row = eval_line(edited, request)
    assert (row["verdict"], row["correct"], row["confidence"]) == ("replaced", False, 0.4)
    approved = task(
        api="chat.completions", answer={"accept_draft": True, **DRAFT}, draft=DRAFT,
        result=chat_result("The answer is 42"),
    )  # fmt: skip
    assert dpo_line(approved, request) is None
    assert eval_line(approved, request)["correct"] is True


def test_redaction_and_image_files(tmp_path):
    images = ImageFiles(tmp_path / "img", tmp_path)
    finish = LineFinisher([r"\b\d{4}-\d{4}\b", "secret"], images)
    line = {"a": ["card 1234-5678 and secret", {"u": SHOT}, SHOT], "n": 3}
    done = finish(line)
    assert done["a"][0] == "card [REDACTED] and [REDACTED]"
    assert done["a"][1]["u"] == done["a"][2]
    path = tmp_path / done["a"][2]
    assert path.read_bytes() == png(shade=10)
    assert path.name.endswith(".png") and images.written == 1 and images.referenced == 2
    assert finish.redactions == 2
