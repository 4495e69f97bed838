"""Images (PNG, JPEG, WebP) with Pillow: format, width, height and mode, checked to the end.

The header is read first and its pixel count held to ``max_pixels`` before anything is
decoded, so a decompression bomb (a few KiB claiming gigapixels) fails the file instead of
exhausting memory. Then the whole file is read, in the cheapest way that still notices a
truncated file: PNG chunks are CRC-checked without decoding, JPEG is decoded at 1/8 scale."""

from typing import Any, BinaryIO

from service.workers.parsers.errors import ParseError

_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}


def image_summary(stream: BinaryIO, ext: str, max_pixels: int | None = None) -> dict[str, Any]:
    from PIL import Image, UnidentifiedImageError

    limit = max_pixels or Image.MAX_IMAGE_PIXELS
    what = _FORMATS.get(ext, ext[1:].upper())
    try:
        with Image.open(stream, formats=[what]) as image:
            width, height = image.size
            if width * height > limit:
                raise ParseError(
                    f"image is {width}x{height} ({width * height} pixels), more than "
                    f"the limit of {limit}: a decompression bomb?"
                )
            summary = {
                "format": image.format.lower(),
                "width": width,
                "height": height,
                "mode": image.mode,
                "frames": getattr(image, "n_frames", 1),
            }
            if what == "PNG":
                image.verify()  # every chunk's CRC, to the IEND chunk
            else:
                image.draft("RGB", (max(1, width // 8), max(1, height // 8)))  # JPEG: DCT scaling
                image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ParseError(f"image is too large to decode: {exc}: a decompression bomb?") from None
    except UnidentifiedImageError:
        raise ParseError(f"unreadable {what} image: not recognised") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ParseError(f"unreadable {what} image: {' '.join(str(exc).split())[:200]}") from None
    return summary
