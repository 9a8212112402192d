"""The reviewer dashboard in headless Chromium, against a real gateway process.

Clients are the real ``openai`` SDK on threads; the person is Playwright driving
the page. Each test finishes every task it starts, so counts stay exact.
"""

from __future__ import annotations

import datetime
import json
import re
import uuid
from collections.abc import Iterator

import openai
import pytest
from browser import (
    DESKTOP_BOXES,
    Watched,
    computer_task,
    computer_tool,
    open_dashboard,
    open_row,
    pixel_on_screen,
    png_data_url,
    publish_screenshot,
    requires_chromium,
    zoom_percent,
)
from browser import browser as browser  # the module-scoped fixture
from browser import sdk_client as client
from browser import watched as watched
from harness import Gateway, run_gateway, wait_until
from openai.types.chat import ChatCompletion
from openai.types.responses import Response
from playwright.sync_api import expect
from pydantic import TypeAdapter
from reviewer_client import WEATHER_TOOL as GET_WEATHER
from reviewer_client import Reviewer, background

pytestmark = [pytest.mark.browser, requires_chromium]

# A human model whose tasks expire after a second, for the history.
CONFIG = """
[models."human-brief"]
route = "human"
timeout_s = 1.0
"""

WIDTH, HEIGHT = 1024, 768
COMPUTER = computer_tool(WIDTH, HEIGHT)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[Gateway]:
    with run_gateway(tmp_path_factory.mktemp("dashboard"), CONFIG) as gateway:
        yield gateway


def iso(epoch_seconds: float) -> str:
    """An instant as JavaScript's ``Date.toISOString`` writes it (whole milliseconds, UTC)."""
    start = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
    instant = start + datetime.timedelta(milliseconds=int(epoch_seconds * 1000))
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- computer use: zoom, click, drag, type, keys, remove, undo, reorder, submit ---------


@requires_chromium
def test_computer_use_answer_from_the_screenshot(gateway: Gateway, watched: Watched) -> None:
    page = watched.page
    open_dashboard(page, gateway)
    session = f"cu-{uuid.uuid4().hex[:8]}"
    shot = png_data_url(WIDTH, HEIGHT, DESKTOP_BOXES)
    reply = computer_task(gateway, session, shot, WIDTH, HEIGHT)

    # The task appears without a reload; opening it claims it.
    open_row(page, session)
    expect(page.locator("#viewport")).to_have_attribute("data-ready", "1")
    expect(page.locator("#shot-size")).to_have_text(f"{WIDTH}\u00d7{HEIGHT}")
    # The current screenshot appears once: in the workspace; the message says so.
    expect(page.locator(".msg.output .current-shot")).to_have_count(1)
    expect(page.locator(".msg.output img")).to_have_count(0)
    fitted = zoom_percent(page)
    assert fitted < 100  # 1024 px wide, scaled to fit the workspace

    # Zoom in with the wheel over the search box, then with the button; then pan
    # (space + drag) to bring the search box to the middle.
    page.mouse.move(*pixel_on_screen(page, 412, 88))
    page.mouse.wheel(0, -400)
    expect(page.locator("#zoom-level")).not_to_have_text(f"{fitted}%")
    page.locator("#zoom-in").click()
    assert zoom_percent(page) > 2 * fitted
    view = page.locator("#viewport").bounding_box()
    page.mouse.move(*pixel_on_screen(page, 420, 95))
    page.keyboard.down(" ")
    page.mouse.down()
    page.mouse.move(view["x"] + view["width"] / 2, view["y"] + view["height"] / 2, steps=5)
    page.mouse.up()
    page.keyboard.up(" ")
    expect(page.locator("#actions li")).to_have_count(0)  # panning adds no action

    # The crosshair reads the image's own pixels at this zoom; a click hits that pixel.
    target = pixel_on_screen(page, 412, 88)
    page.mouse.move(*target)
    expect(page.locator("#coords")).to_have_text("412, 88")
    page.mouse.click(*target)
    page.mouse.click(*pixel_on_screen(page, 430, 100), button="middle")

    # Drag: press, move, release draws the path.
    page.keyboard.press("g")
    page.mouse.move(*pixel_on_screen(page, 400, 80))
    page.mouse.down()
    page.mouse.move(*pixel_on_screen(page, 420, 92), steps=4)
    page.mouse.move(*pixel_on_screen(page, 440, 110), steps=4)
    page.mouse.up()

    # Scroll 500 px down at a point; double-click another.
    page.keyboard.press("s")
    page.locator("#scroll-amount").fill("500")
    page.mouse.click(*pixel_on_screen(page, 500, 120))
    page.keyboard.press("d")
    page.mouse.click(*pixel_on_screen(page, 410, 100))

    # Type text; capture ctrl+shift+t.
    page.keyboard.press("t")
    expect(page.locator("#type-text")).to_be_focused()
    page.keyboard.type("hello world")
    page.keyboard.press("Enter")
    page.locator("#tools [data-tool=keypress]").click()
    expect(page.locator("#key-capture")).to_be_focused()
    page.keyboard.press("Control+Shift+KeyT")
    expect(page.locator("#key-capture")).to_have_text("ctrl+shift+t")

    # A wait to remove, a screenshot to undo with ctrl+z.
    page.locator("#add-wait").click()
    page.locator("#add-screenshot").click()
    actions = page.locator("#actions li")
    expect(actions).to_have_count(9)
    page.locator("#actions li[data-type=wait] button.remove").click()
    page.keyboard.press("Control+z")
    expect(actions).to_have_count(7)
    expect(page.locator("#actions li[data-type=screenshot]")).to_have_count(0)
    # Reorder: keys before typing.
    page.locator("#actions li[data-type=keypress] button.up").click()
    expect(actions.locator(".desc")).to_have_text(
        [
            "click left (412, 88)",
            "click middle (430, 100)",
            re.compile(r"drag \(400, 80\) → \(440, 110\) \(\d+ points\)"),
            "scroll x 0, y 500 at (500, 120)",
            "double-click (410, 100)",
            "keys ctrl+shift+t",
            'type "hello world"',
        ]
    )
    # Marks on the image: the clicks, the drag, the scroll and the double-click, each
    # its own look (type and keypress keep their numbers in the list only).
    marks = page.locator("#marks g.mark")
    expect(marks).to_have_count(5)
    assert marks.evaluate_all("gs => gs.map(g => g.getAttribute('class'))") == [
        "mark click", "mark click middle", "mark drag", "mark scroll", "mark double_click",
    ]  # fmt: skip
    expect(page.locator("#marks g.mark.drag polygon.head")).to_have_count(1)  # arrowhead
    expect(page.locator("#marks g.mark.scroll .tag-text")).to_have_text("4 ↓500")
    expect(page.locator("#marks g.mark.click.middle .tag-text")).to_have_text("2 middle")
    # Hovering a row lights its mark, and hovering a mark lights its row.
    page.locator("#actions li").nth(3).hover()
    expect(page.locator('#marks g.mark.hot[data-n="4"]')).to_have_count(1)
    page.mouse.move(*pixel_on_screen(page, 412, 88))
    expect(page.locator("#actions li.hot .num")).to_have_text("1")
    expect(page.locator('#marks g.mark.hot[data-n="1"]')).to_have_count(1)
    publish_screenshot(watched.snap("computer-use-actions"))

    page.locator("#btn-submit").click()
    raw = reply.result(timeout=30)
    body = raw.http_response.json()
    TypeAdapter(Response).validate_python(body)
    calls = [item for item in body["output"] if item["type"] == "computer_call"]
    assert [call["action"] for call in calls[:2]] == [
        {"type": "click", "button": "left", "x": 412, "y": 88},
        {"type": "click", "button": "wheel", "x": 430, "y": 100},
    ]
    drag = calls[2]["action"]
    assert drag["type"] == "drag"
    assert drag["path"][0] == {"x": 400, "y": 80}
    assert drag["path"][-1] == {"x": 440, "y": 110}
    assert [call["action"] for call in calls[3:]] == [
        {"type": "scroll", "x": 500, "y": 120, "scroll_x": 0, "scroll_y": 500},
        {"type": "double_click", "x": 410, "y": 100},
        {"type": "keypress", "keys": ["ctrl", "shift", "t"]},
        {"type": "type", "text": "hello world"},
    ]
    assert raw.headers["x-gateway-answered-by"] == "human"
    # The task leaves the queue and the page.
    expect(page.locator(f'.group[data-session="{session}"]')).to_have_count(0)
    expect(page.locator("#task")).to_be_hidden()
    assert watched.dialogs == []


# -- function tools: a form from the schema, validation, raw JSON ------------------------

BOOK_FLIGHT = {
    "type": "function",
    "function": {
        "name": "book_flight",
        "description": "Book a flight for one traveller.",
        "parameters": {
            "type": "object",
            "properties": {
                "destination": {"type": "string", "minLength": 3, "description": "City"},
                "passengers": {"type": "integer", "minimum": 1, "maximum": 9},
                "cabin": {"type": "string", "enum": ["economy", "business", "first"]},
                "refundable": {"type": "boolean"},
                "stops": {"type": "array", "items": {"type": "string"}},
                "traveller": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "age": {"type": "integer", "minimum": 0},
                    },
                    "required": ["name"],
                },
            },
            "required": ["destination", "passengers", "cabin"],
            "additionalProperties": False,
        },
    },
}


@requires_chromium
def test_function_tool_form_with_validation(gateway: Gateway, watched: Watched) -> None:
    page = watched.page
    open_dashboard(page, gateway)
    session = f"fn-{uuid.uuid4().hex[:8]}"
    reply = background(
        client(gateway).chat.completions.with_raw_response.create,
        model="human",
        messages=[
            {"role": "system", "content": "Policy line.\n" * 40},
            {"role": "user", "content": "Book me a flight to Paris, and the weather."},
        ],
        tools=[BOOK_FLIGHT, GET_WEATHER],
        extra_headers={"x-session-id": session},
    )
    open_row(page, session)
    # The long system prompt is folded until asked for.
    system = page.locator(".msg.system")
    expect(system.locator(".text")).to_have_class(re.compile(r"\bcollapsed\b"))
    system.locator("button.more").click()
    expect(system.locator(".text")).not_to_have_class(re.compile(r"\bcollapsed\b"))
    expect(system.locator("button.more")).to_have_text("Show less")
    card = page.locator('.tool-card[data-tool="book_flight"]')
    expect(card).to_be_visible()
    expect(page.locator("#workspace")).to_be_hidden()  # no screenshot, no computer

    # Adding with required fields empty shows the errors inline, and adds nothing.
    card.locator(".add-call").click()
    expect(card.locator('[data-error-for="destination"]')).to_have_text("required")
    expect(card.locator('[data-error-for="passengers"]')).to_have_text("required")
    # A required enum starts empty ("choose…"), so it must be chosen.
    expect(card.locator('select[name="cabin"] option:checked')).to_have_text("choose…")
    expect(card.locator('[data-error-for="cabin"]')).to_have_text("required")
    summary = card.locator(".form-error")
    expect(summary).to_have_text(
        "Fix 3 fields: destination required; passengers required; cabin required"
    )
    expect(page.locator("#calls li")).to_have_count(0)

    card.locator('input[name="destination"]').fill("Paris")
    expect(card.locator('[data-error-for="destination"]')).to_have_text("")
    # The summary follows the fields as they are fixed.
    expect(summary).to_have_text("Fix 2 fields: passengers required; cabin required")
    card.locator('input[name="passengers"]').fill("2.5")
    expect(card.locator('[data-error-for="passengers"]')).to_have_text("must be a whole number")
    card.locator('input[name="passengers"]').fill("12")
    expect(card.locator('[data-error-for="passengers"]')).to_have_text("must be ≤ 9")
    card.locator('input[name="passengers"]').fill("2")
    expect(card.locator('[data-error-for="passengers"]')).to_have_text("")
    card.locator('select[name="cabin"]').select_option(label="business")
    expect(summary).to_have_text("")
    # "refundable" (an optional boolean) is left untouched: it is not sent as false.
    card.locator('.field[data-name="stops"] .add-item').click()
    card.locator('.field[data-name="stops"] .array-item input').fill("FRA")
    traveller = card.locator('fieldset[data-name="traveller"]')
    traveller.locator('input[name="age"]').fill("36")
    card.locator(".add-call").click()  # the nested required name is missing
    expect(traveller.locator('[data-error-for="name"]')).to_have_text("required")
    traveller.locator('input[name="name"]').fill("Ada")
    watched.snap("function-form")
    card.locator(".add-call").click()
    expect(page.locator("#calls li")).to_have_count(1)

    # The raw-JSON fallback for the second tool.
    weather = page.locator('.tool-card[data-tool="get_weather"]')
    weather.locator(".raw-toggle").check()
    weather.locator(".raw-json").fill('{"city": "Paris"')
    weather.locator(".add-call").click()
    expect(weather.locator(".form-error")).to_contain_text("Not valid JSON")
    weather.locator(".raw-json").fill('{"city": "Paris"}')
    weather.locator(".add-call").click()
    expect(page.locator("#calls li")).to_have_count(2)
    # Calls read as name and arguments, and reorder like actions.
    expect(page.locator("#calls li .desc").nth(1)).to_have_text("get_weather(city: Paris)")
    page.locator('#calls li[data-name="get_weather"] button.up').click()
    expect(page.locator("#calls li .desc").first).to_have_text("get_weather(city: Paris)")

    page.keyboard.press("Control+Enter")
    raw = reply.result(timeout=30)
    body = raw.http_response.json()
    completion = TypeAdapter(ChatCompletion).validate_python(body)
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = [(c.function.name, json.loads(c.function.arguments)) for c in choice.message.tool_calls]
    assert calls == [
        ("get_weather", {"city": "Paris"}),
        (
            "book_flight",
            {
                "destination": "Paris",
                "passengers": 2,
                "cabin": "business",
                "stops": ["FRA"],
                "traveller": {"name": "Ada", "age": 36},
            },
        ),
    ]


@requires_chromium
def test_screenshot_click_fills_x_and_y_when_scaled_to_fit(
    gateway: Gateway, watched: Watched
) -> None:
    page = watched.page
    open_dashboard(page, gateway)
    session = f"xy-{uuid.uuid4().hex[:8]}"
    click_at = {
        "type": "function",
        "function": {
            "name": "click_at",
            "parameters": {
                "type": "object",
                "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}},
                "required": ["x", "y"],
            },
        },
    }
    content = [
        {"type": "text", "text": "Press the blue button."},
        {"type": "image_url", "image_url": {"url": png_data_url(WIDTH, HEIGHT, DESKTOP_BOXES)}},
    ]
    reply = background(
        client(gateway).chat.completions.create,
        model="human",
        messages=[{"role": "user", "content": content}],
        tools=[click_at],
        extra_headers={"x-session-id": session},
    )
    open_row(page, session)
    expect(page.locator("#viewport")).to_have_attribute("data-ready", "1")
    expect(page.locator("#tools [data-tool=pick]")).to_have_class("active")
    assert zoom_percent(page) < 100
    # A whole screen pixel over the blue button; which image pixel it is follows
    # from the image's on-screen box alone.
    box = page.locator("#shot").bounding_box()
    sx, sy = round(box["x"] + 0.81 * box["width"]), round(box["y"] + 0.117 * box["height"])
    expected_x = int((sx - box["x"]) * WIDTH / box["width"])
    expected_y = int((sy - box["y"]) * HEIGHT / box["height"])
    page.mouse.move(sx, sy)
    expect(page.locator("#coords")).to_have_text(f"{expected_x}, {expected_y}")
    page.mouse.click(sx, sy)
    card = page.locator('.tool-card[data-tool="click_at"]')
    expect(card.locator('input[name="x"]')).to_have_value(str(expected_x))
    expect(card.locator('input[name="y"]')).to_have_value(str(expected_y))
    card.locator(".add-call").click()
    page.locator("#btn-submit").click()
    completion = reply.result(timeout=30)
    call = completion.choices[0].message.tool_calls[0]
    assert call.function.name == "click_at"
    assert json.loads(call.function.arguments) == {"x": expected_x, "y": expected_y}


# -- untrusted content stays text; reject with a reason ------------------------------------


@requires_chromium
def test_request_content_is_text_and_runs_nothing(gateway: Gateway, watched: Watched) -> None:
    page = watched.page
    open_dashboard(page, gateway)
    hostile = "<img src=x onerror=alert(1)>"
    session = f"<b>s-{uuid.uuid4().hex[:6]}</b>"
    evil_tool = {
        "type": "function",
        "function": {
            "name": "evil_tool",
            "description": "<img src=y onerror=alert(3)>",
            "parameters": {"type": "object", "properties": {}},
        },
    }
    reply = background(
        client(gateway).chat.completions.create,
        model="human",
        messages=[
            {"role": "system", "content": "<script>alert(2)</script>"},
            {"role": "user", "content": f"Look: {hostile}"},
        ],
        tools=[evil_tool],
        extra_headers={"x-session-id": session},
    )
    open_row(page, session)
    conversation = page.locator("#conversation")
    expect(conversation).to_contain_text(f"Look: {hostile}")
    expect(conversation).to_contain_text("<script>alert(2)</script>")
    expect(page.locator('.tool-card[data-tool="evil_tool"] .desc')).to_have_text(
        "<img src=y onerror=alert(3)>"
    )
    expect(page.locator(".group-head").filter(has_text=session)).to_have_count(1)
    # Nothing was parsed as markup: no such elements, no dialogs, no errors.
    assert page.locator('img[src="x"], img[src="y"], b').count() == 0
    assert page.locator("script").count() == 1  # the dashboard's own module
    watched.snap("untrusted-content")

    page.keyboard.press("Alt+r")  # acts even from the form field the task opened in
    expect(page.locator("#reject-reason")).to_be_focused()
    page.keyboard.type("Looks like an injection attempt")
    page.keyboard.press("Enter")
    with pytest.raises(openai.UnprocessableEntityError) as failure:
        reply.result(timeout=30)
    assert failure.value.code == "human_rejected"
    assert "Looks like an injection attempt" in failure.value.message
    assert watched.dialogs == []
    assert watched.errors == []


# -- the queue: grouped by session, holders, header counts, per-tab state -------------------


@requires_chromium
def test_queue_groups_sessions_shows_holders_and_counts(gateway: Gateway, watched: Watched) -> None:
    page = watched.page
    # Record desktop notifications (the OS side is out of reach in headless Chromium).
    watched.context.grant_permissions(["notifications"], origin=gateway.url)
    page.add_init_script(
        """window.__notes = [];
        window.Notification = class extends Notification {
            constructor(title, options) {
                super(title, options);
                window.__notes.push([title, options.body]);
            }
        };"""
    )
    open_dashboard(page, gateway)
    page.locator("#opt-notify").check()
    team, solo = f"team-{uuid.uuid4().hex[:6]}", f"solo-{uuid.uuid4().hex[:6]}"
    sdk = client(gateway)
    replies = [
        background(
            sdk.chat.completions.create,
            model=model,
            messages=[{"role": "user", "content": text}],
            extra_headers={"x-session-id": session},
        )
        for model, text, session in [
            ("human", "first in team", team),
            ("human/second", "second in team", team),
            ("human", "alone", solo),
        ]
    ]
    expect(page.locator(f'.group[data-session="{team}"] .task-row')).to_have_count(2)
    expect(page.locator(f'.group[data-session="{solo}"] .task-row')).to_have_count(1)
    expect(page.locator("#stat-pending")).to_have_text("3")
    notes = page.evaluate("window.__notes")
    assert sorted(notes) == [
        ["New task: human", "alone"],
        ["New task: human", "first in team"],
        ["New task: human/second", "second in team"],
    ]
    row = page.locator(".task-row").filter(has_text="second in team")
    expect(row.locator(".model")).to_have_text("human/second")
    expect(row.locator(".kind")).to_have_text("text")
    expect(row.locator(".step-no")).to_have_text("step 1")
    expect(row.locator(".expires")).to_contain_text("29m")

    bob = Reviewer(gateway.url, "bob")
    task_id = row.get_attribute("data-id")
    assert bob.claim(task_id).status == 200
    expect(row.locator(".holder")).to_contain_text("held by bob")
    expect(page.locator("#stat-claimed")).to_have_text("1")
    expect(page.locator("#stat-pending")).to_have_text("2")
    # A task someone else holds opens read-only: looking claims nothing.
    row.click()
    expect(page.locator("#task-banner")).to_have_text("Read-only: held by bob.")
    expect(page.locator("#conversation")).to_contain_text("second in team")
    for button in ("#btn-submit", "#btn-reject", "#btn-refuse", "#btn-release"):
        expect(page.locator(button)).to_be_disabled()
    page.keyboard.press("l")  # no shortcut acts on it either
    assert bob.task(task_id)["claimed_by"] == "bob"
    assert [h["event"] for h in bob.task(task_id)["history"]] == ["created", "claimed"]
    watched.snap("queue")
    # The shortcut help.
    page.keyboard.press("?")
    expect(page.locator("#help")).to_be_visible()
    expect(page.locator("#help")).to_contain_text("undo the last action")
    page.keyboard.press("Escape")
    expect(page.locator("#help")).to_be_hidden()

    anyone = Reviewer(gateway.url, "anonymous")
    for summary in anyone.tasks("pending,claimed"):
        holder = bob if summary["claimed_by"] == "bob" else anyone
        assert holder.answer(summary["id"], content="ok").status == 200
    for future in replies:
        assert future.result(timeout=30).choices[0].message.content == "ok"
    expect(page.locator(".task-row")).to_have_count(0)
    expect(page.locator("#stat-pending")).to_have_text("0")


@requires_chromium
def test_tab_state_survives_reload_is_per_tab_and_leaving_releases(
    gateway: Gateway, watched: Watched
) -> None:
    page = watched.page
    open_dashboard(page, gateway)
    session = f"tab-{uuid.uuid4().hex[:6]}"
    reply = background(
        client(gateway).responses.create,
        model="human",
        tools=[COMPUTER],
        input="Open the menu",
        extra_headers={"x-session-id": session},
    )
    row = open_row(page, session)
    task_id = row.get_attribute("data-id")
    page.locator("#add-wait").click()
    page.locator("#btn-add-reply").click()  # a screen task's reply box waits for "+ Text"
    page.locator("#reply-text").fill("working on it")
    expect(page.locator("#actions li")).to_have_count(1)

    # A reload keeps this tab's task and unsent work.
    page.reload()
    expect(page.locator("#task-title")).to_have_text("human")
    expect(page.locator("#actions li")).to_have_count(1)
    expect(page.locator("#reply-text")).to_have_value("working on it")
    reviewer = Reviewer(gateway.url, "someone")
    assert reviewer.task(task_id)["claimed_by"] == "anonymous"

    # Another tab of the same browser has its own state: nothing open there.
    other = watched.context.new_page()
    other.goto(gateway.url)
    expect(other.locator("#conn")).to_have_text("live")
    expect(other.locator(f'.task-row[data-id="{task_id}"] .holder')).to_contain_text("held by")
    expect(other.locator("#task")).to_be_hidden()
    other.close()

    # Closing the tab releases the claim.
    page.close(run_before_unload=True)  # as a person closing the tab: unload handlers run
    wait_until(lambda: reviewer.task(task_id)["status"] == "pending", 10, what="release on close")
    assert reviewer.answer(task_id, content="done").status == 200
    assert reply.result(timeout=30).output_text == "done"


# -- history -------------------------------------------------------------------------------


@requires_chromium
def test_history_lists_finished_tasks_with_filters(gateway: Gateway, watched: Watched) -> None:
    page = watched.page
    sdk = client(gateway)
    tag = uuid.uuid4().hex[:6]
    carol, dave = Reviewer(gateway.url, "carol"), Reviewer(gateway.url, "dave")

    def ask(model: str, text: str):
        future = background(
            sdk.chat.completions.create, model=model, messages=[{"role": "user", "content": text}]
        )
        task = carol.wait_for_task(lambda t: t["preview"] == text)
        return future, task["id"]

    # Nobody answers this one: it expires after a second.
    lapsed_text = f"lapsed {tag}"
    lapsed = background(
        sdk.chat.completions.create,
        model="human-brief",
        messages=[{"role": "user", "content": lapsed_text}],
    )
    alpha, alpha_id = ask(f"human/alpha-{tag}", f"alpha {tag}")
    beta, beta_id = ask(f"human/beta-{tag}", f"beta {tag}")
    assert carol.answer(alpha_id, content="alpha done").status == 200
    assert dave.reject(beta_id, "not today").status == 200
    alpha.result(timeout=30)
    with pytest.raises(openai.UnprocessableEntityError):
        beta.result(timeout=30)
    with pytest.raises(openai.APIStatusError) as timed_out:
        lapsed.result(timeout=30)
    assert timed_out.value.status_code == 504
    lapsed_id = carol.wait_for_task(lambda t: t["preview"] == lapsed_text, status="expired")["id"]
    ended = {task_id: carol.task(task_id)["finished_at"] for task_id in (alpha_id, lapsed_id)}

    open_dashboard(page, gateway)
    page.keyboard.press("h")
    expect(page.locator("#history-pane")).to_be_visible()
    alpha_row = page.locator(f'#history-rows tr[data-id="{alpha_id}"]')
    beta_row = page.locator(f'#history-rows tr[data-id="{beta_id}"]')
    expect(alpha_row.locator(".who")).to_have_text("carol")
    expect(alpha_row.locator(".status")).to_have_text("answered")
    expect(alpha_row.locator(".took")).not_to_have_text("\u2013")
    expect(beta_row.locator(".who")).to_have_text("dave")
    # When each ended: answered, and expired with no time to answer.
    expect(alpha_row.locator(".ended time")).to_have_attribute("datetime", iso(ended[alpha_id]))
    lapsed_row = page.locator(f'#history-rows tr[data-id="{lapsed_id}"]')
    expect(lapsed_row.locator(".status")).to_have_text("expired")
    expect(lapsed_row.locator(".who")).to_have_text("timeout")
    expect(lapsed_row.locator(".ended time")).to_have_attribute("datetime", iso(ended[lapsed_id]))
    expect(lapsed_row.locator(".ended time")).not_to_have_text("\u2013")
    expect(lapsed_row.locator(".took")).to_have_text("\u2013")

    # Filter by status, then by model.
    page.locator('#history-filters input[value="answered"]').uncheck()
    expect(alpha_row).to_have_count(0)
    expect(beta_row).to_have_count(1)
    expect(page.locator('#history-rows tr[data-status="answered"]')).to_have_count(0)
    page.locator('#history-filters input[value="answered"]').check()
    page.locator("#hf-model").fill(f"human/alpha-{tag}")
    page.locator("#hf-model").press("Enter")
    expect(page.locator("#history-rows tr")).to_have_count(1)
    expect(alpha_row).to_have_count(1)

    # The detail: the answer and the audit trail.
    alpha_row.click()
    detail = page.locator("#history-detail")
    expect(detail).to_contain_text('"content": "alpha done"')
    expect(detail.locator(".audit")).to_contain_text("answered by carol")

    # A task finished while the history is open shows up live.
    page.locator("#hf-model").fill("")
    page.locator("#hf-model").press("Enter")
    gamma, gamma_id = ask(f"human/gamma-{tag}", f"gamma {tag}")
    assert carol.answer(gamma_id, content="gamma done").status == 200
    gamma.result(timeout=30)
    expect(page.locator(f'#history-rows tr[data-id="{gamma_id}"]')).to_have_count(1)
    watched.snap("history")


@requires_chromium
def test_opening_another_task_releases_the_first(gateway: Gateway, watched: Watched) -> None:
    page = watched.page
    open_dashboard(page, gateway)
    sdk = client(gateway)
    sessions = [f"sw-{i}-{uuid.uuid4().hex[:6]}" for i in range(2)]
    replies = [
        background(
            sdk.chat.completions.create,
            model="human",
            messages=[{"role": "user", "content": f"task {i}"}],
            extra_headers={"x-session-id": session},
        )
        for i, session in enumerate(sessions)
    ]
    reviewer = Reviewer(gateway.url, "observer")
    first = open_row(page, sessions[0]).get_attribute("data-id")
    expect(page.locator("#task-title")).to_have_text("human")
    wait_until(lambda: reviewer.task(first)["status"] == "claimed", 10, what="first claimed")
    second = open_row(page, sessions[1]).get_attribute("data-id")
    wait_until(lambda: reviewer.task(second)["status"] == "claimed", 10, what="second claimed")
    assert reviewer.task(first)["status"] == "pending"
    page.locator("#conversation").click()
    page.keyboard.press("Alt+l")  # release (a bare "l" would be typed into the reply)
    expect(page.locator("#task")).to_be_hidden()
    wait_until(lambda: reviewer.task(second)["status"] == "pending", 10, what="released")
    for task_id in (first, second):
        assert reviewer.answer(task_id, content="fine").status == 200
    for future in replies:
        assert future.result(timeout=30).choices[0].message.content == "fine"
