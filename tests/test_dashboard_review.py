"""Grading on the dashboard in headless Chromium (issue 19): a shadow sample from the
real ``openai`` SDK, the queue's grade filter, the rubric answered with keys, Good and
Bad one key each, a correction that starts from the model's answer, the agreement
figure; screenshots at 1280x720 and 1920x1080. A reviewer signs in with a token and
sees only their groups' work."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from browser import ARTIFACTS, Watched, publish_screenshot, requires_chromium
from browser import browser as browser  # the module-scoped fixture
from harness import Gateway, ThreadedServer, run_gateway
from hybrid_upstream import DELETE_FILE, make_app
from openai import OpenAI
from playwright.sync_api import Page, expect
from reviewer_client import Reviewer, background

pytestmark = [pytest.mark.browser, requires_chromium]

ANN, LEE, BOB = "tok-ann-0123456789", "tok-lee-0123456789", "tok-bob-0123456789"
CONFIG = """
[auth]
reviewer_tokens = {{ ann = {{ token = "{ann}", groups = ["support"] }}, lee = {{ token = "{lee}", groups = ["legal"] }}, bob = "{bob}" }}

[upstreams.fake]
base_url = "{url}/v1"
retries = 0

[rubrics.support]
items = [
  {{ name = "accurate", type = "bool" }},
  {{ name = "tone", type = "scale", min = 1, max = 5 }},
  {{ name = "topic", type = "choice", options = ["billing", "tech", "other"] }},
  {{ name = "notes", type = "text" }},
]

[models."shadow+human"]
upstream = "fake"
human = "shadow"
shadow_sample = 1.0
rubric = "support"
reviewers = ["support"]

[models."pair+human"]
upstream = "fake"
human = "shadow"
shadow_sample = 1.0
reviews = 2
reviewers = ["support"]

[models.counsel]
route = "human"
reviewers = ["legal"]
"""  # noqa: E501


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[Gateway]:
    with ThreadedServer(make_app([])) as fake:
        config = CONFIG.format(url=fake.url, ann=ANN, lee=LEE, bob=BOB)
        with run_gateway(tmp_path_factory.mktemp("dash-review"), config) as gw:
            yield gw


@pytest.fixture
def watched(browser) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        yield Watched(context)
    finally:
        context.close()


def sign_in(page: Page, gateway: Gateway, token: str) -> None:
    page.goto(gateway.url)
    page.locator("#login-token").fill(token)
    page.locator("#login-token").press("Enter")
    expect(page.locator("#conn")).to_have_text("live")


def page_errors(watched: Watched) -> list[str]:
    """What went wrong on the page, but the 401 of the first look before signing in."""
    return [e for e in watched.errors if "401" not in e]


def shadow_call(gateway: Gateway, prompt: str) -> str:
    client = OpenAI(base_url=gateway.base_url, api_key="k", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="shadow+human", messages=[{"role": "user", "content": prompt}]
    )
    assert raw.headers["x-gateway-answered-by"] == "model"
    return raw.parse().choices[0].message.content or ""


def test_grading_with_keys_and_a_correction(gateway: Gateway, watched: Watched) -> None:
    page = watched.page
    sign_in(page, gateway, ANN)
    prompt = "confident"
    assert shadow_call(gateway, prompt) == "The answer is 42"
    api = Reviewer(gateway.url, "ann", ANN)
    task_id = api.ok("GET", "/api/tasks?kind=grade")["data"][-1]["id"]
    page.locator("#queue-filter").select_option("grade")
    row = page.locator(f'.task-row[data-id="{task_id}"]')
    expect(row).to_be_visible()
    expect(page.locator(".task-row .kind-text")).to_have_count(0)  # only grade tasks listed
    row.click()
    card = page.locator("#grade-card")
    expect(card.locator(".model-answer")).to_contain_text("The answer is 42")
    expect(page.locator("#reply")).to_be_hidden()  # graded, not answered
    # 1 flips "accurate" to yes; 2 then 4 sets the tone; 3 then 2 picks "tech".
    page.locator("body").press("1")
    page.locator("body").press("2")
    expect(page.locator("#grade-hint")).to_have_text("tone: press 1\u20135")
    page.locator("body").press("4")
    page.locator("body").press("3")
    page.locator("body").press("2")
    expect(page.locator('input[name="grade-accurate"][value="true"]')).to_be_checked()
    expect(page.locator('input[name="grade-tone"][value="4"]')).to_be_checked()
    expect(page.locator("#grade-topic")).to_have_value("tech")
    # c opens the correction, which starts as the model's answer.
    page.locator("body").press("c")
    correction = page.locator("#grade-correction")
    expect(correction).to_be_focused()
    expect(correction).to_have_value("The answer is 42")
    correction.fill("The answer is 42, computed twice.")
    page.screenshot(path=str(ARTIFACTS / "grade-1280x720.png"))
    publish_screenshot(ARTIFACTS / "grade-1280x720.png", "grade-1280x720.png")
    correction.press("Escape")  # leaves the text field; keys work again
    page.locator("body").press("b")
    expect(card).to_have_count(0)
    graded = api.task(task_id)
    assert graded["status"] == "answered"
    (grade,) = graded["grades"]
    assert (grade["reviewer"], grade["verdict"]) == ("ann", "bad")
    assert grade["scores"] == {"accurate": True, "tone": 4, "topic": "tech"}
    assert grade["correction"]["content"] == "The answer is 42, computed twice."
    assert not page_errors(watched)


def test_a_missing_item_is_named_and_good_is_one_key(gateway: Gateway, watched: Watched) -> None:
    page = watched.page
    sign_in(page, gateway, ANN)
    shadow_call(gateway, "confident")
    api = Reviewer(gateway.url, "ann", ANN)
    task_id = api.ok("GET", "/api/tasks?kind=grade")["data"][-1]["id"]
    page.locator("#queue-filter").select_option("grade")
    page.locator(f'.task-row[data-id="{task_id}"]').click()
    expect(page.locator("#grade-card")).to_be_visible()
    page.locator("body").press("g")
    expect(page.locator("#grade-error")).to_contain_text("accurate")
    for key in ("1", "2", "5", "3", "1"):
        page.locator("body").press(key)
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.screenshot(path=str(ARTIFACTS / "grade-1920x1080.png"))
    page.locator("body").press("g")
    expect(page.locator("#grade-card")).to_have_count(0)
    grade = api.task(task_id)["grades"][0]
    assert grade["verdict"] == "good" and grade["scores"]["topic"] == "billing"
    assert grade["correction"] is None  # unchanged: not sent
    expect(page.locator("#stat-agreement-box")).to_have_count(0)  # one grade each: no figure
    assert not page_errors(watched)


def test_a_reviewer_sees_only_their_groups_work(gateway: Gateway, watched: Watched) -> None:
    page = watched.page
    shadow_call(gateway, "confident")
    sign_in(page, gateway, LEE)
    lee = Reviewer(gateway.url, "lee", LEE)
    assert not lee.ok("GET", "/api/tasks?kind=grade")["data"]
    expect(page.locator("#queue-empty")).to_be_visible()
    expect(page.locator(".task-row")).to_have_count(0)
    # A legal task appears for lee, live.
    client = OpenAI(base_url=gateway.base_url, api_key="k", max_retries=0, timeout=30)
    text = f"Clause {uuid.uuid4().hex[:6]} fine?"
    reply = background(
        client.chat.completions.create,
        model="counsel",
        messages=[{"role": "user", "content": text}],
    )
    expect(page.locator(".task-row", has_text=text)).to_have_count(1)
    task = lee.wait_for_task(lambda t: t["preview"] == text)
    assert lee.answer(task["id"], content="Yes.").status == 200
    assert reply.result(timeout=10).choices[0].message.content == "Yes."
    assert not page_errors(watched)


def test_the_agreement_figure_in_the_header(gateway: Gateway, watched: Watched) -> None:
    ann, bob = Reviewer(gateway.url, "ann", ANN), Reviewer(gateway.url, "bob", BOB)
    client = OpenAI(base_url=gateway.base_url, api_key="k", max_retries=0)
    for first, second in [("good", "good"), ("bad", "bad"), ("good", "bad"), ("good", "good")]:
        before = {t["id"] for t in bob.ok("GET", "/api/tasks?kind=grade")["data"]}
        client.chat.completions.create(
            model="pair+human", messages=[{"role": "user", "content": "confident"}]
        )
        rows = [t for t in bob.ok("GET", "/api/tasks?kind=grade")["data"] if t["id"] not in before]
        task_id = rows[-1]["id"]
        for who, verdict in ((ann, first), (bob, second)):
            assert (
                who.call("POST", f"/api/tasks/{task_id}/grade", {"verdict": verdict}).status == 200
            )
    stats = bob.ok("GET", "/api/stats")["agreement"]["pair+human"]["verdict"]
    page = watched.page
    sign_in(page, gateway, BOB)
    figure = page.locator("#stat-agreement")
    expect(figure).to_have_text(f"\u03ba {stats['value']:.2f}")
    assert "pair+human: 8 grades of 4 answers" in (
        page.locator("#stat-agreement-box").get_attribute("title") or ""
    )
    page.locator("#stats").screenshot(path=str(ARTIFACTS / "grade-agreement.png"))
    assert not page_errors(watched)


def test_a_correction_of_a_tool_call_is_edited_as_json(gateway: Gateway, watched: Watched) -> None:
    page = watched.page
    sign_in(page, gateway, ANN)
    client = OpenAI(base_url=gateway.base_url, api_key="k", max_retries=0)
    client.chat.completions.create(
        model="shadow+human", messages=[{"role": "user", "content": "delete"}], tools=[DELETE_FILE]
    )
    api = Reviewer(gateway.url, "ann", ANN)
    task_id = api.ok("GET", "/api/tasks?kind=grade")["data"][-1]["id"]
    page.locator("#queue-filter").select_option("grade")
    page.locator(f'.task-row[data-id="{task_id}"]').click()
    expect(page.locator("#grade-card .model-answer")).to_contain_text("delete_file")
    for key in ("1", "1", "2", "2", "3", "3", "c"):  # accurate: yes, then no
        page.locator("body").press(key)
    correction = page.locator("#grade-correction")
    expect(correction).to_be_focused()
    shown = correction.input_value()
    assert '"delete_file"' in shown and "/tmp/x" in shown  # the model's call, as JSON
    correction.fill(shown.replace("/tmp/x", "/tmp/keep-out"))
    correction.press("Escape")
    page.locator("body").press("b")
    expect(page.locator("#grade-card")).to_have_count(0)
    grade = api.task(task_id)["grades"][0]
    assert grade["scores"] == {"accurate": False, "tone": 2, "topic": "other"}
    (call,) = grade["correction"]["tool_calls"]
    arguments = call["arguments"]
    assert call["name"] == "delete_file" and "/tmp/keep-out" in json.dumps(arguments)
    assert not page_errors(watched)


def test_what_a_reviewer_graded_leaves_their_queue(gateway: Gateway, watched: Watched) -> None:
    ann, bob = Reviewer(gateway.url, "ann", ANN), Reviewer(gateway.url, "bob", BOB)
    client = OpenAI(base_url=gateway.base_url, api_key="k", max_retries=0)
    before = {t["id"] for t in bob.ok("GET", "/api/tasks?kind=grade")["data"]}
    for _ in range(2):
        client.chat.completions.create(
            model="pair+human", messages=[{"role": "user", "content": "confident"}]
        )
    row, other = [
        t for t in bob.ok("GET", "/api/tasks?kind=grade")["data"] if t["id"] not in before
    ]
    assert ann.call("POST", f"/api/tasks/{row['id']}/grade", {"verdict": "good"}).status == 200
    page = watched.page
    sign_in(page, gateway, BOB)  # bob has not graded it: it waits for him
    expect(page.locator(f'.task-row[data-id="{row["id"]}"]')).to_have_count(1)
    watched.context.clear_cookies()
    sign_in(page, gateway, ANN)  # ann has (reviews = 2): not in her queue
    expect(page.locator(f'.task-row[data-id="{other["id"]}"]')).to_have_count(1)
    expect(page.locator(f'.task-row[data-id="{row["id"]}"]')).to_have_count(0)
    for task in (row, other):
        assert bob.call("POST", f"/api/tasks/{task['id']}/grade", {"verdict": "good"}).status == 200
    assert ann.call("POST", f"/api/tasks/{other['id']}/grade", {"verdict": "good"}).status == 200
    assert not page_errors(watched)
