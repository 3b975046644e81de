"""Benchmarks that print tables: ``python -m ddim_course.bench [overhead|cost|widgets|inversions|course|sd15|all]``
(``--model`` picks the pipeline, default pocket; ``--images`` how many images the quality tables use).

Speed is compared as ratios measured in the same run (machines are noisy); quality as PSNR.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

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


def best_times(fns, repeats: int) -> list[float]:
    """Like :func:`best_time` for several functions, run in turns so that a slow spell hits them all alike."""
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
    return [min(ts) for ts in times]


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
        a, b = best_times([fn, base], repeats)
        rows.append([name, f"{a:.3f}", f"{b:.3f}", f"{a / b:.3f}"])
    return _table(
        f"Overhead over the bare UNet loop ({steps} steps, best of {repeats}, {pipe.device})",
        ["what", "ours (s)", "bare UNet loop (s)", "ratio"],
        rows,
    )


def bench_inversion_cost(pipe, *, n_images: int = 3, steps: int = 50, guided: float = 3.5, repeats: int = 3) -> str:
    """Inversion at guidance 1 (one UNet call per step) against guided inversion (two per step, as in the
    well-known lesson, which inverts at 3.5): time, and reconstruction PSNR at the inversion's own guidance."""
    cases = _cases(pipe, n_images)
    rows = []
    for g in (1.0, guided):
        secs, rec, vae = [], [], []
        for im, p in cases:
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
    return _table(
        f"Inversion cost: guidance 1 against guided inversion ({len(cases)} images, {steps} steps, {pipe.device})",
        ["guidance", "UNet calls", "seconds", "reconstruction (dB)", "minus VAE round trip (dB)", "time"],
        rows,
    )


def bench_widgets(pipe, *, steps: int = 50, repeats: int = 3) -> str:
    """Each explorer's re-render: the time from a moved control (or Apply) to the new picture, without a
    browser (the callbacks run as ipywidgets runs them; the browser only swaps a PNG). Inversions are cached."""
    from .widgets import EditExplorer, guidance_explorer, noise_explorer, start_step_explorer

    preset = get_preset(pipe)
    image, source = preset.image(pipe), preset.source_prompt
    inversion = invert(pipe, image, source, num_inference_steps=steps, progress=False)
    noise = noise_explorer(pipe, image).children[0]
    guidance = guidance_explorer(pipe, source, num_inference_steps=steps).children[1]
    start = start_step_explorer(pipe, image, inversion).children[0]
    explorer = EditExplorer(
        pipe,
        image,
        source,
        preset.edit_prompts[0],
        start_step=preset.edit_start_step,
        guidance_scale=preset.edit_guidance,
        num_inference_steps=steps,
    )
    edit_box = explorer.widget()
    edit_start, apply = edit_box.children[1], edit_box.children[3]

    def mover(control, a, b):
        def move():
            control.value = b if control.value == a else a

        return move

    def apply_at(s):
        def run():
            edit_start.value = s
            apply.click()

        return run

    cases = [
        ("noise explorer (01): move t", "decode", mover(noise, 500, 600)),
        ("guidance explorer (02): move guidance", f"sample, {steps} guided steps", mover(guidance, 5.0, 7.5)),
        ("start_step explorer (04): move start_step", "reconstruct + img2img from 10 or 11", mover(start, 10, 11)),
        (
            f"edit explorer (05): Apply at start_step {preset.edit_start_step}",
            f"edit, {steps - preset.edit_start_step} guided steps",
            apply_at(preset.edit_start_step),
        ),
        ("edit explorer (05): Apply at start_step 0", f"edit, {steps} guided steps", apply_at(0)),
    ]
    times = best_times([c[2] for c in cases], repeats)
    rows = []
    for (name, work, _), t in zip(cases, times):
        target = name.startswith("edit explorer")  # the target is for the editing widget
        rows.append(
            [name, work, f"{t:.3f}", "<= 1 s" if target else "", ("yes" if t <= 1.0 else "NO") if target else ""]
        )
    return _table(
        f"Widget re-render from a cached inversion (best of {repeats}, {pipe.device})",
        ["control", "work", "seconds", "target", "met"],
        rows,
    )


def bench_course(notebooks_dir: Path | None = None) -> str:
    """Each notebook's run time under nbval (``python -m pytest NOTEBOOK``, one process each), and the total."""
    root = Path(__file__).resolve().parents[1]
    folder = notebooks_dir or root / "notebooks"
    books = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if not books:
        raise FileNotFoundError(f"no notebooks in {folder}: run this from a clone of the course's repository")
    rows, total = [], 0.0
    env = dict(os.environ, HF_HUB_OFFLINE="1", MPLBACKEND="Agg")
    for nb in books:
        t = time.perf_counter()
        # the repo's pytest settings (nbval's options, the conftest with the expected outputs) apply
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-c",
            str(root / "pyproject.toml"),
            "--rootdir",
            str(root),
            str(nb),
        ]
        done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
        secs = time.perf_counter() - t
        total += secs
        last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr.strip()[-200:]
        rows.append([nb.name, f"{secs:.1f}", "passed" if done.returncode == 0 else f"FAILED: {last}"])
    rows.append(["**total**", f"{total:.1f}", ""])
    return _table(
        f"The whole course under nbval (one pytest process per notebook, torch threads {torch.get_num_threads()})",
        ["notebook", "seconds", "result"],
        rows,
    )


def _cases(pipe, n_images: int) -> list:
    """(image, caption) pairs: held-out drawn scenes for the pocket model, else the preset's image."""
    preset = get_preset(pipe)
    if preset.name == "pocket":
        from .pocket.scenes import draw_scenes

        return [(s.pil(), s.caption) for s in draw_scenes(n_images, seed=20_000)]
    return [(preset.image(pipe), preset.source_prompt)][:n_images]


def bench_inversions(pipe, *, n_images: int = 3, guidance: float = 7.5, inner_steps: int = 10) -> str:
    """DDIM, null-text and negative-prompt inversion: reconstruction at high guidance, time, UNet calls."""
    from .inversions import negative_prompt_invert, null_text_invert

    cases = _cases(pipe, n_images)
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


# Stable Diffusion 1.5's published architecture (its model_index/config.json files), written out so that the
# benchmark needs no download; the weights are random, which does not change the cost of a step.
SD15_UNET = dict(
    sample_size=64,
    in_channels=4,
    out_channels=4,
    layers_per_block=2,
    block_out_channels=(320, 640, 1280, 1280),
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=768,
    attention_head_dim=8,
)
SD15_VAE = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    block_out_channels=(128, 256, 512, 512),
    layers_per_block=2,
    latent_channels=4,
    sample_size=512,
)
SD15_TEXT = dict(
    vocab_size=49408,
    hidden_size=768,
    intermediate_size=3072,
    num_hidden_layers=12,
    num_attention_heads=12,
    max_position_embeddings=77,
    hidden_act="quick_gelu",
    projection_dim=768,
)


def sd15_shaped_pipeline(*, device: str = "cpu", dtype: torch.dtype = torch.float32):
    """A StableDiffusionPipeline with SD 1.5's architecture and random weights (the pocket tokenizer, padded
    to SD's 77 tokens, stands in for CLIP's, whose files would need a download)."""
    from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from .pocket.model import build_tokenizer, make_scheduler

    tokenizer = build_tokenizer()
    tokenizer.model_max_length = SD15_TEXT["max_position_embeddings"]
    torch.manual_seed(0)
    pipe = StableDiffusionPipeline(
        vae=AutoencoderKL(**SD15_VAE),
        text_encoder=CLIPTextModel(CLIPTextConfig(**SD15_TEXT)),
        tokenizer=tokenizer,
        unet=UNet2DConditionModel(**SD15_UNET),
        scheduler=make_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device, dtype)


def _peak_memory(device: str) -> str:
    if device.startswith("cuda"):
        return f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB (GPU)"
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return f"{peak / (2**30 if sys.platform == 'darwin' else 2**20):.2f} GiB (process RSS)"


def bench_sd15(*, device: str | None = None, steps: int | None = None) -> str:
    """Sampling and inversion on an SD-1.5-shaped pipeline at 512x512: seconds per step and peak memory.
    On CUDA in fp16 and fp32; on a CPU in fp32 with a few steps (a step takes seconds there)."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    steps = steps or (50 if device.startswith("cuda") else 3)
    repeats = 3 if device.startswith("cuda") else 1
    dtypes = [torch.float16, torch.float32] if device.startswith("cuda") else [torch.float32]
    name = torch.cuda.get_device_name() if device.startswith("cuda") else f"CPU, {torch.get_num_threads()} threads"
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def timed(fn):  # GPU work is queued: wait for it to finish before the clock stops
        def run():
            fn()
            sync()

        return run

    rows = []
    for dtype in dtypes:
        pipe = sd15_shaped_pipeline(device=device, dtype=dtype)
        image = torch.zeros(1, 4, 64, 64, device=device, dtype=dtype)  # a 512x512 image's latent
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        run_sample = timed(
            partial(
                sample,
                pipe,
                "a cat",
                guidance_scale=7.5,
                output_type="latent",
                progress=False,
                num_inference_steps=steps,
            )
        )
        run_invert = timed(partial(invert, pipe, image, "a cat", num_inference_steps=steps, progress=False))
        run_decode = timed(partial(decode, pipe, image, output_type="pt"))
        for warm_up in (run_sample, run_invert, run_decode):  # first calls pay for kernel selection and caches
            warm_up()
        t_sample, t_invert, t_decode = best_times([run_sample, run_invert, run_decode], repeats)
        rows.append(
            [
                str(dtype).replace("torch.", ""),
                f"{t_sample / steps:.3f}",
                f"{t_invert / steps:.3f}",
                f"{t_decode:.3f}",
                f"{t_sample:.1f} s for {steps}",
                _peak_memory(device),
            ]
        )
        del pipe, run_sample, run_invert, run_decode  # free this copy before building the next
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
    return _table(
        f"SD-1.5-shaped pipeline (random weights), 512x512, on {name}",
        ["dtype", "s/step sampling (g 7.5)", "s/step inversion (g 1)", "VAE decode (s)", "sampling", "peak memory"],
        rows,
    )


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m ddim_course.bench", description=__doc__.split("\n")[0])
    p.add_argument(
        "what", nargs="?", default="all", choices=["overhead", "cost", "widgets", "inversions", "course", "sd15", "all"]
    )
    p.add_argument("--model", default="pocket")
    p.add_argument("--images", type=int, default=3)
    args = p.parse_args(argv)
    if args.what == "sd15":  # not in "all": minutes on a CPU, and a few GB of memory
        print(f"torch {torch.__version__}")
        print(bench_sd15(), flush=True)
        return
    if args.what == "course":
        print(bench_course(), flush=True)
        return
    pipe = load_pipeline(args.model)
    print(f"model {args.model}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    if args.what in ("overhead", "all"):
        print(bench_overhead(pipe), flush=True)
    if args.what in ("cost", "all"):
        print(bench_inversion_cost(pipe, n_images=args.images), flush=True)
    if args.what in ("widgets", "all"):
        print(bench_widgets(pipe), flush=True)
    if args.what in ("inversions", "all"):
        print(bench_inversions(pipe, n_images=args.images), flush=True)
    if args.what in ("course", "all"):
        print(bench_course(), flush=True)


if __name__ == "__main__":
    main()
