"""The screenshot workspace in headless Chromium: display scaling, keyboard zoom and
Alt-drag pan, against a real gateway process with the ``openai`` SDK as the client."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from browser import (
    DESKTOP_BOXES,
    Watched,
    open_dashboard,
    open_row,
    pixel_on_screen,
    png_data_url,
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
from reviewer_client import background

pytestmark = [pytest.mark.browser, requires_chromium]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[Gateway]:
    with run_gateway(tmp_path_factory.mktemp("workspace"), "") as gateway:
        yield gateway


def computer_task(gateway: Gateway, session: str, shot: str, width: int, height: int):
    """A Responses request with a computer tool of ``width`` x ``height`` and one screenshot."""
    computer = {
        "type": "computer_use_preview",
        "display_width": width,
        "display_height": height,
        "environment": "browser",
    }
    return background(
        sdk_client(gateway).responses.with_raw_response.create,
        model="human",
        tools=[computer],
        input=[
            {"role": "user", "content": "Search for flights to Paris."},
            {
                "type": "computer_call",
                "id": "cu_1",
                "call_id": "call_1",
                "status": "completed",
                "pending_safety_checks": [],
                "action": {"type": "screenshot"},
            },
            {
                "type": "computer_call_output",
                "call_id": "call_1",
                "output": {"type": "computer_screenshot", "image_url": shot},
            },
        ],
        extra_headers={"x-session-id": session},
    )


def marker_centre(page: Page, number: int) -> tuple[float, float]:
    box = page.locator("#markers .marker span").nth(number - 1).bounding_box()
    assert box is not None
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


@requires_chromium
def test_hidpi_screenshot_actions_are_sent_in_display_coordinates(
    gateway: Gateway, watched: Watched
) -> None:
    page = watched.page
    open_dashboard(page, gateway)
    session = f"hidpi-{uuid.uuid4().hex[:8]}"
    # A HiDPI capture: 2048x1536 pixels of a 1024x768 display.
    natural = (2048, 1536)
    boxes = [(x * 2, y * 2, w * 2, h * 2, colour) for x, y, w, h, colour in DESKTOP_BOXES]
    reply = computer_task(gateway, session, png_data_url(*natural, boxes), 1024, 768)
    open_row(page, session)
    expect(page.locator("#viewport")).to_have_attribute("data-ready", "1")
    expect(page.locator("#shot-size")).to_have_text("2048\u00d71536, sent as display 1024\u00d7768")

    # Zoom in with the wheel over the search box, so an image pixel spans screen pixels.
    page.mouse.move(*pixel_on_screen(page, 824, 176, natural))
    fitted = zoom_percent(page)
    page.mouse.wheel(0, -400)
    expect(page.locator("#zoom-level")).not_to_have_text(f"{fitted}%")
    zoomed = zoom_percent(page)
    page.mouse.wheel(0, -400)
    expect(page.locator("#zoom-level")).not_to_have_text(f"{zoomed}%")
    assert zoom_percent(page) >= 100

    # The readout shows what will be sent: image pixel (824, 176) is display (412, 88).
    target = pixel_on_screen(page, 824, 176, natural)
    page.mouse.move(*target)
    expect(page.locator("#coords")).to_have_text("412, 88")
    page.mouse.click(*target)
    # A drag's path is scaled too.
    page.keyboard.press("g")
    page.mouse.move(*pixel_on_screen(page, 830, 180, natural))
    page.mouse.down()
    page.mouse.move(*pixel_on_screen(page, 860, 200, natural), steps=4)
    page.mouse.move(*pixel_on_screen(page, 900, 230, natural), steps=4)
    page.mouse.up()
    descriptions = page.locator("#actions li .desc")
    expect(descriptions).to_have_text(
        ["click left (412, 88)", re.compile(r"drag \(415, 90\) → \(450, 115\) \(\d+ points\)")]
    )

    # The click's marker stays where the person clicked: within one display pixel.
    shot = page.locator("#shot").bounding_box()
    display_pixel = shot["width"] / 1024
    mx, my = marker_centre(page, 1)
    assert abs(mx - target[0]) <= display_pixel and abs(my - target[1]) <= display_pixel
    watched.snap("hidpi-actions")

    page.locator("#btn-submit").click()
    body = reply.result(timeout=30).http_response.json()
    TypeAdapter(Response).validate_python(body)
    actions = [item["action"] for item in body["output"] if item["type"] == "computer_call"]
    assert actions[0] == {"type": "click", "button": "left", "x": 412, "y": 88}
    path = actions[1]["path"]
    assert actions[1]["type"] == "drag"
    assert path[0] == {"x": 415, "y": 90} and path[-1] == {"x": 450, "y": 115}
    assert {"x": 430, "y": 100} in path  # the waypoint, halved too
