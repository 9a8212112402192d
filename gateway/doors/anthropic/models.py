"""The fields of a Messages request the door reads, as pydantic models.

Everything else a client sends (``cache_control``, ``thinking``, ``metadata``,
``context_management``, fields newer than this code) is accepted and kept:
every model here allows extra fields, and a content block of a type this code
does not know is kept as a plain dict.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError

from gateway.errors import bad_request

T = TypeVar("T", bound=BaseModel)


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Base64Source(_Open):
    type: Literal["base64"]
    media_type: str
    data: str


class UrlSource(_Open):
    type: Literal["url"]
    url: str


class OtherSource(_Open):
    type: str  # "file", "text", "content": shown as what they are


def _source_kind(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if kind in ("base64", "url") else "other"


Source = Annotated[
    Annotated[Base64Source, Tag("base64")]
    | Annotated[UrlSource, Tag("url")]
    | Annotated[OtherSource, Tag("other")],
    Discriminator(_source_kind),
]


class TextBlock(_Open):
    type: Literal["text"]
    text: str


class ImageBlock(_Open):
    type: Literal["image"]
    source: Source


class DocumentBlock(_Open):
    type: Literal["document"]
    source: Source
    title: str | None = None


class ToolUseBlock(_Open):
    type: Literal["tool_use", "server_tool_use"]
    id: str
    name: str
    input: dict[str, Any] = Field(default_factory=dict)


class ToolResultBlock(_Open):
    type: Literal["tool_result"]
    tool_use_id: str
    content: str | list[Block] | None = None
    is_error: bool = False


class ThinkingBlock(_Open):
    type: Literal["thinking"]
    thinking: str


class RedactedThinkingBlock(_Open):
    type: Literal["redacted_thinking"]


KNOWN_BLOCKS = (
    "text",
    "image",
    "document",
    "tool_use",
    "server_tool_use",
    "tool_result",
    "thinking",
    "redacted_thinking",
)


def _block_kind(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if kind in KNOWN_BLOCKS else "other"


Block = Annotated[
    Annotated[TextBlock, Tag("text")]
    | Annotated[ImageBlock, Tag("image")]
    | Annotated[DocumentBlock, Tag("document")]
    | Annotated[ToolUseBlock, Tag("tool_use")]
    | Annotated[ToolUseBlock, Tag("server_tool_use")]
    | Annotated[ToolResultBlock, Tag("tool_result")]
    | Annotated[ThinkingBlock, Tag("thinking")]
    | Annotated[RedactedThinkingBlock, Tag("redacted_thinking")]
    | Annotated[dict[str, Any], Tag("other")],
    Discriminator(_block_kind),
]
ToolResultBlock.model_rebuild()


class Message(_Open):
    role: Literal["user", "assistant", "system"]
    content: str | list[Block]


class Tool(_Open):
    """A custom tool (``input_schema``), or one of Anthropic's (``type`` names it)."""

    name: str
    type: str | None = None
    description: str | None = None
    input_schema: dict[str, Any] | None = None
    display_width_px: int | None = None
    display_height_px: int | None = None


class ToolChoice(_Open):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool = False


class OutputFormat(_Open):
    """Structured outputs: the answer must be JSON fitting ``schema``."""

    type: Literal["json_schema"]
    schema_: dict[str, Any] = Field(alias="schema")


class OutputConfig(_Open):
    format: OutputFormat | None = None


class CountTokensRequest(_Open):
    """``POST /v1/messages/count_tokens``: a Messages request without ``max_tokens``."""

    model: str
    messages: list[Message]
    system: str | list[TextBlock] | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    output_config: OutputConfig | None = None
    output_format: OutputFormat | None = None  # the beta's spelling of output_config.format

    @property
    def output_schema(self) -> dict[str, Any] | None:
        """The JSON schema the answer must fit, if the request asked for one."""
        declared = self.output_config.format if self.output_config else None
        declared = declared or self.output_format
        return declared.schema_ if declared is not None else None


class MessagesRequest(CountTokensRequest):
    max_tokens: int = Field(ge=1)
    stream: bool = False
    metadata: dict[str, Any] | None = None


def parsed(model: type[T], data: dict[str, Any]) -> T:
    """``data`` read as ``model``; a 400 naming the field at fault.

    Of a union's errors (content as a string or as blocks) the deepest is named:
    it is where the client went wrong, not the alternative it did not mean.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = max(exc.errors(), key=lambda error: len(_fields(error["loc"])))
        where = ".".join(_fields(error["loc"])) or "body"
        raise bad_request(f"{where}: {error['msg']}", param=where) from None


def _fields(loc: tuple[Any, ...]) -> list[str]:
    """A pydantic error location without union member labels (``str``, ``list[...]``, tags)."""
    return [str(part) for part in loc if isinstance(part, int) or not _is_label(part)]


def _is_label(part: str) -> bool:
    return (
        part in KNOWN_BLOCKS
        or part in ("other", "url", "base64", "str", "int", "none")
        or "[" in part
    )
