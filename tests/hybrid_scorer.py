"""A custom confidence scorer, loaded by the gateway as ``hybrid_scorer:shortness``."""

from typing import Any


def shortness(request: dict[str, Any], reply: dict[str, Any]) -> float:
    """1.0 for an answer of at most 20 characters, else 0.0."""
    content = reply["choices"][0]["message"].get("content") or ""
    return 1.0 if len(content) <= 20 else 0.0
