"""Cua's human-tool protocol under /cua, with Cua's own ``HumanAdapter`` as the client.

The adapter runs in a separate environment (cua-agent pins litellm, which pins
more than we do), built here on first use: cua-agent without its dependencies,
plus what the adapter's module imports. The person is played through the
reviewer API, and through the protocol's own reviewer side as Cua's UI uses it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2
import openai
import pytest
from harness import Gateway, run_gateway, wait_until
from openai.types.chat import ChatCompletionMessageToolCall
from openai.types.responses import ResponseComputerToolCall, ResponseOutputMessage
from pydantic import TypeAdapter
from reviewer_client import Reviewer, data_url, png

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".cua-venv"
# cua-agent as the issue names it, with its dependencies (ComputerAgent needs them; litellm
# is pinned by cua-agent itself), and requests, which its adapter module imports.
CUA_PACKAGES = (["cua-agent==0.9.1", "requests"],)
KEY = "sk-cua-agent"
CONFIG = f"""
[auth]
client_keys = ["{KEY}"]

[human]
reattach_grace_s = 0

[models.human]
route = "human"

[models."computer-use-preview"]  # what ComputerAgent("openai/computer-use-preview") asks for
route = "human"
"""
SCREEN = data_url(png(64, 48))
MESSAGES = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "Save the file"},
            {"type": "image_url", "image_url": {"url": SCREEN}},
        ],
    }
]
TOOL_CALL = TypeAdapter(ChatCompletionMessageToolCall)
CALL_ID = re.compile(r"call_[0-9a-f]{24}")


def _ready(python: Path) -> bool:
    modules = "('cua_agent', 'cua_core', 'litellm', 'requests')"
    check = f"import importlib.util as u; assert all(map(u.find_spec, {modules}))"
    return python.exists() and subprocess.run([python, "-c", check]).returncode == 0


@pytest.fixture(scope="session")
def cua_python() -> str:
    """A Python with cua-agent's adapter importable: $CUA_PYTHON, else .cua-venv (built)."""
    if os.environ.get("CUA_PYTHON"):
        return os.environ["CUA_PYTHON"]
    python = VENV / "bin" / "python"
    if not _ready(python):
        try:
            subprocess.run([sys.executable, "-m", "venv", "--clear", VENV], check=True)
            for packages in CUA_PACKAGES:
                subprocess.run(
                    [
                        python,
                        "-m",
                        "pip",
                        "install",
                        "-q",
                        "--disable-pip-version-check",
                        *packages,
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            output = getattr(error, "stderr", "") or ""
            pytest.skip(f"cannot build Cua's environment in {VENV}: {error}\n{output[-2000:]}")
    if not _ready(python):
        pytest.skip(f"Cua's environment in {VENV} cannot import cua_agent's adapter")
    return str(python)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[Gateway]:
    with run_gateway(tmp_path_factory.mktemp("cua"), CONFIG) as gateway:
        yield gateway


def adapter(python: str, gateway: Gateway, mode: str, home: Path) -> subprocess.Popen:
    """Cua's adapter asking a person, as ComputerAgent("human/human") does."""
    env = {
        **os.environ,
        "HUMAN_BASE_URL": f"{gateway.url}/cua",  # the whole change for a Cua user
        "CUA_HUMAN_TOOL_TOKEN": KEY,  # Cua's own token setting: the client key
        "CUA_HOME": str(home),  # so no token file of this machine's is read
    }
    messages = home / "messages.json"
    messages.write_text(json.dumps(MESSAGES))
    return subprocess.Popen(
        [python, str(ROOT / "tests" / "cua_adapter.py"), mode, str(messages)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def result(process: subprocess.Popen) -> dict:
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr[-3000:]
    return json.loads(stdout.strip().splitlines()[-1])


SEEN: set[str] = set()  # tasks this module has made so far


def wait_for_cua_task(reviewer: Reviewer, process: subprocess.Popen) -> dict:
    """The adapter's task, once queued (the adapter failing ends the wait)."""

    def queued() -> dict | None:
        if process.poll() is not None:
            raise AssertionError("the adapter exited: " + process.communicate()[1][-3000:])
        return next((t for t in reviewer.tasks("pending") if t["id"] not in SEEN), None)

    task = wait_until(queued, 60, interval=0.05, what="the adapter's task")
    SEEN.add(task["id"])
    return task


def test_the_adapter_gets_a_persons_text(cua_python, gateway, reviewer, tmp_path) -> None:
    process = adapter(cua_python, gateway, "sync", tmp_path)
    task = wait_for_cua_task(reviewer, process)
    view = reviewer.task(task["id"])
    assert view["api"] == "chat.completions" and view["preview"] == "Save the file"
    assert [tool["name"] for tool in view["tools"]] == ["computer"]
    assert view["images"] == 1  # the screenshot, shown in the dashboard's workspace
    assert reviewer.answer(task["id"], content="The file is saved.").status == 200
    assert result(process) == {
        "content": "The file is saved.",
        "tool_calls": [],
        "model": "human/human",
    }


def test_the_adapter_gets_computer_actions_as_cua_writes_them(
    cua_python, gateway, reviewer, tmp_path
) -> None:
    process = adapter(cua_python, gateway, "async", tmp_path)
    task = wait_for_cua_task(reviewer, process)
    actions = [
        {"type": "click", "x": 30, "y": 20},
        {"type": "double_click", "x": 1, "y": 2},
        {"type": "move", "x": 5, "y": 6},
        {"type": "type", "text": "notes.txt"},
        {"type": "keypress", "keys": ["ctrl", "s"]},
        {"type": "wait"},
    ]
    assert reviewer.answer(task["id"], computer_actions=actions).status == 200
    calls = result(process)["tool_calls"]
    for call in calls:
        TOOL_CALL.validate_python(call)
        assert CALL_ID.fullmatch(call["id"]) and call["type"] == "function"
        assert call["function"]["name"] == "computer"
    assert [json.loads(call["function"]["arguments"]) for call in calls] == [
        {"type": "click", "button": "left", "x": 30, "y": 20},
        {"type": "double_click", "x": 1, "y": 2},
        {"type": "move", "x": 5, "y": 6},
        {"type": "type", "text": "notes.txt"},
        {"type": "keypress", "keys": "ctrl+s"},
        {"type": "wait"},
    ]


def test_computer_agents_openai_loop_on_the_human_route(
    cua_python, gateway, reviewer, tmp_path
) -> None:
    """``ComputerAgent("openai/computer-use-preview", api_base=<gateway>/v1)``, a person as model.

    Cua's OpenAI loop sends Responses requests through litellm with the
    ``computer_use_preview`` tool; the person's click reaches Cua's computer (a
    stand-in that records what it is told), and its screenshot comes back as the
    next step's task, which the person ends with text.
    """
    env = {**os.environ, "CUA_HOME": str(tmp_path)}
    process = subprocess.Popen(
        [cua_python, str(ROOT / "tests" / "cua_agent_loop.py"), gateway.base_url, KEY],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        first = wait_for_cua_task(reviewer, process)
        view = reviewer.task(first["id"])
        assert view["api"] == "responses" and view["model"] == "computer-use-preview"
        assert view["preview"] == "Save the file" and view["kind"] == "screen"
        click = [{"type": "click", "x": 30, "y": 20}]
        assert reviewer.answer(first["id"], computer_actions=click).status == 200
        second = wait_for_cua_task(reviewer, process)
        assert second["follows"] == first["id"] and second["step"] == 2
        assert reviewer.task(second["id"])["images"] == 1  # the screen after the click
        assert reviewer.answer(second["id"], content="The file is saved.").status == 200
        ran = result(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert ran["actions"] == [{"type": "click", "x": 30, "y": 20, "button": "left"}]
    call, shot, message = ran["outputs"]
    computer_call = ResponseComputerToolCall.model_validate(call)
    assert computer_call.action.type == "click"
    assert (computer_call.action.x, computer_call.action.y) == (30, 20)
    assert shot["type"] == "computer_call_output" and shot["call_id"] == computer_call.call_id
    reply = ResponseOutputMessage.model_validate(message)
    assert [part.text for part in reply.content] == ["The file is saved."]


# -- the protocol itself, as Cua's UI and adapter speak it (no Cua environment needed) ---


def cua(gateway: Gateway, method: str, path: str, body=None, key: str | None = KEY):
    headers = {}
    if key is not None:
        headers["authorization"] = f"Bearer {key}"
    return httpx2.request(method, f"{gateway.url}/cua{path}", json=body, headers=headers)


def queued_count(gateway: Gateway) -> float:
    """``gateway_requests_total`` for model ``human`` on the human route with status 200."""
    text = httpx2.get(f"{gateway.url}/metrics").text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("gateway_requests_total{")
        and 'model="human"' in line
        and 'route="human"' in line
        and 'status="200"' in line
    )


def test_protocol_endpoints_and_shapes(gateway, reviewer) -> None:
    refused = cua(gateway, "POST", "/queue", {"messages": MESSAGES, "model": "human"}, key=None)
    assert refused.status_code == 401 and "detail" in refused.json()
    assert refused.json()["error"]["code"] == "invalid_api_key"
    assert refused.headers["www-authenticate"] == "Bearer"
    assert cua(gateway, "GET", "/pending", key="wrong").status_code == 401

    queued_before = queued_count(gateway)
    first = cua(gateway, "POST", "/queue", {"messages": MESSAGES, "model": "human"}).json()
    second = cua(gateway, "POST", "/queue", {"messages": MESSAGES, "model": "human"}).json()
    assert queued_count(gateway) == queued_before + 2  # counted in gateway_requests_total
    assert first["status"] == "queued" and second["status"] == "queued"
    SEEN.update((first["id"], second["id"]))
    status = cua(gateway, "GET", f"/status/{first['id']}").json()
    assert status["status"] == "pending" and status["model"] == "human"
    assert status["messages"] == MESSAGES
    assert status["created_at"].endswith("+00:00")
    assert "completed_at" not in status and "response" not in status
    pending = [call["id"] for call in cua(gateway, "GET", "/pending").json()["pending_calls"]]
    assert pending.index(first["id"]) < pending.index(second["id"])  # oldest first

    # Cua's UI answers a click by naming the target in words.
    action = {"type": "click", "element_description": "the Save button", "button": "left"}
    written = {
        "id": "call_" + "ab" * 12,
        "type": "function",
        "function": {"name": "computer", "arguments": json.dumps(action)},
    }
    done = cua(gateway, "POST", f"/complete/{first['id']}", {"tool_calls": [written]})
    assert done.status_code == 200 and done.json()["status"] == "success"
    status = cua(gateway, "GET", f"/status/{first['id']}").json()
    assert status["status"] == "completed" and status["completed_at"]
    [call] = status["tool_calls"]
    TOOL_CALL.validate_python(call)
    assert json.loads(call["function"]["arguments"]) == action
    again = cua(gateway, "POST", f"/complete/{first['id']}", {"response": "late"})
    assert again.status_code == 409 and "detail" in again.json()

    failed = cua(gateway, "POST", f"/fail/{second['id']}", {"error": "the screen is locked"})
    assert failed.json() == {"status": "failed"}
    status = cua(gateway, "GET", f"/status/{second['id']}").json()
    assert status["status"] == "failed" and status["error"] == "the screen is locked"

    missing = cua(gateway, "GET", "/status/task_nope")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "Completion call not found"  # what Cua's adapter reads
    envelope = missing.json()["error"]  # and OpenAI's envelope, like every gateway error
    assert envelope["message"] == "Completion call not found" and envelope["type"]
    assert cua(gateway, "POST", "/queue", {"model": "human"}).status_code == 422


def assert_protocol_error(reply, status: int) -> dict:
    """A 4xx in the protocol's ``detail`` with OpenAI's envelope beside it."""
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert set(body) == {"detail", "error"} and body["detail"] == body["error"]["message"]
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


def test_bodies_that_were_500s_are_4xx_in_the_envelope(gateway, reviewer) -> None:
    queued = cua(gateway, "POST", "/queue", {"messages": MESSAGES, "model": "human"}).json()
    SEEN.add(queued["id"])
    headers = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}
    # POST /fail/{id} with a body that is not JSON (was an unguarded orjson.loads).
    for junk in (b"not json", b"{", b"\xff\xfe"):
        reply = httpx2.post(f"{gateway.url}/cua/fail/{queued['id']}", content=junk, headers=headers)
        assert assert_protocol_error(reply, 422)["param"] == "body"
    assert cua(gateway, "GET", f"/status/{queued['id']}").json()["status"] == "pending"
    # An integer beyond 64 bits anywhere in the body (pydantic took it, orjson could not).
    big = 2**64
    for where, body in (
        ("messages.0.extra", {"model": "human", "messages": [{**MESSAGES[0], "extra": big}]}),
        (
            "messages.0.content.1.n",
            {
                "model": "human",
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "text", "text": "x"}, {"n": -(2**63) - 1}],
                    }
                ],
            },
        ),
    ):
        error = assert_protocol_error(cua(gateway, "POST", "/queue", body), 422)
        assert error["param"] == where and "64 bits" in error["message"]
    call = {"id": "call_1", "type": "function", "function": {"name": "computer", "x": big}}
    reply = cua(gateway, "POST", f"/complete/{queued['id']}", {"tool_calls": [call]})
    assert assert_protocol_error(reply, 422)["param"] == "tool_calls.0.function.x"
    # The largest integers orjson writes still go through.
    edge = {"model": "human", "messages": [{**MESSAGES[0], "extra": [2**64 - 1, -(2**63)]}]}
    fine = cua(gateway, "POST", "/queue", edge)
    assert fine.status_code == 200, fine.text
    SEEN.add(fine.json()["id"])
    assert cua(gateway, "POST", f"/fail/{queued['id']}", {"error": "done"}).status_code == 200


def test_a_cua_task_is_never_cancelled_for_want_of_a_connection(gateway, reviewer) -> None:
    queued = cua(gateway, "POST", "/queue", {"messages": MESSAGES, "model": "human"}).json()
    SEEN.add(queued["id"])
    # An OpenAI client that gives up: with no re-attach grace its task is cancelled at once.
    client = openai.OpenAI(base_url=gateway.base_url, api_key=KEY, max_retries=0, timeout=0.5)
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(
            model="human", messages=[{"role": "user", "content": "gone soon"}]
        )
    gone = wait_until(
        lambda: next(iter(reviewer.tasks("cancelled")), None), 10, what="the cancellation"
    )
    assert gone["preview"] == "gone soon"
    assert cua(gateway, "GET", f"/status/{queued['id']}").json()["status"] == "pending"
    # Still the reviewer's to answer, through the reviewer API like any task.
    assert reviewer.answer(queued["id"], content="done").status == 200
    assert cua(gateway, "GET", f"/status/{queued['id']}").json()["response"] == "done"
