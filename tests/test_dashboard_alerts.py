"""The opt-in sound for new tasks, in headless Chromium against a real gateway.

The page's real WebAudio is used: an init script wraps ``window.AudioContext`` so
that each context and oscillator the dashboard makes is recorded, then handed on
to the real implementation (what is under test is our code calling WebAudio).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from browser import Watched, open_dashboard, requires_chromium, sdk_client
from browser import browser as browser  # the module-scoped fixture
from browser import watched as watched
from harness import Gateway, run_gateway
from playwright.sync_api import Page, expect
from reviewer_client import Reviewer, background

pytestmark = [pytest.mark.browser, requires_chromium]

RECORD_AUDIO = """
window.__audio = [];
const RealAudioContext = window.AudioContext;
window.AudioContext = class extends RealAudioContext {
  constructor(...args) {
    super(...args);
    window.__audio.push(['context']);
  }
  createOscillator() {
    const oscillator = super.createOscillator();
    const start = oscillator.start.bind(oscillator);
    oscillator.start = (...args) => {
      window.__audio.push(['start', oscillator.frequency.value]);
      return start(...args);
    };
    window.__audio.push(['oscillator']);
    return oscillator;
  }
};
"""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[Gateway]:
    with run_gateway(tmp_path_factory.mktemp("alerts"), "") as gateway:
        yield gateway


def beeps(page: Page) -> list[float]:
    """The frequencies of the oscillators the page has started, in order."""
    return [entry[1] for entry in page.evaluate("window.__audio") if entry[0] == "start"]


@requires_chromium
def test_sound_plays_for_new_tasks_only_when_enabled(gateway: Gateway, watched: Watched) -> None:
    page = watched.page
    page.add_init_script(RECORD_AUDIO)
    open_dashboard(page, gateway)
    sdk = sdk_client(gateway)
    reviewer = Reviewer(gateway.url, "erin")

    def ask(text: str):
        future = background(
            sdk.chat.completions.create,
            model="human",
            messages=[{"role": "user", "content": text}],
            extra_headers={"x-session-id": f"sound-{uuid.uuid4().hex[:8]}"},
        )
        expect(page.locator(".task-row").filter(has_text=text)).to_have_count(1)
        return future, reviewer.wait_for_task(lambda t: t["preview"] == text)["id"]

    # Sound off (the default): a new task makes no sound.
    expect(page.locator("#opt-sound")).not_to_be_checked()
    quiet, quiet_id = ask(f"quiet {uuid.uuid4().hex[:6]}")
    assert page.evaluate("window.__audio") == []

    # Turning it on plays one beep at once, so the person hears what it sounds like.
    page.locator("#opt-sound").check()
    page.wait_for_function("window.__audio.filter(e => e[0] === 'start').length === 1")
    assert beeps(page) == [880]

    # Each new task then beeps, through the one audio context.
    loud, loud_id = ask(f"loud {uuid.uuid4().hex[:6]}")
    page.wait_for_function("window.__audio.filter(e => e[0] === 'start').length === 2")
    assert beeps(page) == [880, 880]
    assert [e for e in page.evaluate("window.__audio") if e[0] == "context"] == [["context"]]
    assert watched.errors == []

    # The choice is remembered: a reload keeps it on.
    page.reload()
    expect(page.locator("#opt-sound")).to_be_checked()

    for task_id, future in ((quiet_id, quiet), (loud_id, loud)):
        assert reviewer.answer(task_id, content="heard").status == 200
        assert future.result(timeout=30).choices[0].message.content == "heard"
