"""Image cells -> checked, RGB, encoded images (`clean_image`), and PIL's alpha-on-white RGB (`to_rgb`)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recipes.data.errors import RowReject


@dataclass
class CleanImage:
    """An image ready to write: RGB, encoded, with its size."""

    data: bytes
    ext: str
    width: int
    height: int


_KEEP_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}


def image_bytes(value: Any) -> bytes:
    """The encoded bytes of an image cell (`{"bytes", "path"}` dict as datasets stores it, bytes, or a path)."""
    if isinstance(value, dict):
        data = value.get("bytes")
        if data:
            return data
        p = value.get("path")
        if p and Path(p).is_file():
            return Path(p).read_bytes()
        raise RowReject(None, f"image has no bytes and no readable path ({p!r})")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str) and Path(value).is_file():
        return Path(value).read_bytes()
    raise RowReject(None, f"unsupported image value of type {type(value).__name__}")


def clean_image(data: bytes) -> CleanImage:
    """Check that an image decodes; RGB JPEG/PNG/WebP keep their bytes, anything else (RGBA, P, L, CMYK,
    other formats) becomes RGB PNG (transparency composited on white, as qwen_vl_utils)."""
    from PIL import Image

    if not data:
        raise RowReject(None, "empty image (0 bytes)")
    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt, mode, (w, h) = im.format, im.mode, im.size
            if w == 0 or h == 0:
                raise RowReject(None, f"zero-size image ({w}x{h})")
            if mode == "RGB" and fmt in _KEEP_FORMATS:
                _check_decodes(im, data)
                return CleanImage(data, _KEEP_FORMATS[fmt], w, h)
            im.load()
            rgb = to_rgb(im)
    except RowReject:
        raise
    except Exception as err:
        raise RowReject(None, f"undecodable image ({type(err).__name__}: {err})") from None
    buf = io.BytesIO()
    rgb.save(buf, format="PNG", compress_level=1)
    return CleanImage(buf.getvalue(), "png", w, h)


def _check_decodes(im: Any, data: bytes) -> None:
    """Decode the whole image, so a truncated or corrupt file is found here and not by the trainer: PNG also
    checks every chunk's CRC up to IEND (a full decode alone skips them), and its pixel data is inflated
    in full (valid CRCs over garbage data are refused)."""
    from PIL import Image

    if im.format == "PNG":
        im.verify()  # CRCs; `verify` leaves the image unusable, so the full decode reopens it
        with Image.open(io.BytesIO(data)) as full:
            full.load()
    else:
        im.load()


def to_rgb(im: Any) -> Any:
    """RGB copy of a PIL image; alpha (RGBA, LA, P with transparency) is composited on white."""
    from PIL import Image

    if im.mode == "RGB":
        return im.copy()
    if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        bg = Image.new("RGB", rgba.size, (255, 255, 255))
        bg.paste(rgba, mask=rgba.split()[3])
        return bg
    return im.convert("RGB")
