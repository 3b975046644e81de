"""Beyond plain DDIM inversion: null-text inversion and negative-prompt inversion.

Both return an :class:`~ddim_course.ddim.Inversion`, so ``reconstruct`` and ``edit`` use them unchanged.
"""

from __future__ import annotations

import contextlib
import time

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .ddim import (
    Inversion,
    _alphas,
    _check_guidance,
    _prediction_type,
    _schedule,
    _unet_eps,
    ddim_step,
    encode_text,
    invert,
)
from .models import get_preset


@contextlib.contextmanager
def _frozen(module: torch.nn.Module):
    """Turn off gradients for a module's weights for a while (we optimise an input, not the model)."""
    before = [p.requires_grad for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), before):
            p.requires_grad_(flag)


def null_text_invert(
    pipe,
    image,
    prompt: str,
    *,
    num_inference_steps: int = 50,
    guidance_scale: float = 7.5,
    inner_steps: int = 10,
    learning_rate: float | None = None,
    early_stop: float | None = None,
    progress: bool = True,
) -> Inversion:
    """Null-text inversion (Mokady et al., 2022): learn one unconditional embedding per step.

    The pivot is DDIM inversion at guidance 1. Then, from the noisiest step down, Adam tunes the
    unconditional ("null-text") embedding so that the *guided* DDIM step lands on the pivot's next latent.
    The learning rate decays to half over the run (``learning_rate * (1 - i / (2 n))`` at step i of n: the paper's
    ``1 - i / 100`` for 50 steps) and step i stops early once its loss is below ``early_stop * (1 + 2 i)``. Both
    default to the model's preset: the paper's 1e-2 and 1e-5 for Stable Diffusion, 1e-1 and 1e-7 for the pocket
    model (measured; see ``PRESETS`` in ``ddim_course/models.py``). At guidance 1 the unconditional embedding has
    no effect, so there is nothing to learn: the result is plain DDIM inversion.
    """
    g = _check_guidance(guidance_scale)
    if inner_steps < 0:
        raise ValueError(f"inner_steps must be >= 0, got {inner_steps}")
    preset = get_preset(pipe)
    lr = preset.null_text_learning_rate if learning_rate is None else float(learning_rate)
    stop = preset.null_text_early_stop if early_stop is None else float(early_stop)
    if not lr > 0:
        raise ValueError(f"learning_rate must be > 0 (the paper uses 1e-2), got {lr}")
    if not stop >= 0:
        raise ValueError(f"early_stop must be >= 0 (the paper uses 1e-5; 0 never stops early), got {stop}")
    start = time.perf_counter()
    pivot = invert(pipe, image, prompt, num_inference_steps=num_inference_steps, guidance_scale=1.0, progress=progress)
    timesteps, ratio = _schedule(pipe, num_inference_steps)
    alphas, final = _alphas(pipe)
    ptype = _prediction_type(pipe)
    n = num_inference_steps
    batch = pivot.latents[0].shape[0]
    with torch.inference_mode():
        cond, uncond0 = encode_text(pipe, prompt, guidance=True, batch=batch)
    cond, uncond = cond.clone(), uncond0.clone().float()
    info = {"seconds": 0.0, "learning_rate": lr, "early_stop": stop}
    if g == 1:  # guided = conditional estimate whatever the null embedding: keep the empty prompt's
        info.update(losses=[0.0] * n, seconds=time.perf_counter() - start)
        return _null_text_inversion(pivot, [uncond0.clone()] * n, g, n, info)
    # a half-precision UNet's gradients are tiny here (a mean over the latent): scale the loss so they don't
    # underflow; Adam's steps do not depend on the scale
    scale = 1024.0 if pipe.unet.dtype == torch.float16 else 1.0
    x = pivot.latents[-1].clone()
    embeddings, losses, calls = [], [], n  # the pivot cost n UNet calls
    with _frozen(pipe.unet), _frozen(pipe.text_encoder):
        for i in tqdm(range(n), desc="null-text inversion", disable=not progress, leave=False):
            t = timesteps[i]
            target = pivot.latents[n - i - 1].clone()
            with torch.no_grad():
                eps_cond = pipe.unet(x.to(pipe.unet.dtype), t, encoder_hidden_states=cond).sample.float()
            calls += 1
            uncond = uncond.detach().requires_grad_(True)
            opt = torch.optim.Adam([uncond], lr=lr * (1.0 - i / (2 * n)))
            loss_value = float("nan")
            for _ in range(inner_steps):
                eps_uncond = pipe.unet(
                    x.to(pipe.unet.dtype), t, encoder_hidden_states=uncond.to(pipe.unet.dtype)
                ).sample.float()
                calls += 1
                eps = eps_uncond + g * (eps_cond - eps_uncond)
                x_prev = ddim_step(eps, t, t - ratio, x, alphas, final_alpha_cumprod=final, prediction_type=ptype)
                loss = F.mse_loss(x_prev, target)
                opt.zero_grad(set_to_none=True)
                (loss * scale).backward()
                opt.step()
                loss_value = loss.item()
                if loss_value < stop * (1 + 2 * i):  # the paper's 1e-5 + i * 2e-5 when stop = 1e-5
                    break
            uncond = uncond.detach()
            # a copy: Adam goes on updating `uncond` in place at the next step (keeping the tensor itself would
            # leave every step holding the last step's embedding)
            embeddings.append(uncond.clone().to(cond.dtype))
            losses.append(loss_value)
            with torch.no_grad():
                eps = _unet_eps(pipe, x, t, cond, uncond.to(cond.dtype), g)
                calls += 2
                x = ddim_step(eps, t, t - ratio, x, alphas, final_alpha_cumprod=final, prediction_type=ptype)
    info.update(losses=losses, seconds=time.perf_counter() - start)
    inversion = _null_text_inversion(pivot, embeddings, g, n, info)
    inversion.unet_calls = calls
    return inversion


def _null_text_inversion(pivot: Inversion, embeddings: list, g: float, n: int, info: dict) -> Inversion:
    return Inversion(
        latents=pivot.latents,
        timesteps=pivot.timesteps,
        prompt=pivot.prompt,
        guidance_scale=g,
        num_inference_steps=n,
        uncond_embeddings=embeddings,
        method="null-text",
        unet_calls=pivot.unet_calls,
        info=info,
    )


def negative_prompt_invert(
    pipe,
    image,
    prompt: str,
    *,
    num_inference_steps: int = 50,
    guidance_scale: float = 7.5,
    progress: bool = True,
) -> Inversion:
    """Negative-prompt inversion (Miyake et al., 2023): DDIM inversion at guidance 1, then guided sampling
    with the source prompt as the negative prompt. No optimisation: same cost as plain DDIM inversion.

    With the prompt as its own negative, the guided noise estimate equals the conditional one at any
    guidance, so reconstruction retraces the guidance-1 inversion; an edit pushes away from the source prompt.
    """
    g = _check_guidance(guidance_scale)
    start = time.perf_counter()
    pivot = invert(pipe, image, prompt, num_inference_steps=num_inference_steps, guidance_scale=1.0, progress=progress)
    return Inversion(
        latents=pivot.latents,
        timesteps=pivot.timesteps,
        prompt=prompt,
        guidance_scale=g,
        num_inference_steps=num_inference_steps,
        negative_prompt=prompt,
        method="negative-prompt",
        unet_calls=pivot.unet_calls,
        info={"seconds": time.perf_counter() - start},
    )
