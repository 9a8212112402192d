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
    computer_task,
    open_dashboard,
    open_row,
    pixel_on_screen,
    png_data_url,
    requires_chromium,
    zoom_percent,
)
from browser import browser as browser  # the module-scoped fixture
from browser import watched as watched
from harness import Gateway, run_gateway
from openai.types.responses import Response
from playwright.sync_api import Page, expect
from pydantic import TypeAdapter

pytestmark = [pytest.mark.browser, requires_chromium]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[Gateway]:
    with run_gateway(tmp_path_factory.mktemp("workspace"), "") as gateway:
        yield gateway


def marker_centre(page: Page, number: int) -> tuple[float, float]:
    box = page.locator(f'#marks g.mark[data-n="{number}"] circle.hit').bounding_box()
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


def hover_reads(page: Page, x: int, y: int) -> None:
    """Put the pointer over screenshot pixel (x, y): the crosshair must read it."""
    page.mouse.move(*pixel_on_screen(page, x, y))
    expect(page.locator("#coords")).to_have_text(f"{x}, {y}")


def pixel_under(page: Page, point: tuple[int, int]) -> str:
    """The readout for a whole screen pixel, from the 1024x768 image's on-screen box alone."""
    box = page.locator("#shot").bounding_box()
    x = int((point[0] - box["x"]) * 1024 / box["width"])
    y = int((point[1] - box["y"]) * 768 / box["height"])
    return f"{x}, {y}" if 0 <= x < 1024 and 0 <= y < 768 else "\u2013"


@requires_chromium
def test_zoom_keys_and_alt_drag_pan_keep_the_crosshair_on_the_right_pixel(
    gateway: Gateway, watched: Watched
) -> None:
    page = watched.page
    open_dashboard(page, gateway)
    session = f"keys-{uuid.uuid4().hex[:8]}"
    reply = computer_task(gateway, session, png_data_url(1024, 768, DESKTOP_BOXES), 1024, 768)
    open_row(page, session)
    expect(page.locator("#viewport")).to_have_attribute("data-ready", "1")
    expect(page.locator("#shot-size")).to_have_text("1024\u00d7768")
    fitted = zoom_percent(page)
    assert fitted < 100
    hover_reads(page, 600, 300)
    # The pointer stays here (a whole screen pixel) while the keys zoom the picture:
    # each time, the readout is the pixel now under it.
    still = tuple(round(v) for v in pixel_on_screen(page, 600, 300))
    page.mouse.move(*still)
    coords = page.locator("#coords")
    expect(coords).to_have_text(pixel_under(page, still))

    # + zooms in about the middle, - back out, 1 is actual size, 0 fits again.
    page.keyboard.press("+")
    expect(page.locator("#zoom-level")).not_to_have_text(f"{fitted}%")
    assert zoom_percent(page) > fitted
    expect(coords).to_have_text(pixel_under(page, still))
    assert pixel_under(page, still) != "600, 300"  # the picture moved under the pointer
    page.keyboard.press("=")  # the same key without shift
    expect(coords).to_have_text(pixel_under(page, still))
    page.keyboard.press("-")
    page.keyboard.press("-")
    expect(page.locator("#zoom-level")).to_have_text(f"{fitted}%")
    expect(coords).to_have_text(pixel_under(page, still))
    page.keyboard.press("1")
    expect(page.locator("#zoom-level")).to_have_text("100%")
    shot = page.locator("#shot").bounding_box()
    assert round(shot["width"]) == 1024 and round(shot["height"]) == 768
    expect(coords).to_have_text(pixel_under(page, still))
    hover_reads(page, 511, 383)

    # Alt + drag pans by exactly the pointer's travel, and adds no action: the pixel
    # that was grabbed stays under the pointer.
    page.locator("#tools [data-tool=click]").click()
    before = page.locator("#shot").bounding_box()
    hover_reads(page, 500, 380)
    start = pixel_on_screen(page, 500, 380)
    page.keyboard.down("Alt")
    page.mouse.down()
    page.mouse.move(start[0] - 120, start[1] - 70, steps=5)
    page.mouse.up()
    page.keyboard.up("Alt")
    after = page.locator("#shot").bounding_box()
    assert (round(after["x"] - before["x"]), round(after["y"] - before["y"])) == (-120, -70)
    expect(coords).to_have_text("500, 380")
    expect(page.locator("#actions li")).to_have_count(0)
    # Pixels the pan brought into view read right, and a plain click lands on one.
    hover_reads(page, 700, 500)
    page.mouse.click(*pixel_on_screen(page, 700, 500))
    expect(page.locator("#actions li .desc")).to_have_text(["click left (700, 500)"])

    page.keyboard.press("0")
    expect(page.locator("#zoom-level")).to_have_text(f"{fitted}%")
    hover_reads(page, 300, 200)
    page.locator("#btn-submit").click()
    body = reply.result(timeout=30).http_response.json()
    TypeAdapter(Response).validate_python(body)
    actions = [item["action"] for item in body["output"] if item["type"] == "computer_call"]
    assert actions == [{"type": "click", "button": "left", "x": 700, "y": 500}]
