"""The ``mcp`` SDK's own client pointed at a gateway's ``/mcp``, and a reviewer on a thread.

``connect`` opens the SDK's ``Client`` over streamable HTTP (with a client key
when given); ``answered`` runs a reviewer call off the event loop, so a test can
wait on an MCP call and answer it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from typing import Any

from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from reviewer_client import background


@contextlib.asynccontextmanager
async def connect(
    url: str, key: str | None = None, mode: str = "auto", **headers: str
) -> AsyncIterator[Client]:
    """``mode``: ``auto`` speaks MCP 2026-07-28 here; ``legacy`` the initialize handshake
    (2025-11-25), as Claude Code and most clients today."""
    sent = {name.replace("_", "-"): value for name, value in headers.items()}
    if key is not None:
        sent["authorization"] = f"Bearer {key}"
    async with (
        create_mcp_http_client(headers=sent) as http,
        Client(streamable_http_client(url + "/mcp", http_client=http), mode=mode) as client,
    ):
        yield client


async def off_loop(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A blocking call (the sync reviewer client) on a thread."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def call_in_background(url: str, tool: str, arguments: dict[str, Any]) -> Future:
    """One tool call on a thread of its own (its own event loop), for sync tests."""

    async def call() -> Any:
        async with connect(url) as client:
            return await client.call_tool(tool, arguments)

    return background(asyncio.run, call())
