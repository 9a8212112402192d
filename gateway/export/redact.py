"""Redaction and image handling applied to every string of an exported line.

``[export] redact`` patterns replace each match in every exported string (keys
stay) with ``[REDACTED]``. Client and upstream keys are never stored, so never
exported; redaction is for what agents put in prompts (e-mail addresses,
account numbers). Image data URLs are left to ``ImageFiles`` and not searched.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from gateway.export.images import ImageFiles

MASK = "[REDACTED]"


class LineFinisher:
    """Applies redaction and image extraction to a line, in one walk."""

    def __init__(self, patterns: Sequence[str] = (), images: ImageFiles | None = None) -> None:
        self.pattern = re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None
        self.images = images
        self.redactions = 0

    def __call__(self, value: Any) -> Any:
        if self.pattern is None and self.images is None:
            return value
        return self._walk(value)

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._string(value)
        if isinstance(value, dict):
            return {key: self._walk(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._walk(item) for item in value]
        return value

    def _string(self, text: str) -> str:
        if text.startswith("data:image/"):
            if self.images is not None:
                return self.images.path_for(text) or text
            return text
        if self.pattern is None:
            return text
        redacted, count = self.pattern.subn(MASK, text)
        self.redactions += count
        return redacted
