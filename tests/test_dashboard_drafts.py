"""Model drafts on the dashboard: shown with their confidence, accepted with one
key, or edited before sending. A hybrid route over a fake provider makes them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from browser import DESKTOP, LAPTOP, Watched, fits, requires_chromium
from browser import browser as browser  # the module-scoped fixture
from browser import watched as watched
from harness import Gateway, ThreadedServer, run_gateway
from hybrid_upstream import DELETE_FILE, make_app
from openai.types.chat import ChatCompletion
from playwright.sync_api import expect
from pydantic import TypeAdapter
from reviewer_client import background

pytestmark = [pytest.mark.browser, requires_chromium]

CONFIG = """
[upstreams.fake]
base_url = "{url}/v1"
retries = 0

[models."small+human"]
upstream = "fake"
human = "escalate"
min_confidence = 0.7
review_tools = ["delete_*"]
"""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("drafts")
    with ThreadedServer(make_app([])) as fake:
        env = {"PYTHONPATH": str(Path(__file__).parent)}
        with run_gateway(tmp, CONFIG.format(url=fake.url), env=env) as gw:
            yield gw


def ask(gateway: Gateway, prompt: str, **kwargs):
    """The hybrid fake picks its scenario from the prompt; returns a future (headers, body)."""
    sdk = openai.OpenAI(base_url=gateway.base_url, api_key="sk-x", max_retries=0, timeout=60)

    def call():
        raw = sdk.chat.completions.with_raw_response.create(
            model="small+human", messages=[{"role": "user", "content": prompt}], **kwargs
        )
        return raw.headers, TypeAdapter(ChatCompletion).validate_python(raw.http_response.json())

    return background(call)


def test_accept_a_low_confidence_draft_with_one_key(gateway: Gateway, watched: Watched) -> None:
    page = watched.page
    page.goto(gateway.url)
    expect(page.locator("#conn")).to_have_text("live")
    pending = ask(gateway, "unsure")
    row = page.locator(".task-row").filter(has_text="unsure")
    expect(row.locator(".reason")).to_have_text("low_confidence")
    expect(row.locator(".badge")).to_have_text("draft")
    row.click()
    expect(page.locator("#draft")).to_be_visible()
    expect(page.locator("#draft-confidence")).to_have_text(
        "confidence 20% · below the threshold 70%"
    )
    expect(page.locator("#draft-body")).to_contain_text("The answer is 42")
    # Draft, its buttons and Submit in view without scrolling, on a laptop and a desktop.
    for window in (DESKTOP, LAPTOP):
        page.set_viewport_size(window)
        fits(page, "#draft", "#btn-accept-draft", "#btn-submit", "#btn-reject")
    watched.snap("draft")
    # One key shows what will be sent, with an undo, before it goes.
    page.keyboard.press("Alt+a")
    expect(page.locator("#undo")).to_be_visible()
    expect(page.locator("#undo-text")).to_contain_text("The answer is 42")
    expect(page.locator("#undo-left")).to_contain_text("sends in")
    page.keyboard.press("Escape")
    expect(page.locator("#undo")).to_be_hidden()
    expect(page.locator("#toast")).to_have_text("Not sent")
    assert not pending.done()
    page.keyboard.press("Alt+a")
    expect(page.locator("#undo")).to_be_visible()
    headers, completion = pending.result(timeout=30)  # sent when the undo time is up
    assert completion.choices[0].message.content == "The answer is 42"
    assert headers["x-gateway-answered-by"] == "draft"
    expect(page.locator("#task")).to_be_hidden()


def test_edit_a_drafted_tool_call_before_sending(gateway: Gateway, watched: Watched) -> None:
    page = watched.page
    page.goto(gateway.url)
    expect(page.locator("#conn")).to_have_text("live")
    pending = ask(gateway, "delete", tools=[DELETE_FILE])
    row = page.locator(".task-row").filter(has_text="delete")
    expect(row.locator(".reason")).to_have_text("tool_review")
    row.click()
    expect(page.locator("#draft-body")).to_contain_text("→ delete_file(path: /tmp/x)")
    page.locator("#btn-edit-draft").click()
    # The draft's call is in the list, readable; "edit" opens its form where it stands.
    calls = page.locator("#calls > li:not(.call-editor)")
    expect(calls.locator(".desc")).to_have_text(["delete_file(path: /tmp/x)"])
    calls.locator("button.edit").click()
    editor = page.locator("#calls li.call-editor")
    expect(editor.locator('input[name="path"]')).to_have_value("/tmp/x")
    editor.locator('input[name="path"]').fill("/tmp/safe")
    editor.locator(".save-call").click()
    expect(editor).to_have_count(0)
    expect(calls.locator(".desc")).to_have_text(["delete_file(path: /tmp/safe)"])
    expect(page.locator("#draft-diff")).to_have_text(
        "Changed from the draft: calls: \u2212 delete_file(path: /tmp/x), "
        "+ delete_file(path: /tmp/safe)"
    )
    page.locator("#btn-submit").click()
    headers, completion = pending.result(timeout=30)
    call = completion.choices[0].message.tool_calls[0]
    assert (call.function.name, json.loads(call.function.arguments)) == (
        "delete_file",
        {"path": "/tmp/safe"},
    )
    assert headers["x-gateway-answered-by"] == "human"
