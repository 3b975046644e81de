"""Beyond plain DDIM inversion: null-text inversion, negative-prompt inversion, and the registry of methods.

Every method returns an :class:`~ddim_course.ddim.Inversion`, so ``reconstruct`` and ``edit`` use them unchanged.
``METHODS`` maps a method's name to its entry; the widgets, the benchmarks and the command line all read it, so a
new method is one entry there.
"""

from __future__ import annotations

import contextlib
import inspect
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .ddim import (
    Inversion,
    _alphas,
    _bar,
    _check_guidance,
    _check_steps,
    _prediction_type,
    _real,
    _schedule,
    _show,
    _unet_eps,
    _whole,
    ddim_step,
    encode_text,
    guide,
    invert,
)
from .exact import ddpm_invert, edict_invert, fixed_point_invert
from .images import learner_stacklevel

MAX_INNER_STEPS = 1000  # Adam steps per sampling step; the paper uses 10
MAX_NULL_TEXT_UPDATES = 20_000  # Adam steps in one inversion, 40 x the paper's 50 x 10


def warn_if_fitted_elsewhere(inversion: Inversion, guidance_scale: float, doing: str) -> None:
    """Warn when an inversion fitted at one guidance (null-text, fixed-point, EDICT, DDPM) is used at another."""
    fitted = METHODS.get(inversion.method)
    if fitted is not None and fitted.per_guidance and inversion.guidance_scale != guidance_scale:
        g, used = inversion.guidance_scale, guidance_scale
        warnings.warn(
            f"this {inversion.method!r} inversion was fitted at guidance {g:g} and is {doing} at {used:g}: what it "
            f"fitted no longer holds, and the picture is kept worse. Use guidance_scale={g:g}, or invert again at "
            f"{used:g}",
            stacklevel=learner_stacklevel(),
        )


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


def _fit_null_embedding(step, eps_cond, uncond, target, *, guidance_scale, lr, inner_steps, stop, loss_scale):
    """Null-text inversion's inner loop at one timestep (Mokady et al. 2022, Algorithm 1, lines 7-9).

    Adam moves the unconditional embedding so that the guided DDIM step ``step(eps)`` lands on ``target``,
    the pivot's next latent. Returns (the learned embedding, detached; the last loss; UNet calls made).
    """
    uncond = uncond.detach().clone().requires_grad_(True)  # Adam changes it in place: never the caller's tensor
    opt = torch.optim.Adam([uncond], lr=lr)
    loss_value, calls = float("nan"), 0
    for _ in range(inner_steps):
        eps_uncond = step.unet(uncond)
        calls += 1
        loss = F.mse_loss(step.ddim(guide(eps_uncond, eps_cond, guidance_scale)), target)
        opt.zero_grad(set_to_none=True)
        (loss * loss_scale).backward()
        opt.step()
        loss_value = loss.item()
        if loss_value < stop:
            break
    return uncond.detach(), loss_value, calls


def check_inner_steps(inner_steps) -> int:
    """Null-text's Adam steps per sampling step: a whole number in [1, MAX_INNER_STEPS], or a clear error (0 would
    learn nothing: plain DDIM at the guidance, labelled null-text, with no losses to show)."""
    inner_steps = _whole(inner_steps, "inner_steps")
    if not 1 <= inner_steps <= MAX_INNER_STEPS:
        raise ValueError(
            f"inner_steps must be a whole number in [1, {MAX_INNER_STEPS}] (the paper uses 10; for no learning at all "
            f"use inversion 'ddim' at the same guidance), got {inner_steps!r}"
        )
    return inner_steps


def null_text_invert(
    pipe,
    image,
    prompt: str,
    *,
    num_inference_steps: int = 50,
    guidance_scale: float = 7.5,
    inner_steps: int = 10,
    learning_rate: float = 1e-2,
    early_stop: float = 1e-5,
    progress: bool = True,
) -> Inversion:
    """Null-text inversion (Mokady et al., 2022): learn one unconditional embedding per step. Shown in notebook 06.

    The pivot is DDIM inversion at guidance 1. Then, from the noisiest step down, Adam tunes the
    unconditional ("null-text") embedding so that the *guided* DDIM step lands on the pivot's next latent.
    The learning rate decays to half over the run (``learning_rate * (1 - i / (2 n))`` at step i of n: the paper's
    ``1 - i / 100`` for 50 steps) and step i stops early once its loss is below ``early_stop * (1 + 2 i)`` (the
    paper's ``1e-5 + 2e-5 i``). The defaults are the paper's, for Stable Diffusion; ``METHODS["null-text"]`` passes
    the active model's preset values (the pocket model's were measured). At guidance 1 the unconditional embedding
    has no effect, so there is nothing to learn: the result is plain DDIM inversion.
    """
    g = _check_guidance(guidance_scale)
    inner_steps = check_inner_steps(inner_steps)
    lr = _real(learning_rate, "learning_rate", low=1e-12, high=10, hint="the paper uses 1e-2")
    stop = _real(early_stop, "early_stop", low=0, high=1e6, hint="the paper uses 1e-5; 0 never stops early")
    _check_single_prompt(prompt, "null_text_invert")
    updates = _check_steps(pipe, num_inference_steps) * inner_steps
    if updates > MAX_NULL_TEXT_UPDATES:  # each count alone may be fine; together they would run for hours
        raise ValueError(
            f"num_inference_steps={num_inference_steps} x inner_steps={inner_steps} is {updates:,} Adam updates, each "
            f"a UNet call with its gradient; at most {MAX_NULL_TEXT_UPDATES:,} run in one call (the paper's: 500)"
        )
    start = time.perf_counter()
    if g != 1 and torch.is_inference_mode_enabled():  # Adam needs gradients, which inference mode cannot give back
        raise ValueError(
            "null-text inversion tunes the empty prompt's embedding by gradient descent, which torch.inference_mode() "
            "switches off: call it outside the `with torch.inference_mode():` block"
        )
    pivot = invert(pipe, image, prompt, num_inference_steps=num_inference_steps, guidance_scale=1.0, progress=progress)
    timesteps, ratio = _schedule(pipe, num_inference_steps)
    alphas, final = _alphas(pipe)
    ptype = _prediction_type(pipe)
    n = num_inference_steps
    batch = pivot.latents[0].shape[0]
    with torch.inference_mode():
        cond, uncond0 = encode_text(pipe, prompt, guidance=True, batch=batch)
    cond, uncond = cond.clone(), uncond0.clone().float()
    info = {"seconds": 0.0, "learning_rate": lr, "early_stop": stop, "inner_steps": inner_steps}
    if g == 1:  # guided = conditional estimate whatever the null embedding: keep the empty prompt's
        info.update(losses=[0.0] * n, seconds=time.perf_counter() - start)
        return _from_pivot(pivot, "null-text", g, info, uncond_embeddings=[uncond0.clone()] * n)
    # a half-precision UNet's gradients are tiny here (a mean over the latent): scale the loss so they don't
    # underflow; Adam's steps do not depend on the scale
    loss_scale = 1024.0 if pipe.unet.dtype == torch.float16 else 1.0
    x = pivot.latents[-1].clone()
    path = [None] * n + [pivot.latents[-1]]  # indexed like latents: the guided sampling's own path
    embeddings, losses, calls = [], [], pivot.unet_calls
    # gradients on for the fit, also inside a learner's `with torch.no_grad():` (autograd raised deep in Adam)
    with _frozen(pipe.unet), _frozen(pipe.text_encoder), torch.enable_grad():
        for i in _bar(range(n), "null-text inversion", progress):
            t = timesteps[i]
            step = _Step(pipe, x, t, t - ratio, alphas, final, ptype)
            with torch.no_grad():
                eps_cond = step.unet(cond)
            uncond, loss, inner_calls = _fit_null_embedding(
                step,
                eps_cond,
                uncond,
                pivot.latents[n - i - 1].clone(),  # a normal tensor (the pivot's are inference-mode tensors)
                guidance_scale=g,
                lr=lr * (1.0 - i / (2 * n)),
                inner_steps=inner_steps,
                stop=stop * (1 + 2 * i),
                loss_scale=loss_scale,
            )
            embeddings.append(uncond.to(cond.dtype))  # its own tensor: the next step's Adam works on a clone
            losses.append(loss)
            with torch.no_grad():
                x = step.ddim(_unet_eps(pipe, x, t, cond, uncond.to(cond.dtype), g))
            path[n - i - 1] = x
            calls += 1 + inner_calls + 2
    info.update(losses=losses, seconds=time.perf_counter() - start)
    inversion = _from_pivot(pivot, "null-text", g, info, uncond_embeddings=embeddings, sampled_latents=path)
    inversion.info["sampled_with"] = inversion.sampling_key()  # the path holds for these latents and embeddings
    inversion.unet_calls = calls
    return inversion


@dataclass
class _Step:
    """One sampling step's fixed parts: ask the UNet at ``x`` with an embedding; take the DDIM step from ``x``."""

    pipe: object
    x: torch.Tensor
    t: int
    t_prev: int
    alphas: torch.Tensor
    final: float
    ptype: str

    def unet(self, embedding: torch.Tensor) -> torch.Tensor:
        dtype = self.pipe.unet.dtype
        return self.pipe.unet(self.x.to(dtype), self.t, encoder_hidden_states=embedding.to(dtype)).sample.float()

    def ddim(self, eps: torch.Tensor) -> torch.Tensor:
        return ddim_step(
            eps, self.t, self.t_prev, self.x, self.alphas, final_alpha_cumprod=self.final, prediction_type=self.ptype
        )


def _from_pivot(pivot: Inversion, method: str, g: float, info: dict, **fields) -> Inversion:
    """An Inversion that shares the guidance-1 pivot's trajectory, to be sampled at guidance ``g``."""
    base = dict(
        latents=pivot.latents,
        timesteps=pivot.timesteps,
        prompt=pivot.prompt,
        guidance_scale=g,
        num_inference_steps=pivot.num_inference_steps,
        method=method,
        unet_calls=pivot.unet_calls,
        model=pivot.model,
        schedule=pivot.schedule,
        info=info,
    )
    return Inversion(**(base | fields))


def _check_single_prompt(prompt, who: str) -> None:
    if not isinstance(prompt, str):
        raise ValueError(f"{who} takes one prompt (a string), got {type(prompt).__name__}")


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
    Shown in notebook 06.

    With the prompt as its own negative, the guided noise estimate equals the conditional one at any
    guidance, so reconstruction retraces the guidance-1 inversion; an edit pushes away from the source prompt.
    """
    g = _check_guidance(guidance_scale)
    _check_single_prompt(prompt, "negative_prompt_invert")
    start = time.perf_counter()
    pivot = invert(pipe, image, prompt, num_inference_steps=num_inference_steps, guidance_scale=1.0, progress=progress)
    info = {"seconds": time.perf_counter() - start}
    return _from_pivot(pivot, "negative-prompt", g, info, negative_prompt=prompt)


def ddim_invert(
    pipe, image, prompt: str, *, num_inference_steps: int = 50, guidance_scale: float = 7.5, progress: bool = True
) -> Inversion:
    """Plain DDIM inversion at guidance 1 (the standard), to be sampled back at ``guidance_scale``."""
    guidance_scale = _check_guidance(guidance_scale)  # before the inversion's work, not after it
    start = time.perf_counter()
    pivot = invert(pipe, image, prompt, num_inference_steps=num_inference_steps, guidance_scale=1.0, progress=progress)
    return _from_pivot(pivot, "ddim", guidance_scale, {"seconds": time.perf_counter() - start})


def direct_invert(
    pipe, image, prompt: str, *, num_inference_steps: int = 50, guidance_scale: float = 7.5, progress: bool = True
) -> Inversion:
    """Direct inversion (Ju et al. 2024, "PnP inversion"): DDIM inversion at guidance 1, kept whole. Notebook 07.

    What makes it direct happens while editing (``editing.edit_branches``): after every step the source branch is
    set back to this trajectory's latent, so it never drifts at high guidance and the target branch, which borrows
    the source's attention, sees the true source picture. No optimisation: DDIM's cost."""
    guidance_scale = _check_guidance(guidance_scale)  # before the inversion's work, not after it
    start = time.perf_counter()
    pivot = invert(pipe, image, prompt, num_inference_steps=num_inference_steps, guidance_scale=1.0, progress=progress)
    return _from_pivot(pivot, "direct", guidance_scale, {"seconds": time.perf_counter() - start})


# --------------------------------------------------------------------------------------------------
# the registry
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Method:
    """One inversion method: ``METHODS[name](pipe, image, prompt, *, num_inference_steps, guidance_scale)``."""

    name: str
    label: str
    function: Callable[..., Inversion]
    citation: str
    per_guidance: bool = False  # True when the inversion itself depends on guidance_scale (redo it per guidance)
    ddim_sampler: bool = True  # False when its latents are sampled back by its own sampler (no prompt-to-prompt)

    def __call__(
        self, pipe, image, prompt: str, *args, num_inference_steps: int = 50, guidance_scale: float = 7.5, **kwargs
    ) -> Inversion:
        if args:  # METHODS["ddim"](pipe, image, prompt, 3): a clear error instead of Python's count of arguments
            raise ValueError(
                f"a method takes pipe, image and prompt, then options by name: pass {_show(args[0])} as name=value "
                f"(num_inference_steps={_show(args[0])}, or another option), not alone"
            )
        known = self.options()
        unknown = [k for k in kwargs if k not in known] if known is not None else []
        if unknown:  # a clear error instead of "got an unexpected keyword argument"
            raise ValueError(
                f"the {self.name!r} method has no option {unknown[0]!r}; its options are "
                f"{', '.join(known)} (each method takes its own: METHODS[name].options())"
            )
        return self.function(
            pipe, image, prompt, num_inference_steps=num_inference_steps, guidance_scale=guidance_scale, **kwargs
        )

    @property
    def draws_noise(self) -> bool:
        """True for a method that names ``generator`` among its options (it draws noise: seed it to repeat it)."""
        return "generator" in (self.options() or ())

    def options(self) -> tuple[str, ...] | None:
        """The keyword arguments this method takes (``num_inference_steps``, ``guidance_scale``, its own); None for
        a function that takes any (``**kwargs``): it says itself what it refuses."""
        fn = getattr(self.function, "inverts_with", self.function)
        params = list(inspect.signature(fn).parameters.values())
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            return None
        named = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        return tuple(p.name for p in params[3:] if p.kind in named)  # after (pipe, image, prompt)


def _null_text_with_preset(pipe, image, prompt, **kwargs) -> Inversion:
    """Null-text inversion with the learning rate and early stop of the model's preset (unless given)."""
    from .models import get_preset

    preset = get_preset(pipe)
    kwargs.setdefault("learning_rate", preset.null_text_learning_rate)
    kwargs.setdefault("early_stop", preset.null_text_early_stop)
    return null_text_invert(pipe, image, prompt, **kwargs)


_null_text_with_preset.inverts_with = null_text_invert  # its options are null_text_invert's


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("ddim", "DDIM", ddim_invert, "Song et al. 2020; inversion as in Dhariwal & Nichol 2021"),
        Method("null-text", "null-text", _null_text_with_preset, "Mokady et al. 2022", per_guidance=True),
        Method("negative-prompt", "negative-prompt", negative_prompt_invert, "Miyake et al. 2023"),
        Method(
            "fixed-point",
            "fixed-point (3 iterations)",
            fixed_point_invert,
            "Pan et al. 2023 (AIDI); Garibi et al. 2024 (ReNoise)",
            per_guidance=True,
        ),
        Method("edict", "EDICT", edict_invert, "Wallace et al. 2023", per_guidance=True, ddim_sampler=False),
        Method(
            "ddpm",
            "edit-friendly DDPM",
            ddpm_invert,
            "Huberman-Spiegelglas et al. 2024",
            per_guidance=True,
            ddim_sampler=False,
        ),
        Method("direct", "direct", direct_invert, "Ju et al. 2024"),
    )
}


def get_method(name: str) -> Method:
    """The registry entry for ``name`` (``"ddim"``, ``"null-text"``, ``"edict"``, ...), or a clear error."""
    if isinstance(name, Method):
        return name
    key = str(name).strip().lower().replace("_", "-").replace(" ", "-")
    if key not in METHODS:
        raise ValueError(f"unknown inversion method {name!r}; choose one of {', '.join(METHODS)}")
    return METHODS[key]
