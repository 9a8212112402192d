"""Forwarding benchmark: direct-to-upstream vs through the gateway, on loopback.

    python bench/forward.py            # about 40 s; prints one table

Three processes: a minimal fast upstream (raw asyncio, canned OpenAI replies),
the gateway (``python -m gateway``, pinned to core 0), and a load generator
(raw asyncio HTTP/1.1 keep-alive client, pinned to the last core, sharing it with
the upstream). The same load runs straight at the upstream and through the
gateway; the table compares them:

- latency p50/p99 at concurrency 1 (non-streaming chat completion);
- requests/s at concurrency 32;
- time to first body byte of a streaming chat completion, at concurrency 1.

Targets (issue 2): added p50 latency <= 0.5 ms, >= 3,000 req/s at c=32, TTFB
within 1 ms of direct. Everything stays on 127.0.0.1; every process it starts is
stopped before it exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

GATEWAY_CORE = 0
CLIENT_KEY = "sk-bench"
REQUEST_BODY = json.dumps(
    {"model": "bench", "messages": [{"role": "user", "content": "Say hello in one word."}]}
).encode()
STREAM_BODY = json.dumps(
    {
        "model": "bench",
        "messages": [{"role": "user", "content": "Say hello in one word."}],
        "stream": True,
    }
).encode()

# -- the upstream: canned replies, as fast as asyncio allows -----------------------

COMPLETION = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1741569952,
        "model": "bench-upstream",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello!", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14},
    }
).encode()
JSON_REPLY = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
    b"content-length: " + str(len(COMPLETION)).encode() + b"\r\n\r\n" + COMPLETION
)


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _sse(delta: dict, finish: str | None = None) -> bytes:
    chunk = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1741569952,
        "model": "bench-upstream",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
    b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
)
STREAM_FIRST = _chunk(_sse({"role": "assistant", "content": ""}))
STREAM_REST = (
    _chunk(_sse({"content": "Hello!"}))
    + _chunk(_sse({}, "stop"))
    + _chunk(b"data: [DONE]\n\n")
    + b"0\r\n\r\n"
)
STREAM_GAP_S = 0.002  # between the first event and the rest, as a model would


class UpstreamProtocol(asyncio.Protocol):
    """HTTP/1.1 keep-alive server that answers every POST with a canned reply."""

    reply = JSON_REPLY  # bench/hybrid.py swaps in a reply that carries logprobs

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            length = 0
            at = head.find(b"content-length:")
            if at >= 0:
                line_end = head.find(b"\r\n", at)
                length = int(head[at + 15 : line_end if line_end > 0 else len(head)])
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            body, self.buffer = self.buffer[end + 4 : total], self.buffer[total:]
            if b'"stream": true' in body or b'"stream":true' in body:
                self.transport.write(STREAM_HEAD + STREAM_FIRST)
                asyncio.get_running_loop().call_later(STREAM_GAP_S, self._finish_stream)
            else:
                self.transport.write(self.reply)

    def _finish_stream(self) -> None:
        if not self.transport.is_closing():
            self.transport.write(STREAM_REST)


def serve_upstream(port: int, protocol: type[asyncio.Protocol] = UpstreamProtocol) -> None:
    """Run the upstream until killed."""
    _use_uvloop()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(protocol, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# -- the load generator ----------------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection that posts a body and reads the whole reply."""

    def __init__(self, host: str, port: int, path: str) -> None:
        self.address = (host, port)
        self.path = path
        self.reader: asyncio.StreamReader
        self.writer: asyncio.StreamWriter

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(*self.address)
        self.writer.transport.get_extra_info("socket").setsockopt(
            socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
        )

    def close(self) -> None:
        self.writer.close()

    async def post(self, body: bytes) -> tuple[float, float]:
        """Send one request; return (seconds to the first body byte, seconds to the end)."""
        request = (
            f"POST {self.path} HTTP/1.1\r\nhost: {self.address[0]}:{self.address[1]}\r\n"
            f"authorization: Bearer {CLIENT_KEY}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n"
        ).encode() + body
        started = time.perf_counter()
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"unexpected reply: {head[:200]!r}")
        lowered = head.lower()
        if b"transfer-encoding: chunked" in lowered:
            first = None
            while True:
                size = int((await self.reader.readuntil(b"\r\n"))[:-2], 16)
                if first is None:
                    first = time.perf_counter()
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        else:
            at = lowered.index(b"content-length:") + 15
            length = int(lowered[at : lowered.index(b"\r\n", at)])
            await self.reader.readexactly(length)
            first = time.perf_counter()  # one read: the body arrived whole
        done = time.perf_counter()
        return first - started, done - started


async def _latencies(url: str, body: bytes, count: int, warmup: int) -> list[tuple[float, float]]:
    host, port, path = _split(url)
    connection = Connection(host, port, path)
    await connection.open()
    try:
        for _ in range(warmup):
            await connection.post(body)
        return [await connection.post(body) for _ in range(count)]
    finally:
        connection.close()


async def _throughput(url: str, body: bytes, concurrency: int, seconds: float) -> float:
    host, port, path = _split(url)
    connections = [Connection(host, port, path) for _ in range(concurrency)]
    await asyncio.gather(*(c.open() for c in connections))
    done = 0
    measuring = False
    stop_at = 0.0

    async def worker(connection: Connection) -> None:
        nonlocal done
        while True:
            await connection.post(body)
            if measuring:
                if time.perf_counter() >= stop_at:
                    return
                done += 1

    try:
        tasks = [asyncio.create_task(worker(c)) for c in connections]
        await asyncio.sleep(min(1.0, seconds / 3))  # warm-up at full load
        measuring, started = True, time.perf_counter()
        stop_at = started + seconds
        await asyncio.gather(*tasks)
        return done / (time.perf_counter() - started)
    finally:
        for c in connections:
            c.close()


def _split(url: str) -> tuple[str, int, str]:
    rest = url.removeprefix("http://")
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.partition(":")
    return host, int(port), "/" + path


def run_load(url: str, args: argparse.Namespace) -> dict:
    """Everything the table needs for one target URL."""
    _use_uvloop()

    async def main() -> dict:
        plain = await _latencies(url, REQUEST_BODY, args.count, args.count // 5)
        # Several short rounds, and their median: one burst of noise spoils only one.
        rounds = [
            await _throughput(url, REQUEST_BODY, args.concurrency, args.seconds)
            for _ in range(args.rounds)
        ]
        rps = statistics.median(rounds)
        stream = await _latencies(url, STREAM_BODY, args.stream_count, args.stream_count // 5)
        return {
            "p50_ms": _percentile([end for _, end in plain], 50) * 1000,
            "p99_ms": _percentile([end for _, end in plain], 99) * 1000,
            "rps": rps,
            "ttfb_ms": _percentile([first for first, _ in stream], 50) * 1000,
        }

    return asyncio.run(main())


def _percentile(values: list[float], pct: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(pct) - 1]


# -- the orchestra -----------------------------------------------------------------


def _use_uvloop() -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pinned(core: int):
    return lambda: os.sched_setaffinity(0, {core})


@contextlib.contextmanager
def _process(command: list[str], core: int, ready_url: str | None, **kwargs) -> Iterator[None]:
    process = subprocess.Popen(command, preexec_fn=_pinned(core), **kwargs)
    try:
        if ready_url:
            _wait_ready(ready_url, process)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _wait_ready(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{process.args} exited with {process.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=0.5):
            return
        time.sleep(0.05)
    raise SystemExit(f"{url} did not come up")


def _wait_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise SystemExit(f"upstream on port {port} did not come up")


def _measure(url: str, core: int, args: argparse.Namespace) -> dict:
    """Run the load generator in its own pinned process against ``url``."""
    command = [
        sys.executable, __file__, "--load", url,
        "--count", str(args.count), "--stream-count", str(args.stream_count),
        "--concurrency", str(args.concurrency), "--seconds", str(args.seconds),
        "--rounds", str(args.rounds),
    ]  # fmt: skip
    done = subprocess.run(
        command, preexec_fn=_pinned(core), capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(done.stdout)


def orchestrate(args: argparse.Namespace) -> None:
    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"note: load average {load:.2f} before the run; other work skews the figures")
    cores = sorted(os.sched_getaffinity(0))
    other_core = cores[-1] if cores[-1] != GATEWAY_CORE else cores[0]
    upstream_port, gateway_port = _free_port(), _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "bench.toml"
        config.write_text(
            f'[auth]\nclient_keys = ["{CLIENT_KEY}"]\n'
            f'[upstreams.fast]\nbase_url = "http://127.0.0.1:{upstream_port}/v1"\n'
            f'[models.bench]\nupstream = "fast"\nupstream_model = "bench-upstream"\n'
            f'[store]\npath = "{Path(tmp) / "bench.db"}"\n'
        )
        upstream = [sys.executable, __file__, "--serve-upstream", str(upstream_port)]
        gateway = [
            sys.executable, "-m", "gateway", "--config", str(config), "--port", str(gateway_port),
        ]  # fmt: skip
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        with _process(upstream, other_core, None, **quiet):
            _wait_port(upstream_port)
            with _process(
                gateway, GATEWAY_CORE, f"http://127.0.0.1:{gateway_port}/healthz", **quiet
            ):
                path = "/v1/chat/completions"
                direct = _measure(f"http://127.0.0.1:{upstream_port}{path}", other_core, args)
                through = _measure(f"http://127.0.0.1:{gateway_port}{path}", other_core, args)
    _print_table(direct, through, args, other_core)


def _print_table(direct: dict, through: dict, args: argparse.Namespace, other: int) -> None:
    rows = [
        ("latency p50, c=1 (ms)", "p50_ms", "added <= 0.5 ms"),
        ("latency p99, c=1 (ms)", "p99_ms", ""),
        (f"throughput, c={args.concurrency} (req/s)", "rps", ">= 3000 req/s"),
        ("stream TTFB p50, c=1 (ms)", "ttfb_ms", "added <= 1 ms"),
    ]
    print(
        f"gateway on core {GATEWAY_CORE}; upstream and load generator on core {other}; "
        f"{args.count} requests per latency row; throughput: median of {args.rounds} rounds "
        f"of {args.seconds:g} s"
    )
    print(f"{'':30} {'direct':>10} {'gateway':>10} {'difference':>12} {'ratio':>7}  target")
    for label, key, target in rows:
        a, b = direct[key], through[key]
        if key == "rps":
            diff, ok = f"{b - a:+.0f}", b >= 3000
        else:
            diff = f"{b - a:+.3f} ms"
            ok = b - a <= (1.0 if key == "ttfb_ms" else 0.5) if target else True
        mark = ("met" if ok else "MISSED") if target else ""
        print(f"{label:30} {a:10.3f} {b:10.3f} {diff:>12} {b / a:6.2f}x  {target} {mark}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=3000, help="requests per latency run")
    parser.add_argument("--stream-count", type=int, default=1000, help="streams for TTFB")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=2.0, help="length of a throughput round")
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds (median shown)")
    parser.add_argument("--load", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--serve-upstream", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_upstream:
        serve_upstream(args.serve_upstream)
    elif args.load:
        print(json.dumps(run_load(args.load, args)))
    else:
        orchestrate(args)


if __name__ == "__main__":
    main()
