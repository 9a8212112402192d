"""What the forwarding benchmarks share: a canned upstream, a load generator, processes.

- the upstream: raw asyncio HTTP/1.1 keep-alive, answering every POST with a canned
  OpenAI chat completion (or a short stream), as fast as asyncio allows;
- the load generator: raw asyncio keep-alive connections that post a body and read
  the whole reply, for latency at concurrency 1 and throughput at concurrency N;
- helpers that start processes pinned to a core and wait until they answer.

bench/forward.py, bench/hybrid.py and bench/workers.py use them; this file also runs
as the upstream (``--serve-upstream PORT``) and as the load process (``--load URL``).
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
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
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
    use_uvloop()

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


async def latencies(url: str, body: bytes, count: int, warmup: int) -> list[tuple[float, float]]:
    host, port, path = split_url(url)
    connection = Connection(host, port, path)
    await connection.open()
    try:
        for _ in range(warmup):
            await connection.post(body)
        return [await connection.post(body) for _ in range(count)]
    finally:
        connection.close()


async def throughput(url: str, body: bytes, concurrency: int, seconds: float) -> float:
    """Requests per second at ``concurrency`` over ``seconds`` (after a warm-up)."""
    rate, _ = await throughput_and_cpu(url, body, concurrency, seconds)
    return rate


def cpu_seconds(pid: int) -> float:
    """User + system CPU time ``pid`` and its live descendants have used so far (from
    /proc; a server that runs its app in a worker process, like Granian, is counted whole)."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            with open(f"/proc/{current}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    pending += [int(child) for child in children.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue  # it has just exited
    return total / os.sysconf("SC_CLK_TCK")


async def throughput_and_cpu(
    url: str, body: bytes, concurrency: int, seconds: float, pid: int | None = None
) -> tuple[float, float | None]:
    """Requests per second, and the CPU microseconds process ``pid`` (the server) spent
    per request while they were counted: a figure other work on the machine barely
    moves, where requests per second drop when another process takes the core."""
    host, port, path = split_url(url)
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
        cpu_before = cpu_seconds(pid) if pid else 0.0
        measuring, started = True, time.perf_counter()
        stop_at = started + seconds
        await asyncio.gather(*tasks)
        rate = done / (time.perf_counter() - started)
        cpu_us = (cpu_seconds(pid) - cpu_before) / done * 1e6 if pid and done else None
        return rate, cpu_us
    finally:
        for c in connections:
            c.close()


def split_url(url: str) -> tuple[str, int, str]:
    rest = url.removeprefix("http://")
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.partition(":")
    return host, int(port), "/" + path


def run_load(url: str, args: argparse.Namespace) -> dict:
    """Everything the table needs for one target URL."""
    use_uvloop()

    async def main() -> dict:
        plain = await latencies(url, REQUEST_BODY, args.count, args.count // 5)
        # Several short rounds, and their median: one burst of noise spoils only one.
        rounds = [
            await throughput_and_cpu(url, REQUEST_BODY, args.concurrency, args.seconds, args.pid)
            for _ in range(args.rounds)
        ]
        rps = statistics.median(rate for rate, _ in rounds)
        cpu = [us for _, us in rounds if us is not None]
        stream = await latencies(url, STREAM_BODY, args.stream_count, args.stream_count // 5)
        return {
            "p50_ms": percentile([end for _, end in plain], 50) * 1000,
            "p99_ms": percentile([end for _, end in plain], 99) * 1000,
            "rps": rps,
            "cpu_us": statistics.median(cpu) if cpu else None,
            "ttfb_ms": percentile([first for first, _ in stream], 50) * 1000,
        }

    return asyncio.run(main())


def percentile(values: list[float], pct: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(pct) - 1]


# -- processes ---------------------------------------------------------------------


def use_uvloop() -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pinned(core: int):
    return lambda: os.sched_setaffinity(0, {core})


@contextlib.contextmanager
def process(
    command: list[str], core: int, ready_url: str | None, **kwargs
) -> Iterator[subprocess.Popen]:
    process = subprocess.Popen(command, preexec_fn=pinned(core), **kwargs)
    try:
        if ready_url:
            wait_ready(ready_url, process)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def wait_ready(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{process.args} exited with {process.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=0.5):
            return
        time.sleep(0.05)
    raise SystemExit(f"{url} did not come up")


def wait_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise SystemExit(f"upstream on port {port} did not come up")


def measure(url: str, core: int, args: argparse.Namespace, pid: int | None = None) -> dict:
    """Run the load generator in its own pinned process against ``url``; ``pid``: the
    server's process, whose CPU time per request is measured too."""
    command = [
        sys.executable, __file__, "--load", url,
        "--count", str(args.count), "--stream-count", str(args.stream_count),
        "--concurrency", str(args.concurrency), "--seconds", str(args.seconds),
        "--rounds", str(args.rounds),
    ]  # fmt: skip
    if pid:
        command += ["--pid", str(pid)]
    done = subprocess.run(
        command, preexec_fn=pinned(core), capture_output=True, text=True, timeout=300, check=True
    )
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000, help="requests per latency run")
    parser.add_argument("--stream-count", type=int, default=500, help="streams for TTFB")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=2.0, help="length of a throughput run")
    parser.add_argument("--rounds", type=int, default=1, help="throughput runs (median kept)")
    parser.add_argument("--load", metavar="URL", help="measure URL; print the figures as JSON")
    parser.add_argument("--pid", type=int, help="with --load: the server, for CPU per request")
    parser.add_argument("--serve-upstream", type=int, metavar="PORT", help="run the upstream")
    args = parser.parse_args()
    if args.serve_upstream:
        serve_upstream(args.serve_upstream)
    elif args.load:
        print(json.dumps(run_load(args.load, args)))
    else:
        parser.error("give --load URL or --serve-upstream PORT")


if __name__ == "__main__":
    main()
