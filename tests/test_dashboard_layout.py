"""The dashboard on a narrow screen (800 px wide), in headless Chromium against a real
gateway: the queue sits above the task, nothing spills sideways, and a task can still
be answered from the screenshot and another opened from the queue."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from browser import (
    DESKTOP_BOXES,
    Watched,
    computer_tool,
    open_dashboard,
    open_row,
    pixel_on_screen,
    png_data_url,
    requires_chromium,
    sdk_client,
)
from browser import browser as browser  # the module-scoped fixture
from browser import watched as watched
from harness import Gateway, run_gateway
from openai.types.responses import Response
from playwright.sync_api import Page, expect
from pydantic import TypeAdapter
from reviewer_client import Reviewer, background

pytestmark = [pytest.mark.browser, requires_chromium]

NARROW = {"width": 800, "height": 900}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[Gateway]:
    with run_gateway(tmp_path_factory.mktemp("layout"), "") as gateway:
        yield gateway


def no_sideways_overflow(page: Page, selector: str) -> None:
    """Nothing in ``selector`` (or the page) is wider than the window: no sideways scrolling."""
    widths = page.evaluate(
        """(selector) => {
            const node = document.querySelector(selector);
            const root = document.documentElement;
            return [root.scrollWidth, window.innerWidth, node.scrollWidth, node.clientWidth];
        }""",
        selector,
    )
    page_width, window_width, inner, visible = widths
    assert page_width <= window_width and inner <= visible, widths


def in_window(page: Page, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    assert box is not None
    return box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= NARROW["width"] + 0.5


@requires_chromium
def test_narrow_screen_stacks_queue_and_task_and_stays_usable(
    gateway: Gateway, watched: Watched
) -> None:
    page = watched.page
    page.set_viewport_size(NARROW)
    open_dashboard(page, gateway)
    shot = png_data_url(1024, 768, DESKTOP_BOXES)
    sessions = [f"narrow-{i}-{uuid.uuid4().hex[:6]}" for i in range(2)]
    replies = [
        background(
            sdk_client(gateway).responses.with_raw_response.create,
            model="human",
            tools=[computer_tool()],
            input=[
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": f"Press the search button ({i})."},
                        {"type": "input_image", "image_url": shot},
                    ],
                }
            ],
            extra_headers={"x-session-id": session},
        )
        for i, session in enumerate(sessions)
    ]
    open_row(page, sessions[0])
    expect(page.locator("#viewport")).to_have_attribute("data-ready", "1")

    # The queue above the task, both the full width of the window.
    queue = page.locator("#queue-pane").bounding_box()
    task = page.locator("#task-pane").bounding_box()
    assert queue["y"] + queue["height"] <= task["y"] + 0.5
    for pane in (queue, task):
        assert abs(pane["x"]) <= 0.5 and abs(pane["width"] - NARROW["width"]) <= 0.5
    no_sideways_overflow(page, "#task-pane")

    # Scroll the task down to the screenshot: the queue stays in view above it.
    page.locator("#viewport").scroll_into_view_if_needed()
    assert in_window(page, "#viewport")
    assert in_window(page, "#queue-pane")
    page.keyboard.press("1")  # actual size, so a screen pixel is an image pixel
    expect(page.locator("#zoom-level")).to_have_text("100%")
    target = pixel_on_screen(page, 512, 384)
    page.mouse.move(*target)
    expect(page.locator("#coords")).to_have_text("512, 384")
    page.mouse.click(*target)
    expect(page.locator("#actions li .desc")).to_have_text(["click left (512, 384)"])
    watched.snap("narrow")

    page.locator("#btn-submit").click()
    body = replies[0].result(timeout=30).http_response.json()
    TypeAdapter(Response).validate_python(body)
    actions = [item["action"] for item in body["output"] if item["type"] == "computer_call"]
    assert actions == [{"type": "click", "button": "left", "x": 512, "y": 384}]

    # The other task opens from the queue.
    second = open_row(page, sessions[1]).get_attribute("data-id")
    expect(page.locator("#task-meta")).to_contain_text(sessions[1])
    reviewer = Reviewer(gateway.url, "anonymous")
    assert reviewer.task(second)["claimed_by"] == "anonymous"
    assert reviewer.answer(second, content="done").status == 200
    assert replies[1].result(timeout=30).parse().output_text == "done"

    # The history fits too: its table scrolls on its own, not the page.
    page.keyboard.press("h")
    expect(page.locator(f'#history-rows tr[data-id="{second}"]')).to_have_count(1)
    no_sideways_overflow(page, "#history-pane")
