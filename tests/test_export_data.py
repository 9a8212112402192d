"""Exports, sessions and the calibration report, from a store filled through the gateway.

One gateway (a human route and a hybrid route over a fake provider) serves the
module. The fixture drives real work through it with the ``openai`` SDK and the
reviewer API: a chat task answered with a tool call, a two-step Responses
computer-use session with screenshots, four hybrid drafts approved, edited,
replaced and rejected, and one task whose stored request is broken. Every
fine-tuning line is checked with the project's validator and loaded with
Hugging Face ``datasets``.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import openai
import pyarrow
import pyarrow.json
import pytest
from datasets import load_dataset
from harness import Gateway, ThreadedServer, openai_client, run_gateway
from hybrid_upstream import make_app
from openai.types.chat import ChatCompletionMessageParam
from pydantic import TypeAdapter
from reviewer_client import WEATHER_TOOL, Reviewer, background, data_url, png

from gateway.export.validate_sft import dpo_problems, sft_problems

TESTS = Path(__file__).parent
ROOT = TESTS.parent
MESSAGES = TypeAdapter(list[ChatCompletionMessageParam])
SHOT1, SHOT2 = data_url(png(shade=1)), data_url(png(shade=2))
COMPUTER = {
    "type": "computer_use_preview",
    "display_width": 1024,
    "display_height": 768,
    "environment": "browser",
}
CONFIG = """
[upstreams.fake]
base_url = "{url}/v1"
retries = 0

[models."small+human"]
upstream = "fake"
human = "escalate"
min_confidence = 0.7

[export]
redact = ["4111-\\\\d{{4}}"]
"""


@dataclass
class Filled:
    gateway: Gateway
    db: Path
    chat_task: str = ""
    cu_tasks: list[str] = field(default_factory=list)
    verdicts: dict[str, str] = field(default_factory=dict)  # task id -> what the reviewer did
    broken_task: str = ""


def ask(reviewer: Reviewer, predicate, call, **answer) -> tuple[str, object]:
    """Start a client call, answer its task as ``answer`` says, return (task id, result)."""
    pending = background(call)
    task = reviewer.wait_for_task(predicate)
    if "reject" in answer:
        reply = reviewer.reject(task["id"], answer["reject"])
    else:
        reply = reviewer.answer(task["id"], **answer)
    assert reply.status == 200, reply.body
    if "reject" not in answer:
        return task["id"], pending.result(timeout=10)
    # A rejected task is the client's 422 with the reviewer's reason.
    with pytest.raises(openai.UnprocessableEntityError) as caught:
        pending.result(timeout=10)
    assert caught.value.code == "human_rejected"
    assert answer["reject"] in caught.value.message
    return task["id"], None


@pytest.fixture(scope="module")
def filled(tmp_path_factory) -> Iterator[Filled]:
    tmp = tmp_path_factory.mktemp("data")
    with (
        ThreadedServer(make_app([])) as fake,
        run_gateway(tmp, CONFIG.format(url=fake.url)) as gw,
    ):
        yield _fill(gw, tmp / "gateway.db")


def _fill(gw: Gateway, db: Path) -> Filled:
    client = openai_client(gw)
    rita = Reviewer(gw.url, "rita")
    filled = Filled(gw, db)
    filled.chat_task, _ = ask(
        rita,
        lambda t: t["preview"] == "weather? card 4111-2222",
        lambda: client.chat.completions.create(
            model="human",
            messages=[
                {"role": "system", "content": "Be brief"},
                {"role": "user", "content": "weather? card 4111-2222"},
            ],
            tools=[WEATHER_TOOL],
        ),
        tool_calls=[{"name": "get_weather", "arguments": {"city": "Oslo"}}],
    )
    headers = {"x-session-id": "cu-run"}
    first, response = ask(
        rita,
        lambda t: t["session"] == "cu-run",
        lambda: client.responses.create(
            model="human",
            tools=[COMPUTER],
            input=[
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "Open the menu"},
                        {"type": "input_image", "image_url": SHOT1, "detail": "auto"},
                    ],
                }
            ],
            extra_headers=headers,
        ),
        computer_actions=[{"type": "click", "x": 5, "y": 6}],
    )
    call_id = response.output[0].call_id
    second, _ = ask(
        rita,
        lambda t: t["session"] == "cu-run",
        lambda: client.responses.create(
            model="human",
            tools=[COMPUTER],
            previous_response_id=response.id,
            input=[
                {
                    "type": "computer_call_output",
                    "call_id": call_id,
                    "output": {"type": "input_image", "image_url": SHOT2},
                }
            ],
            extra_headers=headers,
        ),
        content="The menu is open.",
    )
    filled.cu_tasks = [first, second]
    outcomes = {
        "approved": {"accept_draft": True},
        "edited": {"content": "The answer is 42, I think"},
        "replaced": {"content": "Paris"},
        "rejected": {"reject": "off topic"},
    }
    for index, (what, answer) in enumerate(outcomes.items()):
        session = f"hybrid-{index}"
        task_id, _ = ask(
            rita,
            lambda t, session=session: t["session"] == session,
            lambda session=session: client.chat.completions.create(
                model="small+human",
                messages=[{"role": "user", "content": "unsure"}],
                extra_headers={"x-session-id": session},
            ),
            **answer,
        )
        filled.verdicts[task_id] = what
    filled.broken_task, _ = ask(
        rita,
        lambda t: t["preview"] == "to be broken",
        lambda: client.chat.completions.create(
            model="human", messages=[{"role": "user", "content": "to be broken"}]
        ),
        content="fine",
    )
    # What issue 8 found: a stored request with messages: null must not end the export.
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE requests SET body = ? WHERE task_id = ?",
            (b'{"model": "human", "messages": null}', filled.broken_task),
        )
    return filled


def export(gw: Gateway, query: str) -> list[dict]:
    with urllib.request.urlopen(f"{gw.url}/api/export?{query}", timeout=10) as reply:
        assert reply.headers["content-type"].startswith("application/x-ndjson")
        return [json.loads(line) for line in reply.read().splitlines()]


def load(path: Path, tmp_path: Path) -> list[dict]:
    """The file through Hugging Face ``datasets``, as a user would load it."""
    dataset = load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path))
    return list(dataset)


def write_lines(lines: list[dict], path: Path) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_sft_lines_pass_the_checks_and_load(filled, tmp_path):
    lines = export(filled.gateway, "format=sft")
    assert export(filled.gateway, "format=openai-chat") == lines  # the old name still works
    # chat + two computer-use steps + three answered drafts; the broken row is left out
    assert len(lines) == 6
    for line in lines:
        assert sft_problems(line) == [], line
        MESSAGES.validate_python(line["messages"])
    weather = lines[0]
    assert weather["messages"][1]["content"] == "weather? card [REDACTED]"
    call = weather["messages"][-1]["tool_calls"][0]["function"]
    assert (call["name"], json.loads(call["arguments"])) == ("get_weather", {"city": "Oslo"})
    first, second = lines[1], lines[2]
    assert first["tools"][0]["function"]["name"] == "computer"
    click = json.loads(first["messages"][-1]["tool_calls"][0]["function"]["arguments"])
    assert click == {"action": {"type": "click", "button": "left", "x": 5, "y": 6}}
    roles = [m["role"] for m in second["messages"]]
    assert roles == ["user", "assistant", "tool", "user", "assistant"]
    assert second["messages"][3]["content"][0]["image_url"]["url"] == SHOT2
    # Parts only in the messages that carry an image; the rest of the line is strings.
    assert second["messages"][-1]["content"] == "The menu is open."
    assert second["messages"][2]["content"] == "Screenshot of the screen after the action."
    text_only = [line for line in lines if line not in (first, second)]
    for line in text_only:
        assert all(isinstance(m["content"], str | None) for m in line["messages"]), line
    # A text-only file loads with datasets with string content, as OpenAI's examples.
    loaded = load(write_lines(text_only, tmp_path / "text.jsonl"), tmp_path)
    assert len(loaded) == 4 and loaded[0]["messages"][1]["content"] == "weather? card [REDACTED]"

    # content=parts: every content a list of parts, so the file with images loads too.
    parted = export(filled.gateway, "format=sft&content=parts")
    assert len(parted) == 6
    for line in parted:
        assert sft_problems(line) == [], line
        MESSAGES.validate_python(line["messages"])
        assert all(isinstance(m["content"], list | None) for m in line["messages"]), line
    assert parted[2]["messages"][-1]["content"] == [{"type": "text", "text": "The menu is open."}]
    assert parted[2]["messages"][3]["content"] == second["messages"][3]["content"]
    path = write_lines(parted, tmp_path / "sft-parts.jsonl")
    rows = load(path, tmp_path)
    # One type per column, so Arrow's own JSON reader (datasets before 5.0) reads it too;
    # the default file, strings beside parts in one column, it refuses.
    assert pyarrow.json.read_json(path).num_rows == 6
    with pytest.raises(pyarrow.ArrowInvalid, match="changed from"):
        pyarrow.json.read_json(write_lines(lines, tmp_path / "sft-mixed.jsonl"))
    assert len(rows) == 6
    assert rows[2]["messages"][3]["content"][0]["image_url"]["url"] == SHOT2


# A ChatML template as text models ship them: it adds each message's content to a
# string, so it renders string content and rejects a list of parts (TypeError).
CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['content'] is defined and message['content'] is not none %}"
    "{{ message['content'] + '\\n' }}"
    "{% endif %}"
    "{% for call in message['tool_calls'] or [] %}"
    "{{ '<tool_call>' + call['function']['name'] + ' ' + call['function']['arguments'] }}"
    "{{ '</tool_call>\\n' }}"
    "{% endfor %}"
    "{{ '<|im_end|>\\n' }}"
    "{% endfor %}"
)


def chatml_tokenizer():
    """A transformers tokenizer with the ChatML template, built here: nothing is downloaded."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocabulary = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    vocabulary.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=vocabulary, unk_token="[UNK]", chat_template=CHATML
    )


def test_text_lines_render_with_a_text_models_chat_template(filled):
    tokenizer = chatml_tokenizer()
    lines = export(filled.gateway, "format=sft")
    text_only = [
        line for line in lines if not any(isinstance(m["content"], list) for m in line["messages"])
    ]
    assert len(text_only) == 4  # the chat task and three answered drafts; not the screens
    rendered = [
        tokenizer.apply_chat_template(line["messages"], tools=line.get("tools"), tokenize=False)
        for line in text_only
    ]
    assert rendered[0] == (
        "<|im_start|>system\nBe brief\n<|im_end|>\n"
        "<|im_start|>user\nweather? card [REDACTED]\n<|im_end|>\n"
        '<|im_start|>assistant\n<tool_call>get_weather {"city":"Oslo"}</tool_call>\n<|im_end|>\n'
    )
    assert "<|im_start|>assistant\nParis\n<|im_end|>" in "".join(rendered)
    for pair in export(filled.gateway, "format=dpo"):
        chosen = [*pair["input"]["messages"], *pair["preferred_output"]]
        rejected = [*pair["input"]["messages"], *pair["non_preferred_output"]]
        assert "unsure" in tokenizer.apply_chat_template(chosen, tokenize=False)
        assert "The answer is 42" in tokenizer.apply_chat_template(rejected, tokenize=False)
    # What the exports wrote before: a list of parts, which such a template rejects.
    parted = export(filled.gateway, "format=sft&content=parts")[0]
    with pytest.raises(TypeError):
        tokenizer.apply_chat_template(parted["messages"], tokenize=False)


def test_dpo_pairs_are_the_edited_and_replaced_drafts(filled, tmp_path):
    lines = export(filled.gateway, "format=dpo")
    assert [line["preferred_output"][0]["content"] for line in lines] == [
        "The answer is 42, I think",
        "Paris",
    ]
    for line in lines:
        assert dpo_problems(line) == [], line
        assert line["non_preferred_output"][0]["content"] == "The answer is 42"
        assert line["input"]["messages"][-1]["content"] == "unsure"
    assert len(load(write_lines(lines, tmp_path / "dpo.jsonl"), tmp_path)) == 2
    parted = export(filled.gateway, "format=dpo&content=parts")
    assert [line["preferred_output"][0]["content"] for line in parted] == [
        [{"type": "text", "text": "The answer is 42, I think"}],
        [{"type": "text", "text": "Paris"}],
    ]
    for line in parted:
        assert dpo_problems(line) == [], line
        assert line["input"]["messages"][-1]["content"] == [{"type": "text", "text": "unsure"}]
    assert len(load(write_lines(parted, tmp_path / "dpo-parts.jsonl"), tmp_path)) == 2


def test_eval_rows_match_what_reviewers_did(filled, tmp_path):
    rows = export(filled.gateway, "format=eval")
    assert {row["task_id"]: row["verdict"] for row in rows} == filled.verdicts
    for row in rows:
        assert row["confidence"] == pytest.approx(0.2, abs=1e-3)
        assert row["model"] == "small+human" and row["reviewer"] == "rita"
        assert row["correct"] is (row["verdict"] == "approved")
        assert row["model_answer"]["content"] == "The answer is 42"
    rejected = next(row for row in rows if row["verdict"] == "rejected")
    assert rejected["human_answer"] is None and rejected["reject_reason"] == "off topic"
    assert len(load(write_lines(rows, tmp_path / "eval.jsonl"), tmp_path)) == 4
    only = export(filled.gateway, "format=eval&outcome=edited")
    assert [row["verdict"] for row in only] == ["edited"]


def test_filters(filled):
    assert len(export(filled.gateway, "format=records")) == 8  # the broken one included
    assert len(export(filled.gateway, "format=records&model=small%2Bhuman")) == 4
    assert len(export(filled.gateway, "format=records&outcome=rejected")) == 1
    assert len(export(filled.gateway, "format=sft&session=cu-run")) == 2
    assert export(filled.gateway, "format=records&reviewer=nobody") == []
    assert export(filled.gateway, "format=records&since=2999-01-01") == []
    assert len(export(filled.gateway, "format=records&until=2999-01-01T00:00:00Z")) == 8
    with pytest.raises(urllib.error.HTTPError) as failed:
        export(filled.gateway, "format=records&since=yesterday")
    assert failed.value.code == 400
    assert json.loads(failed.value.read())["error"]["param"] == "since"


def test_trajectory_lines_and_the_sessions_api(filled, tmp_path):
    lines = export(filled.gateway, "format=trajectory&session=cu-run")
    assert len(lines) == 1
    run = lines[0]
    assert [step["task_id"] for step in run["steps"]] == filled.cu_tasks
    first, second = run["steps"]
    assert first["input"][0]["content"][1]["image_url"]["url"] == SHOT1
    # The second step carries only what was new: the tool result and its screenshot.
    assert [m["role"] for m in second["input"]] == ["tool", "user"]
    assert second["answer"]["content"] == "The menu is open."
    assert second["reviewer"] == "rita" and second["seconds"] >= 0
    everything = export(filled.gateway, "format=trajectory&content=parts")
    steps = [step for line in everything for step in line["steps"]]
    assert all(isinstance(m["content"], list | None) for s in steps for m in s["input"] or [])
    assert len(load(write_lines(everything, tmp_path / "t.jsonl"), tmp_path)) == len(everything)

    rita = Reviewer(filled.gateway.url, "rita")
    listed = rita.ok("GET", "/api/sessions?limit=2")
    assert len(listed["data"]) == 2 and listed["next"]
    rest = rita.ok("GET", f"/api/sessions?limit=50&after={listed['next']}")["data"]
    names = [s["session"] for s in listed["data"] + rest]
    assert "cu-run" in names and len(names) == len(set(names))
    cu = next(s for s in listed["data"] + rest if s["session"] == "cu-run")
    assert (cu["tasks"], cu["answered"], cu["models"]) == (2, 2, ["human"])
    view = rita.ok("GET", "/api/sessions/cu-run")
    image = view["steps"][0]["input"][0]["content"][1]["image_url"]["url"]
    assert image == f"/api/tasks/{filled.cu_tasks[0]}/images/0"
    assert rita.call("GET", "/api/sessions/nope").status == 404


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )


def test_cli_export_with_images_round_trip(filled, tmp_path):
    out = tmp_path / "out" / "sft.jsonl"
    out.parent.mkdir()
    images = tmp_path / "out" / "images"
    done = run_cli(
        "export", "--config", str(filled.gateway.config_path), "--format", "sft",
        "--out", str(out), "--images", str(images), "--content", "parts",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "exported 6 sft lines" in done.stderr and "left out 1 tasks" in done.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    urls = [
        part["image_url"]["url"]
        for line in lines
        for message in line["messages"]
        for part in message["content"] or []
        if part["type"] == "image_url"
    ]
    assert urls and all(url.startswith("images/") for url in urls)
    assert {(out.parent / url).read_bytes() for url in urls} == {png(shade=1), png(shade=2)}
    assert len(list(images.iterdir())) == 2  # each image written once
    for line in lines:
        assert sft_problems(line, local_images=True) == []
    assert len(load(out, tmp_path)) == 6


def test_cli_report_writes_the_chart(filled, tmp_path):
    svg = tmp_path / "chart.svg"
    done = run_cli(
        "report", "--config", str(filled.gateway.config_path), "--target-error", "0", "--svg",
        str(svg),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "small+human: 4 reviewed drafts, 1 approved" in done.stdout
    assert "min_confidence = 1.0000" in done.stdout or "no threshold meets it" in done.stdout
    assert svg.read_text().startswith("<svg")
    rita = Reviewer(filled.gateway.url, "rita")
    report = rita.ok("GET", "/api/calibration?target_escalation=1")["data"]
    assert [(r["model"], r["samples"], r["current"]) for r in report] == [("small+human", 4, 0.7)]
    chart = rita.call("GET", "/api/calibration.svg")
    assert chart.status == 200 and chart.headers["content-type"].startswith("image/svg+xml")
