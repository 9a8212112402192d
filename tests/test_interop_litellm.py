"""Interop: a hybrid gateway in front of LiteLLM's proxy, a server written by others.

Not in the default run. LiteLLM is installed in its own environment (its pins
differ from ours), then:

    python -m venv /tmp/litellm && /tmp/litellm/bin/pip install 'litellm[proxy]'
    LITELLM_BIN=/tmp/litellm/bin/litellm python -m pytest -m interop

LiteLLM serves a mock response (no provider is called), binds to loopback, and
reads its model cost map locally, so nothing leaves the machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from harness import Gateway, free_port, run_gateway
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response
from pydantic import TypeAdapter
from reviewer_client import Reviewer, background

pytestmark = pytest.mark.interop

MOCK_TEXT = "Hello from LiteLLM"
MASTER_KEY = "sk-interop-master-key-0123456789abcdef"
LITELLM_CONFIG = f"""
model_list:
  - model_name: mock-gpt
    litellm_params:
      model: openai/gpt-4o
      mock_response: "{MOCK_TEXT}"
      api_key: sk-not-used
litellm_settings:
  telemetry: false
"""
GATEWAY_CONFIG = """
[upstreams.litellm]
base_url = "{url}/v1"
api_key = "{key}"

[models.mock]
upstream = "litellm"
upstream_model = "mock-gpt"

[models."mock-review"]
upstream = "litellm"
upstream_model = "mock-gpt"
human = "review"

[models."mock-scored"]
upstream = "litellm"
upstream_model = "mock-gpt"
human = "escalate"
min_confidence = 0.5
on_unknown_confidence = "escalate"
"""


@pytest.fixture(scope="module")
def litellm(tmp_path_factory) -> Iterator[str]:
    binary = os.environ.get("LITELLM_BIN") or shutil.which("litellm")
    if not binary:
        pytest.fail("LiteLLM is not installed: see this module's docstring")
    tmp: Path = tmp_path_factory.mktemp("litellm")
    (tmp / "config.yaml").write_text(LITELLM_CONFIG)
    port = free_port()
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_MASTER_KEY": MASTER_KEY,
        "LITELLM_TELEMETRY": "False",
    }
    process = subprocess.Popen(
        [binary, "--config", str(tmp / "config.yaml"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(url + "/health/liveliness", timeout=1):
                    break
            except (urllib.error.URLError, OSError):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("LiteLLM did not start")
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def gateway(litellm: str, tmp_path_factory) -> Iterator[Gateway]:
    config = GATEWAY_CONFIG.format(url=litellm, key=MASTER_KEY)
    with run_gateway(tmp_path_factory.mktemp("gw"), config) as gw:
        yield gw


@pytest.fixture(scope="module")
def client(gateway: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key="client", max_retries=0)


def ask(client: openai.OpenAI, model: str, **kwargs):
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "hi"}], **kwargs
    )
    return raw.headers, raw.parse()


def test_forwarding_through_litellm(client):
    headers, completion = ask(client, "mock")
    body = TypeAdapter(ChatCompletion).validate_python(completion.model_dump())
    assert body.choices[0].message.content == MOCK_TEXT
    assert headers["x-gateway-route"] == "forward"


def test_streaming_through_litellm(client):
    stream = client.chat.completions.create(
        model="mock", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = [TypeAdapter(ChatCompletionChunk).validate_python(c.model_dump()) for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == MOCK_TEXT


def test_composite_hybrid_passes_litellm_answers(client):
    headers, completion = ask(client, "mock+human")
    assert completion.choices[0].message.content == MOCK_TEXT
    assert headers["x-gateway-route"] == "hybrid"
    assert headers["x-gateway-answered-by"] == "model"


def test_hybrid_streaming_pass_replays_litellm_stream(client):
    stream = client.chat.completions.create(
        model="mock+human", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = [TypeAdapter(ChatCompletionChunk).validate_python(c.model_dump()) for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == MOCK_TEXT


def test_review_escalates_with_litellm_draft(client, gateway):
    reviewer = Reviewer(gateway.url, "ivy")
    pending = background(ask, client, "mock-review")
    task = reviewer.wait_for_task(lambda t: t["model"] == "mock-review")
    assert reviewer.task(task["id"])["draft"]["content"] == MOCK_TEXT
    reviewer.answer(task["id"], accept_draft=True)
    headers, completion = pending.result(timeout=20)
    assert completion.choices[0].message.content == MOCK_TEXT
    assert headers["x-gateway-answered-by"] == "draft"
    assert headers["x-gateway-escalation"] == "review"


def test_unknown_confidence_escalates_and_person_streams(client, gateway):
    reviewer = Reviewer(gateway.url, "ivy")

    def run():
        stream = client.chat.completions.create(
            model="mock-scored", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        return [c for c in stream]

    pending = background(run)
    task = reviewer.wait_for_task(lambda t: t["model"] == "mock-scored")
    assert task["reason"] == "low_confidence"
    reviewer.answer(task["id"], content="checked by a person")
    chunks = pending.result(timeout=20)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "checked by a person"


def test_responses_through_hybrid(client):
    response = client.responses.create(model="mock+human", input="hi")
    # LiteLLM 1.108's usage details hold nulls that the SDK's strict types refuse;
    # the gateway relays them as they are, so check everything but usage.
    body = response.model_dump()
    body.pop("usage")
    parsed = TypeAdapter(Response).validate_python(body)
    assert parsed.output_text == MOCK_TEXT
