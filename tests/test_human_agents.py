"""An OpenAI Agents SDK agent whose model is ``human``.

The person answers the agent's first turn with a function call, the agent runs
the tool, and the person answers the second turn with the final text.
"""

from __future__ import annotations

import asyncio
import json

import agents
import openai
import pytest
from agents import Agent, OpenAIChatCompletionsModel, OpenAIResponsesModel, Runner, function_tool
from harness import run_gateway
from reviewer_client import AsyncReviewer

agents.set_tracing_disabled(True)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    with run_gateway(tmp_path_factory.mktemp("agents"), "") as gateway:
        yield gateway


@pytest.mark.parametrize("model_class", [OpenAIChatCompletionsModel, OpenAIResponsesModel])
async def test_an_agent_whose_model_is_a_person(gateway, model_class):
    looked_up: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        looked_up.append(city)
        return f"18C and sunny in {city}"

    client = openai.AsyncOpenAI(base_url=gateway.base_url, api_key="agent-key", max_retries=0)
    agent = Agent(
        name="Assistant",
        instructions="Answer weather questions with the get_weather tool.",
        tools=[get_weather],
        model=model_class(model="human", openai_client=client),
    )
    question = f"What is the weather in Paris? ({model_class.__name__})"
    run = asyncio.ensure_future(Runner.run(agent, question))
    async with AsyncReviewer(gateway.url, "alice") as person:
        # Turn 1: the person sees the question and the tool, and calls it.
        first = await person.wait_for_task(lambda t: t["preview"] == question)
        full = await person.task(first["id"])
        assert [tool["name"] for tool in full["tools"]] == ["get_weather"]
        assert full["tools"][0]["parameters"]["properties"]["city"]["type"] == "string"
        call = {"name": "get_weather", "arguments": {"city": "Paris"}}
        assert (await person.answer(first["id"], tool_calls=[call])).status == 200

        # Turn 2: the agent ran the tool; the person sees its output and answers.
        second = await person.wait_for_task(
            lambda t: t["id"] != first["id"] and t["session"] == first["session"]
        )
        request = (await person.task(second["id"]))["request"]
        assert "18C and sunny in Paris" in json.dumps(request)
        answered = await person.answer(second["id"], content="It is 18C and sunny in Paris.")
        assert answered.status == 200
        result = await asyncio.wait_for(run, 20)
    await client.close()
    assert looked_up == ["Paris"]
    assert result.final_output == "It is 18C and sunny in Paris."
