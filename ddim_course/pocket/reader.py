"""A simple rule-based reader of pocket scenes: which colour, shape and pattern an image shows.

It judges the pocket model's samples and edits without another neural network: the background is
grey (R = G = B) by construction, so every saturated pixel belongs to the shape.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

from .scenes import COLORS, parse_caption

SATURATION = 0.25  # max(R, G, B) - min(R, G, B) above this is "the shape"
_HUES = {name: colorsys.rgb_to_hsv(*rgb)[0] for name, rgb in COLORS.items()}


@dataclass
class Reading:
    color: str | None
    shape: str | None
    pattern: str | None
    center: tuple[float, float] | None  # (x, y) in pixels
    mask: np.ndarray  # (H, W) bool: the pixels read as the shape


def _as_float_image(image) -> np.ndarray:
    from ..metrics import as_array

    arr = as_array(image)
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 3 or arr.shape[-1] not in (3, 4) or min(arr.shape[:2]) < 8:
        raise ValueError(
            f"the reader needs one RGB image (H, W, 3) of a pocket scene (a PIL image is simplest), got an array of "
            f"shape {arr.shape}"
        )
    if not np.isfinite(arr).all():
        raise ValueError("the image holds NaN or infinite values: there is no scene to read")
    if arr.max() > 1.001 or arr.min() < -0.001:
        raise ValueError(
            f"pixel values must be in [0, 1] (PIL images are converted for you), got [{arr.min():g}, {arr.max():g}]"
        )
    return arr[..., :3].astype(np.float64)


def _checked(x, name: str, what: str, *, ndim: int) -> np.ndarray:
    """``x`` as a finite numpy array of ``ndim`` dimensions, else a clear error saying ``what`` is wanted."""
    if isinstance(x, np.ndarray) and x.dtype.kind in "biuf" and x.ndim == ndim and np.isfinite(x).all():
        return x
    shown = f"an array of {x.dtype} {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
    raise ValueError(f"{name} must be {what} (finite numbers), got {shown}")


def _dilate(mask: np.ndarray, r: int) -> np.ndarray:
    out = mask.copy()
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            out |= np.roll(np.roll(mask, dy, 0), dx, 1)
    return out


def read_color(rgb_pixels: np.ndarray) -> str:
    """The named colour whose hue is nearest to the mean hue of the given pixels."""
    # as floats: a boolean array (0 or 1) cannot be subtracted in numpy
    rgb_pixels = _checked(rgb_pixels, "rgb_pixels", "an (N, 3) array of RGB pixels in [0, 1]", ndim=2).astype(float)
    if rgb_pixels.shape[0] < 1 or rgb_pixels.shape[1] != 3 or rgb_pixels.min() < 0 or rgb_pixels.max() > 1:
        raise ValueError(f"rgb_pixels must be an (N, 3) array of RGB pixels in [0, 1], N >= 1, got {rgb_pixels.shape}")
    if (rgb_pixels.max(axis=1) - rgb_pixels.min(axis=1)).max() <= SATURATION:
        raise ValueError(
            f"these pixels are grey (no pixel's max(R, G, B) - min(R, G, B) is above {SATURATION}): they have no "
            "colour to name"
        )
    hue = colorsys.rgb_to_hsv(*np.median(rgb_pixels, axis=0))[0]
    return min(_HUES, key=lambda n: min(abs(hue - _HUES[n]), 1 - abs(hue - _HUES[n])))


def read_shape(mask: np.ndarray) -> str | None:
    """ "circle", "square" or "triangle" for a (H, W) mask of the shape's pixels; None when it has under 20."""
    mask = _checked(mask, "mask", "a (H, W) mask of the shape's pixels", ndim=2)
    ys, xs = np.nonzero(mask)
    if len(ys) < 20:
        return None
    top, bottom, left, right = ys.min(), ys.max(), xs.min(), xs.max()
    h, w = bottom - top + 1, right - left + 1
    fill = len(ys) / (h * w)
    mid = (top + bottom) / 2
    upper, lower = (ys < mid).sum(), (ys > mid).sum()
    if lower > 0 and upper / lower < 0.6:
        return "triangle"
    return "square" if fill > 0.88 else "circle"


def read_pattern(gray: np.ndarray, background: np.ndarray) -> str:
    """The background's pattern from a (H, W) grey image and the (H, W) mask of its background pixels."""
    gray = _checked(gray, "gray", "a (H, W) grey image", ndim=2)
    background = _checked(background, "background", "a (H, W) mask of the background", ndim=2).astype(bool)
    if gray.shape != background.shape:
        raise ValueError(f"gray {gray.shape} and background {background.shape} must have one shape")
    values = gray[background]
    if values.size < 50 or values.std() < 0.04:
        return "plain"
    lo, hi = np.percentile(values, [2, 98])
    if hi - lo < 0.1:
        return "plain"
    on = gray > (lo + hi) / 2
    # the share of the rarer tone, counted on clean pixels only (edges are blends of both tones)
    margin = 0.2 * (hi - lo)
    n_lo, n_hi = (values < lo + margin).sum(), (values > hi - margin).sum()
    minority = min(n_lo, n_hi) / max(n_lo + n_hi, 1)
    rates = []
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        a = on[max(dy, 0) :, max(dx, 0) : on.shape[1] + min(dx, 0)]
        b = on[: on.shape[0] - dy, max(-dx, 0) : on.shape[1] - max(dx, 0)]
        va = background[max(dy, 0) :, max(dx, 0) : on.shape[1] + min(dx, 0)]
        vb = background[: on.shape[0] - dy, max(-dx, 0) : on.shape[1] - max(dx, 0)]
        valid = va & vb
        rates.append((a != b)[valid].mean() if valid.any() else 0.0)
    if max(rates) > 0 and min(rates) / max(rates) < 0.35 and minority > 0.25:
        return "striped"
    return "dotted" if minority < 0.4 else "checkered"


def read_scene(image) -> Reading:
    """Read colour, shape, pattern and the shape's centre from an image of a pocket scene."""
    img = _as_float_image(image)
    sat = img.max(axis=-1) - img.min(axis=-1)
    mask = sat > SATURATION
    rows, cols = mask.any(axis=1), mask.any(axis=0)
    # a pocket scene's shape keeps a margin: colour on all four edges, or over most of the picture, is not a shape
    # (an edit that painted the whole canvas in the new colour, or noise) and is not read as one
    frame = rows[0] and rows[-1] and cols[0] and cols[-1]
    if mask.sum() < 20 or frame or mask.mean() > 0.6:
        color = shape = center = None
    else:
        color = read_color(img[mask])
        shape = read_shape(mask)
        ys, xs = np.nonzero(mask)
        center = (float(xs.mean() + 0.5), float(ys.mean() + 0.5))
    background = ~_dilate(mask, 2)
    pattern = read_pattern(img.mean(axis=-1), background)
    return Reading(color=color, shape=shape, pattern=pattern, center=center, mask=mask)


@dataclass
class EditReading:
    """What an edit of a pocket scene did, read back: the target's words found, and how far the shape moved."""

    reads: str  # "green circle, striped" (or "no shape" when no saturated shape is left)
    right: bool  # the target's colour, shape and pattern are all read back
    moved: float  # pixels between the shape's centre before and after (inf when a shape is missing)

    def __str__(self) -> str:
        moved = "shape lost" if self.moved == float("inf") else f"moved {self.moved:.1f} px"
        return f"reads {self.reads}, {moved}"


def read_edit(source_image, edited, target_prompt: str) -> EditReading:
    """Read an edit back: does ``edited`` show ``target_prompt`` (a pocket caption), in the source shape's place?"""
    want = parse_caption(target_prompt)
    if want is None:
        raise ValueError(
            f"target_prompt {target_prompt!r} is not a pocket caption: write 'a <colour> <shape> on a <pattern> "
            "background' with the words of ddim_course.pocket.VOCABULARY"
        )
    before, after = read_scene(source_image), read_scene(edited)
    reads = "no shape" if after.color is None else f"{after.color} {after.shape}"
    reads += f", {after.pattern}"
    moved = float("inf")
    if before.center is not None and after.center is not None:
        moved = float(np.hypot(before.center[0] - after.center[0], before.center[1] - after.center[1]))
    return EditReading(reads=reads, right=(after.color, after.shape, after.pattern) == want, moved=moved)
