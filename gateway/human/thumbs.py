"""Reduced copies of a task's screenshots, and their sizes, for the dashboard.

A fifty-step session holds fifty full screenshots; the timeline shows them as
small thumbnails and loads a full image only when asked. Whatever Pillow cannot
read, or an image over the door's pixel cap (stored before the cap existed), is
``None``: the caller says 404.

Memory is the point here. A screenshot decodes to 4 bytes a pixel whatever its
file size (a 40-megapixel PNG of one colour is 100 KB on the wire and 160 MB
decoded), so:

- one thread per process decodes every image, so at most one is decoded at a
  time (and glibc keeps one arena for them, not one per pool thread);
- each image is decoded once, reduced while decoding where the format allows
  (JPEG's ``draft`` decodes at 1/2 to 1/8 scale) and otherwise reduced in its
  own mode by an integer factor before anything else copies it, into a *source*
  at most ``MAX_WIDTH`` wide from which every thumbnail width is made;
- the sources and the thumbnails are cached, each cache bounded by bytes;
- after a large decode the freed memory is handed back to the system.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import io
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

from PIL import Image

from gateway.human.images import MAX_PIXELS, image_size

MIN_WIDTH = 32
MAX_WIDTH = 1024
MAX_SOURCE_HEIGHT = 4 * MAX_WIDTH  # a very tall page's source: 1024x4096, 16 MB at most
THUMB_CACHE_BYTES = 16 * 2**20  # about 800 timeline thumbnails of 20 KB
SOURCE_CACHE_BYTES = 48 * 2**20  # about 20 reduced 1920x1080 screenshots (2.4 MB each)
ENTRY_BYTES = 200  # what a cache entry costs besides its data (key, node): bounds empty ones
JPEG_QUALITY = 80
TRIM_AFTER_PIXELS = 4_000_000  # decodes above 16 MB: give the freed memory back

# One decoding thread for the whole process (every Thumbnails shares it).
_DECODER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="thumbnails")

V = TypeVar("V")


class ByteBoundCache(Generic[V]):
    """A least-recently-used cache holding at most ``limit`` bytes (as ``weigh`` counts them)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.bytes = 0
        self._entries: OrderedDict[tuple[str, int, int], tuple[V, int]] = OrderedDict()

    def __contains__(self, key: tuple[str, int, int]) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: tuple[str, int, int]) -> V:
        self._entries.move_to_end(key)
        return self._entries[key][0]

    def put(self, key: tuple[str, int, int], value: V, size: int) -> None:
        size += ENTRY_BYTES
        if key in self._entries:
            self.bytes -= self._entries.pop(key)[1]
        self._entries[key] = (value, size)
        self.bytes += size
        while self.bytes > self.limit and len(self._entries) > 1:
            self.bytes -= self._entries.popitem(last=False)[1][1]


def _release_memory() -> None:
    """Hand freed heap back to the system (glibc keeps it otherwise: 2.6 GB was seen)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return libc if libc is not None and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


_LIBC = _libc()


def _decode(data: bytes) -> Image.Image | None:
    """``_source``, then, after a large decode, the freed memory handed back.

    The trim runs here, once ``_source`` has returned, because only then is
    every name its frame had for the full-size decode gone: a second name for it
    there once kept the decode (155 MB for 38 megapixels) alive through the trim,
    and the freed memory stayed with the process.
    """
    size = image_size(data)
    source = _source(data, size)
    pixels = size[0] * size[1] if size is not None and size[0] >= 0 else 0
    if TRIM_AFTER_PIXELS < pixels <= MAX_PIXELS:  # decoded (the cap refuses larger ones)
        _release_memory()
    return source


def _source(data: bytes, size: tuple[int, int] | None) -> Image.Image | None:
    """The image decoded once, in RGB, fitting ``MAX_WIDTH`` x ``MAX_SOURCE_HEIGHT``."""
    if size is None or size[0] < 0 or size[0] * size[1] > MAX_PIXELS:
        return None
    width, height = size
    scale = min(1.0, MAX_WIDTH / width, MAX_SOURCE_HEIGHT / height)
    box = (max(1, round(width * scale)), max(1, round(height * scale)))
    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.draft("RGB", box)  # JPEG: decoded at the smallest scale still >= box
            opened.load()
            image: Image.Image = opened
            factor = min(image.width // box[0], image.height // box[1])
            if factor >= 2 and image.mode in ("L", "LA", "RGB", "RGBA", "RGBX", "I", "F"):
                image = image.reduce(factor)  # before any copy: the full size exists once
            source = image.convert("RGB")
        del opened, image  # the full-size decode is freed now, before the resize
        source.thumbnail(box, Image.Resampling.LANCZOS)
        return source
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


def _jpeg(source: Image.Image, width: int) -> bytes:
    small = source
    if source.width > width:
        small = source.resize(
            (width, max(1, round(source.height * width / source.width))),
            Image.Resampling.LANCZOS,
        )
    out = io.BytesIO()
    small.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


class Thumbnails:
    """Thumbnails by (task, image, width), made from one cached source per image.

    The source cache is touched only on the decoding thread; the thumbnail
    cache only on the event loop.
    """

    def __init__(
        self, thumb_bytes: int = THUMB_CACHE_BYTES, source_bytes: int = SOURCE_CACHE_BYTES
    ) -> None:
        self.thumbs: ByteBoundCache[bytes | None] = ByteBoundCache(thumb_bytes)
        self.sources: ByteBoundCache[Image.Image | None] = ByteBoundCache(source_bytes)

    @staticmethod
    def width(asked: str | None, default: int = 320) -> int:
        try:
            value = int(asked) if asked else default
        except ValueError:
            value = default
        return min(MAX_WIDTH, max(MIN_WIDTH, value))

    async def get(self, task_id: str, index: int, width: int, data: bytes) -> bytes | None:
        key = (task_id, index, width)
        if key in self.thumbs:
            return self.thumbs.get(key)
        loop = asyncio.get_running_loop()
        thumb = await loop.run_in_executor(_DECODER, self._make, task_id, index, width, data)
        self.thumbs.put(key, thumb, len(thumb or b""))
        return thumb

    def _make(self, task_id: str, index: int, width: int, data: bytes) -> bytes | None:
        key = (task_id, index, 0)
        if key in self.sources:
            source = self.sources.get(key)
        else:
            source = _decode(data)
            # Pillow holds RGB as 4 bytes a pixel.
            self.sources.put(key, source, source.width * source.height * 4 if source else 0)
        return _jpeg(source, width) if source is not None else None

    @staticmethod
    async def sizes(images: list[bytes]) -> list[tuple[int, int] | None]:
        """Each image's (width, height), read from its header (``None``: unreadable)."""
        if not images:
            return []

        def read(data: bytes) -> tuple[int, int] | None:
            size = image_size(data)
            return size if size is not None and size[0] >= 0 else None

        return await asyncio.to_thread(lambda: [read(data) for data in images])
