"""Reading what the agent sent: tools, sessions, previews, images and token estimates."""

from __future__ import annotations

import base64
import binascii
import itertools
import math
from collections.abc import Iterator
from typing import Any

from gateway.errors import bad_request

# Tool types that mean "a computer the model drives" across SDK generations.
COMPUTER_TOOL_TYPES = frozenset({"computer_use_preview", "computer-preview", "computer"})
IMAGE_TOKENS = 85  # a flat estimate per image, like OpenAI's low-detail price
PREVIEW_CHARS = 160
MAX_CHOICES = 128  # OpenAI's own limit on n


def normalise_tools(api: str, data: dict[str, Any]) -> list[dict[str, Any]]:
    """The declared tools in one shape for both APIs.

    Functions: ``{"type": "function", "name", "description", "parameters", "strict"}``;
    computers: ``{"type": "computer", "display_width", "display_height", "environment"}``;
    anything else keeps its type and name so the reviewer can see it.
    """
    tools = []
    for tool in data.get("tools") or []:
        if not isinstance(tool, dict):
            continue
        kind = tool.get("type")
        spec = tool.get("function") if api == "chat.completions" and kind == "function" else tool
        if kind == "function" and isinstance(spec, dict):
            tools.append(
                {
                    "type": "function",
                    "name": spec.get("name"),
                    "description": spec.get("description"),
                    "parameters": spec.get("parameters") or {"type": "object", "properties": {}},
                    "strict": spec.get("strict"),
                }
            )
        elif kind in COMPUTER_TOOL_TYPES:
            tools.append(
                {
                    "type": "computer",
                    "declared_type": kind,
                    "display_width": tool.get("display_width"),
                    "display_height": tool.get("display_height"),
                    "environment": tool.get("environment"),
                }
            )
        else:
            tools.append({"type": str(kind), "name": tool.get("name")})
    return tools


def kind_of(api: str, data: dict[str, Any], tools: list[dict[str, Any]]) -> str:
    """What answering takes: ``screen`` (a computer), ``tools``, ``structured`` or ``text``."""
    names = [str(tool.get("name") or "").lower() for tool in tools if tool["type"] == "function"]
    if any(tool["type"] == "computer" for tool in tools) or any("computer" in n for n in names):
        return "screen"
    if names:
        return "tools"
    shape = data.get("response_format") if api == "chat.completions" else None
    if api == "responses":
        text = data.get("text")
        shape = text.get("format") if isinstance(text, dict) else None
    if isinstance(shape, dict) and shape.get("type") in ("json_schema", "json_object"):
        return "structured"
    return "text"


def choices_wanted(api: str, data: dict[str, Any]) -> int:
    """How many answers a request asks for: Chat Completions' ``n`` (Responses has none)."""
    n = data.get("n") if api == "chat.completions" else None
    if n is None:
        return 1
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_CHOICES:
        raise bad_request(f"Invalid 'n': expected an integer from 1 to {MAX_CHOICES}.", "n")
    return n


def responses_input(data: dict[str, Any]) -> list[Any]:
    """A Responses ``input`` as a list of items (a bare string is one user message)."""
    value = data.get("input")
    if value is None:
        return []
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    return list(value) if isinstance(value, list) else [value]


def messages_of(api: str, data: dict[str, Any]) -> list[Any]:
    return data.get("messages") or [] if api == "chat.completions" else responses_input(data)


def session_of(
    api: str, data: dict[str, Any], header: str | None, chained: str | None
) -> str | None:
    """Header ``x-session-id``, else the chain's session, else ``user``, else ``None``.

    Without any of them, the run's earlier step names the session, or a new run
    gets a fresh name (human/steps.py): two runs that merely begin alike are
    never one session.
    """
    if header:
        return header[:128]
    if chained:
        return chained
    for field in ("user", "safety_identifier"):
        value = data.get(field)
        if isinstance(value, str) and value:
            return value[:128]
    return None


def texts(value: Any) -> Iterator[str]:
    """Every piece of human-readable text in a message, content list or item."""
    if isinstance(value, str):
        if not value.startswith("data:"):
            yield value
    elif isinstance(value, list):
        for item in value:
            yield from texts(item)
    elif isinstance(value, dict):
        for key in ("content", "text", "output", "arguments", "instructions"):
            if key in value:
                yield from texts(value[key])


def preview_of(api: str, data: dict[str, Any]) -> str:
    """The last user text, shortened, for a queue row."""
    for message in reversed(messages_of(api, data)):
        if isinstance(message, dict) and message.get("role") == "user":
            text = " ".join(texts(message.get("content"))).strip()
            if text:
                return text[:PREVIEW_CHARS]
    return ""


def estimate_tokens(text_chars: int, images: int) -> int:
    """An estimate: a token per four characters, a flat price per image."""
    return math.ceil(text_chars / 4) + images * IMAGE_TOKENS


def prompt_tokens(api: str, data: dict[str, Any]) -> int:
    messages = messages_of(api, data)
    chars = sum(len(text) for text in texts(messages))
    chars += len(data.get("instructions") or "") if api == "responses" else 0
    return estimate_tokens(chars, sum(1 for _ in image_urls(messages)))


# -- images --------------------------------------------------------------------------


def is_inline_image(key: str, value: Any) -> bool:
    return (
        key in ("url", "image_url") and isinstance(value, str) and value.startswith("data:image/")
    )


def image_urls(value: Any) -> Iterator[str]:
    """Every inline ``data:image/...`` URL, in document order."""
    return (url for _, url in inline_images(value))


def inline_images(value: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """Every inline ``data:image/...`` URL with the path to it, in document order.

    The n-th is the dashboard's image n (``/api/tasks/{id}/images/{n}``).
    """
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            if is_inline_image(key, item):
                yield path, item
            else:
                yield from inline_images(item, path)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from inline_images(item, f"{where}[{index}]")


def link_images(value: Any, link: str) -> Any:
    """A copy with each inline image replaced by ``link`` + its index, in order."""
    counter = itertools.count()

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key: f"{link}{next(counter)}" if is_inline_image(key, item) else walk(item)
                for key, item in node.items()
            }
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    return walk(value)


# Raster formats a browser can only ever draw, told apart by their first bytes.
# Anything else (SVG above all, which can carry script) is never served inline.
_RASTER_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def raster_type(data: bytes) -> str | None:
    """The media type of a PNG, JPEG, GIF or WebP image by its bytes, else ``None``."""
    for magic, media_type in _RASTER_MAGIC:
        if data.startswith(magic):
            return media_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def decode_image(url: str) -> tuple[str, bytes] | None:
    """``(media type, bytes)`` of a base64 data URL, or ``None`` when it is not one."""
    header, _, payload = url.partition(",")
    if not header.startswith("data:image/") or not header.endswith(";base64"):
        return None
    try:
        return header[5:-7], base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return None
