"""The exercise checks: a right answer passes, and no wrong answer (NaN, inf, complex, hangs...) ever does."""

import time

import numpy as np
import pytest
import torch

from ddim_course import ddim_step, exercises, psnr
from ddim_course.exercises import (
    CheckResult,
    check_add_noise,
    check_blend_mask,
    check_ddim_step,
    check_edict_inverse_step,
    check_invert,
    check_psnr,
    check_start_index,
)
from ddim_course.pocket.model import make_scheduler

SCHED = make_scheduler()
A = SCHED.alphas_cumprod
FINAL = SCHED.final_alpha_cumprod
NAN, INF = float("nan"), float("inf")


def right_add_noise(x0, n, t):
    return A[t].sqrt() * x0 + (1 - A[t]).sqrt() * n


def right_step(eps, t, tp, x):
    return ddim_step(eps, t, tp, x, A, final_alpha_cumprod=FINAL)


def spoiled(right, spoil, when):
    """``right``, except that its answer goes through ``spoil`` for the calls where ``when(*args)``."""

    def fn(*args):
        out = right(*args)
        return spoil(out) if when(*args) else out

    return fn


def one_nan(out):
    out = out.clone()
    out.view(-1)[7] = NAN
    return out


# (what the answer becomes, words the failure message must contain)
WRONG = {
    "nan": (lambda out: torch.full_like(out, NAN), "NaN in 256 of 256 values"),
    "one nan": (one_nan, "NaN in 1 of 256 values"),
    "inf": (lambda out: out / 0, "inf in 256 of 256 values"),
    "-inf": (lambda out: torch.full_like(out, -INF), "inf in 256 of 256 values"),
    "complex": (lambda out: out.to(torch.complex64), "torch.complex64 tensor; return a real tensor"),
    "int": (lambda out: out.long(), "torch.int64 tensor; return floating point"),
    "bool": (lambda out: out > 0, "torch.bool tensor; return floating point"),
    "shape": (lambda out: out[0], "shape (4, 8, 8); return a torch tensor of shape (1, 4, 8, 8)"),
    "None": (lambda out: None, "returned None"),
    "list": (lambda out: out.tolist(), "returned a list; return a torch tensor"),
    "numpy": (lambda out: out.numpy().astype(np.int64), "returned a numpy array; return a torch tensor"),
    "half numpy": (lambda out: out.numpy().astype(np.float16), "returned a numpy array; that is half precision"),
}


# ------------------------------------------------------------------------------------------------
# what a learner sees
# ------------------------------------------------------------------------------------------------
def test_pass_and_fail_read_as_words_and_colour():
    ok, bad = CheckResult(True, "fine"), CheckResult(False, "x < 1 & y")
    assert ok and not bad
    assert repr(ok) == "PASS: fine" and repr(bad) == "FAIL: x < 1 & y"
    assert "<b" in ok._repr_html_() and "PASS" in ok._repr_html_() and "#1a7f37" in ok._repr_html_()
    assert "FAIL" in bad._repr_html_() and "#cf222e" in bad._repr_html_()
    assert "x &lt; 1 &amp; y" in bad._repr_html_()  # the message is escaped


def test_notebook_shows_html_and_the_repr_as_plain_text():
    formatter = pytest.importorskip("IPython.core.formatters")
    data, _ = formatter.DisplayFormatter().format(CheckResult(True, "fine"))
    assert set(data) == {"text/plain", "text/html"} and data["text/plain"] == "PASS: fine"


def test_pass_messages_are_the_same_on_every_machine():
    """Two right answers that round differently get the very same message: no measured error in it."""

    def add_noise_64(x0, n, t):
        a = A[t].double()
        return (a.sqrt() * x0.double() + (1 - a).sqrt() * n.double()).float()

    def add_noise_rounded(x0, n, t):
        return (right_add_noise(x0, n, t) * 3) / 3

    first, second = check_add_noise(add_noise_64, A), check_add_noise(add_noise_rounded, A)
    x = torch.randn(1, 4, 8, 8)
    assert not torch.equal(add_noise_64(x, x, 500), add_noise_rounded(x, x, 500))  # they do differ a little
    assert first and second and first.message == second.message
    assert repr(first) == "PASS: add_noise matches the formula at every t (1000 values of t, within 1e-05)."

    def step_32(eps, t, tp, x):
        a_t, a_p = A[t], (A[tp] if tp >= 0 else FINAL)
        return a_p.sqrt() * (x - (1 - a_t).sqrt() * eps) / a_t.sqrt() + (1 - a_p).sqrt() * eps

    steps = check_ddim_step(right_step, A, FINAL), check_ddim_step(step_32, A, FINAL)
    assert all(steps) and steps[0].message == steps[1].message and "within 1e-05" in steps[0].message

    psnrs = check_psnr(psnr), check_psnr(lambda a, b: 10 * torch.log10(1 / ((a - b) ** 2).mean()).item())
    assert all(psnrs) and psnrs[0].message == psnrs[1].message and "within 0.001 dB" in psnrs[0].message


# ------------------------------------------------------------------------------------------------
# check_add_noise and check_ddim_step: every kind of wrong answer fails and says where
# ------------------------------------------------------------------------------------------------
def test_check_add_noise_passes_right_and_explains_wrong():
    right = check_add_noise(right_add_noise, A)
    assert right and "matches" in repr(right) and repr(right).startswith("PASS")
    wrong = check_add_noise(lambda x0, n, t: A[t] * x0 + (1 - A[t]) * n, A)
    assert not wrong and "no square roots" in wrong.message and "off by up to" in wrong.message
    assert repr(wrong).startswith("FAIL")
    swapped = check_add_noise(lambda x0, n, t: (1 - A[t]).sqrt() * x0 + A[t].sqrt() * n, A)
    assert "swapped" in swapped.message
    crash = check_add_noise(lambda x0, n, t: 1 / 0 if t == 500 else right_add_noise(x0, n, t), A)
    assert not crash and "at t=500: your function raised ZeroDivisionError" in crash.message


@pytest.mark.parametrize("kind", WRONG)
@pytest.mark.parametrize("when, where", [("everywhere", "at t=0:"), ("at one t", "at t=500:")])
def test_check_add_noise_fails_every_wrong_kind_of_answer(kind, when, where):
    spoil, words = WRONG[kind]
    fn = spoiled(right_add_noise, spoil, lambda x0, n, t: when == "everywhere" or t == 500)
    result = check_add_noise(fn, A)
    assert not result and repr(result).startswith("FAIL: ")
    assert result.message.startswith(where) and words in result.message, result.message


def test_check_ddim_step_passes_right_and_explains_the_final_step():
    assert check_ddim_step(right_step, A, FINAL)

    def no_final(eps, t, tp, x):  # the classic bug: a negative index reads alphas_cumprod from the end
        a_t, a_p = A[t], A[tp]
        x0 = (x - (1 - a_t).sqrt() * eps) / a_t.sqrt()
        return a_p.sqrt() * x0 + (1 - a_p).sqrt() * eps

    result = check_ddim_step(no_final, A, FINAL)
    assert not result and "t_prev < 0" in result.message and "1 -> -19" in result.message


@pytest.mark.parametrize("kind", WRONG)
@pytest.mark.parametrize(
    "when, where", [("everywhere", "at t=981 -> 961:"), ("at one t", "at t=501 -> 481:"), ("last", "at t=1 -> -19:")]
)
def test_check_ddim_step_fails_every_wrong_kind_of_answer(kind, when, where):
    spoil, words = WRONG[kind]
    at = {"everywhere": lambda t, tp: True, "at one t": lambda t, tp: t == 501, "last": lambda t, tp: tp < 0}[when]
    result = check_ddim_step(spoiled(right_step, spoil, lambda eps, t, tp, x: at(t, tp)), A, FINAL)
    assert not result and repr(result).startswith("FAIL: ")
    assert result.message.startswith(where) and words in result.message, result.message


def test_an_answer_that_changes_its_inputs_in_place_fails_and_names_the_input():
    # the caller's own tensors would be spoiled: a right value returned does not make up for it
    def add_noise_then_scribble(x0, n, t):
        out = right_add_noise(x0, n, t)
        n.fill_(NAN)
        return out

    def add_noise_in_place(x0, n, t):
        a = A[t]
        return x0.mul_(a.sqrt()).add_((1 - a).sqrt() * n)

    for answer, name in ((add_noise_then_scribble, "noise"), (add_noise_in_place, "x0")):
        result = check_add_noise(answer, A)
        assert not result and f"changed its input {name} in place" in result.message, result.message
    result = check_psnr(lambda a, b: psnr(a, b) + 0 * a.zero_().sum().item())
    assert not result and "changed its input a in place" in result.message
    result = check_blend_mask(lambda m, th: exercises_blend(m.sub_(m.amin()), th))
    assert not result and "changed its input word_maps in place" in result.message

    def invert_reversing(x0, eps_model, timesteps):
        timesteps.reverse()
        return [x0] * 11

    result = check_invert(invert_reversing, A, FINAL)
    assert not result and "changed its input timesteps in place" in result.message
    assert check_add_noise(right_add_noise, A)  # and the right answer still passes after them


def exercises_blend(maps, threshold):
    from ddim_course.attention import blend_mask

    return blend_mask(maps, threshold)


# ------------------------------------------------------------------------------------------------
# a function that hangs, raises or interrupts
# ------------------------------------------------------------------------------------------------
def busy_for(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:  # an endless loop, as far as the check can tell (but it ends, for the suite)
        pass


@pytest.mark.parametrize(
    "check, where",
    [
        (lambda: check_add_noise(lambda x0, n, t: busy_for(5) if t == 500 else right_add_noise(x0, n, t), A), "t=500"),
        (lambda: check_ddim_step(lambda *args: time.sleep(60), A, FINAL), "t=981 -> 961"),
        (lambda: check_start_index(lambda s: time.sleep(60)), "start_step=0"),
        (lambda: check_psnr(lambda a, b: time.sleep(60)), "noise 0.01"),
    ],
)
def test_a_function_that_never_returns_fails_promptly(monkeypatch, check, where):
    monkeypatch.setattr(exercises, "TIME_LIMIT", 0.5)
    start = time.monotonic()
    result = check()
    assert time.monotonic() - start < 3
    assert not result and f"{where}: your function took over 0.5 s (an endless loop? or a slow" in result.message


def test_exceptions_are_reported_but_keyboard_interrupt_goes_through():
    def interrupted(*args):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        check_psnr(interrupted)
    result = check_ddim_step(lambda *args: [][0], A, FINAL)
    assert not result and "at t=981 -> 961: your function raised IndexError" in result.message
    result = check_psnr(lambda a, b: exit())  # sys.exit in an answer is a wrong answer, not the end of the check
    assert not result and "your function raised SystemExit" in result.message


def test_a_runaway_answer_is_stopped_after_its_time_runs_out(monkeypatch):
    monkeypatch.setattr(exercises, "TIME_LIMIT", 0.5)
    state = {"running": False}

    def spin(a, b):
        state["running"] = True
        while True:
            pass

    assert not check_psnr(spin)
    time.sleep(0.5)
    state["running"] = False
    time.sleep(0.5)
    assert not state["running"]  # nothing set it again: the loop was stopped, not left to spin (and slow all else)
    t0 = time.monotonic()
    x = 0
    for i in range(200_000):
        x += i
    assert time.monotonic() - t0 < 2


@pytest.mark.parametrize(
    "answer, words",
    [
        (lambda a, b: torch.tensor(30.0, device="meta"), "a meta tensor"),
        (lambda a, b: torch.tensor([[30.0]]).to_sparse(), "a sparse_coo tensor"),
        (lambda a, b: 10**400, "return a finite number"),
        (lambda a, b: 10**5000, "return a finite number"),
        (lambda a, b: np.complex128(1j), "not a complex one"),
    ],
)
def test_odd_return_values_fail_with_a_message(answer, words):
    result = check_psnr(answer)
    assert not result and words in result.message
    assert check_psnr(lambda a, b: np.longdouble(psnr(a, b)))  # a numpy float of any width is a number


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: check_ddim_step(right_step, A, FINAL, atol=float("inf")), r"atol must be a number in \(0, 1\]"),
        (lambda: check_psnr(psnr, atol=float("nan")), r"atol must be a number in \(0, 1\]"),
        (lambda: check_psnr(psnr, atol=-1), r"atol must be a number in \(0, 1\]"),
        (lambda: check_add_noise(lambda x, n, t: x * 0, A, atol=1e300), r"atol must be a number in \(0, 1\]"),
        (lambda: check_psnr(psnr, atol=10**400), r"atol must be a number in \(0, 1\]"),
        (lambda: check_add_noise(right_add_noise, torch.full((1000,), float("nan"))), "finite values in"),
        (lambda: check_add_noise(right_add_noise, A[:10]), "must hold 1000 values"),
        (lambda: check_add_noise(lambda x, n, t: x, torch.ones(1000)), "must fall from near 1"),
        (lambda: check_add_noise(right_add_noise, A.flip(0)), "must fall from near 1"),
        (lambda: check_ddim_step(right_step, SCHED.betas, FINAL), "not its betas or alphas"),
        (lambda: check_add_noise(right_add_noise, A.numpy().astype(object)), "a numpy array of object"),
        (lambda: check_ddim_step(right_step, A, float("nan")), r"final_alpha_cumprod must be a number in \(0, 1\]"),
        (lambda: check_start_index(lambda s: 50 - s, 0), r"num_inference_steps must be a whole number in \[1, 1000\]"),
        (lambda: check_start_index(lambda s: 50 - s, "50"), "num_inference_steps must be a whole number"),
    ],
)
def test_a_check_refuses_settings_that_would_pass_anything(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_check_start_index_works_for_short_runs_and_numpy_schedules():
    assert check_start_index(lambda s: 2 - s, 2)
    assert check_add_noise(right_add_noise, A.numpy())


# ------------------------------------------------------------------------------------------------
# check_start_index: graded by the latent chosen
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("index_for", [lambda s: 50 - s, lambda s: -(s + 1), lambda s: np.int64(50 - s)])
def test_check_start_index_passes_every_way_of_naming_the_right_latent(index_for):
    result = check_start_index(index_for)
    assert result and repr(result).startswith("PASS: right for every start_step tried")


@pytest.mark.parametrize(
    "index_for, words",
    [
        (lambda s: 49 - s, "for start_step=0 you chose latents[49] (off by -1)"),
        (lambda s: -(s + 2), "for start_step=0 you chose latents[-2], i.e. latents[49] (off by -1)"),
        (lambda s: 50.0 - s, "for start_step=0: return a whole number (an int), got float 50.0"),
        (lambda s: True, "return a whole number (an int), got bool True"),
        (lambda s: None, "return a whole number (an int), got None"),
        (lambda s: 51 - s, "latents[51], but latents has 51 entries (0 to 50)"),
        (lambda s: -52, "latents[-52], but latents has 51 entries"),
        (lambda s: 1 // (s - 1), "for start_step=1: your function raised ZeroDivisionError"),
    ],
)
def test_check_start_index_fails_wrong_answers(index_for, words):
    result = check_start_index(index_for)
    assert not result and repr(result).startswith("FAIL: ") and words in result.message, result.message


def test_check_start_index_off_by_one_hint():
    off = check_start_index(lambda s: 50 - s - 1)
    assert not off and "off by -1" in off.message and "off by one" in off.message


# ------------------------------------------------------------------------------------------------
# check_psnr: one finite real number
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "my_psnr",
    [
        psnr,
        lambda a, b: torch.tensor(psnr(a, b)),
        lambda a, b: torch.tensor([psnr(a, b)]),
        lambda a, b: np.float64(psnr(a, b)),
        lambda a, b: 10 * torch.log10(1 / ((a - b) ** 2).mean()),
    ],
)
def test_check_psnr_passes_one_right_number_in_any_form(my_psnr):
    result = check_psnr(my_psnr)
    assert result and repr(result).startswith("PASS: your PSNR matches ddim_course.psnr")


@pytest.mark.parametrize(
    "my_psnr, words",
    [
        (lambda a, b: NAN, "for noise 0.01: your psnr returned nan; return a finite number"),
        (lambda a, b: NAN if psnr(a, b) < 20 else psnr(a, b), "for noise 0.3: your psnr returned nan"),
        (lambda a, b: INF, "for noise 0.01: your psnr returned inf; return a finite number"),
        (lambda a, b: torch.tensor(-INF), "returned -inf; return a finite number"),
        (lambda a, b: complex(psnr(a, b)), "returned complex"),
        (lambda a, b: torch.tensor(psnr(a, b), dtype=torch.complex64), "return a real number"),
        (lambda a, b: None, "for noise 0.01: your psnr returned None (a missing `return`?); return one number"),
        (lambda a, b: torch.full((3,), psnr(a, b)), "returned a tensor of shape (3,); return one number"),
        (lambda a, b: True, "returned bool True; return one number"),
        (lambda a, b: torch.tensor(True), "returned a torch.bool tensor; return floating point"),
        (lambda a, b: [psnr(a, b)], "returned a list; return one number"),
        (lambda a, b: float(((a - b) ** 2).mean()), "Hint: PSNR = 10 * log10"),
    ],
)
def test_check_psnr_fails_wrong_answers(my_psnr, words):
    result = check_psnr(my_psnr)
    assert not result and repr(result).startswith("FAIL: ") and words in result.message, result.message


# ------------------------------------------------------------------------------------------------
# check_invert: the whole inversion loop (notebook 03)
# ------------------------------------------------------------------------------------------------
def right_invert(x0, eps_model, timesteps):
    latents, alpha_from = [x0], float(FINAL)
    for t in reversed(timesteps):
        eps = eps_model(latents[-1], t)
        latents.append(exercises.ddim_update(eps, latents[-1], alpha_from, float(A[t])))
        alpha_from = float(A[t])
    return latents


def lesson_invert(x0, eps_model, timesteps):  # skips the first and the last step
    ts, latents = list(reversed(timesteps)), [x0]
    for i in range(1, len(ts) - 1):
        eps = eps_model(latents[-1], ts[i])
        latents.append(exercises.ddim_update(eps, latents[-1], float(A[ts[i - 1]]), float(A[ts[i]])))
    return latents


def asked_at_the_wrong_timestep(x0, eps_model, timesteps):
    latents, alpha_from, t_from = [x0], float(FINAL), 0
    for t in reversed(timesteps):
        eps = eps_model(latents[-1], t_from)  # the timestep it comes from, not the one it goes to
        latents.append(exercises.ddim_update(eps, latents[-1], alpha_from, float(A[t])))
        alpha_from, t_from = float(A[t]), t
    return latents


def negative_index_first_step(x0, eps_model, timesteps):
    ts, latents = list(reversed(timesteps)), [x0]
    step = ts[1] - ts[0]
    for t in ts:
        eps = eps_model(latents[-1], t)
        latents.append(exercises.ddim_update(eps, latents[-1], float(A[t - step]), float(A[t])))  # A[-99] at first
    return latents


def test_check_invert_passes_the_loop_and_explains_mistakes():
    assert check_invert(right_invert, A, FINAL)
    lesson = check_invert(lesson_invert, A, FINAL)
    assert not lesson and "9 latents, expected 11" in lesson.message and "original lesson" in lesson.message
    wrong_t = check_invert(asked_at_the_wrong_timestep, A, FINAL)
    assert not wrong_t and "at latents[1]" in wrong_t.message, wrong_t.message
    # off by 1.2e-05 only at latents[1]: the hint names the mistake, not final_alpha_cumprod's first step
    assert "asks eps_model at the timestep it comes from" in wrong_t.message, wrong_t.message
    first = check_invert(negative_index_first_step, A, FINAL)
    assert not first and "at latents[1]" in first.message and "final_alpha_cumprod" in first.message
    final_only = check_invert(lambda x0, m, ts: right_invert(x0, m, ts)[-1], A, FINAL)
    assert not final_only and "returned one latent; return the whole trajectory" in final_only.message
    assert not check_invert(lambda x0, m, ts: [x0.numpy().astype(int), *right_invert(x0, m, ts)[1:]], A, FINAL)
    # numpy arrays of the right values fail: the notebook's next cell runs the loop on the real model, with tensors
    as_numpy = check_invert(lambda x0, m, ts: [x0.numpy(), *right_invert(x0, m, ts)[1:]], A, FINAL)
    assert not as_numpy and "latents[0] returned a numpy array; return a torch tensor" in as_numpy.message

    def numpy_inside(x0, eps_model, timesteps):  # torch's error came from the check's stand-in model
        return right_invert(x0, lambda x, t: eps_model(x, t), timesteps)[:2] + [eps_model(x0.numpy(), 1)]

    inside = check_invert(numpy_inside, A, FINAL)
    assert not inside and "eps_model takes the latent as a torch tensor, got a numpy array" in inside.message

    def alphas_swapped(x0, eps_model, timesteps):  # starts from final_alpha_cumprod, as it should
        latents, alpha_from = [x0], float(FINAL)
        for t in reversed(timesteps):
            latents.append(exercises.ddim_update(eps_model(latents[-1], t), latents[-1], float(A[t]), alpha_from))
            alpha_from = float(A[t])
        return latents

    swapped = check_invert(alphas_swapped, A, FINAL)  # off at latents[1], but not for the first step's noise level
    assert not swapped and "at latents[1]" in swapped.message and "final_alpha_cumprod" not in swapped.message
    assert "with the DDIM update" in swapped.message, swapped.message


@pytest.mark.parametrize("kind", list(WRONG))
def test_check_invert_fails_every_wrong_kind_of_latent(kind):
    spoil, _ = WRONG[kind]

    def fn(x0, m, ts):
        latents = right_invert(x0, m, ts)
        return [*latents[:-1], spoil(latents[-1])]

    result = check_invert(fn, A, FINAL)
    assert not result and "latents[" in result.message, result.message


def test_check_invert_gives_up_on_a_loop_that_never_ends(monkeypatch):
    monkeypatch.setattr(exercises, "TIME_LIMIT", 0.5)
    result = check_invert(lambda *args: time.sleep(60), A, FINAL)
    assert not result and "took over 0.5 s" in result.message


def test_check_invert_reference_is_the_package_invert(pipe):
    """The check's reference loop, run on a real UNet, gives invert's trajectory exactly."""
    from ddim_course import invert
    from ddim_course.ddim import encode_text

    latents = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    inv = invert(pipe, latents, "a cat", num_inference_steps=5, progress=False)
    cond, _ = encode_text(pipe, "a cat", guidance=False)
    sch = pipe.scheduler

    def unet(x, t):
        with torch.no_grad():
            return pipe.unet(x, t, encoder_hidden_states=cond).sample

    mine = exercises._inversion_trajectory(inv.clean_latent, unet, inv.timesteps, sch.alphas_cumprod.double(), FINAL)
    assert len(mine) == len(inv.latents) == 6
    assert max((a - b).abs().max().item() for a, b in zip(mine, inv.latents)) < 1e-6


def test_an_answer_that_changes_the_learners_schedule_in_place_fails_and_the_schedule_is_put_back():
    mine = SCHED.alphas_cumprod.clone()
    before = mine.clone()

    def sneaky_add_noise(x0, n, t):  # right the first time at each t, but it square-roots the learner's schedule
        a = mine[t]
        a.sqrt_()
        return a * x0 + (1 - a**2).sqrt() * n

    result = check_add_noise(sneaky_add_noise, mine)
    assert not result and "changed alphas_cumprod in place" in result.message
    assert torch.equal(mine, before)

    def sneaky_step(eps, t, tp, x):
        mine[t] **= 0.5
        return right_step(eps, t, tp, x)

    assert not check_ddim_step(sneaky_step, mine, FINAL) and torch.equal(mine, before)
    as_numpy = before.numpy().copy()

    def numpy_sneak(x0, n, t):
        as_numpy[t] = 1.0
        return right_add_noise(x0, n, t)

    assert not check_add_noise(numpy_sneak, as_numpy) and np.array_equal(as_numpy, before.numpy())
    assert check_add_noise(right_add_noise, A)  # a right answer that changes nothing still passes


def test_a_tensor_subclass_cannot_grade_itself():
    class Sneaky(torch.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            if func.__name__ in ("max", "amax"):
                return torch.tensor(0.0)
            return super().__torch_function__(func, types, args, kwargs or {})

    assert not check_add_noise(lambda x, n, t: torch.zeros(1, 4, 8, 8).as_subclass(Sneaky), A)
    assert not check_psnr(lambda a, b: torch.tensor(0.0).as_subclass(Sneaky))
    assert check_add_noise(lambda x, n, t: right_add_noise(x, n, t).as_subclass(Sneaky), A)


def test_a_runaway_answer_that_catches_exception_is_still_stopped(monkeypatch):
    monkeypatch.setattr(exercises, "TIME_LIMIT", 0.5)
    state = {"spins": 0}

    def stubborn(a, b):
        while True:
            try:
                while True:
                    state["spins"] += 1
            except Exception:  # noqa: BLE001 - what a learner might write
                pass

    assert not check_psnr(stubborn)
    time.sleep(0.3)
    spins = state["spins"]
    time.sleep(0.3)
    assert state["spins"] == spins  # stopped: its except clause did not swallow the stop


def test_check_start_index_takes_a_0_d_integer_tensor_and_names_a_huge_answer():
    assert check_start_index(lambda s: torch.tensor(50 - s))
    assert check_start_index(lambda s: np.array(50 - s))  # a 0-d integer array too
    assert not check_start_index(lambda s: np.array([50 - s]))  # not a list of one
    result = check_start_index(lambda s: 10**5000)
    assert not result and "digits" in result.message


def test_answers_right_only_on_easy_inputs_fail():
    # a PSNR peaked at the image's own maximum: right only when the images reach 1
    result = check_psnr(lambda a, b: 10 * torch.log10(b.max() ** 2 / ((a - b) ** 2).mean()))
    assert not result and "for noise 0.05" in result.message
    # a mask stretched over the whole batch, not each map: right only when the maps share a range
    result = check_blend_mask(lambda m, t: (((m - m.min()) / (m.max() - m.min())) > t).float()[:, None])
    assert not result and "mask values differ" in result.message

    def step_of_20(eps, t, t_prev, x):  # ignores t_prev: right only for 50-step runs
        a_t = A[t].double()
        a_prev = A[t - 20].double() if t >= 20 else torch.as_tensor(FINAL).double()
        x0 = (x - (1 - a_t).sqrt() * eps) / a_t.sqrt()
        return (a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps).float()

    result = check_ddim_step(step_of_20, A, FINAL)
    assert not result and "off by up to" in result.message


def test_a_psnr_returned_as_a_0_d_numpy_array_passes():
    assert check_psnr(lambda a, b: (10 * torch.log10(1 / ((a - b) ** 2).mean())).numpy())
    assert check_psnr(lambda a, b: np.asarray([psnr(a, b)]))


# ------------------------------------------------------------------------------------------------
# the answer's own code runs only in its thread, within the time limit and the guard
# ------------------------------------------------------------------------------------------------
def test_a_returned_number_whose_float_patches_torch_fails_and_torch_is_put_back():
    own_max = torch.Tensor.max

    class Patching(float):
        def __float__(self):
            torch.Tensor.max = lambda *args, **kwargs: torch.tensor(0.0)  # every error would read 0
            return 3.0

    result = check_psnr(lambda a, b: Patching(3.0))
    assert not result and "changed torch itself (Tensor.max)" in result.message, result.message
    assert torch.Tensor.max is own_max and "max" not in vars(torch.Tensor)


def test_a_tensor_subclass_s_own_code_never_runs_while_grading():
    calls = []

    class Patching(torch.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            calls.append(func)
            torch.isfinite = lambda x: torch.ones((), dtype=torch.bool)
            return super().__torch_function__(func, types, args, kwargs or {})

    own = torch.isfinite
    wrong = torch.tensor(float("nan"))
    result = check_psnr(lambda a, b: torch.Tensor._make_subclass(Patching, wrong))
    assert not result and "returned nan" in result.message, result.message
    assert torch.isfinite is own and not calls  # read as a plain tensor: its __torch_function__ never ran
    assert check_add_noise(lambda x, n, t: torch.Tensor._make_subclass(Patching, right_add_noise(x, n, t)), A)


def test_objects_that_lie_about_their_class_or_contents_fail():
    class PosingAsTensor:
        __class__ = property(lambda self: torch.Tensor)  # isinstance(x, torch.Tensor) would say True

    result = check_psnr(lambda a, b: PosingAsTensor())
    assert not result and "returned a PosingAsTensor; return one number" in result.message, result.message

    class IteratesOther(list):  # holds wrong latents, but iterating it gives the right ones
        def __iter__(self):
            return iter(self.right)

    def invert_lying(x0, m, ts):
        out = IteratesOther([x0 * 0] * (len(ts) + 1))
        out.right = right_invert(x0, m, ts)
        return out

    result = check_invert(invert_lying, A, FINAL)
    assert not result and "at latents[0]" in result.message, result.message

    from ddim_course.exact import edict_inverse_step

    class IndexesOther(tuple):  # holds (y, x), but indexing it gives x, y
        def __getitem__(self, i):
            return self.right[i]

    def inverse_lying(*args):
        right = edict_inverse_step(*args)
        out = IndexesOther(right[::-1])
        out.right = right
        return out

    result = check_edict_inverse_step(inverse_lying)
    assert not result and "return x first, then y" in result.message, result.message
    assert check_edict_inverse_step(lambda *args: list(edict_inverse_step(*args)))  # a list is a pair too


def test_a_returned_value_or_error_message_that_hangs_is_stopped_by_the_time_limit(monkeypatch):
    monkeypatch.setattr(exercises, "TIME_LIMIT", 0.5)

    class SlowFloat(float):
        def __float__(self):
            busy_for(5)
            return 30.0

    class SlowMessageError(Exception):
        def __str__(self):
            busy_for(5)
            return "never"

    def raise_slow(a, b):
        raise SlowMessageError

    for answer in (lambda a, b: SlowFloat(30.0), raise_slow):
        start = time.monotonic()
        result = check_psnr(answer)
        assert time.monotonic() - start < 3  # once, not per case: 125 s before
        assert not result and "took over 0.5 s" in result.message, result.message


def test_an_error_message_is_cut_short_and_one_that_fails_is_named():
    class FloodError(Exception):
        def __str__(self):
            return "x" * 50_000_000

    class BrokenError(Exception):
        def __str__(self):
            raise RuntimeError("no message")

    def raise_flood(a, b):
        raise FloodError

    def raise_broken(a, b):
        raise BrokenError

    flood = check_psnr(raise_flood)
    assert not flood and "your function raised FloodError: xxx" in flood.message and len(flood.message) < 500
    broken = check_psnr(raise_broken)
    assert not broken and "raised BrokenError: (its message could not be read)" in broken.message, broken.message


def test_a_number_of_another_class_is_graded_by_the_value_read_in_its_thread():
    from fractions import Fraction

    assert check_psnr(lambda a, b: Fraction(psnr(a, b)).limit_denominator(10**12))
    assert check_psnr(lambda a, b: np.float32(psnr(a, b)))
    result = check_psnr(lambda a, b: Fraction(10**400))
    assert not result and "return a finite number" in result.message


# ------------------------------------------------------------------------------------------------
# an answer can't change Python, the package or the checks for later grading
# ------------------------------------------------------------------------------------------------
def test_an_answer_that_replaces_the_grading_fails_and_the_package_is_put_back():
    import builtins

    import ddim_course.ddim

    grade, update, own_any, own_bool = (
        exercises._grade,
        ddim_course.ddim.ddim_update,
        builtins.any,
        CheckResult.__bool__,
    )

    def replaces_grade(a, b):
        exercises._grade = lambda *args: (0.0, None)  # every answer would pass
        return 0.0

    def replaces_update(eps, t, tp, x):  # the reference step is made with ddim_update
        ddim_course.ddim.ddim_update = lambda *args, **kwargs: x * 0
        return x * 0

    def replaces_any(x0, n, t):  # _grade counts NaN with any()
        builtins.any = lambda values: False
        return torch.full_like(x0, NAN)

    def replaces_bool(a, b):
        CheckResult.__bool__ = lambda self: True
        return 0.0

    def shadows_a_builtin(a, b):
        exercises.isinstance = lambda *args: True  # a module name hides the builtin of that name
        return psnr(a, b)

    for check, name in (
        (lambda: check_psnr(replaces_grade), "ddim_course.exercises._grade"),
        (lambda: check_ddim_step(replaces_update, A, FINAL), "ddim_course.ddim.ddim_update"),
        (lambda: check_add_noise(replaces_any, A), "builtins.any"),
        (lambda: check_psnr(replaces_bool), "CheckResult.__bool__"),
        (lambda: check_psnr(shadows_a_builtin), "ddim_course.exercises.isinstance"),
    ):
        result = check()
        assert not bool(result) and f"your function changed {name}" in result.message, result.message
    assert exercises._grade is grade and ddim_course.ddim.ddim_update is update and builtins.any is own_any
    assert CheckResult.__bool__ is own_bool and "isinstance" not in vars(exercises)
    assert check_ddim_step(right_step, A, FINAL) and not check_psnr(lambda a, b: 0.0)


def test_an_answer_that_imports_a_module_of_the_package_still_passes():
    def importing(a, b):
        from ddim_course import metrics  # already loaded, or loaded now: the import system's doing, not a change

        return metrics.psnr(a, b)

    assert check_psnr(importing)


def test_a_change_made_after_the_answer_returned_fails_the_check_and_is_put_back():
    own = torch.isfinite

    @exercises._kept_intact
    def check_with_late_change():  # as a thread the answer started would, once its last call returned
        torch.isfinite = lambda x: torch.ones((), dtype=torch.bool)
        return CheckResult(True, "looked right")

    result = check_with_late_change()
    assert not result and "torch.isfinite was changed while the check ran" in result.message
    assert torch.isfinite is own
    checks = (check_add_noise, check_ddim_step, check_start_index, check_invert, check_psnr, check_blend_mask)
    for check in (*checks, check_edict_inverse_step):  # every check is so wrapped
        assert check.__code__.co_qualname == "_kept_intact.<locals>.checked", check.__name__


def test_an_answer_that_reseeds_python_and_numpy_leaves_their_streams_as_they_were():
    import random

    random.seed(1)
    np.random.seed(1)
    expected = random.random(), np.random.rand()
    random.seed(1)
    np.random.seed(1)

    def reseeding(a, b):
        random.seed(9)
        np.random.seed(9)
        random.random(), np.random.rand()
        return psnr(a, b)

    assert check_psnr(reseeding)
    assert (random.random(), np.random.rand()) == expected


def test_a_final_alpha_changed_in_place_fails_and_is_put_back():
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler(set_alpha_to_one=True)  # its final_alpha_cumprod is a tensor of its own
    a, final = scheduler.alphas_cumprod, scheduler.final_alpha_cumprod

    def step_after_changing_final(eps, t, tp, x):
        if tp < 0:
            final.copy_(torch.tensor(0.5))  # the reference would read the changed value too
        a_t, a_prev = a[t], (a[tp] if tp >= 0 else final)
        x0 = (x - (1 - a_t).sqrt() * eps) / a_t.sqrt()
        return a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps

    def invert_after_changing_final(x0, eps_model, timesteps):
        final.fill_(0.5)
        latents, alpha_from = [x0], float(final)
        for t in reversed(timesteps):
            latents.append(exercises.ddim_update(eps_model(latents[-1], t), latents[-1], alpha_from, float(a[t])))
            alpha_from = float(a[t])
        return latents

    for result in (
        check_ddim_step(step_after_changing_final, a, final),
        check_invert(invert_after_changing_final, a, final),
    ):
        assert not result and "changed final_alpha_cumprod in place" in result.message, result.message
        assert final.item() == 1.0
    assert check_ddim_step(lambda eps, t, tp, x: ddim_step(eps, t, tp, x, a, final_alpha_cumprod=final), a, final)


# ------------------------------------------------------------------------------------------------
# answers written for the cases' shapes fail; numpy answers pass
# ------------------------------------------------------------------------------------------------
def test_answers_hard_coded_to_the_cases_shapes_or_steps_fail():
    from ddim_course.attention import blend_mask

    result = check_psnr(lambda a, b: 10 * np.log10(768 / ((a - b) ** 2).sum().item()))  # 768 = 3 * 16 * 16
    assert not result and "for noise 0.1" in result.message, result.message
    table = {s: 50 - s for s in (0, 1, 10, 25, 49)}
    result = check_start_index(lambda s: table.get(s, 0))
    assert not result and "for start_step=2" in result.message, result.message
    result = check_add_noise(lambda x0, n, t: right_add_noise(x0, n, t).reshape(1, 4, 8, 8), A)
    assert not result and "shape '[1, 4, 8, 8]' is invalid" in result.message, result.message
    result = check_blend_mask(lambda m, t: blend_mask(m, t).reshape(2, 1, 8, 8))
    assert not result and "shape '[2, 1, 8, 8]' is invalid" in result.message, result.message
    result = check_ddim_step(lambda *args: right_step(*args).reshape(1, 4, 8, 8), A, FINAL)
    assert not result and "at t=501 -> 481" in result.message, result.message
    result = check_invert(lambda x0, m, ts: [v.reshape(1, 4, 8, 8) for v in right_invert(x0, m, ts)], A, FINAL)
    assert not result and "for 4 steps" in result.message, result.message


def test_check_start_index_tries_every_start_step_fast_and_grades_in_order():
    start = time.perf_counter()
    assert check_start_index(lambda s: 50 - s)
    assert check_start_index(lambda s: 1000 - s, 1000)
    assert time.perf_counter() - start < 1  # one guarded call for all of them
    wrong_then_raises = check_start_index(lambda s: 50 - s if s < 3 else (49 - s if s == 3 else 1 // 0))
    assert "for start_step=3 you chose latents[46]" in wrong_then_raises.message  # before the error at 4
    raises = check_start_index(lambda s: 50 - s if s < 7 else 1 // 0)
    assert "for start_step=7: your function raised ZeroDivisionError" in raises.message


def test_float_numpy_arrays_pass_as_tensors_and_half_precision_does_not():
    from ddim_course.attention import blend_mask

    assert check_add_noise(lambda x0, n, t: right_add_noise(x0, n, t).numpy(), A)
    assert check_add_noise(lambda x0, n, t: right_add_noise(x0, n, t).double().numpy().astype(">f8"), A)
    assert check_blend_mask(lambda m, t: blend_mask(m, t).numpy())
    assert check_ddim_step(lambda *args: right_step(*args).numpy(), A, FINAL)
    half = check_add_noise(lambda x0, n, t: right_add_noise(x0, n, t).numpy().astype(np.float16), A)
    assert not half and "returned a numpy array; that is half precision" in half.message
    inverted = check_blend_mask(lambda m, t: 1 - blend_mask(m, t).numpy())
    assert not inverted and "your mask is inverted" in inverted.message  # the hints read numpy answers too
    no_sqrt = check_add_noise(lambda x0, n, t: (A[t] * x0 + (1 - A[t]) * n).numpy(), A)
    assert not no_sqrt and "no square roots" in no_sqrt.message


def test_an_answer_computed_in_half_precision_and_cast_back_is_told_so_not_sent_to_its_formula():
    def add_noise_in_half(x0, n, t):
        a = A[t].half()
        return (a.sqrt() * x0.half() + (1 - a).sqrt() * n.half()).float()  # the right formula, in float16

    def step_in_half(*args):
        return right_step(*args).half().float()

    for result in (check_add_noise(add_noise_in_half, A), check_ddim_step(step_in_half, A, FINAL)):
        assert not result and "every value of your answer is a float16 number" in result.message, result.message
    off = check_ddim_step(lambda *args: right_step(*args) * 1.01, A, FINAL)  # a float32 answer that is off
    assert not off and "float16" not in off.message and "predict x0" in off.message
    # whole numbers are float16 numbers too, and far off: the formula's hint, not precision's
    for result in (
        check_add_noise(lambda x0, n, t: torch.zeros_like(x0), A),
        check_add_noise(lambda x0, n, t: x0.round(), A),
        check_ddim_step(lambda eps, t, t_prev, x: x.sign(), A, FINAL),
    ):
        assert not result and "float16" not in result.message, result.message


def test_check_add_noise_tries_every_t_so_an_answer_right_at_a_few_fails():
    tried = (0, 1, 250, 500, 750, 999)  # the t of its fixed cases
    result = check_add_noise(lambda x0, n, t: right_add_noise(x0, n, t) if t in tried else x0, A)
    assert not result and "at t=2" in result.message, result.message
    result = check_add_noise(lambda x0, n, t: right_add_noise(x0, n, t) if t != 617 else None, A)
    assert not result and "at t=617" in result.message, result.message
    result = check_add_noise(lambda x0, n, t: right_add_noise(x0, n, t) if t != 617 else 1 / 0, A)
    assert not result and "at t=617" in result.message and "ZeroDivisionError" in result.message


def test_a_check_s_calls_together_have_a_time_limit(monkeypatch):
    monkeypatch.setattr(exercises, "TOTAL_TIME_LIMIT", 1.0)

    def slow(x0, n, t):  # each call well within TIME_LIMIT; nine of them are not
        time.sleep(0.3)
        return right_add_noise(x0, n, t)

    t0 = time.monotonic()
    result = check_add_noise(slow, A)
    assert not result and "took over 1 s together" in result.message, result.message
    assert time.monotonic() - t0 < 3
    assert check_add_noise(right_add_noise, A)  # the next check has a limit of its own


def test_what_an_answer_prints_is_shown_up_to_a_limit(capsys):
    def loud(x0, n, t):
        print("y" * 1_000_000)
        return right_add_noise(x0, n, t)

    assert check_add_noise(loud, A)  # right: printing does not fail it
    out = capsys.readouterr().out
    assert len(out) < exercises.OUTPUT_LIMIT + 200 and out.startswith("yyy")
    assert "more characters printed by your function are not shown: only the first 10,000" in out

    def chatty(x0, n, t):
        print("t =", t)
        return right_add_noise(x0, n, t)

    assert check_add_noise(chatty, A)
    out = capsys.readouterr().out
    assert out.splitlines() == [f"t = {t}" for t in (0, 1, 250, 500, 750, 999, 1, 500, 999)]  # not the sweep's 1000


def test_a_check_inside_an_answer_grades_nothing_and_starts_no_threads(monkeypatch, capsys):
    """check_psnr(my_psnr) pasted inside my_psnr: each call started another check, in another thread, and went on
    after the outer check had ended (1,100-1,700 threads alive a minute later, prints lost or doubled)."""
    import sys
    import threading

    streams, threads = (sys.stdout, sys.stderr), threading.active_count()
    inner_results = []

    def pasted(a, b):
        print("before")
        inner_results.append(check_psnr(pasted))
        print("after")
        return psnr(a, b)

    capsys.readouterr()
    assert check_psnr(pasted)  # the answer itself is right
    out = capsys.readouterr().out.split()
    assert out.count("before") == out.count("after") == 4  # once per case: no call of it is lost or doubled
    assert len(inner_results) == 4 and not any(inner_results)
    assert "check_psnr was called inside a function that a check is grading" in inner_results[0].message
    time.sleep(0.2)
    assert threading.active_count() <= threads and (sys.stdout, sys.stderr) == streams

    monkeypatch.setattr(exercises, "TIME_LIMIT", 0.5)

    def hangs(a, b):
        while True:
            pass

    def checks_a_hang(a, b):
        inner_results.append(check_psnr(hangs))  # refused at once: the hang never runs
        return psnr(a, b)

    assert check_psnr(checks_a_hang) and not inner_results[-1]
    assert (sys.stdout, sys.stderr) == streams


def test_one_check_runs_at_a_time_and_a_thread_an_answer_left_starts_none():
    """Two checks at once shared one deadline, one capture and one snapshot of torch's settings: a right answer
    failed for the other's change (and float64 stayed the default); a check from a thread the answer started kept
    starting checks, and threads, after the outer check had ended."""
    import threading

    results, started = {}, threading.Event()

    def changes_dtype(a, b):
        torch.set_default_dtype(torch.float64)
        started.set()
        time.sleep(0.3)
        return psnr(a, b)

    first = threading.Thread(target=lambda: results.setdefault("first", check_psnr(changes_dtype)))
    first.start()
    started.wait(10)
    results["second"] = check_psnr(lambda a, b: psnr(a, b))  # while the first one runs
    first.join(30)
    assert not results["first"] and "torch.set_default_dtype" in results["first"].message
    assert not results["second"] and "another check is running" in results["second"].message
    assert torch.get_default_dtype() == torch.float32
    assert check_psnr(lambda a, b: psnr(a, b))  # afterwards, alone: as ever

    later = []

    def leaves_a_thread(a, b):
        def check_later():
            time.sleep(0.5)  # after the outer check has ended
            later.append(check_psnr(leaves_a_thread))

        threading.Thread(target=check_later, daemon=True).start()
        return psnr(a, b)

    threads = threading.active_count()
    assert check_psnr(leaves_a_thread)
    time.sleep(1.5)
    assert later and not any(later) and "inside a function that a check is grading" in later[0].message
    assert threading.active_count() <= threads


def test_an_answer_that_catches_every_stop_is_said_to_be_still_running(monkeypatch):
    import threading

    monkeypatch.setattr(exercises, "TIME_LIMIT", 0.3)
    monkeypatch.setattr(exercises, "STOP_TRIES", 5)
    done = threading.Event()

    def stubborn(a, b):
        while not done.is_set():
            try:
                while not done.is_set():
                    pass
            except BaseException:  # noqa: BLE001, S110 - what the learner wrote: a bare except
                pass

    result = check_psnr(stubborn)
    done.set()  # the test ends it itself
    assert not result and "took over 0.3 s" in result.message and "it is still running" in result.message

    def catches_once(a, b):
        try:
            while True:
                pass
        except BaseException:  # noqa: BLE001 - one request caught, the next one ends it
            while True:
                pass

    result = check_psnr(catches_once)
    assert not result and "took over 0.3 s" in result.message and "still running" not in result.message


def test_answers_that_tell_no_lie_of_their_own_are_not_accused():
    """A warning that points at the grader's line (stacklevel=2) added exercises.__warningregistry__, and the answer
    was failed for changing the course; an async function printed 'coroutine ... was never awaited'."""
    import warnings

    def warns(a, b):
        warnings.warn("assumes [0, 1]", stacklevel=2)
        return psnr(a, b)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert check_psnr(warns)

    async def coroutine(a, b):
        return psnr(a, b)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "never awaited" RuntimeWarning
        result = check_psnr(coroutine)
    assert not result and "returned a coroutine (define your function with def, not async def)" in result.message


def test_a_tensor_class_with_its_own_dispatch_never_runs_in_the_grading():
    """A __torch_dispatch__ subclass that turns every subtraction into zeros passed 6 of the 7 checks with zeros:
    as_subclass, detach and clone all ran its own code."""
    from torch.utils._pytree import tree_map

    class Liar(torch.Tensor):
        @staticmethod
        def __new__(cls, elem):
            made = torch.Tensor._make_wrapper_subclass(cls, elem.shape, dtype=elem.dtype, device=elem.device)
            made.elem = elem
            return made

        @classmethod
        def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
            plain = tree_map(lambda x: x.elem if isinstance(x, Liar) else x, (args, kwargs or {}))
            out = func(*plain[0], **plain[1])
            if "sub" in str(func):
                out = torch.zeros_like(out)
            return tree_map(lambda x: Liar(x) if isinstance(x, torch.Tensor) else x, out)

    result = check_add_noise(lambda x0, n, t: Liar(torch.zeros_like(x0)), A)
    assert not result and "returned a Liar (a tensor class that runs its own code" in result.message
    result = check_blend_mask(lambda maps, threshold: Liar(torch.zeros(1, 1, 8, 8)))
    assert not result and "a tensor class that runs its own code" in result.message


def test_a_float8_answer_is_low_precision_like_half():
    from ddim_course.attention import blend_mask

    result = check_blend_mask(lambda maps, threshold: blend_mask(maps, threshold).to(torch.float8_e4m3fn))
    assert not result and "that is half precision or less" in result.message


def test_torchs_own_lazy_import_is_not_the_answers_change(tmp_path):
    """torch.func's first use imports torch._dynamo, which rewraps torch.manual_seed: a right answer using it was
    failed for 'changing torch itself' (in a fresh process, before diffusers had imported it)."""
    from tests.conftest import python_c

    code = (
        "import sys, torch\n"
        "from ddim_course.exercises import check_psnr\n"
        "assert 'torch._dynamo' not in sys.modules\n"
        "def my_psnr(a, b):\n"
        "    torch.func.grad(lambda x: (x * x).sum())(torch.ones(2))\n"
        "    return (10 * torch.log10(1 / ((a - b) ** 2).mean())).item()\n"
        "print(check_psnr(my_psnr))\n"
    )
    run = python_c(code, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.startswith("PASS"), run.stdout


def test_the_every_t_sweep_is_timed_against_the_checks_total_not_one_call(monkeypatch):
    monkeypatch.setattr(exercises, "TIME_LIMIT", 0.05)  # each call is far faster; the 1000 of the sweep are not

    def slowish(x0, n, t):
        time.sleep(0.002)
        return right_add_noise(x0, n, t)

    assert check_add_noise(slowish, A)
    monkeypatch.setattr(exercises, "TOTAL_TIME_LIMIT", 1.0)
    result = check_add_noise(slowish, A)
    assert not result and "took over 1 s together" in result.message, result.message


def test_a_check_runs_where_python_has_no_stderr(monkeypatch):
    """pythonw and some embedders give sys.stderr = None: an answer's warning crashed the check."""
    import sys
    import warnings

    monkeypatch.setattr(sys, "stderr", None)

    def warns(a, b):
        warnings.warn("careful", stacklevel=1)
        sys.stderr.write("to stderr\n")  # the capture stands in for the missing stream while the answer runs
        return psnr(a, b)

    assert check_psnr(warns)
    assert sys.stderr is None


def test_an_answer_cannot_read_the_expected_values_out_of_the_check():
    """An answer that walked the check's own stack (sys._current_frames) or the garbage collector's objects found the
    expected values there and returned them: every check passed an answer that computed nothing. Each door is
    closed to the answer's threads while a check runs, and open again afterwards."""
    import gc
    import sys
    import threading

    def from_the_frames(a, b):
        frame = sys._current_frames()[threading.main_thread().ident]
        while frame is not None:
            for _key, _, args, expected in frame.f_locals.get("cases") or []:
                if torch.equal(args[0], a) and torch.equal(args[1], b):
                    return expected.clone()
            frame = frame.f_back
        return torch.tensor(0.0)

    def from_the_objects(a, b):
        for case in gc.get_objects():
            if isinstance(case, tuple) and len(case) == 4 and isinstance(case[2], tuple) and len(case[2]) == 2:
                if torch.equal(case[2][0], a) and torch.equal(case[2][1], b):
                    return case[3].clone()
        return torch.tensor(0.0)

    def from_the_referrers(a, b):
        return next(iter(gc.get_referrers(a)), None)

    def with_an_audit_hook(a, b):
        sys.addaudithook(lambda event, args: None)  # would run in the check's thread too, and could read its frames
        return psnr(a, b)

    for cheat, door in (
        (from_the_frames, "sys._current_frames"),
        (from_the_objects, "gc.get_objects"),
        (from_the_referrers, "gc.get_referrers"),
        (with_an_audit_hook, "sys.addaudithook"),
    ):
        result = check_psnr(cheat)
        assert not result and f"PermissionError: {door} is closed" in result.message, (door, result.message)

    def leaves_a_gc_callback(a, b):  # a callback runs in whichever thread collects: the check's too
        if not any(getattr(c, "left_by_answer", False) for c in gc.callbacks):
            callback = lambda phase, info: None  # noqa: E731
            callback.left_by_answer = True
            gc.callbacks.append(callback)
        return psnr(a, b)

    result = check_psnr(leaves_a_gc_callback)
    assert not result and "gc.callbacks was changed" in result.message
    assert not any(getattr(c, "left_by_answer", False) for c in gc.callbacks)

    def collects(a, b):  # an answer may still collect garbage and list its own thread's frames
        gc.collect()
        assert sys._getframe() is not None
        return psnr(a, b)

    assert check_psnr(collects)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:  # threads the learner made before the check are refused too
        pool.submit(lambda: None).result()

        def through_a_pool(a, b):
            return pool.submit(from_the_frames, a, b).result()

        result = check_psnr(through_a_pool)
        assert not result and "PermissionError: sys._current_frames is closed" in result.message
    seen = {}  # afterwards every door is open to every thread again
    helper = threading.Thread(target=lambda: seen.update(frames=len(sys._current_frames()), n=len(gc.get_objects())))
    helper.start()
    helper.join(10)
    assert seen["frames"] >= 2 and seen["n"] > 0
    assert sys._current_frames.__module__ == "sys" and gc.get_objects.__module__ == "gc"


def test_the_checks_stand_ins_go_also_when_the_check_itself_fails(monkeypatch):
    """The stand-ins for sys._current_frames and the rest were put in before the rest of the set-up: an error (or
    Stop) there left them in place for the rest of the session."""
    import gc
    import sys

    originals = sys._current_frames, gc.get_objects

    def broken_snapshot():
        raise KeyboardInterrupt  # the learner pressed Stop while the check was setting up

    monkeypatch.setattr(exercises, "_snapshot", broken_snapshot)
    with pytest.raises(KeyboardInterrupt):
        check_psnr(lambda a, b: psnr(a, b))
    assert (sys._current_frames, gc.get_objects) == originals
    monkeypatch.undo()
    assert check_psnr(lambda a, b: psnr(a, b))


def test_a_debuggers_thread_may_list_frames_while_a_check_runs_and_the_original_is_not_in_the_signature():
    """JupyterLab's debugger (pydevd) lists every thread's frames from a thread of its own: refusing it would break
    a breakpoint set while a check ran. The stand-in's original was a keyword default, one attribute away
    (sys._current_frames.__kwdefaults__['_original'])."""
    import sys
    import threading

    seen, go, done = [], threading.Event(), threading.Event()

    def debugger_loop():
        go.wait(10)
        try:
            seen.append(len(sys._current_frames()) > 0)
        except PermissionError as e:
            seen.append(str(e))
        done.set()

    debugger_thread = type("PyDBDaemonThread", (threading.Thread,), {"__module__": "_pydevd_bundle.pydevd_daemon"})
    debugger = debugger_thread(target=debugger_loop, daemon=True)
    debugger.start()

    def answer(a, b):
        assert sys._current_frames.__kwdefaults__ is None  # nothing to pick up there
        go.set()
        done.wait(10)
        return psnr(a, b)

    assert check_psnr(answer)
    debugger.join(10)
    assert seen == [True]
