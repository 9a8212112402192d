"""The dashboard's session steps (history detail) and calibration panel, in Chromium."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from browser import Watched, open_dashboard, requires_chromium
from browser import browser as browser  # the module-scoped fixture
from browser import sdk_client as client
from browser import watched as watched
from harness import Gateway, ThreadedServer, run_gateway
from hybrid_upstream import make_app
from playwright.sync_api import expect
from reviewer_client import Reviewer, background

pytestmark = [pytest.mark.browser, requires_chromium]

CONFIG = """
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
    tmp = tmp_path_factory.mktemp("dashboard-data")
    with (
        ThreadedServer(make_app([])) as fake,
        run_gateway(tmp, CONFIG.format(url=fake.url)) as gw,
    ):
        yield gw


def answered(gateway: Gateway, reviewer: Reviewer, session: str, text: str, **answer) -> str:
    pending = background(
        client(gateway).chat.completions.create,
        model="human",
        messages=[{"role": "user", "content": text}],
        extra_headers={"x-session-id": session},
    )
    task = reviewer.wait_for_task(lambda t: t["preview"] == text)
    assert reviewer.answer(task["id"], **answer).status == 200
    pending.result(timeout=30)
    return task["id"]


def test_history_shows_the_session_steps_and_the_calibration_chart(
    gateway: Gateway, watched: Watched
) -> None:
    rita = Reviewer(gateway.url, "rita")
    first = answered(gateway, rita, "run-1", "first step", content="one")
    second = answered(gateway, rita, "run-1", "second step", content="two")
    for index, answer in enumerate(({"accept_draft": True}, {"content": "Paris"})):
        pending = background(
            client(gateway).chat.completions.create,
            model="small+human",
            messages=[{"role": "user", "content": "unsure"}],
            extra_headers={"x-session-id": f"draft-{index}"},
        )
        task = rita.wait_for_task(lambda t, s=f"draft-{index}": t["session"] == s)
        assert rita.answer(task["id"], **answer).status == 200
        pending.result(timeout=30)

    page = watched.page
    page.set_viewport_size({"width": 1280, "height": 720})
    open_dashboard(page, gateway)
    page.keyboard.press("h")
    page.locator(f'#history-rows tr[data-id="{second}"]').click()
    steps = page.locator("#history-detail .session-steps li")
    expect(steps).to_have_count(2)
    expect(steps.nth(1)).to_have_class("current")
    expect(steps.nth(0)).to_contain_text("step 1 · answered · by rita")
    steps.nth(0).locator("button").click()
    expect(page.locator("#history-detail")).to_contain_text(first)
    expect(page.locator("#history-detail .session-steps li").nth(0)).to_have_class("current")
    expect(page.locator(f'#history-rows tr[data-id="{first}"]')).to_have_class("selected")
    watched.snap("history-session-1280")

    page.locator("#calibration-panel summary").click()
    chart = page.locator("#calibration-chart")
    expect(chart).to_be_visible()
    page.wait_for_function("document.getElementById('calibration-chart').naturalWidth > 0")
    expect(page.locator(".calibration-table tbody tr")).to_contain_text("small+human")
    expect(page.locator(".calibration-table tbody tr")).to_contain_text("50%")
    chart.scroll_into_view_if_needed()
    watched.snap("calibration-1280")
    page.set_viewport_size({"width": 1600, "height": 1000})
    watched.snap("calibration-1600")
    assert watched.errors == []
