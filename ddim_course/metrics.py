"""Image quality numbers: PSNR, optionally inside a mask."""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image


def as_array(x, name: str = "image") -> np.ndarray:
    """PIL image, numpy array or tensor in [0, 1] -> float64 array (H, W, C) or (B, H, W, C)."""
    if isinstance(x, Image.Image):
        return np.asarray(x.convert("RGB"), dtype=np.float64) / 255
    if isinstance(x, (list, tuple)) and x and all(isinstance(im, Image.Image) for im in x):
        return np.stack([as_array(im) for im in x])
    if isinstance(x, torch.Tensor):
        if x.is_meta or x.is_complex():
            raise ValueError(f"{name} must be a real tensor with data, got a {'meta' if x.is_meta else 'complex'} one")
        t = x.detach().double().cpu()
        if t.ndim in (3, 4) and t.shape[-3] in (1, 3, 4) and t.shape[-1] not in (1, 3, 4):
            t = t.movedim(-3, -1)  # channels first -> channels last
        return t.numpy()
    if isinstance(x, np.ndarray) and (x.dtype.kind in "biuf"):
        return x.astype(np.float64)
    raise ValueError(
        f"{name} must be a PIL image, a list of them, a numpy array or a torch tensor, got {type(x).__name__}"
    )


def _finite(arr: np.ndarray, name: str) -> np.ndarray:
    if arr.size == 0:
        raise ValueError(f"{name} is empty (no pixels)")
    bad = int((~np.isfinite(arr)).sum())
    if bad:
        raise ValueError(f"{name} holds {bad} NaN or infinite values; PSNR needs real pixel values")
    return arr


def psnr(a, b, *, mask=None, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB between two images in [0, 1]; ``mask`` (H, W) weights pixels.

    Used from notebook 04 on; the reference of ``exercises.check_psnr``."""
    if isinstance(data_range, bool) or not isinstance(data_range, (int, float)) or not 0 < data_range < math.inf:
        raise ValueError(
            f"data_range must be a positive number (1 for images in [0, 1], 255 for 8-bit), got {data_range!r}"
        )
    x, y = (
        _finite(as_array(a, "the first image"), "the first image"),
        _finite(as_array(b, "the second image"), "the second image"),
    )
    if x.shape != y.shape:
        raise ValueError(f"psnr needs two images of the same size, got {x.shape} and {y.shape}")
    top = max(float(np.abs(x).max()), float(np.abs(y).max()))
    if top > data_range * 1.001:
        raise ValueError(
            f"pixel values reach {top:g}, above data_range={data_range:g}: pass images in [0, 1] "
            f"(PIL images are converted for you) or data_range=255 for 8-bit arrays"
        )
    err = (x - y) ** 2
    if mask is not None:
        m = _finite(as_array(mask, "mask"), "mask")
        if m.ndim == err.ndim:  # (H, W, 1) or (H, W, C)
            m = m.mean(axis=-1)
        if m.shape != err.shape[-3:-1]:
            raise ValueError(f"mask must have the image's height and width {err.shape[-3:-1]}, got {m.shape}")
        if (m < 0).any():
            raise ValueError("mask weights must be >= 0 (1 = count the pixel, 0 = ignore it)")
        w = np.broadcast_to(m[..., None], err.shape)
        if w.sum() <= 0:
            raise ValueError("mask selects no pixels")
        mse = float((err * w).sum() / w.sum())
    else:
        mse = float(err.mean())
    if mse == 0:
        return math.inf
    return 10 * math.log10(data_range**2 / mse)
