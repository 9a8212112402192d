"""Finding the ``model`` field of a multipart/form-data upload as it streams in.

Audio transcriptions and image edits are uploads that go to the upstream the
``model`` field names, with that value renamed and every other byte unchanged.
The finder reads parts only until the model's value is complete: what came
before it is handed back for the caller to keep (on disk when large), and the
rest of the upload can be streamed on without being read into memory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.errors import bad_request

MAX_HEADERS = 16 * 1024  # a part's header block: names and a content type
MAX_VALUE = 1024  # the model field's value
_BOUNDARY = re.compile(r'boundary=(?:"([^"]{1,70})"|([^;,\s]{1,70}))', re.IGNORECASE)
_NAME = re.compile(rb'(?:^|;)\s*name="([^"]*)"', re.IGNORECASE)
_FILENAME = re.compile(rb"(?:^|;)\s*filename\*?=", re.IGNORECASE)

_SEEK, _HEADERS, _VALUE, _DONE = range(4)


def boundary_of(content_type: str | None) -> bytes | None:
    """The boundary of a ``multipart/form-data`` content type, or ``None``."""
    if not content_type or not content_type.lower().startswith("multipart/form-data"):
        return None
    match = _BOUNDARY.search(content_type)
    if match is None:
        return None
    return (match.group(1) or match.group(2)).encode("latin-1")


@dataclass(frozen=True, slots=True)
class ModelValue:
    """The model field found: its value, and the bytes read around it."""

    model: str
    before: bytes  # the bytes since the last flush, up to the value
    after: bytes  # the bytes already read after the value


class ModelField:
    """Feed an upload's chunks in order; ``feed`` returns the model field once complete.

    Bytes the finder no longer needs are taken with ``flushed()``; they, then
    ``before``, the (renamed) value and ``after`` are the body up to where
    reading stopped.
    """

    def __init__(self, boundary: bytes) -> None:
        self._delimiter = b"\r\n--" + boundary
        # A CRLF in front lets the first delimiter match like every later one; it is
        # dropped from what is flushed.
        self._buffer = bytearray(b"\r\n")
        self._lead = 2
        self._state = _SEEK
        self._scan = 0  # where in the buffer the next search starts
        self._value_at = 0
        self._out: list[bytes] = []

    def flushed(self) -> bytes:
        """Body bytes, in order, that no longer need to be held."""
        out = b"".join(self._out)
        self._out.clear()
        return out

    def feed(self, chunk: bytes) -> ModelValue | None:
        self._buffer += chunk
        while True:
            if self._state == _DONE:
                return None  # past the closing delimiter: no model field
            if self._state == _SEEK:
                if not self._seek():
                    return None
            elif self._state == _HEADERS:
                if not self._headers():
                    return None
            else:
                return self._value()

    def remainder(self) -> bytes:
        """What is held and not flushed, once the upload has ended without a model field."""
        return bytes(self._buffer[self._lead :])

    @staticmethod
    def missing() -> None:
        """The upload ended without a model field: the client's 400."""
        raise bad_request("you must provide a model parameter", param="model")

    def _flush(self, upto: int) -> None:
        if upto <= 0:
            return
        out = bytes(self._buffer[:upto])
        if self._lead:
            dropped = min(self._lead, len(out))
            out = out[dropped:]
            self._lead -= dropped
        if out:
            self._out.append(out)
        del self._buffer[:upto]
        self._scan = max(self._scan - upto, 0)

    def _seek(self) -> bool:
        found = self._buffer.find(self._delimiter, self._scan)
        if found < 0:
            # Keep only what could be the start of a delimiter split across chunks.
            self._flush(len(self._buffer) - len(self._delimiter) + 1)
            self._scan = 0
            return False
        self._flush(found)
        self._scan = len(self._delimiter)
        self._state = _HEADERS
        return True

    def _headers(self) -> bool:
        start = len(self._delimiter)
        if self._buffer[start : start + 2] == b"--":
            self._state = _DONE  # the closing delimiter: no model part
            return False
        end = self._buffer.find(b"\r\n\r\n", start)
        if end < 0:
            if len(self._buffer) > MAX_HEADERS:
                raise bad_request("A multipart part's headers are too long.")
            return False
        block = bytes(self._buffer[start:end])
        disposition = next(
            (
                line.partition(b":")[2]
                for line in block.split(b"\r\n")
                if line.lower().startswith(b"content-disposition:")
            ),
            b"",
        )
        name = _NAME.search(disposition)
        is_model = name is not None and name.group(1) == b"model"
        if is_model and not _FILENAME.search(disposition):
            self._value_at = end + 4
            self._scan = end + 4
            self._state = _VALUE
        else:
            self._scan = end + 4
            self._state = _SEEK
        return True

    def _value(self) -> ModelValue | None:
        found = self._buffer.find(self._delimiter, self._scan)
        if found < 0:
            if len(self._buffer) - self._value_at > MAX_VALUE:
                raise bad_request("The model field is too long.", param="model")
            self._scan = max(len(self._buffer) - len(self._delimiter) + 1, self._value_at)
            return None
        raw = bytes(self._buffer[self._value_at : found])
        try:
            model = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise bad_request("The model field is not UTF-8 text.", param="model") from None
        before = bytes(self._buffer[self._lead : self._value_at])
        after = bytes(self._buffer[found:])
        return ModelValue(model, before, after)
