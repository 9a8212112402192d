"""Claude Code itself (npm ``@anthropic-ai/claude-code``, installed by ``.ci/run``) with a
person behind ``--model human``: the person answers with a ``Bash`` tool use, Claude
Code runs it, the person answers the follow-up with text."""

from __future__ import annotations

import time
from pathlib import Path

from claude_code import claude_code, requires_claude
from harness import run_gateway, wait_until
from reviewer_client import Reviewer

CLIENT_KEY = "client-key"
API_TIMEOUT_MS = 2000
PROMPT = "Create greeting.txt containing the words: hello from a person"

pytestmark = requires_claude


def test_claude_code_runs_a_persons_bash_call(tmp_path: Path) -> None:
    home, workdir = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    workdir.mkdir()
    config = f'[auth]\nclient_keys = ["{CLIENT_KEY}"]\n[human]\nkeepalive_s = 0.5\n'
    with run_gateway(tmp_path, config) as gateway:
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
            "--allowedTools",
            "Bash",
            # Its own request timeout, far shorter than a person takes: the pings that
            # come every keepalive_s keep it waiting.
            env={"API_TIMEOUT_MS": str(API_TIMEOUT_MS)},
        )
        try:
            first = reviewer.wait_for_task(lambda t: t["preview"] == PROMPT, timeout=60)
            request = reviewer.task(first["id"])["request"]
            assert request["messages"][0]["role"] == "system"  # Claude Code's system prompt
            assert "Bash" in [tool["name"] for tool in reviewer.task(first["id"])["tools"]]
            # The person takes longer than Claude Code's timeout (a wait on the clock is
            # the point here); the request is still the one waiting, not a retry.
            past = first["created_at"] + 2 * API_TIMEOUT_MS / 1000
            wait_until(lambda: time.time() > past, 30, interval=0.1, what="the timeout")
            assert reviewer.task(first["id"])["status"] == "pending"
            command = "printf 'hello from a person' > greeting.txt"
            answered = reviewer.answer(
                first["id"],
                content="Writing the file.",
                tool_calls=[
                    {
                        "name": "Bash",
                        "arguments": {"command": command, "description": "Write greeting.txt"},
                    }
                ],
            )
            assert answered.status == 200, answered.body
            second = reviewer.wait_for_task(lambda t: t["follows"] == first["id"], timeout=60)
            assert second["step"] == 2 and second["session"] == first["session"]
            messages = reviewer.task(second["id"])["request"]["messages"]
            ran = [m for m in messages if m["role"] == "tool"]
            # Claude Code sends back the tool use id the person's stored answer carries.
            stored = reviewer.task(first["id"])["result"]["choices"][0]["message"]
            assert ran and ran[-1]["tool_call_id"] == stored["tool_calls"][0]["id"]
            assert ran[-1]["tool_call_id"].startswith("toolu_")
            assert (
                reviewer.answer(second["id"], content="Done: greeting.txt says hello.").status
                == 200
            )
            out, err = claude.communicate(timeout=60)
            # Two requests, two tasks: no retry after its timeout.
            every = "pending,claimed,answered,rejected,expired,cancelled"
            assert [t["id"] for t in reviewer.tasks(every)] == [first["id"], second["id"]]
        finally:
            if claude.poll() is None:
                claude.kill()
                claude.wait(timeout=10)
    assert claude.returncode == 0, err
    assert (workdir / "greeting.txt").read_text() == "hello from a person"
    assert out.strip() == "Done: greeting.txt says hello."
