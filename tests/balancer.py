"""A TCP load balancer for the cluster tests, as one would run in front of replicas.

Each new connection goes to the next backend, round robin, skipping any that
refuses the connection (a dead process); bytes are piped both ways unchanged.
Runs on its own event loop in a thread, on a free loopback port.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading

from harness import free_port


class Balancer:
    def __init__(self, ports: list[int]) -> None:
        self.ports = list(ports)  # may be replaced while running
        self.port = free_port()
        self.connections: dict[int, int] = {}  # backend port -> connections made
        self._turn = itertools.count()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> Balancer:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        future.result(timeout=10)
        return self

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            assert self._server is not None
            self._server.close()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ports = list(self.ports)
        start = next(self._turn)
        for offset in range(len(ports)):
            port = ports[(start + offset) % len(ports)]
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                continue  # that backend is down: the next one
            self.connections[port] = self.connections.get(port, 0) + 1
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            return
        writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()
