"""The DDIM core against diffusers' own schedulers, on a tiny random pipeline."""

import dataclasses

import numpy as np
import pytest
import torch
from diffusers import DDIMInverseScheduler, DDIMScheduler

from ddim_course import Inversion, ddim_step, edit, encode, img2img, invert, reconstruct, sample
from ddim_course.pocket.model import make_scheduler
from ddim_course.pocket.scenes import draw_scene
from tests.conftest import tiny_pipeline

PROMPT = "a red circle on a striped background"


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("set_alpha_to_one", [True, False])
def test_ddim_step_matches_scheduler_at_every_timestep(prediction_type, set_alpha_to_one):
    sched = DDIMScheduler.from_config(
        make_scheduler().config, prediction_type=prediction_type, set_alpha_to_one=set_alpha_to_one
    )
    sched.set_timesteps(50)
    g = torch.Generator().manual_seed(0)
    worst = 0.0
    for t in sched.timesteps:
        x = torch.randn(2, 4, 8, 8, generator=g)
        out = torch.randn(2, 4, 8, 8, generator=g)
        expected = sched.step(out, t, x, eta=0.0).prev_sample
        ours = ddim_step(
            out,
            int(t),
            int(t) - 20,
            x,
            sched.alphas_cumprod,
            final_alpha_cumprod=sched.final_alpha_cumprod,
            prediction_type=prediction_type,
        )
        worst = max(worst, (ours - expected).abs().max().item())
    assert int(sched.timesteps[-1]) - 20 < 0  # the last step was checked too (it uses final_alpha_cumprod)
    assert worst < 1e-5, worst


def test_ddim_step_with_eta_matches_scheduler_given_the_same_noise():
    sched = DDIMScheduler.from_config(make_scheduler().config)
    sched.set_timesteps(50)
    g = torch.Generator().manual_seed(1)
    for t in sched.timesteps[::7]:
        x, out, noise = (torch.randn(1, 4, 8, 8, generator=g) for _ in range(3))
        expected = sched.step(out, t, x, eta=0.7, variance_noise=noise).prev_sample
        ours = ddim_step(
            out,
            int(t),
            int(t) - 20,
            x,
            sched.alphas_cumprod,
            final_alpha_cumprod=sched.final_alpha_cumprod,
            eta=0.7,
            noise=noise,
        )
        assert (ours - expected).abs().max().item() < 1e-5


def test_ddim_step_rejects_bad_input():
    a = make_scheduler().alphas_cumprod
    x = torch.zeros(1, 4, 8, 8)
    with pytest.raises(ValueError, match="prediction_type"):
        ddim_step(x, 10, 0, x, a, final_alpha_cumprod=1.0, prediction_type="flow")
    with pytest.raises(ValueError, match="t must be in"):
        ddim_step(x, 1000, 980, x, a, final_alpha_cumprod=1.0)
    with pytest.raises(ValueError, match="eta"):
        ddim_step(x, 10, 0, x, a, final_alpha_cumprod=1.0, eta=-1)
    with pytest.raises(ValueError, match="needs noise"):
        ddim_step(x, 10, 0, x, a, final_alpha_cumprod=1.0, eta=0.5)


@pytest.mark.parametrize("guidance", [1.0, 7.5])
def test_sample_matches_pipeline_call(pipe, guidance):
    latents = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    ours = sample(
        pipe,
        PROMPT,
        num_inference_steps=10,
        guidance_scale=guidance,
        start_latents=latents,
        output_type="latent",
        progress=False,
    )
    theirs = pipe(
        PROMPT,
        num_inference_steps=10,
        guidance_scale=guidance,
        latents=latents.clone(),
        output_type="latent",
        height=64,
        width=64,
    ).images
    assert (ours - theirs).abs().max().item() < 1e-4


def test_sample_v_prediction_matches_pipeline_call(vpipe):
    latents = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(2))
    ours = sample(
        vpipe,
        PROMPT,
        num_inference_steps=10,
        guidance_scale=3.0,
        start_latents=latents,
        output_type="latent",
        progress=False,
    )
    theirs = vpipe(
        PROMPT,
        num_inference_steps=10,
        guidance_scale=3.0,
        latents=latents.clone(),
        output_type="latent",
        height=64,
        width=64,
    ).images
    assert (ours - theirs).abs().max().item() < 1e-4


def _diffusers_inversion(pipe, latents, prompt, steps):
    inv = DDIMInverseScheduler.from_config(pipe.scheduler.config)
    inv.set_timesteps(steps)
    cond, _ = pipe.encode_prompt(prompt, pipe.device, 1, False)
    out = [latents]
    x = latents
    with torch.no_grad():
        for t in inv.timesteps:
            eps = pipe.unet(x, t, encoder_hidden_states=cond).sample
            x = inv.step(eps, t, x).prev_sample
            out.append(x)
    return out


@pytest.mark.parametrize("fixture", ["pipe", "vpipe"])
def test_invert_matches_ddim_inverse_scheduler(fixture, request):
    p = request.getfixturevalue(fixture)
    image = draw_scene(seed=3).pil()
    ours = invert(p, image, PROMPT, num_inference_steps=20, progress=False)
    theirs = _diffusers_inversion(p, ours.latents[0], PROMPT, 20)
    assert len(ours.latents) == len(theirs) == 21
    worst = max((a - b).abs().max().item() for a, b in zip(ours.latents, theirs))
    assert worst < 1e-4, worst


def test_latents_at_is_the_latent_at_timesteps_s(pipe):
    image = draw_scene(seed=4).pil()
    inv = invert(pipe, image, PROMPT, num_inference_steps=10, progress=False)
    theirs = _diffusers_inversion(pipe, inv.latents[0], PROMPT, 10)
    inv_sched = DDIMInverseScheduler.from_config(pipe.scheduler.config)
    inv_sched.set_timesteps(10)
    by_timestep = {int(t): x for t, x in zip(inv_sched.timesteps, theirs[1:])}
    for s in range(10):
        assert inv.timestep_at(s) == inv.timesteps[s]
        assert torch.allclose(inv.latents_at(s), by_timestep[inv.timesteps[s]], atol=1e-4)
    assert inv.latents_at(0) is inv.latents[-1]


def test_reconstruct_from_zero_returns_the_clean_latent():
    # A random UNet's output is far from a noise prediction, and inversion amplifies that at the
    # noisiest steps; with its last layer scaled down it stays smooth, so the round trip must close.
    p = tiny_pipeline(seed=3)
    image = draw_scene(seed=5).pil()
    z = encode(p, image)  # give the latents unit scale, as a trained VAE's scaling_factor does
    p.vae.register_to_config(scaling_factor=p.vae.config.scaling_factor / z.std().item())
    with torch.no_grad():
        p.unet.conv_out.weight.mul_(0.01)
        p.unet.conv_out.bias.mul_(0.01)
    inv = invert(p, image, PROMPT, num_inference_steps=50, progress=False)
    back = reconstruct(p, inv, start_step=0, output_type="latent", progress=False)
    assert abs(inv.clean_latent.std().item() - 1) < 1e-3
    err = (back - inv.clean_latent).abs().max().item()
    assert err < 0.05, err
    # the seed lesson's off-by-one: starting step 0 from the latent one timestep short of timesteps[0]
    wrong = inv.latents[-2]
    from ddim_course.ddim import denoise, encode_text

    cond, _ = encode_text(p, PROMPT, guidance=False)
    off = denoise(p, wrong, cond, None, num_inference_steps=50, guidance_scale=1.0, progress=False)
    assert (off - inv.clean_latent).abs().max().item() > 10 * err


def test_eta_is_reproducible_with_a_generator_and_differs_from_deterministic(pipe):
    def run(eta, seed):
        return sample(
            pipe,
            PROMPT,
            num_inference_steps=10,
            guidance_scale=1.0,
            eta=eta,
            generator=torch.Generator().manual_seed(seed),
            output_type="latent",
            progress=False,
        )

    a, b = run(0.8, 7), run(0.8, 7)
    assert torch.equal(a, b)
    assert (run(0.0, 7) - a).abs().max().item() > 1e-3
    assert torch.equal(run(0.0, 7), run(0.0, 7))


def test_img2img_uses_fresh_noise_and_edit_reuses_an_inversion(pipe):
    image = draw_scene(seed=6).pil()

    def noised(seed):
        return img2img(
            pipe,
            image,
            PROMPT,
            start_step=5,
            num_inference_steps=10,
            output_type="latent",
            generator=torch.Generator().manual_seed(seed),
            progress=False,
        )

    a, b = noised(0), noised(1)
    assert (a - b).abs().max().item() > 1e-3
    inv = invert(pipe, image, PROMPT, num_inference_steps=10, progress=False)
    e1 = edit(
        pipe,
        image,
        PROMPT,
        "a blue circle on a striped background",
        start_step=3,
        num_inference_steps=10,
        inversion=inv,
        output_type="latent",
        progress=False,
    )
    e2 = edit(
        pipe,
        image,
        PROMPT,
        "a blue circle on a striped background",
        start_step=3,
        num_inference_steps=10,
        output_type="latent",
        progress=False,
    )
    assert torch.allclose(e1, e2, atol=1e-5)
    out = edit(
        pipe,
        image,
        PROMPT,
        "a blue circle on a striped background",
        num_inference_steps=10,
        start_step=3,
        inversion=inv,
        progress=False,
    )
    assert out[0].size == (64, 64)


def test_outputs_are_pil_at_the_model_resolution(pipe):
    images = sample(
        pipe,
        [PROMPT, "a blue square on a plain background"],
        num_inference_steps=3,
        generator=torch.Generator().manual_seed(0),
        progress=False,
    )
    assert [im.size for im in images] == [(64, 64), (64, 64)]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(start_step=10, num_inference_steps=10), r"start_step must be in \[0, 9\] for 10 steps, got 10"),
        (dict(start_step=-1, num_inference_steps=10), r"start_step must be in \[0, 9\]"),
        (
            dict(start_step=0, num_inference_steps=0),
            r"num_inference_steps must be in \[1, 999\] for this model's scheduler, got 0",
        ),
        (dict(start_step=0, num_inference_steps=-3), r"num_inference_steps must be in"),
        (dict(start_step=0, num_inference_steps=10, guidance_scale=-1), r"guidance_scale must be a number in \[0"),
    ],
)
def test_bad_arguments_get_clear_errors(pipe, kwargs, message):
    image = draw_scene(seed=1).pil()
    with pytest.raises(ValueError, match=message):
        img2img(pipe, image, PROMPT, progress=False, **kwargs)


def test_bad_latents_and_inversions_are_refused(pipe):
    with pytest.raises(ValueError, match=r"shape \(batch, 4, height, width\)"):
        sample(pipe, PROMPT, start_latents=torch.zeros(1, 3, 16, 16), progress=False)
    with pytest.raises(ValueError, match="start_step > 0 needs start_latents"):
        sample(pipe, PROMPT, start_step=3, progress=False)
    with pytest.raises(ValueError, match="must be an Inversion"):
        reconstruct(pipe, torch.zeros(1, 4, 16, 16))
    inv = invert(pipe, draw_scene(seed=2).pil(), PROMPT, num_inference_steps=5, progress=False)
    with pytest.raises(ValueError, match="this inversion has 5 steps"):
        reconstruct(pipe, inv, num_inference_steps=10)
    with pytest.raises(ValueError, match=r"start_step must be in \[0, 4\]"):
        inv.latents_at(5)
    assert isinstance(inv, Inversion) and inv.unet_calls == 5


def test_long_prompt_warns_and_empty_prompt_works(pipe):
    long = " ".join(["a red circle on a striped background"] * 4)
    with pytest.warns(UserWarning, match="cut off"):
        sample(
            pipe,
            long,
            num_inference_steps=2,
            output_type="latent",
            progress=False,
            generator=torch.Generator().manual_seed(0),
        )
    out = sample(
        pipe,
        "",
        num_inference_steps=2,
        output_type="latent",
        progress=False,
        generator=torch.Generator().manual_seed(0),
    )
    assert out.shape == (1, 4, 16, 16)


def test_guidance_below_1_is_guided_and_0_is_unconditional(pipe):
    """w = 0 samples the unconditional model (the empty prompt); w = 0.5 lies between; neither is w = 1."""
    start = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(5))

    def run(prompt, w):
        return sample(
            pipe, prompt, num_inference_steps=8, guidance_scale=w, start_latents=start.clone(), output_type="latent",
            progress=False,
        )  # fmt: skip

    at_0, at_half, at_1 = run(PROMPT, 0.0), run(PROMPT, 0.5), run(PROMPT, 1.0)
    unconditional = run("", 1.0)  # the empty prompt is the unconditional branch's (negative_prompt="")
    assert torch.allclose(at_0, unconditional, atol=1e-4)
    assert (at_0 - at_1).abs().max() > 1e-3 and (at_half - at_1).abs().max() > 1e-4
    assert (at_half - at_0).abs().max() > 1e-4


def test_local_linearity_errors_measure_each_step_of_an_inversion(pipe):
    from ddim_course import invert
    from ddim_course.ddim import local_linearity_errors

    latents = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(1))
    inv = invert(pipe, latents, "a cat", num_inference_steps=6, progress=False)
    errors = local_linearity_errors(pipe, inv)
    assert len(errors) == 6 and all(e > 0 and np.isfinite(e) for e in errors)
    # an "inversion" whose every step landed where it started has no error at all
    still = dataclasses.replace(inv, latents=[inv.latents[0]] * 7)
    assert local_linearity_errors(pipe, still) == [0.0] * 6
    with pytest.raises(ValueError, match="plain DDIM Inversion"):
        local_linearity_errors(pipe, dataclasses.replace(inv, method="edict"))


def test_a_finished_progress_bar_leaves_nothing_in_a_saved_notebook(monkeypatch):
    """tqdm's notebook bar hid its widget when done, but its output kept the text it was shown with ("DDIM sampling:
    0%| | 0/50"): a notebook saved and opened again showed one frozen 0% line per loop. The course's bar is shown
    under a display id and emptied when it finishes; one stopped part-way stays."""
    import IPython.display
    from tqdm.notebook import tqdm_notebook

    from ddim_course import ddim

    shown = []

    class Handle:
        def __init__(self):
            self.updates = []

        def update(self, obj, raw=False):
            self.updates.append((obj, raw))

    def display(obj, display_id=None):
        shown.append(Handle())
        return shown[-1]

    monkeypatch.setattr(IPython.display, "display", display)
    monkeypatch.setattr(ddim, "tqdm", tqdm_notebook)  # what tqdm.auto gives in a notebook
    ddim._vanishing_notebook_bar.cache_clear()
    try:
        assert list(ddim._bar(range(3), "DDIM sampling", True)) == [0, 1, 2]
        assert len(shown) == 1 and shown[0].updates == [({"text/plain": ""}, True)]
        stopped = ddim._bar(range(3), "DDIM inversion", True)
        next(iter(stopped))
        stopped.close()  # an error or Stop after the first step: the bar stays, showing where
        assert len(shown) == 2 and shown[1].updates == []
        assert list(ddim._bar(range(2), "quiet", False)) == [0, 1] and len(shown) == 2  # progress=False: no bar
    finally:
        ddim._vanishing_notebook_bar.cache_clear()
    monkeypatch.undo()
    assert ddim._vanishing_notebook_bar() is None  # outside a notebook: tqdm's own console bar
