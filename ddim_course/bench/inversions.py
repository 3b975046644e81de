"""The inversion methods of ``ddim_course.inversions.METHODS``: reconstruction at high guidance, time, UNet calls."""

from __future__ import annotations

import statistics
import time

from ..ddim import reconstruct
from ..images import decode, encode
from ..inversions import METHODS
from ..metrics import psnr
from .common import cases, table


def bench_inversions(pipe, *, n_images: int = 3, steps: int = 50, guidance: float = 7.5, inner_steps: int = 10) -> str:
    """Every registered method (DDIM, null-text, negative-prompt): reconstruction at ``guidance``, time, UNet calls.
    ``inner_steps`` goes to null-text inversion (Adam steps per timestep)."""
    options = {"null-text": {"inner_steps": inner_steps}}
    results = {name: {"rec": [], "vae": [], "s": [], "calls": []} for name in METHODS}
    images = cases(pipe, n_images)
    for im, p in images:
        vae = psnr(im, decode(pipe, encode(pipe, im))[0])
        for name, method in METHODS.items():
            t = time.perf_counter()
            inv = method(
                pipe, im, p, num_inference_steps=steps, guidance_scale=guidance, progress=False, **options.get(name, {})
            )
            results[name]["s"].append(time.perf_counter() - t)
            results[name]["calls"].append(inv.unet_calls)
            back = reconstruct(pipe, inv, start_step=0, guidance_scale=guidance, progress=False)[0]
            results[name]["rec"].append(psnr(im, back))
            results[name]["vae"].append(vae)
    rows = []
    for name, r in results.items():
        rec, vae = statistics.mean(r["rec"]), statistics.mean(r["vae"])
        rows.append(
            [
                METHODS[name].label,
                f"{rec:.2f}",
                f"{rec - vae:+.2f}",
                f"{statistics.mean(r['s']):.2f}",
                f"{statistics.mean(r['calls']):.0f}",
            ]
        )
    return table(
        f"Inversion methods, reconstruction at guidance {guidance} "
        f"({len(images)} images, {steps} steps, {pipe.device})",
        ["method", "PSNR (dB)", "minus VAE round trip (dB)", "seconds", "UNet calls"],
        rows,
    )
