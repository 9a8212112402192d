"""Client-declared patterns in the dashboard (issue 16, item 6), in headless Chromium:
a pattern that backtracks for minutes never blocks the page, a default that fails
its own schema is never put in a box, and ordinary patterns are still checked as
the person types. The real openai SDK receives the answer."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator

import pytest
from browser import Watched, open_dashboard, open_row, requires_chromium, sdk_client
from browser import browser as browser  # the module-scoped fixture
from browser import watched as watched
from harness import Gateway, run_gateway
from openai.types.chat import ChatCompletion
from playwright.sync_api import expect
from pydantic import TypeAdapter
from reviewer_client import background

pytestmark = [pytest.mark.browser, requires_chromium]

EVIL = "^(a|aa)+$"  # against 48 "a"s and a "!": about two minutes of backtracking
EVIL_DEFAULT = "a" * 48 + "!"
TOOL = {
    "type": "function",
    "function": {
        "name": "file_claim",
        "description": "File a claim.",
        "parameters": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "pattern": EVIL, "default": EVIL_DEFAULT},
                "tag": {"type": "string", "pattern": "^(b|bb)+$"},
                "postcode": {"type": "string", "pattern": "^[0-9]{5}$", "default": "75001"},
                "city": {"type": "string", "pattern": "^[A-Z][a-z]+$", "default": "paris"},
                "count": {"type": "integer", "maximum": 9, "default": 12},
            },
            "required": ["code", "tag", "postcode", "city"],
        },
    },
}

# Ticks every 10 ms; the longest gap between two ticks is how long the page was stuck.
HEARTBEAT = """() => {
  window.stuck = 0;
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    window.stuck = Math.max(window.stuck, now - last);
    last = now;
  }, 10);
}"""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[Gateway]:
    with run_gateway(tmp_path_factory.mktemp("dash-patterns"), "") as gateway:
        yield gateway


def test_patterns_never_block_the_page_and_defaults_fit(gateway: Gateway, watched: Watched) -> None:
    page = watched.page
    open_dashboard(page, gateway)
    session = f"patterns-{uuid.uuid4().hex[:8]}"
    reply = background(
        sdk_client(gateway).chat.completions.with_raw_response.create,
        model="human",
        messages=[{"role": "user", "content": "File my claim."}],
        tools=[TOOL],
        extra_headers={"x-session-id": session},
    )
    open_row(page, session)
    card = page.locator('.tool-card[data-tool="file_claim"]')
    expect(card).to_be_visible()
    page.evaluate(HEARTBEAT)

    # Defaults that fit their schema are filled in; those that don't are not.
    code, tag = card.locator('input[name="code"]'), card.locator('input[name="tag"]')
    postcode, city = card.locator('input[name="postcode"]'), card.locator('input[name="city"]')
    expect(postcode).to_have_value("75001")
    verdict = f"""async () => (await import('/static/schema.js')).patternVerdict(
        {json.dumps(EVIL)}, {json.dumps(EVIL_DEFAULT)})"""
    # The evil default ran out of its time in the Worker: "can't tell" (null), not filled.
    page.wait_for_function(f"({verdict})().then((v) => v === null)", timeout=10_000)
    expect(code).to_have_value("")
    expect(city).to_have_value("")
    expect(card.locator('input[name="count"]')).to_have_value("")

    # Typing into a field whose pattern backtracks keeps the page responsive.
    tag.press_sequentially("b" * 40 + "!", delay=5)
    assert page.evaluate("window.stuck") < 1000, page.evaluate("window.stuck")
    # Not passed in silence: the form says who checks it.
    expect(card.locator('[data-error-for="tag"]')).to_have_text(
        "pattern not checked here (too slow, or not JavaScript): the gateway checks it on Submit"
    )
    expect(card.locator('.field[data-name="tag"]')).not_to_have_class(re.compile("invalid"))

    # An ordinary pattern is still checked as the person types.
    postcode.fill("7500x")
    expect(card.locator('[data-error-for="postcode"]')).to_have_text("must match ^[0-9]{5}$")
    postcode.fill("75002")
    expect(card.locator('[data-error-for="postcode"]')).to_have_text("")
    city.fill("paris")
    expect(card.locator('[data-error-for="city"]')).to_have_text("must match ^[A-Z][a-z]+$")
    card.locator(".add-call").click()
    expect(card.locator(".form-error")).to_contain_text("city must match")
    city.fill("Paris")
    expect(card.locator(".form-error")).to_have_text("Fix 1 field: code required")
    for width, height in ((1280, 720), (1920, 1080)):
        page.set_viewport_size({"width": width, "height": height})
        watched.snap(f"pattern-form-{width}x{height}")

    # The exported check reads raw JSON arguments the same way, off the page.
    errors = page.evaluate(
        """async (schema) => (await import('/static/schema.js')).patternErrors(schema,
            {code: 'a'.repeat(30) + '!', tag: 'bbb', postcode: 'nope', city: 'Paris'})""",
        TOOL["function"]["parameters"],
    )
    assert errors == [["postcode", "must match ^[0-9]{5}$"]]

    code.fill("aaaa")
    tag.fill("bbb")
    card.locator(".add-call").click()
    expect(page.locator("#calls li")).to_have_count(1)
    page.locator("#btn-submit").click()
    body = reply.result(timeout=30).http_response.json()
    completion = TypeAdapter(ChatCompletion).validate_python(body)
    call = completion.choices[0].message.tool_calls[0]
    assert json.loads(call.function.arguments) == {
        "code": "aaaa",
        "tag": "bbb",
        "postcode": "75002",
        "city": "Paris",
    }
    assert page.evaluate("window.stuck") < 1000, page.evaluate("window.stuck")
    assert watched.errors == []
