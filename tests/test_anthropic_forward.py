"""The Anthropic door forwarding to Anthropic-format upstreams, through the real ``anthropic`` SDK.

One gateway process in front of two fake Anthropic upstreams (tests/fake_anthropic.py)
serves the module. Every body the gateway sends is checked with the SDK's types.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anthropic
import orjson
import pytest
from anthropic.types import Message, MessageTokensCount
from fake_anthropic import FakeAnthropic, Step
from harness import Gateway, closed_port, run_gateway

CLIENT_KEY = "client-key"
UPSTREAM_KEY = "sk-ant-upstream-secret"
BACKUP_KEY = "sk-ant-backup-secret"
MESSAGES = [{"role": "user", "content": "Say hello."}]


@dataclass
class Forwarding:
    gateway: Gateway
    main: FakeAnthropic
    backup: FakeAnthropic

    def client(self, **options) -> anthropic.Anthropic:
        options = {"api_key": CLIENT_KEY, "max_retries": 0, **options}
        return anthropic.Anthropic(base_url=self.gateway.url, **options)


@pytest.fixture(scope="module")
def fwd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Forwarding]:
    tmp_path: Path = tmp_path_factory.mktemp("anthropic-forward")
    with FakeAnthropic("main") as main, FakeAnthropic("backup") as backup, closed_port() as dead:
        config = f"""
[server]
max_body_mb = 1

[auth]
client_keys = ["{CLIENT_KEY}"]
backoff_after_failures = 3

[upstreams.main]
api = "anthropic"
base_url = "{main.url}/v1"
api_key = "{UPSTREAM_KEY}"
retries = 1

[upstreams.backup]
api = "anthropic"
base_url = "{backup.url}"
api_key = "{BACKUP_KEY}"
retries = 0

[upstreams.openai]
base_url = "http://127.0.0.1:{dead}/v1"

[models.claude-x]
upstream = "main"
upstream_model = "claude-sonnet-4-5"
fallbacks = ["claude-backup"]

[models.claude-backup]
upstream = "backup"

[models.gpt]
upstream = "openai"
"""
        with run_gateway(tmp_path, config) as gateway:
            yield Forwarding(gateway, main, backup)


@pytest.fixture(autouse=True)
def fresh(fwd: Forwarding) -> None:
    fwd.main.reset()
    fwd.backup.reset()


def test_message_is_relayed_byte_for_byte_with_only_the_model_renamed(fwd: Forwarding) -> None:
    raw = fwd.client().messages.with_raw_response.create(
        model="claude-x",
        max_tokens=64,
        messages=MESSAGES,
        extra_headers={"anthropic-beta": "computer-use-2025-01-24"},
    )
    assert raw.http_response.content == fwd.main.sent[-1]
    message = Message.model_validate_json(raw.http_response.content)
    assert message.content[0].text == "hello from main"  # type: ignore[union-attr]
    assert message.model == "claude-sonnet-4-5"  # the upstream's own answer, untouched
    sent = raw.http_response.request.content
    received = fwd.main.last
    assert received.body == sent.replace(b'"claude-x"', b'"claude-sonnet-4-5"')
    assert received.path == "/v1/messages"
    assert received.headers["x-api-key"] == UPSTREAM_KEY
    assert "authorization" not in received.headers
    assert CLIENT_KEY.encode() not in json.dumps(received.headers).encode()
    version = raw.http_response.request.headers["anthropic-version"]
    assert received.headers["anthropic-version"] == version  # the client's own
    assert received.headers["anthropic-beta"] == "computer-use-2025-01-24"
    assert raw.http_response.headers["x-gateway-route"] == "forward"
    assert raw.http_response.headers["x-gateway-answered-by"] == "model"


def test_stream_is_relayed_as_it_came(fwd: Forwarding) -> None:
    with fwd.client().messages.stream(model="claude-x", max_tokens=64, messages=MESSAGES) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "hello from main"
    assert final.stop_reason == "end_turn"
    with fwd.client().messages.with_streaming_response.create(
        model="claude-x", max_tokens=64, messages=MESSAGES, stream=True
    ) as reply:
        body = b"".join(reply.iter_bytes())
    assert body == fwd.main.sent[-1]


def test_a_stream_is_relayed_as_it_comes_not_buffered(fwd: Forwarding) -> None:
    fwd.main.plan(Step(hold=True))  # the upstream sends message_start, then waits
    with fwd.client().messages.with_streaming_response.create(
        model="claude-x", max_tokens=8, messages=MESSAGES, stream=True
    ) as reply:
        chunks = reply.iter_bytes()
        first = next(chunks)
        assert first.startswith(b"event: message_start")  # here while the upstream holds
        fwd.main.release()
        rest = b"".join(chunks)
    assert first + rest == fwd.main.sent[-1]


def test_beta_query_and_the_beta_client_are_forwarded(fwd: Forwarding) -> None:
    message = fwd.client().beta.messages.create(
        model="claude-x",
        max_tokens=64,
        messages=MESSAGES,
        tools=[
            {
                "type": "computer_20250124",
                "name": "computer",
                "display_width_px": 1280,
                "display_height_px": 800,
            }
        ],
        betas=["computer-use-2025-01-24"],
        extra_query={"beta": "true"},  # as Claude Code sends it
    )
    assert message.content[0].type == "text"
    assert fwd.main.last.query == "beta=true"
    assert fwd.main.last.headers["anthropic-beta"] == "computer-use-2025-01-24"


def test_a_client_without_anthropic_version_gets_the_default_upstream(fwd: Forwarding) -> None:
    body = {"model": "claude-x", "max_tokens": 8, "messages": MESSAGES}
    status, reply = _post(fwd, orjson.dumps(body))
    assert status == 200 and Message.model_validate(reply).content[0].type == "text"
    assert fwd.main.last.headers["anthropic-version"] == "2023-06-01"


def test_bearer_key_is_accepted_and_never_leaves(fwd: Forwarding) -> None:
    client = anthropic.Anthropic(base_url=fwd.gateway.url, auth_token=CLIENT_KEY, max_retries=0)
    client.messages.create(model="claude-x", max_tokens=8, messages=MESSAGES)
    assert fwd.main.last.headers["x-api-key"] == UPSTREAM_KEY
    assert "authorization" not in fwd.main.last.headers


def test_overloaded_upstream_is_retried(fwd: Forwarding) -> None:
    fwd.main.plan(Step(529, headers={"retry-after": "0"}))
    message = fwd.client().messages.create(model="claude-x", max_tokens=8, messages=MESSAGES)
    assert message.content[0].text == "hello from main"  # type: ignore[union-attr]
    assert len(fwd.main.received) == 2


def test_fallback_answers_when_the_upstream_keeps_failing(fwd: Forwarding) -> None:
    fwd.main.plan(Step(500, headers={"retry-after": "0"}), Step(500, headers={"retry-after": "0"}))
    raw = fwd.client().messages.with_raw_response.create(
        model="claude-x", max_tokens=8, messages=MESSAGES
    )
    assert raw.parse().content[0].text == "hello from backup"  # type: ignore[union-attr]
    assert fwd.backup.last.json()["model"] == "claude-backup"
    assert fwd.backup.last.headers["x-api-key"] == BACKUP_KEY


def test_final_upstream_error_is_relayed_in_its_own_envelope(fwd: Forwarding) -> None:
    fwd.main.plan(*[Step(529, headers={"retry-after": "0"})] * 2)
    fwd.backup.plan(Step(529))
    with pytest.raises(anthropic.APIStatusError) as caught:
        fwd.client().messages.create(model="claude-x", max_tokens=8, messages=MESSAGES)
    assert caught.value.status_code == 529
    assert caught.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    assert caught.value.body["error"]["message"] == "fake 529"  # type: ignore[index]


def test_count_tokens_goes_to_the_upstream(fwd: Forwarding) -> None:
    count = fwd.client().messages.count_tokens(model="claude-x", messages=MESSAGES)
    assert MessageTokensCount.model_validate(count.model_dump()).input_tokens == 42
    assert fwd.main.last.path == "/v1/messages/count_tokens"
    assert fwd.main.last.json()["model"] == "claude-sonnet-4-5"


def test_count_tokens_for_a_person_is_estimated(fwd: Forwarding) -> None:
    text = "word " * 400  # 2000 characters: 500 tokens at four characters a token
    count = fwd.client().messages.count_tokens(
        model="human", system="Be brief.", messages=[{"role": "user", "content": text}]
    )
    assert count.input_tokens == 500 + 3


# -- errors in Anthropic's envelope --------------------------------------------------


def test_unknown_model_is_a_not_found_error(fwd: Forwarding) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        fwd.client().messages.create(model="claude-nope", max_tokens=8, messages=MESSAGES)
    body = caught.value.body
    assert body["type"] == "error"  # type: ignore[index]
    assert body["error"]["type"] == "not_found_error"  # type: ignore[index]
    assert "claude-nope" in body["error"]["message"]  # type: ignore[index]


def test_model_on_an_openai_upstream_is_a_bad_request(fwd: Forwarding) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        fwd.client().messages.create(model="gpt", max_tokens=8, messages=MESSAGES)
    assert caught.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert caught.value.body["error"]["message"].startswith("model:")  # type: ignore[index]


def test_malformed_body_names_the_field(fwd: Forwarding) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        fwd.client().messages.create(model="human", max_tokens=8, messages="hello")  # type: ignore[arg-type]
    error = caught.value.body["error"]  # type: ignore[index]
    assert error == {
        "type": "invalid_request_error",
        "message": "messages: Input should be a valid list",
    }
    status, body = _post(fwd, b"{not json")
    assert status == 400 and body["error"]["type"] == "invalid_request_error"


def test_oversized_body_is_request_too_large(fwd: Forwarding) -> None:
    big = [{"role": "user", "content": "x" * (1024 * 1024 + 10)}]
    with pytest.raises(anthropic.APIStatusError) as caught:
        fwd.client().messages.create(model="claude-x", max_tokens=8, messages=big)
    assert caught.value.status_code == 413
    assert caught.value.body["error"]["type"] == "request_too_large"  # type: ignore[index]
    assert fwd.main.received == []


def test_wrong_keys_get_authentication_errors_then_the_back_off(fwd: Forwarding) -> None:
    client = fwd.client(api_key="wrong-key")
    for _ in range(4):  # backoff_after_failures = 3 free failures, and the one that blocks
        with pytest.raises(anthropic.AuthenticationError) as caught:
            client.messages.create(model="claude-x", max_tokens=8, messages=MESSAGES)
        assert caught.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    with pytest.raises(anthropic.RateLimitError) as limited:
        client.messages.create(model="claude-x", max_tokens=8, messages=MESSAGES)
    assert limited.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert int(limited.value.response.headers["retry-after"]) > 0
    assert fwd.main.received == []


def test_root_answers_head_and_get(fwd: Forwarding) -> None:
    for method in ("HEAD", "GET"):
        request = urllib.request.Request(fwd.gateway.url + "/", method=method)
        with urllib.request.urlopen(request, timeout=5) as reply:
            assert reply.status == 200


def test_other_methods_get_a_405(fwd: Forwarding) -> None:
    request = urllib.request.Request(fwd.gateway.url + "/v1/messages", method="GET")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == 405
    assert caught.value.headers["allow"] == "POST"
    body = orjson.loads(caught.value.read())
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"


def _post(fwd: Forwarding, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(
        fwd.gateway.url + "/v1/messages",
        data=body,
        headers={"content-type": "application/json", "x-api-key": CLIENT_KEY},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, orjson.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, orjson.loads(error.read())
