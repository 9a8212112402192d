"""The hybrid service's ``ModelPort``, implemented by the upstream chain.

``UpstreamModel.open`` tries the route's upstream and its fallbacks like a
forward route; the reply it returns is read whole only when the policy judges it,
else the door relays the aiohttp response as it comes (``UpstreamReply.response``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiohttp

from gateway.errors import GatewayError
from gateway.forward.upstream import HeadReader, Target, UpstreamFailure, open_chain, relay
from gateway.http.asgi import Headers
from gateway.hybrid.model import ModelBroke, ModelUnavailable

_NOT_REPLAYED = frozenset({b"content-length", b"content-encoding"})


class UpstreamReply:
    """An upstream's reply whose head has arrived."""

    __slots__ = ("name", "response", "status")

    def __init__(self, name: str, response: aiohttp.ClientResponse) -> None:
        self.name = name
        self.response = response
        self.status = response.status

    async def read(self) -> bytes:
        try:
            return await self.response.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise ModelBroke(str(error)) from None

    def headers(self) -> list[tuple[bytes, bytes]]:
        raw = self.response.raw_headers
        return [(k.lower(), v) for k, v in raw if k.lower() not in _NOT_REPLAYED]

    def release(self) -> None:
        self.response.release()


class UpstreamModel:
    """A hybrid route's model: its upstream, then each fallback."""

    __slots__ = ("chain", "headers", "model", "path")

    def __init__(
        self,
        chain: Sequence[Target],
        path: str,
        model: str,
        headers: Sequence[tuple[bytes, bytes]],
    ) -> None:
        self.chain = chain
        self.path = path
        self.model = model
        self.headers = headers

    async def open(self, body: bytes) -> UpstreamReply:
        try:
            target, response = await open_chain(
                self.chain, self.path, body, self.model, self.headers
            )
        except (GatewayError, UpstreamFailure) as error:
            raise ModelUnavailable(error) from None
        return UpstreamReply(target.upstream.name, response)


async def relay_reply(
    reply: UpstreamReply,
    send: Any,
    receive: Any,
    headers: Headers,
    copy: list[bytes] | None,
    head_reader: HeadReader | None = None,
) -> None:
    """A hybrid route's reply, relayed as it comes; ``copy`` collects its body (a shadow
    sample reads the reply the client got, without holding it back); ``head_reader``
    as for ``relay``."""
    if copy is None:
        await relay(reply.response, send, receive, headers, head_reader)
        return

    async def copying(message: Any) -> None:
        if message["type"] == "http.response.body":
            copy.append(message.get("body", b""))
        await send(message)

    await relay(reply.response, copying, receive, headers, head_reader)
