"""What the gateway refuses before any route: foreign Host names, forged reviewer
requests, non-JSON reviewer bodies, oversized bodies; and what it serves as an image.

Every refusal is an OpenAI error envelope with the status the README names.
"""

from __future__ import annotations

import base64
import http.client
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from harness import Gateway, openai_client, run_gateway
from reviewer_client import Reviewer, background, png

SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>fetch('/api/tasks')</script></svg>"
)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[Gateway]:
    config = '[server]\nmax_api_body_mb = 0.01\nallowed_hosts = ["gateway.test"]\n'
    with run_gateway(tmp_path_factory.mktemp("security"), config) as gateway:
        yield gateway


def raw(
    gateway: Gateway,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, dict[str, str], Any]:
    """One request with exactly these headers (``Host`` included when given)."""
    headers = dict(headers or {})
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    try:
        connection.putrequest(method, path, skip_host="host" in headers)
        for name, value in headers.items():
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("content-length", str(len(body)))
        connection.endheaders(body)
        reply = connection.getresponse()
        data = reply.read()
        found = {k.lower(): v for k, v in reply.getheaders()}
    finally:
        connection.close()
    if found.get("content-type", "").startswith("application/json"):
        return reply.status, found, json.loads(data)
    return reply.status, found, data


def assert_envelope(body: Any, code: str | None = None) -> dict[str, Any]:
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error


def open_task(gateway: Gateway, content: list[dict[str, Any]], text: str) -> tuple[dict, Any]:
    client = openai_client(gateway)
    message = {"role": "user", "content": [{"type": "text", "text": text}, *content]}
    future = background(client.chat.completions.create, model="human", messages=[message])
    task = Reviewer(gateway.url, "lister").wait_for_task(lambda t: t["preview"] == text)
    return task, future


# -- images ------------------------------------------------------------------------


def image_part(data: bytes, declared: str) -> dict[str, Any]:
    url = f"data:{declared};base64,{base64.b64encode(data).decode()}"
    return {"type": "image_url", "image_url": {"url": url}}


def test_only_raster_images_are_served_whatever_their_declared_type(gateway):
    shot = png(6, 4, 99)
    parts = [
        image_part(SVG, "image/svg+xml"),
        image_part(shot, "image/svg+xml"),  # a PNG that claims to be SVG
        image_part(b"<html><script>alert(1)</script></html>", "image/png"),
        image_part(b"GIF89a" + b"\0" * 20, "image/gif"),
    ]
    task, future = open_task(gateway, parts, f"images {uuid.uuid4()}")
    link = f"/api/tasks/{task['id']}/images/"
    served = {}
    for index in range(5):
        status, headers, body = raw(gateway, "GET", f"{link}{index}")
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["content-security-policy"] == "sandbox; default-src 'none'"
        served[index] = (status, headers["content-type"], body)
    assert served[0][:2] == (415, "application/json")
    assert_envelope(served[0][2], "unsupported_image")
    assert served[1] == (200, "image/png", shot)
    assert served[2][:2] == (415, "application/json")
    assert served[3][:2] == (200, "image/gif")
    assert served[4][:2] == (404, "application/json")
    assert Reviewer(gateway.url).answer(task["id"], content="seen").status == 200
    future.result(timeout=10)


# -- Host names ----------------------------------------------------------------------


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:80", "10.0.0.8"])
def test_a_loopback_gateway_refuses_foreign_host_names(gateway, host):
    for method, path in (("GET", "/api/tasks"), ("GET", "/v1/models"), ("GET", "/")):
        status, _, body = raw(gateway, method, path, {"host": host})
        assert status == 421, (path, status)
        assert "server.allowed_hosts" in assert_envelope(body, "host_not_allowed")["message"]


@pytest.mark.parametrize("host", ["localhost:1", "127.0.0.1", "[::1]:8000", "gateway.test:443"])
def test_loopback_names_and_allowed_hosts_are_served(gateway, host):
    status, _, body = raw(gateway, "GET", "/api/tasks", {"host": host})
    assert status == 200, body


# -- forged reviewer requests --------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "http://127.0.0.1:1"},  # a page on another port
        {"origin": "http://localhost:{port}"},  # another origin for the same server
        {"origin": "null"},  # a sandboxed frame or a file
        {"sec-fetch-site": "same-site"},
        {"sec-fetch-site": "cross-site", "origin": "http://127.0.0.1:{port}"},
    ],
)
def test_state_changing_requests_from_another_origin_are_403(gateway, headers):
    headers = {k: v.format(port=gateway.port) for k, v in headers.items()}
    headers["content-type"] = "application/json"
    for path in ("/api/tasks/task_0/claim", "/api/login", "/v1/chat/completions"):
        status, _, body = raw(gateway, "POST", path, headers, b"{}")
        assert status == 403, (path, headers, status)
        assert_envelope(body, "cross_origin")


def test_requests_from_the_dashboards_own_origin_pass(gateway):
    origin = f"http://127.0.0.1:{gateway.port}"
    for headers in (
        {"origin": origin},
        {"origin": origin, "sec-fetch-site": "same-origin"},
        {"sec-fetch-site": "none"},
        {},  # not a browser
    ):
        headers["content-type"] = "application/json"
        status, _, body = raw(gateway, "POST", "/api/login", headers, b"{}")
        assert status == 200, (headers, body)


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None],
)
def test_reviewer_bodies_must_be_json(gateway, content_type):
    text = f"forms {uuid.uuid4()}"
    task, future = open_task(gateway, [], text)
    headers = {"x-reviewer": "mallory"}
    if content_type:
        headers["content-type"] = content_type
    status, _, body = raw(
        gateway, "POST", f"/api/tasks/{task['id']}/answer", headers, b'{"content": "forged"}'
    )
    assert status == 415
    assert_envelope(body, "unsupported_media_type")
    assert Reviewer(gateway.url).task(task["id"])["status"] == "pending"
    assert Reviewer(gateway.url).answer(task["id"], content="real").status == 200
    assert future.result(timeout=10).choices[0].message.content == "real"


def test_bodyless_reviewer_posts_need_no_content_type(gateway):
    status, _, body = raw(gateway, "POST", "/api/tasks/task_0/claim", {"x-reviewer": "a"})
    assert status == 404, body


# -- body limits ---------------------------------------------------------------------


def test_reviewer_bodies_past_the_limit_are_413(gateway):
    big = json.dumps({"token": "x" * 20_000}).encode()  # the limit here is ~10 KB
    headers = {"content-type": "application/json"}
    status, _, body = raw(gateway, "POST", "/api/login", headers, big)
    assert status == 413
    assert_envelope(body, "request_too_large")
    # Sent in chunks without a length, the body is counted as it comes.
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    try:
        connection.request(
            "POST", "/api/login", body=iter([big[:5000], big[5000:]]), headers=headers
        )
        reply = connection.getresponse()
        assert reply.status == 413
        assert_envelope(json.loads(reply.read()), "request_too_large")
    finally:
        connection.close()


def test_client_doors_keep_the_model_body_limit(gateway):
    # Over max_api_body_mb (~10 KB here) but well under max_body_mb: a screenshot's size.
    messages = [{"role": "user", "content": "x" * 50_000}]
    body = json.dumps({"model": "nope", "messages": messages}).encode()
    headers = {"content-type": "application/json"}
    assert raw(gateway, "POST", "/v1/chat/completions", headers, body)[0] == 404  # no such model
    status, _, reply = raw(gateway, "POST", "/cua/queue", headers, body)
    assert status != 413, reply


# -- envelopes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/nowhere", 404),
        ("GET", "/api/nowhere", 404),
        ("DELETE", "/api/tasks", 405),
        ("GET", "/v1/chat/completions", 405),
        ("PUT", "/healthz", 405),
    ],
)
def test_route_errors_are_envelopes(gateway, method, path, status):
    got, headers, body = raw(gateway, method, path)
    assert got == status
    assert headers["content-type"] == "application/json"
    assert_envelope(body)


def test_an_unexpected_failure_is_a_500_envelope(tmp_path):
    """In-process: a route that raises still answers in the envelope (Starlette's own
    500 would be plain text)."""
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from gateway.app import create_app
    from gateway.config import Config, StoreConfig

    async def boom(request):
        raise RuntimeError("a bug")

    app = create_app(Config(store=StoreConfig(path=str(tmp_path / "g.db"))))
    app.starlette.router.routes.append(Route("/boom", boom))
    client = TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False)
    reply = client.get("/boom")
    assert reply.status_code == 500
    assert reply.headers["content-type"] == "application/json"
    assert assert_envelope(reply.json())["type"] == "api_error"
    assert "a bug" not in reply.text  # no internals leak
