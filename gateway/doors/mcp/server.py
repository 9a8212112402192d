"""``/mcp``: the MCP server on streamable HTTP, behind the client keys.

Written with the official ``mcp`` SDK's low-level ``Server`` (the tool results
are built here whole: ``request_permission`` must return exactly one text
block). The SDK's session manager runs in **stateless** mode: every request
stands alone, nothing about a client is kept between requests, so any process
sharing the PostgreSQL store can serve any request and no sticky sessions are
needed. The waiting is on the task, which lives in the store.

Before the SDK sees a request, the client key is checked (``Authorization:
Bearer``, ``[auth] client_keys``): a 401 in JSON-RPC's error envelope without a
valid one. ``Host``, ``Origin`` and the body limit are checked by the app's
guard, as for every door.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import mcp_types as types
import orjson
from mcp.server.lowlevel.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError

from gateway.auth import ClientAuth
from gateway.config.models import HUMAN_MODEL
from gateway.doors.mcp import results
from gateway.doors.mcp.cancels import Cancels
from gateway.doors.mcp.shaper import McpShaper
from gateway.doors.mcp.tools import (
    TOOLS,
    ArgumentError,
    AskHuman,
    RequestPermission,
    parse_arguments,
)
from gateway.doors.mcp.waiting import Asker
from gateway.doors.mcp.work import DIALECT, MODEL, Caller, work_for
from gateway.errors import GatewayError
from gateway.http.asgi import header, peer, send_whole
from gateway.http.body import read_body
from gateway.human.work import Answered, ClientLeft, HumanRoute
from gateway.metrics import Metrics
from gateway.services import Services

__all__ = ["DIALECT", "MODEL", "PATH", "McpDoor", "McpShaper", "mcp_door", "send_error"]
PATH = "/mcp"
CALLER = "hitl.caller"  # the scope key the door leaves the checked caller under
SERVER_NAME = "hitl-gateway"
INSTRUCTIONS = (
    "Tools that reach a person through the hitl-gateway's review queue. A call waits "
    "until someone answers, which may take minutes."
)
NO_STREAM = "This server sends nothing unasked: there is no stream to open with GET."
# JSON-RPC's code for a request the server will not take (the transport's own errors use it).
INVALID_REQUEST = -32600
_TOOL_NAMES = frozenset(tool.name for tool in TOOLS)


def error_body(error: GatewayError) -> bytes:
    """A gateway error in JSON-RPC's envelope, the gateway's ``code`` under ``data``."""
    data = {"status": error.status, "type": error.type, "code": error.code}
    body = {"code": INVALID_REQUEST, "message": error.message, "data": data}
    return orjson.dumps({"jsonrpc": "2.0", "id": None, "error": body})


async def send_error(send, error: GatewayError) -> None:
    headers = [(b"content-type", b"application/json")]
    headers += [(k.encode(), v.encode()) for k, v in error.headers.items()]
    if error.status == 405:
        headers.append((b"allow", b"POST, DELETE"))
    if error.status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send_whole(send, error.status, headers, error_body(error))


class McpDoor:
    """The ASGI app at ``/mcp``; ``run()`` belongs in the app's lifespan."""

    def __init__(self, asker: Asker, auth: ClientAuth, metrics: Metrics, max_body: int) -> None:
        self.asker = asker
        self.auth = auth
        self.metrics = metrics
        self.max_body = max_body
        self.cancels = Cancels()
        self.server: Server[Any] = Server(
            SERVER_NAME,
            instructions=INSTRUCTIONS,
            on_list_tools=self.list_tools,
            on_call_tool=self.call_tool,
        )
        self.sessions = StreamableHTTPSessionManager(
            self.server, stateless=True, max_request_body_size=max_body
        )

    @contextlib.asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        async with self.sessions.run():
            yield

    async def __call__(self, scope, receive, send) -> None:
        try:
            client = self.auth.identify(header(scope, b"authorization"), peer(scope))
            if scope["method"] == "GET":
                # Stateless: no server-initiated messages, so no standalone stream to
                # hold open (the spec's answer for that is 405; clients then go on).
                raise GatewayError(405, NO_STREAM, code="method_not_allowed")
            address = peer(scope)
            if scope["method"] == "POST":
                # Read here (the guard's counter still limits it) for the cancels the
                # SDK cannot route in stateless mode, then handed on as it came.
                body = await read_body(scope, receive, self.max_body)
                self.cancels.heard(client, address, body)
                receive = replay(body, receive)
        except GatewayError as error:
            await send_error(send, error)
            return
        except ConnectionResetError:
            return  # the client left before its body arrived
        scope[CALLER] = Caller(client, header(scope, b"x-session-id"), address)
        await self.sessions.handle_request(scope, receive, send)

    async def list_tools(self, ctx, params) -> types.ListToolsResult:
        return types.ListToolsResult(tools=TOOLS)

    async def call_tool(self, ctx, params: types.CallToolRequestParams) -> types.CallToolResult:
        if params.name not in _TOOL_NAMES:
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name}")
        try:
            arguments = parse_arguments(params.name, params.arguments)
        except ArgumentError as error:
            return results.tool_error(f"Invalid arguments: {error}")
        caller: Caller = ctx.request.scope[CALLER]
        timeout_s = self.asker.route.timeout_s
        if isinstance(arguments, AskHuman) and arguments.timeout_s is not None:
            timeout_s = min(arguments.timeout_s, timeout_s)
        run = None
        if isinstance(arguments, RequestPermission):
            run = await self.asker.run_of(arguments, caller)
        original = {"name": params.name, "arguments": params.arguments or {}}
        work = work_for(arguments, original, caller, timeout_s, run)
        progress = None
        if ctx.meta is not None and ctx.meta.get("progress_token") is not None:

            async def progress(waited: float, total: float) -> None:
                message = f"waiting for a person ({waited:.0f} s of {total:g} s)"
                await ctx.session.report_progress(round(waited, 1), total, message)

        key = (caller.client, caller.address, ctx.request_id)
        try:
            with self.cancels.waiting(key) as cancelled:
                outcome = await self.asker.ask(work, progress, cancelled)
        except BaseException:
            self.metrics.request_done(MODEL, "human", 499, api="mcp")  # cancelled or gone
            raise
        if isinstance(outcome, Answered):
            self.metrics.request_done(MODEL, "human", 200, api="mcp")
            return results.answered(outcome.task)
        if isinstance(outcome, ClientLeft):  # cancelled by notifications/cancelled
            self.metrics.request_done(MODEL, "human", 499, api="mcp")
            return results.tool_error("The call was cancelled.")  # the client ignores it
        self.metrics.request_done(MODEL, "human", outcome.error.status, api="mcp")
        return results.ended(outcome.task, outcome.error, timeout_s)


def replay(body: bytes, receive):
    """``receive`` that gives the body already read, then whatever comes next."""
    given = False

    async def again():
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return again


def mcp_door(services: Services) -> McpDoor:
    """The door as configured: ``[mcp] timeout_s``, else model ``human``'s timeout."""
    config = services.config
    human = services.router.resolve(HUMAN_MODEL)
    assert isinstance(human, HumanRoute)
    route = HumanRoute(config.mcp.timeout_s or human.timeout_s, config.mcp.progress_s)
    return McpDoor(
        Asker(services.human, route),
        services.client_auth,
        services.metrics,
        config.server.max_body_bytes,
    )
