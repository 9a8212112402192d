"""Upstream model servers: pooled aiohttp sessions, retries, fallbacks and the byte relay.

The relay writes each upstream chunk to the client as it arrives: no buffering,
no decompression, no re-encoding.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import aiohttp
import orjson

from gateway.config.models import UpstreamConfig
from gateway.errors import GatewayError, upstream_timeout, upstream_unreachable
from gateway.http.asgi import Receive, Scope, Send, disconnected

# Headers a client sends that must not reach an upstream: hop-by-hop ones, the
# client's own credentials, and ones aiohttp sets itself.
_NOT_FORWARDED = frozenset(
    {
        "host",
        "content-length",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "upgrade",
        "proxy-authorization",
        "proxy-connection",
        "authorization",
        "api-key",
        "x-api-key",
        "cookie",
        "openai-organization",
        "openai-project",
        "expect",
    }
)
_NOT_FORWARDED_RAW = frozenset(name.encode("latin-1") for name in _NOT_FORWARDED)
# Sent to an Anthropic upstream when the client named no version (the SDK always does).
ANTHROPIC_VERSION = "2023-06-01"
# Upstream reply headers that belong to the upstream connection, not the reply, and
# the two the gateway's server sets itself (sent twice otherwise).
_NOT_RELAYED = frozenset(
    {b"connection", b"keep-alive", b"transfer-encoding", b"upgrade", b"date", b"server"}
)


def _relayed_headers(response: aiohttp.ClientResponse) -> list[tuple[bytes, bytes]]:
    """An upstream reply's headers as the client gets them (names lower-cased once)."""
    headers = []
    for name, value in response.raw_headers:
        name = name.lower()
        if name not in _NOT_RELAYED:
            headers.append((name, value))
    return headers


class UpstreamFailure(Exception):
    """A final upstream error reply (429 or 5xx after retries), relayed as received."""

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        super().__init__(f"upstream answered {status}")
        self.status = status
        self.headers = headers
        self.body = body


class UpstreamBroke(Exception):
    """The upstream failed after its reply began: too late for an error status.

    The client's connection must then be closed before the reply's end, so it
    sees a broken reply rather than a short one that looks complete.
    """


class Upstream:
    """One upstream server and its keep-alive connection pool."""

    def __init__(self, name: str, config: UpstreamConfig) -> None:
        self.name = name
        self.config = config
        self.api = config.api
        extra = {k.lower(): v for k, v in config.headers.items()}
        if config.api == "anthropic":
            self.base_url = config.root_url
            if config.api_key:
                extra["x-api-key"] = config.api_key
        else:
            self.base_url = config.base_url
            if config.api_key:
                extra["authorization"] = f"Bearer {config.api_key}"
        self._extra_headers = extra
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=config.connect_timeout_s, sock_read=config.timeout_s
        )
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self.config.max_connections, limit_per_host=0, ttl_dns_cache=300
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            auto_decompress=False,
            # The client's own Accept-Encoding and User-Agent go through instead.
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type"),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def headers_for(self, client_headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
        """The client's headers as they go upstream: credentials swapped, hop-by-hop dropped."""
        headers = {}
        for raw_name, raw_value in client_headers:  # names as ASGI has them: lower-case
            if raw_name not in _NOT_FORWARDED_RAW:
                headers[raw_name.decode("latin-1")] = raw_value.decode("latin-1")
        headers.update(self._extra_headers)
        if self.api == "anthropic":
            headers.setdefault("anthropic-version", ANTHROPIC_VERSION)
        return headers

    async def send(
        self,
        method: str,
        path: str,
        body: bytes | AsyncIterable[bytes] | None,
        headers: dict[str, str],
    ) -> aiohttp.ClientResponse:
        """One HTTP exchange; connection errors and timeouts become gateway errors."""
        assert self._session is not None, "upstream not started"
        try:
            return await self._session.request(
                method, self.base_url + path, data=body, headers=headers
            )
        except (TimeoutError, aiohttp.ClientError) as failed:
            raise self._error(failed) from None

    def _error(self, failed: Exception) -> GatewayError:
        """A timeout or connection error as the gateway error the client gets."""
        if isinstance(failed, TimeoutError):
            return upstream_timeout(self.name)
        return upstream_unreachable(self.name)

    async def open(self, path: str, body: bytes, headers: dict[str, str]) -> aiohttp.ClientResponse:
        """POST with retries before the first byte: connect errors, 429 and 5xx.

        Returns the first reply worth relaying. Raises ``UpstreamFailure`` or a
        gateway error when every attempt failed.
        """
        assert self._session is not None, "upstream not started"
        retries = self.config.retries
        url = self.base_url + path
        for attempt in range(retries + 1):
            try:  # send()'s work, inline: one coroutine less per forwarded request
                response = await self._session.request("POST", url, data=body, headers=headers)
            except (TimeoutError, aiohttp.ClientError) as failed:
                error = self._error(failed)
                if attempt == retries or error.status == 504:
                    raise error from None  # timeouts are not retried: each costs timeout_s
                await asyncio.sleep(backoff(attempt))
                continue
            if response.status != 429 and response.status < 500:
                return response
            failure = await _consume(response)
            wait = retry_after(response.headers)
            if wait is None:  # "Retry-After: 0" means now, not the default backoff
                wait = backoff(attempt)
            if attempt == retries or wait > self.config.max_retry_wait_s:
                raise failure
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")


@dataclass(frozen=True, slots=True)
class Target:
    """A configured model as one upstream sees it."""

    model: str
    upstream: Upstream
    upstream_model: str


async def open_chain(
    chain: Sequence[Target],
    path: str,
    body: bytes,
    requested_model: str,
    client_headers: Iterable[tuple[bytes, bytes]],
    payload_for: Callable[[str], bytes] | None = None,
) -> tuple[Target, aiohttp.ClientResponse]:
    """Try the model, then its fallbacks, until one replies; raise the last failure.

    ``payload_for(upstream_model)`` builds a body that is not JSON (a multipart
    upload); by default ``model`` is spliced into the JSON body.
    """
    if not isinstance(client_headers, list | tuple):
        client_headers = list(client_headers)  # read once per target
    last: Exception | None = None
    for target in chain:
        if payload_for is None:
            payload = replace_model(body, requested_model, target.upstream_model)
        else:
            payload = payload_for(target.upstream_model)
        headers = target.upstream.headers_for(client_headers)
        try:
            return target, await target.upstream.open(path, payload, headers)
        except Exception as error:  # an UpstreamFailure or a GatewayError
            last = error
    assert last is not None
    raise last


# Reads the head of a reply (the bytes so far; whether the reply is complete) and says
# when it has seen enough: the relay holds the body back until then.
HeadReader = Callable[[bytearray, bool], Awaitable[bool]]


async def relay(
    response: aiohttp.ClientResponse,
    send: Send,
    receive: Receive,
    extra_headers: Sequence[tuple[bytes, bytes]] = (),
    head_reader: HeadReader | None = None,
) -> None:
    """Write an upstream reply to the ASGI client chunk by chunk, exactly as received.

    With ``head_reader``, the first bytes are held back until it has read what it
    needs (a forwarded response's id, recorded before the client can use it).
    """
    headers = _relayed_headers(response)
    headers.extend(extra_headers)
    watcher = None
    if response.content_type == "text/event-stream":
        # Long streams stop reading upstream as soon as the client leaves.
        watcher = asyncio.create_task(_close_on_disconnect(receive, response))
    content = response.content
    try:
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        if head_reader is not None:
            head = bytearray()
            while True:
                chunk = await content.readany()
                head += chunk
                ended = not chunk or content.at_eof()
                if await head_reader(head, ended) or ended:
                    break
            await send({"type": "http.response.body", "body": bytes(head), "more_body": not ended})
            if ended:
                return
        while chunk := await content.readany():
            # A reply whose end has arrived with this chunk (most replies that are
            # not streams) goes out in one message, not two.
            last = content.at_eof()
            await send({"type": "http.response.body", "body": chunk, "more_body": not last})
            if last:
                return
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except (aiohttp.ClientError, TimeoutError) as error:
        if watcher is None or not watcher.done():
            raise UpstreamBroke(f"upstream reply broke off: {error!r}") from error
    finally:
        if watcher is not None:
            watcher.cancel()
        response.release()


async def pass_on(
    upstream: Upstream,
    method: str,
    path: str,
    body: bytes | AsyncIterable[bytes] | None,
    scope: Scope,
    receive: Receive,
    send: Send,
    extra_headers: Sequence[tuple[bytes, bytes]] = (),
    length: int | None = None,
) -> int:
    """One request to one upstream, its reply relayed; returns the status.

    No retries: the body may be a stream that can be read only once. ``length``
    is the body's size when it is a stream of known size (sent as
    ``Content-Length`` rather than chunked).
    """
    headers = upstream.headers_for(scope["headers"])
    if length is not None:
        headers["content-length"] = str(length)
    response = await upstream.send(method, path, body, headers)
    await relay(response, send, receive, extra_headers)
    return response.status


async def _close_on_disconnect(receive: Receive, response: aiohttp.ClientResponse) -> None:
    await disconnected(receive)
    response.close()


async def _consume(response: aiohttp.ClientResponse) -> UpstreamFailure:
    try:
        body = await response.read()
    finally:
        response.release()
    headers = _relayed_headers(response)
    return UpstreamFailure(response.status, headers, body)


def backoff(attempt: int) -> float:
    """The OpenAI SDK's own schedule: 0.5 s doubling to 8 s, less up to a quarter."""
    return min(0.5 * 2**attempt, 8.0) * (1 - 0.25 * random.random())


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(float(millis) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None


def replace_model(body: bytes, old: str, new: str) -> bytes:
    """Rewrite the top-level ``model`` value, leaving every other byte as received.

    When ``"model"`` occurs exactly once, its value is spliced in place; in the
    rare body where it occurs more often, the body is re-serialised instead.
    """
    if old == new:
        return body
    key = b'"model"'
    if body.count(key) == 1:
        old_value = orjson.dumps(old)
        at = body.index(key) + len(key)
        # Look only at a small window: the colon, some whitespace and the value.
        window = body[at : at + 64 + len(old_value)].lstrip()
        if window.startswith(b":"):
            value = window[1:].lstrip()
            if value.startswith(old_value):
                start = body.index(value[:1], at + 1)
                return body[:start] + orjson.dumps(new) + body[start + len(old_value) :]
    data = orjson.loads(body)
    data["model"] = new
    return orjson.dumps(data)
