"""A fake model provider that answers a chat request with ``n`` choices of JSON.

Choice ``i`` says ``{"name": "Model i"}``; for a prompt starting ``badjson`` every
choice is ``not json``, and for one starting ``refuse`` a refusal (non-streaming).
Streams interleave the choices, as a model's do.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

REFUSAL = "I won't name that city."


def model_content(prompt: str, index: int) -> str:
    return "not json" if prompt.startswith("badjson") else json.dumps({"name": f"Model {index}"})


def fake_provider(received: list[dict[str, Any]]) -> web.Application:
    async def chat(request: web.Request) -> web.StreamResponse:
        data = await request.json()
        received.append(data)
        prompt = data["messages"][-1]["content"]
        contents = [model_content(prompt, i) for i in range(data.get("n", 1))]
        base = {"id": "chatcmpl-fake", "created": 1741569952, "model": data["model"]}
        if not data.get("stream"):
            refuse = prompt.startswith("refuse")
            choices = [
                {
                    "index": i,
                    "message": {
                        "role": "assistant",
                        "content": None if refuse else text,
                        "refusal": REFUSAL if refuse else None,
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
                for i, text in enumerate(contents)
            ]
            usage = {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}
            return web.json_response(
                {**base, "object": "chat.completion", "choices": choices, "usage": usage}
            )
        events = []
        for i, text in enumerate(contents):  # choices interleaved, as a model streams them
            events.append({"index": i, "delta": {"role": "assistant", "content": text[:4]}})
        for i, text in enumerate(contents):
            events.append({"index": i, "delta": {"content": text[4:]}})
            events.append({"index": i, "delta": {}, "finish_reason": "stop"})
        lines = [
            b"data: "
            + json.dumps({**base, "object": "chat.completion.chunk", "choices": [e]}).encode()
            + b"\n\n"
            for e in events
        ]
        return web.Response(body=b"".join([*lines, b"data: [DONE]\n\n"]))

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app
