"""Reduced copies of a task's screenshots, and their sizes, for the dashboard.

A fifty-step session holds fifty full screenshots; the timeline shows them as
small thumbnails and loads a full image only when asked. Decoding runs on a
worker thread (Pillow releases the GIL), never on the event loop. Whatever
Pillow cannot read (or a decompression bomb) is ``None``: the caller says 404.
"""

from __future__ import annotations

import asyncio
import io
from collections import OrderedDict

from PIL import Image

MIN_WIDTH = 32
MAX_WIDTH = 1024
CACHE_ENTRIES = 512  # thumbnails kept in memory (a few KB each)
JPEG_QUALITY = 80


def _thumbnail(data: bytes, width: int) -> bytes | None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width <= width:
                height = image.height
            else:
                height = max(1, round(image.height * width / image.width))
                image.draft("RGB", (width, height))  # JPEG: decode at a reduced scale
            small = image.convert("RGB")
            small.thumbnail((width, height), Image.Resampling.LANCZOS)
            out = io.BytesIO()
            small.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
            return out.getvalue()
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def _size(data: bytes) -> tuple[int, int] | None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size  # read from the header: nothing is decoded
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


class Thumbnails:
    """Thumbnails made on a thread and kept in a small cache by (task, image, width)."""

    def __init__(self, entries: int = CACHE_ENTRIES) -> None:
        self.entries = entries
        self._cache: OrderedDict[tuple[str, int, int], bytes | None] = OrderedDict()

    @staticmethod
    def width(asked: str | None, default: int = 320) -> int:
        try:
            value = int(asked) if asked else default
        except ValueError:
            value = default
        return min(MAX_WIDTH, max(MIN_WIDTH, value))

    async def get(self, task_id: str, index: int, width: int, data: bytes) -> bytes | None:
        key = (task_id, index, width)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        thumb = await asyncio.to_thread(_thumbnail, data, width)
        self._cache[key] = thumb
        while len(self._cache) > self.entries:
            self._cache.popitem(last=False)
        return thumb

    @staticmethod
    async def sizes(images: list[bytes]) -> list[tuple[int, int] | None]:
        """Each image's (width, height), read from its header."""
        if not images:
            return []
        return await asyncio.to_thread(lambda: [_size(data) for data in images])
