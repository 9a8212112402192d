"""Screenshots in exported lines: inline data URLs, or files named by content hash.

By default an image stays in its line as the ``data:`` URL the agent sent. With
a directory (``export --images DIR``) each image is decoded and written once, as
``<sha256>.<ext>``, and the line references it by a path relative to where the
lines are written, so the lines and the folder can be moved together. One image
is held at a time.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from gateway.human.request import decode_image

EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}


class ImageFiles:
    """Writes each distinct image once into ``directory``; returns its relative path."""

    def __init__(self, directory: str | os.PathLike[str], relative_to: str | os.PathLike[str]):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.relative_to = Path(relative_to)
        self.written = 0  # files written by this export
        self.referenced = 0  # image references replaced (a repeated image counts each time)

    def path_for(self, url: str) -> str | None:
        """The relative path of the image in ``url`` (written if new); ``None`` if not one."""
        decoded = decode_image(url)
        if decoded is None:
            return None
        media_type, data = decoded
        name = f"{hashlib.sha256(data).hexdigest()}.{EXTENSIONS.get(media_type, 'bin')}"
        target = self.directory / name
        if not target.exists():
            partial = target.with_suffix(".part")
            partial.write_bytes(data)
            partial.replace(target)  # never a half-written file under the final name
            self.written += 1
        self.referenced += 1
        return Path(os.path.relpath(target, self.relative_to)).as_posix()
