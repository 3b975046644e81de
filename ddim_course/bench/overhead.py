"""The overhead of the course's ``sample`` and ``invert`` over a bare loop of the same UNet calls."""

from __future__ import annotations

import torch

from ..ddim import _schedule, _unet_eps, encode_text, invert, sample
from ..images import encode
from ..models import get_preset
from ..timing import best_time, best_times
from .common import table


@torch.inference_mode()
def bench_overhead(pipe, *, steps: int = 50, guidance: float = 5.0, repeats: int = 5) -> str:
    """``sample`` and ``invert`` against a bare loop of the same UNet calls on the same inputs."""
    preset = get_preset(pipe)
    prompt = preset.source_prompt
    image = preset.image(pipe)
    latents = encode(pipe, image)
    cond, uncond = encode_text(pipe, prompt, guidance=True)
    timesteps, _ = _schedule(pipe, steps)
    start = torch.randn(latents.shape, generator=torch.Generator().manual_seed(0))

    def bare(guided: bool):
        x = start.clone()
        for t in timesteps:
            _unet_eps(pipe, x, t, cond, uncond if guided else None, guidance)

    def ours_sample():
        sample(
            pipe,
            prompt,
            start_latents=start.clone(),
            num_inference_steps=steps,
            guidance_scale=guidance,
            output_type="latent",
            progress=False,
        )

    def ours_invert():
        invert(pipe, latents, prompt, num_inference_steps=steps, progress=False)

    best_time(ours_sample, 1)  # warm up
    rows = []
    for name, fn, base in (
        ("sample (guided)", ours_sample, lambda: bare(True)),
        ("invert (guidance 1)", ours_invert, lambda: bare(False)),
    ):
        a, b = best_times([fn, base], repeats)
        rows.append([name, f"{a:.3f}", f"{b:.3f}", f"{a / b:.3f}"])
    return table(
        f"Overhead over the bare UNet loop ({steps} steps, best of {repeats}, {pipe.device})",
        ["what", "ours (s)", "bare UNet loop (s)", "ratio"],
        rows,
    )
