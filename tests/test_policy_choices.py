"""Hybrid policy with ``n > 1``: every choice the client would receive is judged.

Pure functions, in process: a model reply body (non-streamed and streamed) is
parsed as the hybrid route parses it, then decided by the model's policy.
"""

from __future__ import annotations

import math

import orjson
import pytest

from gateway.config import ModelConfig
from gateway.doors.openai.model_reader import parse_reply
from gateway.hybrid.policy import Policy


def policy(**settings) -> Policy:
    return Policy(ModelConfig(upstream="local", human="escalate", **settings))


def choice(index: int, content=None, *, refusal=None, calls=(), finish="stop", probability=None):
    message = {"role": "assistant", "content": content, "refusal": refusal}
    if calls:
        message["tool_calls"] = [
            {
                "id": f"call_{index}{n}",
                "type": "function",
                "function": {"name": name, "arguments": "{}"},
            }
            for n, name in enumerate(calls)
        ]
    logprobs = None
    if probability is not None:
        logprobs = {"content": [{"token": "x", "logprob": math.log(probability)}]}
    return {"index": index, "message": message, "logprobs": logprobs, "finish_reason": finish}


def reply(*choices) -> bytes:
    return orjson.dumps(
        {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
         "choices": list(choices)}
    )  # fmt: skip


def streamed(*choices) -> bytes:
    """The same choices as a model streams them: one chunk per choice and a finish chunk."""
    lines = []
    for each in choices:
        message = each["message"]
        delta = {"role": "assistant", "content": message["content"], "refusal": message["refusal"]}
        chunk = {"index": each["index"], "delta": delta, "logprobs": each["logprobs"]}
        finish = {"index": each["index"], "delta": {}, "finish_reason": each["finish_reason"]}
        for part in (chunk, finish):
            body = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                    "choices": [part]}  # fmt: skip
            lines.append(b"data: " + orjson.dumps(body) + b"\n\n")
    return b"".join([*lines, b"data: [DONE]\n\n"])


@pytest.mark.parametrize("stream", [False, True])
def test_a_refusal_in_a_later_choice_escalates(stream):
    choices = (choice(0, "Paris"), choice(1, refusal="I can't help with that."))
    body = streamed(*choices) if stream else reply(*choices)
    decision = policy().decide({}, parse_reply("chat.completions", body, stream), False)
    assert (decision.escalate, decision.reason) == (True, "refusal")


@pytest.mark.parametrize("stream", [False, True])
def test_a_cut_off_later_choice_escalates(stream):
    choices = (choice(0, "Paris"), choice(1, "Par", finish="length"))
    body = streamed(*choices) if stream else reply(*choices)
    decision = policy().decide({}, parse_reply("chat.completions", body, stream), False)
    assert decision.reason == "length"


def test_a_reviewed_tool_in_a_later_choice_escalates():
    body = reply(choice(0, calls=["lookup"]), choice(1, calls=["delete_file"]))
    decision = policy(review_tools=["delete_*"]).decide(
        {}, parse_reply("chat.completions", body, False), False
    )
    assert decision.reason == "tool_review"


def test_the_confidence_is_the_least_confident_choice():
    body = reply(choice(0, "Paris", probability=0.95), choice(1, "Lyon", probability=0.4))
    decision = policy(min_confidence=0.7).decide(
        {}, parse_reply("chat.completions", body, False), False
    )
    assert decision.reason == "low_confidence"
    assert decision.confidence == pytest.approx(0.4)


def test_choices_that_all_pass_are_not_escalated():
    body = reply(choice(0, "Paris", probability=0.95), choice(1, "Paris.", probability=0.9))
    decision = policy(min_confidence=0.7).decide(
        {}, parse_reply("chat.completions", body, False), False
    )
    assert (decision.escalate, decision.reason) == (False, None)
    assert decision.confidence == pytest.approx(0.9)
