"""Natural photographs for the Deep Image Prior benchmarks: the images scikit-image ships inside its package.

The Deep Image Prior (Ulyanov, Vedaldi & Lempitsky, CVPR 2018) is shown on photographs, not digits. The test images
that scikit-image bundles (``camera``: grey 512x512; ``astronaut``: RGB 512x512; ``coffee``: RGB 400x600;
``chelsea``: RGB 300x451; ``rocket``: RGB 427x640) are read here straight from the package's ``data`` folder with
Pillow, never through ``skimage.data``'s fetcher: nothing is downloaded. Each image is centre-cropped to a square
and area-resized (Pillow's box filter: every output pixel the mean of the input pixels it covers) to
``size x size``. :func:`text_mask` draws the inpainting task's text mask with Pillow's built-in bitmap font
(deterministic, no font file).

scikit-image is an optional dependency (``pip install scikit-image``); without it the loader says so.
"""

from __future__ import annotations

import numbers
from pathlib import Path

import numpy as np
import torch

from genprior.errors import DataNotFoundError, InvalidValueError, unknown

# name -> bundled file, and whether it is grey (C = 1) or colour (C = 3)
NATURAL_IMAGES = {"camera": ("camera.png", 1), "astronaut": ("astronaut.png", 3), "coffee": ("coffee.png", 3),
                  "chelsea": ("chelsea.png", 3), "rocket": ("rocket.jpg", 3)}
MIN_SIZE = 16


def check_size(size, *, multiple: int = 4) -> int:
    """``size`` as an int if it is an integer >= 16 and a multiple of ``multiple`` (4: the 4x super-resolution's
    blocks), else a one-line ``InvalidValueError``."""
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < MIN_SIZE or size % multiple:
        raise InvalidValueError(f"image size must be an integer >= {MIN_SIZE} and a multiple of {multiple}, "
                                f"got {size!r}")
    return int(size)


def _bundled_folder() -> Path:
    try:
        import skimage
    except ImportError:
        raise DataNotFoundError("natural images need scikit-image (pip install scikit-image): its bundled test "
                                "images are read") from None
    return Path(skimage.__file__).resolve().parent / "data"


def load_natural(name: str, *, size: int = 128) -> torch.Tensor:
    """The bundled scikit-image photograph ``name`` (one of :data:`NATURAL_IMAGES`), centre-cropped to a square and
    area-resized to ``size x size``: a float32 tensor ``(1, C, size, size)`` in [0, 1] (``C`` = 1 for ``camera``,
    3 for the colour ones). Deterministic; reads a file inside the installed package, no network."""
    if name not in NATURAL_IMAGES:
        raise unknown("natural image", name, NATURAL_IMAGES)
    size = check_size(size)
    from PIL import Image

    filename, channels = NATURAL_IMAGES[name]
    path = _bundled_folder() / filename
    if not path.is_file():
        raise DataNotFoundError(f"scikit-image's bundled {filename} is missing from {path.parent}")
    with Image.open(path) as im:
        im = im.convert("L" if channels == 1 else "RGB")
        w, h = im.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        im = im.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.BOX)
        a = np.asarray(im, dtype=np.float32) / 255.0
    t = torch.from_numpy(a.copy())
    t = t[None] if channels == 1 else t.permute(2, 0, 1)
    return t.unsqueeze(0).contiguous()


TEXT = ("Deep Image Prior", "genprior 2018", "no training data", "early stopping", "CVPR inpainting")


def text_mask(size: int = 128) -> torch.Tensor:
    """A boolean ``(size, size)`` mask of the pixels KEPT for text inpainting: lines of text (Pillow's built-in bitmap
    font, drawn at 128 x 128 with a one-pixel bold offset, then nearest-neighbour scaled to ``size``) are the missing
    pixels, about a quarter of the image (23 % at 128 px). Deterministic (the same mask for the same size)."""
    size = check_size(size)
    from PIL import Image, ImageDraw, ImageFont

    base = 128
    font = ImageFont.load_default_imagefont() if hasattr(ImageFont, "load_default_imagefont") else \
        ImageFont.load_default()
    im = Image.new("L", (base, base), 0)
    draw = ImageDraw.Draw(im)
    for row, y in enumerate(range(2, base - 8, 13)):
        line = TEXT[row % len(TEXT)]
        for dx in (0, 1):  # bold: the glyphs drawn twice, one pixel apart
            draw.text((2 + 7 * (row % 3) + dx, y), line, fill=255, font=font)
    if size != base:
        im = im.resize((size, size), Image.Resampling.NEAREST)
    return torch.from_numpy(np.asarray(im) == 0).clone()


__all__ = ["NATURAL_IMAGES", "check_size", "load_natural", "text_mask"]
