"""Retention: ``[store] retain_days`` on a schedule, and ``hitl-gateway purge --before``."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from harness import Gateway, openai_client, run_gateway, wait_until
from reviewer_client import Reviewer, background, data_url, png

ROOT = Path(__file__).parent.parent


def answer_one(gw: Gateway, prompt: str, with_image: bool = False) -> str:
    content: list[dict] = [{"type": "text", "text": prompt}]
    if with_image:
        content.append({"type": "image_url", "image_url": {"url": data_url(png(shade=3))}})
    pending = background(
        openai_client(gw).chat.completions.create,
        model="human",
        messages=[{"role": "user", "content": content}],
    )
    reviewer = Reviewer(gw.url, "rita")
    task = reviewer.wait_for_task(lambda t: t["preview"] == prompt)
    assert reviewer.answer(task["id"], content="ok").status == 200
    pending.result(timeout=10)
    return task["id"]


def purge(config: Path, before: str) -> subprocess.CompletedProcess:
    return command("purge", "--config", str(config), "--before", before)


def command(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )


def test_purge_removes_finished_tasks_and_their_images_while_the_gateway_runs(tmp_path):
    with run_gateway(tmp_path, '[models.human]\nroute = "human"\n') as gw:
        old = answer_one(gw, "old one", with_image=True)
        cutoff = time.time()
        wait_until(lambda: time.time() > cutoff, what="the clock to move on")
        new = answer_one(gw, "new one")
        nothing = purge(gw.config_path, "2000-01-01")
        assert nothing.returncode == 0, nothing.stderr
        assert "removed 0 finished tasks" in nothing.stderr
        done = purge(gw.config_path, str(cutoff))
        assert done.returncode == 0, done.stderr
        assert "removed 1 finished tasks, 1 requests (1 images" in done.stderr
        assert "audit entries" in done.stderr
        reviewer = Reviewer(gw.url, "rita")
        assert reviewer.call("GET", f"/api/tasks/{old}").status == 404
        assert reviewer.task(new)["status"] == "answered"
        with sqlite3.connect(tmp_path / "gateway.db") as db:
            assert db.execute("SELECT COUNT(*) FROM requests").fetchone() == (1,)
            assert db.execute(
                "SELECT COUNT(*) FROM audit WHERE task_id = ?", (old,)
            ).fetchone() == (0,)
    bad = purge(gw.config_path, "last week")
    assert bad.returncode == 2 and "before" in bad.stderr
    # The data commands need no running gateway: the store is read directly.
    left = command("export", "--config", str(gw.config_path), "--format", "records")
    assert left.returncode == 0, left.stderr
    assert [line for line in left.stdout.splitlines() if new in line]
    assert "exported 1 records lines" in left.stderr


def test_retain_days_purges_on_a_schedule(tmp_path):
    config = '[models.human]\nroute = "human"\n'
    with run_gateway(tmp_path, config) as gw:
        old = answer_one(gw, "ancient")
    with sqlite3.connect(tmp_path / "gateway.db") as db:  # make it 40 days old
        db.execute("UPDATE tasks SET finished_at = finished_at - 40 * 86400 WHERE id = ?", (old,))
    config += f'\n[store]\npath = "{tmp_path / "gateway.db"}"\nretain_days = 30\n'
    with run_gateway(tmp_path, config) as gw:
        wait_until(
            lambda: any(
                "retention (30 days): removed 1 finished tasks" in line for line in gw.output
            ),
            timeout=10,
            what="the retention log line",
        )
        assert Reviewer(gw.url, "rita").call("GET", f"/api/tasks/{old}").status == 404
