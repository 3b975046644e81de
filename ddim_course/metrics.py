"""Image quality numbers: PSNR, optionally inside a mask."""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
from PIL import Image

from .images import _repr


def as_array(x, name: str = "image") -> np.ndarray:
    """PIL image, numpy array or tensor in [0, 1] -> float64 array (H, W, C) or (B, H, W, C)."""
    if isinstance(x, Image.Image):
        from .images import to_rgb  # as load_image reads it: transparency on white, 16-bit and float modes scaled

        return np.asarray(to_rgb(x), dtype=np.float64) / 255
    if _is_pil(x):  # a list of them
        arrays = [as_array(im) for im in x]  # as read: a photo's EXIF tag may turn it on its side
        sizes = sorted({(a.shape[1], a.shape[0]) for a in arrays})
        if len(sizes) > 1:
            raise ValueError(f"{name}: a list of images must be of one size, got {sizes[0]} and {sizes[1]} (w, h)")
        return np.stack(arrays)
    if isinstance(x, torch.Tensor):
        from .images import _odd_tensor

        if (odd := _odd_tensor(x)) is not None:
            raise ValueError(f"{name} must be an ordinary real tensor with data, got {odd}")
        t = x.detach().cpu().double()  # on the CPU first: Apple's MPS has no float64
        if t.ndim in (3, 4) and t.shape[-3] in (1, 3, 4) and t.shape[-1] not in (1, 3, 4):
            t = t.movedim(-3, -1)  # channels first -> channels last
        return t.numpy()
    if isinstance(x, np.ndarray) and (x.dtype.kind in "biuf"):
        return x.astype(np.float64)
    what = f"a numpy array of {x.dtype}" if isinstance(x, np.ndarray) else type(x).__name__
    if hasattr(type(x), "pil") and hasattr(x, "image"):  # a drawn pocket Scene
        what += " (a drawn scene: pass scene.pil())"
    raise ValueError(
        f"{name} must be a PIL image, a list of them, a numpy array of numbers or a torch tensor, got {what}"
    )


def _finite(arr: np.ndarray, name: str) -> np.ndarray:
    if arr.size == 0:
        raise ValueError(f"{name} is empty (no pixels)")
    bad = int((~np.isfinite(arr)).sum())
    if bad:
        raise ValueError(f"{name} holds {bad} NaN or infinite values; the metrics need real pixel values")
    return arr


MAX_DATA_RANGE = 1e6  # far above 16-bit images' 65535; larger values only overflow the squares


def _check_range(data_range) -> float:
    ok = not isinstance(data_range, bool) and isinstance(data_range, numbers.Real)
    if ok and not 0 < data_range <= MAX_DATA_RANGE:  # compared before float(): an int may be beyond float's range
        ok = False
    if not ok:
        raise ValueError(
            f"data_range must be a number in (0, {MAX_DATA_RANGE:g}] (1 for images in [0, 1], 255 for 8-bit), "
            f"got {_repr(data_range)}"
        )
    return float(data_range)


def _is_pil(v) -> bool:
    return isinstance(v, Image.Image) or (
        isinstance(v, (list, tuple)) and bool(v) and all(isinstance(im, Image.Image) for im in v)
    )


def _pair(a, b, data_range: float, names=("the first image", "the second image"), what="psnr"):
    """Two images as float64 arrays of one shape, finite and in [0, data_range], or a clear error."""
    whole = [isinstance(v, np.ndarray) and v.dtype.kind in "iu" for v in (a, b)]  # 8- or 16-bit pictures
    ints = [v for v, w in zip((a, b), whole) if w]
    # uint8 against uint16 (or values past 255): one picture, two scales. uint8 against int64 holding the same
    # 0-255 values (what .astype(int) gives) is one scale
    sixteen = [v.dtype == np.uint16 or (v.size > 0 and int(v.max()) > 255) for v in ints]
    if len(ints) == 2 and any(sixteen) and any(v.dtype == np.uint8 for v in ints):
        depths = [v.dtype for v in ints]
        raise ValueError(
            f"{what} needs two images on one scale, got integer arrays of two bit depths ({depths[0]} and "
            f"{depths[1]}); convert one first, e.g. (a16 / 257).round().astype(numpy.uint8)"
        )
    fixed = [(name, v.dtype) for v, name, w in zip((a, b), names, whole) if w and v.dtype.kind == "u"]
    if data_range == 1 and fixed:  # 0-255 values read on the scale [0, 1]: black and 1/255 scored as far apart
        raise ValueError(
            f"{fixed[0][0]} is an array of {fixed[0][1]} pixels (0-255 for 8 bits): pass data_range=255 for 8-bit "
            "arrays, or divide by 255 first"
        )
    x, y = (_finite(as_array(v, name), name) for v, name in zip((a, b), names))
    if x.shape != y.shape:
        hint = ""
        if x.ndim != y.ndim and 1 in (x.shape[0], y.shape[0]):
            hint = " (a batch of one: reconstruct, sample and edit return a list, so pass result[0])"
        elif x.ndim == y.ndim == 3:
            hint = " (load the original at the model's size: load_image(path, size=image_size(pipe)))"
        raise ValueError(f"{what} needs two images of the same size, got {x.shape} and {y.shape}{hint}")
    if data_range != 1:  # PIL images are read in [0, 1]: on data_range's scale, as an 8-bit array would be
        pil = [_is_pil(a), _is_pil(b)]
        x, y = (v * data_range if is_pil else v for v, is_pil in zip((x, y), pil))
        # float arrays and tensors in [0, 1] on a scale of 255 are a mistake; a dark 8-bit picture is not
        raw = [v for v, is_pil, w in zip((x, y), pil, whole) if not is_pil and not w]
        tops = [float(v.max()) for v in raw]
        unit = [0 < t <= 1 for t in tops]  # a black picture (all 0) is on every scale: it says nothing
        if data_range > 1 and any(unit):
            raise ValueError(
                f"data_range={data_range:g} is for images in [0, {data_range:g}] (8-bit arrays), but "
                + ("they are" if all(unit) else "one of them is")
                + " in [0, 1] (float images, tensors): leave data_range=1, or give both on one scale"
            )
    top, low = max(float(x.max()), float(y.max())), min(float(x.min()), float(y.min()))
    if top > data_range * 1.001:
        takes_range = what in ("psnr", "ssim")  # pie_background (and pie_tiny.score) read images in [0, 1] only
        raise ValueError(
            f"pixel values reach {top:g}, above "
            + (f"data_range={data_range:g}" if takes_range else f"{what}'s range [0, 1]")
            + ": pass images in [0, 1] (PIL images are converted for you)"
            + (" or data_range=255 for 8-bit arrays" if takes_range else ", e.g. an 8-bit array divided by 255")
        )
    if low < -data_range * 0.001:
        raise ValueError(
            f"pixel values go down to {low:g}, below 0: images in [-1, 1] (as the VAE uses) give a wrong {what}; "
            f"pass (x + 1) / 2, or PIL images (decode(pipe, latents) gives them)"
        )
    return x, y


def psnr(a, b, *, mask=None, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB between two images in [0, 1]; ``mask`` (H, W) weights pixels.

    A batch (a list of images, or arrays with a batch dimension) is scored as one image: the squared error is averaged
    over every pixel of the batch. Papers report the mean of per-image PSNRs instead, which is higher when the errors
    differ: for that, average ``psnr(a[i], b[i])``. Used from notebook 04 on; the reference of
    ``exercises.check_psnr``."""
    data_range = _check_range(data_range)
    x, y = _pair(a, b, data_range)
    err = (x - y) ** 2
    if mask is not None:
        if err.ndim < 3:
            raise ValueError(f"a mask needs images of (H, W, C) pixels, got arrays of shape {err.shape}")
        m = _finite(as_array(mask, "mask"), "mask")
        if m.ndim == err.ndim:  # (H, W, 1) or (H, W, C)
            m = m.mean(axis=-1)
        if m.shape != err.shape[-3:-1]:
            raise ValueError(f"mask must have the image's height and width {err.shape[-3:-1]}, got {m.shape}")
        if (m < 0).any():
            raise ValueError("mask weights must be >= 0 (1 = count the pixel, 0 = ignore it)")
        if m.max() <= 0:
            raise ValueError("mask selects no pixels")
        w = np.broadcast_to(
            (m / m.max())[..., None], err.shape
        )  # weights scaled to 1 at most: huge ones can't overflow
        mse = float((err * w).sum() / w.sum())
    else:
        mse = float(err.mean())
    if mse == 0:
        return math.inf
    return 10 * math.log10(data_range**2 / mse)


def ssim(a, b, *, data_range: float = 1.0) -> float:
    """Structural similarity (Wang et al. 2004) with the usual Gaussian window (11 pixels, sigma 1.5; K1 = 0.01,
    K2 = 0.03), over the window positions that fit inside the image, averaged over positions and channels."""
    data_range = _check_range(data_range)
    x, y = _pair(a, b, data_range, what="ssim")
    if x.ndim != 3:
        raise ValueError(f"ssim needs two (H, W, C) images, got arrays of shape {x.shape}")
    g = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5**2))
    g /= g.sum()

    def blur(img):  # separable 'valid' Gaussian filter, per channel
        rows = np.apply_along_axis(lambda v: np.convolve(v, g, mode="valid"), 0, img)
        return np.apply_along_axis(lambda v: np.convolve(v, g, mode="valid"), 1, rows)

    if min(x.shape[:2]) < 11:
        raise ValueError(f"ssim needs images of at least 11 x 11 pixels, got {x.shape[:2]}")
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(s.mean())


def pie_unedited_mask(edit_mask) -> np.ndarray:
    """PIE-Bench's region to keep: outside the edit mask, with the image's outer 1-pixel frame counted as edited
    (PIE-Bench sets it so, "to avoid annotation errors in boundary"; Ju et al. 2024, evaluation code)."""
    if isinstance(edit_mask, torch.Tensor):
        edit_mask = edit_mask.detach().cpu().numpy() if not edit_mask.is_meta else None
    raw = np.asarray(edit_mask)
    if raw.dtype != bool and (
        raw.dtype.kind not in "iuf" or not np.isin(raw, (0, 1)).all()  # 0.5 or NaN would silently count as edited
    ):
        raise ValueError(
            "edit_mask must be True/False or 0/1 per pixel (1 = edited); threshold a soft mask first, e.g. mask > 0.5"
        )
    m = raw.astype(bool)
    if m.ndim != 2 or 0 in m.shape:
        raise ValueError(f"edit_mask must be (H, W) with H, W >= 1, got shape {m.shape}")
    if m.all():
        raise ValueError("edit_mask covers every pixel, so there is no background to measure")
    m[0, :] = m[-1, :] = m[:, 0] = m[:, -1] = True
    if m.all():  # a perfect score for any two images would be no measurement at all
        raise ValueError(
            f"after PIE-Bench's 1-pixel frame no pixel of this {m.shape[0]} x {m.shape[1]} edit_mask is left to "
            "measure: the background must lie inside the frame, outside the edited region"
        )
    return ~m


def pie_background(source, edited, edit_mask) -> dict:
    """Background preservation by PIE-Bench's rules (Ju et al. 2024): both images are multiplied by the region to
    keep (``pie_unedited_mask``) and compared over the whole image: PSNR (dB), MSE and SSIM. The zeroed edit region
    counts as perfect, so these read higher than the same error measured over the kept pixels only."""
    x, y = _pair(source, edited, 1.0, names=("source", "edited"), what="pie_background")
    keep = pie_unedited_mask(edit_mask).astype(np.float64)[..., None]
    if x.ndim != 3 or keep.shape[:2] != x.shape[:2]:
        raise ValueError(
            f"pie_background needs (H, W, C) images and an (H, W) edit_mask of their size, got images of "
            f"{x.shape} and a mask of {keep.shape[:2]}"
        )
    x, y = x * keep, y * keep
    mse = float(((x - y) ** 2).mean())
    return {"psnr": math.inf if mse == 0 else 10 * math.log10(1 / mse), "mse": mse, "ssim": ssim(x, y)}
