"""Real processes on loopback for the tests: the gateway, and fake upstreams.

Fakes stand only for what is outside the project (model providers). Every wait
is bounded; every process started here is stopped by the context that made it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import openai
from aiohttp import web

START_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections and that nothing else can take meanwhile.

    The socket is bound but never listens, and without SO_REUSEADDR, so no other
    server (another test's gateway, say) can bind the port while this holds it.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def wait_until(predicate, timeout: float = 5.0, interval: float = 0.01, what: str = "condition"):
    """Poll a cheap predicate until it holds, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def openai_client(gateway: Gateway, key: str = "client-key", **options) -> openai.OpenAI:
    """The real sync ``openai`` SDK pointed at ``gateway``, with client key ``key``.

    It does not retry unless ``options`` say so, so a test sees every error as sent.
    """
    options = {"max_retries": 0, **options}
    return openai.OpenAI(base_url=gateway.base_url, api_key=key, **options)


@dataclass
class Gateway:
    """A gateway process started with ``python -m gateway``."""

    config_path: Path | None  # None: no --config flag (GATEWAY_CONFIG or the built-in config)
    port: int
    process: subprocess.Popen | None = None
    env: dict[str, str] = field(default_factory=dict)
    output: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)  # extra command-line flags
    cwd: Path | None = None  # working directory of the process

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def start(self) -> Gateway:
        env = {**os.environ, **self.env}
        command = [sys.executable, "-m", "gateway", "--port", str(self.port), *self.args]
        if self.config_path is not None:
            command[3:3] = ["--config", str(self.config_path)]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
            cwd=self.cwd,
        )
        reader = threading.Thread(target=self._read, daemon=True)
        reader.start()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError("gateway exited:\n" + "".join(self.output))
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=0.5) as reply:
                    if reply.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        self.stop()
        raise AssertionError("gateway did not become healthy:\n" + "".join(self.output))

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def kill(self) -> None:
        """Stop at once, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)


def store_keys(tmp_path: Path) -> str:
    """The ``[store]`` keys for a test's gateway, on the backend ``HITL_TEST_STORE`` names."""
    if os.environ.get("HITL_TEST_STORE") == "postgres":
        import postgres

        return f'url = "{postgres.shared_cluster().create_database()}"'
    return f'path = "{tmp_path / "gateway.db"}"'


@contextlib.contextmanager
def run_gateway(
    tmp_path: Path, config: str, env: dict[str, str] | None = None, port: int | None = None
) -> Iterator[Gateway]:
    """Write ``config`` (TOML) to a file, start a gateway on it, stop it afterwards.

    A ``[store]`` table is added unless the config has one: an SQLite file in
    ``tmp_path``, or with ``HITL_TEST_STORE=postgres`` a new database on the
    session's throwaway PostgreSQL server (tests/postgres.py).
    """
    if "[store]" not in config:
        config += "\n[store]\n" + store_keys(tmp_path) + "\n"
    path = tmp_path / f"gateway-{time.monotonic_ns()}.toml"
    path.write_text(config)
    gateway = Gateway(path, port or free_port(), env=env or {})
    gateway.start()
    try:
        yield gateway
    finally:
        gateway.stop()


class ThreadedServer:
    """An aiohttp app on its own event loop in a thread, so sync and async tests can use it."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ThreadedServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=10)
        return self

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)

    def call(self, coro, timeout: float = 10):
        """Run a coroutine on the server's loop (e.g. to release a held reply)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=timeout)


def sse_payloads(gateway, path: str, body: dict) -> list[dict]:
    """POST a streaming request to ``gateway`` (``path`` below ``/v1``) with plain urllib,
    as client key ``client-key``; every ``data:`` JSON payload, in order, ``[DONE]`` left out."""
    request = urllib.request.Request(
        gateway.base_url + path,
        data=json.dumps({**body, "stream": True}).encode(),
        headers={"content-type": "application/json", "authorization": "Bearer client-key"},
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        raw = reply.read().decode()
    data = [line[6:] for line in raw.split("\n") if line.startswith("data: ")]
    return [json.loads(item) for item in data if item != "[DONE]"]
