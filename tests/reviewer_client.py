"""A small client for the reviewer API (``/api/*``), as a person's dashboard uses it.

Plain HTTP on loopback: ``Reviewer`` is synchronous (urllib), ``AsyncReviewer``
uses aiohttp, ``EventLog`` follows ``GET /api/events`` on a thread. Replies are
returned as they came (status, headers, JSON body), so tests can assert on
errors as well as on successes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.client
import json
import socket
import struct
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import aiohttp
from harness import wait_until


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any  # parsed JSON, or raw bytes when not JSON

    @property
    def error(self) -> dict[str, Any]:
        return self.body["error"]


def _decode(raw: bytes, content_type: str) -> Any:
    if content_type.startswith("application/json"):
        return json.loads(raw)
    return raw


def _oldest(
    tasks: list[dict[str, Any]], predicate: Callable[[dict[str, Any]], bool]
) -> dict[str, Any] | None:
    """The first (oldest: the API lists oldest first) of ``tasks`` that matches, if any."""
    return next((task for task in tasks if predicate(task)), None)


def background(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
    """Run a blocking call (e.g. a sync SDK request) on a daemon thread; a Future for it."""
    future: Future = Future()

    def run() -> None:
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the test through the future
            future.set_exception(exc)

    threading.Thread(target=run, daemon=True).start()
    return future


class Reviewer:
    """The reviewer API over urllib, as reviewer ``name`` (header, or a bearer token)."""

    def __init__(self, url: str, name: str = "alice", token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.name = name
        self.token = token

    def _headers(self) -> dict[str, str]:
        headers = {"content-type": "application/json", "x-reviewer": self.name}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        return headers

    def call(self, method: str, path: str, body: Any = None, timeout: float = 10) -> Reply:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers=self._headers()
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:
                headers = {k.lower(): v for k, v in reply.headers.items()}
                raw = reply.read()
                status = reply.status
        except urllib.error.HTTPError as error:
            headers = {k.lower(): v for k, v in error.headers.items()}
            raw = error.read()
            status = error.code
        return Reply(status, headers, _decode(raw, headers.get("content-type", "")))

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        """Call and insist on a 200; return the JSON body."""
        reply = self.call(method, path, body)
        assert reply.status == 200, (method, path, reply.status, reply.body)
        return reply.body

    def tasks(self, status: str | None = None) -> list[dict[str, Any]]:
        query = f"?status={status}" if status else ""
        return self.ok("GET", "/api/tasks" + query)["data"]

    def task(self, task_id: str) -> dict[str, Any]:
        return self.ok("GET", f"/api/tasks/{task_id}")

    def claim(self, task_id: str) -> Reply:
        return self.call("POST", f"/api/tasks/{task_id}/claim")

    def release(self, task_id: str) -> Reply:
        return self.call("POST", f"/api/tasks/{task_id}/release")

    def answer(self, task_id: str, **answer: Any) -> Reply:
        return self.call("POST", f"/api/tasks/{task_id}/answer", answer)

    def reject(self, task_id: str, reason: str) -> Reply:
        return self.call("POST", f"/api/tasks/{task_id}/reject", {"reason": reason})

    def wait_for_task(
        self,
        predicate: Callable[[dict[str, Any]], bool] = lambda task: True,
        status: str = "pending",
        timeout: float = 10,
    ) -> dict[str, Any]:
        """The oldest task in ``status`` that matches, once one shows up."""
        return wait_until(
            lambda: _oldest(self.tasks(status), predicate),
            timeout,
            interval=0.02,
            what=f"a {status} task that matches",
        )

    def wait_for_status(self, task_id: str, status: str, timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        task: dict[str, Any] = {}
        while time.monotonic() < deadline:
            task = self.task(task_id)
            if task["status"] == status:
                return task
            time.sleep(0.02)
        raise AssertionError(f"task {task_id} is {task.get('status')}, not {status}")


class AsyncReviewer:
    """The reviewer API over aiohttp, for async tests with many tasks."""

    def __init__(self, url: str, name: str = "alice") -> None:
        self.url = url.rstrip("/")
        self.name = name
        self.session = aiohttp.ClientSession(
            headers={"x-reviewer": name},
            connector=aiohttp.TCPConnector(limit=32),
        )

    async def __aenter__(self) -> AsyncReviewer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()

    async def call(self, method: str, path: str, body: Any = None) -> Reply:
        async with self.session.request(method, self.url + path, json=body) as reply:
            raw = await reply.read()
            headers = {k.lower(): v for k, v in reply.headers.items()}
            return Reply(reply.status, headers, _decode(raw, reply.content_type))

    async def tasks(self, status: str | None = None, limit: int = 5000) -> list[dict[str, Any]]:
        query = f"?limit={limit}" + (f"&status={status}" if status else "")
        reply = await self.call("GET", "/api/tasks" + query)
        assert reply.status == 200, reply.body
        return reply.body["data"]

    async def task(self, task_id: str) -> dict[str, Any]:
        reply = await self.call("GET", f"/api/tasks/{task_id}")
        assert reply.status == 200, reply.body
        return reply.body

    async def answer(self, task_id: str, **answer: Any) -> Reply:
        return await self.call("POST", f"/api/tasks/{task_id}/answer", answer)

    async def wait_for_task(
        self,
        predicate: Callable[[dict[str, Any]], bool] = lambda task: True,
        status: str = "pending",
        timeout: float = 10,
    ) -> dict[str, Any]:
        """:meth:`Reviewer.wait_for_task`, polling without blocking the event loop."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            task = _oldest(await self.tasks(status), predicate)
            if task is not None:
                return task
            await asyncio.sleep(0.02)
        raise AssertionError(f"no {status} task matched within {timeout}s")


class EventLog:
    """Follows ``GET /api/events`` on a thread and keeps every event it receives."""

    def __init__(self, url: str, name: str = "dashboard", token: str | None = None) -> None:
        self.address = urllib.parse.urlsplit(url)
        self.name = name
        self.token = token
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.comments: list[str] = []
        self._connected = threading.Event()
        self._connection = http.client.HTTPConnection(
            self.address.hostname, self.address.port, timeout=60
        )
        self._thread = threading.Thread(target=self._follow, daemon=True)

    def __enter__(self) -> EventLog:
        headers = {"x-reviewer": self.name}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        self._connection.request("GET", "/api/events", headers=headers)
        self._thread.start()
        assert self._connected.wait(10), "the event stream did not open"
        return self

    def __exit__(self, *exc: object) -> None:
        # Shutting the socket down wakes the reader thread blocked on it.
        with contextlib.suppress(OSError):
            self._connection.sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)
        self._connection.close()

    def _follow(self) -> None:
        name, data = "message", []
        try:
            response = self._connection.getresponse()
            assert response.status == 200, response.status
            for raw in response:
                line = raw.decode().rstrip("\r\n")
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                    self._connected.set()
                elif line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif not line and data:
                    self.events.append((name, json.loads("\n".join(data))))
                    name, data = "message", []
        except (OSError, ValueError, http.client.HTTPException):
            pass  # closed by __exit__

    def wait_for(
        self, name: str, task_id: str | None = None, timeout: float = 10
    ) -> dict[str, Any]:
        """The data of the first event ``name`` (about ``task_id``), once it arrives."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event, data in list(self.events):
                if event == name and (task_id is None or data.get("id") == task_id):
                    return data
            time.sleep(0.01)
        raise AssertionError(f"no {name} event for {task_id} within {timeout}s: {self.events}")

    def names_for(self, task_id: str) -> list[str]:
        return [event for event, data in list(self.events) if data.get("id") == task_id]


# -- what a client's request carries -----------------------------------------------------

# A chat-format function tool with one required argument, as an agent declares it.
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def png(width: int = 4, height: int = 3, shade: int = 0) -> bytes:
    """A real PNG image (a flat grey), as a screenshot stands in for a screen."""
    row = b"\x00" + bytes([shade, shade, shade]) * width

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def data_url(image: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(image).decode()
