"""The Anthropic door's pure parts, in-process: reading a Messages request, translating it
into the conversation form, shaping a person's answer (JSON and SSE) and reading an
Anthropic-format model's reply. Every body is checked with the ``anthropic`` SDK's types."""

from __future__ import annotations

from pathlib import Path

import anthropic
import orjson
import pytest
from anthropic.types import ErrorResponse, Message, RawMessageStreamEvent
from pydantic import TypeAdapter

from gateway.config import ConfigError, load_config
from gateway.doors.anthropic import errors, shapes
from gateway.doors.anthropic.convert import computer_name, conversation, session_hint
from gateway.doors.anthropic.models import MessagesRequest, parsed
from gateway.doors.anthropic.output import action_of, read_message
from gateway.doors.anthropic.shaper import AnthropicShaper
from gateway.doors.openai.checks import check_model_request
from gateway.errors import GatewayError
from gateway.human.request import kind_of, normalise_tools, preview_of, prompt_tokens
from gateway.human.task import Task
from gateway.human.validate import checked_replies, parse_answer

EVENT = TypeAdapter(RawMessageStreamEvent)
PNG = "iVBORw0KGgo="
SCHEMA = {
    "type": "object",
    "properties": {"command": {"type": "string"}, "timeout": {"type": "number"}},
    "required": ["command"],
    "additionalProperties": False,
    "$schema": "http://json-schema.org/draft-07/schema#",
}


def claude_code_request(**extra) -> dict:
    """A request shaped like Claude Code 2.1's: system blocks with cache_control, thinking,
    metadata, context_management, a system message inside messages, 24 tools."""
    tools = [
        {"name": f"Tool{index}", "description": "x" * 2000, "input_schema": SCHEMA}
        for index in range(23)
    ]
    tools.append({"name": "Bash", "description": "Run a command", "input_schema": SCHEMA})
    return {
        "model": "human",
        "max_tokens": 32000,
        "system": [
            {
                "type": "text",
                "text": "You are Claude Code.",
                "cache_control": {"type": "ephemeral"},
            },
            {"type": "text", "text": "Be concise."},
        ],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "<system-reminder>ctx</system-reminder>"},
                    {"type": "text", "text": "List files", "cache_control": {"type": "ephemeral"}},
                ],
            },
            {"role": "system", "content": "A reminder from the harness."},
        ],
        "tools": tools,
        "metadata": {"user_id": "user_abc_account__session_123"},
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "context_management": {"edits": [{"type": "clear_thinking_20251015"}]},
        "temperature": 1,
        "stream": True,
        "a_field_from_the_future": {"x": 1},
        **extra,
    }


def test_everything_claude_code_sends_is_accepted_and_kept() -> None:
    data = claude_code_request()
    request = parsed(MessagesRequest, data)
    form = conversation(request)
    assert form["messages"][0] == {
        "role": "system",
        "content": "You are Claude Code.\n\nBe concise.",
    }
    # Claude Code's <system-reminder> block is the harness speaking: a system message first.
    assert form["messages"][1] == {
        "role": "system",
        "content": "<system-reminder>ctx</system-reminder>",
    }
    assert form["messages"][2] == {
        "role": "user",
        "content": [{"type": "text", "text": "List files"}],
    }
    assert form["messages"][3] == {"role": "system", "content": "A reminder from the harness."}
    assert preview_of("chat.completions", form) == "List files"
    assert session_hint(request.metadata) == "123"
    assert len(form["tools"]) == 24
    assert form["tools"][-1]["function"]["parameters"] == SCHEMA
    assert request.model_extra is not None and request.model_extra["a_field_from_the_future"]
    check_model_request("chat.completions", form)  # what a task needs of it holds


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"messages": "hello"}, "messages"),
        ({"max_tokens": None}, "max_tokens"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages.0.role"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages.0.content"),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "image", "source": {"type": "base64"}}]}
                ]
            },
            "messages.0.content.0.source.media_type",
        ),
        ({"tools": [{"description": "no name"}]}, "tools.0.name"),
        ({"tool_choice": {"type": "sometimes"}}, "tool_choice.type"),
    ],
)
def test_a_malformed_request_is_a_400_naming_the_field(change: dict, field: str) -> None:
    data = {**claude_code_request(), **change}
    with pytest.raises(GatewayError) as caught:
        parsed(MessagesRequest, {k: v for k, v in data.items() if v is not None})
    assert caught.value.status == 400
    assert caught.value.message.startswith(field + ":")
    assert caught.value.param == field


def test_a_tool_round_trip_and_a_screenshot_become_chat_messages() -> None:
    request = parsed(
        MessagesRequest,
        {
            "model": "human",
            "max_tokens": 100,
            "messages": [
                {"role": "user", "content": "Save the file"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "Ctrl+S saves.", "signature": "sig"},
                        {"type": "redacted_thinking", "data": "opaque"},
                        {"type": "text", "text": "I'll look."},
                        {
                            "type": "tool_use",
                            "id": "toolu_01",
                            "name": "computer",
                            "input": {"action": "screenshot"},
                        },
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_01",
                            "content": [
                                {"type": "text", "text": "done"},
                                {
                                    "type": "image",
                                    "source": {
                                        "type": "base64",
                                        "media_type": "image/png",
                                        "data": PNG,
                                    },
                                },
                            ],
                        },
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_02",
                            "content": "boom",
                            "is_error": True,
                        },
                        {
                            "type": "image",
                            "source": {"type": "url", "url": "https://example.com/a.png"},
                        },
                    ],
                },
            ],
            "tools": [
                {
                    "type": "computer_20250124",
                    "name": "computer",
                    "display_width_px": 1280,
                    "display_height_px": 800,
                }
            ],
            "tool_choice": {"type": "tool", "name": "computer", "disable_parallel_tool_use": True},
        },
    )
    form = conversation(request)
    assistant, result, failed, after = form["messages"][1:]
    assert assistant["content"] == "I'll look."
    assert assistant["reasoning_content"] == "Ctrl+S saves.\n\n[redacted thinking]"
    call = assistant["tool_calls"][0]
    assert call["id"] == "toolu_01" and orjson.loads(call["function"]["arguments"]) == {
        "action": "screenshot"
    }
    assert result == {"role": "tool", "tool_call_id": "toolu_01", "content": "done"}
    assert failed == {"role": "tool", "tool_call_id": "toolu_02", "content": "[error] boom"}
    # The result's screenshot comes next, so it is the latest image: the one the person acts on.
    assert after["role"] == "user"
    assert after["content"][0] == {
        "type": "image_url",
        "image_url": {"url": f"data:image/png;base64,{PNG}"},
    }
    assert after["content"][1]["image_url"]["url"] == "https://example.com/a.png"
    tools = normalise_tools("chat.completions", form)
    assert tools[0]["type"] == "function" and tools[0]["name"] == "computer"
    assert tools[1] == {
        "type": "computer",
        "declared_type": "computer_use_preview",
        "display_width": 1280,
        "display_height": 800,
        "environment": "linux",
    }
    assert kind_of("chat.completions", form, tools) == "screen"
    assert form["tool_choice"] == {"type": "function", "function": {"name": "computer"}}
    assert form["parallel_tool_calls"] is False


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, "auto"),
        ({"type": "any"}, "required"),
        ({"type": "none"}, "none"),
        ({"type": "tool", "name": "Bash"}, {"type": "function", "function": {"name": "Bash"}}),
    ],
)
def test_tool_choice_translates(choice: dict, expected: object) -> None:
    form = conversation(parsed(MessagesRequest, claude_code_request(tool_choice=choice)))
    assert form["tool_choice"] == expected
    assert "parallel_tool_calls" not in form


def test_prompt_tokens_use_the_shared_estimate() -> None:
    request = parsed(
        MessagesRequest,
        {
            "model": "human",
            "max_tokens": 5,
            "system": "abcd",
            "messages": [{"role": "user", "content": "efgh" * 10}],
        },
    )
    assert prompt_tokens("chat.completions", conversation(request)) == 11


# -- the answer ----------------------------------------------------------------------


COMPUTER_REQUEST = {
    "model": "human",
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "Turn on dark mode"}],
    "tools": [
        {
            "name": "get_weather",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
        {
            "type": "computer_20250124",
            "name": "computer",
            "display_width_px": 1280,
            "display_height_px": 800,
        },
    ],
}


def answered(data: dict, **answer) -> dict:
    """The message a person's answer to ``data`` makes, through the human service's own
    steps: the answer parsed and checked against the task, the chat completion stored."""
    form = conversation(parsed(MessagesRequest, data))
    tools = normalise_tools("chat.completions", form)
    task = Task(
        id="task_1",
        status="claimed",
        api="chat.completions",
        model=form["model"],
        reason="human_route",
        session="s",
        created_at=0,
        expires_at=1,
        dedup="d",
        owner="",
        tools=tools,
        tool_choice=form.get("tool_choice"),
        prompt_tokens=prompt_tokens("chat.completions", form),
    )
    parallel = form.get("parallel_tool_calls", True) is not False
    replies = checked_replies(parse_answer(orjson.dumps(answer)), task, parallel)
    completion = AnthropicShaper().shape(task, form, replies).result  # what the store keeps
    message = shapes.message(completion, computer_name(form))
    assert shapes.message(completion, computer_name(form)) == message  # a retry gets the same
    assert message["id"] == "msg_" + completion["id"].removeprefix("chatcmpl-")
    # The tool ids the client sees are the stored answer's: its next request names them.
    task.result = completion
    uses = [block["id"] for block in message["content"] if block["type"] == "tool_use"]
    assert AnthropicShaper().minted_ids(task) == uses
    return message


def test_text_answer_is_an_end_turn_message() -> None:
    message = Message.model_validate(answered(COMPUTER_REQUEST, content="The floppy disk icon."))
    assert message.stop_reason == "end_turn"
    assert message.content[0].text == "The floppy disk icon."  # type: ignore[union-attr]
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


def test_tool_calls_and_computer_actions_are_tool_uses() -> None:
    actions = [
        {"type": "click", "button": "left", "x": 10, "y": 20},
        {"type": "click", "button": "right", "x": 1, "y": 2},
        {"type": "click", "button": "wheel", "x": 1, "y": 2},
        {"type": "click", "button": "back", "x": 1, "y": 2},
        {"type": "double_click", "x": 3, "y": 4},
        {"type": "move", "x": 5, "y": 6},
        {"type": "drag", "path": [{"x": 1, "y": 1}, {"x": 5, "y": 5}, {"x": 9, "y": 9}]},
        {"type": "keypress", "keys": ["ctrl", "shift", "T"]},
        {"type": "keypress", "keys": ["enter"]},
        {"type": "keypress", "keys": ["alt", "f4"]},
        {"type": "type", "text": "dark mode"},
        {"type": "scroll", "x": 7, "y": 8, "scroll_x": 0, "scroll_y": -3},
        {"type": "wait"},
        {"type": "screenshot"},
    ]
    body = answered(
        COMPUTER_REQUEST,
        content="Here:",
        tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}],
        computer_actions=actions,
    )
    message = Message.model_validate(body)
    assert message.stop_reason == "tool_use"
    assert message.content[0].type == "text"
    uses = message.content[1:]
    assert all(use.type == "tool_use" and use.id.startswith("toolu_") for use in uses)
    assert len({use.id for use in uses}) == len(uses)  # type: ignore[union-attr]
    assert uses[0].name == "get_weather" and uses[0].input == {"city": "Paris"}  # type: ignore[union-attr]
    assert {use.name for use in uses[1:]} == {"computer"}  # type: ignore[union-attr]
    assert [use.input for use in uses[1:]] == [  # type: ignore[union-attr]
        {"action": "left_click", "coordinate": [10, 20]},
        {"action": "right_click", "coordinate": [1, 2]},
        {"action": "middle_click", "coordinate": [1, 2]},
        {"action": "key", "text": "alt+Left"},  # Claude's computer has no back button
        {"action": "double_click", "coordinate": [3, 4]},
        {"action": "mouse_move", "coordinate": [5, 6]},
        {"action": "left_click_drag", "start_coordinate": [1, 1], "coordinate": [9, 9]},
        {"action": "key", "text": "ctrl+shift+t"},
        {"action": "key", "text": "Return"},
        {"action": "key", "text": "alt+F4"},
        {"action": "type", "text": "dark mode"},
        {"action": "scroll", "coordinate": [7, 8], "scroll_direction": "up", "scroll_amount": 3},
        {"action": "wait", "duration": 1},
        {"action": "screenshot"},
    ]
    # Each action read back as the dashboard's action (a hybrid draft) is the one sent.
    for action, use in zip(actions[4:], uses[5:], strict=True):
        back = action_of(use.input)  # type: ignore[union-attr, arg-type]
        if action["type"] == "drag":
            assert back == {"type": "drag", "path": [action["path"][0], action["path"][-1]]}
        elif action["type"] == "keypress":
            assert back == {**action, "keys": [key.lower() for key in action["keys"]]}
        else:
            assert back == action


def test_a_claude_computer_input_sent_as_a_tool_call_goes_out_as_it_is() -> None:
    hold = {"action": "hold_key", "text": "shift", "duration": 2}
    body = answered(COMPUTER_REQUEST, tool_calls=[{"name": "computer", "arguments": hold}])
    assert Message.model_validate(body).content[0].input == hold  # type: ignore[union-attr]


def test_answers_are_checked_against_the_request() -> None:
    def refused(data: dict, **answer) -> str:
        with pytest.raises(GatewayError) as caught:
            answered(data, **answer)
        assert caught.value.status == 422
        return caught.value.message

    undeclared = refused(COMPUTER_REQUEST, tool_calls=[{"name": "Bash", "arguments": {}}])
    assert "'Bash' was not declared" in undeclared
    bad_input = refused(
        COMPUTER_REQUEST, tool_calls=[{"name": "get_weather", "arguments": {"city": 5}}]
    )
    assert "tool_calls.0.arguments" in bad_input
    outside = refused(COMPUTER_REQUEST, computer_actions=[{"type": "click", "x": 1280, "y": 5}])
    assert "outside the 1280x800 display" in outside
    choose = lambda choice: {**COMPUTER_REQUEST, "tool_choice": choice}  # noqa: E731
    assert "required" in refused(choose({"type": "any"}), content="no tools")
    assert "'none'" in refused(choose({"type": "none"}), computer_actions=[{"type": "screenshot"}])
    named = refused(
        choose({"type": "tool", "name": "get_weather"}), computer_actions=[{"type": "screenshot"}]
    )
    assert "get_weather" in named
    one = choose({"type": "auto", "disable_parallel_tool_use": True})
    two_calls = [{"name": "get_weather", "arguments": {"city": c}} for c in ("Paris", "Rome")]
    assert "parallel_tool_calls" in refused(one, tool_calls=two_calls)
    two_clicks = [{"type": "click", "x": 1, "y": 1}, {"type": "click", "x": 2, "y": 2}]
    assert "parallel_tool_calls" in refused(one, computer_actions=two_clicks)  # two tool uses
    answered(COMPUTER_REQUEST, computer_actions=two_clicks)  # allowed by default
    answered(
        choose({"type": "tool", "name": "computer"}), computer_actions=[{"type": "screenshot"}]
    )


def test_refusal_is_stop_reason_refusal() -> None:
    message = Message.model_validate(answered(COMPUTER_REQUEST, refusal="I can't help."))
    assert message.stop_reason == "refusal"
    assert message.content[0].text == "I can't help."  # type: ignore[union-attr]


def test_stream_is_the_full_event_sequence_and_adds_up_to_the_message() -> None:
    body = answered(
        claude_code_request(),
        content="x" * 150,
        tool_calls=[{"name": "Bash", "arguments": {"command": "ls"}}],
    )
    raw = b"".join(shapes.stream(body))
    frames = [frame for frame in raw.split(b"\n\n") if frame]
    kinds, events = [], []
    for frame in frames:
        name_line, data_line = frame.split(b"\n")
        assert name_line.startswith(b"event: ") and data_line.startswith(b"data: ")
        event = EVENT.validate_json(data_line[6:]) if not data_line.endswith(b'"ping"}') else None
        kinds.append(name_line[7:].decode())
        events.append(event)
    assert kinds[:2] == ["message_start", "ping"]
    assert kinds[-2:] == ["message_delta", "message_stop"]
    assert kinds.count("content_block_start") == 2
    assert kinds.count("content_block_delta") == 3 + 1  # 150 characters in 64-character deltas
    rebuilt = read_message(raw, stream=True, computer=None)
    assert rebuilt.content == "x" * 150
    assert rebuilt.tool_calls == [{"name": "Bash", "arguments": {"command": "ls"}}]
    assert rebuilt.finish_reason == "tool_calls"
    assert rebuilt.raw["usage"]["output_tokens"] == body["usage"]["output_tokens"]


# -- errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (GatewayError(400, "bad"), 400, "invalid_request_error"),
        (GatewayError(401, "who", type="authentication_error"), 401, "authentication_error"),
        (GatewayError(404, "no such model"), 404, "not_found_error"),
        (GatewayError(413, "too big"), 413, "request_too_large"),
        (GatewayError(429, "slow down", type="rate_limit_error"), 429, "rate_limit_error"),
        (GatewayError(503, "store down", code="store_unavailable"), 529, "overloaded_error"),
        (GatewayError(504, "nobody answered"), 504, "timeout_error"),
        (GatewayError(502, "upstream gone"), 502, "api_error"),
        (GatewayError(500, "broken"), 500, "api_error"),
    ],
)
def test_errors_take_anthropics_envelope_and_status(
    error: GatewayError, status: int, kind: str
) -> None:
    assert errors.status_of(error) == status
    body = orjson.loads(errors.body(error))
    assert body["type"] == "error" and body["error"] == {"type": kind, "message": error.message}
    assert body["request_id"].startswith("req_")
    if kind != "request_too_large":  # in the API reference, not yet in the SDK's type
        assert ErrorResponse.model_validate(body).error.message == error.message
    event = errors.event(error)
    assert event.startswith(b"event: error\ndata: ")
    assert orjson.loads(event.split(b"data: ")[1])["error"]["type"] == kind


def test_the_sdk_raises_the_class_the_status_names() -> None:
    import httpx

    for status, cls in ((400, anthropic.BadRequestError), (529, anthropic.InternalServerError)):
        error = GatewayError(status, "x", code="store_unavailable" if status == 529 else None)
        request = httpx.Request("POST", "http://gateway/v1/messages")
        response = httpx.Response(
            errors.status_of(error), content=errors.body(error), request=request
        )
        client = anthropic.Anthropic(api_key="k", base_url="http://gateway")
        raised = client._make_status_error_from_response(response)
        assert isinstance(raised, cls)


# -- a model's reply on a hybrid route -----------------------------------------------


def test_reading_a_model_reply() -> None:
    body = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude",
        "content": [
            {"type": "text", "text": "Clicking."},
            {
                "type": "tool_use",
                "id": "toolu_1",
                "name": "computer",
                "input": {"action": "left_click", "coordinate": [4, 5]},
            },
            {
                "type": "tool_use",
                "id": "toolu_2",
                "name": "computer",
                "input": {"action": "hold_key", "text": "a", "duration": 1},
            },
            {"type": "tool_use", "id": "toolu_3", "name": "Bash", "input": {"command": "rm -rf /"}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 4},
    }
    answer = read_message(orjson.dumps(body), stream=False, computer="computer")
    assert answer.content == "Clicking."
    assert answer.computer_actions == [{"type": "click", "button": "left", "x": 4, "y": 5}]
    assert [call["name"] for call in answer.tool_calls] == ["computer", "Bash"]
    cut = read_message(orjson.dumps({**body, "stop_reason": "max_tokens"}), False, None)
    assert cut.finish_reason == "length"
    refused = read_message(
        orjson.dumps({**body, "content": [], "stop_reason": "refusal"}), False, None
    )
    assert refused.refusal and refused.content is None
    with pytest.raises(ValueError):
        read_message(b"<html>", False, None)


# -- config --------------------------------------------------------------------------


def test_anthropic_upstreams_in_config(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(
        """
[upstreams.claude]
api = "anthropic"
base_url = "https://api.anthropic.com/v1"
[upstreams.local]
base_url = "http://127.0.0.1:9/v1"
[models.claude-x]
upstream = "claude"
"""
    )
    config = load_config(path)
    assert config.upstreams["claude"].root_url == "https://api.anthropic.com"
    path.write_text(path.read_text() + 'fallbacks = ["qwen"]\n[models.qwen]\nupstream = "local"\n')
    with pytest.raises(ConfigError, match=r"models\.claude-x\.fallbacks"):
        load_config(path)
    path.write_text('[upstreams.x]\napi = "gemini"\nbase_url = "http://127.0.0.1:9"\n')
    with pytest.raises(ConfigError, match=r"upstreams\.x\.api"):
        load_config(path)


def test_the_computer_use_demos_tools_can_all_be_answered() -> None:
    """Anthropic's computer-use demo declares its three client tools without schemas."""
    request = parsed(
        MessagesRequest,
        {
            "model": "human",
            "max_tokens": 4096,
            "messages": [{"role": "user", "content": "Open the terminal"}],
            "tools": [
                {
                    "type": "computer_20250124",
                    "name": "computer",
                    "display_width_px": 1024,
                    "display_height_px": 768,
                    "display_number": 1,
                },
                {"type": "bash_20250124", "name": "bash"},
                {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"},
                {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
            ],
            "betas": ["computer-use-2025-01-24"],
        },
    )
    form = conversation(request)
    check_model_request("chat.completions", form)
    tools = normalise_tools("chat.completions", form)
    functions = {tool["name"] for tool in tools if tool["type"] == "function"}
    assert functions == {"computer", "bash", "str_replace_based_edit_tool"}
    assert {"type": "web_search_20250305", "name": "web_search"} in tools  # shown, not callable
    body = answered(
        {**request.model_dump(by_alias=True, exclude_none=True)},
        tool_calls=[{"name": "bash", "arguments": {"command": "xterm &"}}],
    )
    assert Message.model_validate(body).content[0].input == {"command": "xterm &"}  # type: ignore[union-attr]
