"""Reading an OpenAI model's reply on a hybrid route: JSON or SSE, Chat Completions or Responses.

Turns the upstream bytes into the core's ``ModelOutput``, asks for logprobs on the
client's behalf when the policy scores confidence, and strips them again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from gateway.http.sse import sse_json
from gateway.hybrid.output import ModelOutput

LOGPROBS_INCLUDE = "message.output_text.logprobs"


@dataclass(frozen=True, slots=True)
class OpenAIReader:
    """The ``OutputReader`` of one OpenAI API."""

    api: str  # "chat.completions" or "responses"

    def read(self, body: bytes, stream: bool) -> ModelOutput:
        return parse_reply(self.api, body, stream)

    def strip_logprobs(self, body: bytes, stream: bool) -> bytes:
        return strip_logprobs(self.api, body, stream)


def ask_for_logprobs(api: str, data: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The request with logprobs turned on, and whether the client had not asked."""
    if api == "chat.completions":
        if data.get("logprobs"):
            return data, False
        return {**data, "logprobs": True}, True
    include = list(data.get("include") or [])
    if LOGPROBS_INCLUDE in include:
        return data, False
    return {**data, "include": [*include, LOGPROBS_INCLUDE]}, True


def parse_reply(api: str, body: bytes, stream: bool) -> ModelOutput:
    """Parse a whole upstream reply; raises ``ValueError`` when it is not one."""
    try:
        if api == "chat.completions":
            chunks = list(sse_json(body)) if stream else None
            return _chat_stream(chunks) if chunks is not None else _chat(orjson.loads(body))
        data = _final_response(body) if stream else orjson.loads(body)
        return _response(data)
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise ValueError(f"unreadable model reply: {exc}") from None


def strip_logprobs(api: str, body: bytes, stream: bool) -> bytes:
    """The reply without the logprobs the gateway added; each SSE event re-encoded."""
    empty: Any = None if api == "chat.completions" else []
    if not stream:
        return orjson.dumps(_without_logprobs(orjson.loads(body), empty))
    out = []
    for line in body.split(b"\n"):
        if line.startswith(b"data: {") or line.startswith(b"data:{"):
            payload = orjson.loads(line.partition(b":")[2])
            line = b"data: " + orjson.dumps(_without_logprobs(payload, empty))
        out.append(line)
    return b"\n".join(out)


def _without_logprobs(value: Any, empty: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: (empty if key == "logprobs" else _without_logprobs(item, empty))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_without_logprobs(item, empty) for item in value]
    return value


def _arguments(text: str) -> dict[str, Any] | str:
    try:
        parsed = orjson.loads(text or "{}")
    except orjson.JSONDecodeError:
        return text
    return parsed if isinstance(parsed, dict) else text


# -- Chat Completions ----------------------------------------------------------------


def _chat(body: dict[str, Any]) -> ModelOutput:
    answers = [_chat_choice(choice) for choice in body["choices"]]
    answer = answers[0]
    answer.usage, answer.raw = body.get("usage"), body
    if len(answers) > 1:
        answer.choices = [each.choice_draft() for each in answers]
        answer.others = answers[1:]
    return answer


def _chat_choice(choice: dict[str, Any]) -> ModelOutput:
    message = choice["message"]
    functions = [call["function"] for call in message.get("tool_calls") or []]
    tokens = (choice.get("logprobs") or {}).get("content") or []
    return ModelOutput(
        content=message.get("content"),
        tool_calls=[
            {"name": function["name"], "arguments": _arguments(function["arguments"])}
            for function in functions
        ],
        finish_reason=choice.get("finish_reason"),
        refusal=message.get("refusal"),
        logprobs=[token["logprob"] for token in tokens],
    )


def _chat_stream(chunks: list[dict[str, Any]]) -> ModelOutput:
    """The streamed choices put back together; the first is the answer judged."""
    parts: dict[int, dict[str, Any]] = {}
    usage = None
    for chunk in chunks:
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices") or []:
            part = parts.setdefault(
                choice.get("index", 0),
                {"text": [], "refusal": [], "calls": {}, "answer": ModelOutput()},
            )
            delta = choice.get("delta") or {}
            part["text"].append(delta.get("content") or "")
            part["refusal"].append(delta.get("refusal") or "")
            for call in delta.get("tool_calls") or []:
                slot = part["calls"].setdefault(call["index"], {"name": "", "arguments": ""})
                function = call.get("function") or {}
                slot["name"] += function.get("name") or ""
                slot["arguments"] += function.get("arguments") or ""
            answer = part["answer"]
            logprobs = (choice.get("logprobs") or {}).get("content") or []
            answer.logprobs.extend(token["logprob"] for token in logprobs)
            answer.finish_reason = choice.get("finish_reason") or answer.finish_reason
    answers = []
    for _, part in sorted(parts.items()):
        answer = part["answer"]
        answer.content = "".join(part["text"]) or None
        answer.refusal = "".join(part["refusal"]) or None
        answer.tool_calls = [
            {"name": call["name"], "arguments": _arguments(call["arguments"])}
            for _, call in sorted(part["calls"].items())
        ]
        answers.append(answer)
    answer = answers[0] if answers else ModelOutput()
    answer.usage, answer.raw = usage, {"chunks": chunks}
    if len(answers) > 1:
        answer.choices = [each.choice_draft() for each in answers]
        answer.others = answers[1:]
    return answer


# -- Responses -----------------------------------------------------------------------

_INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}


def _final_response(body: bytes) -> dict[str, Any]:
    final = None
    for event in sse_json(body):
        if event.get("type") in ("response.completed", "response.incomplete", "response.failed"):
            final = event["response"]
    if final is None:
        raise KeyError("the stream has no final response event")
    return final


def _response(body: dict[str, Any]) -> ModelOutput:
    answer = ModelOutput(usage=body.get("usage"), raw=body)
    text: list[str] = []
    for item in body.get("output") or []:
        kind = item.get("type")
        if kind == "message":
            for part in item.get("content") or []:
                if part.get("type") == "output_text":
                    text.append(part.get("text") or "")
                    answer.logprobs.extend(token["logprob"] for token in part.get("logprobs") or [])
                elif part.get("type") == "refusal":
                    answer.refusal = (answer.refusal or "") + (part.get("refusal") or "")
        elif kind == "function_call":
            answer.tool_calls.append(
                {"name": item["name"], "arguments": _arguments(item.get("arguments") or "")}
            )
        elif kind == "computer_call":
            actions = item.get("actions") or ([item["action"]] if item.get("action") else [])
            answer.computer_actions.extend(actions)
    answer.content = "".join(text) if text else None
    if body.get("status") == "incomplete":
        reason = (body.get("incomplete_details") or {}).get("reason")
        answer.finish_reason = _INCOMPLETE.get(reason or "", "length")
    elif body.get("status") == "failed":
        raise KeyError("the response failed")
    else:
        answer.finish_reason = "tool_calls" if answer.tool_calls else "stop"
    return answer
