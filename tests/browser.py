"""Headless Chromium for the dashboard tests, and small helpers around it.

Playwright drives Debian's Chromium (its own browser download cannot work
offline). One browser per test module keeps the suite fast; each test gets a
fresh context (its own cookies and sessionStorage), closed afterwards.
"""

from __future__ import annotations

import base64
import os
import shutil
import struct
import zlib
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import openai
import pytest
from harness import Gateway, openai_client
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect, sync_playwright
from reviewer_client import background

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).parent / "artifacts"
DOCS = Path(__file__).parent.parent / "docs"
VIEWPORT = {"width": 1440, "height": 900}
LAPTOP = {"width": 1280, "height": 720}
DESKTOP = {"width": 1600, "height": 1000}
WAIT_MS = 10_000  # the bound on every expect(): generous for a busy two-core machine
expect.set_options(timeout=WAIT_MS)

requires_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Watched:
    """A page plus what it did that a test may want to assert never happened."""

    def __init__(self, context: BrowserContext) -> None:
        self.context = context
        self.page: Page = context.new_page()
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page.on("dialog", self._dialog)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on(
            "console",
            lambda msg: self.errors.append(msg.text) if msg.type == "error" else None,
        )

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def snap(self, name: str) -> Path:
        """A PNG of the page under tests/artifacts/ (git-ignored)."""
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(WAIT_MS)
    try:
        yield Watched(context)
    finally:
        context.close()


# -- pages of the dashboard ------------------------------------------------------------


def sdk_client(gateway: Gateway) -> openai.OpenAI:
    """The real openai SDK pointed at the gateway (no retries: a test sees every error)."""
    return openai_client(gateway, "sk-test", timeout=60)


def computer_tool(width: int = 1024, height: int = 768) -> dict:
    """The Responses computer-use tool for a ``width`` x ``height`` browser display."""
    return {
        "type": "computer_use_preview",
        "display_width": width,
        "display_height": height,
        "environment": "browser",
    }


def computer_task(
    gateway: Gateway, session: str, shot: str, width: int = 1024, height: int = 768
) -> Future:
    """A computer-use turn on a thread: the task shows screenshot ``shot`` (a data URL).

    A Responses request with :func:`computer_tool` of ``width`` x ``height``, after one
    ``screenshot`` call; the future of its raw response.
    """
    return background(
        sdk_client(gateway).responses.with_raw_response.create,
        model="human",
        tools=[computer_tool(width, height)],
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


def open_dashboard(page: Page, gateway: Gateway) -> None:
    """Load the dashboard and wait until its event stream is up."""
    page.goto(gateway.url)
    # From here on, anything sent must show up live.
    expect(page.locator("#conn")).to_have_text("live")


def open_row(page: Page, session: str) -> Locator:
    """Open (claim) the one queue row of ``session``."""
    row = page.locator(f'.group[data-session="{session}"] .task-row')
    expect(row).to_have_count(1)
    if page.locator("#queue-rail").is_visible():
        page.locator("#queue-rail").hover()  # following a screen task: the queue is a rail
    row.click()
    return row


def pixel_on_screen(
    page: Page, x: int, y: int, size: tuple[int, int] = (1024, 768)
) -> tuple[float, float]:
    """The screen point over the centre of screenshot pixel (x, y), at the current zoom.

    ``size`` is the screenshot's natural size; the point must be inside the viewport.
    """
    box = page.locator("#shot").bounding_box()
    view = page.locator("#viewport").bounding_box()
    assert box is not None and view is not None
    point = (
        box["x"] + (x + 0.5) * box["width"] / size[0],
        box["y"] + (y + 0.5) * box["height"] / size[1],
    )
    inside = view["x"] < point[0] < view["x"] + view["width"]
    assert inside and view["y"] < point[1] < view["y"] + view["height"], "pixel out of view"
    return point


def fits(page: Page, *selectors: str) -> None:
    """No page scrolling, and each selector's box wholly inside the window."""
    size = page.viewport_size
    scroll = page.evaluate("[document.documentElement.scrollHeight, window.innerHeight]")
    assert scroll[0] <= scroll[1], scroll
    for selector in selectors:
        box = page.locator(selector).bounding_box()
        assert box is not None, selector
        inside = box["x"] >= 0 and box["y"] >= 0
        inside = inside and box["x"] + box["width"] <= size["width"] + 0.5
        assert inside and box["y"] + box["height"] <= size["height"] + 0.5, (selector, box)


def zoom_percent(page: Page) -> int:
    return int(page.locator("#zoom-level").inner_text().rstrip("%"))


def publish_screenshot(path: Path, name: str = "dashboard.png") -> None:
    """Copy a test screenshot to docs/ for the README, when ``HITL_UPDATE_DOCS=1``.

    Off by default, so a test run leaves the working tree as it found it.
    """
    if os.environ.get("HITL_UPDATE_DOCS") == "1":
        DOCS.mkdir(exist_ok=True)
        shutil.copyfile(path, DOCS / name)


# -- a screenshot of known size, drawn without image libraries --------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, boxes: list[tuple[int, int, int, int, tuple]] = ()) -> bytes:
    """An RGB PNG: a light desktop with a title bar and the given filled boxes.

    ``boxes`` are ``(x, y, w, h, (r, g, b))`` in pixels, drawn in order.
    """
    background = bytes((236, 239, 244))
    rows = []
    layers = [(0, 0, width, 36, (40, 48, 66)), *boxes]
    for y in range(height):
        row = bytearray(background * width)
        for bx, by, bw, bh, colour in layers:
            if by <= y < by + bh:
                x0, x1 = max(0, bx), min(width, bx + bw)
                row[x0 * 3 : x1 * 3] = bytes(colour) * (x1 - x0)
        rows.append(b"\x00" + bytes(row))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = zlib.compress(b"".join(rows), 6)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", raw) + _chunk(b"IEND", b"")
    )


def png_data_url(width: int, height: int, boxes=()) -> str:
    return "data:image/png;base64," + base64.b64encode(png(width, height, boxes)).decode()


# A desktop-like screenshot: a search box, a button, a sidebar and some text lines.
DESKTOP_BOXES = [
    (0, 36, 180, 732, (214, 220, 230)),
    (240, 70, 520, 40, (255, 255, 255)),
    (780, 70, 120, 40, (37, 99, 235)),
    (240, 150, 660, 14, (160, 168, 180)),
    (240, 180, 560, 14, (160, 168, 180)),
    (240, 210, 610, 14, (160, 168, 180)),
    (240, 260, 300, 180, (250, 250, 252)),
    (560, 260, 300, 180, (250, 250, 252)),
    (20, 60, 140, 24, (180, 188, 200)),
    (20, 100, 140, 24, (180, 188, 200)),
    (20, 140, 140, 24, (180, 188, 200)),
]
