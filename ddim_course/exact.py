"""Exact inversion: fixed-point DDIM inversion, EDICT and edit-friendly DDPM inversion. Taught in notebook 08.

Plain DDIM inversion asks the model at the wrong latent (the one it comes from, not the one it goes to), so
sampling back does not land exactly on the image. The three answers here remove that error in three ways:

- fixed-point inversion solves each step's equation by iterating (``invert(..., fixed_point_iterations=k)``);
- EDICT (Wallace et al. 2023) carries two latents that update each other, a step that can be undone exactly;
- edit-friendly DDPM inversion (Huberman-Spiegelglas et al. 2024) noises the image independently at every
  timestep and solves for the noise that the stochastic (eta = 1) sampler must add to land on each one.

Each returns an :class:`~ddim_course.ddim.Inversion` that ``reconstruct`` and ``edit`` sample the right way.
"""

from __future__ import annotations

import time

import torch

from .ddim import (
    EDICT_MIX,
    MAX_FIXED_POINT_ITERATIONS,
    MAX_LATENT_SIZE,
    Inversion,
    NonFiniteError,
    _alpha_before,
    _alphas,
    _bar,
    _check_generator,
    _check_guidance,
    _check_mix,
    _edict_blow_up,
    _edict_coefficients,
    _image_latents,
    _prediction_type,
    _schedule,
    _unet_eps,
    _whole,
    check_edict_growth,
    ddim_sigma,
    ddim_step,
    edict_denoise,
    edict_step,
    encode_text,
    invert,
    model_fingerprint,
    randn,
    schedule_fingerprint,
)

__all__ = [
    "EDICT_MIX",
    "ddpm_invert",
    "edict_denoise",
    "edict_invert",
    "edict_inverse_step",
    "edict_step",
    "fixed_point_invert",
]


# --------------------------------------------------------------------------------------------------
# fixed-point DDIM inversion
# --------------------------------------------------------------------------------------------------
def fixed_point_invert(
    pipe,
    image,
    prompt: str,
    *,
    num_inference_steps: int = 50,
    guidance_scale: float = 1.0,
    iterations: int = 3,
    progress: bool = True,
) -> Inversion:
    """DDIM inversion at ``guidance_scale`` with ``iterations`` fixed-point refinements per step (AIDI, Pan et al.
    2023; ReNoise, Garibi et al. 2024). It inverts at the guidance it will be sampled with, so when the iteration
    converges, sampling back retraces it. ``info["residuals"]`` says how far each iteration moved each step."""
    iterations = _whole(iterations, "iterations")
    if not 1 <= iterations <= MAX_FIXED_POINT_ITERATIONS:  # 0 would be plain DDIM under the fixed-point name
        raise ValueError(
            f"iterations must be a whole number in [1, {MAX_FIXED_POINT_ITERATIONS}] (3 is plenty; for none, use "
            f"invert), got {iterations}"
        )
    start = time.perf_counter()
    inv = invert(
        pipe,
        image,
        prompt,
        num_inference_steps=num_inference_steps,
        guidance_scale=_check_guidance(guidance_scale),
        fixed_point_iterations=iterations,
        progress=progress,
    )
    inv.method = "fixed-point"
    inv.info = {**inv.info, "seconds": time.perf_counter() - start}
    return inv


# --------------------------------------------------------------------------------------------------
# EDICT
# --------------------------------------------------------------------------------------------------
def edict_inverse_step(x_prev, y_prev, model, a: float, b: float, p: float):
    """Undo ``edict_step`` exactly (eq. 15): the same lines, last one first, each solved for what it overwrote.
    The model is asked at the very latents the forward step asked it at, so nothing is approximated."""
    _check_mix(p)  # p in [0.5, 1]: it is divided by twice
    y_inter = (y_prev - (1 - p) * x_prev) / p
    x_inter = (x_prev - (1 - p) * y_inter) / p
    y = (y_inter - b * model(x_inter)) / a
    x = (x_inter - b * model(y)) / a
    return x, y


@torch.inference_mode()
def edict_invert(
    pipe,
    image,
    prompt: str,
    *,
    num_inference_steps: int = 50,
    guidance_scale: float = 1.0,
    mix: float = EDICT_MIX,
    progress: bool = True,
) -> Inversion:
    """EDICT inversion (Wallace et al. 2023): both latents start at the image's, then ``edict_inverse_step`` runs
    from the cleanest timestep to the noisiest. Sampled back with ``edict_denoise`` at the same guidance and prompt,
    it returns the image's latent up to floating-point rounding (the latents are kept in float64)."""
    start = time.perf_counter()
    timesteps, ratio = _schedule(pipe, num_inference_steps)
    n, g, p = len(timesteps), _check_guidance(guidance_scale), _check_mix(mix)
    x = _image_latents(pipe, image).double()
    cond, uncond = encode_text(pipe, prompt, guidance=g != 1, batch=x.shape[0])
    xs, ys = [x], [x]
    y = x
    coefficients = _edict_coefficients(pipe, timesteps, ratio)
    for k, t in enumerate(_bar(list(reversed(timesteps)), "EDICT inversion", progress)):
        a, b = coefficients[t]
        try:
            x, y = edict_inverse_step(x, y, lambda z, t=t: _unet_eps(pipe, z, t, cond, uncond, g), a, b, p)
        except NonFiniteError:  # the model's NaN at latents far past a noise latent's size: the mix's doing
            size = max(float(x.abs().mean()), float(y.abs().mean()))
            if size <= MAX_LATENT_SIZE:
                raise
            raise NonFiniteError(
                f"{_edict_blow_up(p, n)} its latents grew to mean size {size:.3g} (by step {k + 1}), past what the "
                f"model's {str(pipe.unet.dtype).replace('torch.', '')} can take: use fewer steps, a lower "
                f"guidance_scale or a mix nearer 1 (the paper's is {EDICT_MIX}), or load the model in float32"
            ) from None
        if x.device.type == "cpu":  # each step on the CPU, where the check costs nothing; a GPU's at the end
            check_edict_growth(x, y, p, n, step=k + 1)  # NaN, inf or past 1e10: an error that names mix
        xs.append(x)
        ys.append(y)
    check_edict_growth(x, y, p, n)  # the same, and grown far past a noise latent's size: a warning
    return Inversion(
        latents=xs,
        coupled_latents=ys,
        mix=p,
        timesteps=timesteps,
        prompt=prompt,
        guidance_scale=g,
        num_inference_steps=n,
        method="edict",
        unet_calls=2 * n * (2 if g != 1 else 1),
        model=model_fingerprint(pipe),
        schedule=schedule_fingerprint(pipe),
        info={"seconds": time.perf_counter() - start, "mix": p},
    )


# --------------------------------------------------------------------------------------------------
# edit-friendly DDPM inversion
# --------------------------------------------------------------------------------------------------
@torch.inference_mode()
def ddpm_invert(
    pipe,
    image,
    prompt: str,
    *,
    num_inference_steps: int = 50,
    guidance_scale: float = 1.0,
    generator: torch.Generator | None = None,
    progress: bool = True,
) -> Inversion:
    """Edit-friendly DDPM inversion (Huberman-Spiegelglas et al. 2024, Algorithm 1).

    1. Noise the clean latent to every timestep on its own: ``x_t = sqrt(a_t) x_0 + sqrt(1 - a_t) noise_t``, a fresh
       ``noise_t`` each time (so neighbouring latents are *not* one DDIM step apart).
    2. From the noisiest timestep down, the eta = 1 step from ``x_t`` lands at its mean plus ``sigma_t * z_t``;
       solve for the ``z_t`` that lands exactly on the next latent: ``z_t = (x_prev - mean) / sigma_t``.
    Sampling at eta = 1 with these noise maps (and the same prompt and guidance) retraces every latent exactly.
    """
    start = time.perf_counter()
    _check_generator(generator)
    timesteps, ratio = _schedule(pipe, num_inference_steps)
    n, g = len(timesteps), _check_guidance(guidance_scale)
    x0 = _image_latents(pipe, image)
    cond, uncond = encode_text(pipe, prompt, guidance=g != 1, batch=x0.shape[0])
    alphas, final = _alphas(pipe)
    ptype = _prediction_type(pipe)
    # 1. independent noisy latents, indexed like Inversion.latents: latents[k] is at timesteps[n - k]
    latents = [x0]
    for t in reversed(timesteps):
        a = float(alphas[t])
        latents.append(a**0.5 * x0 + (1 - a) ** 0.5 * randn(x0.shape, generator, x0.device).to(x0.dtype))
    # 2. the noise map of every sampling step i (from timesteps[i] to the next timestep), solved from the latent the
    #    sampler will be at, which it then steps to with the same call the sampler makes: sampling retraces these
    #    latents bit for bit. (Solved from the independent latents of 1 instead, float32's rounding, amplified by
    #    guidance at every step, cost one scene 5.5 dB at guidance 7.5.)
    maps, x_t = [], latents[n]
    for i, t in enumerate(_bar(timesteps, "DDPM inversion", progress)):
        out = _unet_eps(pipe, x_t, t, cond, uncond, g)
        step = dict(final_alpha_cumprod=final, prediction_type=ptype, eta=1.0)
        mean = ddim_step(out, t, t - ratio, x_t, alphas, noise=torch.zeros_like(x_t), **step)
        sigma = ddim_sigma(float(alphas[t]), _alpha_before(alphas, final, t, ratio), 1.0)
        # a scheduler whose last step ends at alpha = 1 (set_alpha_to_one) adds no noise there (sigma = 0): that
        # step's map is what is left to land on the clean latent, and the sampler adds it as it is (``denoise``)
        maps.append((latents[n - i - 1] - mean) / sigma if sigma > 0 else latents[n - i - 1] - mean)
        x_t = ddim_step(out, t, t - ratio, x_t, alphas, noise=maps[-1], **step) + (maps[-1] if sigma == 0 else 0)
        if i < n - 1:  # the clean latent stays the image's own; the others differ from 1's by rounding only
            latents[n - i - 1] = x_t
    return Inversion(
        latents=latents,
        noise_maps=maps,
        timesteps=timesteps,
        prompt=prompt,
        guidance_scale=g,
        num_inference_steps=n,
        method="ddpm",
        unet_calls=n * (2 if g != 1 else 1),
        model=model_fingerprint(pipe),
        schedule=schedule_fingerprint(pipe),
        info={"seconds": time.perf_counter() - start},
    )
