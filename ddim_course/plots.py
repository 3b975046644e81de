"""Figures: image grids, noise-schedule plots, notebook 07's attention maps, notebook 08's inversion plots."""

from __future__ import annotations

import itertools
import math
import numbers
import re
import textwrap

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.markers import MarkerStyle
from PIL import Image


def _map_scale(im) -> dict:
    """How imshow draws a tile: a 2-D map in grey over its own range, but a mask (booleans, or 8-bit 0s and 1s) or a
    map of one value on the fixed scale [0, 1] (its own range is nothing, which imshow drew black: a full mask looked
    empty), and an 8-bit grey picture on 0-255 (stretched, a low-contrast picture was drawn at full contrast)."""
    if np.ndim(im) != 2:
        return {}
    arr = np.asarray(im)
    if arr.dtype == bool:
        return {"cmap": "gray", "vmin": 0, "vmax": 1}
    if arr.dtype == np.uint8 and arr.size:  # 8-bit: a 0/1 mask on [0, 1], else a grey picture on 0-255, as PIL's
        return {"cmap": "gray", "vmin": 0, "vmax": 1 if arr.max() <= 1 else 255}  # "L" draws it (it was stretched)
    low, high = float(arr.min()), float(arr.max())
    if low == high:  # on the picture's own scale: [0, 1], or [0, 255] for 8-bit values
        top = 255.0 if arr.dtype == np.uint8 or high > 1 else 1.0
        return {"cmap": "gray", "vmin": min(0.0, low), "vmax": max(top, high)}
    return {"cmap": "gray"}


def _tile(im, k: int, label: str | None = None):
    """One image of ``show_images`` as something imshow draws truthfully: a PIL image, an (H, W, 3) uint8 array, or a
    finite 2-D map (drawn in grey, scaled to its range). Float pictures go through ``tensor_to_pil``'s checks
    (range, NaN, shape), so a [-1, 1] or 0-255 tensor is named instead of drawn clipped to white or black.
    ``label`` names the image in a message ("show_images: image 3" by default)."""
    from .images import _odd_tensor, tensor_to_pil, to_rgb

    label = label or f"show_images: image {k}"

    if isinstance(im, Image.Image):
        if 0 in im.size:
            raise ValueError(f"{label} is {im.size[0]} x {im.size[1]} pixels: no pixels to show")
        return to_rgb(im)  # as load_image and encode read it: rotated by its EXIF tag, 16-bit and float modes scaled
    if not isinstance(im, (torch.Tensor, np.ndarray)):
        hint = " (a file name or URL: load it with load_image first)" if isinstance(im, (str, bytes)) else ""
        raise ValueError(f"{label} is a {type(im).__name__}: give a PIL image, a tensor or an array{hint}")
    if isinstance(im, torch.Tensor):
        if (odd := _odd_tensor(im)) is not None:
            raise ValueError(f"{label} is {odd}; pass a tensor that holds real values")
        arr = im.detach().cpu()
        arr = arr.float().numpy() if arr.is_floating_point() else arr.numpy()
    else:
        arr = im
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{label} is an array of {arr.dtype}; pass numbers")
    channels_first = arr.ndim == 3 and arr.shape[0] in (1, 3)
    if channels_first and (isinstance(im, torch.Tensor) or arr.shape[-1] not in (1, 3, 4)):
        # torch keeps images channels first; numpy, channels last
        arr = arr.transpose(1, 2, 0)
    if arr.ndim == 3 and arr.shape[-1] == 1:  # one channel: a grey picture in [0, 1], as tensor_to_pil reads it
        arr = np.repeat(arr, 3, axis=-1)
    if arr.ndim == 2:  # a map (noise, attention): drawn in grey over its own range
        if 0 in arr.shape:  # numpy's own "zero-size array to reduction operation" came from matplotlib
            raise ValueError(f"{label} has shape {tuple(arr.shape)}: no pixels to show")
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise ValueError(f"{label} holds NaN or infinite values; there is no picture to show")
        return arr
    if arr.ndim != 3 or arr.shape[-1] not in (3, 4) or 0 in arr.shape:
        raise ValueError(
            f"{label} has shape {tuple(arr.shape)}; give (H, W, 3), (3, H, W) or (H, W)"
            + (" per image (a batch (B, 3, H, W) is shown as B images)" if label.startswith("show_images") else "")
        )
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype.kind in "iub":
        to8 = "x.to(torch.uint8)" if isinstance(im, torch.Tensor) else "x.astype(np.uint8)"
        raise ValueError(f"{label} holds {arr.dtype} pixels; pass {to8} or x / 255")
    try:
        return tensor_to_pil(torch.from_numpy(np.ascontiguousarray(arr[..., :3], dtype=np.float32)).permute(2, 0, 1))[0]
    except ValueError as e:  # its range and NaN checks, said of this image
        raise ValueError(f"{label}: {str(e).replace('tensor_to_pil needs', 'needs')}") from None


MAX_PANELS = 100
MAX_FIGURE_PANELS = 12  # plot_residuals and plot_error_against_calls: one panel per guidance, side by side
MAX_LINES = 100  # plot_residuals: one line per iteration


# a number and the unit after it ("20.7 px", "31.0 dB") are kept on one line of a wrapped title
_NUMBER_UNIT = re.compile(r"(?<=\d) (?=(?:px|dB|s|ms|steps?|calls?)\b)")


def _fill(line: str, width: int) -> str:
    """``line`` wrapped to ``width`` characters at spaces, never between a number and its unit (a title ended in
    "moved 20.7" with "px" alone on the next line)."""
    return textwrap.fill(_NUMBER_UNIT.sub("\u00a0", line), width=width).replace("\u00a0", " ")


MAX_ROW_INCHES = 13.0
"""The widest row ``show_images`` draws (about the width of JupyterLab's page at 100 dpi)."""


def show_images(images, titles=None, ncols: int | None = None, *, size: float = 2.5, suptitle: str | None = None):
    """Show PIL images (or tensors and arrays in [0, 1], one or a batch) in a grid; returns the matplotlib figure.

    ``size``: inches per image, less where a row would be wider than ``MAX_ROW_INCHES`` (at least 1.2)."""
    if isinstance(images, (torch.Tensor, np.ndarray)) and images.ndim == 4:
        images = list(images)  # a batch, as decode(..., output_type="pt") gives
    elif isinstance(images, (Image.Image, torch.Tensor, np.ndarray)):
        images = [images]
    elif isinstance(images, (str, bytes)):
        images = [images]  # named below: load it first
    total = len(images) if isinstance(images, (list, tuple)) else None
    try:  # one more than is shown, at most: an endless iterator (itertools.repeat(im)) filled memory
        images = list(itertools.islice(images, MAX_PANELS + 1))
    except TypeError:
        raise ValueError(f"show_images needs an image or a list of images, got {type(images).__name__}") from None
    if not images:
        raise ValueError("show_images needs at least one image")
    if len(images) > MAX_PANELS:  # a figure of thousands of panels takes minutes and gigabytes to draw
        raise ValueError(
            f"show_images shows at most {MAX_PANELS} images in one figure, got {total or 'more'}; show a slice, "
            f"e.g. images[:{MAX_PANELS}]"
        )
    images = [_tile(im, k) for k, im in enumerate(images)]
    if titles is not None:
        if isinstance(titles, (str, bytes)) or not hasattr(titles, "__iter__"):
            raise ValueError(f"titles must be a list of strings, one per image, got {type(titles).__name__}")
        known = len(titles) if isinstance(titles, (list, tuple)) else None
        titles = list(itertools.islice(titles, len(images) + 1))  # an endless iterator, too
        if len(titles) != len(images):
            got = known or (len(titles) if len(titles) <= len(images) else f"more than {len(images)}")
            raise ValueError(f"got {got} titles for {len(images)} images")
    from .ddim import _real, _whole

    if ncols is None:
        ncols = min(len(images), 6)
    elif (ncols := _whole(ncols, "ncols")) < 1:
        raise ValueError(f"ncols must be a whole number >= 1 (images per row), got {ncols}")
    ncols = min(ncols, len(images))  # no empty columns (10**4 of them took minutes to lay out)
    size = _real(size, "size", low=0.1, high=50, hint="inches per image; 2.5 is the default")
    # a row wider than a notebook's page is shrunk to fit it, and its titles with it (seven images of 3 inches were
    # drawn at 62%, titles about 6 pixels high): the row is narrowed to MAX_ROW_INCHES instead, titles kept at 9 pt
    size = min(size, max(MAX_ROW_INCHES / ncols, 1.2))
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
        ax.imshow(im, **_map_scale(im))
        if titles is not None:
            # wrapped to the tile's width (about 13 characters an inch at 9 pt), so neighbouring titles never overlap
            lines = _shorter(str(titles[i])).splitlines() or [""]
            ax.set_title("\n".join(_fill(line, max(12, int(size * 13))) for line in lines), fontsize=9)
    if suptitle:
        width = max(40, int(size * ncols * 11))  # the figure's width, as for the titles
        fig.suptitle("\n".join(_fill(line, width) for line in _shorter(str(suptitle)).splitlines()))
    if "inline" in matplotlib.get_backend():  # a notebook: drawn now, above what the cell prints next (not after it)
        plt.show()
    return fig


MAX_TITLE = 300
"""Characters of a title that ``show_images`` draws (a prompt of a million characters took minutes to lay out)."""


def _shorter(text: str) -> str:
    return text if len(text) <= MAX_TITLE else text[: MAX_TITLE - 1] + "…"


def _check_ax(ax):
    """None (a new figure) or one matplotlib Axes: a clear error instead of "'str' object has no attribute 'plot'"."""
    from matplotlib.axes import Axes

    if ax is not None and not isinstance(ax, Axes):
        raise ValueError(f"ax must be a matplotlib Axes (from plt.subplots()) or None, got {type(ax).__name__}")
    return ax


def _schedule_values(alphas_cumprod) -> torch.Tensor:
    """A noise schedule to plot: a 1-D list, array or tensor of values in (0, 1], as float64."""
    hint = "pass pipe.scheduler.alphas_cumprod"
    if hasattr(alphas_cumprod, "alphas_cumprod") and not isinstance(alphas_cumprod, (torch.Tensor, np.ndarray)):
        raise ValueError(f"got a {type(alphas_cumprod).__name__}, not its values; {hint}")
    try:
        if isinstance(alphas_cumprod, torch.Tensor):
            from .images import _odd_tensor

            if _odd_tensor(alphas_cumprod) is not None:
                raise TypeError
            a = alphas_cumprod.detach().cpu().double()
        else:
            a = torch.as_tensor(np.asarray(alphas_cumprod, dtype=np.float64))
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"alphas_cumprod must be a 1-D list, array or tensor of numbers; {hint}") from None
    if a.ndim != 1 or len(a) < 2:
        raise ValueError(f"alphas_cumprod must be 1-D with a value per timestep, got shape {tuple(a.shape)}; {hint}")
    if not (torch.isfinite(a).all() and (a > 0).all() and (a <= 1).all()):
        raise ValueError(f"alphas_cumprod must hold finite values in (0, 1] (a share of the signal kept); {hint}")
    return a


def plot_schedule(alphas_cumprod, *, ax=None):
    """sqrt(alpha_bar) (signal) and sqrt(1 - alpha_bar) (noise) against the timestep."""
    a, ax = _schedule_values(alphas_cumprod), _check_ax(ax)
    t = np.arange(len(a))
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(t, a.sqrt().numpy(), label=r"$\sqrt{\bar\alpha_t}$ (signal)")
    ax.plot(t, (1 - a).sqrt().numpy(), "--", label=r"$\sqrt{1-\bar\alpha_t}$ (noise)")
    ax.set_xlabel("timestep t")
    ax.set_ylabel("scale")
    ax.set_title("How much signal and noise x_t holds")
    ax.legend()
    return ax


def plot_snr(alphas_cumprod, *, ax=None):
    """Signal-to-noise ratio alpha_bar / (1 - alpha_bar) against the timestep, on a log scale."""
    a, ax = _schedule_values(alphas_cumprod), _check_ax(ax)
    if bool((a == 1).any()):  # no noise at all: a log axis leaves the point out without a word
        t = int(torch.nonzero(a == 1)[0])
        raise ValueError(
            f"alphas_cumprod is 1 at t={t}: no noise there, so its signal-to-noise ratio is infinite and cannot be "
            f"plotted; plot the timesteps after it (alphas_cumprod[{t + 1}:])"
        )
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
    hint = 'give {guidance: inversion.info["residuals"]}, e.g. {7.5: inv.info["residuals"]}'
    if not isinstance(residuals, dict) or not residuals:
        raise ValueError(f"residuals must be a non-empty dict; {hint}, got {type(residuals).__name__}")
    tables = {}
    for key, value in residuals.items():
        try:
            if isinstance(value, torch.Tensor):
                value = value.detach().cpu()  # one that requires grad has no numpy view
            r = torch.as_tensor(np.asarray(value, dtype=np.float64))
        except (TypeError, ValueError, RuntimeError):
            r = None
        if r is None or r.ndim != 2 or 0 in r.shape:
            raise ValueError(f"residuals[{key!r}] must be a table (steps x iterations) of numbers; {hint}")
        if not bool(torch.isfinite(r).all()) or bool((r <= 0).any()):  # a 0 has no place on the log axis
            raise ValueError(
                f"residuals[{key!r}] must hold finite sizes above 0 (RMS changes of the latent; a 0 cannot be drawn "
                f"on the log axis); {hint}"
            )
        if r.shape[1] > MAX_LINES:
            raise ValueError(f"residuals[{key!r}] has {r.shape[1]} iterations: one line each, at most {MAX_LINES}")
        tables[key] = r
    keys = list(tables)
    if len(keys) > MAX_FIGURE_PANELS:  # each panel takes a fraction of a second; thousands took minutes
        raise ValueError(f"residuals has {len(keys)} keys (one panel each): at most {MAX_FIGURE_PANELS} in one figure")
    if ax is not None:  # one Axes, or one per key (a list, a tuple or plt.subplots' array)
        axes = [_check_ax(a) for a in np.atleast_1d(np.asarray(ax, dtype=object)).ravel()]
        if len(axes) < len(keys):
            raise ValueError(f"ax gives {len(axes)} Axes for {len(keys)} panels (one per key of residuals)")
        ax = np.asarray(axes, dtype=object)
    if ax is None:
        _, ax = plt.subplots(1, len(keys), figsize=(5.5 * len(keys), 3.5), sharey=True, squeeze=False)
        ax = ax[0]
    for a, key in zip(np.atleast_1d(ax), keys):
        r = tables[key]  # (steps, iterations)
        styles = itertools.cycle(["-", "--", ":", "-."])  # told apart by more than colour
        for j in range(r.shape[1]):  # iteration j has one colour and style in every panel
            a.semilogy(r[:, j].numpy(), linestyle=next(styles), color=f"C{j % 10}", label=f"iteration {j + 1}")
        title = f"guidance {key}" if _is_number(key) else str(key)  # a key may be any name
        a.set(xlabel="inversion step (clean to noisy)", title=title)
    np.atleast_1d(ax)[0].set_ylabel("RMS change of the latent")
    # beside the last panel, where it hides no curve (inside, it covered the last iteration's drop); from the panel
    # with the most iterations, so that every line drawn has its entry
    most = max(zip(np.atleast_1d(ax), keys), key=lambda ak: tables[ak[1]].shape[1])[0]
    np.atleast_1d(ax)[-1].legend(
        *most.get_legend_handles_labels(), loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8
    )
    return ax


def plot_error_against_calls(points: dict, *, markers: dict | None = None, ax=None):
    """Reconstruction error against cost, one panel per guidance. ``points`` maps (method label, guidance) to
    (UNet calls, dB under the VAE round trip); labels that start with "fixed-point" and end in the number of
    iterations are joined by a line, the others drawn with ``markers`` (label -> matplotlib marker)."""
    from .ddim import _show

    _check_points(points)
    if markers is not None and not isinstance(markers, dict):
        raise ValueError(f"markers must be a dict of method label -> matplotlib marker, got {type(markers).__name__}")
    for label, marker in (markers or {}).items():
        try:
            MarkerStyle(marker)
        except (TypeError, ValueError):
            raise ValueError(
                f"markers[{_show(label)}] is {_show(marker)}, not a matplotlib marker: use one such as 'o' (circle), "
                "'s' (square), '^' (triangle) or 'D' (diamond)"
            ) from None
    if ax is not None and not all(isinstance(a, plt.Axes) for a in np.atleast_1d(ax)):
        raise ValueError(f"ax must be a matplotlib Axes (or an array of them: one per guidance), got {_show(ax)}")
    guidances = sorted({g for _, g in points})
    if len(guidances) > MAX_FIGURE_PANELS:
        raise ValueError(f"points has {len(guidances)} guidances (one panel each): at most {MAX_FIGURE_PANELS}")
    if ax is not None and len(np.atleast_1d(ax)) < len(guidances):
        raise ValueError(f"ax gives {len(np.atleast_1d(ax))} Axes for {len(guidances)} panels (one per guidance)")
    if ax is None:
        _, ax = plt.subplots(1, len(guidances), figsize=(6 * len(guidances), 4.5), sharey=True, squeeze=False)
        ax = ax[0]
    # a label with no marker of its own is drawn too (it used to be left out without a word)
    shapes = itertools.cycle(["s", "D", "^", "v", "P", "X", "*", "<", ">", "h"])
    unmarked = [lab for lab, _ in points if not lab.startswith("fixed") and lab not in (markers or {})]
    markers = dict(markers or {}) | {lab: next(shapes) for lab in dict.fromkeys(unmarked)}
    for a, g in zip(np.atleast_1d(ax), guidances):
        fixed = sorted((c, db, label) for (label, w), (c, db) in points.items() if w == g and label.startswith("fixed"))
        if fixed:
            a.plot(
                [f[0] for f in fixed],
                [f[1] for f in fixed],
                "-o",
                color="gray",
                markersize=4,  # small and under the methods' markers: EDICT's sat hidden under "k=1"
                zorder=1,
                label="fixed-point (k = iterations)",
            )
        for i, (calls, db, label) in enumerate(fixed):
            # the number of iterations, the label's last number: "fixed-point x3", "fixed-point, 3 iterations";
            # above and below the line in turn, so that neighbours on the log axis do not run together ("k=4k=5")
            k = re.search(r"(\d+)\D*$", label)
            k = k.group(1) if k else "?"
            above = i % 2 == 0
            a.annotate(
                f"k={k}",
                (calls, db),
                textcoords="offset points",
                xytext=(0, 6 if above else -6),
                ha="center",
                va="bottom" if above else "top",
                fontsize=8,
            )
        for i, (label, marker) in enumerate(markers.items()):  # one colour per label, in every panel
            if (label, g) in points:
                a.scatter(*points[label, g], marker=marker, s=80, label=label, zorder=3, color=f"C{i % 10}")
        a.set_xscale("log")
        calls = [c for c, _ in points.values()]  # labelled from about half the fewest to twice the most
        ticks = [t for t in TICKS if min(calls) / 2.5 <= t <= 2 * max(calls)]
        a.set_xticks(ticks, [str(t) for t in ticks])
        a.set_xticks([], minor=True)
        a.axhline(0, color="black", linewidth=0.8, linestyle="--")
        a.margins(y=0.15)  # room for the labels above the highest point and below the lowest
        a.set(xlabel="UNet calls to invert (log scale)", title=f"sampled back at guidance {g}")
    np.atleast_1d(ax)[0].set_ylabel("reconstruction, dB under the VAE round trip")
    entries = {}  # every label drawn in any panel (the last panel's alone left out a method of another guidance)
    for a in np.atleast_1d(ax)[: len(guidances)]:
        for handle, label in zip(*a.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    np.atleast_1d(ax)[-1].legend(
        list(entries.values()), list(entries), loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8
    )
    return ax


TICKS = (1, 2, 5, 10, 25, 50, 100, 200, 400, 800, 1600, 3200, 6400)
"""Where plot_error_against_calls labels its axis of UNet calls."""


def _check_points(points) -> None:
    """``points`` of ``plot_error_against_calls``: (label, guidance) -> (UNet calls, dB), at least one."""
    from .ddim import _show

    if not isinstance(points, dict) or not points:
        raise ValueError(
            "points must be a non-empty dict of (method label, guidance) -> (UNet calls, dB), "
            f"got {_show(points) if not isinstance(points, dict) else 'an empty dict'}"
        )
    for key, value in points.items():
        ok_key = isinstance(key, tuple) and len(key) == 2 and isinstance(key[0], str) and _is_number(key[1])
        ok_value = isinstance(value, (tuple, list)) and len(value) == 2 and all(_is_number(v) for v in value)
        if not (ok_key and ok_value) or not value[0] > 0:
            raise ValueError(
                "each entry of points must be (method label, guidance) -> (UNet calls > 0, dB), finite numbers; "
                f"got {_show(str(key))} -> {_show(str(value))}"
            )


def _is_number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def plot_attention_maps(maps, image=None, *, side: int | None = None, size: float = 1.8):
    """Notebook 07: where each word of the prompt looks (``attention.cross_attention_maps``), one panel a token,
    the image first when given. Every map is drawn on one grey scale, from 0 (black) to the largest value of all of
    them (white), so that a word that looks less anywhere is darker (each map stretched to its own range made every
    word, "on" and "a" too, look as sure of its place as the colour word)."""
    from .attention import AttentionMaps

    if not isinstance(maps, AttentionMaps) or not maps.maps:
        raise ValueError(f"maps must be what cross_attention_maps(pipe, inversion) returns, got {type(maps).__name__}")
    from .ddim import _real, _show

    side = max(maps.maps) if side is None else side
    if not isinstance(side, numbers.Integral) or isinstance(side, bool) or side not in maps.maps:
        shown = f"{side} x {side}" if isinstance(side, numbers.Integral) else f"side={_show(side)}"
        raise ValueError(f"no maps at {shown}; the UNet attends at {sorted(maps.maps)}: pass one of those")
    if image is not None:  # read as show_images reads it: a 0-255 float or a [-1, 1] picture is named, not clipped
        image = _tile(image, 0, "plot_attention_maps: the image")
    size = _real(size, "size", low=0.5, high=20, hint="inches per panel; 1.8 is the default")
    words = maps.tokens[1:-1]  # the start and end tokens hold most of the attention and say nothing about place
    if not words:
        raise ValueError("the prompt of these maps has no words (only its start and end tokens): record a prompt")
    word_maps = [maps.maps[side][i + 1].detach().cpu().float().numpy() for i in range(len(words))]
    top = max(float(m.max()) for m in word_maps)
    top = top if top > 0 else 1.0  # maps of zeros (attention is never negative): black on [0, 1]
    panels = ([image] if image is not None else []) + word_maps
    titles = (["image"] if image is not None else []) + [f"'{w}'" for w in words]
    fig, axes = plt.subplots(1, len(panels), figsize=(size * len(panels), size + 0.55), squeeze=False)
    for ax, panel, title in zip(axes.flat, panels, titles):
        ax.axis("off")
        if image is not None and panel is image:
            ax.imshow(panel, **_map_scale(panel))
        else:  # one scale for every word (a map of one value is drawn at its value, not black)
            ax.imshow(panel, cmap="gray", vmin=0, vmax=top)
        ax.set_title(title, fontsize=9)
    fig.suptitle(
        f"cross-attention at {side} x {side}, averaged over heads, layers and steps\n"
        f"one grey scale for every word: black 0, white {top:.3g}",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def show_source(obj):
    """Show the real source of a package function in the notebook, highlighted (d2l style)."""
    import inspect

    from IPython.display import Code

    if not (inspect.isfunction(obj) or inspect.isclass(obj) or inspect.ismethod(obj) or inspect.ismodule(obj)):
        raise ValueError(f"show_source shows a function, class or module of the package, got {type(obj).__name__}")
    return Code(inspect.getsource(obj), language="python")
