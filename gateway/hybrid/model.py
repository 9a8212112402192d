"""The model a hybrid route consults, as a port: the forwarding client implements it.

The hybrid service asks ``ModelPort.open`` for the model's reply and reads it
whole only when the policy must judge it. It never sees the HTTP client: a
failure before the first byte is ``ModelUnavailable`` (carrying the door's own
error, relayed as it came when no person steps in), a reply that breaks off is
``ModelBroke``. Reading the reply's wire format is the door's ``OutputReader``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gateway.human.outcome import HeldReply
from gateway.hybrid.output import ModelOutput


class ModelUnavailable(Exception):
    """The model could not be asked (unreachable, timed out, or an error status)."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause  # what the door sends when no person steps in


class ModelBroke(Exception):
    """The model's reply broke off after it had begun."""


class ModelReply(Protocol):
    """A reply whose status and headers have arrived; the body may still be coming."""

    name: str  # the upstream that answered (for metrics)
    status: int

    async def read(self) -> bytes:
        """The whole body (raises ``ModelBroke``)."""
        ...

    def headers(self) -> list[tuple[bytes, bytes]]:
        """The headers worth sending on with the body once it is read whole."""
        ...

    def release(self) -> None: ...


class ModelPort(Protocol):
    """Sends a request body to the model (the route's upstream chain)."""

    async def open(self, body: bytes) -> ModelReply:
        """The reply's head (raises ``ModelUnavailable``)."""
        ...


class OutputReader(Protocol):
    """A door's reading of its dialect's model replies."""

    def read(self, body: bytes, stream: bool) -> ModelOutput:
        """The answer in a reply body, JSON or SSE (raises ``ValueError``)."""
        ...

    def strip_logprobs(self, body: bytes, stream: bool) -> bytes:
        """The body without the logprobs the gateway asked for on the client's behalf."""
        ...


# -- outcomes a hybrid route adds to the human service's -------------------------------


@dataclass(frozen=True, slots=True)
class Relayed:
    """The policy reads nothing: the door relays the model's reply as it comes."""

    reply: ModelReply
    copy: list[bytes] | None = None  # the door appends the body's chunks (a shadow sample)


@dataclass(frozen=True, slots=True)
class Passed:
    """The model's whole reply stands (or is the model's own error, relayed as it came)."""

    reply: HeldReply
    confidence: float | None = None
    error: bool = False  # the model answered with an error status
