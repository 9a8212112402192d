"""Forwarding when things go wrong: the gateway's own errors, upstream errors,
retries before the first byte, and fallbacks.

The SDK clients here never retry (``max_retries=0``), so every retry the fakes
see is the gateway's. The gateway's own error bodies are OpenAI's envelope.
"""

from __future__ import annotations

import httpx2
import openai
import orjson
import pytest
from fake_upstream import JSON_HEADERS, MAX_BODY_BYTES, MESSAGES, Forwarding, Step
from fake_upstream import fresh as fresh  # autouse: fakes scripted afresh per test
from fake_upstream import fwd as fwd  # the module-scoped gateway fixture
from openai.types import ErrorObject
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

CHAT = TypeAdapter(ChatCompletion)
CHUNK = TypeAdapter(ChatCompletionChunk)
EVENT = TypeAdapter(ResponseStreamEvent)
ERROR = TypeAdapter(ErrorObject)


def envelope(error: openai.APIStatusError) -> ErrorObject:
    """The ``error`` object of a gateway-made reply, checked against the SDK's type."""
    whole = orjson.loads(error.response.content)
    assert set(whole) == {"error"}
    assert set(whole["error"]) == {"message", "type", "param", "code"}
    return ERROR.validate_python(whole["error"])


def post_bytes(client: openai.OpenAI, content, path: str = "/chat/completions") -> None:
    client.post(path, cast_to=httpx2.Response, content=content, options={"headers": JSON_HEADERS})


# -- the gateway's own errors -------------------------------------------------


@pytest.mark.parametrize("body", [b'{"model": "small", "messages": [', b"[1, 2]", b""])
def test_malformed_json_is_400(fwd: Forwarding, body: bytes) -> None:
    with pytest.raises(openai.BadRequestError) as bad:
        post_bytes(fwd.client(), body)
    assert envelope(bad.value).type == "invalid_request_error"
    assert fwd.alpha.received == []


async def test_missing_model_is_400(fwd: Forwarding) -> None:
    async with fwd.async_client() as client:
        with pytest.raises(openai.BadRequestError) as bad:
            await client.post("/responses", cast_to=httpx2.Response, body={"input": "hi"})
    assert envelope(bad.value).param == "model"


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_unknown_model_is_404_model_not_found(fwd: Forwarding, api: str) -> None:
    client = fwd.client()
    with pytest.raises(openai.NotFoundError) as missing:
        if api == "chat":
            client.chat.completions.create(model="no-such-model", messages=MESSAGES)
        else:
            client.responses.create(model="no-such-model", input="hi")
    error = envelope(missing.value)
    assert error.code == "model_not_found"
    assert missing.value.code == "model_not_found"


@pytest.mark.parametrize("key", [None, "sk-wrong"], ids=["missing", "wrong"])
async def test_missing_or_wrong_client_key_is_401(fwd: Forwarding, key: str | None) -> None:
    # Without a key the SDK is told to send no Authorization header at all.
    headers = {"Authorization": openai.Omit()} if key is None else None
    async with fwd.async_client(key=key or "unused") as client:
        with pytest.raises(openai.AuthenticationError) as refused:
            await client.chat.completions.create(
                model="small", messages=MESSAGES, extra_headers=headers
            )
        with pytest.raises(openai.AuthenticationError):
            await client.responses.create(
                model="small", input="hi", stream=True, extra_headers=headers
            )
    assert envelope(refused.value).type == "authentication_error"
    assert fwd.alpha.received == []


def test_any_configured_client_key_is_accepted(fwd: Forwarding) -> None:
    completion = fwd.client(key="sk-client-other").chat.completions.create(
        model="small", messages=MESSAGES
    )
    assert completion.choices[0].message.content == "hello from alpha"


def test_body_over_the_limit_is_413(fwd: Forwarding) -> None:
    big = "x" * MAX_BODY_BYTES
    with pytest.raises(openai.APIStatusError) as too_big:
        fwd.client().chat.completions.create(
            model="small", messages=[{"role": "user", "content": big}]
        )
    assert too_big.value.status_code == 413
    envelope(too_big.value)
    assert fwd.alpha.received == []


def test_chunked_body_over_the_limit_is_413(fwd: Forwarding) -> None:
    # No Content-Length: the limit is enforced while the body streams in.
    def pieces():
        yield b'{"model": "small", "messages": [{"role": "user", "content": "'
        for _ in range(MAX_BODY_BYTES // 4096 + 1):
            yield b"x" * 4096
        yield b'"}]}'

    with pytest.raises(openai.APIStatusError) as too_big:
        post_bytes(fwd.client(), pieces())
    assert too_big.value.status_code == 413
    assert fwd.alpha.received == []


def test_body_just_under_the_limit_goes_through(fwd: Forwarding) -> None:
    head = b'{"model": "plain", "messages": [{"role": "user", "content": "'
    tail = b'"}]}'
    body = head + b"x" * (MAX_BODY_BYTES - len(head) - len(tail)) + tail
    assert len(body) == MAX_BODY_BYTES
    post_bytes(fwd.client(), body)
    assert fwd.alpha.last.body == body


def test_unreachable_upstream_is_502(fwd: Forwarding) -> None:
    with pytest.raises(openai.InternalServerError) as failed:
        fwd.client().chat.completions.create(model="gone", messages=MESSAGES)
    assert failed.value.status_code == 502
    assert envelope(failed.value).code == "upstream_unreachable"
    assert failed.value.response.headers["x-gateway-route"] == "forward"


async def test_upstream_timeout_is_504_and_not_retried(fwd: Forwarding) -> None:
    fwd.beta.plan(Step(delay_s=5))  # the "slow" upstream allows 0.5 s of silence
    async with fwd.async_client() as client:
        with pytest.raises(openai.InternalServerError) as late:
            await client.chat.completions.create(model="slow", messages=MESSAGES)
    assert late.value.status_code == 504
    assert envelope(late.value).code == "upstream_timeout"
    assert len(fwd.beta.received) == 1


# -- upstream errors are relayed ------------------------------------------------


def test_upstream_client_error_is_relayed_as_is_and_not_retried(fwd: Forwarding) -> None:
    body = b'{"error": {"message": "context too long", "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}'  # noqa: E501
    fwd.alpha.plan(Step(status=400, body=body, headers={"x-request-id": "req_upstream_1"}))
    with pytest.raises(openai.BadRequestError) as bad:
        fwd.client().chat.completions.create(model="small", messages=MESSAGES)
    assert bad.value.response.content == body
    assert bad.value.code == "context_length_exceeded"
    assert bad.value.request_id == "req_upstream_1"
    assert len(fwd.alpha.received) == 1


def test_upstream_server_error_is_relayed_after_the_retries(fwd: Forwarding) -> None:
    fwd.alpha.plan(*[Step(status=503, headers={"retry-after-ms": "0"})] * 3)
    with pytest.raises(openai.InternalServerError) as failed:
        fwd.client().chat.completions.create(model="small", messages=MESSAGES)
    assert failed.value.status_code == 503
    assert failed.value.code == "fake_503"  # the upstream's own body
    assert len(fwd.alpha.received) == 3  # retries = 2


def test_rate_limit_longer_than_allowed_is_relayed_at_once(fwd: Forwarding) -> None:
    fwd.alpha.plan(Step(status=429, headers={"retry-after": "60"}))  # max_retry_wait_s = 5
    with pytest.raises(openai.RateLimitError) as limited:
        fwd.client().chat.completions.create(model="small", messages=MESSAGES)
    assert limited.value.response.headers["retry-after"] == "60"
    assert limited.value.code == "fake_429"
    assert len(fwd.alpha.received) == 1


# -- retries before the first byte ----------------------------------------------


def test_retries_429_honouring_retry_after_then_5xx_then_success(fwd: Forwarding) -> None:
    fwd.alpha.plan(
        Step(status=429, headers={"retry-after": "1"}),
        Step(status=502, headers={"retry-after-ms": "0"}),
    )
    raw = fwd.client().chat.completions.with_raw_response.create(model="small", messages=MESSAGES)
    assert CHAT.validate_json(raw.http_response.content).choices[0].message.content
    first, second, third = fwd.alpha.wait_for_requests(3)
    assert second.at - first.at >= 0.95  # Retry-After: 1 was waited for
    assert first.body == second.body == third.body


async def test_stream_is_retried_before_its_first_byte(fwd: Forwarding) -> None:
    fwd.alpha.plan(Step(status=500, headers={"retry-after": "0"}))
    async with fwd.async_client() as client:
        stream = await client.responses.create(model="small", input="hi", stream=True)
        events = [EVENT.validate_python(event.to_dict()) async for event in stream]
    assert events[-1].type == "response.completed"
    assert len(fwd.alpha.received) == 2


def test_dropped_connection_is_retried(fwd: Forwarding) -> None:
    fwd.alpha.plan(Step(drop=True))
    completion = fwd.client().chat.completions.create(model="small", messages=MESSAGES)
    assert CHAT.validate_python(completion.to_dict()).choices[0].message.content
    assert len(fwd.alpha.received) == 2


def test_dropped_connection_without_retries_is_502(fwd: Forwarding) -> None:
    fwd.beta.plan(Step(drop=True))  # "slow" is on beta's server with retries = 0
    with pytest.raises(openai.InternalServerError) as failed:
        fwd.client().chat.completions.create(model="slow", messages=MESSAGES)
    assert failed.value.status_code == 502


# -- fallbacks ------------------------------------------------------------------


def test_fallback_answers_when_the_model_fails_before_its_first_byte(fwd: Forwarding) -> None:
    fwd.beta.plan(Step(status=500))
    raw = fwd.client().chat.completions.with_raw_response.create(model="primary", messages=MESSAGES)
    completion = CHAT.validate_json(raw.http_response.content)
    assert completion.choices[0].message.content == "hello from alpha"
    assert fwd.beta.last.json()["model"] == "beta-model"
    assert fwd.alpha.last.json()["model"] == "alpha-fallback"  # the fallback's upstream name


async def test_fallback_serves_a_stream(fwd: Forwarding) -> None:
    fwd.beta.plan(Step(status=503))
    async with fwd.async_client() as client:
        stream = await client.chat.completions.create(
            model="primary", messages=MESSAGES, stream=True
        )
        chunks = [CHUNK.validate_python(chunk.to_dict()) async for chunk in stream]
    assert chunks[1].choices[0].delta.content == "hello from alpha"
    assert chunks[0].model == "alpha-fallback"


def test_fallback_after_an_unreachable_upstream(fwd: Forwarding) -> None:
    completion = fwd.client().chat.completions.create(model="gone-or-small", messages=MESSAGES)
    assert completion.choices[0].message.content == "hello from alpha"
    assert fwd.alpha.last.json()["model"] == "qwen2.5"


def test_fallback_after_an_upstream_timeout(fwd: Forwarding) -> None:
    fwd.beta.plan(Step(delay_s=5))  # the "slow" upstream allows 0.5 s of silence
    completion = fwd.client().chat.completions.create(model="slow-or-small", messages=MESSAGES)
    assert completion.choices[0].message.content == "hello from alpha"
    assert len(fwd.beta.received) == 1  # timed out once, not retried
    assert fwd.alpha.last.json()["model"] == "qwen2.5"


def test_when_every_model_fails_the_last_failure_is_relayed(fwd: Forwarding) -> None:
    fwd.beta.plan(Step(status=500))
    fwd.alpha.plan(*[Step(status=503, headers={"retry-after": "0"})] * 3)
    with pytest.raises(openai.InternalServerError) as failed:
        fwd.client().chat.completions.create(model="primary", messages=MESSAGES)
    assert failed.value.status_code == 503
    assert failed.value.code == "fake_503"


def test_upstream_client_error_is_not_a_reason_to_fall_back(fwd: Forwarding) -> None:
    fwd.beta.plan(Step(status=400))
    with pytest.raises(openai.BadRequestError):
        fwd.client().chat.completions.create(model="primary", messages=MESSAGES)
    assert fwd.alpha.received == []


def test_no_fallback_once_the_stream_has_started(fwd: Forwarding) -> None:
    fwd.beta.plan(Step(cut=True))  # first chunk, then the connection dies
    stream = fwd.client().chat.completions.create(model="primary", messages=MESSAGES, stream=True)
    chunks = iter(stream)
    CHUNK.validate_python(next(chunks).to_dict())
    with pytest.raises(openai.APIConnectionError):  # the SDK's word for a broken stream
        list(chunks)
    assert fwd.alpha.received == []
