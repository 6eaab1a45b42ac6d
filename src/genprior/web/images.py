"""Uploaded pictures, read safely: only PNG and JPEG (told by their first bytes), capped in side and pixel count
before any pixel is decoded; and tensors written back as PNG bytes."""

from __future__ import annotations

import io

import numpy as np
import torch

from genprior.errors import InvalidValueError

SIGNATURES = {"PNG": (b"\x89PNG\r\n\x1a\n",), "JPEG": (b"\xff\xd8\xff",)}
"""The formats the app decodes, by the bytes their files start with."""


class UnsupportedImageError(InvalidValueError):
    """An upload that is not a PNG or JPEG image (the app answers 415)."""


def image_format(data: bytes) -> str:
    """``"PNG"`` or ``"JPEG"`` from the first bytes of ``data``; :class:`UnsupportedImageError` for anything else."""
    for name, starts in SIGNATURES.items():
        if data.startswith(starts):
            return name
    raise UnsupportedImageError("the file is not a PNG or JPEG image (only those are accepted)")


def decode_image(data: bytes, *, max_side: int, max_pixels: int, what: str = "image") -> torch.Tensor:
    """The PNG or JPEG picture in ``data`` as float32 ``(C, H, W)`` in [0, 1], ``C`` 1 (grey) or 3 (colour); an alpha
    channel is dropped, 16-bit grey is divided by 65535. Refused with a one-line message: another format, a side over
    ``max_side`` or more than ``max_pixels`` pixels (checked from the header, before decoding), a corrupt file."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    fmt = image_format(data)
    try:
        with Image.open(io.BytesIO(data), formats=[fmt]) as im:
            w, h = im.size
            if max(w, h) > max_side or w * h > max_pixels:
                raise InvalidValueError(f"the {what} is {w}x{h} pixels: the limit is {max_side} pixels a side and "
                                        f"{max_pixels} pixels in all")
            if min(w, h) < 1:
                raise InvalidValueError(f"the {what} has no pixels")
            im = ImageOps.exif_transpose(im)
            im.load()
    except InvalidValueError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise InvalidValueError(f"the {what} cannot be decoded as {fmt}: {str(e).splitlines()[0] if str(e) else 'corrupt'}") from None
    if im.mode in ("I;16", "I;16B", "I;16L"):
        return torch.from_numpy((np.asarray(im, dtype=np.float64) / 65535.0).astype(np.float32))[None]
    grey = im.mode in ("1", "L", "LA", "I", "F")
    arr = np.asarray(im.convert("L" if grey else "RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(arr)[None] if grey else torch.from_numpy(arr).permute(2, 0, 1).contiguous()


def png_bytes(x: torch.Tensor) -> bytes:
    """One image ``(C, H, W)`` (values clipped to [0, 1]) as PNG bytes: grey for 1 channel, RGB for 3."""
    from PIL import Image

    arr = (x.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8)
    img = Image.fromarray(arr[0].numpy(), "L") if arr.shape[0] == 1 else Image.fromarray(arr.permute(1, 2, 0).numpy(), "RGB")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
