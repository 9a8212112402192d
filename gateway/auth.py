"""Client keys and reviewer identities.

Keys are kept only as SHA-256 digests, so a lookup is one hash and one set
probe, and no key sits in memory in the clear after start-up.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from gateway.errors import unauthorized

ANONYMOUS = "anonymous"


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if any."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class ClientAuth:
    """Checks ``Authorization: Bearer`` against ``[auth] client_keys``."""

    def __init__(self, keys: list[str]) -> None:
        self._digests = frozenset(digest(key) for key in keys)

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def identify(self, authorization: str | None) -> bytes:
        """Return the caller's key digest (empty when auth is off), or raise 401.

        The digest identifies the client for retry re-attach without keeping its key.
        """
        token = bearer_token(authorization)
        if not self._digests:
            return digest(token) if token else b""
        if token is None:
            raise unauthorized("Missing API key: send 'Authorization: Bearer <key>'.")
        key = digest(token)
        if key not in self._digests:
            raise unauthorized("Invalid API key.")
        return key


@dataclass
class ReviewerAuth:
    """Maps reviewer tokens and dashboard session cookies to reviewer names."""

    tokens: Mapping[str, str]
    idle_s: float
    _by_digest: dict[bytes, str] = field(init=False)
    _sessions: dict[str, tuple[str, float]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._by_digest = {digest(token): name for name, token in self.tokens.items()}

    @property
    def enabled(self) -> bool:
        return bool(self._by_digest)

    def name_for_token(self, token: str | None) -> str | None:
        if token is None:
            return None
        wanted = digest(token)
        for known, name in self._by_digest.items():
            if hmac.compare_digest(known, wanted):
                return name
        return None

    def open_session(self, name: str) -> str:
        session = secrets.token_urlsafe(32)
        self._sessions[session] = (name, time.monotonic())
        return session

    def close_session(self, session: str | None) -> None:
        if session:
            self._sessions.pop(session, None)

    def name_for_session(self, session: str | None) -> str | None:
        """The reviewer behind a live cookie; using it renews its idle timer."""
        if not session or session not in self._sessions:
            return None
        name, last_seen = self._sessions[session]
        now = time.monotonic()
        if now - last_seen > self.idle_s:
            del self._sessions[session]
            return None
        self._sessions[session] = (name, now)
        return name

    def reviewer(
        self, authorization: str | None, cookie: str | None, header_name: str | None
    ) -> str:
        """Who is asking: the token's or cookie's name, else ``X-Reviewer``; or raise 401."""
        if not self.enabled:
            return (header_name or "").strip()[:64] or ANONYMOUS
        name = self.name_for_token(bearer_token(authorization)) or self.name_for_session(cookie)
        if name is None:
            raise unauthorized("Reviewer login required.")
        return name
