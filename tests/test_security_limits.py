"""Limits on what one client can hold or try: slow and stalled connections, the
number of connections, guesses at keys and tokens, nesting depth; and secrets at rest.

Slow clients are real sockets that trickle bytes; every wait is bounded.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import sqlite3
import stat
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from harness import Gateway, openai_client, run_gateway, wait_until
from reviewer_client import Reviewer, background
from test_security_requests import assert_envelope, raw

CONFIG = """
[server]
header_timeout_s = 1
idle_timeout_s = 1
[auth]
client_keys = ["sk-right"]
reviewer_tokens = {{ alice = "tok-alice" }}
backoff_after_failures = 3
metrics_token = "metrics-secret"
[store]
path = "{store}"
"""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[Gateway]:
    folder = tmp_path_factory.mktemp("limits")
    with run_gateway(folder, CONFIG.format(store=folder / "gateway.db")) as gateway:
        yield gateway


def read_reply(sock: socket.socket, timeout: float = 10) -> bytes:
    """Everything the server sends until it closes the connection."""
    sock.settimeout(timeout)
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def envelope_of(reply: bytes) -> dict:
    head, _, body = reply.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), head
    return assert_envelope(json.loads(body))


# -- slow and stalled connections ------------------------------------------------------


def test_headers_trickled_slowly_are_cut_off_with_408(gateway):
    with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        sock.settimeout(0.2)
        reply = b""
        deadline = time.monotonic() + 10
        while not reply and time.monotonic() < deadline:  # one header line per 0.2 s
            try:
                sock.sendall(b"X-Slow: still here\r\n")
                reply = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
        reply += read_reply(sock)
    assert reply.startswith(b"HTTP/1.1 408 "), reply
    assert envelope_of(reply)["code"] == "request_timeout"
    assert urllib.request.urlopen(gateway.url + "/healthz", timeout=5).status == 200


def test_a_silent_connection_is_closed(gateway):
    with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
        assert read_reply(sock) == b""  # closed, without a word, after idle_timeout_s


def test_a_stalled_body_ends_the_connection(gateway):
    with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Authorization: Bearer sk-right\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"model": '
        )
        assert read_reply(sock) == b""


def test_malformed_http_gets_the_envelope(gateway):
    with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
        sock.sendall(b"NOT HTTP AT ALL\x00\r\n\r\n")
        reply = read_reply(sock)
    assert reply.startswith(b"HTTP/1.1 400 "), reply
    assert envelope_of(reply)["code"] == "invalid_http"


def test_connections_past_the_limit_get_a_503(tmp_path):
    config = "[server]\nmax_connections = 4\nheader_timeout_s = 30\n"
    with run_gateway(tmp_path, config) as gateway:
        held = [socket.create_connection(("127.0.0.1", gateway.port)) for _ in range(4)]
        try:
            with socket.create_connection(("127.0.0.1", gateway.port)) as extra:
                extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                reply = read_reply(extra)
            assert reply.startswith(b"HTTP/1.1 503 "), reply
            assert b"retry-after: 1" in reply.lower()
            assert envelope_of(reply)["code"] == "too_many_connections"
        finally:
            for sock in held:
                sock.close()
        wait_until(lambda: raw(gateway, "GET", "/healthz")[0] == 200, 10, 0.05, "a free connection")


# -- guessing ------------------------------------------------------------------------


def test_a_remembered_key_still_lets_no_wrong_key_through():
    """In process: a configured key is hashed once and then remembered; a wrong key
    is hashed, refused and counted every time, also after the right one was seen."""
    from gateway.auth import ClientAuth, keyed_digest
    from gateway.errors import GatewayError

    secret = os.urandom(32)
    auth = ClientAuth(["sk-right", "sk-other"], secret, free_failures=2)
    first = auth.identify("Bearer sk-right", "10.0.0.1")
    assert first == auth.identify("Bearer sk-right", "10.0.0.1")
    assert first == keyed_digest(secret, "sk-right")
    assert auth.identify("Bearer sk-other", "10.0.0.1") == keyed_digest(secret, "sk-other")
    statuses = []
    for guess in ("sk-righ", "SK-RIGHT", "sk-right2"):  # near misses of a remembered key
        with pytest.raises(GatewayError) as caught:
            auth.identify(f"Bearer {guess}", "10.0.0.2")
        statuses.append(caught.value.status)
    assert statuses == [401, 401, 401]
    with pytest.raises(GatewayError) as caught:  # the third failure blocked the address
        auth.identify("Bearer sk-right", "10.0.0.2")
    assert caught.value.status == 429


def test_wrong_client_keys_back_off(gateway):
    wrong = openai_client(gateway, "sk-wrong")
    for _ in range(3):  # backoff_after_failures
        with pytest.raises(openai.AuthenticationError):
            wrong.models.list()
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()  # the 4th failure: the address is blocked from now on
    with pytest.raises(openai.RateLimitError) as caught:
        openai_client(gateway, "sk-right").models.list()  # even the right key waits
    assert caught.value.response.headers["retry-after"] == "1"
    assert caught.value.body["code"] == "too_many_failed_attempts"
    wait_until(lambda: _lists_models(gateway), 5, 0.1, "the back-off to end")


def _lists_models(gateway: Gateway) -> bool:
    try:
        return bool(openai_client(gateway, "sk-right").models.list().data)
    except openai.RateLimitError:
        return False


def test_wrong_reviewer_tokens_back_off(gateway):
    headers = {"content-type": "application/json"}
    statuses = [
        raw(gateway, "POST", "/api/login", headers, b'{"token": "tok-guess"}')[0] for _ in range(5)
    ]
    assert statuses == [401, 401, 401, 401, 429]
    status, found, body = raw(gateway, "POST", "/api/login", headers, b'{"token": "tok-alice"}')
    assert status == 429 and int(found["retry-after"]) >= 1
    assert_envelope(body, "too_many_failed_attempts")

    def logged_in() -> bool:
        return raw(gateway, "POST", "/api/login", headers, b'{"token": "tok-alice"}')[0] == 200

    wait_until(logged_in, 10, 0.1, "the back-off to end")


# -- secrets at rest -------------------------------------------------------------------


def test_metrics_need_their_token(gateway):
    status, _, body = raw(gateway, "GET", "/metrics")
    assert status == 401
    assert_envelope(body, "invalid_api_key")
    assert raw(gateway, "GET", "/metrics", {"authorization": "Bearer nope"})[0] == 401
    status, _, body = raw(gateway, "GET", "/metrics", {"authorization": "Bearer metrics-secret"})
    assert status == 200 and b"gateway_requests_total" in body


def test_client_keys_are_kept_as_a_keyed_hash(gateway):
    store = Path(gateway.config_path.read_text().split('path = "')[1].split('"')[0])
    secret_file = store.with_name(store.name + ".secret")
    assert stat.S_IMODE(os.stat(secret_file).st_mode) == 0o600
    secret = secret_file.read_bytes()
    assert len(secret) >= 32
    text = f"owner {uuid.uuid4()}"
    client = openai_client(gateway, "sk-right")
    future = background(
        client.chat.completions.create,
        model="human",
        messages=[{"role": "user", "content": text}],
    )
    alice = Reviewer(gateway.url, "alice", token="tok-alice")
    task = alice.wait_for_task(lambda t: t["preview"] == text)
    assert alice.answer(task["id"], content="ok").status == 200
    future.result(timeout=10)
    with sqlite3.connect(store) as db:
        dumped = "\n".join(db.iterdump())
    assert "sk-right" not in dumped
    assert hashlib.sha256(b"sk-right").hexdigest() not in dumped  # the old unkeyed digest
    assert hmac.new(secret, b"sk-right", hashlib.sha256).hexdigest() in dumped


# -- nesting depth -------------------------------------------------------------------


def nested(depth: int) -> object:
    value: object = "deep"
    for _ in range(depth):
        value = [value]
    return value


def test_deep_json_is_a_400_naming_the_limit_on_both_doors(gateway):
    client_headers = {"authorization": "Bearer sk-right", "content-type": "application/json"}
    deep = {"role": "user", "content": "hi", "extra": nested(100)}
    body = json.dumps({"model": "human", "messages": [deep]}).encode()
    status, _, reply = raw(gateway, "POST", "/v1/chat/completions", client_headers, body)
    assert status == 400
    error = assert_envelope(reply, "json_too_deep")
    assert "64 levels" in error["message"]
    body = b'{"model": "human", "messages": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    status, _, reply = raw(gateway, "POST", "/v1/chat/completions", client_headers, body)
    assert status == 400
    assert "1024 levels" in assert_envelope(reply, "json_too_deep")["message"]
    text = f"deep {uuid.uuid4()}"
    client = openai_client(gateway, "sk-right")
    message = {"role": "user", "content": text}
    future = background(client.chat.completions.create, model="human", messages=[message])
    alice = Reviewer(gateway.url, "alice", token="tok-alice")
    task = alice.wait_for_task(lambda t: t["preview"] == text)
    answer = {"content": "x", "tool_calls": [{"name": "f", "arguments": {"a": nested(90)}}]}
    reply = alice.answer(task["id"], **answer)
    assert reply.status == 400
    assert "64 levels" in assert_envelope(reply.body, "json_too_deep")["message"]
    assert alice.answer(task["id"], content="shallow").status == 200
    assert future.result(timeout=10).choices[0].message.content == "shallow"
