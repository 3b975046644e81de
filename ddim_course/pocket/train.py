"""Train the pocket model: ``python -m ddim_course.pocket.train --out DIR``.

Two phases, both reproducible from ``--seed``:
1. the autoencoder (AutoencoderKL) on random 32x32 crops of drawn scenes and of the photos in
   ``images/`` (it is fully convolutional, so it then works on whole 64x64 images);
2. the UNet and the text encoder together on precomputed latents of drawn scenes, with the caption
   dropped 10% of the time (for classifier-free guidance), epsilon loss with min-SNR weighting and an
   exponential moving average (EMA) of the weights.
The result is an ordinary diffusers StableDiffusionPipeline folder in safetensors. ``--smoke`` runs a
tiny version end to end in seconds (used by the tests). ``--device cuda`` trains on a GPU, ``--workers``
draws the scenes in parallel processes, ``--vae-from`` keeps an existing autoencoder (phase 1 skipped) and
``--init-from`` goes on training a pipeline folder's UNet and text encoder,
``--unet-minutes`` sets the UNet's step count from a measured step time (the count used is written to
``training_args.json``, so the run can be repeated with ``--unet-steps``).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import StableDiffusionPipeline
from PIL import Image
from tqdm.auto import tqdm

from ..files import discard_work, stops_as_interrupt, swap_in_folder, work_folder
from ..models import _check_safetensors, _FolderError, _read_json
from ..quiet import no_progress_bars, quiet_logs
from .model import (
    build_tokenizer,
    make_scheduler,
    make_text_encoder,
    make_unet,
    make_vae,
    save_text_encoder_with_prefix,
    save_tokenizer_files,
)
from .scenes import draw_scenes

PHOTOS = Path(__file__).resolve().parents[2] / "images"


def _lr(step: int, total: int, base: float, warmup: int = 100) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress)))


def _photo_pool(size: int = 96) -> list[np.ndarray]:
    """The course photos at a few small scales, as float arrays in [0, 1]."""
    pool = []
    for path in sorted(PHOTOS.glob("*.jpg")):
        im = Image.open(path).convert("RGB")
        for side in (size, int(size * 1.5), size * 2):
            scale = side / min(im.size)
            small = im.resize((round(im.width * scale), round(im.height * scale)), Image.BICUBIC)
            pool.append(np.asarray(small, np.float32) / 255)
    return pool


def _crop_batch(rng, scenes: np.ndarray, photos: list[np.ndarray], batch: int, crop: int, photo_frac: float):
    out = np.empty((batch, crop, crop, 3), np.float32)
    for i in range(batch):
        if photos and rng.random() < photo_frac:
            src = photos[rng.integers(len(photos))]
        else:
            src = scenes[rng.integers(len(scenes))]
        y = rng.integers(0, src.shape[0] - crop + 1)
        x = rng.integers(0, src.shape[1] - crop + 1)
        out[i] = src[y : y + crop, x : x + crop]
    return torch.from_numpy(out).permute(0, 3, 1, 2) * 2 - 1


def train_vae(vae, *, steps, batch, lr, seed, pool_size, log, photo_frac=0.2, crop=32, progress=True):
    rng = np.random.default_rng(seed)
    scenes = np.stack([s.image for s in draw_scenes(pool_size, seed=seed + 1)])
    photos = _photo_pool() if photo_frac > 0 else []
    opt = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)
    vae.train()
    bar = tqdm(range(steps), desc="autoencoder", disable=not progress)
    for step in bar:
        for g in opt.param_groups:
            g["lr"] = _lr(step, steps, lr)
        x = _crop_batch(rng, scenes, photos, batch, crop, photo_frac).to(next(vae.parameters()).device)
        post = vae.encode(x).latent_dist
        recon = vae.decode(post.sample()).sample
        mse = F.mse_loss(recon, x)
        kl = post.kl().mean() / x[0].numel()
        loss = mse + 0.1 * F.l1_loss(recon, x) + 1e-5 * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        if step % 50 == 0 or step == steps - 1:
            psnr = 10 * math.log10(4 / max(mse.item(), 1e-12))  # images in [-1, 1]
            bar.set_postfix(mse=f"{mse.item():.5f}", psnr=f"{psnr:.1f}")
            log({"phase": "vae", "step": step, "mse": mse.item(), "kl": kl.item(), "psnr": psnr})
    vae.eval()
    return vae


PROBE = (50, 150, 200)  # --unet-minutes: time steps 50..150, then run at least 200 steps (warm-up is 200 steps)
CHUNK = 1000  # with --workers, scenes are drawn in chunks of this many, each from its own seed
CHUNK_SEEDS = 1_000_000  # chunk seeds start here, far from every held-out seed (10 000, 30 000, 50 000)


def _draw_chunk(args):
    n, seed = args
    return draw_scenes(n, seed=seed)


def draw_training_scenes(n: int, seed: int, workers: int = 1) -> list:
    """``draw_scenes(n, seed)`` with one worker; with several, chunks of CHUNK scenes from seeds
    ``CHUNK_SEEDS + 1000 * seed + i`` drawn in parallel processes (the same scenes for any number of workers > 1)."""
    if workers <= 1:
        return draw_scenes(n, seed=seed)
    from concurrent.futures import ProcessPoolExecutor

    jobs = [(min(CHUNK, n - i), CHUNK_SEEDS + 1000 * seed + i // CHUNK) for i in range(0, n, CHUNK)]
    with ProcessPoolExecutor(workers) as pool:
        return [scene for chunk in pool.map(_draw_chunk, jobs) for scene in chunk]


@torch.no_grad()
def encode_scenes(vae, n: int, seed: int, batch: int = 256, progress=True, workers: int = 1):
    """Latent means (unscaled, on the VAE's device) and captions of n freshly drawn scenes."""
    scenes = draw_training_scenes(n, seed, workers)
    device = next(vae.parameters()).device
    latents, captions = [], []
    for i in tqdm(range(0, n, batch), desc="encode scenes", disable=not progress):
        chunk = scenes[i : i + batch]
        x = torch.from_numpy(np.stack([s.image for s in chunk])).permute(0, 3, 1, 2).to(device) * 2 - 1
        latents.append(vae.encode(x).latent_dist.mean)
        captions += [s.caption for s in chunk]
    return torch.cat(latents), captions


def train_unet(
    unet,
    text_encoder,
    tokenizer,
    scheduler,
    latents,
    captions,
    *,
    steps,
    batch,
    lr,
    seed,
    log,
    drop_prob=0.1,
    ema_decay=0.999,
    snr_gamma=5.0,
    progress=True,
    budget_s=None,
):
    """Train; with ``budget_s`` the step count is set after PROBE[1] steps (inside the warm-up, whose learning rate
    does not depend on it) so the run takes about that many seconds. Returns the EMA models and the step count."""
    device = latents.device
    if budget_s is not None:
        steps = 10**9  # until step PROBE[1] has measured the step time
    gen = torch.Generator().manual_seed(seed)
    ids_all = tokenizer(
        captions, padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt"
    ).input_ids
    empty = tokenizer("", padding="max_length", max_length=tokenizer.model_max_length, return_tensors="pt").input_ids[0]
    params = list(unet.parameters()) + list(text_encoder.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-2, fused=device.type == "cuda")
    ema_unet, ema_text = copy.deepcopy(unet).eval(), copy.deepcopy(text_encoder).eval()
    live = [p for m in (unet, text_encoder) for p in m.parameters()]
    ema = [p for m in (ema_unet, ema_text) for p in m.parameters()]
    alphas_cumprod = scheduler.alphas_cumprod
    snr = alphas_cumprod / (1 - alphas_cumprod)
    weights = (torch.clamp(snr, max=snr_gamma) / snr).to(device)  # min-SNR weighting for epsilon prediction
    unet.train()
    text_encoder.train()
    bar = tqdm(total=None if budget_s else steps, desc="unet", disable=not progress)
    running = None
    step, started = 0, None
    while step < steps:
        if step == PROBE[0]:
            started = time.time()
        if budget_s is not None and step == PROBE[1]:
            per_step = (time.time() - started) / (PROBE[1] - PROBE[0])
            steps = max(PROBE[2], int(budget_s / per_step) // 500 * 500)
            bar.total = steps
            log({"phase": "unet", "step": step, "seconds_per_step": per_step, "steps": steps})
        for g in opt.param_groups:
            g["lr"] = _lr(step, steps, lr, warmup=200)
        idx = torch.randint(0, len(latents), (batch,), generator=gen)
        z0 = latents[idx.to(device)]
        ids = ids_all[idx].clone()
        drop = torch.rand(batch, generator=gen) < drop_prob
        ids[drop] = empty
        noise = torch.randn(z0.shape, generator=gen).to(device)
        t = torch.randint(0, scheduler.config.num_train_timesteps, (batch,), generator=gen).to(device)
        zt = scheduler.add_noise(z0, noise, t)
        cond = text_encoder(ids.to(device)).last_hidden_state
        pred = unet(zt, t, cond).sample
        per = ((pred - noise) ** 2).mean(dim=(1, 2, 3))
        loss = (per * weights[t]).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        decay = min(ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            torch._foreach_lerp_(ema, live, 1 - decay)
        if step % 50 == 0 or step == steps - 1:
            value = loss.item()
            running = value if running is None else 0.98**50 * running + (1 - 0.98**50) * value
            bar.set_postfix(loss=f"{running:.4f}")
            log(
                {
                    "phase": "unet",
                    "step": step,
                    "loss": value,
                    "loss_smooth": running,
                    "eps_mse": per.mean().item(),
                }
            )
        step += 1
        bar.update()
    bar.close()
    return ema_unet, ema_text, steps


def build_pipeline(vae, text_encoder, tokenizer, unet) -> StableDiffusionPipeline:
    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=make_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


LIMITS = (
    ("vae_steps", 1_000_000, "the shipped run trains 5,000"),
    ("unet_steps", 1_000_000, "the shipped run trains 4,000"),
    ("vae_batch", 1024, "the shipped run uses 32"),
    ("unet_batch", 1024, "the shipped run uses 64"),
    ("scenes", 200_000, "the shipped run draws 30,000; they are all held in memory"),
    ("workers", 64, "processes started at once"),
)


def _check_args(p: argparse.ArgumentParser, args) -> None:
    """Refuse arguments that would crash deep inside torch or train nothing, with the argument's name."""
    for name in ("vae_steps", "vae_batch", "unet_steps", "unet_batch", "scenes", "workers"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    for name, top, why in LIMITS:  # a few beyond any sensible run: memory (scenes, batches) or processes (workers)
        if getattr(args, name) > top:
            p.error(f"--{name.replace('_', '-')} must be at most {top} ({why}), got {getattr(args, name)}")
    for name in ("vae_lr", "unet_lr", "unet_minutes"):
        v = getattr(args, name)
        if v is not None and not (math.isfinite(v) and v > 0):
            p.error(f"--{name.replace('_', '-')} must be a number above 0, got {v}")
    if args.unet_minutes is not None and args.unet_minutes > MAX_MINUTES:
        p.error(f"--unet-minutes must be at most {MAX_MINUTES} (a week), got {args.unet_minutes:g}")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in args.out):
        p.error(f"--out {args.out!r} holds a control character (a line break?); remove it")
    if not args.out.strip():  # "" is the current folder, "   " a folder named with spaces
        p.error(f"--out is {'empty' if not args.out else 'only spaces'}: name the folder to train into")
    if not 0 <= args.seed < 2**31:  # seeds + offsets must stay inside numpy's and torch's 64-bit seeds
        p.error(f"--seed must be a whole number in [0, 2**31), got {args.seed}")
    try:
        device = torch.device(args.device)
    except (RuntimeError, ValueError):
        p.error(f"--device must be 'cpu' or 'cuda' (or 'cuda:N'), got {args.device!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: this machine has no CUDA GPU that torch can use; train with --device cpu")
    if device.type not in ("cpu", "cuda"):
        p.error(f"--device must be 'cpu' or 'cuda', got {args.device!r}")
    if args.init_from is not None and args.attention_16:
        p.error("--attention-16 builds a new UNet; --init-from goes on training that folder's own: use --vae-from")
    if args.init_from is not None and args.vae_from is not None:
        p.error("--init-from keeps that folder's autoencoder; leave out --vae-from")
    for name, parts in (("vae_from", ("vae",)), ("init_from", ("vae", "unet", "text_encoder"))):
        folder = getattr(args, name)
        if folder is None:
            continue
        for part in parts:
            if not (Path(folder) / part / "config.json").is_file():
                p.error(f"--{name.replace('_', '-')} {folder}: no {part}/config.json there; give a pipeline folder")
            weights = sorted((Path(folder) / part).glob("*.safetensors"))
            if not weights:  # pickled .bin weights can run code: never read
                p.error(
                    f"--{name.replace('_', '-')} {folder}: no {part}/*.safetensors there; the course reads weights "
                    "only as safetensors (a pickled .bin file can run code when loaded)"
                )
            try:  # a damaged folder is named now, not in a traceback after minutes of drawing scenes
                _read_json(Path(folder) / part / "config.json", f"{part}/config.json")
                for file in weights:
                    _check_safetensors(file, f"{part}/{file.name}")
            except _FolderError as e:
                p.error(f"--{name.replace('_', '-')} {folder}: {e}")


# what a run writes in --out: the files that mark an earlier run, and every entry a run writes (none is a link)
RUN_MARKERS = ("training_args.json", "model_index.json")
RUN_ENTRIES = (*RUN_MARKERS, "train_log.jsonl", "unet", "vae", "text_encoder", "tokenizer", "scheduler")


def _links_in(out: Path, entries) -> list[Path]:
    """Every symbolic link among ``out``'s ``entries`` and inside those that are folders (links are not followed)."""
    found = []
    for name in entries:
        path = out / name
        if path.is_symlink():
            found.append(path)
        elif path.is_dir():
            for root, dirs, files in os.walk(path):
                found += [Path(root) / n for n in dirs + files if (Path(root) / n).is_symlink()]
    return found


def main(argv: list[str] | None = None) -> Path:
    p = argparse.ArgumentParser(prog="python -m ddim_course.pocket.train", description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="folder to write the pipeline to (must not exist, or use --force)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--vae-steps", type=int, default=5000)
    p.add_argument("--vae-batch", type=int, default=32)
    p.add_argument("--vae-lr", type=float, default=1e-3)
    p.add_argument("--unet-steps", type=int, default=4000)
    p.add_argument("--unet-batch", type=int, default=64)
    p.add_argument("--unet-lr", type=float, default=5e-4)
    p.add_argument("--scenes", type=int, default=30_000, help="drawn scenes the UNet learns from")
    p.add_argument("--unet-minutes", type=float, default=None, help="set --unet-steps from a measured step time")
    p.add_argument("--vae-from", default=None, help="a pipeline folder whose autoencoder to keep (skips phase 1)")
    p.add_argument(
        "--init-from", default=None, help="a pipeline folder to go on training: its UNet, text encoder and autoencoder"
    )
    p.add_argument(
        "--attention-16",
        action="store_true",
        help="a UNet that attends at 16x16 as well (the shipped one attends at 8x8 and 4x4 only); not with --init-from",
    )
    p.add_argument("--device", default="cpu", help="'cpu' (default) or 'cuda'")
    p.add_argument("--workers", type=int, default=1, help="processes that draw the scenes (more than 1: chunked)")
    p.add_argument("--smoke", action="store_true", help="tiny models, a few steps: proves the script works")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    _check_args(p, args)
    out = Path(args.out)
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        p.error(f"--out {out} is a link or a file; name a folder (new, or one of your runs with --force)")
    if out.exists() and any(out.iterdir()):
        left = sorted(n for n in os.listdir(out) if n.startswith((".partial-", ".old-")))
        old = [n for n in left if n.startswith(".old-")]
        if left and len(left) == len(os.listdir(out)):  # `ls` shows an empty folder
            if old:  # stopped while the new run was moved in: the earlier run, set aside, is all there is
                p.error(
                    f"{out} holds only {old[0]}: your earlier run, set aside while a new one was moved in when it was "
                    f"stopped; move its files back into {out} (or delete it if you do not need it) and run again"
                )
            p.error(
                f"{out} holds only {left[0]}, the unfinished folder of a run that was stopped: delete it "
                f"(rm -r {str(out / left[0])!r}) and run again"
            )
        if not args.force:
            p.error(f"{out} exists and is not empty; choose another --out or pass --force")
        if not any((out / name).is_file() for name in RUN_MARKERS):  # --force replaces a run, not a folder of yours
            p.error(
                f"{out} is not empty and holds no earlier run (no {' or '.join(RUN_MARKERS)}); --force only "
                "replaces a run: choose a new --out"
            )
        linked = _links_in(out, RUN_ENTRIES)
        if linked:
            p.error(f"{linked[0]} is a link; a run is written only into its own folders, not through a link")
    if args.smoke:  # said, not done quietly: the learner's own values of these are replaced
        args.vae_steps, args.vae_batch, args.unet_steps, args.unet_batch, args.scenes = 20, 8, 20, 16, 128
        print("--smoke: 20 autoencoder steps (batch 8), 20 UNet steps (batch 16), 128 scenes", file=sys.stderr)
    # the run is written into a hidden folder inside --out and moved into place when it is complete: Ctrl-C or a
    # crash leaves --out as it was (an earlier run keeps its weights and its own log, a file of yours stays)
    with stops_as_interrupt():  # a closed terminal or `timeout` (SIGHUP, SIGTERM) cleans up as Ctrl-C does
        try:
            work, made = work_folder(out, ".partial-")
        except OSError as e:
            p.error(f"cannot write in --out {out} ({e.strerror or e}); choose a folder you can write to")
        try:
            _train(args, work)
            swap_in_folder(work, out)
        except BaseException:
            discard_work(work, out, made)
            raise
    return out


MAX_MINUTES = 7 * 24 * 60
"""The most ``--unet-minutes`` a run may ask for (a week)."""


class TrainError(Exception):
    """A training run that cannot go on, for a reason the message names (a folder whose weights do not load)."""


def _load_part(cls, flag: str, folder, part: str):
    """``cls.from_pretrained(folder/part)`` (safetensors only), or a :class:`TrainError` naming the option: also when
    weights are missing or of other shapes (the weights of another model load with a warning of hundreds of names)."""
    why = None
    try:
        with quiet_logs("diffusers", "transformers"):
            model, info = cls.from_pretrained(Path(folder) / part, use_safetensors=True, output_loading_info=True)
        lost = list(info.get("missing_keys") or []) + list(info.get("mismatched_keys") or [])
        if lost:
            why = f"{len(lost)} of its weights are missing or of another shape, such as {str(lost[0])[:80]}"
    except Exception as e:  # noqa: BLE001 - a config of another model, weights of other shapes, ...
        why = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
    if why is not None:
        raise TrainError(
            f"--{flag.replace('_', '-')} {folder}: its {part} could not be loaded ({why}); give a pipeline folder "
            "this script wrote, copied again if it is damaged"
        )
    return model


def _train(args, out: Path) -> None:
    """Train and save a pipeline into the folder ``out`` (``main`` gives it a temporary one), logging as it goes."""
    # closed also on Ctrl-C: the folder can then be removed
    with (out / "train_log.jsonl").open("w", encoding="utf-8") as log_file:
        _train_logged(args, out, log_file)


def _train_logged(args, out: Path, log_file) -> None:
    torch.manual_seed(args.seed)
    progress = not args.no_progress
    t0 = time.time()

    def log(record):
        record["seconds"] = round(time.time() - t0, 1)
        log_file.write(json.dumps(record) + "\n")
        log_file.flush()

    device = torch.device(args.device)
    tokenizer = build_tokenizer()
    vae_folder = args.init_from or args.vae_from  # --init-from keeps its folder's autoencoder too
    if args.init_from:  # loaded first: a folder that cannot be loaded is named before minutes of work
        from diffusers import UNet2DConditionModel
        from transformers import CLIPTextModel

        text_encoder = _load_part(CLIPTextModel, "init_from", args.init_from, "text_encoder").to(device)
        unet = _load_part(UNet2DConditionModel, "init_from", args.init_from, "unet").to(device)
    if vae_folder:
        from diffusers import AutoencoderKL

        flag = "init_from" if args.init_from else "vae_from"
        vae = _load_part(AutoencoderKL, flag, vae_folder, "vae").to(device).eval()
    else:
        vae = make_vae(tiny=args.smoke).to(device)
        vae = train_vae(
            vae,
            steps=args.vae_steps,
            batch=args.vae_batch,
            lr=args.vae_lr,
            seed=args.seed,
            pool_size=min(6000, max(64, args.scenes // 5)),
            log=log,
            photo_frac=0.0 if args.smoke else 0.15,
            progress=progress,
        )
    latents, captions = encode_scenes(vae, args.scenes, seed=args.seed + 2, progress=progress, workers=args.workers)
    if vae_folder:  # the kept autoencoder keeps its scaling factor
        scaling = float(vae.config.scaling_factor)
    else:
        scaling = float(1 / latents.std())
        vae.register_to_config(scaling_factor=scaling)
    log({"phase": "latents", "n": len(latents), "std": float(latents.std()), "scaling_factor": scaling})
    if not args.init_from:
        text_encoder = make_text_encoder(len(tokenizer), tiny=args.smoke).to(device)
        dim = text_encoder.config.hidden_size
        unet = make_unet(tiny=args.smoke, cross_attention_dim=dim, attention_16=args.attention_16).to(device)
    unet, text_encoder, args.unet_steps = train_unet(
        unet,
        text_encoder,
        tokenizer,
        make_scheduler(),
        latents * scaling,
        captions,
        steps=args.unet_steps,
        batch=args.unet_batch,
        lr=args.unet_lr,
        seed=args.seed + 3,
        log=log,
        progress=progress,
        budget_s=None if args.unet_minutes is None else 60 * args.unet_minutes,
    )
    pipe = build_pipeline(vae.cpu(), text_encoder.cpu(), tokenizer, unet.cpu())
    # --no-progress: not diffusers' "Writing model shards" bar either
    with contextlib.nullcontext() if progress else no_progress_bars("diffusers"):
        pipe.save_pretrained(out, safe_serialization=True)
    save_text_encoder_with_prefix(out / "text_encoder")
    save_tokenizer_files(tokenizer, out / "tokenizer")
    (out / "training_args.json").write_text(json.dumps(vars(args), indent=2) + "\n", encoding="utf-8")
    log({"phase": "done"})


if __name__ == "__main__":
    try:
        main()
    except TrainError as e:
        print(f"error: {e}; --out was left as it was", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted; --out was left as it was (the unfinished run was removed)", file=sys.stderr)
        sys.exit(130)
