"""Decoding and resizing single images into fixed-size uint8 arrays.

Every image, whatever its mode (1, L, LA, P, RGB, RGBA, CMYK, I;16, I, F) or size,
ends up as an ``H x W x C`` uint8 array with C = 1 (grayscale) or 3 (RGB).
"""

from __future__ import annotations

import math
import threading

import numpy as np
from PIL import Image, ImageOps

RESAMPLE = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
}
RESIZE_MODES = ("stretch", "center_crop", "pad")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def _to_8bit(img: Image.Image) -> Image.Image:
    """High-bit-depth grayscale (I;16, I, F) to 8-bit by linear rescaling of its range."""
    arr = np.asarray(img, dtype=np.float64)
    if img.mode.startswith("I;16") or (img.mode == "I" and arr.max(initial=0) <= 65535 and arr.min(initial=0) >= 0):
        arr = arr / 257.0  # 16-bit full range -> 8-bit
    else:  # float or 32-bit: scale observed range
        lo, hi = float(arr.min(initial=0)), float(arr.max(initial=0))
        arr = (arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr)
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), mode="L")


def normalise_mode(img: Image.Image, color: str, background=(255, 255, 255)) -> Image.Image:
    """Convert any PIL image to mode ``L`` (color='gray') or ``RGB`` (color='rgb').

    Transparent pixels (RGBA, LA, P with transparency) are composited onto
    *background* rather than dropped to black by a bare ``convert``.
    """
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        img = _to_8bit(img)
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif img.mode in ("1", "L", "RGB") and "transparency" in img.info:
        img = img.convert("RGBA")  # PNG tRNS: one colour marked fully transparent
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = img.convert("RGBA")
        base = Image.new("RGBA", rgba.size, tuple(background) + (255,))
        img = Image.alpha_composite(base, rgba).convert("RGB")
    if color == "gray":
        return img.convert("L")
    return img.convert("RGB")


def upscale_factor(longer_side: int, rules) -> int:
    """The enlargement ``upscale_small`` gives an image whose longer side is *longer_side*: the factor of
    the first ``[below, factor]`` rule with ``longer_side < below``, else 1."""
    for below, factor in rules or ():
        if longer_side < below:
            return int(factor)
    return 1


def resize(
    img: Image.Image, size: tuple[int, int], mode: str, resample: str, background=(255, 255, 255), upscale_small=None
) -> Image.Image:
    """Resize to ``size`` = (height, width) with mode stretch / center_crop / pad.

    *upscale_small* (pad only; ``[[below, factor], ...]``): small images are enlarged by an
    integer factor (:func:`upscale_factor`), then shrunk to fit if too large, never enlarged
    further, and padded; without it pad scales every image to fit the frame.
    """
    h, w = int(size[0]), int(size[1])
    if mode not in RESIZE_MODES:
        raise ValueError(f"resize mode {mode!r} not one of {RESIZE_MODES}")
    rs = RESAMPLE[resample]
    if mode == "pad" and upscale_small is not None:
        f = upscale_factor(max(img.size), upscale_small)
        if f > 1:
            img = img.resize((img.size[0] * f, img.size[1] * f), rs)
        if img.size[0] <= w and img.size[1] <= h:  # fits: centred on the background, not enlarged
            fill = (
                Image.new("RGB", (1, 1), tuple(background)).convert("L").getpixel((0, 0))
                if img.mode == "L"
                else tuple(background)
            )
            canvas = Image.new(img.mode, (w, h), fill)
            canvas.paste(img, ((w - img.size[0]) // 2, (h - img.size[1]) // 2))
            return canvas
    if img.size == (w, h):
        return img  # exact no-op: pixels untouched
    if mode == "stretch":
        return img.resize((w, h), rs)
    if mode == "center_crop":
        return ImageOps.fit(img, (w, h), method=rs, centering=(0.5, 0.5))
    # pad: scale the longer side to fit, then letterbox on the background colour
    fill = (
        Image.new("RGB", (1, 1), tuple(background)).convert("L").getpixel((0, 0))
        if img.mode == "L"
        else tuple(background)
    )
    return ImageOps.pad(img, (w, h), method=rs, color=fill, centering=(0.5, 0.5))


class TooLarge(ValueError):
    """An image file whose header gives more pixels than the budget (``images.max_pixels``)."""


# decodes of images over the pixel budget run one at a time (images.large: reduce), so that ingest's
# threads never hold several of them in memory at once
_LARGE = threading.Lock()


def load_image(
    path,
    size,
    color: str,
    resize_mode: str,
    resample: str,
    exif_transpose: bool = True,
    background=(255, 255, 255),
    upscale_small=None,
    *,
    max_pixels: int | None = None,
    large: str = "skip",
):
    """Read one image file; return (array H x W x C uint8, original (width, height), original mode).

    Raises the underlying PIL/OS error for unreadable or truncated files; the
    caller decides whether to skip or fail.

    Parameters
    ----------
    max_pixels
        Pixel budget, checked on the header before anything is decoded; None = no budget.
    large
        An image over the budget: ``skip`` raises :class:`TooLarge` (nothing decoded);
        ``reduce`` decodes it at a reduced scale (JPEG: the decoder's own 1/2, 1/4, 1/8
        scales; other formats: decoded one at a time, then reduced by an integer factor).
    """
    with Image.open(path) as im:
        orig_size, orig_mode = im.size, im.mode
        n_pixels = orig_size[0] * orig_size[1]
        if max_pixels and n_pixels > max_pixels:
            if large != "reduce":
                raise TooLarge(
                    f"{orig_size[0]}x{orig_size[1]} px = {n_pixels / 1e6:.1f} megapixels, over images.max_pixels = "
                    f"{max_pixels / 1e6:g} (images.large: reduce decodes it at a reduced scale)"
                )
            factor = math.ceil(math.sqrt(n_pixels / max_pixels))
            with _LARGE:
                im.draft(None, (max(1, orig_size[0] // factor), max(1, orig_size[1] // factor)))
                im.load()
                if im.size[0] * im.size[1] > max_pixels:
                    im = im.reduce(math.ceil(math.sqrt(im.size[0] * im.size[1] / max_pixels)))
        else:
            im.load()  # force full decode so truncated files fail here
        if exif_transpose:
            im = ImageOps.exif_transpose(im)
        return from_pil(im, size, color, resize_mode, resample, background, upscale_small), orig_size, orig_mode


def from_pil(
    im: Image.Image, size, color: str, resize_mode: str, resample: str, background=(255, 255, 255), upscale_small=None
) -> np.ndarray:
    im = normalise_mode(im, color, background)
    if size is not None:
        im = resize(im, size, resize_mode, resample, background, upscale_small)
    arr = np.asarray(im, dtype=np.uint8)
    return arr[:, :, None] if arr.ndim == 2 else arr


def from_array(
    arr: np.ndarray, size, color: str, resize_mode: str, resample: str, background=(255, 255, 255), upscale_small=None
) -> np.ndarray:
    """Bring an in-memory image (H x W, H x W x C; any numeric dtype) to the configured shape."""
    arr = np.asarray(arr)
    if arr.dtype != np.uint8:
        a = arr.astype(np.float64)
        if a.max(initial=0) <= 1.0 and a.min(initial=0) >= 0.0:
            a = a * 255.0
        elif a.max(initial=0) > 255:
            a = a / a.max() * 255.0
        arr = np.clip(np.rint(a), 0, 255).astype(np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    im = Image.fromarray(arr)
    return from_pil(im, size, color, resize_mode, resample, background, upscale_small)
