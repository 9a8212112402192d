"""Claude Code itself (npm ``@anthropic-ai/claude-code``, installed by ``.ci/run``) pointed
at a gateway: the process the Claude Code tests drive."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CLAUDE = shutil.which("claude")
requires_claude = pytest.mark.skipif(
    CLAUDE is None, reason="Claude Code is not installed (.ci/run installs it)"
)


def claude_code(
    gateway_url: str,
    key: str,
    home: Path,
    workdir: Path,
    *args: str,
    env: dict[str, str] | None = None,
) -> subprocess.Popen:
    """``claude`` with the gateway as its model provider (client key ``key``), in a
    throwaway home, sending nothing elsewhere; ``env`` adds variables."""
    env = {
        **(env or {}),
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": gateway_url,
        "ANTHROPIC_API_KEY": key,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
    }
    assert CLAUDE is not None
    return subprocess.Popen(
        [CLAUDE, *args],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
