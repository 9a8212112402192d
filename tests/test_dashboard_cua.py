"""A Cua task (queued through /cua) answered on the dashboard in headless Chromium.

The screenshot in the messages is the workspace; a click on it and a click named
in words (the computer function's form) reach Cua as its UI writes them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx2
import pytest
from browser import (
    DESKTOP_BOXES,
    Watched,
    open_dashboard,
    open_row,
    pixel_on_screen,
    png_data_url,
    requires_chromium,
)
from browser import browser as browser  # the module-scoped fixture
from browser import watched as watched
from harness import Gateway, run_gateway
from playwright.sync_api import expect
from reviewer_client import Reviewer

pytestmark = [pytest.mark.browser, requires_chromium]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[Gateway]:
    with run_gateway(tmp_path_factory.mktemp("dashboard-cua"), "") as gateway:
        yield gateway


def test_a_cua_task_answered_on_the_dashboard(gateway: Gateway, watched: Watched) -> None:
    shot = png_data_url(1024, 768, DESKTOP_BOXES)
    text = "Save the document as notes.txt"
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": text},
                {"type": "image_url", "image_url": {"url": shot}},
            ],
        }
    ]
    queued = httpx2.post(f"{gateway.url}/cua/queue", json={"messages": messages, "model": "human"})
    call_id = queued.json()["id"]
    session = Reviewer(gateway.url).task(call_id)["session"]

    page = watched.page
    open_dashboard(page, gateway)
    open_row(page, session)
    expect(page.locator("#workspace")).to_be_visible()  # the last image is the screen
    page.mouse.click(*pixel_on_screen(page, 820, 90))  # the blue button
    expect(page.locator("#actions li")).to_have_count(1)

    # The same function names a target in words: its form (raw JSON here).
    card = page.locator('.tool-card[data-tool="computer"]')
    expect(card).not_to_have_attribute("open", "")  # folded: the screenshot keeps the room
    card.locator("summary").click()
    card.locator(".raw-toggle").check()
    described = {"type": "click", "element_description": "the Save button", "button": "left"}
    card.locator(".raw-json").fill(json.dumps(described))
    card.locator(".add-call").click()
    expect(page.locator("#calls li")).to_have_count(1)
    watched.snap("dashboard-cua")
    page.locator("#btn-submit").click()

    expect(page.locator(f'.task-row[data-id="{call_id}"]')).to_have_count(0)  # answered
    status = httpx2.get(f"{gateway.url}/cua/status/{call_id}").json()
    assert status["status"] == "completed"
    arguments = [json.loads(call["function"]["arguments"]) for call in status["tool_calls"]]
    assert arguments == [described, {"type": "click", "button": "left", "x": 820, "y": 90}]
    assert not watched.errors and not watched.dialogs
