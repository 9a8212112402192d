"""Client keys and reviewer identities, and the back-off on failed guesses.

Keys and tokens are compared as keyed hashes (HMAC-SHA256 with the
installation's secret, see :func:`load_secret`), and the digests stored with
tasks (their owner) are worthless without the secret file. A client key is
hashed once: a configured key, once seen, maps to its digest in a dict (about
2.5 us of HMAC saved per forwarded request); wrong keys are never remembered,
so that map holds at most the keys the config already holds.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gateway.errors import GatewayError, unauthorized
from gateway.human.store import Store

ANONYMOUS = "anonymous"
SECRET_BYTES = 32


def load_secret(path: Path) -> bytes:
    """The installation's secret, created (mode 0600) on first start.

    Written to a temporary file and linked into place, so processes starting
    together all end up with the one secret that won, never a half-written one.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(secrets.token_bytes(SECRET_BYTES))
            with contextlib.suppress(FileExistsError):  # another process was first
                os.link(draft, path)
        finally:
            draft.unlink()
    secret = path.read_bytes()
    if len(secret) < SECRET_BYTES:
        raise ValueError(f"it is shorter than {SECRET_BYTES} bytes")
    return secret


def keyed_digest(secret: bytes, value: str) -> bytes:
    return hmac.new(secret, value.encode(), hashlib.sha256).digest()


def _session_key(session: str) -> str:
    """Sessions are stored by digest: the database never holds a usable cookie."""
    return hashlib.sha256(session.encode()).hexdigest()


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if any."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


@dataclass(slots=True)
class _Failures:
    count: int
    until: float  # monotonic time before which this address is refused
    last: float


class Backoff:
    """Slows down guessing: after a few failures from one address, a growing wait.

    The first ``free`` failures (``auth.backoff_after_failures``) cost nothing;
    each one after that blocks the address for twice as long as the last (1 s,
    2 s, 4 s ... up to ``MAX_WAIT_S``), and a blocked address is refused even
    with a right key, so a guess costs the wait. A success clears the address;
    quiet addresses are forgotten, and at most ``MAX_ADDRESSES`` are remembered
    (the oldest go first).
    """

    MAX_WAIT_S = 60.0
    FORGET_AFTER_S = 900.0
    MAX_ADDRESSES = 10_000

    def __init__(self, what: str, free: int = 5) -> None:
        self.what = what
        self.free = free
        self._failures: OrderedDict[str, _Failures] = OrderedDict()

    def check(self, address: str | None) -> None:
        """Raise a 429 while ``address`` is blocked."""
        if address is None or address not in self._failures:
            return
        record = self._failures[address]
        now = time.monotonic()
        if now - record.last > self.FORGET_AFTER_S:
            del self._failures[address]
        elif record.until > now:
            wait = max(1, round(record.until - now))
            raise GatewayError(
                429,
                f"Too many failed {self.what} from your address: retry in {wait} s.",
                type="rate_limit_error",
                code="too_many_failed_attempts",
                retry=False,
                headers={"retry-after": str(wait)},
            )

    def failed(self, address: str | None) -> None:
        if address is None:
            return
        now = time.monotonic()
        record = self._failures.pop(address, None) or _Failures(0, 0.0, now)
        record.count += 1
        record.last = now
        if record.count > self.free:
            record.until = now + min(2.0 ** (record.count - self.free - 1), self.MAX_WAIT_S)
        self._failures[address] = record
        while len(self._failures) > self.MAX_ADDRESSES:
            self._failures.popitem(last=False)

    def succeeded(self, address: str | None) -> None:
        if self._failures:
            self._failures.pop(address, None)  # type: ignore[arg-type]


class ClientAuth:
    """Checks ``Authorization: Bearer`` against ``[auth] client_keys``."""

    def __init__(self, keys: list[str], secret: bytes, free_failures: int = 5) -> None:
        self._secret = secret
        self._digests = frozenset(keyed_digest(secret, key) for key in keys)
        self._known: dict[str, bytes] = {}  # configured keys seen so far -> digest
        self.backoff = Backoff("API keys", free_failures)

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def identify(self, authorization: str | None, address: str | None = None) -> bytes:
        """Return the caller's key digest (empty when auth is off), or raise 401 (or 429).

        The digest identifies the client for retry re-attach without keeping its key.
        ``address`` (the peer's IP) is what the back-off on wrong keys counts by.
        """
        token = bearer_token(authorization)
        if not self._digests:
            return keyed_digest(self._secret, token) if token else b""
        self.backoff.check(address)
        if token is None:
            raise unauthorized("Missing API key: send 'Authorization: Bearer <key>'.")
        key = self._known.get(token)
        if key is None:
            key = keyed_digest(self._secret, token)
            if key not in self._digests:
                self.backoff.failed(address)
                raise unauthorized("Invalid API key.")
            self._known[token] = key
        self.backoff.succeeded(address)
        return key


@dataclass
class ReviewerAuth:
    """Maps reviewer tokens and dashboard session cookies to reviewer names."""

    tokens: Mapping[str, str]
    idle_s: float
    secret: bytes
    store: Store  # sessions live there, so a cookie from one process works on all
    free_failures: int = 5
    groups: Mapping[str, frozenset[str] | None] = field(default_factory=dict)
    backoff: Backoff = field(init=False)
    _by_digest: dict[bytes, str] = field(init=False)

    def __post_init__(self) -> None:
        self.backoff = Backoff("reviewer tokens", self.free_failures)
        self._by_digest = {
            keyed_digest(self.secret, token): name for name, token in self.tokens.items()
        }

    @property
    def enabled(self) -> bool:
        return bool(self._by_digest)

    def name_for_token(self, token: str | None, address: str | None = None) -> str | None:
        """The reviewer a token names; a wrong token counts against ``address``."""
        if token is None:
            return None
        self.backoff.check(address)
        wanted = keyed_digest(self.secret, token)
        for known, name in self._by_digest.items():
            if hmac.compare_digest(known, wanted):
                self.backoff.succeeded(address)
                return name
        self.backoff.failed(address)
        return None

    def groups_of(self, name: str) -> frozenset[str] | None:
        """A reviewer's groups; ``None`` (every group) for a plain token or without tokens."""
        return self.groups.get(name)

    async def open_session(self, name: str) -> str:
        session = secrets.token_urlsafe(32)
        await self.store.open_session(_session_key(session), name, time.time())
        return session

    async def close_session(self, session: str | None) -> None:
        if session:
            await self.store.close_session(_session_key(session))

    async def name_for_session(self, session: str | None) -> str | None:
        """The reviewer behind a live cookie; using it renews its idle timer."""
        if not session:
            return None
        return await self.store.touch_session(_session_key(session), time.time(), self.idle_s)

    async def reviewer(
        self,
        authorization: str | None,
        cookie: str | None,
        header_name: str | None,
        address: str | None = None,
    ) -> str:
        """Who is asking: the token's or cookie's name, else ``X-Reviewer``; or raise 401."""
        if not self.enabled:
            return (header_name or "").strip()[:64] or ANONYMOUS
        name = await self.name_for_session(cookie) or self.name_for_token(
            bearer_token(authorization), address
        )
        if name is None:
            raise unauthorized("Reviewer login required.")
        return name
