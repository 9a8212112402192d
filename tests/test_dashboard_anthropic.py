"""The dashboard for a Claude computer-use turn from the ``anthropic`` SDK: the
screenshot from the tool result is the workspace, Claude's thinking is folded, and a
click on a HiDPI screenshot reaches the client as Claude's ``left_click`` in display
coordinates. Headless Chromium against a real gateway process."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator

import anthropic
import pytest
from anthropic.types.beta import BetaMessage
from browser import (
    DESKTOP_BOXES,
    LAPTOP,
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
from reviewer_client import background

pytestmark = [pytest.mark.browser, requires_chromium]
FULL_HD = {"width": 1920, "height": 1080}
THINKING = "The settings gear is at the top right; dark mode is under Appearance."


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[Gateway]:
    with run_gateway(tmp_path_factory.mktemp("dash-anthropic"), "") as gateway:
        yield gateway


def computer_turn(gateway: Gateway, session: str, shot: str):
    """A Claude computer-use turn after one screenshot; the future of its message."""
    client = anthropic.Anthropic(base_url=gateway.url, api_key="k", max_retries=0, timeout=60)
    media, _, data = shot.removeprefix("data:").partition(";base64,")
    messages = [
        {"role": "user", "content": "Turn on dark mode."},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": THINKING, "signature": "sig"},
                {"type": "text", "text": "Let me look at the screen."},
                {
                    "type": "tool_use",
                    "id": "toolu_01",
                    "name": "computer",
                    "input": {"action": "screenshot"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01",
                    "content": [
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": media, "data": data},
                        }
                    ],
                }
            ],
        },
    ]
    computer = {
        "type": "computer_20250124",
        "name": "computer",
        "display_width_px": 1024,
        "display_height_px": 768,
    }
    return background(
        client.beta.messages.create,
        model="human",
        max_tokens=1024,
        messages=messages,
        tools=[computer],
        betas=["computer-use-2025-01-24"],
        extra_headers={"x-session-id": session},
    )


def test_a_click_on_the_screenshot_is_claudes_left_click(
    gateway: Gateway, watched: Watched
) -> None:
    page = watched.page
    open_dashboard(page, gateway)
    session = f"claude-{uuid.uuid4().hex[:8]}"
    natural = (2048, 1536)  # a HiDPI capture of the 1024x768 display
    boxes = [(x * 2, y * 2, w * 2, h * 2, colour) for x, y, w, h, colour in DESKTOP_BOXES]
    shot = png_data_url(*natural, boxes)
    reply = computer_turn(gateway, session, shot)
    open_row(page, session)
    expect(page.locator("#viewport")).to_have_attribute("data-ready", "1")
    expect(page.locator("#shot-size")).to_have_text("2048\u00d71536, sent as display 1024\u00d7768")
    page.keyboard.press("\\")  # following: the side column is a rail that \ opens
    page.locator("#tab-messages").click()
    thinking = page.locator("details.thinking")
    expect(thinking).to_have_count(1)
    expect(thinking.locator("summary")).to_be_visible()
    expect(thinking.locator("pre")).to_be_hidden()  # folded until asked for
    for size, name in ((LAPTOP, "1280x720"), (FULL_HD, "1920x1080")):
        page.set_viewport_size(size)
        expect(page.locator("#shot")).to_be_in_viewport()
        watched.snap(f"anthropic-computer-{name}")
    thinking.locator("summary").click()
    expect(thinking.locator("pre")).to_have_text(THINKING)
    page.keyboard.press("\\")  # the rail closes: the screenshot is whole again
    expect(thinking).to_be_hidden()
    target = pixel_on_screen(page, 824, 176, natural)
    page.mouse.move(*target)
    expect(page.locator("#coords")).to_have_text("412, 88")
    page.mouse.click(*target)
    expect(page.locator("#actions li .desc")).to_have_text(["click left (412, 88)"])
    page.locator("#btn-submit").click()
    message = BetaMessage.model_validate(reply.result(timeout=30).model_dump())
    assert message.stop_reason == "tool_use"
    [use] = message.content
    assert use.type == "tool_use" and use.name == "computer"
    assert use.input == {"action": "left_click", "coordinate": [412, 88]}
    assert watched.errors == []
    assert base64.b64decode(shot.partition(",")[2])  # the screenshot went through untouched


BASH_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "command": {"description": "The command to execute", "type": "string"},
        "timeout": {"description": "Optional timeout in milliseconds", "type": "number"},
        "description": {"description": "What the command does, in 5-10 words", "type": "string"},
        "run_in_background": {"type": "boolean"},
    },
    "required": ["command"],
    "additionalProperties": False,
}


def test_a_claude_code_turn_answered_with_the_bash_form(gateway: Gateway, watched: Watched) -> None:
    page = watched.page
    open_dashboard(page, gateway)
    session = f"cc-{uuid.uuid4().hex[:8]}"
    tools = [{"name": "Bash", "description": "Run a shell command.", "input_schema": BASH_SCHEMA}]
    tools += [
        {
            "name": f"Tool{index}",
            "description": "Another tool. " * 40,
            "input_schema": {"type": "object"},
        }
        for index in range(22)
    ]
    client = anthropic.Anthropic(base_url=gateway.url, api_key="k", max_retries=0, timeout=60)

    asked = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "<system-reminder>Today is Tuesday.</system-reminder>"},
                {"type": "text", "text": "How big is the build folder?"},
            ],
        }
    ]

    def turn(messages: list):
        with client.messages.stream(
            model="human",
            max_tokens=32000,
            system=[
                {
                    "type": "text",
                    "text": "You are Claude Code. " * 200,
                    "cache_control": {"type": "ephemeral"},
                }
            ],
            messages=messages,
            tools=tools,
            thinking={"type": "enabled", "budget_tokens": 2048},
            extra_headers={"x-session-id": session},
        ) as stream:
            return stream.get_final_message()

    reply = background(turn, asked)
    row = open_row(page, session)
    expect(row).to_contain_text("How big is the build folder?")
    card = page.locator('.tool-card[data-tool="Bash"]')
    if not card.evaluate("card => card.open"):  # with two dozen tools, cards start folded
        card.locator("summary").click()
    card.locator('input[name="command"]').fill("du -sh build/")
    for size, name in ((LAPTOP, "1280x720"), (FULL_HD, "1920x1080")):
        page.set_viewport_size(size)
        expect(page.locator("#btn-submit")).to_be_in_viewport()
        watched.snap(f"anthropic-claude-code-{name}")
    card.locator(".add-call").click()
    expect(page.locator("#calls li")).to_have_count(1)
    page.locator("#btn-submit").click()
    message = reply.result(timeout=30)
    assert message.stop_reason == "tool_use"
    [use] = message.content
    assert (
        use.type == "tool_use" and use.name == "Bash" and use.input == {"command": "du -sh build/"}
    )
    # Claude Code ran it and sends the output back: the person answers that with text.
    ran = {"type": "tool_result", "tool_use_id": use.id, "content": "412M\tbuild/"}
    follow = [
        *asked,
        {
            "role": "assistant",
            "content": [block.model_dump(exclude_none=True) for block in message.content],
        },
        {"role": "user", "content": [ran]},
    ]
    reply = background(turn, follow)
    expect(page.locator("#task-step")).to_have_text("step 2")  # the session's next step opens
    expect(page.locator("#conversation")).to_contain_text("412M")
    page.locator("#reply-text").fill("The build folder takes 412 MB.")
    for size, name in ((LAPTOP, "1280x720"), (FULL_HD, "1920x1080")):
        page.set_viewport_size(size)
        expect(page.locator("#reply-text")).to_be_in_viewport()
        watched.snap(f"anthropic-claude-code-reply-{name}")
    page.locator("#btn-submit").click()
    final = reply.result(timeout=30)
    assert final.stop_reason == "end_turn"
    assert final.content[0].text == "The build folder takes 412 MB."  # type: ignore[union-attr]
    assert watched.errors == []
