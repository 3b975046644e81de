"""The inversion methods of ``ddim_course.inversions.METHODS``: reconstruction against UNet calls, at guidance 1 and
7.5 (fixed-point inversion with 1 to 5 iterations), and the time each takes."""

from __future__ import annotations

import statistics
import time

from ..ddim import reconstruct
from ..images import decode, encode
from ..inversions import METHODS
from ..metrics import psnr
from .common import cases, table

FIXED_POINT_ITERATIONS = (1, 2, 3, 4, 5)


def _variants() -> list[tuple[str, str, dict]]:
    """(label, registry name, keyword arguments): every method, fixed-point once per number of iterations."""
    out = []
    for name, method in METHODS.items():
        if name == "fixed-point":
            out += [
                (f"fixed-point, {k} iteration{'s' * (k > 1)}", name, {"iterations": k}) for k in FIXED_POINT_ITERATIONS
            ]
        else:
            out.append((method.label, name, {}))
    return out


def bench_inversions(
    pipe, *, n_images: int = 3, steps: int = 50, guidances: tuple[float, ...] = (1.0, 7.5), inner_steps: int = 10
) -> str:
    """Every registered method at each guidance: reconstruction PSNR from step 0 and its gap to the VAE round trip
    (the best any inversion can do), seconds and UNet calls. ``inner_steps`` goes to null-text inversion."""
    variants = _variants()
    results = {(g, label): {"rec": [], "s": [], "calls": []} for g in guidances for label, _, _ in variants}
    images = cases(pipe, n_images)
    vae = []
    for im, p in images:
        vae.append(psnr(im, decode(pipe, encode(pipe, im))[0]))
        for g in guidances:
            for label, name, kw in variants:
                if name == "null-text":
                    kw = {"inner_steps": inner_steps}
                t = time.perf_counter()
                inv = METHODS[name](pipe, im, p, num_inference_steps=steps, guidance_scale=g, progress=False, **kw)
                r = results[(g, label)]
                r["s"].append(time.perf_counter() - t)
                r["calls"].append(inv.unet_calls)
                r["rec"].append(psnr(im, reconstruct(pipe, inv, start_step=0, guidance_scale=g, progress=False)[0]))
    ceiling = statistics.mean(vae)
    rows = []
    for (g, label), r in results.items():
        rec = statistics.mean(r["rec"])
        calls, seconds = statistics.mean(r["calls"]), statistics.mean(r["s"])
        below = round(rec - ceiling, 2) + 0.0  # + 0.0: no "-0.00"
        rows.append([f"{g:g}", label, f"{rec:.2f}", f"{below:+.2f}", f"{seconds:.2f}", f"{calls:.0f}"])
    return table(
        f"Inversion methods: reconstruction from step 0 against cost ({len(images)} images, {steps} steps, "
        f"{pipe.device}; VAE round trip {ceiling:.2f} dB)",
        ["guidance", "method", "PSNR (dB)", "minus VAE round trip (dB)", "seconds", "UNet calls"],
        rows,
    )
