"""Export benchmark: streaming 50,000 tasks, and a session of big screenshots, in bounded memory.

    python bench/export.py                    # 50,000 tasks + 50 x 1 MB screenshots
    python bench/export.py --tasks 5000 --shots 10

It makes an SQLite store in a temporary directory (the schema made by the
gateway's own store, the rows written in bulk), then runs
``python -m gateway export`` as a separate process for each case and reads that
process's peak resident memory (``ru_maxrss``) when it ends:

- ``baseline``: the same command on an empty store (interpreter and imports);
- ``sft, N tasks``: N answered chat tasks with a tool call, ``--format sft``;
- ``records, N tasks``: the same tasks as full records;
- ``sft --images``: one computer-use session of ``--shots`` steps, each request
  carrying a ~1 MB screenshot, written to files by content hash;
- ``trajectory``: that session as one line with inline screenshots (a line that
  size must be held whole by whoever reads it; the exporter writes it a step at a time).

Memory that stays near the baseline while the data grows a hundredfold is what
"bounded" means here.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import fields
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.human.task import Task  # noqa: E402

JSON_FIELDS = {"answer", "result", "draft", "tools", "tool_choice"}
COLUMNS = [f.name for f in fields(Task)]
TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


async def make_schema(path: Path) -> None:
    from gateway.app import build_services
    from gateway.config import Config, StoreConfig

    store = build_services(Config(store=StoreConfig(path=str(path)))).queue.store
    await store.open()
    await store.close()


def row(task: Task) -> list:
    values = []
    for name in COLUMNS:
        value = getattr(task, name)
        values.append(
            orjson.dumps(value).decode() if name in JSON_FIELDS and value is not None else value
        )
    return values


def chat_task(i: int, now: float) -> tuple[Task, bytes]:
    request = {
        "model": "human",
        "messages": [
            {"role": "system", "content": "You are a weather agent. " * 8},
            {"role": "user", "content": f"What is the weather in city number {i}? " * 4},
        ],
        "tools": [TOOL],
    }
    result = {
        "id": f"chatcmpl-{i}",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": f"call_{i}",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
    }
    task = Task(
        id=f"task_{i:08d}", status="answered", api="chat.completions", model="human",
        reason="human_route", session=f"s{i // 10}", created_at=now + i, expires_at=now + i + 60,
        dedup=f"d{i}", owner="o", answered_at=now + i + 1, answered_by="rita",
        finished_at=now + i + 1, delivered=True, answer={"tool_calls": [{"name": "get_weather"}]},
        result=result,
    )  # fmt: skip
    return task, orjson.dumps(request)


def shot_task(i: int, now: float, size: int) -> tuple[Task, bytes]:
    """A computer-use step whose request carries one ~``size``-byte screenshot."""
    noise = base64.b64encode(os.urandom(size * 3 // 4)).decode()
    shot = "data:image/png;base64," + noise  # unique bytes: each image is a new file
    request = {
        "model": "human",
        "tools": [{"type": "computer_use_preview", "display_width": 1024, "display_height": 768}],
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": f"step {i}"}]},
            {"type": "computer_call", "call_id": f"c{i}", "action": {"type": "screenshot"}},
            {
                "type": "computer_call_output",
                "call_id": f"c{i}",
                "output": {"type": "input_image", "image_url": shot},
            },
        ],
    }
    result = {
        "object": "response",
        "output": [{"type": "computer_call", "call_id": f"d{i}", "action": {"type": "wait"}}],
    }
    task = Task(
        id=f"shot_{i:04d}", status="answered", api="responses", model="human",
        reason="human_route", session="screens", created_at=now + i, expires_at=now + i + 60,
        dedup=f"shot{i}", owner="o", answered_at=now + i + 1, answered_by="rita",
        finished_at=now + i + 1, delivered=True, answer={"computer_actions": [{"type": "wait"}]},
        result=result, step=i + 1,
    )  # fmt: skip
    return task, orjson.dumps(request)


def fill(path: Path, rows) -> None:
    import sqlite3

    marks = ", ".join("?" for _ in COLUMNS)
    with sqlite3.connect(path) as db:
        for task, request in rows:
            db.execute(f"INSERT INTO tasks ({', '.join(COLUMNS)}) VALUES ({marks})", row(task))
            db.execute("INSERT INTO requests (task_id, body) VALUES (?, ?)", (task.id, request))


# Runs the command in a fresh parent, so ru_maxrss of its children is this command's alone.
_MEASURE = (
    "import resource, subprocess, sys\n"
    "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
    "sys.stderr.write(done.stderr)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(done.returncode)\n"
)


def run_export(config: Path, out: Path, *args: str) -> tuple[float, float, str]:
    """(peak RSS in MB, seconds, stderr) of one ``python -m gateway export`` process."""
    command = [sys.executable, "-m", "gateway", "export", "--config", str(config)]
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, *command, "--out", str(out), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    seconds = time.perf_counter() - started
    return int(done.stdout.split()[-1]) / 1024, seconds, done.stderr.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=50_000)
    parser.add_argument("--shots", type=int, default=50)
    parser.add_argument("--shot-mb", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        results = []
        for name, rows, cases in (
            ("empty", [], [("baseline", ("--format", "sft"))]),
            (
                "chat",
                (chat_task(i, 1e9) for i in range(args.tasks)),
                [
                    (f"sft, {args.tasks:,} tasks", ("--format", "sft")),
                    (f"records, {args.tasks:,} tasks", ("--format", "records")),
                ],
            ),
            (
                "screens",
                (shot_task(i, 1e9, int(args.shot_mb * 1e6)) for i in range(args.shots)),
                [
                    (
                        f"sft --images, {args.shots} x {args.shot_mb:g} MB shots",
                        ("--format", "sft", "--images", str(tmp_path / "images")),
                    ),
                    (
                        f"trajectory (inline), {args.shots} x {args.shot_mb:g} MB shots",
                        ("--format", "trajectory"),
                    ),
                ],
            ),
        ):
            db = tmp_path / f"{name}.db"
            config = tmp_path / f"{name}.toml"
            config.write_text(f'[store]\npath = "{db}"\n')
            asyncio.run(make_schema(db))
            started = time.perf_counter()
            fill(db, rows)
            print(f"filled {name} in {time.perf_counter() - started:.1f} s", flush=True)
            for label, case in cases:
                out = tmp_path / "out.jsonl"
                peak, seconds, said = run_export(config, out, *case)
                size = out.stat().st_size / 1e6
                results.append((label, peak, seconds, size))
                print(f"  {label}: peak RSS {peak:.0f} MB, {seconds:.1f} s, {size:.1f} MB out")
                print(f"    {said}", flush=True)
        print("\n| case | peak RSS | time | output |\n|---|---|---|---|")
        for label, peak, seconds, size in results:
            print(f"| {label} | {peak:.0f} MB | {seconds:.1f} s | {size:.1f} MB |")


if __name__ == "__main__":
    main()
