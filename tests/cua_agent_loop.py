"""Run Cua's ``ComputerAgent`` with OpenAI's computer-use loop against the gateway.

Executed by tests/test_cua.py with the Python of the Cua environment (.cua-venv).
``ComputerAgent("openai/computer-use-preview", api_base=<gateway>/v1)`` sends
Responses requests through litellm; the gateway routes that model to a person.
The computer is a stand-in (a dict of functions, Cua's own ``CustomComputerHandler``):
its screen is a fixed PNG and every action it is told to do is recorded, so the
test sees what the person's answer made the agent do.

Usage: python cua_agent_loop.py BASE_URL API_KEY
Prints one JSON line: {"actions": [...], "outputs": [...output items of every step]}.
"""

import asyncio
import base64
import json
import os
import sys
import zlib

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network at import
os.environ["CUA_TELEMETRY_ENABLED"] = "false"  # no network beyond the gateway

# A 64 x 48 grey PNG, built here so the script needs nothing but the stdlib and Cua.
WIDTH, HEIGHT = 64, 48


def png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = WIDTH.to_bytes(4, "big") + HEIGHT.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    rows = b"".join(b"\x00" + b"\x80" * WIDTH for _ in range(HEIGHT))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


async def main() -> None:
    from cua_agent import ComputerAgent

    base_url, key = sys.argv[1], sys.argv[2]
    actions: list[dict] = []
    screen = base64.b64encode(png()).decode()

    def record(kind: str, *names: str):
        def action(*args):
            actions.append({"type": kind, **dict(zip(names, args, strict=False))})

        return action

    computer = {
        "screenshot": lambda: screen,
        "dimensions": (WIDTH, HEIGHT),
        "environment": "linux",
        "click": record("click", "x", "y", "button"),
        "double_click": record("double_click", "x", "y"),
        "type": record("type", "text"),
        "keypress": record("keypress", "keys"),
        "scroll": record("scroll", "x", "y", "scroll_x", "scroll_y"),
        "move": record("move", "x", "y"),
    }
    agent = ComputerAgent(
        "openai/computer-use-preview",
        tools=[computer],
        api_base=base_url,
        api_key=key,
        max_retries=0,
        screenshot_delay=0,
        telemetry_enabled=False,
    )
    outputs: list[dict] = []
    messages = [{"role": "user", "content": "Save the file"}]
    async for step in agent.run(messages):
        outputs.extend(step.get("output", []))
    print(json.dumps({"actions": actions, "outputs": outputs}, default=str))


if __name__ == "__main__":
    asyncio.run(main())
