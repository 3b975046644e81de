"""Image quality numbers: PSNR, optionally inside a mask."""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image


def as_array(x) -> np.ndarray:
    """PIL image, numpy array or tensor in [0, 1] -> float64 array (H, W, C) or (B, H, W, C)."""
    if isinstance(x, Image.Image):
        return np.asarray(x.convert("RGB"), dtype=np.float64) / 255
    if isinstance(x, (list, tuple)) and x and isinstance(x[0], Image.Image):
        return np.stack([as_array(im) for im in x])
    if isinstance(x, torch.Tensor):
        t = x.detach().double().cpu()
        if t.ndim in (3, 4) and t.shape[-3] in (1, 3, 4) and t.shape[-1] not in (1, 3, 4):
            t = t.movedim(-3, -1)  # channels first -> channels last
        return t.numpy()
    arr = np.asarray(x, dtype=np.float64)
    return arr


def psnr(a, b, *, mask=None, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB between two images in [0, 1]; ``mask`` (H, W) weights pixels."""
    x, y = as_array(a), as_array(b)
    if x.shape != y.shape:
        raise ValueError(f"psnr needs two images of the same size, got {x.shape} and {y.shape}")
    err = (x - y) ** 2
    if mask is not None:
        m = as_array(mask)
        if m.ndim == err.ndim:  # (H, W, 1) or (H, W, C)
            m = m.mean(axis=-1)
        if m.shape != err.shape[-3:-1]:
            raise ValueError(f"mask must have the image's height and width {err.shape[-3:-1]}, got {m.shape}")
        w = np.broadcast_to(m[..., None], err.shape)
        if w.sum() <= 0:
            raise ValueError("mask selects no pixels")
        mse = float((err * w).sum() / w.sum())
    else:
        mse = float(err.mean())
    if mse == 0:
        return math.inf
    return 10 * math.log10(data_range**2 / mse)
