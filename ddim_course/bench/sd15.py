"""Sampling and inversion on a Stable-Diffusion-1.5-shaped pipeline (random weights, no download) at 512x512."""

from __future__ import annotations

import sys
from functools import partial

import torch

from ..ddim import invert, sample
from ..editing import edit
from ..images import decode
from ..inversions import direct_invert
from ..quiet import quiet_logs
from ..timing import best_times
from .common import table

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

# an edit whose words the pocket tokenizer (standing in for CLIP's) knows, so that the token alignment is real
EDIT_PROMPTS = ("a red circle on stripes", "a blue circle on stripes")


def sd15_shaped_pipeline(*, device: str = "cpu", dtype: torch.dtype = torch.float32):
    """A StableDiffusionPipeline with SD 1.5's architecture and random weights (the pocket tokenizer, padded
    to SD's 77 tokens, stands in for CLIP's, whose files would need a download)."""
    from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from ..pocket.model import build_tokenizer, make_scheduler

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
    with quiet_logs("diffusers"):  # random modules: "set torch_dtype in from_pretrained" does not apply
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

    rows, edit_rows = [], []
    for dtype in dtypes:
        pipe = sd15_shaped_pipeline(device=device, dtype=dtype)
        side = pipe.unet.config.sample_size  # 64: a 512x512 image's latent
        image = torch.zeros(1, 4, side, side, device=device, dtype=dtype)
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
        # an edit's sampling (the inversion done once, outside the clock): the plain prompt swap against
        # prompt-to-prompt after a DDIM inversion (4 UNet rows a step) and after a direct one (3 rows a step)
        edits = {}
        for method, invert_with in (("ddim", invert), ("direct", direct_invert)):
            kwargs = {"guidance_scale": 1.0} if method == "ddim" else {}
            inv = invert_with(pipe, image, EDIT_PROMPTS[0], num_inference_steps=steps, progress=False, **kwargs)
            edits[method] = partial(
                edit,
                pipe,
                None,
                *EDIT_PROMPTS,
                inversion=inv,
                start_step=0,
                num_inference_steps=steps,
                guidance_scale=7.5,
                output_type="latent",
                progress=False,
            )
        runs = [
            run_sample,
            run_invert,
            run_decode,
            timed(partial(edits["ddim"], control=None)),
            timed(partial(edits["ddim"], control="prompt-to-prompt")),
            timed(partial(edits["direct"], control="prompt-to-prompt")),
        ]
        for warm_up in runs:  # first calls pay for kernel selection and caches
            warm_up()
        t_sample, t_invert, t_decode, t_swap, t_p2p, t_direct = best_times(runs, repeats)
        edit_rows.append(
            [
                str(dtype).replace("torch.", ""),
                f"{t_swap:.2f}",
                f"{t_p2p:.2f} ({t_p2p / t_swap:.2f}x)",
                f"{t_direct:.2f} ({t_direct / t_swap:.2f}x)",
            ]
        )
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
        del pipe, run_sample, run_invert, run_decode, runs, edits  # free this copy before building the next
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
    return "\n".join(
        [
            table(
                f"SD-1.5-shaped pipeline (random weights), {side * 8}x{side * 8}, on {name}",
                [
                    "dtype",
                    "s/step sampling (g 7.5)",
                    "s/step inversion (g 1)",
                    "VAE decode (s)",
                    "sampling",
                    "peak memory",
                ],
                rows,
            ),
            table(
                f"Cost of prompt-to-prompt on the same pipeline: an edit's {steps} sampling steps at guidance 7.5, "
                f"inversion left out, on {name}",
                ["dtype", "prompt swap (s)", "DDIM + P2P (s)", "direct + P2P (s)"],
                edit_rows,
            ),
        ]
    )
