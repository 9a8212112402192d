"""Running the app: one process under uvicorn, or ``--workers N`` processes on one port.

Each worker is a whole gateway (its own event loop, upstream pools and store
connections); they share the listening socket, which the kernel hands to
whichever worker accepts first, and they share the truth through the store,
so several workers need PostgreSQL. Metrics are summed over the workers with
prometheus-client's multiprocess mode.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable
from typing import Any, Protocol, cast

import uvicorn

from gateway.config.root import Config
from gateway.http.connections import protocol_for

log = logging.getLogger("gateway.http.server")
METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"
RESTART_PAUSE_S = 1.0  # between restarts of a worker that keeps dying


class StoppableApp(Protocol):
    """An ASGI app that can let its waiting clients go before a graceful stop."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None: ...

    def let_clients_go(self) -> None: ...


AppFactory = Callable[[Config], StoppableApp]


class _Server(uvicorn.Server):
    """uvicorn, letting clients that wait on people go before it drains connections.

    A graceful stop waits for open requests; those waiting on a person could wait
    for half an hour. They get a retryable 503 instead, and their tasks stay stored.
    """

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        cast(StoppableApp, self.config.app).let_clients_go()
        await super().shutdown(sockets)


def serve(config: Config, app: StoppableApp, sockets: list[socket.socket] | None = None) -> None:
    """Run one gateway process until it is told to stop."""
    server = _Server(
        uvicorn.Config(
            app,
            host=config.server.host,
            port=config.server.port,
            log_level="info",
            access_log=config.server.access_log,
            loop="auto",
            http=protocol_for(config.server),
            # uvicorn hands it to loop.call_later, which takes a float (annotated int).
            timeout_keep_alive=config.server.idle_timeout_s,  # type: ignore[arg-type]
        )
    )
    server.run(sockets=sockets)


def _worker(config: Config, make_app: AppFactory, sock: socket.socket) -> None:
    # Its own process group: a Ctrl-C at the terminal reaches the supervisor only,
    # which tells each worker once (a second SIGINT would make uvicorn exit at once).
    os.setpgrp()
    serve(config, make_app(config), sockets=[sock])


def serve_workers(config: Config, make_app: AppFactory, count: int) -> None:
    """Run ``count`` workers on one socket; replace any that dies; stop them all on
    SIGINT or SIGTERM."""
    made_dir = METRICS_DIR not in os.environ
    if made_dir:  # must be set before a worker imports prometheus_client
        os.environ[METRICS_DIR] = tempfile.mkdtemp(prefix="hitl-gateway-metrics-")
    host, port = config.server.host, config.server.port
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    context = multiprocessing.get_context("spawn")
    stopping = False

    def start() -> multiprocessing.process.BaseProcess:
        process = context.Process(
            target=_worker, args=(config, make_app, sock), name="hitl-gateway-worker"
        )
        process.start()
        return process

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for process in workers:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGINT)

    workers = [start() for _ in range(count)]
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while workers:
            multiprocessing.connection.wait([p.sentinel for p in workers], timeout=1.0)
            for process in list(workers):
                if process.is_alive():
                    continue
                _forget_metrics(process.pid)
                if stopping:
                    workers.remove(process)
                else:
                    print(f"hitl-gateway: worker {process.pid} exited with "
                          f"{process.exitcode}; starting another", flush=True)  # fmt: skip
                    time.sleep(RESTART_PAUSE_S)
                    workers[workers.index(process)] = start()
    finally:
        sock.close()
        if made_dir:
            shutil.rmtree(os.environ.pop(METRICS_DIR), ignore_errors=True)


def _forget_metrics(pid: int | None) -> None:
    """A dead worker's live gauges stop counting (multiprocess mode)."""
    if pid is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
