"""Figures: image grids and noise-schedule plots (matplotlib)."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from PIL import Image


def show_images(images, titles=None, ncols: int | None = None, *, size: float = 2.5, suptitle: str | None = None):
    """Show PIL images (or tensors in [0, 1]) in a grid; returns the matplotlib figure."""
    if isinstance(images, (Image.Image, torch.Tensor, np.ndarray)):
        images = [images]
    images = list(images)
    if not images:
        raise ValueError("show_images needs at least one image")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"got {len(titles)} titles for {len(images)} images")
    ncols = ncols or min(len(images), 6)
    nrows = math.ceil(len(images) / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols, size * nrows + (0.4 if suptitle else 0)), squeeze=False
    )
    for ax in axes.flat:
        ax.axis("off")
    for i, im in enumerate(images):
        ax = axes.flat[i]
        if isinstance(im, torch.Tensor):
            t = im.detach().float().cpu()
            im = t.permute(1, 2, 0).clamp(0, 1).numpy() if t.ndim == 3 and t.shape[0] in (1, 3) else t.numpy()
        ax.imshow(im, cmap="gray" if np.ndim(im) == 2 else None)
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_schedule(alphas_cumprod, *, ax=None):
    """sqrt(alpha_bar) (signal) and sqrt(1 - alpha_bar) (noise) against the timestep."""
    a = torch.as_tensor(alphas_cumprod).double().cpu()
    t = np.arange(len(a))
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(t, a.sqrt().numpy(), label=r"$\sqrt{\bar\alpha_t}$ (signal)")
    ax.plot(t, (1 - a).sqrt().numpy(), label=r"$\sqrt{1-\bar\alpha_t}$ (noise)")
    ax.set_xlabel("timestep t")
    ax.set_ylabel("scale")
    ax.set_title("How much signal and noise x_t holds")
    ax.legend()
    return ax


def plot_snr(alphas_cumprod, *, ax=None):
    """Signal-to-noise ratio alpha_bar / (1 - alpha_bar) against the timestep, on a log scale."""
    a = torch.as_tensor(alphas_cumprod).double().cpu()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    ax.semilogy(np.arange(len(a)), (a / (1 - a)).numpy())
    ax.set_xlabel("timestep t")
    ax.set_ylabel("SNR (log scale)")
    ax.set_title(r"Signal-to-noise ratio $\bar\alpha_t / (1-\bar\alpha_t)$")
    return ax


def show_source(obj):
    """Show the real source of a package function in the notebook, highlighted (d2l style)."""
    import inspect

    from IPython.display import Code

    return Code(inspect.getsource(obj), language="python")
