"""DDIM sampling and inversion, written out the way the course teaches them.

The one update everything here uses (Song et al., "Denoising Diffusion Implicit Models", 2020, eq. 12):

    x0_pred   = (x_t - sqrt(1 - a_t) * eps) / sqrt(a_t)           # what the model thinks the clean latent is
    direction = sqrt(1 - a_prev - sigma**2) * eps                  # points back towards x_t
    x_prev    = sqrt(a_prev) * x0_pred + direction + sigma * noise # sigma = 0 when eta = 0

where ``a_t`` is ``alphas_cumprod[t]`` (alpha-bar in the papers). Run it from a noisier timestep to a
cleaner one and you sample; run it from a cleaner one to a noisier one (eta = 0) and you invert.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from PIL import Image
from tqdm.auto import tqdm

from .images import decode, encode

PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")


# --------------------------------------------------------------------------------------------------
# the update
# --------------------------------------------------------------------------------------------------
def predict_x0_and_eps(model_output, x_t, alpha_t, *, prediction_type="epsilon"):
    """Turn the model's output at ``x_t`` into (predicted clean latent, predicted noise)."""
    a, b = alpha_t**0.5, (1 - alpha_t) ** 0.5
    if prediction_type == "epsilon":
        return (x_t - b * model_output) / a, model_output
    if prediction_type == "v_prediction":  # v = sqrt(a) * eps - sqrt(1 - a) * x0
        return a * x_t - b * model_output, a * model_output + b * x_t
    if prediction_type == "sample":
        return model_output, (x_t - a * model_output) / b
    raise ValueError(f"prediction_type must be one of {PREDICTION_TYPES}, got {prediction_type!r}")


def ddim_update(model_output, x_t, alpha_t, alpha_prev, *, prediction_type="epsilon", eta=0.0, noise=None):
    """One DDIM move of ``x_t`` from the noise level ``alpha_t`` to ``alpha_prev`` (either direction)."""
    x0, eps = predict_x0_and_eps(model_output, x_t, alpha_t, prediction_type=prediction_type)
    sigma = 0.0
    if eta > 0:
        sigma = eta * ((1 - alpha_prev) / (1 - alpha_t)) ** 0.5 * (1 - alpha_t / alpha_prev) ** 0.5
    direction = (1 - alpha_prev - sigma**2) ** 0.5 * eps
    x_prev = alpha_prev**0.5 * x0 + direction
    if eta > 0:
        if noise is None:
            raise ValueError("eta > 0 needs noise: pass noise=torch.randn_like(x_t) (or a seeded generator's)")
        x_prev = x_prev + sigma * noise
    return x_prev


def ddim_step(
    model_output: torch.Tensor,
    t: int,
    t_prev: int,
    x_t: torch.Tensor,
    alphas_cumprod: torch.Tensor,
    *,
    final_alpha_cumprod: float | torch.Tensor,
    prediction_type: str = "epsilon",
    eta: float = 0.0,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """One DDIM step from timestep ``t`` to ``t_prev`` (``t_prev < 0`` means the end: ``final_alpha_cumprod``)."""
    t, t_prev = int(t), int(t_prev)
    if not 0 <= t < len(alphas_cumprod):
        raise ValueError(f"t must be in [0, {len(alphas_cumprod) - 1}], got {t}")
    if t_prev >= len(alphas_cumprod):
        raise ValueError(f"t_prev must be below {len(alphas_cumprod)}, got {t_prev}")
    if eta < 0:
        raise ValueError(f"eta must be >= 0 (0 = deterministic DDIM, 1 = DDPM-like), got {eta}")
    alpha_t = alphas_cumprod[t]
    alpha_prev = alphas_cumprod[t_prev] if t_prev >= 0 else final_alpha_cumprod
    alpha_t, alpha_prev = _as_float64(alpha_t), _as_float64(alpha_prev)
    return ddim_update(model_output, x_t, alpha_t, alpha_prev, prediction_type=prediction_type, eta=eta, noise=noise)


def _as_float64(a) -> float:
    return float(a.double()) if isinstance(a, torch.Tensor) else float(a)


# --------------------------------------------------------------------------------------------------
# pipeline plumbing
# --------------------------------------------------------------------------------------------------
def _schedule(pipe, num_inference_steps: int):
    """The sampler's timesteps (noisiest first) and the step size between them."""
    if isinstance(num_inference_steps, bool) or not isinstance(num_inference_steps, int):
        raise ValueError(f"num_inference_steps must be a whole number >= 1, got {num_inference_steps!r}")
    n_train = pipe.scheduler.config.num_train_timesteps
    if not 1 <= num_inference_steps <= n_train:
        raise ValueError(f"num_inference_steps must be in [1, {n_train}], got {num_inference_steps}")
    pipe.scheduler.set_timesteps(num_inference_steps)
    timesteps = [int(t) for t in pipe.scheduler.timesteps]
    return timesteps, n_train // num_inference_steps


def _alphas(pipe):
    sch = pipe.scheduler
    alphas = sch.alphas_cumprod.double()
    final = float(getattr(sch, "final_alpha_cumprod", alphas[0]))
    return alphas, final


def _prediction_type(pipe) -> str:
    return pipe.scheduler.config.get("prediction_type", "epsilon")


def _check_guidance(guidance_scale) -> float:
    g = float(guidance_scale)
    if not math.isfinite(g) or g < 0:
        raise ValueError(f"guidance_scale must be >= 0 (1 = no guidance, 7.5 is typical), got {guidance_scale}")
    return g


def _check_start_step(start_step, num_inference_steps) -> int:
    if isinstance(start_step, bool) or not isinstance(start_step, int):
        raise ValueError(f"start_step must be a whole number, got {start_step!r}")
    if not 0 <= start_step < num_inference_steps:
        raise ValueError(
            f"start_step must be in [0, {num_inference_steps - 1}] for {num_inference_steps} steps, got {start_step}"
        )
    return start_step


def _prompts(prompt, batch: int | None = None) -> list[str]:
    if isinstance(prompt, str):
        prompts = [prompt]
    elif isinstance(prompt, Sequence) and all(isinstance(p, str) for p in prompt) and len(prompt) > 0:
        prompts = list(prompt)
    else:
        raise ValueError(f"prompt must be a string or a list of strings, got {type(prompt).__name__}")
    if batch is not None and len(prompts) == 1 and batch > 1:
        prompts = prompts * batch
    return prompts


def encode_text(pipe, prompt, *, negative_prompt="", guidance: bool = True, batch: int | None = None):
    """Text embeddings (cond, uncond) with ``pipe.encode_prompt``; uncond is None when not guiding."""
    prompts = _prompts(prompt, batch)
    negatives = _prompts(negative_prompt if negative_prompt is not None else "", len(prompts))
    if len(negatives) != len(prompts):
        raise ValueError(f"negative_prompt has {len(negatives)} entries for {len(prompts)} prompts")
    _warn_if_truncated(pipe, prompts + negatives)
    cond, uncond = pipe.encode_prompt(
        prompts, pipe.device, 1, guidance, negative_prompt=negatives if guidance else None
    )
    return cond, (uncond if guidance else None)


def _warn_if_truncated(pipe, prompts: list[str]) -> None:
    import warnings

    limit = pipe.tokenizer.model_max_length
    for p in prompts:
        n = len(pipe.tokenizer(p, truncation=False).input_ids)
        if n > limit:
            warnings.warn(
                f"prompt is {n} tokens long but the text encoder reads at most {limit}; the end is cut off: {p!r}",
                stacklevel=4,
            )


def _unet_eps(pipe, latents, t, cond, uncond, guidance_scale):
    """The model output at ``latents``, with classifier-free guidance when ``uncond`` is given."""
    unet = pipe.unet
    x = latents.to(unet.dtype)
    if uncond is None:
        out = unet(x, t, encoder_hidden_states=cond).sample
    else:
        both = unet(torch.cat([x, x]), t, encoder_hidden_states=torch.cat([uncond, cond])).sample
        out_u, out_c = both.chunk(2)
        out = out_u + guidance_scale * (out_c - out_u)
    return out.to(latents.dtype)


def randn(shape, generator: torch.Generator | None, device) -> torch.Tensor:
    """Float32 Gaussian noise drawn on the generator's device (so a seed gives the same noise anywhere)."""
    gen_device = generator.device if generator is not None else torch.device("cpu")
    return torch.randn(shape, generator=generator, device=gen_device, dtype=torch.float32).to(device)


def _initial_latents(pipe, batch, generator, height=None, width=None):
    h = height or pipe.unet.config.sample_size * pipe.vae_scale_factor
    w = width or pipe.unet.config.sample_size * pipe.vae_scale_factor
    shape = (batch, pipe.unet.config.in_channels, h // pipe.vae_scale_factor, w // pipe.vae_scale_factor)
    return randn(shape, generator, pipe.device) * pipe.scheduler.init_noise_sigma


def _check_latents(pipe, latents, what="start_latents"):
    if not isinstance(latents, torch.Tensor):
        raise ValueError(f"{what} must be a torch tensor of latents, got {type(latents).__name__}")
    c = pipe.unet.config.in_channels
    if latents.ndim != 4 or latents.shape[1] != c:
        raise ValueError(f"{what} must have shape (batch, {c}, height, width), got {tuple(latents.shape)}")
    f = 2 ** (len(pipe.unet.config.block_out_channels) - 1)
    if latents.shape[2] % f or latents.shape[3] % f:
        raise ValueError(f"{what}'s height and width must be multiples of {f}, got {tuple(latents.shape[2:])}")


# --------------------------------------------------------------------------------------------------
# sampling
# --------------------------------------------------------------------------------------------------
@torch.inference_mode()
def denoise(
    pipe,
    latents: torch.Tensor,
    cond: torch.Tensor,
    uncond: torch.Tensor | Sequence[torch.Tensor] | None,
    *,
    num_inference_steps: int,
    guidance_scale: float,
    start_step: int = 0,
    eta: float = 0.0,
    generator: torch.Generator | None = None,
    progress: bool = True,
) -> torch.Tensor:
    """The DDIM sampling loop from ``timesteps[start_step]`` down to the clean latent.

    ``uncond`` may be one embedding or a list with one per step (what null-text inversion learns).
    """
    timesteps, ratio = _schedule(pipe, num_inference_steps)
    _check_start_step(start_step, num_inference_steps)
    alphas, final = _alphas(pipe)
    ptype = _prediction_type(pipe)
    latents = latents.to(pipe.device, torch.float32)
    for i in tqdm(range(start_step, num_inference_steps), desc="DDIM sampling", disable=not progress, leave=False):
        t = timesteps[i]
        u = uncond[i] if isinstance(uncond, (list, tuple)) else uncond
        eps = _unet_eps(pipe, latents, t, cond, u, guidance_scale)
        noise = None
        if eta > 0:
            noise = randn(latents.shape, generator, latents.device)
        latents = ddim_step(
            eps, t, t - ratio, latents, alphas, final_alpha_cumprod=final, prediction_type=ptype, eta=eta, noise=noise
        )
    return latents


@torch.inference_mode()
def sample(
    pipe,
    prompt: str | list[str],
    *,
    num_inference_steps: int = 50,
    guidance_scale: float = 7.5,
    negative_prompt: str | list[str] = "",
    start_latents: torch.Tensor | None = None,
    start_step: int = 0,
    eta: float = 0.0,
    generator: torch.Generator | None = None,
    output_type: str = "pil",
    progress: bool = True,
) -> list[Image.Image] | torch.Tensor:
    """Text to image with DDIM; or continue from ``start_latents`` at ``timesteps[start_step]``."""
    _schedule(pipe, num_inference_steps)
    _check_start_step(start_step, num_inference_steps)
    g = _check_guidance(guidance_scale)
    if eta < 0:
        raise ValueError(f"eta must be >= 0 (0 = deterministic DDIM, 1 = DDPM-like), got {eta}")
    if output_type not in ("pil", "latent", "pt", "np"):
        raise ValueError(f"output_type must be 'pil', 'latent', 'pt' or 'np', got {output_type!r}")
    if start_latents is None:
        if start_step != 0:
            raise ValueError("start_step > 0 needs start_latents (the latent at timesteps[start_step])")
        batch = len(_prompts(prompt))
        latents = _initial_latents(pipe, batch, generator)
    else:
        _check_latents(pipe, start_latents)
        latents = start_latents
    cond, uncond = encode_text(pipe, prompt, negative_prompt=negative_prompt, guidance=g > 1, batch=latents.shape[0])
    if cond.shape[0] != latents.shape[0]:
        raise ValueError(f"{cond.shape[0]} prompts for a batch of {latents.shape[0]} latents")
    latents = denoise(
        pipe,
        latents,
        cond,
        uncond,
        num_inference_steps=num_inference_steps,
        guidance_scale=g,
        start_step=start_step,
        eta=eta,
        generator=generator,
        progress=progress,
    )
    if output_type == "latent":
        return latents
    return decode(pipe, latents, output_type=output_type)


# --------------------------------------------------------------------------------------------------
# inversion
# --------------------------------------------------------------------------------------------------
@dataclass
class Inversion:
    """A DDIM inversion: the whole trajectory from the clean latent to (nearly) pure noise.

    ``latents[0]`` is the clean latent and ``latents[k]`` (k >= 1) the latent at ``timesteps[-k]``,
    so ``latents[-1]`` is the most noised. ``timesteps`` are the sampler's (noisiest first).
    ``uncond_embeddings`` is filled by methods that learn one unconditional embedding per step.
    """

    latents: list[torch.Tensor]
    timesteps: list[int]
    prompt: str | list[str]
    guidance_scale: float
    num_inference_steps: int
    negative_prompt: str | list[str] = ""
    uncond_embeddings: list[torch.Tensor] | torch.Tensor | None = None
    method: str = "ddim"
    unet_calls: int = 0
    info: dict = field(default_factory=dict)

    def latents_at(self, start_step: int) -> torch.Tensor:
        """The latent at ``timesteps[start_step]``: exactly where sampling from ``start_step`` begins."""
        _check_start_step(start_step, self.num_inference_steps)
        return self.latents[self.num_inference_steps - start_step]

    def timestep_at(self, start_step: int) -> int:
        """The timestep of ``latents_at(start_step)``."""
        _check_start_step(start_step, self.num_inference_steps)
        return self.timesteps[start_step]

    @property
    def clean_latent(self) -> torch.Tensor:
        return self.latents[0]

    @property
    def noise_latent(self) -> torch.Tensor:
        return self.latents[-1]


def _image_latents(pipe, image) -> torch.Tensor:
    if isinstance(image, torch.Tensor):
        _check_latents(pipe, image, "latents")
        return image.to(pipe.device, torch.float32)
    return encode(pipe, image).float()


@torch.inference_mode()
def invert(
    pipe,
    image,
    prompt: str | list[str],
    *,
    num_inference_steps: int = 50,
    guidance_scale: float = 1.0,
    negative_prompt: str | list[str] = "",
    progress: bool = True,
) -> Inversion:
    """DDIM inversion of an image (PIL, path, or latents): run the update from clean to noisy."""
    timesteps, ratio = _schedule(pipe, num_inference_steps)
    g = _check_guidance(guidance_scale)
    latents = _image_latents(pipe, image)
    cond, uncond = encode_text(pipe, prompt, negative_prompt=negative_prompt, guidance=g > 1, batch=latents.shape[0])
    alphas, final = _alphas(pipe)
    ptype = _prediction_type(pipe)
    trajectory = [latents]
    for t in tqdm(list(reversed(timesteps)), desc="DDIM inversion", disable=not progress, leave=False):
        # from the previous (cleaner) noise level to t; the model is asked at t, as diffusers'
        # DDIMInverseScheduler does (the local-linearity assumption: eps(x_{t-1}, t) ~ eps(x_t, t))
        t_from = t - ratio
        alpha_from = float(alphas[t_from]) if t_from >= 0 else final
        eps = _unet_eps(pipe, latents, t, cond, uncond, g)
        latents = ddim_update(eps, latents, alpha_from, float(alphas[t]), prediction_type=ptype)
        trajectory.append(latents)
    return Inversion(
        latents=trajectory,
        timesteps=timesteps,
        prompt=prompt,
        guidance_scale=g,
        num_inference_steps=num_inference_steps,
        negative_prompt=negative_prompt,
        unet_calls=num_inference_steps * (2 if g > 1 else 1),
    )


@torch.inference_mode()
def reconstruct(
    pipe,
    inversion: Inversion,
    *,
    prompt: str | list[str] | None = None,
    start_step: int = 0,
    guidance_scale: float | None = None,
    num_inference_steps: int | None = None,
    output_type: str = "pil",
    progress: bool = True,
):
    """Sample back from ``inversion.latents_at(start_step)`` (by default with the inversion's prompt and guidance)."""
    if not isinstance(inversion, Inversion):
        raise ValueError(f"inversion must be an Inversion (from invert()), got {type(inversion).__name__}")
    n = inversion.num_inference_steps
    if num_inference_steps is not None and num_inference_steps != n:
        raise ValueError(
            f"this inversion has {n} steps; reconstruct with num_inference_steps={n} or invert again with "
            f"{num_inference_steps}"
        )
    _check_start_step(start_step, n)
    prompt = inversion.prompt if prompt is None else prompt
    g = inversion.guidance_scale if guidance_scale is None else _check_guidance(guidance_scale)
    start = inversion.latents_at(start_step)
    _check_latents(pipe, start, "the inversion's latents")
    if inversion.uncond_embeddings is not None and g > 1:
        cond, _ = encode_text(pipe, prompt, guidance=False, batch=start.shape[0])
        uncond = inversion.uncond_embeddings
    else:
        cond, uncond = encode_text(
            pipe, prompt, negative_prompt=inversion.negative_prompt, guidance=g > 1, batch=start.shape[0]
        )
    latents = denoise(
        pipe, start, cond, uncond, num_inference_steps=n, guidance_scale=g, start_step=start_step, progress=progress
    )
    if output_type == "latent":
        return latents
    return decode(pipe, latents, output_type=output_type)


@torch.inference_mode()
def img2img(
    pipe,
    image,
    prompt: str | list[str],
    *,
    start_step: int,
    num_inference_steps: int = 50,
    guidance_scale: float = 7.5,
    generator: torch.Generator | None = None,
    output_type: str = "pil",
    progress: bool = True,
):
    """img2img: noise the image's latent to ``timesteps[start_step]`` with fresh noise, then sample."""
    timesteps, _ = _schedule(pipe, num_inference_steps)
    _check_start_step(start_step, num_inference_steps)
    latents = _image_latents(pipe, image)
    noise = randn(latents.shape, generator, latents.device)
    t = torch.tensor([timesteps[start_step]] * latents.shape[0])
    noisy = pipe.scheduler.add_noise(latents, noise, t)
    return sample(
        pipe,
        prompt,
        num_inference_steps=num_inference_steps,
        guidance_scale=guidance_scale,
        start_latents=noisy,
        start_step=start_step,
        output_type=output_type,
        progress=progress,
    )


@torch.inference_mode()
def edit(
    pipe,
    image,
    source_prompt: str,
    target_prompt: str,
    *,
    start_step: int = 10,
    num_inference_steps: int = 50,
    guidance_scale: float = 7.5,
    inversion: Inversion | None = None,
    output_type: str = "pil",
    progress: bool = True,
):
    """Invert with ``source_prompt`` (or reuse ``inversion``), then sample with ``target_prompt``."""
    _check_start_step(start_step, num_inference_steps)
    if inversion is None:
        inversion = invert(pipe, image, source_prompt, num_inference_steps=num_inference_steps, progress=progress)
    elif inversion.num_inference_steps != num_inference_steps:
        raise ValueError(
            f"the given inversion has {inversion.num_inference_steps} steps but num_inference_steps is "
            f"{num_inference_steps}; pass num_inference_steps={inversion.num_inference_steps}"
        )
    return reconstruct(
        pipe,
        inversion,
        prompt=target_prompt,
        start_step=start_step,
        guidance_scale=guidance_scale,
        output_type=output_type,
        progress=progress,
    )
