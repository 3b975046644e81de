"""Exact inversion (notebook 08): fixed-point DDIM inversion, EDICT and edit-friendly DDPM inversion.

Exactness is tested on tiny random pipelines in float64, where floating-point rounding is far below the tolerances.
"""

import warnings

import pytest
import torch

from ddim_course import Inversion, NonFiniteError, edit, invert, reconstruct
from ddim_course.ddim import ddim_update, step_coefficients
from ddim_course.exact import ddpm_invert, edict_inverse_step, edict_invert, edict_step, fixed_point_invert
from ddim_course.exercises import check_edict_inverse_step
from ddim_course.inversions import METHODS
from ddim_course.pocket.scenes import draw_scene
from tests.conftest import tiny_pipeline

PROMPT = "a red circle on a striped background"
TARGET = "a blue circle on a striped background"


@pytest.fixture(scope="module")
def pipe64():
    return tiny_pipeline(seed=2).to(torch.float64)


@pytest.fixture(scope="module")
def vpipe64():
    return tiny_pipeline("v_prediction", seed=3).to(torch.float64)


@pytest.fixture(scope="module")
def image():
    return draw_scene(seed=5).pil()


def _relative_error(pipe, inv, **kw):
    back = reconstruct(pipe, inv, output_type="latent", progress=False, **kw)
    return ((back.double() - inv.clean_latent.double()).norm() / inv.clean_latent.double().norm()).item()


@pytest.mark.parametrize("guidance", [1.0, 7.5])
@pytest.mark.parametrize("which", ["pipe64", "vpipe64"])
def test_edict_and_ddpm_inversion_give_the_clean_latent_back(which, guidance, image, request):
    pipe = request.getfixturevalue(which)
    plain = invert(pipe, image, PROMPT, num_inference_steps=6, guidance_scale=guidance, progress=False)
    edict = edict_invert(pipe, image, PROMPT, num_inference_steps=6, guidance_scale=guidance, progress=False)
    ddpm = ddpm_invert(
        pipe,
        image,
        PROMPT,
        num_inference_steps=6,
        guidance_scale=guidance,
        generator=torch.Generator().manual_seed(0),
        progress=False,
    )
    assert _relative_error(pipe, edict) < 1e-6
    assert _relative_error(pipe, ddpm) < 1e-6
    assert _relative_error(pipe, plain) > 1e-3  # what they fix: plain DDIM inversion is not exact
    # from any start step: each sampler retraces the stored latents
    for s in (2, 5):
        assert _relative_error(pipe, edict, start_step=s) < 1e-6
        assert _relative_error(pipe, ddpm, start_step=s) < 1e-6


def test_ddpm_inversion_noises_each_timestep_on_its_own(pipe64, image):
    gen = torch.Generator().manual_seed(1)
    inv = ddpm_invert(pipe64, image, PROMPT, num_inference_steps=5, generator=gen, progress=False)
    assert inv.method == "ddpm" and len(inv.noise_maps) == 5 and inv.coupled_latents is None
    again = ddpm_invert(
        pipe64, image, PROMPT, num_inference_steps=5, generator=torch.Generator().manual_seed(1), progress=False
    )
    assert all(torch.equal(a, b) for a, b in zip(inv.latents, again.latents))  # the seed decides the noise
    # latents[k] = sqrt(a) x0 + sqrt(1 - a) noise with the scheduler's alpha at its timestep: the noise recovered
    # from each is a fresh draw (not the same noise for all, as one DDIM trajectory would nearly have)
    alphas = pipe64.scheduler.alphas_cumprod.double()
    x0 = inv.clean_latent.double()
    noises = []
    for k in range(1, 6):
        a = alphas[inv.timesteps[5 - k]]
        noises.append((inv.latents[k].double() - a.sqrt() * x0) / (1 - a).sqrt())
    corr = torch.corrcoef(torch.stack([n.flatten() for n in noises]))
    assert corr.fill_diagonal_(0).abs().max() < 0.2


def test_fixed_point_with_no_iterations_is_plain_inversion_and_each_iteration_shrinks_the_residual(pipe64, image):
    n = 20  # a random UNet is far from smooth: with fewer, larger steps the iteration need not converge
    plain = invert(pipe64, image, PROMPT, num_inference_steps=n, progress=False)
    zero = invert(pipe64, image, PROMPT, num_inference_steps=n, fixed_point_iterations=0, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(plain.latents, zero.latents)) and zero.unet_calls == n
    errors = [_relative_error(pipe64, plain)]
    for k in (1, 2, 3):
        inv = invert(pipe64, image, PROMPT, num_inference_steps=n, fixed_point_iterations=k, progress=False)
        assert inv.unet_calls == n * (1 + k) and len(inv.info["residuals"]) == n
        errors.append(_relative_error(pipe64, inv))
    mean = [sum(r[j] for r in inv.info["residuals"]) / n for j in range(3)]
    assert mean[0] > mean[1] > mean[2] > 0, mean
    assert errors[0] > errors[1] > errors[2] > errors[3], errors


def test_a_converged_fixed_point_is_the_exact_inverse_of_a_sampling_step():
    # with a model the iteration can solve (a contraction), the step it finds samples back exactly
    alphas = torch.linspace(0.99, 0.2, 1000, dtype=torch.float64)
    x_from = torch.randn(1, 4, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))

    def model(x):
        return 0.3 * torch.tanh(x)

    from ddim_course.ddim import fixed_point_step

    guess = ddim_update(model(x_from), x_from, float(alphas[500]), float(alphas[520]))
    x_t, moves = fixed_point_step(model, x_from, float(alphas[500]), float(alphas[520]), guess, iterations=30)
    assert moves[-1] < 1e-12 < moves[0]
    back = ddim_update(model(x_t), x_t, float(alphas[520]), float(alphas[500]))
    assert torch.allclose(back, x_from, atol=1e-12)
    m, c = step_coefficients(float(alphas[520]), float(alphas[500]))
    assert torch.allclose(back, m * x_t + c * model(x_t), atol=1e-12)


def test_edict_inverse_step_undoes_the_step_and_the_check_grades_it():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(2, 1, 4, 4, 4, dtype=torch.float64, generator=g)

    def model(z):
        return torch.sin(z)

    fx, fy = edict_step(x, y, model, 1.3, -0.6, 0.93)
    bx, by = edict_inverse_step(fx, fy, model, 1.3, -0.6, 0.93)
    assert torch.allclose(bx, x, atol=1e-12) and torch.allclose(by, y, atol=1e-12)
    assert check_edict_inverse_step(edict_inverse_step)
    assert not check_edict_inverse_step(lambda *a: edict_inverse_step(*a)[::-1])
    assert "return x first" in check_edict_inverse_step(lambda *a: edict_inverse_step(*a)[::-1]).message
    assert not check_edict_inverse_step(lambda xp, yp, m, a, b, p: (xp, yp))  # the step itself is no inverse
    assert not check_edict_inverse_step(lambda xp, yp, m, a, b, p: (xp * float("nan"), yp))
    assert not check_edict_inverse_step(lambda xp, yp, m, a, b, p: xp)


def test_unet_calls_are_the_calls_made(pipe):
    image = draw_scene(seed=6).pil()
    seen = []
    hook = pipe.unet.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape[0]))
    try:
        for name in ("fixed-point", "edict", "ddpm"):
            for g in (1.0, 3.0):
                seen.clear()
                inv = METHODS[name](pipe, image, PROMPT, num_inference_steps=3, guidance_scale=g, progress=False)
                assert inv.unet_calls == sum(seen), (name, g, seen)  # one call per latent (a guided batch is 2)
    finally:
        hook.remove()


@pytest.mark.parametrize("name", ["fixed-point", "edict", "ddpm"])
def test_new_methods_save_load_and_edit_unchanged(name, pipe, tmp_path):
    image = draw_scene(seed=7).pil()
    inv = METHODS[name](pipe, image, PROMPT, num_inference_steps=4, guidance_scale=3.0, progress=False)
    assert isinstance(inv, Inversion) and inv.method == name and inv.guidance_scale == 3.0
    back = Inversion.load(inv.save(tmp_path / "inv.safetensors"), pipe)
    for field in ("coupled_latents", "noise_maps"):
        a, b = getattr(inv, field), getattr(back, field)
        assert (a is None) == (b is None)
        assert a is None or all(torch.equal(u, v) for u, v in zip(a, b))
    assert back.mix == inv.mix
    assert torch.equal(
        reconstruct(pipe, inv, output_type="latent", progress=False),
        reconstruct(pipe, back, output_type="latent", progress=False),
    )
    before = {k: v.clone() for k, v in pipe.unet.state_dict().items()}
    kw = dict(start_step=1, num_inference_steps=4, guidance_scale=3.0, inversion=back, progress=False)
    out = edit(pipe, image, PROMPT, TARGET, **kw)  # at the guidance it was fitted at
    assert out[0].size == image.size
    assert all(torch.equal(before[k], v) for k, v in pipe.unet.state_dict().items())


def test_fixed_point_invert_is_the_registry_entry(pipe):
    image = draw_scene(seed=8).pil()
    a = fixed_point_invert(pipe, image, PROMPT, num_inference_steps=3, guidance_scale=2.0, progress=False)
    b = METHODS["fixed-point"](pipe, image, PROMPT, num_inference_steps=3, guidance_scale=2.0, progress=False)
    assert a.info["fixed_point_iterations"] == 3 and a.method == "fixed-point"
    assert all(torch.equal(x, y) for x, y in zip(a.latents, b.latents))


def test_exact_inversions_refuse_bad_settings(pipe):
    image = draw_scene(seed=9).pil()
    for mix in (0, -0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="mix must be"):
            edict_invert(pipe, image, PROMPT, num_inference_steps=2, mix=mix, progress=False)
    for k, message in ((-1, r"in \[0, 100\]"), (101, r"in \[0, 100\]"), (2.5, "whole number"), ("3", "whole")):
        with pytest.raises(ValueError, match=message):
            invert(pipe, image, PROMPT, num_inference_steps=2, fixed_point_iterations=k, progress=False)
    inv = edict_invert(pipe, image, PROMPT, num_inference_steps=2, progress=False)
    with pytest.raises(ValueError, match="needs both coupled_latents and mix"):
        Inversion(**{**vars(inv), "mix": None})
    with pytest.raises(ValueError, match="coupled_latents of an Inversion of 2 steps holds 3"):
        Inversion(**{**vars(inv), "coupled_latents": inv.coupled_latents[:2]})
    ddpm = ddpm_invert(pipe, image, PROMPT, num_inference_steps=2, progress=False)
    with pytest.raises(ValueError, match="noise_maps of an Inversion of 2 steps holds 2"):
        Inversion(**{**vars(ddpm), "noise_maps": ddpm.noise_maps[:1]})
    # another method's data under the name "ddim" was sampled back with that method's sampler, without a word
    for fields, name in (
        ({"noise_maps": ddpm.noise_maps}, "noise_maps are kept by ddpm"),
        ({"coupled_latents": inv.coupled_latents, "mix": inv.mix}, "coupled_latents are kept by edict"),
    ):
        with pytest.raises(ValueError, match=f"{name} inversion only; this inversion's method is 'ddim'"):
            Inversion(**{**vars(ddpm), "noise_maps": None, "method": "ddim", **fields})
    with pytest.raises(ValueError, match="num_inference_steps=999 x fixed_point_iterations=100 is 99,900"):
        invert(pipe, image, PROMPT, num_inference_steps=999, fixed_point_iterations=100, progress=False)


def test_edict_names_its_mix_when_its_latents_blow_up(pipe):
    """EDICT divides by its mix twice a step: at a low mix the latents overflowed and the error blamed the inputs
    or float16; a mix that only blew them up to 1e5 or 1e19 said nothing (1e19 no longer sampled back)."""
    image = draw_scene(seed=3).pil()
    with pytest.raises(NonFiniteError, match=r"EDICT divides by its mix \(0.5\) twice a step.*by step \d+"):
        edict_invert(pipe, image, PROMPT, num_inference_steps=50, mix=0.5, progress=False)
    with pytest.warns(UserWarning, match=r"its mix \(0.8\).*grew to mean size .*an edit from them draws nothing"):
        inv = edict_invert(pipe, image, PROMPT, num_inference_steps=50, mix=0.8, progress=False)
    with pytest.warns(UserWarning, match=r"its mix \(0.8\)"):  # sampling it says why too, not "pixels 0-255"
        back = reconstruct(pipe, inv, progress=False, output_type="latent")
    assert torch.allclose(back.double(), inv.latents[0].double(), atol=1e-4)  # and it still retraces the picture
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the paper's mix at guidance 1: no word
        edict_invert(pipe, image, PROMPT, num_inference_steps=50, progress=False)
    half = tiny_pipeline()
    half.unet.half()  # Stable Diffusion's dtype on a GPU: the latents overflow float16 long before float64
    said = r"its mix \(0.5\).*\(by step \d+\), past what the model's float16 can take"
    with pytest.raises(NonFiniteError, match=said):
        edict_invert(half, image, PROMPT, num_inference_steps=50, mix=0.5, progress=False)


def test_notebook_08_plots_draw_what_they_are_given():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ddim_course.plots import plot_error_against_calls, plot_residuals

    points = {("DDIM", 1.0): (50, -3.0), ("DDIM", 7.5): (50, -20.0), ("EDICT", 7.5): (200, 0.0)}
    points |= {(f"fixed-point x{k}", 1.0): (50 * (1 + k), -1.0 / k) for k in (1, 2, 3)}
    axes = plot_error_against_calls(points, markers={"DDIM": "o", "EDICT": "s"})
    assert [a.get_title() for a in axes] == ["sampled back at guidance 1.0", "sampled back at guidance 7.5"]
    line = axes[0].lines[0]  # the fixed-point points, joined in order of cost
    assert list(line.get_xdata()) == [100, 150, 200] and list(line.get_ydata()) == [-1.0, -0.5, -1.0 / 3]
    assert len(axes[0].collections) == 1 and len(axes[1].collections) == 2  # DDIM; DDIM and EDICT
    assert [t.get_text() for t in axes[0].texts] == ["k=1", "k=2", "k=3"]
    axes = plot_residuals({1.0: [[1e-2, 1e-3, 1e-4]] * 4, 7.5: [[1e-1, 5e-2, 2e-2]] * 4})
    assert [len(a.lines) for a in axes] == [3, 3] and axes[1].get_title() == "guidance 7.5"
    plt.close("all")


def test_ddpm_inversion_is_exact_when_the_schedule_ends_at_alpha_1(image, tmp_path):
    """A scheduler with set_alpha_to_one (diffusers' DDIM default) adds no noise at its last step (sigma = 0): the
    last noise map holds what lands that step on the clean latent. It used to be zero, and the reconstruction ended
    at the step's mean: worse than plain DDIM inversion."""
    from diffusers import DDIMScheduler

    pipe = tiny_pipeline(seed=2).to(torch.float64)
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config, set_alpha_to_one=True)
    ddpm = ddpm_invert(pipe, image, PROMPT, num_inference_steps=6, generator=torch.Generator().manual_seed(0))
    assert _relative_error(pipe, ddpm) < 1e-6
    back = Inversion.load(ddpm.save(tmp_path / "ddpm.safetensors"))
    assert _relative_error(pipe, back, start_step=3) < 1e-6


def test_a_folder_with_another_sampler_gets_stable_diffusions_ddim(tmp_path):
    """Euler's file says nothing of the last alpha and spaces its timesteps by linspace: DDIM made from it as it is
    ended at alpha 1 and stepped 1000 // n down from timesteps that lie 999 / (n - 1) apart."""
    from diffusers import EulerDiscreteScheduler

    from ddim_course import load_pipeline

    pipe = tiny_pipeline(seed=2)
    pipe.scheduler = EulerDiscreteScheduler.from_config(pipe.scheduler.config)
    assert pipe.scheduler.config.timestep_spacing == "linspace"
    pipe.save_pretrained(tmp_path / "euler")
    loaded = load_pipeline(str(tmp_path / "euler"), device="cpu", cache=False)
    config = loaded.scheduler.config
    assert type(loaded.scheduler).__name__ == "DDIMScheduler"
    assert config.timestep_spacing == "leading" and config.set_alpha_to_one is False
    assert config.prediction_type == pipe.scheduler.config.prediction_type
