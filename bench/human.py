"""Human-route benchmark: many clients waiting at once on one gateway process.

    python bench/human.py                       # 10,000 waiting clients, about a minute
    python bench/human.py --clients 2000 --sample 200
    python bench/human.py --floor               # also uvicorn alone: the gateway's own share
    python bench/human.py --trace 10            # tracemalloc: the top holders per client

Two processes besides this one: the gateway (``python -m gateway``, SQLite store
in a temporary directory) and a load process (asyncio + aiohttp) that plays the
clients, a dashboard following ``GET /api/events`` and a reviewer. It measures:

- resident memory per waiting task: (RSS with N clients waiting - idle RSS) / N,
  minus the request body's size (target: at most 10 KB);
- answer latency: ``POST /api/tasks/{id}/answer`` sent -> that client holding its
  whole reply, one answer at a time on a sample, with the N clients waiting
  (target: p99 at most 20 ms);
- event latency: a new request sent -> its ``task.created`` event read by the
  dashboard, one request at a time on a sample, with the N clients waiting
  (target: p99 at most 50 ms).

Both latencies are taken in the load process on one monotonic clock. Every
process started here is stopped before it exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import holders  # noqa: E402  (tracemalloc snapshots of the gateway, bench/holders.py)
import servers  # noqa: E402  (the gateway and the floor under other ASGI servers)
from harness import run_gateway  # noqa: E402  (the tests' process helper, reused)

BATCH = 500  # clients connecting at once while filling (the listen backlog is finite)
TARGETS = {"memory_kb": 10.0, "answer_p99_ms": 20.0, "event_p99_ms": 50.0}


def body_for(text: str) -> bytes:
    return json.dumps({"model": "human", "messages": [{"role": "user", "content": text}]}).encode()


def raise_fd_limit() -> int:
    """As many file descriptors as the hard limit allows (each client is one socket)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


# -- the load process ----------------------------------------------------------------


class Load:
    """Clients, a dashboard and a reviewer, on one event loop."""

    def __init__(
        self, url: str, client_urls: list[str] | None = None, reviewer_url: str | None = None
    ) -> None:
        import aiohttp

        self.url = url
        # bench/cluster.py: clients spread over several processes, the dashboard and
        # the reviewer on one of them.
        self.client_urls = client_urls or [url]
        self.reviewer_url = reviewer_url or url
        self.client_url: dict[str, str] = {}  # text -> the process its client waits on
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, force_close=True),
            timeout=aiohttp.ClientTimeout(total=None, sock_read=None),
        )
        self.created: dict[str, tuple[str, float]] = {}  # text -> (task id, seen at)
        self.replied: dict[str, float] = {}  # text -> whole reply read at
        self.waiters: dict[str, asyncio.Event] = {}
        self.clients: list[asyncio.Task] = []
        self.errors = 0

    async def follow_events(self, ready: asyncio.Event) -> None:
        """The dashboard: read /api/events and note when each task.created arrives."""
        async with self.session.get(self.reviewer_url + "/api/events") as reply:
            name = ""
            ready.set()
            async for raw in reply.content:
                line = raw.rstrip(b"\r\n")
                if line.startswith(b"event:"):
                    name = line[6:].strip().decode()
                elif line.startswith(b"data:") and name == "task.created":
                    seen = time.monotonic()
                    task = json.loads(line[5:])
                    self.created[task["preview"]] = (task["id"], seen)
                    waiter = self.waiters.get(task["preview"])
                    if waiter is not None:
                        waiter.set()

    async def client(self, text: str) -> None:
        """One client: post, then wait for the whole reply."""
        url = self.client_url[text] + "/v1/chat/completions"
        headers = {"content-type": "application/json"}
        try:
            async with self.session.post(url, data=body_for(text), headers=headers) as reply:
                body = await reply.read()
                self.replied[text] = time.monotonic()
                if reply.status != 200 or text.encode() not in body:
                    self.errors += 1
        except Exception:
            self.errors += 1
        waiter = self.waiters.get("reply:" + text)
        if waiter is not None:
            waiter.set()

    def start_client(self, text: str, url: str | None = None) -> None:
        self.client_url[text] = url or self.client_urls[len(self.clients) % len(self.client_urls)]
        self.clients.append(asyncio.ensure_future(self.client(text)))

    async def wait_created(self, count: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while len(self.created) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(self.created)} of {count} tasks were created")
            await asyncio.sleep(0.01)

    async def fill(self, count: int) -> float:
        started = time.monotonic()
        for first in range(0, count, BATCH):
            for index in range(first, min(first + BATCH, count)):
                self.start_client(f"waiting {index}")
            await self.wait_created(min(first + BATCH, count))
        return time.monotonic() - started

    async def event_latency(self, sample: int) -> list[float]:
        """New requests one at a time: sent -> task.created read by the dashboard."""
        latencies = []
        for index in range(sample):
            text = f"new {index}"
            seen = self.waiters[text] = asyncio.Event()
            sent = time.monotonic()
            self.start_client(text, self.client_urls[0])
            await asyncio.wait_for(seen.wait(), 10)
            latencies.append(self.created[text][1] - sent)
        return latencies

    async def answer_latency(self, sample: int) -> list[float]:
        """Answers one at a time: POST /answer sent -> the client has its whole reply."""
        latencies = []
        headers = {"x-reviewer": "bench"}
        # Clients held by another process than the reviewer's, where there is one.
        held_elsewhere = [t for t in self.created if t.startswith("waiting ")]
        held_elsewhere = [t for t in held_elsewhere if self.client_url[t] != self.reviewer_url]
        for text in (held_elsewhere or [f"waiting {i}" for i in range(sample)])[:sample]:
            task_id, _ = self.created[text]
            done = self.waiters["reply:" + text] = asyncio.Event()
            answer = {"content": f"answer to {text}"}
            sent = time.monotonic()
            async with self.session.post(
                f"{self.reviewer_url}/api/tasks/{task_id}/answer", json=answer, headers=headers
            ) as reply:
                assert reply.status == 200, await reply.text()
            await asyncio.wait_for(done.wait(), 10)
            latencies.append(self.replied[text] - sent)
        return latencies


def load_process(
    url: str, clients: int, sample: int, pipe: Connection, client_urls: list[str] | None = None
) -> None:
    """Runs in its own process: fill, tell the parent, wait, measure, report."""
    raise_fd_limit()

    async def main() -> dict[str, Any]:
        load = Load(url, client_urls, url)
        ready = asyncio.Event()
        dashboard = asyncio.ensure_future(load.follow_events(ready))
        await asyncio.wait_for(ready.wait(), 10)
        # Warm-up: every code path once, answered, before the idle measurement.
        for index in range(50):
            load.start_client(f"warm {index}")
        await load.wait_created(50)
        for index in range(50):
            task_id, _ = load.created[f"warm {index}"]
            async with load.session.post(
                f"{url}/api/tasks/{task_id}/answer",
                json={"content": f"warm {index}"},
            ) as reply:
                await reply.read()
        await asyncio.gather(*load.clients)
        load.clients.clear()
        load.created.clear()
        pipe.send("idle")
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
        fill_s = await load.fill(clients)
        pipe.send("filled")
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
        events = await load.event_latency(sample)
        answers = await load.answer_latency(sample)
        dashboard.cancel()
        return {"fill_s": fill_s, "event": events, "answer": answers, "errors": load.errors}

    try:
        import uvloop

        result = uvloop.run(main())
    except ImportError:
        result = asyncio.run(main())
    pipe.send(result)
    pipe.close()
    os._exit(0)  # the waiting clients need no goodbye


# -- the floor: what one waiting HTTP request costs the server stack alone ----------

FLOOR_APP = """
import sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

class Wait:  # reads the body, then waits for the client to leave
    async def __call__(self, scope, receive, send):
        while (await receive()).get("more_body"):
            pass
        while (await receive())["type"] != "http.disconnect":
            pass

async def health(request):
    return Response("ok")

# Dispatched like the gateway's own entry point: model POSTs skip Starlette.
starlette = Starlette(routes=[Route("/healthz", health)])
wait = Wait()

async def app(scope, receive, send):
    if scope["type"] == "http" and scope["path"] == "/v1/chat/completions":
        return await wait(scope, receive, send)
    await starlette(scope, receive, send)

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def floor_load(url: str, clients: int, pipe: Connection) -> None:
    """Open ``clients`` requests that stay waiting; say so; wait to be killed."""
    raise_fd_limit()

    async def main() -> None:
        import aiohttp

        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, force_close=True),
            timeout=aiohttp.ClientTimeout(total=None, sock_read=None),
        )

        async def wait() -> None:
            async with session.post(url + "/v1/chat/completions", data=body_for("x")) as reply:
                await reply.read()

        pending = []
        for first in range(0, clients, BATCH):
            pending += [asyncio.ensure_future(wait()) for _ in range(min(BATCH, clients - first))]
            await asyncio.sleep(0.2)
        pipe.send("filled")
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)

    asyncio.run(main())
    os._exit(0)


def floor(clients: int, server_name: str = "uvicorn") -> float:
    """KB per waiting request for an app on the server that does nothing but wait."""
    import subprocess
    import urllib.request

    from harness import free_port, wait_until

    raise_fd_limit()
    port = free_port()
    if server_name != "uvicorn":
        return _floor_elsewhere(clients, server_name, port)
    server = subprocess.Popen([sys.executable, "-c", FLOOR_APP, str(port)])
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    load = context.Process(target=floor_load, args=(f"http://127.0.0.1:{port}", clients, child))
    try:
        url = f"http://127.0.0.1:{port}/healthz"

        def healthy() -> bool:
            try:
                return urllib.request.urlopen(url, timeout=1).status == 200
            except OSError:
                return False

        wait_until(healthy, 20, what="the floor app")
        idle = rss_kb(server.pid)
        load.start()
        assert parent.poll(180) and parent.recv() == "filled"
        time.sleep(1)
        return (rss_kb(server.pid) - idle) / clients
    finally:
        if load.is_alive():
            load.kill()
        server.kill()
        server.wait(timeout=10)


def _floor_elsewhere(clients: int, server_name: str, port: int) -> float:
    """``floor`` under another server (bench/servers.py's ``wait`` app)."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    load = context.Process(target=floor_load, args=(f"http://127.0.0.1:{port}", clients, child))
    with servers.serving(server_name, "wait", port) as server:
        try:
            idle = servers.tree_rss_kb(server.pid)
            load.start()
            assert parent.poll(180) and parent.recv() == "filled"
            time.sleep(1)
            return (servers.tree_rss_kb(server.pid) - idle) / clients
        finally:
            if load.is_alive():
                load.kill()


@contextlib.contextmanager
def gateway_under(server_name: str, tmp: Path) -> Iterator[Any]:
    """The gateway under another server, with the config run_gateway would give it."""
    from harness import free_port, store_keys

    config = tmp / "gateway.toml"
    config.write_text("[store]\n" + store_keys(tmp) + "\n")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with servers.serving(server_name, "gateway", port, env=env, config=str(config)) as process:
        yield SimpleNamespace(url=f"http://127.0.0.1:{port}", process=process, kill=lambda: None)


# -- the parent: gateway, memory, report ---------------------------------------------


def run(
    clients: int, sample: int, trace: int = 0, top: int = 15, server: str = "uvicorn"
) -> dict[str, Any]:
    """Fill, measure, report; ``trace``: frames per allocation for tracemalloc (0: off);
    ``server``: the ASGI server (another than uvicorn runs through bench/servers.py)."""
    raise_fd_limit()  # inherited by the gateway
    context = multiprocessing.get_context("spawn")
    held = None
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        env = holders.trace_env(tmp, trace, ROOT) if trace else None
        if server == "uvicorn":
            gateway = stack.enter_context(run_gateway(tmp, "", env=env))
        else:
            gateway = stack.enter_context(gateway_under(server, tmp))
        pid = gateway.process.pid
        parent, child = context.Pipe()
        load = context.Process(target=load_process, args=(gateway.url, clients, sample, child))
        load.start()
        try:
            assert parent.poll(60) and parent.recv() == "idle"
            idle = servers.tree_rss_kb(pid)
            before = holders.snapshot(pid, tmp, 1) if trace else None
            parent.send("go")
            assert parent.poll(600) and parent.recv() == "filled"
            time.sleep(1)  # let the store's writes and the allocator settle
            loaded = servers.tree_rss_kb(pid)
            if before is not None:
                after = holders.snapshot(pid, tmp, 2)
                held = holders.top_holders(before, after, clients, ROOT, top)
            parent.send("measure")
            assert parent.poll(180), "the load process did not report"
            result = parent.recv()
        finally:
            load.join(timeout=10)
            if load.is_alive():
                load.kill()
            gateway.kill()  # clients are still waiting: no graceful drain
    body = len(body_for(f"waiting {clients - 1}"))
    per_task = (loaded - idle) * 1024 / clients
    return {
        "traced": held,
        "server": server,
        "clients": clients,
        "sample": sample,
        "idle_rss_mb": idle / 1024,
        "loaded_rss_mb": loaded / 1024,
        "body_bytes": body,
        "per_task_kb": per_task / 1024,
        "memory_kb": (per_task - body) / 1024,
        "fill_s": result["fill_s"],
        "event_p50_ms": statistics.median(result["event"]) * 1000,
        "event_p99_ms": percentile(result["event"], 0.99) * 1000,
        "answer_p50_ms": statistics.median(result["answer"]) * 1000,
        "answer_p99_ms": percentile(result["answer"], 0.99) * 1000,
        "errors": result["errors"],
    }


def report(figures: dict[str, Any]) -> None:
    def verdict(key: str) -> str:
        return "ok" if figures[key] <= TARGETS[key] else "MISSED"

    print(
        f"human route, {figures['clients']:,} clients waiting on one gateway process "
        f"(served by {figures['server']})"
    )
    print(
        f"  fill: {figures['fill_s']:.1f} s "
        f"({figures['clients'] / figures['fill_s']:,.0f} tasks/s, batches of {BATCH})"
    )
    print(
        f"  RSS idle {figures['idle_rss_mb']:.1f} MB -> {figures['loaded_rss_mb']:.1f} MB "
        f"with {figures['clients']:,} waiting: {figures['per_task_kb']:.2f} KB per task"
    )
    print(
        f"  memory per waiting task beyond its {figures['body_bytes']} B body: "
        f"{figures['memory_kb']:.2f} KB   (target <= 10 KB: {verdict('memory_kb')})"
    )
    print(
        f"  answer -> client reply, {figures['sample']} answers: "
        f"p50 {figures['answer_p50_ms']:.2f} ms, p99 {figures['answer_p99_ms']:.2f} ms"
        f"   (target p99 <= 20 ms: {verdict('answer_p99_ms')})"
    )
    print(
        f"  request -> task.created at the dashboard, {figures['sample']} requests: "
        f"p50 {figures['event_p50_ms']:.2f} ms, p99 {figures['event_p99_ms']:.2f} ms"
        f"   (target p99 <= 50 ms: {verdict('event_p99_ms')})"
    )
    if figures["errors"]:
        print(f"  client errors: {figures['errors']}")
    if "floor_kb" in figures:
        own = figures["memory_kb"] - figures["floor_kb"]
        print(
            f"  floor: an app on {figures['server']} that only waits holds "
            f"{figures['floor_kb']:.2f} KB per waiting request"
        )
        print(
            f"  the gateway's own share per waiting task: {own:.2f} KB (memory - floor)"
            f"   (target <= 4 KB: {'ok' if own <= 4.0 else 'MISSED'})"
        )
    if figures["traced"]:
        print("  tracemalloc on: the RSS figures above include its own cost, read them elsewhere")
        print("  " + figures["traced"].replace("\n", "\n  "))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=500)
    parser.add_argument(
        "--floor", action="store_true", help="also measure the server stack alone, for scale"
    )
    parser.add_argument(
        "--trace",
        type=int,
        default=0,
        metavar="FRAMES",
        help="tracemalloc in the gateway (FRAMES per allocation): list the top holders",
    )
    parser.add_argument("--top", type=int, default=15, help="holders listed with --trace")
    parser.add_argument(
        "--server",
        choices=servers.SERVERS,
        default="uvicorn",
        help="the ASGI server for the gateway and the floor (granian: bench/servers.py)",
    )
    args = parser.parse_args()
    if args.sample > args.clients:
        parser.error("--sample must not exceed --clients")
    if args.trace and args.server != "uvicorn":
        parser.error("--trace needs the gateway's own server, uvicorn")
    figures = run(args.clients, args.sample, args.trace, args.top, args.server)
    if args.floor:
        figures["floor_kb"] = floor(args.clients, args.server)
    report(figures)


if __name__ == "__main__":
    main()
