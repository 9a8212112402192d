"""Screenshots that decode to far more than they weigh (issue 16, item 3), against a
real gateway process: a picture over 40 megapixels is a 400 at every door, naming
it, and thumbnails of the largest allowed one keep the process's memory bounded,
however many widths are asked for at once."""

from __future__ import annotations

import asyncio
import base64
import io
import struct
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anthropic
import mcp_types as types
import openai
import pytest
from harness import Gateway, openai_client, run_gateway
from mcp_client import connect
from PIL import Image
from reviewer_client import Reviewer, background

from gateway.human.images import MAX_PIXELS

WIDTHS = (64, 96, 128, 160, 240, 320, 480, 640, 800, 1024)


def black_png(width: int, height: int) -> bytes:
    """A black RGB PNG, written a row at a time: the test never holds the pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    packer = zlib.compressobj(9)
    row = bytes(1 + 3 * width)  # filter byte 0, then black pixels
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def memory_mb(gateway: Gateway, field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (the peak) of the gateway process, in MB."""
    assert gateway.process is not None
    status = Path(f"/proc/{gateway.process.pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    with run_gateway(tmp_path_factory.mktemp("images"), "") as gateway:
        yield gateway


def test_a_picture_over_the_cap_is_refused_at_every_door(gateway) -> None:
    huge = data_url(black_png(9400, 9400))  # 88 megapixels in about 260 KB
    assert len(huge) < 400_000
    client = openai_client(gateway, "sk-images")
    small = data_url(black_png(4, 3))
    with pytest.raises(openai.BadRequestError) as chat:
        client.chat.completions.create(
            model="human",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is on the screen?"},
                        {"type": "image_url", "image_url": {"url": small}},
                        {"type": "image_url", "image_url": {"url": huge}},
                    ],
                }
            ],
        )
    error = chat.value.body
    assert chat.value.status_code == 400 and error["code"] == "image_too_large"
    assert error["param"] == "messages"
    assert "Image 1 of the request (messages[0].content[2].image_url.url)" in error["message"]
    assert "9400x9400 pixels (88.4 megapixels)" in error["message"]
    assert "at most 40 megapixels" in error["message"]

    with pytest.raises(openai.BadRequestError) as responses:
        client.responses.create(
            model="human",
            input=[{"role": "user", "content": [{"type": "input_image", "image_url": huge}]}],
        )
    assert responses.value.body["code"] == "image_too_large"
    assert "(input[0].content[0].image_url)" in responses.value.body["message"]

    # Cua's door, with its own error shape beside the envelope.
    screen = {"type": "image_url", "image_url": {"url": huge}}
    call = {"model": "human", "messages": [{"role": "user", "content": [screen]}]}
    queued = Reviewer(gateway.url).call("POST", "/cua/queue", call)
    assert queued.status == 400 and queued.body["error"]["code"] == "image_too_large"

    # The Anthropic door: a base64 image source, the same 400 in Anthropic's envelope.
    messages = anthropic.Anthropic(base_url=gateway.url, api_key="sk-images", max_retries=0)
    source = {"type": "base64", "media_type": "image/png", "data": huge.partition(",")[2]}
    with pytest.raises(anthropic.BadRequestError) as claude:
        messages.messages.create(
            model="human",
            max_tokens=100,
            messages=[{"role": "user", "content": [{"type": "image", "source": source}]}],
        )
    assert claude.value.status_code == 400
    assert "9400x9400 pixels (88.4 megapixels)" in claude.value.body["error"]["message"]

    # The MCP door's ask_human: a tool error naming the image, as for its other arguments.
    async def ask() -> types.CallToolResult:
        async with connect(gateway.url) as client:
            arguments = {"question": "Which one?", "images": [small, huge]}
            return await client.call_tool("ask_human", arguments)

    result = asyncio.run(ask())
    assert result.is_error
    [block] = result.content
    assert isinstance(block, types.TextContent)
    assert "images[1] is 9400x9400 pixels (88.4 megapixels)" in block.text
    assert Reviewer(gateway.url).tasks() == []  # nothing was made of any of them


def test_thumbnails_of_the_largest_screenshot_keep_memory_bounded(gateway) -> None:
    side = int(MAX_PIXELS**0.5) - 100  # 6224x6224: 38.7 megapixels, allowed
    goal = f"Large screen {uuid.uuid4()}"
    client = openai_client(gateway, "sk-images")
    reply = background(
        client.chat.completions.create,
        model="human",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": goal},
                    {"type": "image_url", "image_url": {"url": data_url(black_png(side, side))}},
                    {"type": "image_url", "image_url": {"url": data_url(black_png(side, side))}},
                ],
            }
        ],
    )
    reviewer = Reviewer(gateway.url)
    task = reviewer.wait_for_task(lambda t: t["preview"] == goal)
    assert reviewer.task(task["id"])["image_sizes"] == [[side, side], [side, side]]
    before = memory_mb(gateway, "VmRSS")

    # Every width of both images at once, twice over, as a busy timeline asks.
    paths = [f"/api/tasks/{task['id']}/images/{i}?w={w}" for i in (0, 1) for w in WIDTHS] * 2
    with ThreadPoolExecutor(8) as pool:
        thumbs = list(pool.map(lambda path: reviewer.call("GET", path, timeout=60), paths))
    for path, thumb in zip(paths, thumbs, strict=True):
        assert thumb.status == 200 and thumb.headers["content-type"] == "image/jpeg", path
        with Image.open(io.BytesIO(thumb.body)) as image:
            width = int(path.rpartition("=")[2])
            assert image.size == (width, width), path

    # One decoded image (4 bytes a pixel: 155 MB) at a time, and given back afterwards.
    peak, after = memory_mb(gateway, "VmHWM"), memory_mb(gateway, "VmRSS")
    one_image = side * side * 4 / 2**20
    assert peak - before < one_image + 80, (before, peak, after)
    assert after - before < 60, (before, peak, after)

    assert reviewer.answer(task["id"], content="Black.").status == 200
    assert reply.result(timeout=10).choices[0].message.content == "Black."


async def test_both_caches_are_bounded_by_bytes() -> None:
    """In-process: many images and widths never hold more than the caches' byte limits."""
    from gateway.human.thumbs import Thumbnails

    buffer = io.BytesIO()
    Image.effect_noise((1600, 1000), 64).convert("RGB").save(buffer, "PNG")
    noisy = buffer.getvalue()
    thumbnails = Thumbnails(thumb_bytes=300_000, source_bytes=5_000_000)
    for index in range(6):
        for width in (160, 640, 1024):
            assert await thumbnails.get("task_1", index, width, noisy) is not None
            assert thumbnails.thumbs.bytes <= 300_000
            assert thumbnails.sources.bytes <= 5_000_000
    # A 1024-wide source is 1024x640x4 bytes: only one fits in 5 MB.
    assert len(thumbnails.sources) == 1 and len(thumbnails.thumbs) < 18
    assert await thumbnails.get("task_2", 0, 160, b"not an image") is None
