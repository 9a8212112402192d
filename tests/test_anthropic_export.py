"""Tasks from the Anthropic door in the exports: ``sft``, ``dpo``, ``eval`` and
``trajectory`` lines in OpenAI's chat format (images and tool calls included, checked
with the ``openai`` SDK's types), and ``records`` keeping the client's own request."""

from __future__ import annotations

import base64
import json
import urllib.request
from collections.abc import Iterator

import anthropic
import pytest
from fake_anthropic import FakeAnthropic, Step
from harness import Gateway, run_gateway
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam
from pydantic import TypeAdapter
from reviewer_client import Reviewer, background, png

MESSAGES = TypeAdapter(list[ChatCompletionMessageParam])
TOOLS = TypeAdapter(list[ChatCompletionToolParam])
WEATHER = {
    "name": "get_weather",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
COMPUTER = {
    "type": "computer_20250124",
    "name": "computer",
    "display_width_px": 640,
    "display_height_px": 480,
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, dict]]:
    """A gateway whose store holds a two-step run from the anthropic SDK and a reviewed
    hybrid answer a person edited; the run's requests, by step."""
    with FakeAnthropic("claude") as upstream:
        config = f"""
[upstreams.claude]
api = "anthropic"
base_url = "{upstream.url}"
[models.claude-reviewed]
upstream = "claude"
human = "review"
"""
        with run_gateway(tmp_path_factory.mktemp("anthropic-export"), config) as gateway:
            yield gateway, run(gateway, upstream)


def run(gateway: Gateway, upstream: FakeAnthropic) -> dict:
    client = anthropic.Anthropic(base_url=gateway.url, api_key="k", max_retries=0)
    reviewer = Reviewer(gateway.url, "erin")
    session = {"x-session-id": "export-run"}
    first = {
        "model": "human",
        "max_tokens": 100,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "Weather in Oslo, then click save."}],
        "tools": [WEATHER, COMPUTER],
    }
    asked = background(client.messages.create, **first, extra_headers=session)
    task = reviewer.wait_for_task(lambda t: t["session"] == "export-run")
    reviewer.answer(
        task["id"],
        content="Checking.",
        tool_calls=[{"name": "get_weather", "arguments": {"city": "Oslo"}}],
    )
    message = asked.result(timeout=10)
    shot = base64.b64encode(png(640, 480, 90)).decode()
    use = message.content[1]
    second = {
        **first,
        "messages": [
            *first["messages"],
            {
                "role": "assistant",
                "content": [block.model_dump(exclude_none=True) for block in message.content],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": use.id,  # type: ignore[union-attr]
                        "content": [
                            {"type": "text", "text": "3 C"},
                            {
                                "type": "image",
                                "source": {
                                    "type": "base64",
                                    "media_type": "image/png",
                                    "data": shot,
                                },
                            },
                        ],
                    }
                ],
            },
        ],
    }
    asked = background(client.messages.create, **second, extra_headers=session)
    task2 = reviewer.wait_for_task(lambda t: t["follows"] == task["id"])
    reviewer.answer(
        task2["id"], content="3 C.", computer_actions=[{"type": "click", "x": 10, "y": 20}]
    )
    asked.result(timeout=10)
    upstream.plan(Step(content=[{"type": "text", "text": "Paris is in Germany."}]))
    reviewed = {
        "model": "claude-reviewed",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "Where is Paris?"}],
    }
    asked = background(client.messages.create, **reviewed)
    task3 = reviewer.wait_for_task(lambda t: t["model"] == "claude-reviewed")
    reviewer.answer(task3["id"], content="Paris is in France.")
    asked.result(timeout=10)
    return {"first": first, "second": second, "ids": [task["id"], task2["id"], task3["id"]]}


def export(gateway: Gateway, query: str) -> list[dict]:
    with urllib.request.urlopen(f"{gateway.url}/api/export?{query}", timeout=10) as reply:
        return [json.loads(line) for line in reply.read().splitlines() if line.strip()]


def test_sft_lines_are_openai_chat(exported: tuple[Gateway, dict]) -> None:
    gateway, _ = exported
    lines = export(gateway, "format=sft&model=human")
    assert len(lines) == 2, "".join(gateway.output[-5:])
    first, second = lines
    MESSAGES.validate_python(second["messages"])
    TOOLS.validate_python(second["tools"])
    roles = [message["role"] for message in second["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "user", "assistant"]
    call = second["messages"][2]["tool_calls"][0]
    assert (call["function"]["name"], json.loads(call["function"]["arguments"])) == (
        "get_weather",
        {"city": "Oslo"},
    )
    assert second["messages"][3]["content"] == "3 C"
    assert second["messages"][4]["content"][0]["type"] == "image_url"  # the screenshot
    answer = second["messages"][-1]
    assert answer["content"] == "3 C."
    click = answer["tool_calls"][0]["function"]
    assert click["name"] == "computer"
    assert json.loads(click["arguments"]) == {"action": "click", "button": "left", "x": 10, "y": 20}
    assert first["messages"][-1]["tool_calls"][0]["function"]["name"] == "get_weather"


def test_dpo_and_eval_lines_from_a_reviewed_hybrid_answer(exported: tuple[Gateway, dict]) -> None:
    gateway, _ = exported
    [dpo] = export(gateway, "format=dpo")
    MESSAGES.validate_python(dpo["input"]["messages"])
    assert dpo["preferred_output"][0]["content"] == "Paris is in France."
    assert dpo["non_preferred_output"][0]["content"] == "Paris is in Germany."
    [evaluated] = export(gateway, "format=eval")
    assert evaluated["verdict"] == "edited"
    assert evaluated["model_answer"]["content"] == "Paris is in Germany."


def test_trajectory_and_records(exported: tuple[Gateway, dict]) -> None:
    gateway, made = exported
    [trajectory] = [t for t in export(gateway, "format=trajectory") if t["session"] == "export-run"]
    assert [step["task_id"] for step in trajectory["steps"]] == made["ids"][:2]
    records = export(gateway, "format=records&model=human")
    assert [record["id"] for record in records] == made["ids"][:2]
    assert records[1]["api"] == "chat.completions"
    assert records[1]["request"]["messages"][0] == {"role": "system", "content": "Be brief."}
    original = records[1]["original"]  # the client's own Messages request, as sent
    assert original["messages"][2]["content"][0]["type"] == "tool_result"
    assert original["tools"][1]["type"] == "computer_20250124"
