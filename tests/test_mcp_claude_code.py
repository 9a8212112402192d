"""Claude Code itself (npm ``@anthropic-ai/claude-code``, installed by ``.ci/run``) with the
gateway as both its model (``--model human``, the Anthropic door) and its MCP server
(``--permission-prompt-tool mcp__hitl__request_permission``): a person answers as the model
with a ``Bash`` tool use; Claude Code asks permission through ``/mcp``, and the command does
not run before a person allows it; then it runs, and the person answers the follow-up."""

from __future__ import annotations

import json
from pathlib import Path

from claude_code import claude_code, requires_claude
from harness import run_gateway
from reviewer_client import Reviewer

CLIENT_KEY = "client-key"
PROMPT = "Write a note for the night shift into note.txt"
COMMAND = "printf 'the build is green' > note.txt"

pytestmark = requires_claude


def test_claude_code_asks_a_person_before_bash_runs(tmp_path: Path) -> None:
    home, workdir = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    workdir.mkdir()
    config = f'[auth]\nclient_keys = ["{CLIENT_KEY}"]\n'
    with run_gateway(tmp_path, config) as gateway:
        servers = {
            "hitl": {
                "type": "http",
                "url": gateway.url + "/mcp",
                "headers": {"Authorization": f"Bearer {CLIENT_KEY}"},
            }
        }
        mcp_config = tmp_path / "mcp.json"
        mcp_config.write_text(json.dumps({"mcpServers": servers}))
        reviewer = Reviewer(gateway.url, "alice")
        claude = claude_code(
            gateway.url,
            CLIENT_KEY,
            home,
            workdir,
            "-p",
            PROMPT,
            "--model",
            "human",
            "--mcp-config",
            str(mcp_config),
            "--permission-prompt-tool",
            "mcp__hitl__request_permission",
        )
        try:
            first = reviewer.wait_for_task(lambda t: t["preview"] == PROMPT, timeout=60)
            tools = [tool["name"] for tool in reviewer.task(first["id"])["tools"]]
            assert "Bash" in tools
            assert "mcp__hitl__ask_human" in tools  # the gateway's tools reached the agent
            answered = reviewer.answer(
                first["id"],
                tool_calls=[
                    {"name": "Bash", "arguments": {"command": COMMAND, "description": "Write"}}
                ],
            )
            assert answered.status == 200, answered.body

            asked = reviewer.wait_for_task(lambda t: t["kind"] == "permission", timeout=60)
            # The prompt is about the tool use the person gave: it is in that run, and
            # says what the run was asked to do.
            assert asked["session"] == first["session"]
            call = reviewer.task(asked["id"])["request"]["mcp"]
            assert call["run"] == {"task_id": first["id"], "step": 1, "goal": PROMPT}
            assert call["tool_name"] == "Bash"
            assert call["input"]["command"] == COMMAND
            assert call["tool_use_id"].startswith("toolu_")
            assert not (workdir / "note.txt").exists()  # waiting for a person: not run
            assert claude.poll() is None
            allowed = reviewer.answer(asked["id"], content={"behavior": "allow"})
            assert allowed.status == 200, allowed.body

            second = reviewer.wait_for_task(
                lambda t: t["follows"] == first["id"] and t["kind"] != "permission", timeout=60
            )
            assert (workdir / "note.txt").read_text() == "the build is green"
            messages = reviewer.task(second["id"])["request"]["messages"]
            assert [m for m in messages if m["role"] == "tool"]
            done = reviewer.answer(second["id"], content="The note is written.")
            assert done.status == 200, done.body
            out, err = claude.communicate(timeout=60)
        finally:
            if claude.poll() is None:
                claude.kill()
                claude.wait(timeout=10)
    assert claude.returncode == 0, err
    assert out.strip() == "The note is written."


def test_claude_code_does_not_run_a_denied_command(tmp_path: Path) -> None:
    home, workdir = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    workdir.mkdir()
    with run_gateway(tmp_path, "") as gateway:
        servers = {"hitl": {"type": "http", "url": gateway.url + "/mcp"}}
        mcp_config = tmp_path / "mcp.json"
        mcp_config.write_text(json.dumps({"mcpServers": servers}))
        reviewer = Reviewer(gateway.url, "alice")
        claude = claude_code(
            gateway.url,
            CLIENT_KEY,
            home,
            workdir,
            "-p",
            PROMPT,
            "--model",
            "human",
            "--mcp-config",
            str(mcp_config),
            "--permission-prompt-tool",
            "mcp__hitl__request_permission",
        )
        try:
            first = reviewer.wait_for_task(lambda t: t["preview"] == PROMPT, timeout=60)
            reviewer.answer(
                first["id"],
                tool_calls=[{"name": "Bash", "arguments": {"command": COMMAND}}],
            )
            asked = reviewer.wait_for_task(lambda t: t["kind"] == "permission", timeout=60)
            denied = reviewer.answer(
                asked["id"], content={"behavior": "deny", "message": "not tonight"}
            )
            assert denied.status == 200, denied.body
            second = reviewer.wait_for_task(
                lambda t: t["follows"] == first["id"] and t["kind"] != "permission", timeout=60
            )
            messages = reviewer.task(second["id"])["request"]["messages"]
            [result] = [m for m in messages if m["role"] == "tool"]
            assert "not tonight" in json.dumps(result["content"])  # the agent read why
            reviewer.answer(second["id"], content="Understood, no note.")
            out, err = claude.communicate(timeout=60)
        finally:
            if claude.poll() is None:
                claude.kill()
                claude.wait(timeout=10)
    assert claude.returncode == 0, err
    assert not (workdir / "note.txt").exists()
    assert out.strip() == "Understood, no note."
