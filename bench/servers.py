"""The benchmarks' apps under another ASGI server than uvicorn, to compare servers.

    python bench/servers.py granian gateway --port 4100 --config bench.toml
    python bench/servers.py granian floor --port 4101 --upstream http://127.0.0.1:9000
    python bench/servers.py granian wait --port 4102

``gateway`` is the gateway built from a config file (as ``python -m gateway``
builds it, lifespan included, but without uvicorn's protocol subclass: its header
and body deadlines, connection cap and 400 envelope are uvicorn-only, see
gateway/http/connections.py); ``floor`` is bench/floor.py's pass-through; ``wait`` is
bench/human.py's app that only holds requests open. bench/forward.py and
bench/human.py start these with ``--server granian``.

Granian (https://github.com/emmett-framework/granian) runs the HTTP side in
Rust and the app on a Python event loop (uvloop here, like uvicorn). It is run
with one worker and its concurrency cap (``backpressure``) raised past any
benchmark's client count.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SERVERS = ("uvicorn", "granian")


def gateway_app():
    """The gateway for ``HITL_BENCH_CONFIG`` (a factory: called in the worker)."""
    from gateway.app import create_app
    from gateway.config import load_config

    return create_app(load_config(os.environ["HITL_BENCH_CONFIG"]))


def floor_app():
    from floor import make_app

    return make_app(os.environ["HITL_BENCH_UPSTREAM"])


def wait_app():
    """Reads a request's body, then holds it until the client leaves; /healthz answers."""

    async def app(scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": message["type"] + ".complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["path"] == "/healthz":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
            return
        while (await receive()).get("more_body"):
            pass
        while (await receive())["type"] != "http.disconnect":
            pass

    return app


def command(server: str, app: str, port: int, **options: str) -> list[str]:
    """The command line that serves ``app`` under ``server`` on ``port``."""
    line = [sys.executable, str(BENCH / "servers.py"), server, app, "--port", str(port)]
    for name, value in options.items():
        line += [f"--{name}", value]
    return line


def tree_rss_kb(pid: int) -> int:
    """Resident memory of ``pid`` and its descendants (Granian's app runs in a worker)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        with contextlib.suppress(FileNotFoundError):
            with open(f"/proc/{current}/status") as status:
                total += next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    pending += [int(child) for child in children.read().split()]
    return total


@contextlib.contextmanager
def serving(
    server: str, app: str, port: int, env: dict[str, str] | None = None, **options: str
) -> Iterator[subprocess.Popen]:
    """``app`` under ``server`` on ``port``, answering /healthz, until the block ends; then
    its whole process group is killed (clients may still be waiting)."""
    process = subprocess.Popen(
        command(server, app, port, **options), env=env, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{server} serving {app} exited with {process.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{server} serving {app} did not come up") from None
                time.sleep(0.1)
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("server", choices=["granian"])
    parser.add_argument("app", choices=["gateway", "floor", "wait"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--config", help="gateway: its config file")
    parser.add_argument("--upstream", help="floor: the upstream's base URL")
    args = parser.parse_args()
    if args.config:
        os.environ["HITL_BENCH_CONFIG"] = str(Path(args.config).resolve())
    if args.upstream:
        os.environ["HITL_BENCH_UPSTREAM"] = args.upstream
    # The worker imports the target by name: it must find this file's directory.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [os.environ.get("PYTHONPATH", ""), str(BENCH)]
    ).strip(os.pathsep)
    sys.path.insert(0, str(BENCH))
    from granian import Granian

    Granian(
        f"servers:{args.app}_app",
        address="127.0.0.1",
        port=args.port,
        interface="asgi",
        loop="uvloop",
        workers=1,
        factory=True,
        backlog=4096,
        backpressure=65536,
        log_access=False,
        log_level="warning",
    ).serve()


if __name__ == "__main__":
    main()
