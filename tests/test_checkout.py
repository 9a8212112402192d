"""A fresh checkout stays clean after the gateway has run in it (issue 22, item 1).

The quick start runs ``hitl-gateway`` in the repository's directory, where the
SQLite file and the installation's secret are written by default: one
``git add -A`` must not pick up the key every stored key hash depends on. The
test clones the repository (its committed state, as a newcomer gets it), runs
the gateway from the clone as its working directory, puts one answered task
through it, and then asks ``git status``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from harness import Gateway, free_port, openai_client
from reviewer_client import Reviewer, background

ROOT = Path(__file__).resolve().parent.parent


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=60
    ).stdout


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("the tests do not run from a git checkout")
    clone = tmp_path / "clone"
    git("clone", "--quiet", str(ROOT), str(clone), cwd=tmp_path)
    return clone


def run_once(checkout: Path, config: Path | None) -> list[str]:
    """Start the clone's gateway with the clone as cwd, answer one task, stop; its output."""
    env = {"PYTHONPATH": str(checkout), "GATEWAY_CONFIG": ""}  # the clone's code, no config
    gateway = Gateway(config, free_port(), env=env, cwd=checkout).start()
    try:
        client = openai_client(gateway, timeout=30)
        asked = background(
            client.chat.completions.create,
            model="human",
            messages=[{"role": "user", "content": "Which button saves the file?"}],
        )
        reviewer = Reviewer(gateway.url)
        task = reviewer.wait_for_task()
        assert reviewer.answer(task["id"], content="The disk icon.").status == 200
        assert asked.result(timeout=30).choices[0].message.content == "The disk icon."
    finally:
        gateway.stop()
    return gateway.output


def said(output: list[str], label: str) -> str:
    """The path the gateway printed at start-up after ``label``."""
    line = next(line for line in output if line.startswith(f"hitl-gateway: {label}"))
    return line.removeprefix(f"hitl-gateway: {label}").strip()


def test_the_quick_start_leaves_git_status_clean(checkout: Path) -> None:
    output = run_once(checkout, None)
    # Start-up says where the data and the secret went: here, in the checkout.
    store, secret = Path(said(output, "task store")), Path(said(output, "secret (keep it)"))
    assert store == checkout / "hitl-gateway.db" and store.is_file()
    assert secret == checkout / "hitl-gateway.db.secret" and secret.is_file()
    assert git("status", "--porcelain", "--untracked-files=all", cwd=checkout) == ""


def test_a_postgresql_installation_leaves_git_status_clean(
    checkout: Path, postgres_cluster, tmp_path: Path
) -> None:
    url = postgres_cluster.create_database()
    config = tmp_path / "gateway.toml"  # outside the checkout, as an operator keeps it
    config.write_text(f'[store]\nurl = "{url}"\n')
    output = run_once(checkout, config)
    secret = Path(said(output, "secret (keep it)"))
    assert secret == checkout / "hitl-gateway.secret" and secret.is_file()
    store = said(output, "task store")
    assert store.startswith("postgresql://")
    password = url.split("//", 1)[1].split("@", 1)[0].partition(":")[2]
    assert not password or password not in store  # the URL's password is never printed
    assert git("status", "--porcelain", "--untracked-files=all", cwd=checkout) == ""
    assert os.stat(secret).st_mode & 0o077 == 0  # readable by its owner only
