"""Checks for the exercises: compare a learner's function with the reference and say how far off it is.

Each ``check_*`` returns a :class:`CheckResult` that shows as a short message in a notebook and is
truthy when the answer is right. The reference solutions are the package's own functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .ddim import ddim_step
from .metrics import psnr


@dataclass
class CheckResult:
    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return ("✅ " if self.passed else "❌ ") + self.message

    def _repr_markdown_(self) -> str:
        return repr(self)


def _call(fn, *args):
    try:
        return fn(*args), None
    except Exception as e:  # noqa: BLE001 - the learner's code may raise anything; we report it
        return None, f"your function raised {type(e).__name__}: {e}"


def _compare(name: str, got, expected, *, atol: float, where: str) -> tuple[float, str | None]:
    if not isinstance(got, torch.Tensor):
        return math.inf, f"{name} returned {type(got).__name__}, not a torch tensor ({where})"
    if got.shape != expected.shape:
        return math.inf, f"{name} returned shape {tuple(got.shape)}, expected {tuple(expected.shape)} ({where})"
    err = (got.double() - expected.double()).abs().max().item()
    return err, None


def _worst_error(name: str, fn, cases, *, atol: float):
    """Call ``fn(*args)`` for each ``(key, where, args, expected)``: a failed CheckResult if it raised or returned
    the wrong kind of value, else None, with the largest error, its case's key and what ``fn`` returned there."""
    worst, worst_key, worst_got = 0.0, None, None
    for key, where, args, expected in cases:
        got, error = _call(fn, *args)
        if error:
            return CheckResult(False, f"at {where}: {error}"), worst, worst_key, worst_got
        err, problem = _compare(name, got, expected, atol=atol, where=where)
        if problem:
            return CheckResult(False, problem), worst, worst_key, worst_got
        if err > worst:
            worst, worst_key, worst_got = err, key, got
    return None, worst, worst_key, worst_got


def check_add_noise(add_noise, alphas_cumprod: torch.Tensor, *, atol: float = 1e-5) -> CheckResult:
    """Check ``add_noise(x0, noise, t)`` against x_t = sqrt(a_t) x0 + sqrt(1 - a_t) noise."""
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(1, 4, 8, 8, generator=g), torch.randn(1, 4, 8, 8, generator=g)

    def case(t):
        a = alphas_cumprod[t].double()
        expected = (a.sqrt() * x0.double() + (1 - a).sqrt() * noise.double()).float()
        return t, f"t={t}", (x0, noise, t), expected

    failed, worst, worst_t, got = _worst_error("add_noise", add_noise, map(case, (0, 1, 250, 500, 750, 999)), atol=atol)
    if failed is not None:  # a CheckResult is falsy when it failed
        return failed
    if worst <= atol:
        return CheckResult(True, f"add_noise matches the formula at every t tried (max error {worst:.1e}).")
    a = alphas_cumprod[worst_t].double()
    hints = {
        "a * x0 + (1 - a) * noise (no square roots)": (a * x0.double() + (1 - a) * noise.double()),
        "the two scales swapped": ((1 - a).sqrt() * x0.double() + a.sqrt() * noise.double()),
    }
    hint = "x_t = sqrt(alpha_bar_t) * x0 + sqrt(1 - alpha_bar_t) * noise, with alpha_bar_t = alphas_cumprod[t]."
    for mistake, value in hints.items():
        if (got.double() - value).abs().max().item() < atol:
            hint = f"it looks like {mistake}. " + hint
    return CheckResult(False, f"off by up to {worst:.3g} at t={worst_t}. Hint: {hint}")


def check_ddim_step(my_step, alphas_cumprod: torch.Tensor, final_alpha_cumprod, *, atol: float = 1e-5) -> CheckResult:
    """Check ``my_step(eps, t, t_prev, x_t)`` (epsilon prediction, eta = 0) against ``ddim_step``."""
    g = torch.Generator().manual_seed(1)

    def case(t, t_prev):
        x, eps = torch.randn(1, 4, 8, 8, generator=g), torch.randn(1, 4, 8, 8, generator=g)
        expected = ddim_step(eps, t, t_prev, x, alphas_cumprod, final_alpha_cumprod=final_alpha_cumprod)
        return (t, t_prev), f"t={t} -> {t_prev}", (eps, t, t_prev, x), expected

    steps = ((981, 961), (501, 481), (101, 81), (21, 1), (1, -19))
    failed, worst, worst_t, _ = _worst_error("your step", my_step, (case(*s) for s in steps), atol=atol)
    if failed is not None:  # a CheckResult is falsy when it failed
        return failed
    if worst <= atol:
        return CheckResult(
            True,
            f"your DDIM step matches the reference at all 5 steps tried, the last one "
            f"included (max error {worst:.1e}).",
        )
    t, t_prev = worst_t
    hint = (
        "predict x0 = (x_t - sqrt(1 - a_t) * eps) / sqrt(a_t), then x_prev = sqrt(a_prev) * x0 + "
        "sqrt(1 - a_prev) * eps, with a = alphas_cumprod."
    )
    if t_prev < 0:
        hint = (
            "the last step goes to t_prev < 0: use final_alpha_cumprod there instead of "
            "alphas_cumprod[t_prev] (a negative index reads from the end of the tensor!). "
        ) + hint
    return CheckResult(False, f"off by up to {worst:.3g} at t={t} -> {t_prev}. Hint: {hint}")


def check_start_index(index_for, num_inference_steps: int = 50) -> CheckResult:
    """Check ``index_for(start_step)``: which entry of ``inversion.latents`` sampling from start_step needs.

    ``latents[0]`` is the clean latent and ``latents[k]`` the latent after k inversion steps.
    """
    n = num_inference_steps
    for s in (0, 1, 10, n // 2, n - 1):
        got, error = _call(index_for, s)
        if error:
            return CheckResult(False, f"for start_step={s}: {error}")
        right = n - s
        if got != right:
            off = "" if not isinstance(got, int) else f" (off by {got - right:+d})"
            return CheckResult(
                False,
                f"for start_step={s} you chose latents[{got}]{off}. Hint: sampling from "
                f"start_step s begins at timesteps[s], which the inversion reached after "
                f"{n} - s steps. The original lesson's loop is off by one here.",
            )
    return CheckResult(
        True, f"right for every start_step tried: latents[{n} - start_step], which is what Inversion.latents_at does."
    )


def check_psnr(my_psnr, *, atol: float = 1e-3) -> CheckResult:
    """Check ``my_psnr(a, b)`` (tensors in [0, 1]) against ``ddim_course.psnr``."""
    g = torch.Generator().manual_seed(2)
    a = torch.rand(3, 16, 16, generator=g)
    for scale in (0.01, 0.1, 0.3):
        b = (a + scale * torch.randn(3, 16, 16, generator=g)).clamp(0, 1)
        got, error = _call(my_psnr, a, b)
        if error:
            return CheckResult(False, error)
        expected = psnr(a, b)
        if not isinstance(got, (int, float)) and not (isinstance(got, torch.Tensor) and got.numel() == 1):
            return CheckResult(False, f"my_psnr returned {type(got).__name__}; return one number in dB")
        if abs(float(got) - expected) > atol:
            return CheckResult(
                False,
                f"for noise {scale}: you got {float(got):.3f} dB, expected {expected:.3f} dB. "
                "Hint: PSNR = 10 * log10(1 / mean((a - b)**2)) for images in [0, 1].",
            )
    return CheckResult(True, "your PSNR matches ddim_course.psnr.")
