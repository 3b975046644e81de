"""DDIM sampling and inversion, written out the way the course teaches them.

The one update everything here uses (Song et al., "Denoising Diffusion Implicit Models", 2020, eq. 12):

    x0_pred   = (x_t - sqrt(1 - a_t) * eps) / sqrt(a_t)           # what the model thinks the clean latent is
    direction = sqrt(1 - a_prev - sigma**2) * eps                  # points back towards x_t
    x_prev    = sqrt(a_prev) * x0_pred + direction + sigma * noise # sigma = 0 when eta = 0

where ``a_t`` is ``alphas_cumprod[t]`` (alpha-bar in the papers). Run it from a noisier timestep to a
cleaner one and you sample; run it from a cleaner one to a noisier one (eta = 0) and you invert.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import numbers
import operator
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from .i18n import tr
from .images import _repr, decode, encode, learner_stacklevel
from .quiet import quiet_logs

PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")


class NonFiniteError(FloatingPointError, ValueError):
    """NaN or infinite values where numbers are needed (inputs, or what sampling produced)."""


# --------------------------------------------------------------------------------------------------
# the update
# --------------------------------------------------------------------------------------------------
def predict_x0_and_eps(model_output, x_t, alpha_t, *, prediction_type="epsilon"):
    """Turn the model's output at ``x_t`` into (predicted clean latent, predicted noise)."""
    _check_alpha(alpha_t, "alpha_t")
    _check_update_tensors(model_output, x_t)
    _check_alpha_shape(alpha_t, "alpha_t", x_t)
    a, b = alpha_t**0.5, (1 - alpha_t) ** 0.5
    if prediction_type == "epsilon":
        return (x_t - b * model_output) / a, model_output
    if prediction_type == "v_prediction":  # v = sqrt(a) * eps - sqrt(1 - a) * x0
        return a * x_t - b * model_output, a * model_output + b * x_t
    if prediction_type == "sample":
        if bool(torch.as_tensor(alpha_t, dtype=torch.float64).ge(1).any()):
            raise ValueError(
                "alpha_t must be below 1 for prediction_type='sample': the noise is read off as (x_t - x0) / "
                "sqrt(1 - alpha_t), which divides by 0 at a clean latent"
            )
        return model_output, (x_t - a * model_output) / b
    raise ValueError(f"prediction_type must be one of {PREDICTION_TYPES}, got {prediction_type!r}")


def ddim_update(model_output, x_t, alpha_t, alpha_prev, *, prediction_type="epsilon", eta=0.0, noise=None):
    """One DDIM move of ``x_t`` from the noise level ``alpha_t`` to ``alpha_prev`` (either direction).

    Taught in notebook 02 (sampling) and 03 (run backwards: inversion). Notation (Song et al. 2020):
    ``alpha_t`` is the DDIM paper's alpha_t, which is DDPM's alpha-bar_t = ``alphas_cumprod[t]``;
    ``sigma`` is sigma_t(eta) of eq. 16; ``eps`` is epsilon_theta(x_t).
    """
    # 1. the model's guess of the clean latent and of the noise in x_t ("predicted x_0", eq. 12); it checks alpha_t,
    # model_output and x_t, this step the rest (eta is checked by ddim_sigma)
    x0, eps = predict_x0_and_eps(model_output, x_t, alpha_t, prediction_type=prediction_type)
    _check_alpha(alpha_prev, "alpha_prev")
    _check_alpha_shape(alpha_prev, "alpha_prev", x_t)
    _check_noise(noise, x_t, eta)
    # 2. how much fresh noise this step adds: sigma_t(eta) of eq. 16 (eta = 0: DDIM, eta = 1: DDPM's posterior)
    sigma = ddim_sigma(alpha_t, alpha_prev, eta)
    # 3. "direction pointing to x_t" (eq. 12, middle term)
    direction = (1 - alpha_prev - sigma**2) ** 0.5 * eps
    # 4. x_{t-1} without the random noise (eq. 12, first two terms)
    x_prev = alpha_prev**0.5 * x0 + direction
    # 5. plus the random noise (eq. 12, last term), only when eta > 0
    if eta > 0:
        if noise is None:
            raise ValueError("eta > 0 needs noise: pass noise=torch.randn_like(x_t) (or a seeded generator's)")
        x_prev = x_prev + sigma * noise
    return x_prev


def _check_update_tensors(model_output, x_t) -> None:
    """The update's tensors: real float tensors with data, of one shape (broadcasting would silently change the
    batch)."""
    for name, x in (("x_t", x_t), ("model_output", model_output)):
        _check_like_x_t(name, x, x_t)
        _check_finite_on_cpu(x, name)  # NaN in, NaN out, without a word (the noise was checked, these were not)


def _check_like_x_t(name: str, x, x_t) -> None:
    if not _plain_float(x):
        raise ValueError(f"{name} must be a real float tensor with data, got {_show(x)}")
    if x.shape != x_t.shape:
        raise ValueError(f"{name} has shape {tuple(x.shape)} but x_t {tuple(x_t.shape)}: they must match")


def _check_noise(noise, x_t, eta) -> None:
    """``ddim_update``'s noise (x_t already checked): of x_t's shape, and only where it is used (eta > 0), as
    ``ddim_step`` asks."""
    if noise is None:
        return
    _check_like_x_t("noise", noise, x_t)
    if _check_eta(eta) == 0:
        raise ValueError("noise is only used when eta > 0 (eta = 0 is deterministic DDIM): pass eta, or no noise")


def ddim_sigma(alpha_t, alpha_prev, eta: float) -> float:
    """sigma_t(eta) of the DDIM paper's eq. 16: the standard deviation of the fresh noise a step adds (0 at eta 0)."""
    if _check_eta(eta) == 0:
        return 0.0
    _check_noisy_step(alpha_t, alpha_prev)
    return eta * ((1 - alpha_prev) / (1 - alpha_t)) ** 0.5 * (1 - alpha_t / alpha_prev) ** 0.5


MIN_ALPHA = 1e-12  # the least noise level a step takes (ddim_step's too): sqrt(1e-300) made x0 infinite


def _check_alpha(value, name: str):
    """A noise level alpha-bar in (0, 1] (a number, or a float tensor of them), returned as given; else a clear
    error (at 0 the step divides by sqrt(alpha) = 0; above 1 or negative, square roots of negatives)."""
    hint = "a noise level alphas_cumprod[t] in (0, 1]"
    if isinstance(value, torch.Tensor) and value.numel() != 1:
        ok = not value.is_meta and value.dtype.is_floating_point and value.numel() > 0
        if not ok or not bool(((value >= MIN_ALPHA) & (value <= 1)).all()):
            raise ValueError(
                f"{name} must hold noise levels in [{MIN_ALPHA:g}, 1] ({hint}), got a tensor that does not"
            )
        return value
    if _real(value, name, low=0, high=1, hint=hint) < MIN_ALPHA:  # 1e-300 gave an infinite x0
        raise ValueError(
            f"{name} must be at least {MIN_ALPHA:g} ({hint}): the step divides by its square root, got {_show(value)}"
        )
    return value


def _check_alpha_shape(value, name: str, x_t) -> None:
    """A tensor of noise levels, one per image, must be shaped (B, 1, 1, 1): a (B,) one lines up with the latent's
    last axis, its width, and broadcasts without a word (or fails deep in torch)."""
    if not isinstance(value, torch.Tensor) or value.numel() == 1:
        return
    batch = x_t.shape[0]
    if value.ndim != x_t.ndim or value.shape[0] not in (1, batch) or any(s != 1 for s in value.shape[1:]):
        shape = (batch,) + (1,) * (x_t.ndim - 1)
        raise ValueError(
            f"{name} has shape {tuple(value.shape)}; noise levels one per image must have shape {shape} for x_t of "
            f"{tuple(x_t.shape)}: pass {name}.view(-1{', 1' * (x_t.ndim - 1)}) (a ({batch},) tensor lines up with "
            "the latent's width)"
        )


def _check_noisy_step(alpha_t, alpha_prev) -> None:
    """eta > 0 adds noise on a step to a cleaner latent only (alpha_prev >= alpha_t, alpha_t < 1)."""
    a_t, a_prev = torch.as_tensor(alpha_t, dtype=torch.float64), torch.as_tensor(alpha_prev, dtype=torch.float64)
    if bool((a_t >= 1).any()) or bool((a_prev < a_t).any()):
        raise ValueError(
            "eta > 0 adds noise on a step to a cleaner latent (alpha_prev >= alpha_t, alpha_t < 1); this step starts "
            "clean or goes to a noisier latent (inversion, which is deterministic): use eta=0"
        )


def step_coefficients(alpha_t, alpha_prev, *, prediction_type: str = "epsilon") -> tuple[float, float]:
    """``(m, c)`` such that the deterministic update is ``ddim_update(out, x, alpha_t, alpha_prev) == m * x + c * out``.

    The DDIM step is linear in the latent and in the model's output: read both numbers off by feeding it ones and
    zeros. Notebook 08 uses them to undo a step exactly (EDICT) and to write inversion as an equation to solve."""
    one, zero = torch.ones((), dtype=torch.float64), torch.zeros((), dtype=torch.float64)
    alpha_t, alpha_prev = _as_float64(alpha_t, "alpha_t"), _as_float64(alpha_prev, "alpha_prev")
    m = ddim_update(zero, one, alpha_t, alpha_prev, prediction_type=prediction_type)
    c = ddim_update(one, zero, alpha_t, alpha_prev, prediction_type=prediction_type)
    return float(m), float(c)


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
    """One DDIM step from timestep ``t`` to ``t_prev`` (``t_prev < 0`` means the end: ``final_alpha_cumprod``).

    Shown in notebook 02; the reference of ``exercises.check_ddim_step``.
    """
    t, t_prev = _whole(t, "t"), _whole(t_prev, "t_prev")
    for name, value in (("model_output", model_output), ("x_t", x_t), ("alphas_cumprod", alphas_cumprod)):
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"{name} must be a torch tensor, got {type(value).__name__}")
        if value.is_meta or value.is_complex() or not value.is_floating_point():
            kind = "meta" if value.is_meta else str(value.dtype).replace("torch.", "")
            raise ValueError(f"{name} must be a real floating-point tensor with data, got a {kind} one")
    if alphas_cumprod.ndim != 1:
        raise ValueError(
            f"alphas_cumprod must be 1-D (one value per training step: scheduler.alphas_cumprod), "
            f"got shape {tuple(alphas_cumprod.shape)}"
        )
    if noise is not None and (not _plain_float(noise) or noise.shape != x_t.shape):
        shown = tuple(noise.shape) if isinstance(noise, torch.Tensor) else type(noise).__name__
        kind = f" {noise.dtype}" if isinstance(noise, torch.Tensor) and not _plain_float(noise) else ""
        raise ValueError(f"noise must be a real float tensor of x_t's shape {tuple(x_t.shape)}, got{kind} {shown}")
    if model_output.shape != x_t.shape:
        raise ValueError(
            f"model_output has shape {tuple(model_output.shape)} but x_t {tuple(x_t.shape)}: they must match"
        )
    if not 0 <= t < len(alphas_cumprod):
        raise ValueError(f"t must be in [0, {len(alphas_cumprod) - 1}], got {t}")
    if t_prev >= len(alphas_cumprod):
        raise ValueError(f"t_prev must be below {len(alphas_cumprod)}, got {t_prev}")
    eta = _check_eta(eta)
    if noise is not None:
        if eta == 0:
            raise ValueError("noise is only used when eta > 0 (eta = 0 is deterministic DDIM): pass eta, or no noise")
        _check_finite(noise, "noise")
    alpha_t = _real(alphas_cumprod[t], f"alphas_cumprod[{t}]", low=1e-12, high=1, hint="a noise level in (0, 1]")
    if t_prev >= 0:
        alpha_prev = _real(alphas_cumprod[t_prev], f"alphas_cumprod[{t_prev}]", low=1e-12, high=1)
    else:
        alpha_prev = _real(final_alpha_cumprod, "final_alpha_cumprod", low=1e-12, high=1, hint="1 or alphas_cumprod[0]")
    if eta > 0 and alpha_prev < alpha_t:
        raise ValueError(
            f"eta > 0 adds noise on a step to a cleaner latent; from t={t} to t_prev={t_prev} goes to a noisier one "
            "(inversion), which is deterministic: use eta=0"
        )
    return ddim_update(model_output, x_t, alpha_t, alpha_prev, prediction_type=prediction_type, eta=eta, noise=noise)


# --------------------------------------------------------------------------------------------------
# checking arguments: a message that names the argument, its valid range and what was given
# --------------------------------------------------------------------------------------------------
def _whole(value, name: str) -> int:
    """``value`` as an int (numpy integers and one-element integer tensors too), or a clear error."""
    if isinstance(value, bool) or (isinstance(value, torch.Tensor) and (value.dtype == torch.bool or value.is_meta)):
        raise ValueError(f"{name} must be a whole number, got {_show(value)}")
    try:
        whole = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be a whole number, got {_show(value)}") from None
    if abs(whole) >= 2**1000:  # no count, step or seed is near this; the callers' range messages could not print it
        raise ValueError(f"{name} must be a whole number below 2**1000, got {_show(whole)}")
    return whole


def _flag(value, name: str) -> bool:
    """``value`` as a bool: True, False (numpy's too) or the whole numbers 1 and 0; anything else is an error.

    A string such as "no" or "False" is truthy in Python, so it would silently mean yes: it is refused instead.
    """
    if isinstance(value, (bool, np.bool_)) or (type(value) is int and value in (0, 1)):
        return bool(value)
    raise ValueError(f"{name} must be True or False, got {_show(value)}")


def _bar(iterable, desc: str, progress):
    """``iterable`` with a tqdm progress bar, shown while ``progress`` is True (checked: "no" is not a yes)."""
    enabled = _flag(progress, "progress")
    bar = _vanishing_notebook_bar() if enabled else None
    if bar is not None:
        return bar(iterable, desc=desc, leave=False)
    return tqdm(iterable, desc=desc, disable=not enabled, leave=False)


@functools.cache
def _vanishing_notebook_bar():
    """In a notebook (where ``tqdm.auto`` gives the widget bar), a bar that leaves nothing in the saved notebook when
    it finishes; None elsewhere. tqdm's own bar hides its widget on closing, but the output keeps the text it had when
    it was shown ("DDIM sampling: 0%| | 0/50"), and a notebook saved and opened again showed one such line for every
    loop, as if each had hung. This one is shown under a display id, and that output is emptied once it is done; a
    bar stopped part-way (an error, Stop) stays, to show where."""
    try:
        from IPython.display import display
        from tqdm.notebook import tqdm_notebook
    except ImportError:
        return None
    if not (isinstance(tqdm, type) and issubclass(tqdm, tqdm_notebook)):
        return None

    class VanishingBar(tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, display=False, **kwargs)
            self._handle = None
            if not self.disable and self.delay <= 0:
                self._handle = display(self.container, display_id=True)
                self.displayed = True

        def close(self):
            # finished: every step done (a loop of unknown length is kept: it may have stopped part-way)
            shown, finished = not self.disable, self.total is not None and self.n >= self.total
            super().close()
            if shown and finished and not self.leave and self._handle is not None:
                self._handle.update({"text/plain": ""}, raw=True)
                self._handle = None

    return VanishingBar


def _real(value, name: str, *, low: float, high: float, hint: str = "") -> float:
    """``value`` as a finite float in [low, high], or a clear error naming ``name`` and the range."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.dtype.is_floating_point and not value.is_meta:
        value, ok = float(value), True
    if ok:
        try:
            v = float(value)
        except OverflowError:  # an int beyond float's range
            v = math.inf
        if math.isfinite(v) and low <= v <= high:
            return v
    extra = f" ({hint})" if hint else ""
    raise ValueError(f"{name} must be a number in [{low:g}, {high:g}]{extra}, got {_show(value)}")


def _show(value) -> str:
    text = _repr(value) if isinstance(value, (numbers.Number, str)) else type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


MAX_BATCH = 1024  # images in one call: far above what fits in memory at SD's size
MAX_GUIDANCE = 100.0  # above this a guided sample is noise; 7.5 is typical
MAX_FIXED_POINT_ITERATIONS = 100  # per inversion step; 3 come within 0.03 dB of the ceiling (notebook 08)
MAX_FIXED_POINT_REFINEMENTS = 20_000  # in one inversion (steps x iterations), as null-text's Adam updates


def _check_guidance(guidance_scale) -> float:
    return _real(
        guidance_scale,
        "guidance_scale",
        low=0,
        high=MAX_GUIDANCE,
        hint="0 = prompt ignored, 1 = no guidance, 7.5 is typical",
    )


def _check_eta(eta) -> float:
    return _real(eta, "eta", low=0, high=1, hint="0 = deterministic DDIM, 1 = DDPM-like")


def _check_generator(generator) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(
            f"generator must be a torch.Generator (e.g. torch.Generator().manual_seed(0)) or None, "
            f"got {_show(generator)}"
        )


def _as_float64(a, name: str) -> float:
    """One noise level as a float: a number or a 1-element tensor (its range is ddim_update's to check)."""
    if isinstance(a, torch.Tensor) and a.numel() == 1 and not a.is_meta and not a.is_complex():
        return float(a.double())
    if isinstance(a, numbers.Real) and not isinstance(a, bool):
        return float(a)
    if isinstance(a, np.ndarray) and a.size == 1 and a.dtype.kind in "fiu":  # numpy's 0-d array of a number
        return float(a.reshape(()))
    raise ValueError(f"{name} must be one number, a noise level alpha_bar in (0, 1], got {_describe_level(a)}")


def _describe_level(a) -> str:
    return f"a tensor of shape {tuple(a.shape)}" if isinstance(a, torch.Tensor) else _show(a)


# --------------------------------------------------------------------------------------------------
# pipeline plumbing
# --------------------------------------------------------------------------------------------------
def _schedule(pipe, num_inference_steps: int):
    """The sampler's timesteps (noisiest first) and the step size between them."""
    n = _check_steps(pipe, num_inference_steps)
    pipe.scheduler.set_timesteps(n)
    timesteps = [int(t) for t in pipe.scheduler.timesteps]
    return timesteps, pipe.scheduler.config.num_train_timesteps // n


def _check_pipe(pipe) -> None:
    """A clear error for what is not a diffusers text-to-image pipeline (a name, a path, None...)."""
    if not all(hasattr(pipe, part) for part in ("unet", "vae", "scheduler", "text_encoder")):
        raise ValueError(
            f"pipe must be a Stable-Diffusion-style pipeline, as load_pipeline() returns, got {_show(pipe)}"
            + (f": load it first, pipe = load_pipeline({pipe!r})" if isinstance(pipe, str) else "")
        )
    from diffusers import DDIMScheduler

    if not isinstance(pipe.scheduler, DDIMScheduler):  # another scheduler's timesteps and noise scale are not DDIM's
        raise ValueError(
            f"pipe.scheduler is a {type(pipe.scheduler).__name__}; the course's samplers step by DDIM's schedule: "
            "pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config) (load_pipeline does this)"
        )
    config = pipe.scheduler.config
    for name in ("clip_sample", "thresholding"):  # DDIMScheduler() clips by default; SD's scheduler does not
        if config.get(name, False):
            raise ValueError(
                f"pipe.scheduler has {name}=True: it cuts the predicted clean latent to a range, which the course's "
                "DDIM does not do and no inversion can undo. Use Stable Diffusion's setting: pipe.scheduler = "
                f"DDIMScheduler.from_config(pipe.scheduler.config, {name}=False)"
            )
    if config.get("rescale_betas_zero_snr", False):
        raise ValueError(
            "pipe.scheduler has rescale_betas_zero_snr=True: its noisiest step has no signal left (alpha 0), where "
            "DDIM inversion divides by alpha; the course supports schedules whose alphas stay above 0 (Stable "
            "Diffusion 1.x and 2.x as published): DDIMScheduler.from_config(pipe.scheduler.config, "
            "rescale_betas_zero_snr=False)"
        )


def max_steps(pipe) -> int:
    """The most sampling steps the pipeline's scheduler can take: its training steps, less ``steps_offset`` with
    "leading" spacing (SD's: 1000 steps would start at timestep 1000, one past the schedule's end)."""
    _check_pipe(pipe)
    config = pipe.scheduler.config
    offset = config.get("steps_offset", 0) if config.get("timestep_spacing", "leading") == "leading" else 0
    return config.num_train_timesteps - offset


def _check_steps(pipe, num_inference_steps) -> int:
    limit = max_steps(pipe)
    n = _whole(num_inference_steps, "num_inference_steps")
    if not 1 <= n <= limit:
        raise ValueError(f"num_inference_steps must be in [1, {limit}] for this model's scheduler, got {n}")
    return n


def _work_dtype(pipe) -> torch.dtype:
    """The dtype the loops keep latents in: float64 for a float64 UNet (exactness tests), else float32."""
    return torch.float64 if pipe.unet.dtype == torch.float64 else torch.float32


def _alphas(pipe):
    sch = pipe.scheduler
    alphas = sch.alphas_cumprod.double()
    final = float(getattr(sch, "final_alpha_cumprod", alphas[0]))
    return alphas, final


def _alpha_before(alphas, final: float, t: int, ratio: int) -> float:
    """alpha-bar one step cleaner than ``t`` (``final`` past the cleanest timestep): where a step from t lands."""
    return float(alphas[t - ratio]) if t - ratio >= 0 else final


def _prediction_type(pipe) -> str:
    return pipe.scheduler.config.get("prediction_type", "epsilon")


def _check_start_step(start_step, num_inference_steps) -> int:
    start_step = _whole(start_step, "start_step")
    if not 0 <= start_step < num_inference_steps:
        raise ValueError(tr("bad_start_step", last=num_inference_steps - 1, n=num_inference_steps, got=start_step))
    return start_step


def read_alike(pipe, a, b, batch: int | None = None) -> bool:
    """True when prompts ``a`` and ``b`` (each a string, or one per image) give the text encoder the same tokens for
    every image: "a cat", ["a cat"] and "A cat " alike, and prompts that differ only past the last token it reads."""
    from .attention import token_ids

    one, other = _prompts(a, batch), _prompts(b, batch)
    if len(one) != len(other):
        if 1 not in (len(one), len(other)):
            return False
        one, other = (p * max(len(one), len(other)) if len(p) == 1 else p for p in (one, other))
    return all(x == y or token_ids(pipe, x) == token_ids(pipe, y) for x, y in zip(one, other))


def _prompts(prompt, batch: int | None = None, name: str = "prompt") -> list[str]:
    """One prompt per image: a string (used for every image) or a list of strings, one per image."""
    if isinstance(prompt, str):
        prompts = [prompt]
    elif isinstance(prompt, (list, tuple)) and len(prompt) > 0:
        bad = [type(p).__name__ for p in prompt if not isinstance(p, str)]
        if bad:
            raise ValueError(f"{name} must be a string or a list of strings; the list holds a {bad[0]}")
        prompts = list(prompt)
    elif isinstance(prompt, (list, tuple)):
        raise ValueError(f'{name} is an empty list; give a string ("" for no prompt) or one string per image')
    else:
        raise ValueError(f"{name} must be a string or a list of strings, got {type(prompt).__name__}")
    for p in prompts:
        try:
            p.encode("utf-8")
        except UnicodeEncodeError as e:  # a lone surrogate, e.g. from bytes decoded with errors="surrogateescape"
            raise ValueError(
                f"{name} holds a character that is not text ({p[e.start]!r} at position {e.start}); "
                "type the prompt again or remove it"
            ) from None
    if batch is not None and len(prompts) != batch:
        if len(prompts) != 1:
            raise ValueError(
                f"{len(prompts)} {name}s for {batch} image{'s' if batch != 1 else ''}: give one {name} "
                f"(a string) or exactly one per image"
            )
        prompts = prompts * batch
    return prompts


def encode_text(pipe, prompt, *, negative_prompt="", guidance: bool = True, batch: int | None = None):
    """Text embeddings (cond, uncond) with ``pipe.encode_prompt``; uncond is None when not guiding."""
    _check_pipe(pipe)
    guidance = _flag(guidance, "guidance")
    if batch is not None:
        batch = _whole(batch, "batch")
        if not 1 <= batch <= MAX_BATCH:
            raise ValueError(f"batch must be a whole number in [1, {MAX_BATCH}] (images in one call), got {batch}")
    prompts = _prompts(prompt, batch)
    negatives = _prompts(negative_prompt if negative_prompt is not None else "", len(prompts), "negative_prompt")
    _warn_if_truncated(pipe, prompts + negatives)
    with quiet_logs("diffusers"):  # diffusers would print the cut-off text in full; we warned above
        cond, uncond = pipe.encode_prompt(
            prompts, pipe.device, 1, guidance, negative_prompt=negatives if guidance else None
        )
    return cond, (uncond if guidance else None)


def _warn_if_truncated(pipe, prompts: list[str]) -> None:
    limit = pipe.tokenizer.model_max_length
    for p in prompts:
        # the first 40 characters a token are enough to pass the limit (a million characters would take seconds)
        ids = pipe.tokenizer(p[: 40 * limit], truncation=False, verbose=False).input_ids
        n = len(ids)
        if n > limit:
            # what the encoder reads and what it drops, as the tokenizer reads them (its first and last tokens are
            # its start and end marks): the learner sees where the cut falls
            kept = pipe.tokenizer.decode(ids[: limit - 1], skip_special_tokens=True).strip()
            dropped = pipe.tokenizer.decode(ids[limit - 1 :], skip_special_tokens=True).strip()
            if len(dropped) > 60 or len(p) > 40 * limit:
                dropped = dropped[:60] + f"... ({len(p):,} characters in all)"
            at_least = "at least " if len(p) > 40 * limit else ""
            where = f"it reads {kept!r} and drops {dropped!r}"
            if not kept.strip(" .") and not dropped.strip(" ."):  # characters the tokenizer does not know
                where = repr(p if len(p) <= 60 else p[:60] + f"... ({len(p):,} characters)")
            warnings.warn(
                f"prompt is {at_least}{n} tokens long but the text encoder reads at most {limit}; the end is cut "
                f"off: {where}",
                stacklevel=4,
            )


def guide(out_uncond: torch.Tensor, out_cond: torch.Tensor, guidance_scale: float) -> torch.Tensor:
    """Classifier-free guidance (Ho & Salimans 2022, eq. 6): start at the unconditional output and go
    ``guidance_scale`` times the way the prompt pulls. Shown in notebook 02. At 1 this is the conditional output (no
    guidance); at 0 the unconditional one alone, so the prompt has no effect (diffusers' pipelines instead read any
    scale up to 1 as "no guidance")."""
    _check_guidance_inputs(out_uncond, out_cond, guidance_scale)
    return out_uncond + guidance_scale * (out_cond - out_uncond)


def _check_guidance_inputs(out_uncond, out_cond, guidance_scale) -> None:
    for name, x in (("out_uncond", out_uncond), ("out_cond", out_cond)):
        if not _plain_float(x):
            raise ValueError(f"{name} must be the model's output, a real float tensor with data, got {_show(x)}")
    if out_uncond.shape != out_cond.shape:
        raise ValueError(
            f"out_uncond {tuple(out_uncond.shape)} and out_cond {tuple(out_cond.shape)} must have one shape "
            "(the two halves of one guided model call)"
        )
    if not isinstance(guidance_scale, torch.Tensor) or guidance_scale.numel() == 1:
        _check_guidance(guidance_scale)
        return
    # one scale per image, shaped (B, 1, 1, 1), each in range: a (B,) tensor lines up with the output's width, and
    # a (B, 1, 1) one with its channels, and either broadcasts without a word when B is that size
    g_shape = guidance_scale.shape if isinstance(guidance_scale, torch.Tensor) else None
    ok = _plain_float(guidance_scale) and len(g_shape) == out_cond.ndim
    if ok:
        ok = g_shape[0] in (1, out_cond.shape[0]) and all(s == 1 for s in g_shape[1:])
    if not ok:
        shape = (out_cond.shape[0],) + (1,) * (out_cond.ndim - 1)
        raise ValueError(
            f"guidance_scale must be a number, or a float tensor of one scale per image for the model's output "
            f"{tuple(out_cond.shape)}: shape {shape} (guidance_scale.view(-1{', 1' * (out_cond.ndim - 1)})), got "
            f"{_show(guidance_scale) if g_shape is None else tuple(g_shape)}"
        )
    g = guidance_scale.detach().float()  # (not float64: Apple's MPS has none)
    if not bool((torch.isfinite(g) & (g >= 0) & (g <= MAX_GUIDANCE)).all()):
        raise ValueError(
            f"guidance_scale must hold numbers in [0, {MAX_GUIDANCE:g}] (0 = prompt ignored, 1 = no guidance, 7.5 "
            "is typical)"
        )


def _unet_eps(pipe, latents, t, cond, uncond, guidance_scale):
    """The model output at ``latents``, with classifier-free guidance when ``uncond`` is given."""
    unet = pipe.unet
    x = latents.to(unet.dtype)
    cond = cond.to(unet.dtype)  # the text encoder may be in another dtype than the UNet (a learner's .half(), ...)
    if uncond is None:
        out = unet(x, t, encoder_hidden_states=cond).sample
    else:
        both = unet(torch.cat([x, x]), t, encoder_hidden_states=torch.cat([uncond.to(unet.dtype), cond])).sample
        out_u, out_c = both.chunk(2)
        out = guide(out_u, out_c, guidance_scale)
    # a NaN the model makes, named as the model's, not as a building block's (model_output) or at the end
    return _check_finite_on_cpu(out.to(latents.dtype), "the model's output", after=f"the UNet at timestep {int(t)}")


def randn(shape, generator: torch.Generator | None, device) -> torch.Tensor:
    """Float32 Gaussian noise drawn on the generator's device (so a seed gives the same noise anywhere)."""
    gen_device = generator.device if generator is not None else torch.device("cpu")
    return torch.randn(shape, generator=generator, device=gen_device, dtype=torch.float32).to(device)


def _check_output_type(output_type) -> None:
    if output_type not in ("pil", "latent", "pt", "np"):
        raise ValueError(f"output_type must be 'pil', 'latent', 'pt' or 'np', got {output_type!r}")


def _initial_latents(pipe, batch, generator, height=None, width=None):
    h = height or pipe.unet.config.sample_size * pipe.vae_scale_factor
    w = width or pipe.unet.config.sample_size * pipe.vae_scale_factor
    shape = (batch, pipe.unet.config.in_channels, h // pipe.vae_scale_factor, w // pipe.vae_scale_factor)
    return randn(shape, generator, pipe.device) * pipe.scheduler.init_noise_sigma


MAX_LATENT_SIZE = 50.0
"""Latents are about unit size: mean |x| is near 1 for the scaled VAE latents and for Gaussian noise, and stays
under 6 for the pocket model's inversions even at guidance 100. Above fifty they are an image's pixels (0-255) or
latents scaled by hand, which the samplers would turn into a picture of nothing, without an error."""


def _check_latents(pipe, latents, what="start_latents", *, huge: str = "raise"):
    """Latents the pipeline can run: a real, finite float tensor of shape (batch, channels, h, w) with data, about
    unit size (``huge="warn"``: only a warning past ``MAX_LATENT_SIZE``, for latents a method can make that large;
    ``"ignore"`` where the sampler called next warns)."""
    if not isinstance(latents, torch.Tensor):
        raise ValueError(f"{what} must be a torch tensor of latents, got {type(latents).__name__}")
    from .images import _odd_tensor

    if latents.is_meta:
        raise ValueError(f"{what} is on the meta device (a shape with no data); pass a tensor that holds numbers")
    if (odd := _odd_tensor(latents)) is not None:
        raise ValueError(f"{what} is {odd}; pass a real floating-point tensor of latents")
    if not latents.dtype.is_floating_point:
        raise ValueError(f"{what} must be a real floating-point tensor, got dtype {latents.dtype}")
    c = pipe.unet.config.in_channels
    if latents.ndim != 4 or latents.shape[1] != c or latents.shape[0] < 1:
        raise ValueError(f"{what} must have shape (batch, {c}, height, width), got {tuple(latents.shape)}")
    f = 2 ** (len(pipe.unet.config.block_out_channels) - 1)
    if latents.shape[2] % f or latents.shape[3] % f or latents.shape[2] < 1 or latents.shape[3] < 1:
        raise ValueError(f"{what}'s height and width must be multiples of {f}, got {tuple(latents.shape[2:])}")
    _check_latent_side(pipe, latents, what)
    if latents.shape[0] > MAX_BATCH:
        raise ValueError(f"{what} holds {latents.shape[0]} latents; at most {MAX_BATCH} go in one call")
    _check_finite(latents, what)
    if huge != "ignore":
        _check_latent_size(latents, what, warn=huge == "warn")


def _check_latent_size(latents: torch.Tensor, what: str, *, warn: bool) -> None:
    """Latents of mean size above ``MAX_LATENT_SIZE``: an error, or (``warn``) a warning."""
    size = float(latents.detach().abs().float().mean())  # float32: Apple's MPS has no float64
    if size > MAX_LATENT_SIZE:
        message = (
            f"{what} have values of mean size {size:.3g}, but latents are about unit size (mean |x| near 1): an "
            "image's pixels (0-255) look like this, or latents scaled by hand; pass the "
            "image as a PIL image or a path, or latents from encode(pipe, image)"
        )
        if not warn:
            raise ValueError(message)
        warnings.warn(message + "; the result will not look like a picture", stacklevel=learner_stacklevel())


def _check_latent_side(pipe, latents: torch.Tensor, what: str) -> None:
    """Latents at most 4 times the model's own side (a 2048 x 2048 latent ran for over ten minutes on the CPU)."""
    native = pipe.unet.config.sample_size
    native = max(native) if isinstance(native, (list, tuple)) else native
    if max(latents.shape[2:]) > 4 * native:
        raise ValueError(
            f"{what}'s height and width must be at most {4 * native} (4 x the model's {native}), got "
            f"{tuple(latents.shape[2:])}"
        )


def _check_finite_on_cpu(x: torch.Tensor, what: str, *, after: str = "") -> torch.Tensor:
    """``_check_finite`` for a check made at every step: on the CPU, where it costs nothing; a GPU would have to stop
    and report back each time, so there the run's end is checked instead (the final latents)."""
    return _check_finite(x, what, after=after) if x.device.type == "cpu" else x


def _check_finite(latents: torch.Tensor, what: str, *, after: str = "") -> torch.Tensor:
    """``latents`` unchanged if every value is finite; else a clear error (NaN/inf would decode to a black image)."""
    bad = int((~torch.isfinite(latents)).sum())
    if bad:
        where = (
            f"{after} produced {bad} NaN or infinite values in {what}"
            if after
            else f"{what} holds {bad} NaN or infinite values"
        )
        raise NonFiniteError(
            f"{where} of {latents.numel()}; a NaN or inf input (image, latents, embedding) or float16 overflow "
            "causes this: check the inputs, or load the model in float32 (load_pipeline(..., dtype=torch.float32))"
        )
    return latents


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
    noise_maps: Sequence[torch.Tensor] | None = None,
    progress: bool = True,
) -> torch.Tensor:
    """The DDIM sampling loop from ``timesteps[start_step]`` down to the clean latent. Shown in notebook 02.

    ``uncond`` may be one embedding or a list with one per step (what null-text inversion learns). With ``eta > 0``
    each step adds fresh noise from ``generator``, or ``noise_maps[i]`` at step i when given (one map per step: what
    edit-friendly DDPM inversion solves for, notebook 08; at a step that adds no noise, the last of a schedule that
    ends at alpha 1, the map is added as it is).
    """
    timesteps, ratio = _schedule(pipe, num_inference_steps)
    n = len(timesteps)
    start_step = _check_start_step(start_step, n)
    eta = _check_eta(eta)
    guidance_scale = _check_guidance(guidance_scale)
    _check_generator(generator)
    _check_latents(pipe, latents, "latents", huge="warn")  # (sample and invert refuse them)
    _check_embeddings(pipe, cond, uncond, latents.shape[0], n, guidance_scale)
    if noise_maps is not None:
        if eta == 0:
            raise ValueError("noise_maps are only used when eta > 0 (edit-friendly DDPM inversion samples at eta = 1)")
        if not isinstance(noise_maps, (list, tuple)) or len(noise_maps) != n:
            raise ValueError(f"noise_maps must be a list of {n} tensors (one per step), got {_show(noise_maps)}")
        for k, z in enumerate(noise_maps):
            if not _plain_float(z) or z.shape != latents.shape:
                raise ValueError(
                    f"noise_maps[{k}] must be a real float tensor shaped like the latents {tuple(latents.shape)}"
                )
            _check_finite(z, f"noise_maps[{k}]")
    alphas, final = _alphas(pipe)
    ptype = _prediction_type(pipe)
    latents = latents.to(pipe.device, _work_dtype(pipe))
    for i in _bar(range(start_step, n), "DDIM sampling", progress):
        t = timesteps[i]
        u = uncond[i] if isinstance(uncond, (list, tuple)) else uncond
        eps = _unet_eps(pipe, latents, t, cond, u, guidance_scale)
        noise = None
        if noise_maps is not None:
            noise = noise_maps[i].to(latents.device, latents.dtype)
        elif eta > 0:
            noise = randn(latents.shape, generator, latents.device)
        latents = ddim_step(
            eps, t, t - ratio, latents, alphas, final_alpha_cumprod=final, prediction_type=ptype, eta=eta, noise=noise
        )
        if noise_maps is not None and ddim_sigma(float(alphas[t]), _alpha_before(alphas, final, t, ratio), eta) == 0:
            latents = latents + noise  # a step that adds no noise (the last, ending at alpha 1): its map as it is
    return _check_finite(latents, "the final latents", after="sampling")


def _check_embeddings(pipe, cond, uncond, batch: int, steps: int, guidance_scale: float = 1.0) -> None:
    """``cond`` and ``uncond`` (None, one embedding or one per step) as the samplers need them: real, finite float
    tensors (batch, tokens, dim) with the UNet's width ``dim``, the unconditional ones shaped like ``cond``; and an
    ``uncond`` whenever ``guidance_scale`` is not 1 (guidance would otherwise be skipped without a word)."""
    config = pipe.unet.config  # the text width the UNet takes: its projection's input when it has one
    dim = config.get("encoder_hid_dim") or config.get("cross_attention_dim")
    dim = dim if isinstance(dim, int) else None  # per-block widths (a tuple): the UNet itself checks them
    if isinstance(uncond, (list, tuple)) and len(uncond) != steps:
        raise ValueError(f"uncond has {len(uncond)} embeddings for {steps} steps; give one embedding or one per step")
    if uncond is not None and not isinstance(uncond, (list, tuple, torch.Tensor)):
        raise ValueError(f"uncond must be None, an embedding or a list of one per step, got {_show(uncond)}")
    entries = [("cond", cond)]
    if isinstance(uncond, torch.Tensor):
        entries.append(("uncond", uncond))
    elif uncond is not None:
        entries += [(f"uncond[{k}]", e) for k, e in enumerate(uncond)]
    for name, e in entries:
        ok = _plain_float(e) and e.ndim == 3 and e.shape[0] == batch and e.shape[-1] == (dim or e.shape[-1])
        if not ok or (name != "cond" and e.shape != cond.shape):
            shown = f"{e.dtype} {tuple(e.shape)}" if isinstance(e, torch.Tensor) else _show(e)
            like = f", shaped like cond {tuple(cond.shape)}" if name != "cond" else ""
            raise ValueError(
                f"{name} must be text embeddings from encode_text: a float tensor (batch, tokens, {dim or 'dim'}) for "
                f"a batch of {batch}{like}; got {shown}"
            )
        _check_finite(e, name)
    if uncond is None and guidance_scale != 1:
        raise ValueError(
            f"guidance_scale={guidance_scale:g} needs uncond, the unconditional embedding that guidance starts from; "
            "uncond is None (encode_text(..., guidance=False) gives none): use cond, uncond = encode_text(pipe, "
            "prompt), or guidance_scale=1 to sample with the prompt alone"
        )


# --------------------------------------------------------------------------------------------------
# EDICT's coupled sampler (Wallace et al. 2023); its inversion is in exact.py (notebook 08)
# --------------------------------------------------------------------------------------------------
EDICT_MIX = 0.93
"""EDICT's mixing weight p (Wallace et al. 2023 use 0.93 for Stable Diffusion)."""


def edict_step(x, y, model, a: float, b: float, p: float):
    """One EDICT denoising step (Wallace et al. 2023, eq. 14): two latents, each moved with the model's output at
    the other, then mixed. ``model(z)`` is the (guided) model output at this timestep; ``a, b`` the DDIM step's
    coefficients (``step_coefficients``: a plain step is ``a * x + b * model(x)``); ``p`` the mixing weight."""
    a, b = _real(a, "a", low=-1e6, high=1e6), _real(b, "b", low=-1e6, high=1e6)  # step_coefficients' (a, b)
    p = _check_mix(p)  # as edict_inverse_step takes it: a step made with another p could not be undone
    if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor) and x.shape == y.shape):
        shapes = [tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__ for v in (x, y)]
        raise ValueError(f"x and y must be latents of one shape (EDICT's pair), got {shapes[0]} and {shapes[1]}")
    x_inter = a * x + b * model(y)
    y_inter = a * y + b * model(x_inter)
    x_prev = p * x_inter + (1 - p) * y_inter
    y_prev = p * y_inter + (1 - p) * x_prev
    return x_prev, y_prev


MIN_MIX = 0.5


def _check_mix(mix) -> float:
    """EDICT's mixing weight p in [0.5, 1]: inverting a step divides by p twice, so a small p blows the latents up."""
    return _real(mix, "mix", low=MIN_MIX, high=1.0, hint=f"inverting EDICT divides by it; the paper uses {EDICT_MIX}")


def _edict_blow_up(mix: float, steps: int) -> str:
    return (
        f"EDICT divides by its mix ({mix:g}) twice a step, so the gap between its two latents can grow by up to "
        f"1/mix^2 a step, and over {steps} steps"
    )


EDICT_RETRACE_LIMIT = 1e10  # mean size: past it float64's 16 digits no longer hold the picture (1e19: 9 dB back)


def check_edict_growth(x: torch.Tensor, y: torch.Tensor, mix: float, steps: int, *, step: int | None = None) -> None:
    """EDICT's latents after ``steps`` steps (``step``: while still inverting). NaN or inf, or a mean size past
    ``EDICT_RETRACE_LIMIT``, is an error that names ``mix``; one far past a noise latent's (about 1) a warning: they
    still retrace their picture, but another prompt samples nothing from them. The gap grows faster at a high
    guidance and over many steps (mix 0.93, guidance 7.5: mean size 9 after 50 steps on the pocket model, 8,000
    after 100)."""
    fix = f"use fewer steps, a lower guidance_scale or a mix nearer 1 (the paper's is {EDICT_MIX})"
    where = f" (by step {step})" if step is not None else ""
    if not (bool(torch.isfinite(x).all()) and bool(torch.isfinite(y).all())):
        raise NonFiniteError(f"{_edict_blow_up(mix, steps)} its latents overflowed to NaN or inf{where}: {fix}")
    size = max(float(x.detach().abs().float().mean()), float(y.detach().abs().float().mean()))
    if size > EDICT_RETRACE_LIMIT:
        raise NonFiniteError(
            f"{_edict_blow_up(mix, steps)} its latents grew to mean size {size:.3g}{where}, past what float64's 16 "
            f"digits can sample back to the picture: {fix}"
        )
    if step is None and size > MAX_LATENT_SIZE:
        warnings.warn(
            f"{_edict_blow_up(mix, steps)} its latents grew to mean size {size:.3g} (a noise latent's is about 1): "
            f"they sample back to their picture, but an edit from them draws nothing of it; {fix}",
            stacklevel=learner_stacklevel(),
        )


def _edict_coefficients(pipe, timesteps: list[int], ratio: int) -> dict[int, tuple[float, float]]:
    """The DDIM step's (a, b) of ``step_coefficients`` for every timestep of a run, computed once."""
    alphas, final = _alphas(pipe)
    ptype = _prediction_type(pipe)
    return {
        t: step_coefficients(float(alphas[t]), _alpha_before(alphas, final, t, ratio), prediction_type=ptype)
        for t in timesteps
    }


@torch.inference_mode()
def edict_denoise(
    pipe,
    x: torch.Tensor,
    y: torch.Tensor,
    cond: torch.Tensor,
    uncond: torch.Tensor | None,
    *,
    num_inference_steps: int,
    guidance_scale: float,
    start_step: int = 0,
    mix: float = EDICT_MIX,
    progress: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """EDICT sampling: ``edict_step`` from ``timesteps[start_step]`` down to the clean latents (both returned)."""
    timesteps, ratio = _schedule(pipe, num_inference_steps)
    start_step = _check_start_step(start_step, len(timesteps))
    g, p = _check_guidance(guidance_scale), _check_mix(mix)
    _check_latents(pipe, x, "x", huge="ignore")  # EDICT's coupled latents grow at a low mix: they still invert
    _check_latents(pipe, y, "y", huge="ignore")
    if x.shape != y.shape:
        raise ValueError(f"x {tuple(x.shape)} and y {tuple(y.shape)} must have one shape (EDICT's two latents)")
    check_edict_growth(x, y, p, len(timesteps) - start_step)  # a warning that says why, when they have grown
    _check_embeddings(pipe, cond, uncond, x.shape[0], len(timesteps), g)
    x, y = x.to(pipe.device, torch.float64), y.to(pipe.device, torch.float64)
    coefficients = _edict_coefficients(pipe, timesteps, ratio)
    for t in _bar(timesteps[start_step:], "EDICT sampling", progress):
        a, b = coefficients[t]
        x, y = edict_step(x, y, lambda z, t=t: _unet_eps(pipe, z, t, cond, uncond, g), a, b, p)
    return x, y


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
    """Text to image with DDIM; or continue from ``start_latents`` at ``timesteps[start_step]``. Notebook 02."""
    num_inference_steps = _check_steps(pipe, num_inference_steps)
    start_step = _check_start_step(start_step, num_inference_steps)
    g = _check_guidance(guidance_scale)
    eta = _check_eta(eta)
    _check_generator(generator)
    _check_output_type(output_type)
    if start_latents is None:
        if start_step != 0:
            raise ValueError("start_step > 0 needs start_latents (the latent at timesteps[start_step])")
        batch = len(_prompts(prompt))
        if batch > MAX_BATCH:  # before the latents are drawn (hundreds of MB at SD's size, to be refused)
            raise ValueError(f"prompt is a list of {batch} prompts: at most {MAX_BATCH} images in one call")
        latents = _initial_latents(pipe, batch, generator)
    else:
        _check_latents(pipe, start_latents)
        latents = start_latents
    cond, uncond = encode_text(pipe, prompt, negative_prompt=negative_prompt, guidance=g != 1, batch=latents.shape[0])
    from .editing import warn_unknown_words

    warn_unknown_words(pipe, _prompts(prompt))  # "a purple unicorn" on the pocket model: shapes it never learned
    if g == 1 and negative_prompt is not None and any(_prompts(negative_prompt, name="negative_prompt")):
        warnings.warn(
            "negative_prompt has no effect at guidance_scale=1 (only the prompt is used); raise guidance_scale "
            "above 1 for it to steer the picture",
            stacklevel=3,  # the learner's line (inference_mode's wrapper is one frame)
        )
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
INVERSION_FORMAT = "ddim-course-inversion/1"


@dataclass
class Inversion:
    """A DDIM inversion: the whole trajectory from the clean latent to (nearly) pure noise.

    ``latents[0]`` is the clean latent and ``latents[k]`` (k >= 1) the latent at ``timesteps[-k]``,
    so ``latents[-1]`` is the most noised. ``timesteps`` are the sampler's (noisiest first).
    ``guidance_scale`` is the guidance to sample it back with; ``uncond_embeddings`` is filled by methods that
    learn one unconditional embedding per step; ``model`` names the weights that made it (see
    ``model_fingerprint``), so that it is not used with another model. ``save``/``load`` keep it in a file.
    Exact methods (notebook 08) add what their sampler needs: EDICT its second sequence ``coupled_latents``
    (indexed like ``latents``) and its mixing weight ``mix``; edit-friendly DDPM inversion one ``noise_maps[i]`` per
    sampling step i (sampled at eta = 1). ``reconstruct`` and ``edit`` pick the right sampler from these.
    Null-text inversion also keeps ``sampled_latents`` (indexed like ``latents``): the path its guided sampling
    takes with the learned embeddings, which it computes while it learns them, so that an edit's source branch need
    not compute it again.
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
    model: str | None = None
    coupled_latents: list[torch.Tensor] | None = None
    mix: float | None = None
    noise_maps: list[torch.Tensor] | None = None
    sampled_latents: list[torch.Tensor] | None = None
    schedule: str | None = None  # schedule_fingerprint of the scheduler that made it

    def __repr__(self) -> str:  # the dataclass's would print every latent: 100 kB in a notebook cell
        x = self.latents[0] if self.latents else None
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else "?"
        return (
            f"Inversion(method={self.method!r}, prompt={_show(self.prompt)}, guidance_scale={self.guidance_scale!r}, "
            f"num_inference_steps={self.num_inference_steps!r}, latents: {len(self.latents or [])} of {shape}, "
            f"unet_calls={self.unet_calls!r}, model={self.model!r})"
        )

    def __post_init__(self):
        n = self.num_inference_steps = _whole(self.num_inference_steps, "num_inference_steps")
        if n < 1:
            raise ValueError(f"an Inversion needs num_inference_steps >= 1, got {n}")
        if not isinstance(self.latents, (list, tuple)) or len(self.latents) != n + 1:
            got = len(self.latents) if isinstance(self.latents, (list, tuple)) else type(self.latents).__name__
            raise ValueError(f"an Inversion of {n} steps holds {n + 1} latents (clean to noisiest), got {got}")
        if isinstance(self.timesteps, (torch.Tensor, np.ndarray)) and self.timesteps.ndim == 1:
            self.timesteps = self.timesteps.tolist()  # pipe.scheduler.timesteps, say: checked as whole numbers below
        if not isinstance(self.timesteps, (list, tuple)) or len(self.timesteps) != n:
            raise ValueError(f"an Inversion of {n} steps has {n} timesteps, got {_show(self.timesteps)}")
        self.timesteps = [_whole(t, "each timestep") for t in self.timesteps]
        if any(t < 0 for t in self.timesteps) or any(a <= b for a, b in zip(self.timesteps, self.timesteps[1:])):
            raise ValueError(
                f"an Inversion's timesteps go down from the noisiest to 0 or more, got {_show(str(self.timesteps))}"
            )
        for name in ("method", "model", "schedule"):
            value = getattr(self, name)
            if not (isinstance(value, str) and value.strip()) and not (name != "method" and value is None):
                raise ValueError(f"an Inversion's {name} must be a name (a string), got {_show(value)}")
        self.unet_calls = _whole(self.unet_calls, "unet_calls")
        if self.unet_calls < 0:
            raise ValueError(f"unet_calls counts model evaluations: a whole number >= 0, got {self.unet_calls}")
        if not isinstance(self.info, dict):
            raise ValueError(f"an Inversion's info must be a dict, got {_show(self.info)}")
        shape = None
        for k, x in enumerate(self.latents):
            if not _plain_float(x) or x.ndim != 4:
                raise ValueError(
                    f"latents[{k}] must be a float tensor (batch, channels, height, width) with data, got {_show(x)}"
                    + (f" of shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else "")
                )
            if shape is not None and x.shape != shape:
                raise ValueError(f"latents[{k}] has shape {tuple(x.shape)}, latents[0] {tuple(shape)}: all must match")
            shape = x.shape
            _check_finite(x, f"latents[{k}]")
        self.guidance_scale = _check_guidance(self.guidance_scale)
        _prompts(self.prompt)
        _prompts(self.negative_prompt if self.negative_prompt is not None else "", name="negative_prompt")
        u = self.uncond_embeddings
        if isinstance(u, (list, tuple)) and len(u) != n:
            raise ValueError(f"uncond_embeddings holds {len(u)} embeddings for {n} steps; give one per step")
        if u is not None:
            embeddings = list(u) if isinstance(u, (list, tuple)) else [u]
            for k, e in enumerate(embeddings):
                if not _plain_float(e) or e.ndim != 3 or e.shape != embeddings[0].shape:
                    raise ValueError(
                        "uncond_embeddings must be text embeddings (batch, tokens, dim), one float tensor per step "
                        f"and all of one shape; entry {k} is {_show(e)}"
                        + (f" of shape {tuple(e.shape)}" if isinstance(e, torch.Tensor) else "")
                    )
                _check_finite(e, f"uncond_embeddings[{k}]")
        for name, count in (("coupled_latents", n + 1), ("noise_maps", n), ("sampled_latents", n + 1)):
            seq = getattr(self, name)
            if seq is None:
                continue
            if not isinstance(seq, (list, tuple)) or len(seq) != count:
                raise ValueError(f"{name} of an Inversion of {n} steps holds {count} tensors, got {_show(seq)}")
            for k, x in enumerate(seq):
                if not _plain_float(x) or x.shape != shape:
                    raise ValueError(
                        f"{name}[{k}] must be a float tensor with data, shaped like the latents {tuple(shape)}"
                    )
                _check_finite(x, f"{name}[{k}]")
        if self.mix is not None and self.coupled_latents is None and self.method != "edict":  # a header edited by hand
            raise ValueError(
                f"mix is the mixing weight of EDICT inversion only; this inversion's method is {self.method!r}"
            )
        if (self.coupled_latents is None) != (self.mix is None):
            raise ValueError("an EDICT inversion needs both coupled_latents and mix (the mixing weight p)")
        if self.mix is not None:
            self.mix = _check_mix(self.mix)
        if self.coupled_latents is not None and self.noise_maps is not None:
            raise ValueError("an Inversion has coupled_latents (EDICT) or noise_maps (DDPM inversion), not both")
        for name, owner in (("sampled_latents", "null-text"), ("coupled_latents", "edict"), ("noise_maps", "ddpm")):
            if getattr(self, name) is not None and self.method != owner:  # it would be sampled back as the owner's
                raise ValueError(
                    f"{name} are kept by {owner} inversion only; this inversion's method is {self.method!r}"
                )

    def sampling_key(self) -> str:
        """A hash of what guided sampling of this inversion depends on besides the model, the prompt and the guidance:
        its noisiest latent and its unconditional embeddings. Null-text inversion stores it with ``sampled_latents``
        (``info["sampled_with"]``), so that a path recorded for other latents or embeddings (changed since) is not
        used."""
        h = hashlib.sha256()
        h.update(repr(float(self.guidance_scale)).encode())  # the guidance it was recorded at (a changed field: not)
        u = self.uncond_embeddings
        for x in [self.latents[-1]] + (list(u) if isinstance(u, (list, tuple)) else [u] if u is not None else []):
            h.update(str(tuple(x.shape)).encode())
            h.update(x.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
        return h.hexdigest()[:24]

    def latents_at(self, start_step: int) -> torch.Tensor:
        """The latent at ``timesteps[start_step]``: exactly where sampling from ``start_step`` begins. Notebook 03."""
        self.__post_init__()  # a field changed since it was made (a step count, a latent) is named, not indexed wrongly
        start_step = _check_start_step(start_step, self.num_inference_steps)
        return self.latents[self.num_inference_steps - start_step]

    def timestep_at(self, start_step: int) -> int:
        """The timestep of ``latents_at(start_step)``."""
        self.__post_init__()
        return self.timesteps[_check_start_step(start_step, self.num_inference_steps)]

    @property
    def clean_latent(self) -> torch.Tensor:
        return self.latents[0]

    @property
    def noise_latent(self) -> torch.Tensor:
        return self.latents[-1]

    def save(self, path, *, overwrite: bool = False) -> Path:
        """Write this inversion to ``path`` (``.safetensors``: the tensors and a JSON header; no pickle).

        An existing file is replaced only with ``overwrite=True``; the write is atomic (see ``files``)."""
        from safetensors.torch import save_file

        from .files import INVERSION_SUFFIXES, check_output_path, write_atomically

        out = check_output_path(path, suffixes=INVERSION_SUFFIXES, overwrite=overwrite)
        self.__post_init__()  # what was changed since it was made is checked now, not when the file is loaded
        given = {f"latents.{k}": x for k, x in enumerate(self.latents)}
        u = self.uncond_embeddings
        if isinstance(u, torch.Tensor):
            given["uncond"] = u
        elif u is not None:
            given.update({f"uncond.{k}": x for k, x in enumerate(u)})
        for prefix, seq in (
            ("coupled", self.coupled_latents),
            ("noise", self.noise_maps),
            ("sampled", self.sampled_latents),
        ):
            given.update({f"{prefix}.{k}": x for k, x in enumerate(seq or [])})
        tensors = {key: _cpu(x) for key, x in given.items()}
        header = {
            "format": INVERSION_FORMAT,
            "method": self.method,
            "model": self.model,
            "schedule": self.schedule,
            "num_inference_steps": self.num_inference_steps,
            "timesteps": self.timesteps,
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "guidance_scale": self.guidance_scale,
            "unet_calls": self.unet_calls,
            "mix": self.mix,
            "info": _jsonable(self.info),
            # the tensors kept channels last (as a VAE's output may be): their layout changes how a convolution
            # rounds, so a loaded inversion takes it back and samples bit for bit as the saved one
            "channels_last": [key for key, x in given.items() if _channels_last(x)],
        }
        metadata = {"ddim_course": json.dumps(header)}

        def write(tmp):
            try:
                save_file(tensors, str(tmp), metadata=metadata)
            except Exception as e:  # safetensors reports a full disk as its own error type, deep in Rust
                if isinstance(e, (OSError, ValueError, TypeError)):
                    raise
                why = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
                raise OSError(f"could not write {out}: {why}; free some space or choose another folder") from None

        return write_atomically(out, write, overwrite=overwrite)

    @classmethod
    def load(cls, path, pipe=None) -> Inversion:
        """Read an inversion written by ``save``; with ``pipe``, refuse one that another model made."""
        header, tensors = _read_inversion_file(path)
        kept = header.get("channels_last", [])
        for key in kept if isinstance(kept, list) else []:  # the layout they were saved from (see save)
            if isinstance(key, str) and key in tensors and tensors[key].ndim == 4:
                tensors[key] = tensors[key].contiguous(memory_format=torch.channels_last)

        def sequence(prefix):  # "prefix.0", "prefix.1", ... in order, or None when there are none
            names = sorted(k for k in tensors if k.startswith(prefix + "."))
            expected = sorted(f"{prefix}.{k}" for k in range(len(names)))
            if names != expected:  # a tensor added, removed or renamed by hand
                raise ValueError(
                    f"its tensors {prefix}.* must be numbered {prefix}.0 to {prefix}.{len(names) - 1} without a gap, "
                    f"got {', '.join(sorted(names, key=lambda k: (len(k), k))[:8])}"
                )
            return [tensors[f"{prefix}.{k}"] for k in range(len(names))] if names else None

        try:
            uncond = tensors["uncond"] if "uncond" in tensors else sequence("uncond")
            inversion = cls(
                latents=sequence("latents") or [],
                timesteps=header["timesteps"],
                prompt=header["prompt"],
                guidance_scale=header["guidance_scale"],
                num_inference_steps=header["num_inference_steps"],
                negative_prompt=header.get("negative_prompt", ""),
                uncond_embeddings=uncond,
                method=header.get("method", "ddim"),  # checked as a name when the Inversion is made
                unet_calls=header.get("unet_calls", 0),  # checked as a whole number when the Inversion is made
                info=header.get("info") if isinstance(header.get("info"), dict) else {},
                model=header.get("model"),
                schedule=header.get("schedule"),
                coupled_latents=sequence("coupled"),
                mix=header.get("mix"),
                noise_maps=sequence("noise"),
                sampled_latents=sequence("sampled"),
            )
        except (KeyError, TypeError, ValueError, OverflowError) as e:
            raise ValueError(f"{path} is not a valid inversion file ({type(e).__name__}: {e})") from None
        if inversion.model is None:  # saved from an Inversion made by hand, or a header edited since
            warnings.warn(
                f"{path} does not say which model made it, so nothing can check that it fits the pipeline it is "
                "used with (an inversion only fits the model that made it): use it with that model only",
                stacklevel=2,
            )
        if pipe is not None:
            _check_same_model(pipe, inversion)
        return inversion


def _cpu(x: torch.Tensor) -> torch.Tensor:
    return x.detach().to("cpu").contiguous().clone()


def _channels_last(x: torch.Tensor) -> bool:
    return x.ndim == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


def _jsonable(info: dict) -> dict:
    """The entries of ``info`` that JSON can hold (numbers, strings, lists of them)."""
    out = {}
    for k, v in (info or {}).items():
        if isinstance(v, (np.generic, torch.Tensor)) and getattr(v, "ndim", 0) == 0:
            v = v.item()  # a numpy or 0-d tensor number (np.float32(31.5)) is kept as the number it is
        try:
            json.dumps(v, allow_nan=False)
            out[str(k)] = v
        except (TypeError, ValueError):
            continue
    return out


MAX_INVERSION_BYTES = 2 * 1024**3


def _read_inversion_file(path) -> tuple[dict, dict]:
    """The JSON header and the tensors of an inversion file, or a one-line error saying what is wrong."""
    from safetensors import safe_open

    if isinstance(path, bool) or not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"path must be a file name (a string or a Path), got {type(path).__name__}")
    from .files import expand_user

    p = expand_user(path)
    try:
        exists, regular, size = p.exists(), p.is_file(), p.stat().st_size if p.is_file() else 0
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read {str(p)[:200]}: {getattr(e, 'strerror', None) or e}") from None
    if not exists:
        raise FileNotFoundError(f"no such inversion file: {p}")
    if not regular:
        raise ValueError(f"{p} is not a regular file; give the path of a .safetensors file written by save()")
    if size > MAX_INVERSION_BYTES:
        raise ValueError(f"{p} is {size / 2**30:.1f} GB, too large for an inversion file")
    if not os.access(p, os.R_OK):
        raise PermissionError(f"cannot read {p}: permission denied (check the file's permissions)")
    what = f"{p} is not an inversion file written by Inversion.save (a .safetensors file with a ddim_course header)"
    try:
        with safe_open(str(p), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            header = json.loads(meta["ddim_course"])
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception:  # noqa: BLE001 - any failure to parse means: not our file
        raise ValueError(what) from None
    if not isinstance(header, dict):
        raise ValueError(what)
    found = header.get("format")
    if found != INVERSION_FORMAT:
        if isinstance(found, str) and found.startswith("ddim-course-inversion/"):
            raise ValueError(
                f"{p} was written by another version of ddim_course (format {_show(found)}; this version reads "
                f"{INVERSION_FORMAT}): invert the image again with this version"
            )
        raise ValueError(what)
    return header, tensors


def model_fingerprint(pipe) -> str:
    """``"name#hash16+hashbf16"``: the pipeline's model name and two hashes of a few of its weights, rounded to
    float16 and to bfloat16. A float32 copy and a float16 copy agree on the first, a float32 copy and a bfloat16 copy
    on the second (``same_model``)."""
    _check_pipe(pipe)
    name = getattr(pipe, "_ddim_course_model", None) or getattr(pipe, "name_or_path", "") or "a hand-built pipeline"
    hashes = [hashlib.sha256(), hashlib.sha256()]  # of the weights rounded to float16 and to bfloat16
    for module in (pipe.unet, pipe.vae, pipe.text_encoder):
        weight = next(module.parameters(), None)
        if weight is None or weight.is_meta:
            for h in hashes:
                h.update(b"no weights")
            continue
        sample = weight.detach().reshape(-1)[:4096].to("cpu")  # one copy off the device, rounded twice below
        for h, dtype in zip(hashes, (torch.float16, torch.bfloat16)):
            h.update(str(tuple(weight.shape)).encode())
            h.update(sample.to(dtype).view(torch.int16).numpy().tobytes())  # the 16 bits (numpy has no bfloat16)
    return f"{name}#{hashes[0].hexdigest()[:12]}+{hashes[1].hexdigest()[:12]}"


def schedule_fingerprint(pipe) -> str:
    """A short hash of what a DDIM step reads from the scheduler: ``alphas_cumprod``, the last step's alpha and the
    prediction type. An inversion keeps it: the exact methods retrace their path only on the schedule they were made
    on (a scheduler swapped for v-prediction since took EDICT's reconstruction 3.5 off, without a word)."""
    alphas, final = _alphas(pipe)
    h = hashlib.sha256(alphas.cpu().numpy().tobytes())
    h.update(f"|{final!r}|{_prediction_type(pipe)}".encode())
    return h.hexdigest()[:16]


def same_model(fingerprint: str, other: str) -> bool:
    """Whether two ``model_fingerprint`` values name the same weights: one of their hashes agrees (a fingerprint
    written before the bfloat16 hash existed has the float16 one only)."""
    mine, theirs = (f.rsplit("#", 1)[-1].split("+") for f in (fingerprint, other))
    return any(a == b for a, b in zip(mine, theirs))


def _plain_float(x) -> bool:
    """A tensor with data of a float dtype torch computes with (float8 and meta tensors are not)."""
    return (
        isinstance(x, torch.Tensor)
        and not x.is_meta
        and x.layout == torch.strided
        and x.dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64)
    )


def _steps_shown(timesteps) -> str:
    """A list of timesteps for a message: all of a short one, the ends of a long one."""
    t = [int(v) for v in timesteps]
    return str(t) if len(t) <= 6 else f"[{t[0]}, {t[1]}, {t[2]}, ..., {t[-2]}, {t[-1]}] ({len(t)} values)"


def _check_same_model(pipe, inversion: Inversion) -> None:
    """Before ``inversion`` is used with ``pipe``: its fields still hold together, its timesteps are the pipeline's
    schedule, and the model that made it is this one."""
    inversion.__post_init__()  # again: a field changed since it was made (a latent appended, a step count) is named
    from .inversions import METHODS

    method = inversion.method
    if method not in METHODS:  # an unknown name would be sampled back as plain DDIM, without a word
        raise ValueError(
            f"this inversion's method {method!r} is not one of the course's ({', '.join(METHODS)}); "
            "make inversions with ddim_course.inversions.METHODS[name](...)"
        )
    carries = {"edict": "coupled_latents", "ddpm": "noise_maps", "null-text": "uncond_embeddings"}.get(method)
    if carries is not None and getattr(inversion, carries) is None:
        raise ValueError(
            f"a {method!r} inversion carries its {carries}, and this one has none: it would be sampled back as "
            f"another method; make it with METHODS[{method!r}](...)"
        )
    u = inversion.uncond_embeddings
    dim = getattr(getattr(getattr(pipe, "text_encoder", None), "config", None), "hidden_size", None)
    tokens = getattr(getattr(pipe, "tokenizer", None), "model_max_length", None)
    if u is not None and isinstance(dim, int) and isinstance(tokens, int) and tokens < 10**6:
        e = u[0] if isinstance(u, (list, tuple)) else u
        batch = inversion.latents[0].shape[0]
        if tuple(e.shape[1:]) != (tokens, dim) or e.shape[0] not in (1, batch):
            rows = "1" if batch == 1 else f"1 or {batch}"
            raise ValueError(
                f"this inversion's uncond_embeddings are {tuple(e.shape)}, but this pipeline's text embeddings are "
                f"({rows}, {tokens}, {dim}): they were made for another model or batch"
            )
    n = inversion.num_inference_steps
    if n <= max_steps(pipe) and inversion.timesteps != _schedule(pipe, n)[0]:
        raise ValueError(
            f"this inversion's timesteps {_steps_shown(inversion.timesteps)} are not this pipeline's {n}-step "
            "schedule: "
            "it was made with another scheduler, or changed; invert the image again with this pipeline"
        )
    if inversion.model is not None and not same_model(mine := model_fingerprint(pipe), inversion.model):
        name = str(inversion.model).split("#")[0]
        load = (
            f"load the model it was made with (load_pipeline({name!r}), or --model {name} on the command line), or "
            if name and " " not in name
            else ""
        )
        raise ValueError(
            f"this inversion was made by the model {inversion.model!r}, but the pipeline is {mine!r}: "
            f"{load}invert the image again with this pipeline (an inversion only fits the model that made it)"
        )
    if inversion.schedule is not None and inversion.schedule != schedule_fingerprint(pipe):
        raise ValueError(
            "this inversion was made on another noise schedule than pipe.scheduler's (its alphas_cumprod, "
            "final_alpha_cumprod or prediction_type changed since): invert the image again with this pipeline, or "
            "give it back the scheduler it had"
        )


def _image_latents(pipe, image) -> torch.Tensor:
    if isinstance(image, torch.Tensor):
        c = pipe.unet.config.in_channels
        channels = {image.shape[-3], image.shape[-1]} if image.ndim in (3, 4) else set()
        if c not in channels and channels & {1, 3}:  # (3, H, W), (1, 3, H, W), (1, H, W, 3): not (4, h, w) latents
            raise ValueError(
                f"a tensor given as the image is read as latents of shape (batch, {c}, height, width); this one has "
                f"shape {tuple(image.shape)}, an image's. Pass the image as a PIL image or a path: "
                "ddim_course.tensor_to_pil(x)[0] turns a (3, H, W) tensor in [0, 1] into one"
            )
        _check_latents(pipe, image, "latents")
        # a copy: the inversion's latents[0] must not be the caller's tensor (changing one would change the other)
        return image.detach().to(pipe.device, _work_dtype(pipe), copy=True)
    if isinstance(image, (list, tuple)) and len(image) == 0:
        raise ValueError("no images given (an empty list); pass an image, a path, or a list of them")
    if isinstance(image, (list, tuple)) and len(image) > MAX_BATCH:  # named before hours of encoding
        raise ValueError(f"{len(image)} images given; at most {MAX_BATCH} go in one call")
    return encode(pipe, image).to(_work_dtype(pipe))


def fixed_point_step(unet_out, x_from, alpha_from: float, alpha_t: float, guess, *, iterations: int, ptype="epsilon"):
    """Solve one inversion step's implicit equation by fixed-point iteration. Shown in notebook 08.

    Sampling goes from ``x_t`` to ``x_from = m * x_t + c * out(x_t)`` (``step_coefficients``). Inversion wants the
    ``x_t`` that lands on ``x_from``: ``x_t = (x_from - c * out(x_t)) / m``, with ``x_t`` on both sides. DDIM's
    ``guess`` used ``out(x_from)``; each iteration asks the model at the latest ``x_t`` instead and solves again.
    ``unet_out(x)`` is the (guided) model output at timestep t. Returns (x_t, how far each iteration moved it: RMS).
    """
    iterations = _whole(iterations, "iterations")
    if not 1 <= iterations <= MAX_FIXED_POINT_ITERATIONS:
        raise ValueError(f"iterations must be a whole number in [1, {MAX_FIXED_POINT_ITERATIONS}] (3 is plenty)")
    for name, value in (("x_from", x_from), ("guess", guess)):
        if not isinstance(value, torch.Tensor) or value.numel() == 0:
            raise ValueError(f"{name} must be a latent (a tensor with values), got {_describe_level(value)}")
    if guess.shape != x_from.shape:
        raise ValueError(f"guess must have x_from's shape {tuple(x_from.shape)}, got {tuple(guess.shape)}")
    m, c = step_coefficients(alpha_t, alpha_from, prediction_type=ptype)
    x, moves = guess, []
    for _ in range(iterations):
        new = (x_from - c * unet_out(x)) / m
        moves.append(float((new - x).pow(2).mean().sqrt()))
        x = new
    return x, moves


@torch.inference_mode()
def invert(
    pipe,
    image,
    prompt: str | list[str],
    *,
    num_inference_steps: int = 50,
    guidance_scale: float = 1.0,
    negative_prompt: str | list[str] = "",
    fixed_point_iterations: int = 0,
    progress: bool = True,
) -> Inversion:
    """DDIM inversion of an image (PIL, path, or latents): run the update from clean to noisy. Notebook 03.

    ``fixed_point_iterations`` > 0 refines each step by asking the model again at the new latent (notebook 08);
    ``info["residuals"]`` then holds, per step, how far each iteration moved the latent (RMS)."""
    timesteps, ratio = _schedule(pipe, num_inference_steps)
    n = len(timesteps)
    g = _check_guidance(guidance_scale)
    k = _whole(fixed_point_iterations, "fixed_point_iterations")
    if not 0 <= k <= MAX_FIXED_POINT_ITERATIONS:
        raise ValueError(
            f"fixed_point_iterations must be in [0, {MAX_FIXED_POINT_ITERATIONS}] (0 = plain DDIM; 3 is plenty), "
            f"got {k}"
        )
    if n * k > MAX_FIXED_POINT_REFINEMENTS:  # each count alone may be fine; together they would run for hours
        raise ValueError(
            f"num_inference_steps={n} x fixed_point_iterations={k} is {n * k:,} refinements, each a model call; at "
            f"most {MAX_FIXED_POINT_REFINEMENTS:,} run in one inversion (50 steps x 3 come within 0.03 dB of the "
            "ceiling: notebook 08)"
        )
    latents = _image_latents(pipe, image)
    cond, uncond = encode_text(pipe, prompt, negative_prompt=negative_prompt, guidance=g != 1, batch=latents.shape[0])
    alphas, final = _alphas(pipe)
    ptype = _prediction_type(pipe)
    trajectory, residuals = [latents], []
    # the loop runs the update of eq. 12 from a cleaner level to a noisier one (the ODE of eq. 14 backwards):
    for t in _bar(list(reversed(timesteps)), "DDIM inversion", progress):
        # 1. the noise level we come from: one step cleaner than t (or the end's alpha at the first step)
        alpha_from = _alpha_before(alphas, final, t, ratio)
        # 2. the model is asked at t with the latent of t_from, as diffusers' DDIMInverseScheduler does
        #    (the local-linearity assumption: eps(x_{t_from}, t) ~ eps(x_t, t); notebook 03 measures it)
        eps = _unet_eps(pipe, latents, t, cond, uncond, g)
        # 3. the DDIM update from alpha_from up to alpha_t
        guess = ddim_update(eps, latents, alpha_from, float(alphas[t]), prediction_type=ptype)
        # 4. optionally, remove the assumption of step 2 by iterating (notebook 08)
        if k:
            guess, moves = fixed_point_step(
                lambda x, t=t: _unet_eps(pipe, x, t, cond, uncond, g),
                latents,
                alpha_from,
                float(alphas[t]),
                guess,
                iterations=k,
                ptype=ptype,
            )
            residuals.append(moves)
        latents = guess
        trajectory.append(latents)
    _check_finite(latents, "the inverted latents", after="inversion")
    if g == 1 and negative_prompt is not None and any(_prompts(negative_prompt, name="negative_prompt")):
        warnings.warn(
            "negative_prompt has no effect on an inversion at guidance_scale=1 (only the prompt is used); it is kept "
            "with the inversion, and reconstruct or edit at another guidance uses it",
            stacklevel=learner_stacklevel(),
        )
    if k:
        _warn_if_not_converging(residuals, timesteps)
    return Inversion(
        latents=trajectory,
        timesteps=timesteps,
        prompt=prompt,
        guidance_scale=g,
        num_inference_steps=n,
        negative_prompt=negative_prompt,
        unet_calls=n * (1 + k) * (2 if g != 1 else 1),
        model=model_fingerprint(pipe),
        schedule=schedule_fingerprint(pipe),
        info={"fixed_point_iterations": k, "residuals": residuals} if k else {},
    )


def _warn_if_not_converging(residuals: list[list[float]], timesteps: list[int]) -> None:
    """Fixed-point iteration converges only while each iteration moves the latent less than the one before; where the
    last move is not below the first, more iterations make that step worse (large steps at high guidance). Moves under
    1e-5 (latents are about unit size) are float32's rounding, not a failure."""
    bad = [i for i, moves in enumerate(residuals) if len(moves) >= 2 and not moves[-1] < moves[0] and moves[-1] > 1e-5]
    if bad:
        steps = [sorted(timesteps)[i] for i in bad]
        shown = ", ".join(f"t={t}" for t in steps[:5]) + (f" and {len(steps) - 5} more" if len(steps) > 5 else "")
        warnings.warn(
            f"fixed-point iteration did not converge at {len(bad)} of {len(residuals)} steps ({shown}): its last move "
            "was not smaller than its first, so more iterations make those steps worse; use more steps "
            "(num_inference_steps), a lower guidance_scale or fewer iterations (info['residuals'] holds the moves)",
            stacklevel=learner_stacklevel(),
        )


@torch.no_grad()
def local_linearity_errors(pipe, inversion: Inversion) -> list[float]:
    """How wrong inversion's one assumption was, step by step (notebook 03): at each step k the model was asked at
    ``latents[k - 1]`` (where the step came from) for timestep t_k, while a sampler at t_k asks it at ``latents[k]``
    (where the step landed). Returns ||eps(x_{k-1}, t_k) - eps(x_k, t_k)|| / ||eps(x_k, t_k)|| for k = 1..n, from
    the clean end to the noisy end, with the inversion's own prompt and guidance."""
    if not isinstance(inversion, Inversion) or inversion.method != "ddim":
        raise ValueError("local_linearity_errors needs a plain DDIM Inversion, as made by invert(pipe, image, prompt)")
    _check_same_model(pipe, inversion)
    g = inversion.guidance_scale
    batch = inversion.latents[0].shape[0]
    cond, uncond = encode_text(
        pipe, inversion.prompt, negative_prompt=inversion.negative_prompt, guidance=g != 1, batch=batch
    )
    errors = []
    for k, t in enumerate(reversed(inversion.timesteps), start=1):
        used = _unet_eps(pipe, inversion.latents[k - 1], t, cond, uncond, g)
        right = _unet_eps(pipe, inversion.latents[k], t, cond, uncond, g)
        errors.append(float((used - right).cpu().double().norm() / right.cpu().double().norm()))
    return errors


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
    """Sample back from ``inversion.latents_at(start_step)`` (by default with the inversion's prompt and guidance).

    Shown in notebook 04. Refuses an inversion that another model made."""
    if not isinstance(inversion, Inversion):
        raise ValueError(f"inversion must be an Inversion (from invert()), got {type(inversion).__name__}")
    _check_same_model(pipe, inversion)
    _check_output_type(output_type)
    n = inversion.num_inference_steps
    if num_inference_steps is not None and _whole(num_inference_steps, "num_inference_steps") != n:
        raise ValueError(
            f"this inversion has {n} steps; reconstruct with num_inference_steps={n} or invert again with "
            f"{num_inference_steps}"
        )
    start_step = _check_start_step(start_step, n)
    prompt = inversion.prompt if prompt is None else prompt
    g = inversion.guidance_scale if guidance_scale is None else _check_guidance(guidance_scale)
    from .inversions import warn_if_fitted_elsewhere

    warn_if_fitted_elsewhere(inversion, g, "reconstructed")
    start = inversion.latents_at(start_step)
    _check_latents(pipe, start, "the inversion's latents", huge="ignore")  # the sampler it calls warns
    b = start.shape[0]
    if inversion.method == "direct" and read_alike(pipe, prompt, inversion.prompt, b):  # "p", ["p"], "P " alike
        # direct inversion (Ju et al. 2024) sets the source branch to the inversion's own latent after every step
        # (notebook 07), so sampling the source prompt back ends on the clean latent, with no model call
        latents = inversion.latents[0].to(pipe.device, _work_dtype(pipe), copy=True)  # not the inversion's own tensor
        return latents if output_type == "latent" else decode(pipe, latents, output_type=output_type)
    if inversion.uncond_embeddings is not None and g != 1:
        cond, _ = encode_text(pipe, prompt, guidance=False, batch=start.shape[0])
        uncond = inversion.uncond_embeddings
    else:
        cond, uncond = encode_text(
            pipe, prompt, negative_prompt=inversion.negative_prompt, guidance=g != 1, batch=start.shape[0]
        )
    common = dict(num_inference_steps=n, guidance_scale=g, start_step=start_step, progress=progress)
    if inversion.coupled_latents is not None:  # EDICT: both sequences, its own coupled sampler
        partner = inversion.coupled_latents[n - start_step]
        latents, _ = edict_denoise(pipe, start, partner, cond, uncond, mix=inversion.mix, **common)
        latents = latents.to(_work_dtype(pipe))  # its sampler works in float64; hand back the usual dtype
    elif inversion.noise_maps is not None:  # edit-friendly DDPM inversion: eta = 1 with the solved noise maps
        latents = denoise(pipe, start, cond, uncond, eta=1.0, noise_maps=inversion.noise_maps, **common)
    else:
        latents = denoise(pipe, start, cond, uncond, **common)
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
    """img2img: noise the image's latent to ``timesteps[start_step]`` with fresh noise, then sample. Notebook 04."""
    timesteps, _ = _schedule(pipe, num_inference_steps)
    start_step = _check_start_step(start_step, len(timesteps))
    _check_guidance(guidance_scale)
    _check_generator(generator)
    _check_output_type(output_type)
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
