"""Reviewer sign-in, the 401 rule for /api/*, and the page's security headers.

With ``[auth] reviewer_tokens`` configured, the dashboard's files may be served
to anyone (there is nothing secret in them), but every reviewer API path except
``POST /api/login`` answers 401 without a token or a live session cookie.
"""

from __future__ import annotations

import http.cookies
import re
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from browser import Watched, requires_chromium
from browser import browser as browser  # the module-scoped fixture
from browser import watched as watched
from harness import Gateway, run_gateway, wait_until
from playwright.sync_api import expect
from reviewer_client import Reviewer, background

STATIC = Path(__file__).parent.parent / "gateway" / "static"
CONFIG = """
[auth]
reviewer_tokens = { alice = "tok-alice-123", bob = "tok-bob-456" }
backoff_after_failures = 1000  # these tests try many wrong tokens on purpose
"""
API = [
    ("GET", "/api/tasks"),
    ("GET", "/api/tasks?status=answered"),
    ("GET", "/api/tasks/task_0000"),
    ("POST", "/api/tasks/task_0000/claim"),
    ("POST", "/api/tasks/task_0000/release"),
    ("POST", "/api/tasks/task_0000/answer"),
    ("POST", "/api/tasks/task_0000/reject"),
    ("GET", "/api/tasks/task_0000/images/0"),
    ("GET", "/api/events"),
    ("GET", "/api/stats"),
    ("GET", "/api/me"),
    ("POST", "/api/logout"),
]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[Gateway]:
    with run_gateway(tmp_path_factory.mktemp("dashboard-auth"), CONFIG) as gateway:
        yield gateway


def status_of(gateway: Gateway, method: str, path: str, headers: dict[str, str]) -> int:
    data = b"{}" if method == "POST" else None
    headers = {"content-type": "application/json", **headers}
    request = urllib.request.Request(gateway.url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status
    except urllib.error.HTTPError as error:
        return error.code


def login(gateway: Gateway, token: str) -> tuple[int, http.cookies.SimpleCookie]:
    request = urllib.request.Request(
        gateway.url + "/api/login",
        data=f'{{"token": "{token}"}}'.encode(),
        method="POST",
        headers={"content-type": "application/json"},
    )
    cookies: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            cookies.load(reply.headers.get("set-cookie", ""))
            return reply.status, cookies
    except urllib.error.HTTPError as error:
        return error.code, cookies


def test_every_reviewer_api_path_needs_a_token_or_session(gateway: Gateway) -> None:
    anonymous = {"x-reviewer": "alice"}  # a name alone is not an identity here
    wrong = {"authorization": "Bearer tok-nobody"}
    forged = {"cookie": "hitl_session=not-a-session"}
    for method, path in API:
        for headers in (anonymous, wrong, forged):
            assert status_of(gateway, method, path, headers) == 401, (method, path, headers)
    # The right token opens every door (404/422 are about the made-up task id or body).
    bearer = {"authorization": "Bearer tok-alice-123"}
    for method, path in API:
        if path == "/api/events":
            continue  # a stream that stays open; the browser test follows it signed in
        assert status_of(gateway, method, path, bearer) != 401, (method, path)
    # The page and its files are served to anyone: the login screen needs them.
    for path in ("/", "/static/app.js", "/static/style.css"):
        assert status_of(gateway, "GET", path, {}) == 200, path


def test_login_sets_an_httponly_strict_cookie_that_works_as_a_session(gateway: Gateway) -> None:
    status, _ = login(gateway, "tok-wrong")
    assert status == 401
    status, cookies = login(gateway, "tok-bob-456")
    assert status == 200
    morsel = cookies["hitl_session"]
    assert morsel["httponly"] and morsel["samesite"].lower() == "strict" and morsel["path"] == "/"
    session = {"cookie": f"hitl_session={morsel.value}"}
    assert status_of(gateway, "GET", "/api/me", session) == 200
    assert status_of(gateway, "POST", "/api/logout", session) == 200
    assert status_of(gateway, "GET", "/api/me", session) == 401


def test_an_idle_session_times_out(tmp_path: Path) -> None:
    config = CONFIG + "session_idle_minutes = 0.01\n"  # 0.6 s
    with run_gateway(tmp_path, config) as gateway:
        status, cookies = login(gateway, "tok-alice-123")
        assert status == 200
        session = {"cookie": f"hitl_session={cookies['hitl_session'].value}"}
        assert status_of(gateway, "GET", "/api/me", session) == 200
        # Every use renews the session, so look less often than the idle limit.
        wait_until(
            lambda: status_of(gateway, "GET", "/api/me", session) == 401,
            10,
            interval=1.0,
            what="idle expiry",
        )


def test_page_and_files_carry_a_csp_that_forbids_inline_script(gateway: Gateway) -> None:
    for path in ("/", "/static/app.js"):
        with urllib.request.urlopen(gateway.url + path, timeout=10) as reply:
            csp = reply.headers["content-security-policy"]
            assert reply.headers["x-content-type-options"] == "nosniff"
        directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
        assert directives["script-src"] == "'self'"
        assert directives["style-src"] == "'self'"
        assert directives["object-src"] == "'none'"
        assert "unsafe" not in csp
    with urllib.request.urlopen(gateway.url + "/static/app.js", timeout=10) as reply:
        assert reply.headers["content-type"].startswith("text/javascript")


def test_dashboard_source_has_no_inline_code_and_no_html_sinks() -> None:
    html = (STATIC / "index.html").read_text()
    # Every script is an external module; no handler attributes, no inline styles.
    for script in re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.S):
        assert script.strip() == ""
    assert re.findall(r"<script\b[^>]*>", html) == ['<script type="module" src="/static/app.js">']
    assert not re.search(r"\son[a-z]+\s*=", html)
    assert not re.search(r"\sstyle\s*=", html)
    sinks = re.compile(
        r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function"
    )
    for module in STATIC.glob("*.js"):
        assert not sinks.search(module.read_text()), module.name


@requires_chromium
def test_browser_enforces_the_csp(gateway: Gateway, watched: Watched) -> None:
    page = watched.page
    page.goto(gateway.url)
    expect(page.locator("#login")).to_be_visible()
    ran = page.evaluate(
        """() => {
            const s = document.createElement('script');
            s.textContent = 'window.__inline = true';
            document.body.append(s);
            return window.__inline === true;
        }"""
    )
    assert ran is False


@requires_chromium
def test_sign_in_then_work_then_sign_out(gateway: Gateway, watched: Watched) -> None:
    page = watched.page
    page.goto(gateway.url)
    # Signed out: the login screen, and nothing else.
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#main")).to_be_hidden()
    page.locator("#login-token").fill("tok-not-valid")
    page.locator("#login-token").press("Enter")
    expect(page.locator("#login-error")).to_have_text("That token is not valid.")
    page.locator("#login-token").fill("tok-alice-123")
    page.locator("#login-token").press("Enter")
    expect(page.locator("#me")).to_have_text("signed in as alice")
    expect(page.locator("#conn")).to_have_text("live")
    expect(page.locator("#btn-logout")).to_be_visible()

    cookie = next(c for c in watched.context.cookies() if c["name"] == "hitl_session")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # not readable by scripts

    # Signed in by cookie: tasks arrive live, and claims are made as alice.
    sdk = openai.OpenAI(base_url=gateway.base_url, api_key="sk-x", max_retries=0, timeout=60)
    session = f"auth-{uuid.uuid4().hex[:6]}"
    reply = background(
        sdk.chat.completions.create,
        model="human",
        messages=[{"role": "user", "content": "hello from behind a login"}],
        extra_headers={"x-session-id": session},
    )
    row = page.locator(f'.group[data-session="{session}"] .task-row')
    expect(row).to_have_count(1)
    row.click()
    expect(row.locator(".holder")).to_contain_text("held by you")
    bob = Reviewer(gateway.url, "bob", token="tok-bob-456")
    task_id = row.get_attribute("data-id")
    assert bob.task(task_id)["claimed_by"] == "alice"
    watched.snap("signed-in")
    page.locator("#reply-text").fill("hi, alice here")
    page.locator("#btn-submit").click()
    assert reply.result(timeout=30).choices[0].message.content == "hi, alice here"
    expect(page.locator("#stat-answered")).to_have_text("1")

    # Signing out ends the session on the server too.
    page.locator("#btn-logout").click()
    expect(page.locator("#login")).to_be_visible()
    assert (
        status_of(gateway, "GET", "/api/me", {"cookie": f"hitl_session={cookie['value']}"}) == 401
    )
    assert watched.errors == [] or all("401" in error for error in watched.errors)
