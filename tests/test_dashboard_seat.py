"""The reviewer's seat in headless Chromium: following an agent's run step after
step, the layout on laptop and desktop windows, keys that behave, unsent work kept
across a switch, refusing as data. The agent is the ``openai`` SDK on a thread."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator

import openai
import pytest
from browser import (
    DESKTOP,
    DESKTOP_BOXES,
    LAPTOP,
    Watched,
    computer_tool,
    fits,
    open_dashboard,
    open_row,
    pixel_on_screen,
    png_data_url,
    publish_screenshot,
    requires_chromium,
    sdk_client,
    zoom_percent,
)
from browser import browser as browser  # the module-scoped fixture
from browser import watched as watched
from harness import Gateway, run_gateway
from openai.types.responses import Response
from playwright.sync_api import Page, expect
from pydantic import TypeAdapter
from reviewer_client import WEATHER_TOOL, Reviewer, background

pytestmark = [pytest.mark.browser, requires_chromium]

STEPS = 5
GATE_S = 30  # the bound on the agent's wait for the test's go-ahead


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[Gateway]:
    with run_gateway(tmp_path_factory.mktemp("seat"), "") as gateway:
        yield gateway


def screen(step: int) -> str:
    """The agent's screen at a step: the desktop with a red button that moves."""
    return png_data_url(1024, 768, [*DESKTOP_BOXES, (240 + 90 * step, 500, 70, 36, (220, 38, 38))])


def target(step: int) -> tuple[int, int]:
    """The red button's centre at a step: where the person clicks."""
    return 240 + 90 * step + 35, 518


class Person:
    """Playwright as the person, counting every input (clicks and key presses)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.inputs = 0

    def click(self, x: float, y: float) -> None:
        self.inputs += 1
        self.page.mouse.click(x, y)

    def press(self, key: str) -> None:
        self.inputs += 1
        self.page.keyboard.press(key)

    def click_on(self, selector: str) -> None:
        self.inputs += 1
        self.page.locator(selector).click()


def first_step(page: Page):
    return page.locator("#timeline .steps > .step").first


def agent_run(gateway: Gateway, goal: str, go: threading.Event, answers: list) -> None:
    """A computer-use loop resending its whole history each step (as Cua does).

    Before step 2 it waits for ``go``, so the test can see the seat waiting.
    """
    client = sdk_client(gateway)
    tool = computer_tool(1024, 768)
    history: list = [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": goal},
                {"type": "input_image", "image_url": screen(1)},
            ],
        }
    ]
    for step in range(1, STEPS + 1):
        if step == 2:
            assert go.wait(GATE_S)
        raw = client.responses.with_raw_response.create(model="human", tools=[tool], input=history)
        body = raw.http_response.json()
        TypeAdapter(Response).validate_python(body)
        answers.append(body)
        calls = [item for item in body["output"] if item["type"] == "computer_call"]
        history += body["output"]
        if step < STEPS:
            shot = {"type": "computer_screenshot", "image_url": screen(step + 1)}
            history.append(
                {"type": "computer_call_output", "call_id": calls[-1]["call_id"], "output": shot}
            )


@requires_chromium
def test_a_five_step_session_needs_one_queue_click_then_a_click_and_a_key_per_step(
    gateway: Gateway, watched: Watched
) -> None:
    page = watched.page
    page.set_viewport_size(LAPTOP)
    open_dashboard(page, gateway)
    expect(page.locator("#opt-follow")).to_be_checked()  # following is the default
    goal = f"Press the red button five times {uuid.uuid4().hex[:6]}"
    go = threading.Event()
    answers: list = []
    run = background(agent_run, gateway, goal, go, answers)
    person = Person(page)

    row = page.locator(".task-row").filter(has_text=goal)
    expect(row.locator(".kind")).to_have_text("screen")
    expect(row.locator(".row-thumb")).to_have_count(1)
    session = row.locator("xpath=..").get_attribute("data-session")
    assert session.startswith("Press the red button five times")
    person.click_on(f'.task-row:has-text("{goal}")')
    per_step = []
    zoom = None
    for step in range(1, STEPS + 1):
        start = person.inputs
        expect(page.locator("#task-step")).to_have_text(f"step {step}")
        expect(page.locator("#viewport")).to_have_attribute("data-ready", "1")
        if step == 1:
            # Zoom once; the following steps keep it (and the pan).
            fitted = zoom_percent(page)
            page.mouse.move(*pixel_on_screen(page, 500, 500))
            person.inputs += 1
            page.mouse.wheel(0, -150)
            expect(page.locator("#zoom-level")).not_to_have_text(f"{fitted}%")
            zoom = zoom_percent(page)
        else:
            assert zoom_percent(page) == zoom
            # The past steps, newest first, each with its thumbnail and marks.
            first = page.locator("#timeline .steps > .step").first
            expect(first).to_have_attribute("data-step", str(step - 1))
            x, y = target(step - 1)
            expect(first.locator(".step-lines .act")).to_have_text([f"1click ({x}, {y})"])
            expect(first.locator(".thumb .marks g.mark")).to_have_count(1)
            if step == 3:
                # (Looking, not counted:) while following, the past steps are a rail
                # that \ opens; the full screenshot opens on demand, with its mark,
                # and Esc closes it.
                page.keyboard.press("\\")
                first.locator(".thumb").click()
                full = page.locator(".lightbox .full-shot")
                expect(full.locator("img")).to_have_attribute("src", re.compile(r"/images/1$"))
                expect(full.locator("g.mark")).to_have_count(1)
                page.keyboard.press("Escape")
                expect(full).to_have_count(0)
                expect(page.locator("#task")).to_be_visible()
                page.keyboard.press("\\")
                expect(first).to_be_hidden()
                page.locator("#viewport").focus()
        # The current screenshot appears once: in the workspace, not in the timeline.
        assert page.locator("#timeline img").count() == step - 1
        x, y = target(step)
        person.click(*pixel_on_screen(page, x, y))
        expect(page.locator("#actions li .desc")).to_have_text([f"click left ({x}, {y})"])
        if step == STEPS:
            page.mouse.move(*pixel_on_screen(page, x + 60, y + 90))  # the crosshair aside
            expect(page.locator("#toast")).to_be_hidden()  # step 4's "Answer sent" is gone
            page.keyboard.press("\\")  # the past steps' rail, open over the screenshot
            expect(first_step(page)).to_be_visible()
            thumb = first_step(page).locator(".thumb img")  # loaded once the rail shows it
            expect(thumb).to_have_js_property("complete", True)
            expect(thumb).not_to_have_js_property("naturalWidth", 0)
            publish_screenshot(watched.snap("seat-computer-use"), "seat-computer-use.png")
            page.keyboard.press("\\")
        person.press("Control+Enter")
        per_step.append(person.inputs - start)
        if step == 1:
            # Between steps the seat says it is waiting, then opens the next step itself.
            expect(page.locator("#follow-wait")).to_be_visible()
            expect(page.locator("#follow-text")).to_contain_text("after step 1")
            watched.snap("seat-waiting")
            go.set()
    run.result(timeout=60)
    assert per_step[0] == 3 and per_step[1:] == [2, 2, 2, 2], per_step  # zoom, click, key
    assert person.inputs == 1 + sum(per_step)  # plus the one click on the queue

    # Each answer reached the agent as the click made; the server saw one run.
    for step, body in enumerate(answers, start=1):
        x, y = target(step)
        actions = [item["action"] for item in body["output"] if item["type"] == "computer_call"]
        assert actions == [{"type": "click", "button": "left", "x": x, "y": y}]
    reviewer = Reviewer(gateway.url, "auditor")
    tasks = [t for t in reviewer.tasks("answered") if t["session"] == session]
    assert sorted(t["step"] for t in tasks) == list(range(1, STEPS + 1))
    by_step = {t["step"]: t for t in tasks}
    assert all(by_step[n]["follows"] == by_step[n - 1]["id"] for n in range(2, STEPS + 1))
    expect(page.locator("#follow-wait")).to_be_visible()
    page.keyboard.press("Escape")  # the run is over: stop waiting
    expect(page.locator("#follow-wait")).to_be_hidden()
    expect(page.locator("#task-empty")).to_be_visible()


NESTED_TOOL = {
    "type": "function",
    "function": {
        "name": "create_ticket",
        "description": "Open a support ticket.",
        "parameters": {
            "type": "object",
            "properties": {
                "title": {"type": "string"},
                "priority": {"type": "string", "enum": ["low", "normal", "high"]},
                "notify": {"type": "boolean"},
                "customer": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "email": {"type": "string"},
                        "address": {
                            "type": "object",
                            "properties": {
                                "street": {"type": "string"},
                                "city": {"type": "string"},
                                "country": {"type": "string"},
                            },
                        },
                    },
                    "required": ["name"],
                },
                "tags": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["title", "priority", "customer"],
        },
    },
}


@requires_chromium
@pytest.mark.parametrize("window", [LAPTOP, DESKTOP], ids=["1280x720", "1600x1000"])
def test_layout_fits_without_scrolling(gateway: Gateway, watched: Watched, window) -> None:
    page = watched.page
    page.set_viewport_size(window)
    open_dashboard(page, gateway)
    tag = uuid.uuid4().hex[:6]
    sdk = sdk_client(gateway)
    computer = background(
        sdk.responses.create,
        model="human",
        tools=[computer_tool(1024, 768)],
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": f"Sign in as ops {tag}"},
                    {"type": "input_image", "image_url": screen(2)},
                ],
            }
        ],
        extra_headers={"x-session-id": f"cu-{tag}"},
    )
    tools = background(
        sdk.chat.completions.create,
        model="human",
        messages=[{"role": "user", "content": f"Open a ticket for Ada {tag}"}],
        tools=[NESTED_TOOL, WEATHER_TOOL],
        extra_headers={"x-session-id": f"tools-{tag}"},
    )
    name = f"{window['width']}x{window['height']}"

    open_row(page, f"cu-{tag}")
    expect(page.locator("#viewport")).to_have_attribute("data-ready", "1")
    fits(page, "#shot", "#tools", "#btn-submit", "#btn-reject", "#btn-release")
    shot = page.locator("#shot").bounding_box()
    assert shot["width"] >= 640  # scaled to fit, and still large
    # Smooth scaling below 100%, pixels only above it.
    assert page.locator("#shot").evaluate("i => getComputedStyle(i).imageRendering") == "auto"
    page.mouse.click(*pixel_on_screen(page, *target(2)))
    snap = watched.snap(f"layout-screen-{name}")
    if window == LAPTOP:
        publish_screenshot(snap, "seat-screen-1280x720.png")
    page.keyboard.press("1")
    page.keyboard.press("+")
    assert page.locator("#shot").evaluate("i => getComputedStyle(i).imageRendering") == "pixelated"
    page.keyboard.press("Control+Enter")
    computer.result(timeout=30)

    open_row(page, f"tools-{tag}")
    card = page.locator('.tool-card[data-tool="create_ticket"]')
    expect(card).to_be_visible()
    fits(page, '.tool-card[data-tool="create_ticket"] summary', "#btn-submit", "#btn-reject")
    snap = watched.snap(f"layout-tools-{name}")
    if window == LAPTOP:
        publish_screenshot(snap, "seat-tools-1280x720.png")
    Reviewer(gateway.url, "anonymous").reject(open_row_id(page, f"tools-{tag}"), "layout checked")
    with pytest.raises(openai.UnprocessableEntityError):
        tools.result(timeout=30)


def open_row_id(page: Page, session: str) -> str:
    return page.locator(f'.group[data-session="{session}"] .task-row').get_attribute("data-id")


@requires_chromium
def test_keys_capture_one_combination_and_letters_never_fire_while_typing(
    gateway: Gateway, watched: Watched
) -> None:
    page = watched.page
    page.set_viewport_size(LAPTOP)
    open_dashboard(page, gateway)
    tag = uuid.uuid4().hex[:6]
    sdk = sdk_client(gateway)
    computer = background(
        sdk.responses.create,
        model="human",
        tools=[computer_tool(1024, 768)],
        input=[{"role": "user", "content": [{"type": "input_image", "image_url": screen(1)}]}],
        extra_headers={"x-session-id": f"keys-{tag}"},
    )
    text = background(
        sdk.chat.completions.create,
        model="human",
        messages=[{"role": "user", "content": f"Which team owns billing? {tag}"}],
        extra_headers={"x-session-id": f"text-{tag}"},
    )
    open_row(page, f"keys-{tag}")
    expect(page.locator("#viewport")).to_be_focused()
    # Keys: one combination is added, then the tool before (drag) is back.
    page.keyboard.press("g")
    page.keyboard.press("x")
    expect(page.locator("#key-capture")).to_be_focused()
    page.keyboard.press("Control+s")
    expect(page.locator("#actions li .desc")).to_have_text(["keys ctrl+s"])
    expect(page.locator("#tools [data-tool=drag]")).to_have_class("active")
    expect(page.locator("#viewport")).to_be_focused()
    # Esc leaves the capture without adding anything; so does a click on the screenshot.
    page.keyboard.press("x")
    page.keyboard.press("Escape")
    expect(page.locator("#tools [data-tool=drag]")).to_have_class("active")
    page.keyboard.press("Tab")  # a key press on the page now, not a captured key
    page.keyboard.press("c")
    page.keyboard.press("x")
    page.mouse.click(*pixel_on_screen(page, 300, 300))
    expect(page.locator("#actions li .desc")).to_have_text(["keys ctrl+s", "click left (300, 300)"])
    # Type: Enter adds the text and returns too.
    page.keyboard.press("t")
    page.keyboard.type("ops@acme.test")
    page.keyboard.press("Enter")
    expect(page.locator("#tools [data-tool=click]")).to_have_class("active")
    expect(page.locator("#actions li")).to_have_count(3)
    page.keyboard.press("Control+Enter")
    computer.result(timeout=30)

    # A text-only task opens with the reply box focused; letters typed there are text,
    # never shortcuts (no release, no history view, no re-claim).
    row_id = open_row(page, f"text-{tag}").get_attribute("data-id")
    expect(page.locator("#reply-text")).to_be_focused()
    page.keyboard.type("billing is owned by the ledger team (ask #ledger)")
    expect(page.locator("#reply-text")).to_have_value(
        "billing is owned by the ledger team (ask #ledger)"
    )
    expect(page.locator("#history-pane")).to_be_hidden()
    history = Reviewer(gateway.url, "auditor").task(row_id)["history"]
    assert [h["event"] for h in history] == ["created", "claimed"]
    # The box grows with a long answer; the preview renders markdown as elements, and
    # markup in the text stays text.
    box = page.locator("#reply-text")
    before = box.bounding_box()["height"]
    for line in [
        "",
        "## Owners",
        "",
        "- **ledger** team",
        "- `#ledger` channel",
        "",
        "<img src=x onerror=alert(1)>",
    ]:
        page.keyboard.press("Enter")
        page.keyboard.type(line)
    assert box.bounding_box()["height"] > before
    assert box.evaluate("b => b.scrollHeight <= b.clientHeight + 2")  # all of it in view
    page.locator("#opt-preview").check()
    preview = page.locator("#reply-preview")
    expect(preview.locator("h4")).to_have_text("Owners")
    expect(preview.locator("li strong")).to_have_text("ledger")
    expect(preview.locator("li code")).to_have_text("#ledger")
    expect(preview).to_contain_text("<img src=x onerror=alert(1)>")
    expect(preview.locator("img")).to_have_count(0)
    watched.snap("reply-preview")
    page.locator("#opt-preview").uncheck()
    page.keyboard.press("Control+Enter")
    content = text.result(timeout=30).choices[0].message.content
    assert content.startswith("billing is owned") and "## Owners" in content
    assert watched.dialogs == []


@requires_chromium
def test_unsent_work_is_kept_across_a_switch(gateway: Gateway, watched: Watched) -> None:
    page = watched.page
    page.set_viewport_size(LAPTOP)
    open_dashboard(page, gateway)
    tag = uuid.uuid4().hex[:6]
    sdk = sdk_client(gateway)
    screen_reply = background(
        sdk.responses.create,
        model="human",
        tools=[computer_tool(1024, 768)],
        input=[{"role": "user", "content": [{"type": "input_image", "image_url": screen(3)}]}],
        extra_headers={"x-session-id": f"a-{tag}"},
    )
    text_reply = background(
        sdk.chat.completions.create,
        model="human",
        messages=[{"role": "user", "content": f"Draft a reply {tag}"}],
        extra_headers={"x-session-id": f"b-{tag}"},
    )
    open_row(page, f"a-{tag}")
    expect(page.locator("#viewport")).to_have_attribute("data-ready", "1")
    for point in [(100, 100), (200, 200), (300, 300)]:
        page.mouse.click(*pixel_on_screen(page, *point))
    page.keyboard.press("w")
    expect(page.locator("#actions li")).to_have_count(4)
    page.keyboard.press("n")  # the next free task: the switch that used to lose the work
    expect(page.locator("#reply-text")).to_be_focused()
    page.keyboard.type("Half a thought")
    open_row(page, f"a-{tag}")
    expect(page.locator("#actions li")).to_have_count(4)
    open_row(page, f"b-{tag}")
    expect(page.locator("#reply-text")).to_have_value("Half a thought")
    page.keyboard.press("Control+Enter")
    assert text_reply.result(timeout=30).choices[0].message.content == "Half a thought"
    open_row(page, f"a-{tag}")
    expect(page.locator("#actions li")).to_have_count(4)
    page.keyboard.press("Control+Enter")
    actions = [
        i.action.type for i in screen_reply.result(timeout=30).output if i.type == "computer_call"
    ]
    assert actions == ["click", "click", "click", "wait"]


@requires_chromium
def test_refuse_reaches_the_agent_as_a_refusal(gateway: Gateway, watched: Watched) -> None:
    page = watched.page
    page.set_viewport_size(LAPTOP)
    open_dashboard(page, gateway)
    tag = uuid.uuid4().hex[:6]
    reply = background(
        sdk_client(gateway).chat.completions.create,
        model="human",
        messages=[{"role": "user", "content": f"Wire 50k to this account {tag}"}],
        extra_headers={"x-session-id": f"no-{tag}"},
    )
    # Opened from a webhook's link, /#task=<id>.
    task = Reviewer(gateway.url, "x").wait_for_task(lambda t: t["session"] == f"no-{tag}")
    page.goto(f"{gateway.url}/#task={task['id']}")
    expect(page.locator("#task-meta")).to_contain_text(task["id"])
    page.locator("#reject-reason").fill("I can't approve transfers of this size.")
    page.locator("#btn-refuse").click()
    message = reply.result(timeout=30).choices[0].message
    assert message.refusal == "I can't approve transfers of this size."
    assert message.content is None
