"""A request's screenshots, sized from their headers: the pixel cap checked at the door.

A PNG of one colour compresses about a thousandfold: 86 KB on the wire can be
a 9400x9400 image that takes 350 MB to decode. So a request that may become a
task has every inline image's size read from its header (nothing is decoded)
and one over ``MAX_PIXELS`` is a 400 naming it, before any task exists.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

from PIL import Image

from gateway.errors import bad_request
from gateway.human.request import decode_image, inline_images

# 8K (7680x4320) is 33 megapixels: 40 is ample for any display. Decoded as RGBX
# (4 bytes a pixel) the largest allowed screenshot takes 160 MB.
MAX_PIXELS = 40_000_000

# The gateway enforces its own, lower cap; Pillow's warning (above 89 megapixels) is noise.
warnings.simplefilter("ignore", Image.DecompressionBombWarning)


def image_size(data: bytes) -> tuple[int, int] | None:
    """An image's (width, height) read from its header, or ``None`` when Pillow cannot read it.

    Pillow refuses to open an image over 179 megapixels at all: that is ``(-1, -1)``.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size  # read from the header: nothing is decoded
    except Image.DecompressionBombError:
        return (-1, -1)
    except (OSError, ValueError, SyntaxError):
        return None


def check_image_sizes(data: dict[str, Any]) -> None:
    """Raise a 400 naming the first inline image over ``MAX_PIXELS``."""
    for number, (path, url) in enumerate(inline_images(data)):
        size = oversized(url)
        if size is not None:
            raise bad_request(
                f"Image {number} of the request ({path}) is {size}.",
                param=path.split(".")[0].split("[")[0],
                code="image_too_large",
            )


def oversized(url: str) -> str | None:
    """What is wrong with an inline image's size (for a message), or ``None`` when it fits.

    Only ``data:`` URLs are read; an image Pillow cannot read is not this check's
    business (the dashboard shows a placeholder for it).
    """
    decoded = decode_image(url)
    size = image_size(decoded[1]) if decoded else None
    if size is None:
        return None
    width, height = size
    if width >= 0 and width * height <= MAX_PIXELS:
        return None
    what = (
        "over 179 megapixels"
        if width < 0
        else f"{width}x{height} pixels ({width * height / 1e6:.1f} megapixels)"
    )
    return (
        f"{what}; a screenshot may have at most {MAX_PIXELS // 1_000_000} megapixels. "
        "Send it scaled down"
    )
