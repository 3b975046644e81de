"""What inverting at guidance 1 saves against guided inversion, and what it gains in reconstruction."""

from __future__ import annotations

import statistics
from functools import partial

from ..ddim import invert, reconstruct
from ..images import decode, encode
from ..metrics import psnr
from ..timing import best_time
from .common import cases, table


def bench_inversion_cost(pipe, *, n_images: int = 3, steps: int = 50, guided: float = 3.5, repeats: int = 3) -> str:
    """Inversion at guidance 1 (one UNet call per step) against guided inversion (two per step, as in the
    well-known lesson, which inverts at 3.5): time, and reconstruction PSNR at the inversion's own guidance."""
    images = cases(pipe, n_images)
    rows = []
    for g in (1.0, guided):
        secs, rec, vae = [], [], []
        for im, p in images:
            latents = encode(pipe, im)
            run = partial(invert, pipe, latents, p, num_inference_steps=steps, guidance_scale=g, progress=False)
            secs.append(best_time(run, repeats))
            inv = run()
            rec.append(psnr(im, reconstruct(pipe, inv, guidance_scale=g, progress=False)[0]))
            vae.append(psnr(im, decode(pipe, latents)[0]))
        r, v = statistics.mean(rec), statistics.mean(vae)
        rows.append([f"{g:g}", str(inv.unet_calls), f"{statistics.mean(secs):.3f}", f"{r:.2f}", f"{r - v:+.2f}"])
    rows[1].append(f"{float(rows[1][2]) / float(rows[0][2]):.2f}x")
    rows[0].append("1.00x")
    return table(
        f"Inversion cost: guidance 1 against guided inversion ({len(images)} images, {steps} steps, {pipe.device})",
        ["guidance", "UNet calls", "seconds", "reconstruction (dB)", "minus VAE round trip (dB)", "time"],
        rows,
    )
