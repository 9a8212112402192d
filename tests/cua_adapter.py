"""Run Cua's real ``HumanAdapter`` once and print what it returned, as JSON.

Executed by tests/test_cua.py with the Python of a separate environment holding
cua-agent (its pins differ from ours). The adapter's module is loaded from its
file, as the issue asks: ``cua_agent``'s package ``__init__`` pulls in the whole
agent (and ``human_tool``'s pulls in gradio). The adapter reads ``HUMAN_BASE_URL``
and sends ``CUA_HUMAN_TOOL_TOKEN`` as its Bearer token, as it does inside
``ComputerAgent("human/human")``.

Usage: python cua_adapter.py sync|async MESSAGES.json
"""

import asyncio
import importlib.util
import json
import os
import sys
import types

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network at import


def load_adapter():
    """``HumanAdapter`` without running ``cua_agent``'s package ``__init__``.

    The adapter imports ``..human_auth`` (stdlib only), so its packages are
    stood in for by empty modules pointing at their directories.
    """
    root = importlib.util.find_spec("cua_agent").submodule_search_locations[0]
    for name, path in (("cua_agent", root), ("cua_agent.adapters", root + "/adapters")):
        package = types.ModuleType(name)
        package.__path__ = [path]
        sys.modules[name] = package
    return importlib.import_module("cua_agent.adapters.human_adapter").HumanAdapter


def main() -> None:
    mode = sys.argv[1]
    with open(sys.argv[2]) as file:
        messages = json.load(file)
    adapter = load_adapter()(timeout=60)
    if mode == "sync":
        reply = adapter.completion(model="human", messages=messages)
    else:
        reply = asyncio.run(adapter.acompletion(model="human", messages=messages))
    message = reply.choices[0].message
    calls = [call.model_dump() for call in message.tool_calls or []]
    print(json.dumps({"content": message.content, "tool_calls": calls, "model": reply.model}))


if __name__ == "__main__":
    main()
