"""The dashboard for MCP tasks: a permission prompt (Allow, Deny, edit the input) and a
question's options as buttons, answered by a person in headless Chromium; the MCP
client (the ``mcp`` SDK's own) receives the tool result."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator

import pytest
from browser import LAPTOP, Watched, requires_chromium
from browser import browser as browser  # the module-scoped fixture
from browser import watched as watched
from harness import Gateway, run_gateway
from mcp_client import call_in_background
from playwright.sync_api import Route, expect

pytestmark = [pytest.mark.browser, requires_chromium]
FULL_HD = {"width": 1920, "height": 1080}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[Gateway]:
    with run_gateway(tmp_path_factory.mktemp("dash-mcp"), "") as gateway:
        yield gateway


def open_task(watched: Watched, gateway: Gateway, text: str) -> None:
    page = watched.page
    page.goto(gateway.url)
    expect(page.locator("#conn")).to_have_text("live")
    page.locator(".task-row").filter(has_text=text).click()
    expect(page.locator("#task")).to_be_visible()


def decision(future) -> dict:
    result = future.result(timeout=20)
    assert result.is_error is False
    [block] = result.content
    return json.loads(block.text)


def bash(command: str) -> dict:
    return {
        "tool_name": "Bash",
        "input": {"command": command, "description": "Show the disk usage of the build folder"},
        "tool_use_id": "toolu_" + uuid.uuid4().hex[:12],
    }


def test_permission_prompt_shows_the_command_and_allows_an_edited_input(
    gateway: Gateway, watched: Watched
) -> None:
    command = f"du -sh build/ # {uuid.uuid4().hex[:6]}"
    call = call_in_background(gateway.url, "request_permission", bash(command))
    page = watched.page
    for size, name in ((LAPTOP, "1280x720"), (FULL_HD, "1920x1080")):
        page.set_viewport_size(size)
        open_task(watched, gateway, command)
        card = page.locator("#mcp-permission")
        expect(card.locator(".tool-name")).to_have_text("Bash")
        expect(card.locator(".prominent .value.command")).to_have_text(command)
        expect(card.locator("button", has_text="Allow")).to_be_in_viewport()
        expect(card.locator("button", has_text="Deny")).to_be_in_viewport()
        expect(page.locator("#reply")).to_be_hidden()  # Allow and Deny are the answer
        watched.snap(f"mcp-permission-{name}")
    assert not call.done()  # nothing runs before a person allows it
    page.keyboard.press("e")
    editor = page.locator("#mcp-permission .input-editor")
    expect(editor).to_be_focused()
    editor.fill("{not json")
    expect(page.locator("#mcp-permission .error")).to_contain_text("not valid JSON")
    expect(page.locator("#mcp-permission button", has_text="Allow")).to_be_disabled()
    edited = {"command": "du -sh build/", "description": "Show the disk usage"}
    editor.fill(json.dumps(edited))
    page.locator("#mcp-permission button", has_text="Allow").click()
    assert decision(call) == {"behavior": "allow", "updatedInput": edited}
    assert watched.errors == []


def test_a_click_on_the_row_while_a_reload_reopens_the_task_opens_it_once(
    gateway: Gateway, watched: Watched
) -> None:
    """A reload reopens the tab's task while the person clicks that task's row: the
    task is loaded, claimed and drawn once, as its holder's (two opens at once drew
    it twice, and their claims racing made the holder's own card read-only)."""
    command = f"df -h /srv # {uuid.uuid4().hex[:6]}"
    call = call_in_background(gateway.url, "request_permission", bash(command))
    page = watched.page
    open_task(watched, gateway, command)
    task = re.compile(r"/api/tasks/task_\w+$")  # the task itself, not its claim
    loads: list[str] = []
    page.on("request", lambda r: loads.append(r.url) if task.search(r.url) else None)
    held: list[Route] = []

    def hold_the_first(route: Route) -> None:
        if held:
            route.continue_()
        else:
            held.append(route)  # the reopen waits until the row has been clicked

    page.route(task, hold_the_first)
    with page.expect_request(lambda r: bool(task.search(r.url))):
        page.reload()
    page.locator(".task-row").filter(has_text=command).click()
    held[0].continue_()
    card = page.locator("#mcp-permission")
    expect(card.locator(".prominent .value.command")).to_have_text(command)
    expect(card.locator("button", has_text="Allow")).to_be_enabled()
    page.keyboard.press("e")
    editor = card.locator(".input-editor")
    expect(editor).to_be_focused()
    edited = {"command": "df -h /srv", "description": "Show the free space"}
    editor.fill(json.dumps(edited))
    card.locator("button", has_text="Allow").click()
    assert decision(call) == {"behavior": "allow", "updatedInput": edited}
    assert len(loads) == 1, loads
    page.unroute(task)
    assert watched.errors == []


def test_permission_prompt_denies_with_a_message_by_keyboard(
    gateway: Gateway, watched: Watched
) -> None:
    command = f"rm -rf /var/data # {uuid.uuid4().hex[:6]}"
    call = call_in_background(gateway.url, "request_permission", bash(command))
    page = watched.page
    open_task(watched, gateway, command)
    page.locator("#mcp-permission .deny-message").fill("never on the data volume")
    page.keyboard.press("Enter")
    assert decision(call) == {"behavior": "deny", "message": "never on the data volume"}

    command = f"ls # {uuid.uuid4().hex[:6]}"
    call = call_in_background(gateway.url, "request_permission", bash(command))
    open_task(watched, gateway, command)
    expect(page.locator("#mcp-permission .tool-name")).to_be_visible()
    page.keyboard.press("a")
    assert decision(call)["behavior"] == "allow"
    assert watched.errors == []


def test_question_options_are_buttons(gateway: Gateway, watched: Watched) -> None:
    question = f"Which environment? {uuid.uuid4().hex[:6]}"
    options = ["staging", "production", "neither"]
    call = call_in_background(
        gateway.url,
        "ask_human",
        {"question": question, "context": "The release is **v2.3**.", "options": options},
    )
    page = watched.page
    for size, name in ((LAPTOP, "1280x720"), (FULL_HD, "1920x1080")):
        page.set_viewport_size(size)
        open_task(watched, gateway, question)
        buttons = page.locator("#mcp-question button.option")
        expect(buttons).to_have_count(3)
        expect(buttons.nth(2)).to_be_in_viewport()
        expect(page.locator("#answer-shape")).to_be_hidden()
        watched.snap(f"mcp-options-{name}")
    page.keyboard.press("2")
    result = call.result(timeout=20)
    assert [block.text for block in result.content] == ["production"]
    assert watched.errors == []


def test_question_schema_gets_the_structured_form(gateway: Gateway, watched: Watched) -> None:
    question = f"Who is on call? {uuid.uuid4().hex[:6]}"
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "until": {"type": "string"}},
        "required": ["name"],
    }
    call = call_in_background(gateway.url, "ask_human", {"question": question, "schema": schema})
    page = watched.page
    open_task(watched, gateway, question)
    form = page.locator("#answer-shape .json-answer")
    expect(form).to_be_visible()
    form.get_by_label("name").fill("Grace")
    page.locator("#btn-submit").click()
    result = call.result(timeout=20)
    assert result.structured_content == {"name": "Grace"}
    assert watched.errors == []
