"""Figures: image grids, noise-schedule plots, notebook 07's attention maps, notebook 08's inversion plots."""

from __future__ import annotations

import math
import textwrap

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
    for k, im in enumerate(images):
        if not isinstance(im, (Image.Image, torch.Tensor, np.ndarray)):
            hint = " (a file name or URL: load it with load_image first)" if isinstance(im, (str, bytes)) else ""
            raise ValueError(
                f"show_images shows PIL images, tensors or arrays; image {k} is a {type(im).__name__}{hint}"
            )
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"got {len(titles)} titles for {len(images)} images")
    from .ddim import _real, _whole

    if ncols is None:
        ncols = min(len(images), 6)
    elif (ncols := _whole(ncols, "ncols")) < 1:
        raise ValueError(f"ncols must be a whole number >= 1 (images per row), got {ncols}")
    ncols = min(ncols, len(images))  # no empty columns (10**4 of them took minutes to lay out)
    size = _real(size, "size", low=0.1, high=50, hint="inches per image; 2.5 is the default")
    nrows = math.ceil(len(images) / ncols)
    # constrained layout leaves room for every title and the suptitle (tight_layout let a suptitle overlap them)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(size * ncols, size * nrows + (0.4 if suptitle else 0)),
        squeeze=False,
        layout="constrained",
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
            # wrapped to the tile's width (about 13 characters an inch at 9 pt), so neighbouring titles never overlap
            lines = str(titles[i]).splitlines() or [""]
            ax.set_title("\n".join(textwrap.fill(line, width=max(12, int(size * 13))) for line in lines), fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
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


def plot_residuals(residuals: dict, *, ax=None):
    """Fixed-point iteration's residuals (``Inversion.info["residuals"]``: per step, one number per iteration), one
    panel per key of ``residuals`` (e.g. the guidance): how far each iteration moved the latent, step by step."""
    keys = list(residuals)
    if ax is None:
        _, ax = plt.subplots(1, len(keys), figsize=(5.5 * len(keys), 3.5), sharey=True, squeeze=False)
        ax = ax[0]
    for a, key in zip(np.atleast_1d(ax), keys):
        r = torch.as_tensor(residuals[key], dtype=torch.float64)  # (steps, iterations)
        for j in range(r.shape[1]):
            a.semilogy(r[:, j].numpy(), label=f"iteration {j + 1}")
        a.set(xlabel="inversion step (clean to noisy)", title=f"guidance {key}")
    np.atleast_1d(ax)[0].set_ylabel("RMS change of the latent")
    np.atleast_1d(ax)[-1].legend(fontsize=8)
    return ax


def plot_error_against_calls(points: dict, *, markers: dict | None = None, ax=None):
    """Reconstruction error against cost, one panel per guidance. ``points`` maps (method label, guidance) to
    (UNet calls, dB under the VAE round trip); labels that start with "fixed-point" and end in the number of
    iterations are joined by a line, the others drawn with ``markers`` (label -> matplotlib marker)."""
    guidances = sorted({g for _, g in points})
    if ax is None:
        _, ax = plt.subplots(1, len(guidances), figsize=(6 * len(guidances), 4.5), sharey=True, squeeze=False)
        ax = ax[0]
    markers = markers or {}
    for a, g in zip(np.atleast_1d(ax), guidances):
        fixed = sorted((c, db, label) for (label, w), (c, db) in points.items() if w == g and label.startswith("fixed"))
        if fixed:
            a.plot(
                [f[0] for f in fixed], [f[1] for f in fixed], "-o", color="gray", label="fixed-point (k = iterations)"
            )
        for calls, db, label in fixed:
            k = label.rsplit("x", 1)[-1]
            a.annotate(f"k={k}", (calls, db), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=8)
        for label, marker in markers.items():
            if (label, g) in points:
                a.scatter(*points[label, g], marker=marker, s=80, label=label)
        a.set_xscale("log")
        ticks = [t for t in (25, 50, 100, 200, 400, 800, 1600) if t <= 2 * max(c for (_, w), (c, _) in points.items())]
        a.set_xticks(ticks, [str(t) for t in ticks])
        a.set_xticks([], minor=True)
        a.axhline(0, color="black", linewidth=0.8, linestyle="--")
        a.set(xlabel="UNet calls to invert (log scale)", title=f"sampled back at guidance {g}")
    np.atleast_1d(ax)[0].set_ylabel("reconstruction, dB under the VAE round trip")
    np.atleast_1d(ax)[-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8)
    return ax


def plot_attention_maps(maps, image=None, *, side: int | None = None, size: float = 1.8):
    """Notebook 07: where each word of the prompt looks (``attention.cross_attention_maps``), one panel a token,
    the image first when given. Each map is scaled to its own range (its minimum black, its maximum white)."""
    from .attention import AttentionMaps

    if not isinstance(maps, AttentionMaps) or not maps.maps:
        raise ValueError(f"maps must be what cross_attention_maps(pipe, inversion) returns, got {type(maps).__name__}")
    side = max(maps.maps) if side is None else side
    if side not in maps.maps:
        raise ValueError(f"no maps at {side!r} x {side!r}; the UNet attends at {sorted(maps.maps)}")
    if image is not None and not isinstance(image, (Image.Image, np.ndarray)):
        raise ValueError(
            f"image must be a PIL image or an array (load a file with load_image), got {type(image).__name__}"
        )
    words = maps.tokens[1:-1]  # the start and end tokens hold most of the attention and say nothing about place
    panels = ([image] if image is not None else []) + [maps.maps[side][i + 1] for i in range(len(words))]
    titles = (["image"] if image is not None else []) + [f"'{w}'" for w in words]
    fig, axes = plt.subplots(1, len(panels), figsize=(size * len(panels), size + 0.4), squeeze=False)
    for ax, panel, title in zip(axes.flat, panels, titles):
        ax.axis("off")
        if isinstance(panel, torch.Tensor):
            m = panel.float()
            ax.imshow(((m - m.min()) / (m.max() - m.min()).clamp_min(1e-12)).numpy(), cmap="gray")
        else:
            ax.imshow(panel)
        ax.set_title(title, fontsize=9)
    fig.suptitle(f"cross-attention at {side} x {side}, averaged over heads, layers and steps", fontsize=10)
    fig.tight_layout()
    return fig


def show_source(obj):
    """Show the real source of a package function in the notebook, highlighted (d2l style)."""
    import inspect

    from IPython.display import Code

    return Code(inspect.getsource(obj), language="python")
