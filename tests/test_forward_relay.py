"""Forwarding: what a client with the ``openai`` SDK gets through the gateway.

One gateway process in front of two fake upstreams serves the whole module;
each test scripts the fakes afresh. Every body is checked with the SDK's types.
"""

from __future__ import annotations

import json
import urllib.request

import httpx2
import openai
import orjson
import pytest
from fake_upstream import (
    ALPHA_KEY,
    BETA_KEY,
    CLIENT_KEY,
    FORWARDING_MODELS,
    JSON_HEADERS,
    MESSAGES,
    Forwarding,
    Step,
)
from fake_upstream import fresh as fresh  # autouse: fakes scripted afresh per test
from fake_upstream import fwd as fwd  # the module-scoped gateway fixture
from harness import wait_until
from openai.types import Model
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

CHAT = TypeAdapter(ChatCompletion)
CHUNK = TypeAdapter(ChatCompletionChunk)
RESPONSE = TypeAdapter(Response)
EVENT = TypeAdapter(ResponseStreamEvent)
MODEL = TypeAdapter(Model)


# -- chat completions ---------------------------------------------------------


def test_chat_completion_sync_is_relayed_byte_for_byte(fwd: Forwarding) -> None:
    raw = fwd.client().chat.completions.with_raw_response.create(model="small", messages=MESSAGES)
    completion = CHAT.validate_json(raw.http_response.content)
    assert raw.http_response.content == fwd.alpha.sent[-1]
    assert completion.choices[0].message.content == "hello from alpha"
    assert completion.model == "qwen2.5"  # the upstream's own answer, untouched
    assert raw.parse().choices[0].message.content == "hello from alpha"


def test_relayed_reply_has_one_of_each_server_header(fwd: Forwarding) -> None:
    for stream in (False, True):
        with fwd.client().chat.completions.with_streaming_response.create(
            model="small", messages=MESSAGES, stream=stream
        ) as reply:
            headers = reply.http_response.headers
            assert len(headers.get_list("date")) == 1
            assert len(headers.get_list("server")) == 1
            assert headers["x-gateway-route"] == "forward"


async def test_chat_completion_async(fwd: Forwarding) -> None:
    async with fwd.async_client() as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="plain", messages=MESSAGES
        )
    completion = CHAT.validate_json(raw.http_response.content)
    assert completion.model == "plain"
    assert fwd.alpha.last.json()["messages"] == MESSAGES


def test_chat_stream_sync(fwd: Forwarding) -> None:
    stream = fwd.client().chat.completions.create(model="small", messages=MESSAGES, stream=True)
    chunks = [CHUNK.validate_python(chunk.to_dict()) for chunk in stream]
    assert [c.choices[0].delta.content for c in chunks] == ["", "hello from alpha", None]
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_chat_stream_async_is_relayed_byte_for_byte(fwd: Forwarding) -> None:
    async with (
        fwd.async_client() as client,
        client.chat.completions.with_streaming_response.create(
            model="small", messages=MESSAGES, stream=True
        ) as reply,
    ):
        assert reply.headers["content-type"].startswith("text/event-stream")
        body = await reply.read()
    assert body == fwd.alpha.sent[-1]
    frames = [f for f in body.split(b"\n\n") if f]
    assert frames[-1] == b"data: [DONE]"
    for frame in frames[:-1]:
        CHUNK.validate_json(frame.removeprefix(b"data: "))


def test_chat_stream_is_not_buffered(fwd: Forwarding) -> None:
    """The client holds the first chunk while the upstream still withholds the second."""
    fwd.alpha.plan(Step(hold=True))
    stream = fwd.client().chat.completions.create(model="small", messages=MESSAGES, stream=True)
    chunks = iter(stream)
    first = CHUNK.validate_python(next(chunks).to_dict())
    assert fwd.alpha.holding, "the first chunk came only after the upstream sent the rest"
    assert first.choices[0].delta.role == "assistant"
    fwd.alpha.release()
    rest = [CHUNK.validate_python(chunk.to_dict()) for chunk in chunks]
    assert rest[0].choices[0].delta.content == "hello from alpha"


def test_client_leaving_a_stream_closes_the_upstream_stream(fwd: Forwarding) -> None:
    fwd.alpha.plan(Step(hold=True))
    stream = fwd.client().chat.completions.create(model="small", messages=MESSAGES, stream=True)
    next(iter(stream))
    stream.close()
    wait_until(lambda: fwd.alpha.abandoned == 1, 5, what="the upstream stream to be closed")


# -- responses ----------------------------------------------------------------


def test_response_sync(fwd: Forwarding) -> None:
    raw = fwd.client().responses.with_raw_response.create(model="small", input="Say hello")
    response = RESPONSE.validate_json(raw.http_response.content)
    assert raw.http_response.content == fwd.alpha.sent[-1]
    assert response.output_text == "hello from alpha"
    assert fwd.alpha.last.path == "/v1/responses"


async def test_response_async(fwd: Forwarding) -> None:
    async with fwd.async_client() as client:
        raw = await client.responses.with_raw_response.create(model="primary", input="hi")
    response = RESPONSE.validate_json(raw.http_response.content)
    assert response.output_text == "hello from beta"
    assert fwd.beta.last.json()["model"] == "beta-model"


def test_response_stream_sync(fwd: Forwarding) -> None:
    with fwd.client().responses.stream(model="small", input="Say hello") as stream:
        # The helper's events hold its own Parsed* subclasses: dump them without warnings.
        events = [EVENT.validate_python(event.to_dict(warnings=False)) for event in stream]
        final = stream.get_final_response()
    assert events[0].type == "response.created"
    assert events[-1].type == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert final.output_text == "hello from alpha"  # the completed event, validated above


async def test_response_stream_async_is_not_buffered(fwd: Forwarding) -> None:
    fwd.beta.plan(Step(hold=True))
    async with fwd.async_client() as client:
        stream = await client.responses.create(model="primary", input="hi", stream=True)
        events = stream.__aiter__()
        first = EVENT.validate_python((await anext(events)).to_dict())
        assert fwd.beta.holding, "the first event came only after the upstream sent the rest"
        assert first.type == "response.created"
        fwd.beta.release()
        rest = [EVENT.validate_python(event.to_dict()) async for event in events]
    assert rest[-1].type == "response.completed"
    assert rest[-1].response.output_text == "hello from beta"


def test_response_is_retrieved_from_the_upstream_that_made_it(fwd: Forwarding) -> None:
    client = fwd.client()
    made_by_alpha = client.responses.create(model="small", input="hi")
    made_by_beta = client.responses.create(model="primary", input="hi")
    for made, fake in ((made_by_alpha, fwd.alpha), (made_by_beta, fwd.beta)):
        raw = client.responses.with_raw_response.retrieve(made.id)
        got = RESPONSE.validate_json(raw.http_response.content)
        assert got.id == made.id
        assert got.output_text == made.output_text
        lookup = fake.last
        assert (lookup.method, lookup.path) == ("GET", f"/v1/responses/{made.id}")
        assert CLIENT_KEY not in json.dumps(lookup.headers)
    # Beta holds the second: the lookup went past the dead upstream and alpha's 404.
    assert fwd.beta.last.headers["authorization"] == f"Bearer {BETA_KEY}"


def test_response_lookup_reports_an_upstream_it_could_not_ask(fwd: Forwarding) -> None:
    # This client's id (made through the gateway), since gone from alpha behind the
    # gateway's back: nobody has it, but the dead upstream could not be asked.
    made = fwd.client().responses.create(model="small", input="Say hello")
    alpha = openai.OpenAI(base_url=fwd.alpha.url, api_key="x", max_retries=0)
    alpha.responses.delete(made.id)
    with pytest.raises(openai.InternalServerError) as failed:
        fwd.client().responses.retrieve(made.id)
    assert failed.value.status_code == 502
    assert failed.value.code == "upstream_unreachable"


def test_response_lookup_refuses_ids_that_are_not_plain(fwd: Forwarding) -> None:
    with pytest.raises(openai.NotFoundError):
        fwd.client().get("/responses/..%3Fx=1", cast_to=httpx2.Response)
    assert fwd.alpha.received == [] and fwd.beta.received == []


# -- what goes upstream -------------------------------------------------------


def post_bytes(fwd: Forwarding, body: bytes) -> httpx2.Response:
    """POST exact bytes to the chat endpoint through the SDK."""
    options = {"headers": JSON_HEADERS}
    return fwd.client().post(
        "/chat/completions", cast_to=httpx2.Response, content=body, options=options
    )


def test_only_model_is_rewritten_and_every_other_byte_is_kept(fwd: Forwarding) -> None:
    body = (
        b'{"messages": [{"role":"user","content":"caf\\u00e9 \xe2\x98\x95  two  spaces"}],\n'
        b'  "model" :  "small",  "temperature":0.50, "x_extra":{"n":[1,2.0e0,null]}}'
    )
    reply = fwd.client().post(
        "/chat/completions",
        cast_to=httpx2.Response,
        content=body,
        options={"headers": JSON_HEADERS},
    )
    CHAT.validate_json(reply.content)
    assert fwd.alpha.last.body == body.replace(b'"small"', b'"qwen2.5"')


def test_body_goes_upstream_untouched_when_the_name_is_the_same(fwd: Forwarding) -> None:
    body = b'{ "model":"plain" ,"messages":[{"role":"user","content":"x"}], "seed": 7 }'
    fwd.client().post(
        "/chat/completions",
        cast_to=httpx2.Response,
        content=body,
        options={"headers": JSON_HEADERS},
    )
    assert fwd.alpha.last.body == body


def test_model_named_again_inside_the_body_is_left_alone(fwd: Forwarding) -> None:
    data = {"model": "small", "messages": MESSAGES, "metadata": {"model": "small"}}
    fwd.client().post("/chat/completions", cast_to=httpx2.Response, body=data)
    assert fwd.alpha.last.json() == {**data, "model": "qwen2.5"}


def test_client_key_never_reaches_the_upstream_but_its_own_key_does(fwd: Forwarding) -> None:
    client = fwd.client(
        default_headers={"x-api-key": CLIENT_KEY, "api-key": CLIENT_KEY, "x-trace": "t-1"}
    )
    client.chat.completions.create(model="small", messages=MESSAGES)
    client.responses.create(model="primary", input="hi")
    client.chat.completions.create(model="slow", messages=MESSAGES)  # an upstream without a key
    alpha, beta_with_key, beta_without_key = fwd.alpha.received[0], *fwd.beta.received
    assert alpha.headers["authorization"] == f"Bearer {ALPHA_KEY}"
    assert alpha.headers["x-team"] == "agents"  # the upstream's configured extra header
    assert beta_with_key.headers["authorization"] == f"Bearer {BETA_KEY}"
    assert "authorization" not in beta_without_key.headers
    for seen in (alpha, beta_with_key, beta_without_key):
        assert CLIENT_KEY not in json.dumps(seen.headers)
        assert seen.headers["x-trace"] == "t-1"  # other client headers go through


# -- models, health -----------------------------------------------------------


def test_models_list_every_configured_model_in_openai_shape(fwd: Forwarding) -> None:
    client = fwd.client()
    raw = orjson.loads(client.models.with_raw_response.list().http_response.content)
    assert raw["object"] == "list"
    models = [MODEL.validate_python(item) for item in raw["data"]]
    assert {m.id for m in models} == FORWARDING_MODELS
    assert {m.id for m in client.models.list()} == FORWARDING_MODELS


async def test_model_retrieve_and_unknown_model(fwd: Forwarding) -> None:
    async with fwd.async_client() as client:
        for name in ("human", "small"):
            raw = await client.models.with_raw_response.retrieve(name)
            assert MODEL.validate_json(raw.http_response.content).id == name
        with pytest.raises(openai.NotFoundError) as missing:
            await client.models.retrieve("no-such-model")
    assert missing.value.code == "model_not_found"


def test_models_need_a_client_key(fwd: Forwarding) -> None:
    with pytest.raises(openai.AuthenticationError):
        fwd.client(key="sk-wrong").models.list()


def test_healthz_and_readyz(fwd: Forwarding) -> None:
    with urllib.request.urlopen(fwd.gateway.url + "/healthz", timeout=5) as reply:
        assert reply.status == 200
    with urllib.request.urlopen(fwd.gateway.url + "/readyz", timeout=5) as reply:
        assert reply.status == 200
        assert json.loads(reply.read())["ready"] is True
