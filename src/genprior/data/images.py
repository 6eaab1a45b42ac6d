"""A user's own images: read PNG / JPEG / NPY files and fit them to a model's image shape.

:func:`read_image` gives one image as a float32 tensor ``(C, H, W)`` in [0, 1] with ``C`` 1 (grey) or 3 (colour).
:func:`fit_image` brings it to a model's shape ``(C, H, W)`` by one stated rule (:data:`FIT_RULE`):

1. colour: a grey image is repeated into 3 channels; a colour one is made grey by its ITU-R 601 luma
   ``0.299 R + 0.587 G + 0.114 B``; an alpha channel is dropped;
2. crop: the largest centred window of the model's aspect ratio (a square for a square model);
3. size: resized to the model's height and width with Pillow's bicubic filter (which widens its support when
   shrinking, so it averages over the area each output pixel covers), in float32, then clipped to [0, 1].

Refused, with a one-line :class:`~genprior.errors.InvalidValueError` naming the file: a file that cannot be read
or is not an image, an NPY array of the wrong dimensions, dtype, or with NaN / values outside [0, 1], and an image
whose shorter side is under :data:`MIN_SIDE` pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from genprior.errors import InvalidValueError

MIN_SIDE = 8  # pixels: a smaller image holds too little to fit to any model
LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights of R, G, B
FIT_RULE = ("grey <-> colour by repetition / ITU-R 601 luma (alpha dropped), centred crop to the model's aspect "
            "ratio, Pillow bicubic resize (area-averaging when shrinking) to the model's size, clipped to [0, 1]")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".npy")


def read_image(path: str | Path) -> torch.Tensor:
    """One image file as float32 ``(C, H, W)`` in [0, 1], ``C`` 1 or 3.

    PNG and JPEG (any other format Pillow reads too) are decoded by Pillow after their EXIF orientation is applied:
    8-bit images are divided by 255, 16-bit grey ones by 65535; palette images become colour. NPY files
    (``numpy.load`` without pickles) hold one image: ``(H, W)`` grey; ``(H, W, C)`` or ``(C, H, W)`` with ``C`` in
    1, 3, 4 (4: the last channel, alpha, is dropped) -- a shape that reads both ways (``(3, 8, 3)``) is refused.
    Their values are ``uint8`` (divided by 255) or floating point in [0, 1]."""
    path = Path(path)
    if not path.is_file():
        raise InvalidValueError(f"image {path} not found" if not path.exists() else f"image {path} is not a file")
    if path.suffix.lower() == ".npy":
        x = _read_npy(path)
    else:
        x = _read_picture(path)
    _, h, w = x.shape
    if min(h, w) < MIN_SIDE:
        raise InvalidValueError(f"image {path} is {h}x{w} pixels: its sides must be at least {MIN_SIDE}")
    return x


def _read_picture(path: Path) -> torch.Tensor:
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            im.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, SyntaxError) as e:
        reason = "not an image Pillow can read" if isinstance(e, UnidentifiedImageError) else str(e).splitlines()[0]
        raise InvalidValueError(f"cannot read image {path}: {reason}") from None
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit grey (Pillow reads 16-bit PNGs as I;16 or I)
        arr = np.asarray(im, dtype=np.float64) / 65535.0
        if arr.min() < 0 or arr.max() > 1:
            raise InvalidValueError(f"image {path}: 32-bit integer pixels are not supported (8 or 16 bits are)")
        return torch.from_numpy(arr.astype(np.float32))[None]
    if im.mode == "F":
        return _checked_float(np.asarray(im, dtype=np.float32), path)[None]
    grey = im.mode in ("1", "L", "LA")
    arr = np.asarray(im.convert("L" if grey else "RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(arr)[None] if grey else torch.from_numpy(arr).permute(2, 0, 1).contiguous()


def _read_npy(path: Path) -> torch.Tensor:
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise InvalidValueError(f"cannot read {path} as NPY: {str(e).splitlines()[0] if str(e) else 'corrupt'}") from None
    if not isinstance(arr, np.ndarray):
        raise InvalidValueError(f"{path} holds no single array")
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255.0
    elif np.issubdtype(arr.dtype, np.floating):
        arr = _checked_float(arr.astype(np.float32), path)
    else:
        raise InvalidValueError(f"{path}: NPY images must be uint8 (0..255) or floating point in [0, 1], "
                                f"got {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[None]
    elif arr.ndim == 3:
        first, last = arr.shape[0] in (1, 3, 4), arr.shape[2] in (1, 3, 4)
        if first and last:
            raise InvalidValueError(f"{path}: shape {arr.shape} reads both as (C, H, W) and (H, W, C); "
                                    "save it as (H, W, C) with H, W > 4")
        if not (first or last):
            raise InvalidValueError(f"{path}: shape {arr.shape} is not an image: expected (H, W), (H, W, C) or "
                                    "(C, H, W) with C in 1, 3, 4")
        if last:
            arr = arr.transpose(2, 0, 1)
        if arr.shape[0] == 4:
            arr = arr[:3]
    else:
        raise InvalidValueError(f"{path}: shape {arr.shape} is not one image: expected (H, W), (H, W, C) or (C, H, W)")
    return torch.from_numpy(np.ascontiguousarray(arr))


def _checked_float(arr: np.ndarray, path: Path) -> np.ndarray:
    if not np.isfinite(arr).all():
        raise InvalidValueError(f"{path} holds NaN or infinite values")
    if arr.size and (arr.min() < 0 or arr.max() > 1):
        raise InvalidValueError(f"{path}: float pixels must lie in [0, 1], got {arr.min():.4g} .. {arr.max():.4g}")
    return arr


def fit_image(x: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """``x`` ``(C, H, W)`` in [0, 1] brought to ``shape`` ``(C', H', W')`` by the rule of :data:`FIT_RULE`
    (channels, centred crop to the aspect ratio ``H' / W'``, bicubic resize, clip). ``C'`` must be 1 or 3."""
    from PIL import Image

    c_out, h_out, w_out = (int(s) for s in shape)
    if c_out not in (1, 3):
        raise InvalidValueError(f"a model of {c_out} channels cannot take images (1 grey or 3 colour channels)")
    if x.shape[0] == 3 and c_out == 1:
        x = (torch.tensor(LUMA, dtype=x.dtype).view(3, 1, 1) * x).sum(0, keepdim=True)
    elif x.shape[0] == 1 and c_out == 3:
        x = x.expand(3, -1, -1)
    _, h, w = x.shape
    if h * w_out > w * h_out:  # too tall: keep the full width
        crop_h, crop_w = max(1, round(w * h_out / w_out)), w
    else:
        crop_h, crop_w = h, max(1, round(h * w_out / h_out))
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    x = x[:, top:top + crop_h, left:left + crop_w]
    if (crop_h, crop_w) != (h_out, w_out):
        planes = [Image.fromarray(np.ascontiguousarray(p.numpy(), dtype=np.float32)).resize((w_out, h_out), Image.Resampling.BICUBIC)
                  for p in x]
        x = torch.from_numpy(np.stack([np.asarray(p, dtype=np.float32) for p in planes]))
    return x.clamp(0, 1).contiguous()


def load_images(paths, shape: tuple[int, int, int] | None = None) -> torch.Tensor:
    """Read ``paths`` (:func:`read_image`) and fit each to ``shape`` (:func:`fit_image`); returns ``(B, C, H, W)``.
    With ``shape`` None, every image keeps its own size and colour, and all must have the first one's shape."""
    images = [read_image(p) for p in paths]
    if not images:
        raise InvalidValueError("no image given")
    if shape is None:
        first = tuple(images[0].shape)
        for p, x in zip(paths, images):
            if tuple(x.shape) != first:
                raise InvalidValueError(f"image {p} has shape {tuple(x.shape)}, the first one {first}: without a "
                                        "model to fit them to, the images must share one shape")
        return torch.stack(images)
    return torch.stack([fit_image(x, shape) for x in images])


def save_png(path: str | Path, x: torch.Tensor) -> Path:
    """Write one image ``(C, H, W)`` in [0, 1] (clipped; ``C`` 1 or 3) as an 8-bit PNG, atomically."""
    import io

    from PIL import Image

    from genprior.io import atomic_write_bytes

    arr = (x.detach().float().cpu().clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)
