"""Review operations through real gateway processes (issue 19): shadow review, grading
against rubrics by several reviewers, agreement, grades as data, reviewer groups and
escalation between them.

The ``openai`` SDK is the client, a fake provider (tests/hybrid_upstream.py) the
model, the reviewer API the people. Runs on SQLite, and on PostgreSQL with
``HITL_TEST_STORE=postgres`` (CI does both).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import anthropic
import openai
import pytest
from fake_anthropic import FakeAnthropic
from harness import Gateway, ThreadedServer, run_gateway, wait_until
from hybrid_upstream import DELETE_FILE, make_app
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response
from prometheus_client.parser import text_string_to_metric_families
from pydantic import TypeAdapter
from reviewer_client import EventLog, Reviewer, background

TOKENS = {
    "ann": "tok-ann-0123456789",
    "bob": "tok-bob-0123456789",
    "lee": "tok-lee-0123456789",
    "ops": "tok-ops-0123456789",
    "root": "tok-root-0123456789",
}

CONFIG = """
[auth]
reviewer_tokens = {{ ann = {{ token = "{ann}", groups = ["support"] }}, bob = {{ token = "{bob}", groups = ["support"] }}, lee = {{ token = "{lee}", groups = ["legal"] }}, ops = {{ token = "{ops}", groups = ["oncall"] }}, root = "{root}" }}

[upstreams.fake]
base_url = "{url}/v1"
retries = 0

[rubrics.support]
items = [
  {{ name = "accurate", type = "bool" }},
  {{ name = "tone", type = "scale", min = 1, max = 5 }},
  {{ name = "topic", type = "choice", options = ["billing", "tech"] }},
  {{ name = "notes", type = "text" }},
]

[models."shadow+human"]
upstream = "fake"
human = "shadow"
shadow_sample = 1.0
rubric = "support"
reviews = 2
reviewers = ["support"]

[models."gated+human"]
upstream = "fake"
human = "escalate"
min_confidence = 0.7
shadow_sample = 1.0
reviewers = ["support"]

[upstreams.claude]
api = "anthropic"
base_url = "{claude}"
retries = 0

[models.claude-shadow]
upstream = "claude"
upstream_model = "claude-x"
human = "shadow"
shadow_sample = 1.0
reviewers = ["support"]

[models.counsel]
route = "human"
reviewers = ["legal"]
escalate_after_s = 1
escalate_to = ["oncall"]
"""  # noqa: E501

SCORES = {"accurate": True, "tone": 4, "topic": "tech"}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("review")
    with ThreadedServer(make_app([])) as fake, FakeAnthropic("claude") as claude:
        config = CONFIG.format(url=fake.url, claude=claude.url, **TOKENS)
        with run_gateway(tmp, config) as gw:
            yield gw


@pytest.fixture(scope="module")
def client(gateway: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key="k", max_retries=0)


def person(gateway: Gateway, name: str) -> Reviewer:
    return Reviewer(gateway.url, name, token=TOKENS[name])


def grade_tasks(reviewer: Reviewer, status: str = "pending") -> list[dict]:
    return reviewer.ok("GET", f"/api/tasks?kind=grade&status={status}")["data"]


def newest_grade_task(reviewer: Reviewer, before: set[str]) -> dict:
    found: list[dict] = []

    def appeared() -> bool:
        found[:] = [t for t in grade_tasks(reviewer) if t["id"] not in before]
        return bool(found)

    wait_until(appeared, timeout=10, what="a grade task")
    return found[-1]


def known(reviewer: Reviewer) -> set[str]:
    return {task["id"] for task in grade_tasks(reviewer)}


def grades_total(gateway: Gateway, model: str, verdict: str) -> float:
    with urllib.request.urlopen(gateway.url + "/metrics", timeout=5) as reply:
        text = reply.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "gateway_grades_total" and sample.labels == {
                "model": model,
                "verdict": verdict,
            }:
                return sample.value
    return 0.0


def test_shadow_answers_at_once_and_a_grade_task_shows_the_conversation_and_answer(gateway, client):
    ann = person(gateway, "ann")
    before = known(ann)
    raw = client.chat.completions.with_raw_response.create(
        model="shadow+human",
        messages=[{"role": "user", "content": "delete"}],
        tools=[DELETE_FILE],
    )
    completion = TypeAdapter(ChatCompletion).validate_python(raw.parse().model_dump())
    assert raw.headers["x-gateway-answered-by"] == "model"
    assert completion.choices[0].message.tool_calls[0].function.name == "delete_file"
    row = newest_grade_task(ann, before)
    assert (row["kind"], row["reason"], row["rubric"], row["reviews"]) == (
        "grade",
        "shadow",
        "support",
        2,
    )
    task = ann.task(row["id"])
    assert task["request"]["messages"][-1]["content"] == "delete"
    assert task["draft"]["tool_calls"][0]["name"] == "delete_file"  # the model's answer
    assert [item["name"] for item in task["rubric_items"]] == ["accurate", "tone", "topic", "notes"]
    assert task["grades"] == [] and task["graded_by_me"] is False


def test_a_streamed_shadow_answer_streams_and_is_sampled_whole(gateway, client):
    ann = person(gateway, "ann")
    before = known(ann)
    stream = client.chat.completions.create(
        model="shadow+human", messages=[{"role": "user", "content": "confident"}], stream=True
    )
    chunks = [TypeAdapter(ChatCompletionChunk).validate_python(c.model_dump()) for c in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "The answer is 42"
    row = newest_grade_task(ann, before)
    assert ann.task(row["id"])["draft"]["content"] == "The answer is 42"


def test_grading_checks_the_rubric_is_blind_and_ends_after_the_set_reviews(gateway, client):
    ann, bob, root = (person(gateway, name) for name in ("ann", "bob", "root"))
    before = known(ann)
    client.chat.completions.create(
        model="shadow+human", messages=[{"role": "user", "content": "confident"}]
    )
    task_id = newest_grade_task(ann, before)["id"]
    path = f"/api/tasks/{task_id}/grade"
    good_before = grades_total(gateway, "shadow+human", "good")

    wrong = ann.call("POST", path, {"verdict": "good", "scores": {**SCORES, "tone": 9}})
    assert wrong.status == 422 and wrong.error["param"] == "scores.tone"
    assert "scores.tone" in wrong.error["message"] and wrong.error["code"] == "invalid_grade"
    missing = ann.call("POST", path, {"verdict": "good", "scores": {"accurate": True}})
    assert missing.status == 422 and missing.error["param"] == "scores.tone"
    bad_correction = ann.call(
        "POST", path, {"verdict": "bad", "scores": SCORES, "correction": {"content": 5}}
    )
    assert bad_correction.status == 422
    assert bad_correction.error["param"].startswith("correction")

    first = ann.call("POST", path, {"verdict": "good", "scores": SCORES, "comment": "fine"})
    assert first.status == 200 and first.body["status"] == "pending" and first.body["graded"] == 1
    again = ann.call("POST", path, {"verdict": "good", "scores": SCORES})
    assert again.status == 409 and again.error["code"] == "already_graded"
    listed = {t["id"]: t for t in grade_tasks(ann)}
    assert listed[task_id]["graded_by_me"] is True
    assert {t["id"]: t for t in grade_tasks(bob)}[task_id]["graded_by_me"] is False
    # Blind: until done, each reviewer sees only their own grade.
    assert [g["reviewer"] for g in ann.task(task_id)["grades"]] == ["ann"]
    assert bob.task(task_id)["grades"] == []
    history = [e for e in bob.task(task_id)["history"] if e["event"] == "graded"]
    assert [(e["actor"], e["detail"]) for e in history] == [("ann", None)]  # not the verdict

    correction = {"content": "The answer is 41"}
    second = bob.call(
        "POST",
        path,
        {"verdict": "bad", "scores": {**SCORES, "tone": 2}, "correction": correction},
    )
    assert second.status == 200 and second.body["status"] == "answered"
    done = root.task(task_id)
    assert [(g["reviewer"], g["verdict"]) for g in done["grades"]] == [
        ("ann", "good"),
        ("bob", "bad"),
    ]
    assert done["grades"][1]["correction"]["content"] == "The answer is 41"
    assert done["grades"][0]["comment"] == "fine" and done["grades"][1]["scores"]["tone"] == 2
    late = root.call("POST", path, {"verdict": "good", "scores": SCORES})
    assert late.status == 409 and late.error["code"] == "task_not_open"
    assert grades_total(gateway, "shadow+human", "good") == good_before + 1
    # A grade task is graded, not answered; an answer task is answered, not graded.
    assert root.call("POST", f"/api/tasks/{task_id}/answer", {"content": "x"}).status == 409


def test_a_passing_answer_on_an_escalating_model_is_shadow_sampled(gateway, client):
    ann = person(gateway, "ann")
    before = known(ann)
    raw = client.chat.completions.with_raw_response.create(
        model="gated+human", messages=[{"role": "user", "content": "confident"}]
    )
    assert raw.headers["x-gateway-answered-by"] == "model"
    row = newest_grade_task(ann, before)
    assert row["model"] == "gated+human" and row["confidence"] == pytest.approx(0.95, abs=1e-3)
    done = ann.call("POST", f"/api/tasks/{row['id']}/grade", {"verdict": "good"})
    assert done.status == 200 and done.body["status"] == "answered"  # reviews = 1


def test_outside_its_groups_a_task_is_absent(gateway, client):
    ann, lee, root = person(gateway, "ann"), person(gateway, "lee"), person(gateway, "root")
    before = known(ann)
    client.chat.completions.create(
        model="shadow+human", messages=[{"role": "user", "content": "confident"}]
    )
    task_id = newest_grade_task(ann, before)["id"]
    assert task_id in {t["id"] for t in root.tasks()}  # a plain token sees every group
    assert task_id not in {t["id"] for t in lee.tasks()}
    for method, path, body in [
        ("GET", f"/api/tasks/{task_id}", None),
        ("POST", f"/api/tasks/{task_id}/claim", None),
        ("POST", f"/api/tasks/{task_id}/answer", {"content": "x"}),
        ("POST", f"/api/tasks/{task_id}/grade", {"verdict": "good", "scores": SCORES}),
    ]:
        reply = lee.call(method, path, body)
        assert reply.status == 404 and reply.error["code"] == "task_not_found", (path, reply)
    # Word for word the 404 of a task that does not exist.
    missing = lee.call("GET", "/api/tasks/task_nonexistent").error
    hidden = lee.call("GET", f"/api/tasks/{task_id}").error
    assert hidden == {**missing, "message": missing["message"].replace("task_nonexistent", task_id)}


def test_an_unclaimed_task_escalates_once_to_more_groups(gateway, client):
    lee, ops = person(gateway, "lee"), person(gateway, "ops")
    with EventLog(gateway.url, "ops", token=TOKENS["ops"]) as ops_events:
        reply = background(
            client.chat.completions.create,
            model="counsel",
            messages=[{"role": "user", "content": "May we use this logo?"}],
        )
        task = lee.wait_for_task(lambda t: t["model"] == "counsel")
        assert ops.call("GET", f"/api/tasks/{task['id']}").status == 404
        assert task["id"] not in {t["id"] for t in ops.tasks()}
        escalated = ops_events.wait_for("task.escalated", task["id"], timeout=10)
        assert escalated["groups"] == ["legal", "oncall"]
        # The created event went to legal only: ops heard of the task when it escalated.
        assert ops_events.names_for(task["id"])[0] == "task.escalated"
    assert ops.claim(task["id"]).status == 200
    assert ops.answer(task["id"], content="Yes, with credit.").status == 200
    assert reply.result(timeout=10).choices[0].message.content == "Yes, with credit."
    history = [entry["event"] for entry in ops.task(task["id"])["history"]]
    assert history.count("escalated") == 1


def test_a_task_claimed_in_time_does_not_escalate(gateway, client):
    lee, ops = person(gateway, "lee"), person(gateway, "ops")
    reply = background(
        client.chat.completions.create,
        model="counsel",
        messages=[{"role": "user", "content": "Is this contract fine?"}],
    )
    task = lee.wait_for_task(lambda t: t["preview"].startswith("Is this contract"))
    assert lee.claim(task["id"]).status == 200
    lease = lee.task(task["id"])
    assert lease["escalate_at"] is None
    # Past the 1 s escalation deadline, ops still does not see it.
    wait_until(lambda: task["created_at"] + 1.5 < time.time(), timeout=5)
    assert ops.call("GET", f"/api/tasks/{task['id']}").status == 404
    assert lee.answer(task["id"], content="Fine.").status == 200
    assert reply.result(timeout=10).choices[0].message.content == "Fine."


def test_agreement_in_stats_and_the_report(gateway, client, tmp_path):
    ann, bob = person(gateway, "ann"), person(gateway, "bob")
    verdicts = [("good", "good"), ("bad", "bad"), ("good", "bad"), ("good", "good")]
    for first, second in verdicts:
        before = known(ann)
        client.chat.completions.create(
            model="shadow+human", messages=[{"role": "user", "content": "confident"}]
        )
        task_id = newest_grade_task(ann, before)["id"]
        for who, verdict in ((ann, first), (bob, second)):
            body = {"verdict": verdict, "scores": SCORES}
            assert who.call("POST", f"/api/tasks/{task_id}/grade", body).status == 200
    stats = ann.ok("GET", "/api/stats")["agreement"]["shadow+human"]
    assert stats["verdict"]["method"] == "cohen_kappa"
    assert stats["verdict"]["items"] >= 4 and stats["verdict"]["reviewers"] == 2
    assert -1 <= stats["verdict"]["value"] <= 1
    assert stats["items"]["tone"]["method"] == "krippendorff_alpha"
    assert set(stats["items"]) == {"accurate", "tone", "topic"}  # text items are not compared


def export(reviewer: Reviewer, query: str) -> list[dict]:
    reply = reviewer.call("GET", "/api/export?" + query)
    assert reply.status == 200, reply
    raw = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
    return [json.loads(line) for line in raw.splitlines() if line.strip()]


def text_of(message: dict) -> str:
    content = message["content"]
    return content if isinstance(content, str) else "".join(part["text"] for part in content)


def test_grades_become_eval_and_dpo_rows_and_exports_keep_to_groups(gateway, client):
    ann, bob, lee, root = (person(gateway, n) for n in ("ann", "bob", "lee", "root"))
    before = known(ann)
    client.chat.completions.create(
        model="shadow+human", messages=[{"role": "user", "content": "confident"}]
    )
    task_id = newest_grade_task(ann, before)["id"]
    better = {"content": "The answer is 42, as computed."}
    body = {"verdict": "bad", "scores": {**SCORES, "tone": 1}, "correction": better}
    assert ann.call("POST", f"/api/tasks/{task_id}/grade", body).status == 200
    body = {"verdict": "good", "scores": SCORES, "comment": "fine by me"}
    assert bob.call("POST", f"/api/tasks/{task_id}/grade", body).status == 200

    rows = {row["task_id"]: row for row in export(root, "format=eval&model=shadow%2Bhuman")}
    row = rows[task_id]
    assert row["verdict"] == "bad" and row["correct"] is False  # a tie is not good
    assert text_of(row["model_answer"]) == "The answer is 42"
    assert [(g["reviewer"], g["verdict"], g["scores"]["tone"]) for g in row["grades"]] == [
        ("ann", "bad", 1),
        ("bob", "good", 4),
    ]
    assert text_of(row["grades"][0]["correction"]) == better["content"]
    # content=parts reaches the graded rows too: every message's content a list.
    parted = {r["task_id"]: r for r in export(root, "format=eval&content=parts")}[task_id]
    assert parted["model_answer"]["content"] == [{"type": "text", "text": "The answer is 42"}]
    assert parted["grades"][0]["correction"]["content"] == [
        {"type": "text", "text": better["content"]}
    ]
    dpo = export(root, "format=dpo&model=shadow%2Bhuman")
    pairs = [
        (text_of(line["preferred_output"][0]), text_of(line["non_preferred_output"][0]))
        for line in dpo
    ]
    assert (better["content"], "The answer is 42") in pairs
    records = {r["id"]: r for r in export(root, "format=records&model=shadow%2Bhuman")}
    assert len(records[task_id]["grades"]) == 2
    # Outside the groups, the same export leaves the task out.
    assert task_id not in {r["id"] for r in export(lee, "format=records")}
    assert task_id in {r["id"] for r in export(ann, "format=records")}
    sessions = lee.ok("GET", "/api/sessions?limit=500")["data"]
    assert all("shadow+human" not in s["models"] for s in sessions)


def test_the_report_shows_shadow_grades_advice_and_agreement(gateway, client):
    ann = person(gateway, "ann")
    for verdict in ("good", "good", "bad"):
        before = known(ann)
        client.chat.completions.create(
            model="gated+human", messages=[{"role": "user", "content": "confident"}]
        )
        task_id = newest_grade_task(ann, before)["id"]
        assert ann.call("POST", f"/api/tasks/{task_id}/grade", {"verdict": verdict}).status == 200
    report = ann.ok("GET", "/api/calibration?model=gated%2Bhuman")["data"][0]
    shadow = report["shadow"]
    assert shadow["samples"] >= 3 and shadow["approved"] < shadow["samples"]
    assert [b["count"] for b in shadow["bins"]][9] == shadow["samples"]  # all at 0.95
    assert shadow["target"] == {"error_rate": 0.05}
    env = dict(os.environ)
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "report", "--config", str(gateway.config_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "shadow grades:" in done.stdout and "shadow grades advise min_confidence" in (
        done.stdout
    )
    assert "agreement on" in done.stdout and "cohen_kappa" in done.stdout


def test_a_responses_api_answer_is_shadow_sampled_too(gateway, client):
    ann = person(gateway, "ann")
    before = known(ann)
    raw = client.responses.with_raw_response.create(model="shadow+human", input="confident")
    response = Response.model_validate(raw.parse().model_dump())
    assert raw.headers["x-gateway-answered-by"] == "model"
    assert response.output_text == "The answer is 42"
    row = newest_grade_task(ann, before)
    task = ann.task(row["id"])
    assert task["api"] == "responses" and task["draft"]["content"] == "The answer is 42"


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_an_anthropic_client_on_a_shadow_model_is_sampled_too(gateway, stream):
    ann = person(gateway, "ann")
    before = known(ann)
    claude = anthropic.Anthropic(base_url=gateway.url, api_key="k", max_retries=0)
    request = dict(
        model="claude-shadow", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    )
    if stream:
        with claude.messages.stream(**request) as events:
            text = "".join(events.text_stream)
    else:
        raw = claude.messages.with_raw_response.create(**request)
        assert raw.headers["x-gateway-answered-by"] == "model"
        message = anthropic.types.Message.model_validate(raw.parse().model_dump())
        text = message.content[0].text
    assert text == "hello from claude"
    task = ann.task(newest_grade_task(ann, before)["id"])
    assert task["kind"] == "grade" and task["draft"]["content"] == "hello from claude"
