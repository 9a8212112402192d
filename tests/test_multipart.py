"""The multipart model finder, in-process: every split of real uploads."""

from __future__ import annotations

import httpx2
import pytest

from gateway.errors import GatewayError
from gateway.http.multipart import ModelField, boundary_of


def encode(data: dict[str, str], files: dict[str, tuple[str, bytes, str]]) -> tuple:
    """An upload as httpx (the openai SDK's transport) encodes it: fields, then files."""
    request = httpx2.Request("POST", "http://x/", data=data, files=files)
    body = request.read()
    return request.headers["content-type"], body


def run(finder: ModelField, chunks: list[bytes]):
    kept = b""
    for chunk in chunks:
        found = finder.feed(chunk)
        kept += finder.flushed()
        if found is not None:
            return found, kept
    return None, kept


AUDIO = bytes(range(256)) * 40  # every byte value, CRLFs and dashes included


@pytest.mark.parametrize("size", [1, 7, 64, 1000, 100_000])
def test_model_after_the_file_is_found_across_any_split(size: int) -> None:
    content_type, body = encode({"language": "en"}, {"file": ("a.wav", AUDIO, "audio/wav")})
    # httpx puts data fields first; move the model part after the file by hand.
    boundary = boundary_of(content_type)
    assert boundary is not None
    model_part = (
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
    )
    closing = b"--" + boundary + b"--\r\n"
    assert body.endswith(closing)
    body = body[: -len(closing)] + model_part + closing
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    found, kept = run(ModelField(boundary), chunks)
    assert found is not None and found.model == "whisper-1"
    whole = kept + found.before + b"whisper-1" + found.after
    assert body.startswith(whole)


@pytest.mark.parametrize("size", [1, 3, 50, 10_000])
def test_model_before_the_file_stops_reading_early(size: int) -> None:
    content_type, body = encode(
        {"model": "gpt-4o-transcribe", "prompt": 'name="model"'},
        {"file": ("a.wav", AUDIO, "audio/wav")},
    )
    boundary = boundary_of(content_type)
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    finder = ModelField(boundary)
    found, kept = run(finder, chunks)
    assert found is not None and found.model == "gpt-4o-transcribe"
    prefix = kept + found.before
    assert body.startswith(prefix + b"gpt-4o-transcribe" + found.after)
    assert len(prefix) < 200  # nothing of the file was needed


def test_a_file_named_model_is_not_the_model_field() -> None:
    content_type, body = encode(
        {"model": "real"}, {"model": ("model.bin", b"fake", "application/octet-stream")}
    )
    boundary = boundary_of(content_type)
    found, _ = run(ModelField(boundary), [body])
    assert found is not None and found.model == "real"


def test_an_upload_without_a_model_is_a_400() -> None:
    content_type, body = encode({"language": "en"}, {"file": ("a.wav", AUDIO, "audio/wav")})
    finder = ModelField(boundary_of(content_type))
    found, kept = run(finder, [body[:100], body[100:]])
    assert found is None
    assert kept + finder.remainder() == body  # all of it, to send on to a default upstream
    with pytest.raises(GatewayError) as caught:
        finder.missing()
    assert caught.value.status == 400 and caught.value.param == "model"


def test_boundary_of_content_types() -> None:
    assert boundary_of('multipart/form-data; boundary="a b"') == b"a b"
    assert boundary_of("multipart/form-data; charset=utf-8; boundary=xyz") == b"xyz"
    assert boundary_of("application/json") is None
    assert boundary_of("multipart/form-data") is None
