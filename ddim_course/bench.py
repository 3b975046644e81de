"""Benchmarks that print tables: ``python -m ddim_course.bench [overhead|inversions|all] [--model pocket]``.

Speed is compared as ratios measured in the same run (machines are noisy); quality as PSNR.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from .ddim import _schedule, _unet_eps, encode_text, invert, reconstruct, sample
from .images import decode, encode
from .metrics import psnr
from .models import get_preset, load_pipeline


def best_time(fn, repeats: int) -> float:
    """The fastest of ``repeats`` runs of ``fn``, in seconds (the least disturbed by other work)."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _table(title: str, header: list[str], rows: list[list]) -> str:
    cells = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = [
        f"### {title}",
        "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in cells[1:]]
    return "\n".join(lines)


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
        a, b = best_time(fn, repeats), best_time(base, repeats)
        rows.append([name, f"{a:.3f}", f"{b:.3f}", f"{a / b:.3f}"])
    return _table(
        f"Overhead over the bare UNet loop ({steps} steps, best of {repeats}, {pipe.device})",
        ["what", "ours (s)", "bare UNet loop (s)", "ratio"],
        rows,
    )


def bench_inversions(pipe, *, n_images: int = 3, guidance: float = 7.5, inner_steps: int = 10) -> str:
    """DDIM, null-text and negative-prompt inversion: reconstruction at high guidance, time, UNet calls."""
    from .inversions import negative_prompt_invert, null_text_invert

    preset = get_preset(pipe)
    if preset.name == "pocket":
        from .pocket.scenes import draw_scenes

        cases = [(s.pil(), s.caption) for s in draw_scenes(n_images, seed=20_000)]
    else:
        cases = [(preset.image(pipe), preset.source_prompt)][:n_images]
    methods = {
        "DDIM (guidance 1)": lambda im, p: invert(pipe, im, p, progress=False),
        "null-text": lambda im, p: null_text_invert(
            pipe, im, p, guidance_scale=guidance, inner_steps=inner_steps, progress=False
        ),
        "negative-prompt": lambda im, p: negative_prompt_invert(pipe, im, p, guidance_scale=guidance, progress=False),
    }
    results = {name: {"rec": [], "vae": [], "s": [], "calls": []} for name in methods}
    for im, p in cases:
        vae = psnr(im, decode(pipe, encode(pipe, im))[0])
        for name, run in methods.items():
            t = time.perf_counter()
            inv = run(im, p)
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
                name,
                f"{rec:.2f}",
                f"{rec - vae:+.2f}",
                f"{statistics.mean(r['s']):.2f}",
                f"{statistics.mean(r['calls']):.0f}",
            ]
        )
    return _table(
        f"Inversion methods, reconstruction at guidance {guidance} ({len(cases)} images, {pipe.device})",
        ["method", "PSNR (dB)", "minus VAE round trip (dB)", "seconds", "UNet calls"],
        rows,
    )


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m ddim_course.bench", description=__doc__.split("\n")[0])
    p.add_argument("what", nargs="?", default="all", choices=["overhead", "inversions", "all"])
    p.add_argument("--model", default="pocket")
    p.add_argument("--images", type=int, default=3)
    args = p.parse_args(argv)
    pipe = load_pipeline(args.model)
    print(f"model {args.model}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    if args.what in ("overhead", "all"):
        print(bench_overhead(pipe))
    if args.what in ("inversions", "all"):
        print(bench_inversions(pipe, n_images=args.images))


if __name__ == "__main__":
    main()
