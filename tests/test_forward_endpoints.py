"""The rest of /v1 through the gateway: embeddings, completions, moderations, images,
audio (multipart uploads included), Responses sub-resources, files and batches.

The real ``openai`` SDK is the client; fake upstreams record every byte they get.
Each reply is checked with the SDK's own types, and each upstream request against
the bytes the SDK sent, with only ``model`` renamed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx2
import openai
import orjson
import pytest
from fake_upstream import FakeUpstream, Step
from harness import Gateway, run_gateway
from openai.types import (
    Batch,
    Completion,
    CreateEmbeddingResponse,
    FileObject,
    ImagesResponse,
    ModerationCreateResponse,
)
from openai.types.audio import Transcription
from openai.types.responses import Response, ResponseItemList
from pydantic import TypeAdapter
from reviewer_client import Reviewer, background

KEY = "sk-endpoints"
CONFIG = """
[server]
max_body_mb = 16
default_upstream = "alpha"

[auth]
client_keys = ["{key}"]

[upstreams.alpha]
base_url = "{alpha}"
api_key = "sk-alpha"

[upstreams.beta]
base_url = "{beta}"
retries = 0

[models.small]
upstream = "alpha"
upstream_model = "qwen2.5"

[models.whisper]
upstream = "alpha"
upstream_model = "whisper-large-v3-turbo"

[models.flaky]
upstream = "beta"
upstream_model = "beta-whisper"
fallbacks = ["whisper"]

[models.human]
route = "human"
"""


class Sent:
    """The request bodies the SDK sent, as httpx encoded them."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def __call__(self, request: httpx2.Request) -> None:
        self.bodies.append(request.read())

    @property
    def last(self) -> bytes:
        return self.bodies[-1]


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> Iterator[tuple[Gateway, FakeUpstream, FakeUpstream]]:
    with FakeUpstream("alpha") as alpha, FakeUpstream("beta") as beta:
        config = CONFIG.format(key=KEY, alpha=alpha.url, beta=beta.url)
        with run_gateway(tmp_path_factory.mktemp("endpoints"), config) as gateway:
            yield gateway, alpha, beta


@pytest.fixture
def gateway(setup) -> Gateway:
    return setup[0]


@pytest.fixture
def alpha(setup) -> Iterator[FakeUpstream]:
    setup[1].reset()
    setup[2].reset()
    yield setup[1]


@pytest.fixture
def beta(setup, alpha) -> FakeUpstream:
    return setup[2]


@pytest.fixture
def sent() -> Sent:
    return Sent()


@pytest.fixture
def client(gateway: Gateway, sent: Sent) -> Iterator[openai.OpenAI]:
    http = httpx2.Client(event_hooks={"request": [sent]}, timeout=20)
    with openai.OpenAI(
        base_url=gateway.base_url, api_key=KEY, max_retries=0, http_client=http
    ) as sdk:
        yield sdk


def renamed(body: bytes, old: str, new: str) -> bytes:
    """``body`` with its one ``"model": "<old>"`` (JSON) value replaced, nothing else."""
    key = f'"model":"{old}"'.encode()
    assert body.count(key) == 1, body[:200]
    return body.replace(key, f'"model":"{new}"'.encode())


def multipart_renamed(body: bytes, old: str, new: str) -> bytes:
    part = b'name="model"\r\n\r\n'
    assert body.count(part + old.encode() + b"\r\n") == 1
    return body.replace(part + old.encode() + b"\r\n", part + new.encode() + b"\r\n")


# -- JSON endpoints -------------------------------------------------------------------


def test_embeddings_are_forwarded_with_only_the_model_renamed(client, alpha, sent) -> None:
    raw = client.embeddings.with_raw_response.create(
        model="small", input=["héllo", "world"], encoding_format="float", dimensions=3
    )
    reply = TypeAdapter(CreateEmbeddingResponse).validate_json(raw.http_response.content)
    assert reply.data[0].embedding == [0.25, -0.5, 1.0]
    assert reply.model == "qwen2.5"  # the upstream's own answer, untouched
    assert raw.http_response.headers["x-gateway-route"] == "forward"
    assert alpha.last.path == "/v1/embeddings"
    assert alpha.last.body == renamed(sent.last, "small", "qwen2.5")
    assert alpha.last.headers["authorization"] == "Bearer sk-alpha"  # never the client's key
    assert raw.http_response.content == alpha.sent[-1]


def test_legacy_completions_moderations_images_and_speech(client, alpha, sent) -> None:
    completion = client.completions.create(model="small", prompt="hello", max_tokens=3)
    TypeAdapter(Completion).validate_python(completion.model_dump())
    assert completion.choices[0].text == " world"
    assert alpha.last.path == "/v1/completions"
    assert alpha.last.body == renamed(sent.last, "small", "qwen2.5")

    moderation = client.moderations.create(model="small", input="a kind word")
    TypeAdapter(ModerationCreateResponse).validate_python(moderation.model_dump(by_alias=True))
    assert alpha.last.body == renamed(sent.last, "small", "qwen2.5")

    images = client.images.generate(model="small", prompt="a red square", n=1)
    TypeAdapter(ImagesResponse).validate_python(images.model_dump())
    assert alpha.last.path == "/v1/images/generations"
    assert alpha.last.body == renamed(sent.last, "small", "qwen2.5")

    speech = client.audio.speech.create(model="small", voice="alloy", input="hi")
    assert speech.content == b"ID3 fake mp3 bytes"
    assert alpha.last.body == renamed(sent.last, "small", "qwen2.5")


def test_a_moderation_without_model_goes_to_the_default_upstream(client, alpha, sent) -> None:
    reply = client.moderations.create(input="no model named")
    TypeAdapter(ModerationCreateResponse).validate_python(reply.model_dump(by_alias=True))
    assert alpha.last.path == "/v1/moderations"
    assert alpha.last.body == sent.last  # unchanged: there was no model to rename


def test_model_human_on_an_endpoint_people_cannot_answer_is_a_400(client) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model="human", input="hello")
    error = caught.value.body
    assert caught.value.status_code == 400
    assert error["param"] == "model" and error["code"] == "model_not_supported"
    assert "A person cannot answer embeddings" in error["message"]
    with pytest.raises(openai.BadRequestError):
        client.audio.transcriptions.create(model="human", file=("a.wav", b"RIFF"))
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="no-such-model", input="hello")


# -- multipart uploads ----------------------------------------------------------------

AUDIO = bytes(range(256)) * 64  # 16 KB with every byte value (CRLFs and dashes included)


def test_audio_transcription_upload_is_forwarded_byte_for_byte(client, alpha, sent) -> None:
    raw = client.audio.transcriptions.with_raw_response.create(
        model="whisper", file=("speech.wav", AUDIO, "audio/wav"), language="en", temperature=0
    )
    transcription = TypeAdapter(Transcription).validate_json(raw.http_response.content)
    assert transcription.text == "hello from the fake"
    assert alpha.last.path == "/v1/audio/transcriptions"
    expected = multipart_renamed(sent.last, "whisper", "whisper-large-v3-turbo")
    assert alpha.last.body == expected
    assert int(alpha.last.headers["content-length"]) == len(expected)
    assert alpha.last.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert AUDIO in alpha.last.body


def test_a_large_upload_is_streamed_on(client, alpha, sent) -> None:
    big = AUDIO * 200  # 3.2 MB: past what is held in memory, so it streams
    reply = client.audio.transcriptions.create(model="whisper", file=("big.wav", big))
    TypeAdapter(Transcription).validate_python(reply.model_dump())
    expected = multipart_renamed(sent.last, "whisper", "whisper-large-v3-turbo")
    assert alpha.last.body == expected
    assert int(alpha.last.headers["content-length"]) == len(expected)


def test_a_small_upload_gets_fallbacks(client, alpha, beta, sent) -> None:
    beta.plan(Step(status=503))
    client.audio.transcriptions.create(model="flaky", file=("a.wav", AUDIO))
    assert beta.last.body == multipart_renamed(sent.last, "flaky", "beta-whisper")
    assert alpha.last.body == multipart_renamed(sent.last, "flaky", "whisper-large-v3-turbo")


@pytest.mark.parametrize("size", [1000, 2_000_000])
def test_model_after_the_file_as_other_clients_send_it(gateway, alpha, size: int) -> None:
    # openai-node and browsers' FormData send fields in the caller's order: file first.
    boundary = "----" + uuid.uuid4().hex
    payload = (AUDIO * (size // len(AUDIO) + 1))[:size]
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode() + payload
    body += f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\n'.encode()
    body += f"whisper\r\n--{boundary}--\r\n".encode()
    reply = httpx2.post(
        gateway.base_url + "/audio/transcriptions",
        content=body,
        headers={
            "authorization": f"Bearer {KEY}",
            "content-type": f"multipart/form-data; boundary={boundary}",
        },
        timeout=20,
    )
    assert reply.status_code == 200, reply.text
    assert alpha.last.body == multipart_renamed(body, "whisper", "whisper-large-v3-turbo")


def test_an_upload_without_model_is_a_400(client) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.transcriptions.create(
            file=("a.wav", AUDIO), model=openai.omit, extra_body={"language": "en"}
        )
    assert caught.value.body["param"] == "model"


# -- model-less endpoints -------------------------------------------------------------


def test_files_and_batches_go_to_the_default_upstream(client, alpha, sent) -> None:
    uploaded = client.files.create(file=("batch.jsonl", b'{"custom_id": "1"}\n'), purpose="batch")
    TypeAdapter(FileObject).validate_python(uploaded.model_dump())
    assert alpha.last.path == "/v1/files" and alpha.last.body == sent.last
    batch = client.batches.create(
        input_file_id="file-1", endpoint="/v1/chat/completions", completion_window="24h"
    )
    TypeAdapter(Batch).validate_python(batch.model_dump())
    assert alpha.last.body == sent.last
    content = client.files.content("file-1")
    assert orjson.loads(content.content)["path"] == "/files/file-1/content"
    assert alpha.last.method == "GET"
    client.files.delete("file-1")
    assert (alpha.last.method, alpha.last.path) == ("DELETE", "/v1/files/file-1")


def test_without_a_default_upstream_model_less_endpoints_are_404(tmp_path: Path) -> None:
    with run_gateway(tmp_path, "[models.human]\nroute = 'human'\n") as bare:
        sdk = openai.OpenAI(base_url=bare.base_url, api_key="k", max_retries=0)
        with pytest.raises(openai.NotFoundError) as caught:
            sdk.files.list()
        assert "default_upstream" in caught.value.body["message"]
        with pytest.raises(openai.NotFoundError):
            sdk.batches.retrieve("batch_1")


# -- Responses sub-resources ------------------------------------------------------------


def test_sub_resources_of_an_upstream_response_go_to_its_upstream(client, alpha) -> None:
    made = client.responses.create(model="small", input="Say hello")
    items = client.responses.input_items.list(made.id)
    TypeAdapter(ResponseItemList).validate_python(items.model_dump())
    assert alpha.last.path == f"/v1/responses/{made.id}/input_items"
    cancelled = client.responses.cancel(made.id)
    assert TypeAdapter(Response).validate_python(cancelled.model_dump()).status == "cancelled"
    client.responses.delete(made.id)
    assert (alpha.last.method, alpha.last.path) == ("DELETE", f"/v1/responses/{made.id}")
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(made.id)


def test_sub_resources_of_a_response_a_person_made(client, gateway, alpha) -> None:
    reviewer = Reviewer(gateway.url)
    history = [
        {"role": "user", "content": "Open the file"},
        {"type": "function_call", "call_id": "c1", "name": "open", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "opened"},
        {"role": "user", "content": [{"type": "input_text", "text": "Now save it"}]},
    ]
    tools = [{"type": "function", "name": "open", "parameters": {"type": "object"}}]
    waiting = background(client.responses.create, model="human", input=history, tools=tools)
    task = reviewer.wait_for_task(lambda t: t["preview"] == "Now save it")
    assert reviewer.answer(task["id"], content="Saved.").status == 200
    made = waiting.result(timeout=10)

    page = client.responses.input_items.list(made.id, order="asc")
    TypeAdapter(ResponseItemList).validate_python(page.model_dump())
    assert [item.type for item in page.data] == [
        "message",
        "function_call",
        "function_call_output",
        "message",
    ]
    assert page.data[0].content[0].text == "Open the file"
    again = client.responses.input_items.list(made.id, order="asc")
    assert [item.id for item in again.data] == [item.id for item in page.data]  # stable ids
    newest = client.responses.input_items.list(made.id, limit=2)
    assert [item.id for item in newest.data] == [page.data[3].id, page.data[2].id]
    assert newest.has_more
    rest = client.responses.input_items.list(made.id, limit=2, after=newest.last_id)
    assert [item.id for item in rest.data] == [page.data[1].id, page.data[0].id]
    assert not rest.has_more

    with pytest.raises(openai.BadRequestError):
        client.responses.cancel(made.id)
    client.responses.delete(made.id)
    assert not alpha.received  # none of it went upstream
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(made.id)


def chunked_upload(gateway: Gateway, size: int) -> tuple[httpx2.Response, bytes]:
    """A transcription upload sent chunked (no Content-Length), ``size`` bytes of audio."""
    boundary = "b" + uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    block = AUDIO * 16

    def pieces() -> Iterator[bytes]:
        yield head
        for start in range(0, size, len(block)):
            yield block[: min(len(block), size - start)]
        yield tail

    reply = httpx2.post(
        gateway.base_url + "/audio/transcriptions",
        content=pieces(),
        headers={
            "authorization": f"Bearer {KEY}",
            "content-type": f"multipart/form-data; boundary={boundary}",
        },
        timeout=30,
    )
    return reply, b"".join(pieces())


def test_a_chunked_upload_streams_on_chunked(gateway, alpha) -> None:
    reply, body = chunked_upload(gateway, 1_500_000)
    assert reply.status_code == 200, reply.text
    assert alpha.last.body == multipart_renamed(body, "whisper", "whisper-large-v3-turbo")
    assert "content-length" not in alpha.last.headers


def test_a_chunked_upload_past_the_limit_is_a_413(gateway, alpha) -> None:
    reply, _ = chunked_upload(gateway, 17 * 1024 * 1024)  # max_body_mb = 16
    assert reply.status_code == 413
    assert reply.json()["error"]["code"] == "request_too_large"
