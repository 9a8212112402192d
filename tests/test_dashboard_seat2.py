"""The reviewer's seat, second pass (issue 20), in headless Chromium at 1280x720 as a
person acts: typing is always safe, the screenshot gets the laptop's room while
following, tool results open in full, the tools flow has no traps, the seat stops
waiting when the run ended, a read-only view cannot be typed into. The agent is the
``openai`` SDK on a thread; drafts come from a hybrid route over a fake provider."""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from browser import (
    DESKTOP_BOXES,
    LAPTOP,
    Watched,
    computer_tool,
    open_dashboard,
    pixel_on_screen,
    png_data_url,
    publish_screenshot,
    requires_chromium,
    sdk_client,
    zoom_percent,
)
from browser import browser as browser  # the module-scoped fixture
from browser import watched as watched
from harness import Gateway, ThreadedServer, run_gateway
from hybrid_upstream import make_app
from openai.types.chat import ChatCompletion
from openai.types.responses import Response
from playwright.sync_api import Locator, Page, expect
from pydantic import TypeAdapter
from reviewer_client import Reviewer, background

pytestmark = [pytest.mark.browser, requires_chromium]

FULL_HD = {"width": 1920, "height": 1080}
GATE_S = 30  # the bound on an agent's wait for the test's go-ahead

CONFIG = """
[models.human]
route = "human"

[upstreams.fake]
base_url = "{url}/v1"
retries = 0

[models."small+human"]
upstream = "fake"
human = "escalate"
min_confidence = 0.7
"""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("seat2")
    with ThreadedServer(make_app([])) as fake:
        env = {"PYTHONPATH": str(Path(__file__).parent)}
        with run_gateway(tmp, CONFIG.format(url=fake.url), env=env) as gw:
            yield gw


def laptop(watched: Watched, gateway: Gateway) -> Page:
    page = watched.page
    page.set_viewport_size(LAPTOP)
    open_dashboard(page, gateway)
    return page


def row(page: Page, text: str) -> Locator:
    """The queue row whose text holds ``text`` (the queue rail opened first if folded)."""
    return page.locator(".task-row").filter(has_text=text)


def snap_both(watched: Watched, name: str) -> None:
    """The seat as it is now at 1280x720 and at 1920x1080, for the README."""
    page = watched.page
    for window in (LAPTOP, FULL_HD):
        page.set_viewport_size(window)
        page.mouse.move(window["width"] // 2, window["height"] - 2)  # no hover, no crosshair
        size = f"{window['width']}x{window['height']}"
        publish_screenshot(watched.snap(f"{name}-{size}"), f"{name}-{size}.png")
    page.set_viewport_size(LAPTOP)


def screen(step: int, width: int = 1280, height: int = 800) -> str:
    """The agent's screen at a step: a desktop with a red button that moves."""
    return png_data_url(
        width, height, [*DESKTOP_BOXES, (240 + 90 * step, 500, 70, 36, (220, 38, 38))]
    )


def computer_run(
    gateway: Gateway,
    goal: str,
    steps: int,
    gates: dict[int, threading.Event],
    answers: list,
    size: tuple[int, int] = (1280, 800),
) -> None:
    """A computer-use loop resending its whole history each step, as Cua does.

    Before step n it waits for ``gates[n]`` when there is one; it stops at a final
    answer (no computer call).
    """
    client = sdk_client(gateway)
    tool = computer_tool(*size)
    history: list = [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": goal},
                {"type": "input_image", "image_url": screen(1, *size)},
            ],
        }
    ]
    for step in range(1, steps + 1):
        if step in gates:
            assert gates[step].wait(GATE_S)
        raw = client.responses.with_raw_response.create(model="human", tools=[tool], input=history)
        body = raw.http_response.json()
        TypeAdapter(Response).validate_python(body)
        answers.append(body)
        calls = [item for item in body["output"] if item["type"] == "computer_call"]
        if not calls:
            return
        history += body["output"]
        shot = {"type": "computer_screenshot", "image_url": screen(step + 1, *size)}
        history.append(
            {"type": "computer_call_output", "call_id": calls[-1]["call_id"], "output": shot}
        )


def task_id(page: Page) -> str:
    """The open task's id, as its head shows it."""
    return page.locator("#task-meta").inner_text().split(" · ")[-1]


def boxes_overlap(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


# -- 1. typing on a draft task ------------------------------------------------------------


def ask_hybrid(gateway: Gateway, prompt: str, **kwargs):
    """A chat request to the hybrid model; the fake provider's scenario is the prompt."""
    sdk = sdk_client(gateway)

    def call() -> ChatCompletion:
        raw = sdk.chat.completions.with_raw_response.create(
            model="small+human", messages=[{"role": "user", "content": prompt}], **kwargs
        )
        return TypeAdapter(ChatCompletion).validate_python(raw.http_response.json())

    return background(call)


def test_typing_on_a_draft_task_goes_to_the_reply_box_never_to_a_shortcut(
    gateway: Gateway, watched: Watched
) -> None:
    page = laptop(watched, gateway)
    pending = ask_hybrid(gateway, "unsure")  # a low-confidence draft: "The answer is 42"
    row(page, "unsure").click()
    expect(page.locator("#draft")).to_contain_text("The answer is 42")
    # The cursor is where the person types: "h" is not History, "a" no accept countdown.
    reply = page.get_by_label("Reply", exact=True)
    expect(reply).to_be_focused()
    page.keyboard.type("Thanks for waiting")
    expect(reply).to_have_value("Thanks for waiting")
    expect(page.locator("#history-pane")).to_be_hidden()
    expect(page.get_by_text("Accepting the draft")).to_be_hidden()
    snap_both(watched, "seat2-draft")
    # With the focus nowhere (a click on the draft's text), a letter still goes there.
    page.locator("#draft-body").click()
    expect(reply).not_to_be_focused()
    page.keyboard.type(", all")
    expect(reply).to_have_value("Thanks for waiting, all")
    expect(reply).to_be_focused()
    expect(page.locator("#history-pane")).to_be_hidden()
    # The acting shortcuts take Alt: Alt+e loads the draft and leaves the cursor in it.
    page.keyboard.press("Alt+e")
    expect(reply).to_have_value("The answer is 42")
    expect(reply).to_be_focused()
    page.keyboard.type(", the number you asked for.")
    # Alt+a starts the accept countdown even from inside the box; Esc takes it back.
    page.keyboard.press("Alt+a")
    expect(page.get_by_text("Accepting the draft")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_text("Accepting the draft")).to_be_hidden()
    assert not pending.done()
    page.keyboard.press("Control+Enter")
    completion = pending.result(timeout=30)
    assert completion.choices[0].message.content == "The answer is 42, the number you asked for."
    assert watched.errors == []


# -- 2. the screenshot gets the laptop's room while following ---------------------------


def test_following_folds_queue_and_side_into_rails_and_the_screenshot_gets_the_width(
    gateway: Gateway, watched: Watched
) -> None:
    page = laptop(watched, gateway)
    expect(page.get_by_label("Follow session")).to_be_checked()
    goal = f"Book the cheapest flight {uuid.uuid4().hex[:6]}"
    go = threading.Event()
    answers: list = []
    run = background(computer_run, gateway, goal, 2, {2: go}, answers)
    row(page, goal).click()
    expect(page.locator("#viewport")).to_have_attribute("data-ready", "1")
    # At least 68% of the 1280-wide screenshot's width on a 1280x720 window, fit <= 100%.
    shot = page.locator("#shot").bounding_box()
    assert shot["width"] >= 0.68 * 1280, shot
    assert zoom_percent(page) <= 100
    # The queue and the side column are narrow rails.
    assert page.locator("#queue-pane").bounding_box()["width"] < 40
    assert page.locator("#side").bounding_box()["width"] < 40
    # The first action does not move the screenshot by a pixel.
    page.mouse.click(*pixel_on_screen(page, 500, 300, (1280, 800)))
    expect(page.locator("#actions li")).to_have_count(1)
    assert page.locator("#shot").bounding_box() == shot
    page.keyboard.press("Control+Enter")
    # Waiting between steps keeps the rails: the next step opens where this one was.
    expect(page.locator("#follow-wait")).to_be_visible()
    assert page.locator("#queue-pane").bounding_box()["width"] < 40
    go.set()
    expect(page.locator("#task-step")).to_have_text("step 2")
    expect(page.locator("#viewport")).to_have_attribute("data-ready", "1")
    assert page.locator("#shot").bounding_box()["width"] >= 0.68 * 1280
    # "Answer sent" is shown clear of the zoom readout.
    toast = page.locator("#toast")
    expect(toast).to_have_text("Answer sent")
    assert not boxes_overlap(toast.bounding_box(), page.locator(".zoombar").bounding_box())
    # The side rail opens by key over the screenshot, which stays where it is.
    shot = page.locator("#shot").bounding_box()
    page.keyboard.press("\\")
    steps = page.locator("#timeline .step")
    expect(steps).to_have_count(1)
    expect(steps.first).to_contain_text("click (500, 300)")
    assert page.locator("#shot").bounding_box() == shot
    page.keyboard.press("\\")
    expect(steps.first).to_be_hidden()
    # The queue rail opens on pointing at it (and closes when the pointer leaves).
    page.get_by_role("button", name=re.compile(r"^Queue \(\d+\)")).hover()
    expect(row(page, goal)).to_be_visible()
    assert page.locator("#shot").bounding_box() == shot
    page.mouse.move(*pixel_on_screen(page, 700, 400, (1280, 800)))
    expect(row(page, goal)).to_be_hidden()
    page.mouse.click(*pixel_on_screen(page, 240 + 180 + 35, 518, (1280, 800)))
    snap_both(watched, "seat2-computer-use")
    page.keyboard.press("Control+Enter")
    run.result(timeout=30)
    assert [
        [i["action"] for i in body["output"] if i["type"] == "computer_call"] for body in answers
    ] == [
        [{"type": "click", "button": "left", "x": 500, "y": 300}],
        [{"type": "click", "button": "left", "x": 455, "y": 518}],
    ]
    # A screenshot smaller than the room is shown at 100%, not blown up; q opens the
    # queue rail to pick it.
    small = background(
        sdk_client(gateway).responses.create,
        model="human",
        tools=[computer_tool(640, 400)],
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": f"Small screen {goal}"},
                    {"type": "input_image", "image_url": screen(1, 640, 400)},
                ],
            }
        ],
    )
    page.keyboard.press("q")
    row(page, f"Small screen {goal}").click()
    expect(page.locator("#viewport")).to_have_attribute("data-ready", "1")
    expect(page.locator("#zoom-level")).to_have_text("100%")
    expect(row(page, f"Small screen {goal}")).to_be_hidden()  # the rail folded back
    assert page.locator("#shot").bounding_box()["width"] == pytest.approx(640, abs=1)
    page.keyboard.press("w")
    page.keyboard.press("Control+Enter")
    small.result(timeout=30)
    assert watched.errors == []


# -- 3. the Steps tab shows tool results in full ------------------------------------------

SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "search_flights",
        "description": "Search flights.",
        "parameters": {
            "type": "object",
            "properties": {
                "to": {"type": "string"},
                "dates": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["to"],
        },
    },
}

BOOK_TOOL = {
    "type": "function",
    "function": {
        "name": "book_flight",
        "description": "Book one flight.",
        "parameters": {
            "type": "object",
            "properties": {
                "flight_id": {"type": "string", "pattern": "^[A-Z]{2}\\d{3}$"},
                "passengers": {"type": "integer", "minimum": 1},
                "trip": {"type": "string", "enum": ["one_way", "return"]},
                "return_date": {"type": "string"},
            },
            "required": ["flight_id", "passengers"],
            # A rule forms do not express: the server checks it (a 422 on the call).
            "if": {"properties": {"trip": {"const": "return"}}, "required": ["trip"]},
            "then": {"required": ["return_date"]},
        },
    },
}

FLIGHTS = [{"id": f"XY{100 + i}", "price": 400 - i * 7, "stops": i % 3} for i in range(30)]


def flight_search(gateway: Gateway, tag: str):
    """A chat request at step 2 of a booking: a search was made and its long result came back."""
    return background(
        sdk_client(gateway).chat.completions.create,
        model="human",
        tools=[SEARCH_TOOL, BOOK_TOOL],
        messages=[
            {"role": "user", "content": f"Book the cheapest flight to Paris {tag}"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "search_flights", "arguments": '{"to": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": json.dumps(FLIGHTS)},
        ],
        extra_headers={"x-session-id": f"flights-{tag}"},
    )


def test_steps_tab_opens_a_long_tool_result_in_full(gateway: Gateway, watched: Watched) -> None:
    page = laptop(watched, gateway)
    tag = uuid.uuid4().hex[:6]
    reply = flight_search(gateway, tag)
    row(page, tag).click()
    page.get_by_role("tab", name="Steps").click()
    step = page.locator("#timeline .step").first
    expect(step).to_contain_text("→ search_flights(to: Paris)")
    cheapest = '"id": "XY129", "price": 197'
    expect(step.get_by_text(cheapest)).to_be_hidden()  # cut off: "…"
    step.get_by_role("button", name=re.compile("show all")).click()
    full = step.locator(".result-full")
    expect(full).to_be_visible()
    expect(full).to_contain_text(cheapest)
    # A long result scrolls within the step, not the column.
    assert full.evaluate("n => n.scrollHeight > n.clientHeight")
    # By key too: Enter on the line closes it.
    toggle = step.get_by_role("button", name=re.compile("show less"))
    toggle.focus()
    page.keyboard.press("Enter")
    expect(full).to_be_hidden()
    assert (
        Reviewer(gateway.url, "anonymous")
        .reject(page.locator("#task-meta").inner_text().split(" · ")[-1], "seen")
        .status
        == 200
    )
    with pytest.raises(openai.UnprocessableEntityError):
        reply.result(timeout=30)


# -- 4 and 5. the tools flow --------------------------------------------------------------


def card(page: Page, tool: str) -> Locator:
    return page.locator(f'.tool-card[data-tool="{tool}"]')


def test_submit_sends_a_complete_form_and_an_incomplete_one_says_why_in_one_line(
    gateway: Gateway, watched: Watched
) -> None:
    page = laptop(watched, gateway)
    tag = uuid.uuid4().hex[:6]
    reply = flight_search(gateway, tag)
    row(page, tag).click()
    # The task opens with the cursor in the first form's first field.
    to = card(page, "search_flights").get_by_label("to")
    expect(to).to_be_focused()
    bar = page.locator("#bar").bounding_box()
    # Nothing typed: said in this task's words (no screenshot here).
    page.keyboard.press("Control+Enter")
    error = page.locator("#reply-error")
    expect(error).to_have_text(
        "Nothing to send: fill in a tool form (Submit sends it as a call) or write a reply."
    )
    assert page.locator("#bar").bounding_box() == bar
    # An incomplete form: its errors, in the form's own words, and the bar keeps one row.
    book = card(page, "book_flight")
    book.get_by_label("flight_id").fill("XY129")
    book.get_by_label("passengers").fill("0")
    page.keyboard.press("Control+Enter")
    expect(error).to_contain_text("book_flight: Fix 1 field: passengers must be ≥ 1")
    expect(book.locator('[data-error-for="passengers"]')).to_have_text("must be ≥ 1")
    expect(book.get_by_label("passengers")).to_be_focused()
    assert page.locator("#bar").bounding_box() == bar
    page.keyboard.press("Control+a")
    page.keyboard.type("2")
    expect(error).to_contain_text("book_flight: Fix 1 field")  # until the next submit
    # The submit key sends the complete form as a call.
    page.keyboard.press("Control+Enter")
    calls = reply.result(timeout=30).choices[0].message.tool_calls
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("book_flight", {"flight_id": "XY129", "passengers": 2})
    ]


def test_add_call_confirms_highlights_and_keeps_the_list_in_view(
    gateway: Gateway, watched: Watched
) -> None:
    page = laptop(watched, gateway)
    tag = uuid.uuid4().hex[:6]
    reply = flight_search(gateway, tag)
    row(page, tag).click()
    search = card(page, "search_flights")
    expect(search.get_by_label("to")).to_be_focused()
    page.keyboard.type("Paris")
    # "+ add dates" puts the cursor in the new item; Tab goes on to the next field.
    search.get_by_role("button", name="+ add dates").click()
    items = search.locator(".array-item input")
    expect(items.nth(0)).to_be_focused()
    page.keyboard.type("2026-12-20")
    search.get_by_role("button", name="+ add dates").click()
    expect(items.nth(1)).to_be_focused()
    page.keyboard.type("2026-12-21")
    items.nth(0).focus()
    page.keyboard.press("Tab")
    expect(items.nth(1)).to_be_focused()
    search.get_by_role("button", name="Add call").click()
    calls = page.locator("#calls > li:not(.call-problem)")
    expect(calls).to_have_count(1)
    expect(calls.nth(0)).to_have_class(re.compile("added"))
    expect(page.locator("#toast")).to_contain_text("Added call 1: search_flights(to: Paris")
    # The last form, far down: after Add call the list of calls is still in view.
    book = card(page, "book_flight")
    book.get_by_label("flight_id").fill("XY129")
    book.get_by_label("passengers").fill("1")
    book.get_by_label("trip").select_option(label="one_way")
    book.get_by_role("button", name="Add call").click()
    expect(calls).to_have_count(2)
    expect(calls.nth(1)).to_have_class(re.compile("added"))
    expect(calls.nth(0)).not_to_have_class(re.compile("added"))
    expect(calls.nth(1)).to_be_in_viewport()
    expect(page.locator("#toast")).to_contain_text("Added call 2: book_flight(flight_id: XY129")
    snap_both(watched, "seat2-tools")
    page.keyboard.press("Control+Enter")
    sent = reply.result(timeout=30).choices[0].message.tool_calls
    assert [(c.function.name, json.loads(c.function.arguments)) for c in sent] == [
        ("search_flights", {"to": "Paris", "dates": ["2026-12-20", "2026-12-21"]}),
        ("book_flight", {"flight_id": "XY129", "passengers": 1, "trip": "one_way"}),
    ]


# -- 6. raw JSON checked in the browser; the server's 422 on the call ---------------------


def test_raw_json_is_checked_against_the_schema_and_a_422_lands_on_the_call(
    gateway: Gateway, watched: Watched
) -> None:
    page = laptop(watched, gateway)
    tag = uuid.uuid4().hex[:6]
    reply = flight_search(gateway, tag)
    row(page, tag).click()
    book = card(page, "book_flight")
    book.get_by_label("raw JSON").check()
    raw = book.get_by_label("book_flight arguments as JSON")
    raw.fill('{"flight_id": "XY129", "passengers": "two", "trip": "round", "extra": 1}')
    book.get_by_role("button", name="Add call").click()
    problem = book.locator(".form-error")
    expect(problem).to_contain_text("passengers must be a whole number")
    expect(problem).to_contain_text("trip must be one of one_way, return")
    # The tool's pattern, checked off the page (a Worker with a time limit).
    raw.fill('{"flight_id": "xy-129", "passengers": 2}')
    book.get_by_role("button", name="Add call").click()
    expect(problem).to_have_text(r"Fix 1 field: flight_id must match ^[A-Z]{2}\d{3}$")
    expect(page.locator("#calls > li")).to_have_count(0)
    # Fixed as far as the browser can tell; the server's if/then rule is left.
    raw.fill('{"flight_id": "XY129", "passengers": 2, "trip": "return"}')
    book.get_by_role("button", name="Add call").click()
    calls = page.locator("#calls > li:not(.call-problem):not(.call-editor)")
    expect(calls).to_have_count(1)
    page.keyboard.press("Control+Enter")
    # The 422, in plain words, on the call's row and then on the field.
    expect(page.locator("#calls .call-problem")).to_have_text("Call 1: return_date required")
    expect(page.locator("#reply-error")).to_have_text(
        "Not sent: call 1 (book_flight): return_date required."
    )
    expect(page.locator("#reply-error")).not_to_contain_text("tool_calls.0")
    calls.nth(0).get_by_role("button", name="Edit").click()
    editor = page.locator("#calls li.call-editor")
    field = editor.get_by_label("return_date")
    expect(editor.locator('[data-error-for="return_date"]')).to_have_text("required")
    expect(field).to_be_focused()
    page.keyboard.type("2026-12-27")
    editor.get_by_role("button", name="Save").click()
    expect(page.locator("#calls .call-problem")).to_have_count(0)
    page.keyboard.press("Control+Enter")
    sent = reply.result(timeout=30).choices[0].message.tool_calls
    assert json.loads(sent[0].function.arguments) == {
        "flight_id": "XY129",
        "passengers": 2,
        "trip": "return",
        "return_date": "2026-12-27",
    }


# -- 7. the seat stops waiting after the run ended ----------------------------------------


def test_the_seat_says_when_a_step_is_late_and_stops_after_a_final_answer(
    gateway: Gateway, watched: Watched
) -> None:
    page = laptop(watched, gateway)
    goal = f"Find the cheapest fare {uuid.uuid4().hex[:6]}"
    go = threading.Event()
    answers: list = []
    run = background(computer_run, gateway, goal, 5, {3: go}, answers)
    row(page, goal).click()
    for step in (1, 2):
        expect(page.locator("#task-step")).to_have_text(f"step {step}")
        expect(page.locator("#viewport")).to_have_attribute("data-ready", "1")
        page.mouse.click(*pixel_on_screen(page, 300, 300, (1280, 800)))
        page.keyboard.press("Control+Enter")
    # Step 2 came at once; step 3 is held: the wait says it is longer than usual.
    wait = page.locator("#follow-wait")
    expect(wait).to_contain_text("Waiting for the agent's next step after step 2")
    expect(wait).to_contain_text(
        re.compile(r"Still waiting after step 2: the agent usually sends its next step within"),
        timeout=15_000,
    )
    go.set()
    expect(page.locator("#task-step")).to_have_text("step 3")
    # A final text answer: nothing for the agent to do, so the run is over.
    page.get_by_role("button", name="+ Text").click()
    page.keyboard.type("The cheapest fare is XY129 at 197.")
    # With text in the reply box, a bare "l" (release) does nothing, even unfocused.
    page.keyboard.press("Escape")
    expect(page.get_by_label("Reply", exact=True)).not_to_be_focused()
    page.keyboard.press("l")
    expect(page.locator("#task-step")).to_have_text("step 3")
    assert Reviewer(gateway.url, "x").task(task_id(page))["status"] == "claimed"
    page.keyboard.press("Control+Enter")
    ended = page.locator("#follow-ended")
    expect(ended).to_contain_text("Session ended after step 3")
    expect(wait).to_be_hidden()
    run.result(timeout=30)
    assert len(answers) == 3
    final = Response.model_validate(answers[-1])
    assert final.output_text == "The cheapest fare is XY129 at 197."


# -- 8. read-only means read-only; a takeover keeps what is typed -------------------------


def test_a_task_held_by_someone_else_cannot_be_typed_into_and_a_takeover_is_announced(
    gateway: Gateway, watched: Watched
) -> None:
    page = laptop(watched, gateway)
    tag = uuid.uuid4().hex[:6]
    reply = background(
        sdk_client(gateway).chat.completions.create,
        model="human",
        messages=[{"role": "user", "content": f"Which gate for XY129? {tag}"}],
    )
    bob = Reviewer(gateway.url, "bob")
    task = bob.wait_for_task(lambda t: tag in t["preview"])
    assert bob.claim(task["id"]).status == 200
    row(page, tag).click()
    expect(page.locator("#task-banner")).to_have_text("Read-only: held by bob.")
    box = page.get_by_label("Reply", exact=True)
    expect(box).to_be_disabled()
    expect(page.locator("#reject-reason")).to_be_disabled()
    page.locator("#conversation").click()
    page.keyboard.type("gate 12")
    expect(box).to_have_value("")
    # Bob lets go: the seat takes it over, says so, and the person types on.
    assert bob.release(task["id"]).status == 200
    expect(page.locator("#task-banner")).to_contain_text(
        "bob let go: this task is yours now. Anything typed here is kept."
    )
    expect(box).to_be_enabled()
    expect(box).to_be_focused()
    page.keyboard.type("Gate 12, boarding at 9:40.")
    assert Reviewer(gateway.url, "x").task(task["id"])["claimed_by"] == "anonymous"
    expect(box).to_have_value("Gate 12, boarding at 9:40.")
    page.keyboard.press("Control+Enter")
    assert reply.result(timeout=30).choices[0].message.content == "Gate 12, boarding at 9:40."


# -- 9. the smaller problems ---------------------------------------------------------------


def test_side_column_is_remembered_per_kind_and_a_session_title_opens_its_step(
    gateway: Gateway, watched: Watched
) -> None:
    page = laptop(watched, gateway)
    tag = uuid.uuid4().hex[:6]
    sdk = sdk_client(gateway)
    shot = background(
        sdk.responses.create,
        model="human",
        tools=[computer_tool(1280, 800)],
        input=[{"role": "user", "content": [{"type": "input_image", "image_url": screen(1)}]}],
        extra_headers={"x-session-id": f"screen-{tag}"},
    )
    tools = flight_search(gateway, tag)
    page.get_by_role("button", name=f"screen-{tag}").click()  # the session's title
    expect(page.locator("#task-meta")).to_contain_text(f"screen-{tag}")
    expect(page.locator("#viewport")).to_be_focused()
    page.get_by_label("Follow session").uncheck()  # no rails: the column itself
    expect(page.locator("#side")).to_be_visible()
    page.keyboard.press("\\")
    expect(page.locator("#side")).to_be_hidden()
    page.get_by_role("button", name=f"flights-{tag}").click()
    expect(page.locator("#task-meta")).to_contain_text(f"flights-{tag}")
    expect(page.locator("#side")).to_be_visible()  # the request of a tools task stays in view
    page.get_by_role("button", name=f"screen-{tag}").click()
    expect(page.locator("#task-meta")).to_contain_text(f"screen-{tag}")
    expect(page.locator("#viewport")).to_be_focused()
    expect(page.locator("#side")).to_be_hidden()
    page.keyboard.press("w")
    page.keyboard.press("Control+Enter")
    shot.result(timeout=30)
    reviewer = Reviewer(gateway.url, "anonymous")
    flights = reviewer.wait_for_task(lambda t: t["session"] == f"flights-{tag}")
    assert reviewer.reject(flights["id"], "done").status == 200
    with pytest.raises(openai.UnprocessableEntityError):
        tools.result(timeout=30)


# -- a structured answer, for the README ----------------------------------------------------

BOOKING = {
    "type": "json_schema",
    "json_schema": {
        "name": "booking",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                "flight_id": {"type": "string"},
                "price": {"type": "number"},
                "seat": {"type": "string", "enum": ["window", "aisle"]},
            },
            "required": ["flight_id", "price", "seat"],
            "additionalProperties": False,
        },
    },
}


def test_a_structured_answer_opens_with_the_cursor_in_its_first_field(
    gateway: Gateway, watched: Watched
) -> None:
    page = laptop(watched, gateway)
    tag = uuid.uuid4().hex[:6]
    reply = background(
        sdk_client(gateway).chat.completions.create,
        model="human",
        response_format=BOOKING,
        messages=[{"role": "user", "content": f"Summarise the booking {tag}"}],
    )
    row(page, tag).click()
    shape = page.locator("#answer-shape")
    expect(shape.get_by_label("flight_id")).to_be_focused()
    page.keyboard.type("XY129")
    shape.get_by_label("price").fill("197")
    shape.get_by_label("seat").select_option(label="window")
    snap_both(watched, "seat2-structured")
    page.keyboard.press("Control+Enter")
    content = reply.result(timeout=30).choices[0].message.content
    assert json.loads(content) == {"flight_id": "XY129", "price": 197, "seat": "window"}


def test_a_lapsed_claim_taken_by_someone_else_turns_read_only_and_keeps_the_typed_work(
    tmp_path, watched: Watched
) -> None:
    """The seat was offline while its one-second lease lapsed and bob took the task."""
    with run_gateway(tmp_path, "[human]\nlease_s = 1\n") as gateway:
        page = laptop(watched, gateway)
        tag = uuid.uuid4().hex[:6]
        reply = background(
            sdk_client(gateway).chat.completions.create,
            model="human",
            messages=[{"role": "user", "content": f"When does XY129 board? {tag}"}],
        )
        row(page, tag).click()
        box = page.get_by_label("Reply", exact=True)
        expect(box).to_be_focused()
        page.keyboard.type("Boarding at")
        bob = Reviewer(gateway.url, "bob")
        task = bob.wait_for_task(lambda t: tag in t["preview"], status="claimed")
        watched.context.set_offline(True)  # no renewal, no events
        bob.wait_for_task(lambda t: t["id"] == task["id"], status="pending", timeout=15)
        assert bob.claim(task["id"]).status == 200
        watched.context.set_offline(False)
        # Back online: the seat learns bob holds it; nothing typed is lost.
        expect(page.locator("#task-banner")).to_contain_text(
            "Now held by bob: read-only. What you typed is kept", timeout=20_000
        )
        expect(box).to_be_disabled()
        expect(box).to_have_value("Boarding at")
        assert bob.release(task["id"]).status == 200
        expect(page.locator("#task-banner")).to_contain_text("bob let go")
        expect(box).to_be_enabled()
        expect(box).to_have_value("Boarding at")
        page.keyboard.press("End")
        page.keyboard.type(" 9:40.")
        page.keyboard.press("Control+Enter")
        assert reply.result(timeout=30).choices[0].message.content == "Boarding at 9:40."
