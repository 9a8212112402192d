"""The config's errors: the one line start-up prints, and the two that name a key.

``FieldError`` is raised by a table's own check and names a key inside that
table; ``KeyedError`` names a dotted key from the file's root. ``loading``
words either as ``dotted.key: problem``.
"""

from __future__ import annotations


class ConfigError(Exception):
    """A configuration problem, worded as the single line start-up prints."""

    def line(self, source: str | None) -> str:
        """The message, naming the file (``source``) when it does not already."""
        message = str(self)
        if message.startswith("config error"):
            return message
        return f"config error in {source or 'the built-in config'}: {message}"


class FieldError(ValueError):
    """A problem with one field of a table, named relative to that table."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class KeyedError(ValueError):
    """A problem named by its dotted key from the file's root (``models.x.upstream``)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message
