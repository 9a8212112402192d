"""Structured outputs and refusals answered by a person, as the client libraries see them.

The client asks for JSON (``response_format`` / ``text.format``, or a pydantic model
through the SDK's ``.parse()`` and LangChain's ``with_structured_output``); the task
shows the format, the gateway refuses answers that do not fit with a 422 naming the
field, and the JSON reaches the client as a model's message text. Every body is
validated with the SDK's own types.
"""

from __future__ import annotations

import json
import uuid

import openai
import pytest
from harness import openai_client, run_gateway, sse_payloads
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import BaseModel, TypeAdapter
from reviewer_client import background

CONFIG = """
[models.desk]
route = "human"
"""

completions = TypeAdapter(ChatCompletion)
chunks = TypeAdapter(ChatCompletionChunk)
responses = TypeAdapter(Response)
stream_events = TypeAdapter(ResponseStreamEvent)


class Person(BaseModel):
    name: str
    age: int


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    with run_gateway(tmp_path_factory.mktemp("structured"), CONFIG) as gateway:
        yield gateway


def prompt(tag: str) -> str:
    return f"{tag} {uuid.uuid4()}"


def messages(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def test_chat_parse_gets_the_persons_json_as_parsed(gateway, reviewer):
    text = prompt("who")
    client = openai_client(gateway)
    reply = background(
        client.chat.completions.with_raw_response.parse,
        model="human",
        messages=messages(text),
        response_format=Person,
    )
    summary = reviewer.wait_for_task(lambda t: t["preview"] == text)
    task = reviewer.task(summary["id"])
    assert task["output_format"]["type"] == "json_schema"
    assert task["output_format"]["name"] == "Person"
    assert task["output_format"]["strict"] is True
    assert task["output_format"]["schema"]["required"] == ["name", "age"]
    answered = reviewer.answer(task["id"], content={"name": "Ada", "age": 36})
    assert answered.status == 200, answered.body
    raw = reply.result(timeout=10)
    body = raw.http_response.json()
    completions.validate_python(body)
    message = body["choices"][0]["message"]
    assert isinstance(message["content"], str)
    assert json.loads(message["content"]) == {"name": "Ada", "age": 36}
    assert message["refusal"] is None
    parsed = raw.parse().choices[0].message
    assert parsed.parsed == Person(name="Ada", age=36)


def test_chat_stream_parse(gateway, reviewer):
    text = prompt("who streaming")
    client = openai_client(gateway)

    def stream():
        seen = []
        with client.chat.completions.stream(
            model="human",
            messages=messages(text),
            response_format=Person,
            stream_options={"include_usage": True},
        ) as stream:
            for event in stream:
                if event.type == "chunk":
                    seen.append(chunks.validate_python(event.chunk.model_dump()))
            return seen, stream.get_final_completion()

    reply = background(stream)
    task = reviewer.wait_for_task(lambda t: t["preview"] == text)
    name = "Grace Hopper, rear admiral of the United States Navy"  # > one 64-char delta
    answer = json.dumps({"name": name, "age": 85})
    assert reviewer.answer(task["id"], content=answer).status == 200
    seen, final = reply.result(timeout=10)
    assert len(seen) > 3  # role, content deltas, finish, usage
    streamed = "".join(c.choices[0].delta.content or "" for c in seen if c.choices)
    assert streamed == answer  # a string answer goes out exactly as sent
    completions.validate_python(final.model_dump(exclude={"choices": {0: {"message": "parsed"}}}))
    assert final.choices[0].message.parsed == Person(name=name, age=85)


def test_responses_parse_gets_output_parsed(gateway, reviewer):
    text = prompt("who responses")
    client = openai_client(gateway)
    reply = background(
        client.responses.with_raw_response.parse,
        model="human",
        input=text,
        text_format=Person,
    )
    summary = reviewer.wait_for_task(lambda t: t["preview"] == text)
    task = reviewer.task(summary["id"])
    assert task["output_format"]["name"] == "Person" and task["output_format"]["strict"]
    assert reviewer.answer(task["id"], content='{"name": "Ada", "age": 36}').status == 200
    raw = reply.result(timeout=10)
    body = responses.validate_python(raw.http_response.json())
    assert body.output_text == '{"name": "Ada", "age": 36}'
    assert body.text.format.type == "json_schema"  # the request's format, echoed
    assert raw.parse().output_parsed == Person(name="Ada", age=36)


def test_responses_stream_parse(gateway, reviewer):
    text = prompt("who responses streaming")
    client = openai_client(gateway)

    def stream():
        kinds = []
        with client.responses.stream(model="human", input=text, text_format=Person) as stream:
            for event in stream:
                stream_events.validate_python(event.model_dump(by_alias=True, warnings=False))
                kinds.append(event.type)
            return kinds, stream.get_final_response()

    reply = background(stream)
    task = reviewer.wait_for_task(lambda t: t["preview"] == text)
    assert reviewer.answer(task["id"], content={"name": "Lin", "age": 7}).status == 200
    kinds, final = reply.result(timeout=10)
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert "response.output_text.delta" in kinds
    assert final.output_parsed == Person(name="Lin", age=7)
    assert json.loads(final.output_text) == {"name": "Lin", "age": 7}


def test_a_nonconforming_answer_gets_422_and_the_task_stays_open(gateway, reviewer):
    text = prompt("who strictly")
    client = openai_client(gateway)
    reply = background(
        client.chat.completions.parse,
        model="human",
        messages=messages(text),
        response_format=Person,
    )
    task_id = reviewer.wait_for_task(lambda t: t["preview"] == text)["id"]
    bad = [
        ("not json at all", "content"),
        ({"name": 5, "age": 3}, "content.name"),  # the schema's types
        ('{"name": "Ada"}', "content"),  # every property required
        ({"name": "Ada", "age": 36, "extra": 1}, "content"),  # strict: no other keys
        ({"name": "Ada", "age": "36"}, "content.age"),
    ]
    for content, param in bad:
        refused = reviewer.answer(task_id, content=content)
        assert refused.status == 422, (content, refused.body)
        assert refused.error["param"] == param, (content, refused.body)
        assert refused.error["message"].startswith(param)
        assert reviewer.task(task_id)["status"] in ("pending", "claimed")
    assert not reply.done()
    assert reviewer.answer(task_id, content={"name": "Ada", "age": 36}).status == 200
    assert reply.result(timeout=10).choices[0].message.parsed == Person(name="Ada", age=36)


def test_a_schema_without_strict_is_read_as_written(gateway, reviewer):
    text = prompt("loose")
    schema = {"type": "object", "properties": {"name": {"type": "string"}}}
    response_format = {"type": "json_schema", "json_schema": {"name": "loose", "schema": schema}}
    client = openai_client(gateway)
    reply = background(
        client.chat.completions.create,
        model="human",
        messages=messages(text),
        response_format=response_format,
    )
    task_id = reviewer.wait_for_task(lambda t: t["preview"] == text)["id"]
    assert reviewer.task(task_id)["output_format"]["strict"] is False
    assert reviewer.answer(task_id, content={"name": 1}).status == 422
    assert reviewer.answer(task_id, content={"other": 1}).status == 200
    assert json.loads(reply.result(timeout=10).choices[0].message.content) == {"other": 1}


def test_json_object_takes_any_json_and_only_json(gateway, reviewer):
    text = prompt("json mode")
    client = openai_client(gateway)
    reply = background(
        client.responses.create,
        model="human",
        input=text,
        text={"format": {"type": "json_object"}},
    )
    task_id = reviewer.wait_for_task(lambda t: t["preview"] == text)["id"]
    assert reviewer.task(task_id)["output_format"] == {"type": "json_object"}
    refused = reviewer.answer(task_id, content="{'single': 'quotes'}")
    assert refused.status == 422 and refused.error["param"] == "content"
    assert "not valid JSON" in refused.error["message"]
    assert reviewer.answer(task_id, content='{"ok": true}').status == 200
    response = responses.validate_python(reply.result(timeout=10).model_dump(by_alias=True))
    assert response.output_text == '{"ok": true}'


def test_a_text_request_takes_a_string_not_an_object(gateway, reviewer):
    text = prompt("plain")
    reply = background(
        openai_client(gateway).chat.completions.create, model="human", messages=messages(text)
    )
    task_id = reviewer.wait_for_task(lambda t: t["preview"] == text)["id"]
    assert reviewer.task(task_id)["output_format"] is None
    refused = reviewer.answer(task_id, content={"a": 1})
    assert refused.status == 422 and refused.error["param"] == "content"
    assert reviewer.answer(task_id, content='{"a": 1}').status == 200  # a string is text
    assert reply.result(timeout=10).choices[0].message.content == '{"a": 1}'


def test_an_invalid_schema_is_a_400_at_the_door(gateway):
    client = openai_client(gateway)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="human",
            messages=messages("x"),
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "bad", "schema": {"type": "nonsense"}},
            },
        )
    assert caught.value.body["param"] == "response_format.json_schema.schema"


def test_langchain_with_structured_output(gateway, reviewer):
    from langchain_openai import ChatOpenAI

    text = prompt("langchain")
    model = ChatOpenAI(
        model="human", base_url=gateway.base_url, api_key="client-key", max_retries=0
    )
    structured = model.with_structured_output(Person, method="json_schema")
    reply = background(structured.invoke, text)
    task = reviewer.task(reviewer.wait_for_task(lambda t: t["preview"] == text)["id"])
    assert task["output_format"]["name"] == "Person"
    assert reviewer.answer(task["id"], content="not json").status == 422
    assert reviewer.answer(task["id"], content={"name": "Ada", "age": 36}).status == 200
    assert reply.result(timeout=10) == Person(name="Ada", age=36)


# -- refusals ----------------------------------------------------------------------------

REFUSAL = "I can't help with that, and here is a reason long enough to take two deltas."


def test_chat_refusal_through_parse(gateway, reviewer):
    text = prompt("refuse chat")
    client = openai_client(gateway)
    reply = background(
        client.chat.completions.with_raw_response.parse,
        model="human",
        messages=messages(text),
        response_format=Person,
    )
    task_id = reviewer.wait_for_task(lambda t: t["preview"] == text)["id"]
    alone = reviewer.answer(task_id, refusal=REFUSAL, content={"name": "A", "age": 1})
    assert alone.status == 422 and alone.error["param"] == "refusal"
    assert reviewer.answer(task_id, refusal="  ").status == 422
    assert reviewer.answer(task_id, refusal=REFUSAL).status == 200
    raw = reply.result(timeout=10)
    body = completions.validate_python(raw.http_response.json())
    choice = body.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.content is None and choice.message.refusal == REFUSAL
    parsed = raw.parse().choices[0].message
    assert parsed.parsed is None and parsed.refusal == REFUSAL
    assert reviewer.task(task_id)["answer"] == {"refusal": REFUSAL}


def test_chat_refusal_streamed(gateway, reviewer):
    text = prompt("refuse chat streaming")
    client = openai_client(gateway)

    def stream():
        with client.chat.completions.stream(
            model="human", messages=messages(text), response_format=Person
        ) as stream:
            kinds = [event.type for event in stream]
            return kinds, stream.get_final_completion()

    reply = background(stream)
    task_id = reviewer.wait_for_task(lambda t: t["preview"] == text)["id"]
    assert reviewer.answer(task_id, refusal=REFUSAL).status == 200
    kinds, final = reply.result(timeout=10)
    assert "refusal.delta" in kinds and "refusal.done" in kinds and "content.delta" not in kinds
    message = final.choices[0].message
    assert message.refusal == REFUSAL and message.parsed is None and message.content is None

    text = prompt("refuse chat wire")
    body = {"model": "human", "messages": messages(text)}
    wire = background(sse_payloads, gateway, "/chat/completions", body)
    task_id = reviewer.wait_for_task(lambda t: t["preview"] == text)["id"]
    assert reviewer.answer(task_id, refusal=REFUSAL).status == 200
    payloads = [chunks.validate_python(p) for p in wire.result(timeout=10)]
    deltas = [p.choices[0].delta for p in payloads]
    assert deltas[0].role == "assistant" and deltas[0].content is None
    assert "".join(d.refusal or "" for d in deltas) == REFUSAL
    assert len([d for d in deltas if d.refusal]) == 2
    assert payloads[-1].choices[0].finish_reason == "stop"


def test_responses_refusal_through_parse(gateway, reviewer):
    text = prompt("refuse responses")
    client = openai_client(gateway)
    reply = background(
        client.responses.with_raw_response.parse, model="human", input=text, text_format=Person
    )
    task_id = reviewer.wait_for_task(lambda t: t["preview"] == text)["id"]
    assert reviewer.answer(task_id, refusal=REFUSAL).status == 200
    raw = reply.result(timeout=10)
    body = responses.validate_python(raw.http_response.json())
    (message,) = body.output
    assert message.type == "message" and message.status == "completed"
    assert [part.model_dump() for part in message.content] == [
        {"type": "refusal", "refusal": REFUSAL}
    ]
    parsed = raw.parse()
    assert parsed.output_parsed is None and parsed.output_text == ""


def test_responses_refusal_streamed(gateway, reviewer):
    text = prompt("refuse responses streaming")
    client = openai_client(gateway)

    def stream():
        with client.responses.stream(model="human", input=text, text_format=Person) as stream:
            return [event.type for event in stream], stream.get_final_response()

    reply = background(stream)
    task_id = reviewer.wait_for_task(lambda t: t["preview"] == text)["id"]
    assert reviewer.answer(task_id, refusal=REFUSAL).status == 200
    kinds, final = reply.result(timeout=10)
    assert final.output_parsed is None
    assert final.output[0].content[0].refusal == REFUSAL

    text = prompt("refuse responses wire")
    wire = background(sse_payloads, gateway, "/responses", {"model": "human", "input": text})
    task_id = reviewer.wait_for_task(lambda t: t["preview"] == text)["id"]
    assert reviewer.answer(task_id, refusal=REFUSAL).status == 200
    payloads = [stream_events.validate_python(p) for p in wire.result(timeout=10)]
    kinds = [p.type for p in payloads]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.refusal.delta",
        "response.refusal.delta",
        "response.refusal.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [p.sequence_number for p in payloads] == list(range(len(payloads)))
    assert payloads[3].part.type == "refusal" and payloads[3].part.refusal == ""
    assert "".join(p.delta for p in payloads[4:6]) == REFUSAL
    assert payloads[6].refusal == REFUSAL


def test_a_strict_tools_arguments_follow_strict_mode(gateway, reviewer):
    text = prompt("strict tool")
    client = openai_client(gateway)
    reply = background(
        client.chat.completions.parse,
        model="human",
        messages=messages(text),
        tools=[openai.pydantic_function_tool(Person, name="save_person")],
    )
    task_id = reviewer.wait_for_task(lambda t: t["preview"] == text)["id"]
    partial = reviewer.answer(
        task_id, tool_calls=[{"name": "save_person", "arguments": {"name": "A"}}]
    )
    assert partial.status == 422 and partial.error["param"] == "tool_calls.0.arguments"
    full = {"name": "save_person", "arguments": {"name": "Ada", "age": 36}}
    assert reviewer.answer(task_id, tool_calls=[full]).status == 200
    call = reply.result(timeout=10).choices[0].message.tool_calls[0]
    assert call.function.parsed_arguments == Person(name="Ada", age=36)


@pytest.mark.parametrize("model_class", ["OpenAIChatCompletionsModel", "OpenAIResponsesModel"])
def test_an_agents_sdk_output_type(gateway, reviewer, model_class):
    import agents

    agents.set_tracing_disabled(True)
    client = openai.AsyncOpenAI(base_url=gateway.base_url, api_key="client-key", max_retries=0)
    agent = agents.Agent(
        name="Clerk",
        instructions="Describe the person.",
        output_type=Person,
        model=getattr(agents, model_class)(model="human", openai_client=client),
    )
    text = prompt(f"agent output {model_class}")
    run = background(agents.Runner.run_sync, agent, text)
    task = reviewer.task(reviewer.wait_for_task(lambda t: t["preview"] == text)["id"])
    assert task["output_format"]["type"] == "json_schema" and task["output_format"]["strict"]
    assert reviewer.answer(task["id"], content={"name": "Ada"}).status == 422
    assert reviewer.answer(task["id"], content={"name": "Ada", "age": 36}).status == 200
    assert run.result(timeout=20).final_output == Person(name="Ada", age=36)
