"""Hostile arguments to the sampler and inversion: each class gets a clear error naming the argument (or works),
never a silent wrong image or a deep torch traceback. Saved inversions round-trip and refuse another model."""

import math
import os
import warnings

import numpy as np
import pytest
import torch

from ddim_course import Inversion, decode, edit, img2img, invert, reconstruct, sample
from ddim_course.ddim import NonFiniteError, ddim_step, encode_text, model_fingerprint, same_model
from ddim_course.inversions import METHODS, get_method, negative_prompt_invert, null_text_invert
from ddim_course.pocket.scenes import draw_scene

PROMPT = "a red circle on a striped background"


@pytest.fixture(scope="module")
def image():
    return draw_scene(seed=3).pil()


@pytest.fixture(scope="module")
def inv(pipe, image):
    return invert(pipe, image, PROMPT, num_inference_steps=4, progress=False)


@pytest.mark.parametrize("eta", [float("nan"), float("inf"), -0.1, 1.5, "0.5", True, 1j])
def test_eta_outside_0_1_or_not_a_number_is_refused(pipe, eta):
    with pytest.raises(ValueError, match=r"eta must be a number in \[0, 1\]"):
        sample(pipe, PROMPT, num_inference_steps=2, eta=eta, progress=False)
    with pytest.raises(ValueError, match=r"eta must be a number in \[0, 1\]"):
        ddim_step(
            torch.zeros(1), 500, 480, torch.zeros(1), pipe.scheduler.alphas_cumprod, final_alpha_cumprod=1.0, eta=eta
        )


@pytest.mark.parametrize("g", [float("nan"), float("inf"), -float("inf"), 1e6, True, "7.5", 2j])
def test_absurd_guidance_is_refused_everywhere(pipe, image, inv, g):
    message = r"guidance_scale must be a number in \[0, 100\]"
    for call in (
        lambda: sample(pipe, PROMPT, num_inference_steps=2, guidance_scale=g, progress=False),
        lambda: invert(pipe, image, PROMPT, num_inference_steps=2, guidance_scale=g, progress=False),
        lambda: reconstruct(pipe, inv, guidance_scale=g, progress=False),
        lambda: img2img(pipe, image, PROMPT, start_step=1, num_inference_steps=2, guidance_scale=g, progress=False),
        lambda: edit(pipe, image, PROMPT, PROMPT, start_step=1, num_inference_steps=4, guidance_scale=g, inversion=inv),
        lambda: negative_prompt_invert(pipe, image, PROMPT, num_inference_steps=2, guidance_scale=g, progress=False),
    ):
        with pytest.raises(ValueError, match=message):
            call()


def test_numpy_and_tensor_integers_are_whole_numbers(pipe, image, inv):
    out = sample(pipe, PROMPT, num_inference_steps=np.int64(2), guidance_scale=np.float32(2.0), progress=False)
    assert out[0].size == (64, 64)
    assert torch.equal(inv.latents_at(np.int32(1)), inv.latents_at(1))
    reconstruct(pipe, inv, start_step=torch.tensor(2), progress=False)
    for bad in (1.0, "1", True, None):
        with pytest.raises(ValueError, match="start_step must be a whole number"):
            reconstruct(pipe, inv, start_step=bad, progress=False)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_start_latents_are_refused(pipe, bad):
    latents = torch.zeros(1, 4, 16, 16)
    latents[0, 0, 0, 0] = bad
    with pytest.raises(NonFiniteError, match="start_latents holds 1 NaN or infinite values"):
        sample(pipe, PROMPT, num_inference_steps=2, start_latents=latents, progress=False)
    with pytest.raises(ValueError, match="NaN or infinite"):  # it is a ValueError too
        invert(pipe, latents, PROMPT, num_inference_steps=2, progress=False)


def test_a_nan_from_the_model_is_reported_not_decoded(pipe, monkeypatch):
    inv = invert(pipe, draw_scene(seed=1).pil(), PROMPT, num_inference_steps=2, progress=False)  # before the NaN
    real = pipe.unet.forward

    def poisoned(*args, **kwargs):
        out = real(*args, **kwargs)
        out.sample[..., 0, 0] = float("nan")
        return out

    monkeypatch.setattr(pipe.unet, "forward", poisoned)
    said = r"the UNet at timestep \d+ produced \d+ NaN or infinite values in the model's output"
    with pytest.raises(NonFiniteError, match=said):  # at the step it happens, as the model's
        sample(pipe, PROMPT, num_inference_steps=2, progress=False)
    with pytest.raises(NonFiniteError, match=said):
        edit(pipe, None, PROMPT, "a blue circle", inversion=inv, num_inference_steps=2, control="p2p", progress=False)


def test_meta_complex_and_integer_latents_are_refused(pipe):
    for latents, message in (
        (torch.empty(1, 4, 16, 16, device="meta"), "meta device"),
        (torch.zeros(1, 4, 16, 16, dtype=torch.complex64), "real floating-point"),
        (torch.zeros(1, 4, 16, 16, dtype=torch.int64), "real floating-point"),
        (torch.zeros(0, 4, 16, 16), r"shape \(batch, 4"),
    ):
        with pytest.raises(ValueError, match=message):
            sample(pipe, PROMPT, num_inference_steps=2, start_latents=latents, progress=False)


def test_prompt_count_must_match_the_images(pipe, image, inv):
    two = [PROMPT, "a blue square on a dotted background"]
    with pytest.raises(ValueError, match="2 prompts for 1 image: give one prompt"):
        invert(pipe, image, two, num_inference_steps=2, progress=False)
    with pytest.raises(ValueError, match="2 prompts for 1 image"):
        reconstruct(pipe, inv, prompt=two, progress=False)
    with pytest.raises(ValueError, match="takes one prompt"):
        null_text_invert(pipe, image, two, num_inference_steps=2, progress=False)
    both = invert(pipe, [image, image], two, num_inference_steps=2, progress=False)  # one per image is fine
    assert both.clean_latent.shape[0] == 2


@pytest.mark.parametrize("prompt", [None, 3, [PROMPT, 3], [], b"bytes", {"a": 1}])
def test_non_string_prompts_are_refused(pipe, prompt):
    with pytest.raises(ValueError, match="prompt"):
        sample(pipe, prompt, num_inference_steps=2, progress=False)


def test_generator_must_be_a_generator(pipe):
    for bad in (0, "seed", 1.5):
        with pytest.raises(ValueError, match=r"generator must be a torch.Generator \(e.g. torch.Generator"):
            sample(pipe, PROMPT, num_inference_steps=2, generator=bad, progress=False)


def test_empty_image_list(pipe):
    with pytest.raises(ValueError, match="no images given"):
        invert(pipe, [], PROMPT, num_inference_steps=2, progress=False)


def test_a_million_character_prompt_gives_a_short_warning(pipe):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sample(pipe, "red " * 250_000, num_inference_steps=1, progress=False)
    messages = [str(w.message) for w in caught]
    assert any("the end is cut off" in m for m in messages)
    assert max(len(m) for m in messages) < 300


def test_inversion_checks_its_own_shape(inv):
    with pytest.raises(ValueError, match="an Inversion of 4 steps holds 5 latents"):
        Inversion(
            latents=inv.latents[:3], timesteps=inv.timesteps, prompt=PROMPT, guidance_scale=1, num_inference_steps=4
        )
    with pytest.raises(ValueError, match="has 4 timesteps"):
        Inversion(latents=inv.latents, timesteps=[1, 2], prompt=PROMPT, guidance_scale=1, num_inference_steps=4)
    nan = [x.clone() for x in inv.latents]
    nan[2][0, 0, 0, 0] = math.nan
    with pytest.raises(ValueError, match=r"latents\[2\] holds 1 NaN"):
        Inversion(latents=nan, timesteps=inv.timesteps, prompt=PROMPT, guidance_scale=1, num_inference_steps=4)


def test_an_inversion_records_its_model_and_refuses_another(pipe, vpipe, inv):
    assert inv.model == model_fingerprint(pipe)
    assert model_fingerprint(vpipe) != inv.model
    with pytest.raises(ValueError, match="this inversion was made by the model .* invert the image again"):
        reconstruct(vpipe, inv, progress=False)
    with pytest.raises(ValueError, match="this inversion was made by the model"):
        edit(vpipe, None, PROMPT, PROMPT, start_step=1, num_inference_steps=4, inversion=inv, progress=False)


def test_the_fingerprint_does_not_depend_on_the_dtype(pipe, vpipe):
    from tests.conftest import tiny_pipeline

    half = tiny_pipeline().to(dtype=torch.float16)
    assert same_model(model_fingerprint(half), model_fingerprint(pipe))
    bf16 = tiny_pipeline().to(dtype=torch.bfloat16)  # a bfloat16 copy too (its float16 rounding differs)
    assert same_model(model_fingerprint(bf16), model_fingerprint(pipe))
    assert not same_model(model_fingerprint(vpipe), model_fingerprint(bf16))
    old_style = model_fingerprint(pipe).split("+")[0]  # written before the bfloat16 hash: float16's only
    assert same_model(old_style, model_fingerprint(half)) and not same_model(old_style, model_fingerprint(vpipe))


def test_save_and_load_round_trip(pipe, image, tmp_path):
    for name in METHODS:
        kw = {"inner_steps": 2} if name == "null-text" else {}
        original = METHODS[name](pipe, image, PROMPT, num_inference_steps=3, guidance_scale=3.0, progress=False, **kw)
        path = original.save(tmp_path / f"{name}.safetensors")
        back = Inversion.load(path, pipe)
        assert back.method == original.method == name
        assert back.model == original.model and back.timesteps == original.timesteps
        assert back.prompt == original.prompt and back.guidance_scale == original.guidance_scale
        assert back.negative_prompt == original.negative_prompt
        assert all(torch.equal(a, b) for a, b in zip(back.latents, original.latents))
        if original.uncond_embeddings is not None:
            assert all(torch.equal(a, b) for a, b in zip(back.uncond_embeddings, original.uncond_embeddings))
        a = reconstruct(pipe, original, output_type="latent", progress=False)
        b = reconstruct(pipe, back, output_type="latent", progress=False)
        assert torch.equal(a, b)


def test_save_never_overwrites_or_writes_through_a_link(inv, tmp_path):
    from ddim_course.files import OutputPathError

    mine = tmp_path / "mine.safetensors"
    mine.write_bytes(b"a learner's file")
    with pytest.raises(OutputPathError, match="exists"):
        inv.save(mine)
    assert mine.read_bytes() == b"a learner's file"
    link = tmp_path / "link.safetensors"
    link.symlink_to(tmp_path / "target.safetensors")  # dangling
    with pytest.raises(OutputPathError, match="symbolic link"):
        inv.save(link)
    assert not (tmp_path / "target.safetensors").exists()
    with pytest.raises(OutputPathError, match="does not end in .safetensors"):
        inv.save(tmp_path / "inv.pt")
    inv.save(mine, overwrite=True)
    assert Inversion.load(mine).num_inference_steps == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.safetensors", "mine.safetensors"]  # no temp files


def test_load_refuses_what_is_not_an_inversion(pipe, vpipe, inv, tmp_path):
    from safetensors.torch import save_file

    (tmp_path / "text.safetensors").write_text("hello", encoding="utf-8")
    save_file({"x": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    for name in ("text.safetensors", "other.safetensors"):
        with pytest.raises(ValueError, match="is not an inversion file written by Inversion.save"):
            Inversion.load(tmp_path / name)
    with pytest.raises(FileNotFoundError, match="no such inversion file"):
        Inversion.load(tmp_path / "missing.safetensors")
    with pytest.raises(ValueError, match="not a regular file"):
        Inversion.load(tmp_path)
    path = inv.save(tmp_path / "inv.safetensors")
    with pytest.raises(ValueError, match="this inversion was made by the model"):
        Inversion.load(path, vpipe)


def test_the_registry_names_every_method_once(pipe, image):
    assert list(METHODS) == ["ddim", "null-text", "negative-prompt", "fixed-point", "edict", "ddpm", "direct"]
    assert get_method("DDIM") is METHODS["ddim"] and get_method("null_text") is METHODS["null-text"]
    with pytest.raises(ValueError, match="unknown inversion method 'pnp'; choose one of ddim, null-text"):
        get_method("pnp")
    for name, method in METHODS.items():
        kw = {"inner_steps": 1} if name == "null-text" else {}
        result = method(pipe, image, PROMPT, num_inference_steps=2, guidance_scale=2.0, progress=False, **kw)
        assert isinstance(result, Inversion) and result.method == name and result.guidance_scale == 2.0


def test_decode_refuses_what_is_not_latents(pipe):
    from ddim_course import decode

    nan = torch.zeros(1, 4, 16, 16)
    nan[..., 3] = math.nan
    for bad, message in (
        (nan, "64 NaN or infinite"),
        (torch.zeros(1, 3, 16, 16), r"shape \(batch, 4"),
        ("x", "tensor"),
    ):
        with pytest.raises(ValueError, match=message):
            decode(pipe, bad)


@pytest.mark.parametrize(
    "a, b, kw, message",
    [
        (torch.full((3, 4, 4), math.nan), torch.zeros(3, 4, 4), {}, "the first image holds 48 NaN"),
        (torch.zeros(3, 4, 4), torch.full((3, 4, 4), math.inf), {}, "the second image holds 48 NaN or infinite"),
        (np.full((4, 4, 3), 200, np.uint8), np.zeros((4, 4, 3), np.uint8), {}, "data_range=255"),
        (torch.zeros(3, 4, 4), torch.zeros(3, 4, 4), {"data_range": 0}, "data_range must be a number in"),
        (torch.zeros(3, 4, 4), torch.zeros(3, 4, 4), {"data_range": math.nan}, "data_range must be a number in"),
        (torch.zeros(3, 4, 4), torch.zeros(3, 4, 4), {"data_range": 1e308}, "data_range must be a number in"),
        (torch.zeros(3, 4, 4), torch.zeros(3, 4, 4), {"data_range": 10**400}, "data_range must be a number in"),
        ("a.png", torch.zeros(3, 4, 4), {}, "must be a PIL image"),
        (None, torch.zeros(3, 4, 4), {}, "must be a PIL image"),
        (torch.zeros(3, 4, 4, dtype=torch.complex64), torch.zeros(3, 4, 4), {}, "real tensor"),
        (torch.zeros(3, 0, 4), torch.zeros(3, 0, 4), {}, "empty"),
        (torch.zeros(3, 8, 8), torch.zeros(3, 8, 8), {"mask": -torch.ones(8, 8)}, "mask weights must be >= 0"),
        (torch.zeros(3, 4, 4), torch.zeros(3, 4, 4), {"mask": torch.full((4, 4), math.nan)}, "mask holds 16 NaN"),
        (torch.full((3, 4, 4), -0.5), torch.zeros(3, 4, 4), {}, r"go down to -0.5, below 0: images in \[-1, 1\]"),
        (torch.zeros(3, 4, 4), torch.zeros(3, 4, 4), {"data_range": np.float32(1)}, None),
    ],
)
def test_psnr_refuses_values_it_cannot_measure(a, b, kw, message):
    from ddim_course import psnr

    if message is None:  # accepted: a numpy number is a number
        assert psnr(a, b, **kw) == math.inf
        return
    with pytest.raises(ValueError, match=message):
        psnr(a, b, **kw)


def test_ssim_and_pie_background_check_their_images_as_psnr_does():
    from ddim_course.metrics import pie_background, ssim

    ok, signed = np.zeros((12, 12, 3)), np.full((12, 12, 3), -1.0)
    for call in (lambda: ssim(signed, ok), lambda: pie_background(signed, ok, np.zeros((12, 12), bool))):
        with pytest.raises(ValueError, match="below 0"):
            call()
    with pytest.raises(ValueError, match="holds 432 NaN"):
        ssim(np.full((12, 12, 3), np.nan), ok)
    with pytest.raises(ValueError, match=r"an \(H, W\) edit_mask of their size, got images of \(12, 12, 3\)"):
        pie_background(ok, ok, np.zeros((5, 5), bool))
    with pytest.raises(ValueError, match="same size"):
        ssim(ok, np.zeros((13, 12, 3)))


def test_psnr_still_measures_8_bit_arrays_with_their_range():
    from ddim_course import psnr

    a, b = np.full((4, 4, 3), 200, np.uint8), np.full((4, 4, 3), 190, np.uint8)
    assert abs(psnr(a, b, data_range=255) - 10 * math.log10(255**2 / 100)) < 1e-9


def test_ddim_step_and_denoise_name_mismatched_inputs(pipe):
    from ddim_course import denoise

    alphas = pipe.scheduler.alphas_cumprod
    with pytest.raises(ValueError, match=r"model_output has shape \(1, 4, 8, 8\) but x_t \(1, 4, 16, 16\)"):
        ddim_step(torch.zeros(1, 4, 8, 8), 500, 480, torch.zeros(1, 4, 16, 16), alphas, final_alpha_cumprod=1.0)
    with pytest.raises(ValueError, match="x_t must be a torch tensor, got list"):
        ddim_step(torch.zeros(1), 500, 480, [0.0], alphas, final_alpha_cumprod=1.0)
    with pytest.raises(
        ValueError,
        match=r"cond must be text embeddings from encode_text: a float tensor \(batch, tokens, 32\) for a batch of 1",
    ):
        denoise(pipe, torch.zeros(1, 4, 16, 16), torch.zeros(2, 16, 32), None, num_inference_steps=2, guidance_scale=1)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: draw_scene(seed=-1), "seed must be a whole number >= 0"),
        (lambda: draw_scene(seed=1.5), "seed must be a whole number"),
        (lambda: draw_scene(size=0), r"size must be a whole number of pixels in \[16, 1024\]"),
        (lambda: draw_scene(seed=0, shape_size=1000), r"shape_size must be a number in \[2, 62\]"),
        (lambda: draw_scene(seed=0, shape_size=float("nan")), "shape_size must be a number"),
        (lambda: draw_scene(seed=0, center=(1e9, 3)), "center must be .* inside the 64 x 64 scene"),
        (lambda: draw_scene(seed=0, center="ab"), r"center must be two numbers \(x, y\)"),
        (lambda: draw_scene(seed=0, rng=3), "rng must be a numpy Generator"),
    ],
)
def test_draw_scene_names_a_bad_number(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_pie_tiny_checks_its_arguments_and_score_the_image_size():
    from ddim_course.pocket.pie_tiny import pie_tiny, score
    from ddim_course.pocket.scenes import draw_scenes

    for n in (-1, 0, 2.5, "3", True, 10**7):
        with pytest.raises(ValueError, match="n_scenes must be a whole number"):
            pie_tiny(n)
    with pytest.raises(ValueError, match="seed must be a whole number >= 0"):
        pie_tiny(1, seed=-5)
    for n in (-2, 10**7):
        with pytest.raises(ValueError, match=r"n must be a whole number in \[0, 200000\]"):
            draw_scenes(n)
    # numpy and tensor integers are whole numbers; one kind may be given as a string
    cases = pie_tiny(np.int64(1), seed=torch.tensor(5), kinds="colour")
    assert [c.kind for c in cases] == ["colour"] and cases[0].source.caption == pie_tiny(1, seed=5)[0].source.caption
    for wrong in (np.zeros((32, 32, 3)), np.zeros((2, 64, 64, 3))):
        with pytest.raises(ValueError, match="the edited image must be one 64 x 64 RGB image like the scene"):
            score(cases[0], wrong)
    assert score(cases[0], cases[0].truth.image)["psnr_to_truth"] == math.inf
    with pytest.raises(ValueError, match="below 0"):  # an image in [-1, 1] is not scored as if it were in [0, 1]
        score(cases[0], cases[0].truth.image * 2 - 1)
    assert len(pie_tiny(1, kinds=None)) == 3  # None: every kind
    for kinds in (3, [None], (), ["colour", "hue"]):
        with pytest.raises(ValueError, match="kinds must be some of"):
            pie_tiny(1, kinds=kinds)


@pytest.mark.parametrize("size", [16, (0, 0), (-4, 4), (100_000, 100_000), (8.5, 8)])
def test_blend_mask_names_a_bad_size_before_resizing(size):
    from ddim_course.attention import blend_mask

    with pytest.raises(ValueError, match="size must be"):
        blend_mask(torch.rand(1, 8, 8), 0.5, size=size)
    with pytest.raises(ValueError, match="word_maps is empty"):
        blend_mask(torch.rand(1, 0, 0), 0.5)


def test_numbers_on_the_meta_device_are_refused_by_name():
    from ddim_course.attention import blend_mask
    from ddim_course.ddim import _check_guidance, _whole

    meta = torch.tensor(3, device="meta")
    with pytest.raises(ValueError, match="steps must be a whole number"):
        _whole(meta, "steps")
    with pytest.raises(ValueError, match="guidance_scale"):
        _check_guidance(meta.float())
    with pytest.raises(ValueError, match="threshold"):
        blend_mask(torch.rand(1, 8, 8), torch.tensor(0.5, device="meta"))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda p, x, ac: decode(p, torch.full((1, 4, 16, 16), 1e30)), "the decoder gave 12288 NaN or infinite"),
        (lambda p, x, ac: ddim_step(x, 500, 900, x, ac, final_alpha_cumprod=1.0, eta=1.0, noise=x), "use eta=0"),
        (lambda p, x, ac: ddim_step(x, 21, -19, x, ac, final_alpha_cumprod=-1.0), "final_alpha_cumprod must be"),
        (lambda p, x, ac: ddim_step(x, 21, -19, x, ac, final_alpha_cumprod="1"), "final_alpha_cumprod must be"),
        (lambda p, x, ac: ddim_step(x, 21, 1, x, ac * math.nan, final_alpha_cumprod=1.0), r"alphas_cumprod\[21\]"),
        (lambda p, x, ac: ddim_step(x, 21, 1, x, ac * 2, final_alpha_cumprod=1.0), r"alphas_cumprod\[21\]"),
        (
            lambda p, x, ac: ddim_step(x, 21, 1, x, ac, final_alpha_cumprod=1.0, eta=0.5, noise=torch.ones(1)),
            "noise must be a real float tensor of x_t's shape",
        ),
        (lambda p, x, ac: ddim_step(x.to(torch.complex64), 21, 1, x, ac, final_alpha_cumprod=1), "real floating"),
        (lambda p, x, ac: ddim_step(x, 21, 1, x > 0, ac, final_alpha_cumprod=1), "x_t must be a real floating"),
        (lambda p, x, ac: encode_text(p, PROMPT, batch=10**5), r"batch must be a whole number in \[1, 1024\]"),
        (lambda p, x, ac: encode_text(p, PROMPT, batch=0), r"batch must be a whole number in \[1, 1024\]"),
        (lambda p, x, ac: encode_text(p, PROMPT, batch="2"), "batch must be a whole number"),
        (lambda p, x, ac: invert(p, x, PROMPT, num_inference_steps=1000), r"must be in \[1, 999\] for this model"),
    ],
)
def test_building_blocks_refuse_what_would_give_nan_complex_or_a_crash(pipe, call, match):
    with pytest.raises(ValueError, match=match):
        call(pipe, torch.zeros(1, 4, 16, 16), pipe.scheduler.alphas_cumprod)


def test_the_longest_schedule_the_scheduler_allows_stays_inside_the_training_steps(pipe):
    from ddim_course.ddim import _schedule, max_steps

    assert max_steps(pipe) == 999  # SD's schedule: 1000 training steps, steps_offset 1, "leading" spacing
    timesteps, _ = _schedule(pipe, 999)
    assert len(timesteps) == 999 and max(timesteps) == 999 and min(timesteps) >= 0


def test_fitting_and_seeding_arguments_are_bounded_and_named(pipe, image):
    from ddim_course.exact import ddpm_invert
    from ddim_course.widgets import guided_sample, noisy_image_at

    kw = dict(num_inference_steps=1, guidance_scale=2.0, progress=False)
    for call, match in (
        (lambda: null_text_invert(pipe, image, PROMPT, inner_steps=10**9, **kw), r"inner_steps .* \[1, 1000\]"),
        (lambda: null_text_invert(pipe, image, PROMPT, learning_rate="x", **kw), "learning_rate must be a number"),
        (lambda: null_text_invert(pipe, image, PROMPT, learning_rate=None, **kw), "learning_rate must be a number"),
        (lambda: ddpm_invert(pipe, image, PROMPT, generator=0, **kw), "generator must be a torch.Generator"),
        (lambda: guided_sample(pipe, PROMPT, 5.0, seed=2**70, num_inference_steps=1), r"seed .* \[0, 2\*\*63\)"),
        (lambda: guided_sample(pipe, PROMPT, 5.0, seed=1.5, num_inference_steps=1), "seed must be a whole number"),
        (lambda: noisy_image_at(pipe, torch.zeros(1, 4, 16, 16), torch.zeros(1, 4, 16, 16), math.nan), "t must be"),
        (lambda: noisy_image_at(pipe, torch.zeros(1, 4, 16, 16), torch.zeros(1, 4, 8, 8), 5), "of one shape"),
    ):
        with pytest.raises(ValueError, match=match):
            call()
    assert null_text_invert(pipe, image, PROMPT, inner_steps=np.int64(1), **kw).uncond_embeddings is not None


def test_images_in_and_out_name_what_they_cannot_convert(pipe):
    from PIL import Image

    from ddim_course import encode, load_image, pil_to_tensor, tensor_to_pil

    for bad, match in (
        (torch.full((3, 4, 4), math.nan), "48 NaN or infinite"),
        (torch.full((3, 4, 4), 200, dtype=torch.uint8), r"x.float\(\) / 255"),
        (torch.zeros(4, 4, 3), r"x.permute\(2, 0, 1\)"),
        (torch.zeros(3, 4, 4, dtype=torch.complex64), "float tensor"),
        (torch.zeros(3, 4, 4, device="meta"), "a meta tensor"),
        (None, "got NoneType"),
    ):
        with pytest.raises(ValueError, match=match):
            tensor_to_pil(bad)
    assert tensor_to_pil(torch.full((1, 1, 2, 2), 0.5))[0].getpixel((0, 0)) == (128, 128, 128)  # one channel: grey
    for bad, match in (([], "an empty list"), ("x.png", "load_image"), (None, "NoneType")):
        with pytest.raises(ValueError, match=match):
            pil_to_tensor(bad)
    with pytest.raises(ValueError, match="different sizes"):
        pil_to_tensor([Image.new("RGB", (4, 4)), Image.new("RGB", (5, 4))])
    with pytest.raises(ValueError, match="empty list"):
        encode(pipe, [])
    grey = Image.fromarray(np.full((8, 8), 0.5, np.float32), "F")  # float pixels are levels, never stretched
    assert np.asarray(load_image(grey))[0, 0].tolist() == [128, 128, 128]


def test_save_takes_only_a_real_yes_and_writes_the_usual_mode(inv, tmp_path):
    import os

    path = inv.save(tmp_path / "a.safetensors")
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~_umask()
    for answer in ("no", 1, None):
        with pytest.raises(ValueError, match="overwrite must be True or False"):
            inv.save(path, overwrite=answer)


def _umask():
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_an_inversion_refuses_fields_it_would_ignore_or_crash_on_later(pipe, inv):
    import dataclasses

    base = dict(latents=inv.latents, timesteps=inv.timesteps, prompt=PROMPT, guidance_scale=1.0, num_inference_steps=4)
    meta = [torch.zeros(1, 4, 16, 16, device="meta")] * 4
    for change, match in (
        ({"timesteps": [1, 2, 3, 4]}, "timesteps go down"),
        ({"timesteps": [-1, -2, -3, -4]}, "timesteps go down"),
        ({"method": None}, "method must be a name"),
        ({"model": 5}, "model must be a name"),
        ({"unet_calls": -5}, "unet_calls counts model evaluations"),
        ({"unet_calls": "x"}, "unet_calls must be a whole number"),
        ({"info": "abc"}, "info must be a dict"),
        ({"latents": [torch.tensor(0.0)] * 5}, r"latents\[0\] must be a float tensor \(batch, channels"),
        ({"latents": [x.to(torch.float8_e4m3fn) for x in inv.latents]}, r"latents\[0\] must be a float tensor"),
        ({"uncond_embeddings": [torch.zeros(1, 16)] * 4}, "uncond_embeddings must be text embeddings"),
        ({"uncond_embeddings": ["a"] * 4}, "uncond_embeddings must be text embeddings"),
        ({"noise_maps": meta}, r"noise_maps\[0\] must be a float tensor with data, shaped like the latents"),
    ):
        with pytest.raises(ValueError, match=match):
            Inversion(**(base | change))
    moved = dataclasses.replace(inv, timesteps=[t - 1 for t in inv.timesteps])  # another scheduler's steps
    with pytest.raises(ValueError, match="are not this pipeline's 4-step schedule"):
        reconstruct(pipe, moved, progress=False)


def test_what_is_not_a_pipeline_or_a_scene_is_named():
    from ddim_course.attention import AttentionMaps, blend_mask
    from ddim_course.models import get_preset
    from ddim_course.pocket.reader import read_scene
    from ddim_course.pocket.scenes import parse_caption

    for call, match in (
        (
            lambda: model_fingerprint("pocket"),
            r"pipe must be a Stable-Diffusion-style pipeline.*load_pipeline\('pocket'\)",
        ),
        (lambda: get_preset(5), "get_preset needs a pipeline"),
        (lambda: invert("pocket", draw_scene(seed=1).pil(), PROMPT), "pipe must be a Stable-Diffusion-style"),
        (lambda: read_scene(np.full((64, 64, 3), np.nan)), "NaN or infinite"),
        (lambda: read_scene(np.zeros((64, 64))), r"one RGB image \(H, W, 3\)"),
        (lambda: read_scene(np.full((64, 64, 3), 200.0)), r"pixel values must be in \[0, 1\]"),
        (lambda: parse_caption(None), "a caption must be a string"),
        (lambda: AttentionMaps(["<s>", "a", "</s>"], {}).word("a"), "hold no maps"),
        (lambda: blend_mask(torch.rand(1, 4, 4), 1.0), "threshold must be below 1"),
    ):
        with pytest.raises(ValueError, match=match):
            call()
    assert blend_mask(torch.ones(1, 4, 4), 0.3).sum() == 16  # no place preferred: the edit is kept everywhere
    assert blend_mask(torch.tensor([[[3e38, -3e38]]]), 0.3).tolist() == [[[[1.0, 0.0]]]]  # no overflow to 0


@pytest.mark.parametrize("not_a_pipe", ["pocket", None, "unet"])
def test_every_entry_point_that_takes_pipe_names_what_it_got(pipe, image, inv, not_a_pipe):
    """A model name, None or the pipeline's UNet given as ``pipe``: one line that says to load it, not an
    AttributeError from deep inside (encode, decode, encode_text and the explorers had no check)."""
    from ddim_course import encode, widgets

    bad = pipe.unet if not_a_pipe == "unet" else not_a_pipe
    for call in (
        lambda: encode(bad, image),
        lambda: decode(bad, torch.zeros(1, 4, 16, 16)),
        lambda: encode_text(bad, PROMPT),
        lambda: widgets.noise_explorer(bad, image),
        lambda: widgets.noisy_image_at(bad, torch.zeros(1, 4, 16, 16), torch.zeros(1, 4, 16, 16), 10),
        lambda: widgets.start_step_explorer(bad, image, inv),
        lambda: widgets.compare_at_start_step(bad, image, inv, 1),
        lambda: widgets.EditExplorer(bad, image, PROMPT, "a blue circle"),
    ):
        with pytest.raises(ValueError, match="pipe must be a Stable-Diffusion-style pipeline"):
            call()


def test_the_start_step_explorer_checks_its_guidance_when_made(pipe, image, inv):
    from ddim_course import widgets

    for g in (float("nan"), -1.0, "7"):
        with pytest.raises(ValueError, match="guidance_scale must be a number in"):
            widgets.start_step_explorer(pipe, image, inv, guidance_scale=g)
        with pytest.raises(ValueError, match="guidance_scale must be a number in"):
            widgets.compare_at_start_step(pipe, image, inv, 1, guidance_scale=g)


def test_the_command_line_guidance_limit_is_the_librarys():
    from ddim_course import __main__ as cli
    from ddim_course.ddim import MAX_GUIDANCE

    assert cli.MAX_GUIDANCE == MAX_GUIDANCE
    with pytest.raises(cli.CommandLineError, match=r"--guidance must be a number in \[0, 100\]"):
        cli._check_numbers(guidance=1e9)


def test_compare_at_start_step_takes_the_picture_as_invert_did_and_names_what_it_cannot(pipe, image, inv):
    from ddim_course.widgets import MethodExplorer, compare_at_start_step

    big = compare_at_start_step(pipe, image.resize((128, 128)), inv, 1)  # resized as invert resizes it
    assert big["reconstruction"].size == image.size and math.isfinite(big["psnr_reconstruction"])
    for args, match in (
        ((image, "inv", 1), "inversion must be an Inversion"),
        ((inv.latents[0], inv, 1), "not latents"),
    ):
        with pytest.raises(ValueError, match=match):
            compare_at_start_step(pipe, *args)
    explorer = MethodExplorer(pipe, image, PROMPT, "a blue circle on a striped background", num_inference_steps=3)
    with pytest.raises(ValueError, match=r"guidance must be a number in \[0, 100\]"):
        explorer.show("null-text", "x")


def test_an_inversion_changed_after_it_was_made_is_checked_again_when_used(pipe, image):
    changed = invert(pipe, image, PROMPT, num_inference_steps=4, progress=False)
    changed.latents.append(changed.latents[-1].clone())
    with pytest.raises(ValueError, match="an Inversion of 4 steps holds 5 latents"):
        reconstruct(pipe, changed, progress=False)
    changed = invert(pipe, image, PROMPT, num_inference_steps=4, progress=False)
    changed.num_inference_steps = 2
    with pytest.raises(ValueError, match="an Inversion of 2 steps holds 3 latents"):
        edit(
            pipe, None, PROMPT, "a blue circle", inversion=changed, num_inference_steps=2, start_step=0, progress=False
        )


@pytest.mark.parametrize("flag", ["no", "False", None, 2, 0.5])
def test_a_yes_or_no_argument_must_be_true_or_false(pipe, image, inv, flag):
    # "no" and "False" are truthy strings: accepted, they would silently mean yes
    calls = {n: lambda m=m: m(pipe, image, PROMPT, num_inference_steps=2, progress=flag) for n, m in METHODS.items()}
    calls["sample"] = lambda: sample(pipe, PROMPT, num_inference_steps=2, progress=flag)
    calls["reconstruct"] = lambda: reconstruct(pipe, inv, progress=flag)
    calls["edit"] = lambda: edit(
        pipe, image, PROMPT, "a blue square", inversion=inv, num_inference_steps=4, start_step=1, progress=flag
    )
    calls["img2img"] = lambda: img2img(pipe, image, PROMPT, num_inference_steps=2, start_step=1, progress=flag)
    for name, call in calls.items():
        with pytest.raises(ValueError, match="progress must be True or False"):
            call()
            pytest.fail(f"{name} accepted progress={flag!r}")
    with pytest.raises(ValueError, match="guidance must be True or False"):
        encode_text(pipe, PROMPT, guidance=flag)
    from ddim_course import load_pipeline

    with pytest.raises(ValueError, match="cache must be True or False"):
        load_pipeline(cache=flag)


def test_numpy_bools_and_0_or_1_are_yes_or_no(pipe, inv):
    for flag in (np.bool_(False), 0, 1, True):
        reconstruct(pipe, inv, output_type="latent", progress=flag)


def test_a_path_ending_in_a_slash_is_a_folder_not_a_file(inv, tmp_path):
    from ddim_course.files import OutputPathError

    with pytest.raises(OutputPathError, match="ends in a slash"):
        inv.save(f"{tmp_path}/q.safetensors/")
    assert not (tmp_path / "q.safetensors").exists()
    for folder in (".", "..", f"{tmp_path}/.."):  # "." has no name at all: the message showed an empty one
        with pytest.raises(OutputPathError, match=r"names a folder; give a file name"):
            inv.save(folder)


def test_numbers_too_large_to_print_or_to_be_floats_get_the_packages_message(pipe, image, inv):
    from ddim_course import load_image
    from ddim_course.attention import PromptToPrompt
    from ddim_course.pocket.pie_tiny import pie_tiny

    huge, beyond_float = 10**5000, 10**400  # Python will not print the first; float() refuses the second
    calls = [
        (lambda: sample(pipe, PROMPT, num_inference_steps=huge), "num_inference_steps must be a whole number below"),
        (lambda: reconstruct(pipe, inv, start_step=huge), "start_step must be a whole number below"),
        (lambda: encode_text(pipe, PROMPT, batch=huge), "batch must be a whole number below"),
        (lambda: PromptToPrompt(blend_dilation=huge), "blend_dilation must be a whole number below"),
        (lambda: pie_tiny(-huge), "n_scenes must be a whole number below"),
        (lambda: load_image(image, size=huge), "size must be an int"),
        (lambda: sample(pipe, PROMPT, guidance_scale=beyond_float), "guidance_scale must be a number in"),
        (lambda: PromptToPrompt(cross_replace_steps=beyond_float), "cross_replace_steps must be a number in"),
        (lambda: null_text_invert(pipe, image, PROMPT, learning_rate=beyond_float), "learning_rate must be"),
    ]
    for call, message in calls:
        with pytest.raises(ValueError, match=message) as err:
            call()
        assert "digits" in str(err.value) and "set_int_max_str_digits" not in str(err.value)


def test_tensor_to_pil_refuses_another_range_and_names_the_rescaling():
    from ddim_course import show_images, tensor_to_pil

    with pytest.raises(ValueError, match=r"\(x \+ 1\) / 2"):
        tensor_to_pil(torch.rand(3, 4, 4) * 2 - 1)
    with pytest.raises(ValueError, match="x / 255"):
        tensor_to_pil(torch.full((3, 4, 4), 200.0))
    with pytest.raises(ValueError, match=r"x.clamp\(0, 1\)"):
        tensor_to_pil(torch.full((3, 4, 4), 1e6))
    assert tensor_to_pil(torch.full((3, 4, 4), 1.02))[0].getpixel((0, 0)) == (255, 255, 255)  # overshoot: clipped
    image = torch.full((3, 4, 4), 0.5)
    assert show_images([image], ncols=10**4).axes[0].get_gridspec().ncols == 1  # no empty columns
    for kwargs, message in ((dict(ncols=0), "ncols must be"), (dict(size=float("nan")), "size must be")):
        with pytest.raises(ValueError, match=message):
            show_images([image], **kwargs)


def test_a_soft_or_full_edit_mask_and_a_prompt_that_is_not_text_are_refused(pipe):
    from ddim_course.attention import PromptToPrompt
    from ddim_course.metrics import pie_background

    z = np.zeros((12, 12, 3))
    for mask, message in (
        (np.full((12, 12), 0.5), "threshold a soft mask"),
        (np.full((12, 12), np.nan), "threshold a soft mask"),
        (np.full((12, 12), "x"), "threshold a soft mask"),
        (np.ones((12, 12), bool), "covers every pixel"),
    ):
        with pytest.raises(ValueError, match=message):
            pie_background(z, z + 0.5, mask)
    assert pie_background(z, z, np.eye(12))["mse"] == 0.0  # 0/1 floats are a mask
    with pytest.raises(ValueError, match="holds a character that is not text"):
        sample(pipe, "a red \udcff circle", num_inference_steps=2)
    assert PromptToPrompt(blend=np.bool_(True)).blend is True


def test_a_hand_made_inversion_must_name_a_method_and_carry_what_it_needs(pipe, inv):
    import dataclasses

    for changes, message in (
        (dict(method="pnp"), "is not one of the course's"),
        (dict(method="edict"), "carries its coupled_latents"),
        (dict(method="ddpm"), "carries its noise_maps"),
        (dict(method="null-text", guidance_scale=3.0), "carries its uncond_embeddings"),
        (dict(uncond_embeddings=[torch.zeros(1, 16, 999)] * 4, guidance_scale=3.0), "uncond_embeddings are"),
    ):
        with pytest.raises(ValueError, match=message):
            reconstruct(pipe, dataclasses.replace(inv, **changes), output_type="latent", progress=False)


def test_small_mistakes_named_in_the_packages_words(pipe, inv, tmp_path):
    from PIL import Image

    from ddim_course import load_image
    from ddim_course.attention import PromptToPrompt
    from ddim_course.files import OutputPathError
    from ddim_course.pocket.pie_tiny import pie_tiny
    from ddim_course.pocket.scenes import edit_scene
    from ddim_course.widgets import start_step_explorer

    scene = draw_scene(seed=1)
    for kwargs in (dict(seed=-1), dict(seed=1.5)):
        with pytest.raises(ValueError, match="seed must be a whole number"):
            edit_scene(scene, pattern="dotted", **kwargs)
    with pytest.raises(ValueError, match="scene must be a Scene"):
        edit_scene("scene")
    with pytest.raises(ValueError, match="color must be one of"):
        draw_scene(["red"])
    with pytest.raises(ValueError, match="inversion must be an Inversion"):
        start_step_explorer(pipe, scene.pil(), "inv")
    with pytest.raises(OutputPathError, match="is only an extension"):
        inv.save(tmp_path / ".safetensors")
    with pytest.raises(OutputPathError, match="control character"):
        inv.save(tmp_path / "a\nb.safetensors")
    with pytest.raises(ValueError, match="each once"):
        pie_tiny(1, kinds=["colour", "colour"])
    with pytest.raises(ValueError, match="give single words without punctuation: 'blue,'"):
        edit(
            pipe,
            scene.pil(),
            PROMPT,
            "a blue circle",
            inversion=inv,
            num_inference_steps=4,
            start_step=1,
            control=PromptToPrompt(blend_words=("blue,",)),
        )
    overshoot = Image.fromarray(np.full((8, 8), 1.5, np.float32), "F")  # a float image a little over 1: white
    assert load_image(overshoot).getpixel((0, 0)) == (255, 255, 255)


def test_show_images_names_what_is_not_an_image_and_psnr_takes_huge_mask_weights():
    from ddim_course import psnr, show_images

    for item, message in ((None, "image 0 is a NoneType"), ("cat.jpg", "load it with load_image first")):
        with pytest.raises(ValueError, match=message):
            show_images([item])
    a, b = np.full((8, 8, 3), 0.5), np.zeros((8, 8, 3))
    assert psnr(a, b, mask=np.full((8, 8), 1e308)) == pytest.approx(psnr(a, b))


def test_psnr_names_images_of_two_sizes_an_object_array_and_a_mask_on_numbers():
    from PIL import Image

    from ddim_course import psnr

    small, wide = Image.new("RGB", (4, 4)), Image.new("RGB", (5, 4))
    for a, b, kwargs, message in (
        ([small, wide], [small, small], {}, "a list of images must be of one size"),
        (np.zeros((8, 8, 3), dtype=object), np.zeros((8, 8, 3)), {}, "a numpy array of object"),
        (np.array(0.2), np.array(0.1), {"mask": np.array(1.0)}, "a mask needs images of"),
    ):
        with pytest.raises(ValueError, match=message):
            psnr(a, b, **kwargs)


def test_hand_made_attention_maps_are_checked_when_made():
    from ddim_course.attention import AttentionMaps

    for tokens, maps, message in (
        ("a cat", {}, "tokens must be a list"),
        (["<s>", "a", "</s>"], {8: torch.zeros(2, 8, 8)}, r"one map per token \(3\)"),
        (["<s>", "a", "</s>"], [torch.zeros(3, 8, 8)], "maps must be a dict"),
    ):
        with pytest.raises(ValueError, match=message):
            AttentionMaps(tokens, maps)
    assert AttentionMaps(["<s>", "a", "</s>"], {8: torch.ones(3, 8, 8)}).word("a").shape == (8, 8)


# ------------------------------------------------------------------------------------------------
# a fourth probe of the API (2026-11-28): each class below gave a wrong result, a runaway or a deep traceback
# ------------------------------------------------------------------------------------------------
def test_a_background_with_no_pixel_left_is_refused_not_scored_perfect():
    from ddim_course.metrics import pie_background, pie_unedited_mask

    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="no pixel of this 16 x 16 edit_mask is left"):
        pie_background(rng.random((16, 16, 3)), rng.random((16, 16, 3)), np.pad(np.ones((14, 14), bool), 1))
    with pytest.raises(ValueError, match="no pixel of this 2 x 2 edit_mask is left"):
        pie_unedited_mask(np.zeros((2, 2)))
    assert pie_unedited_mask(np.zeros((3, 3))).sum() == 1  # one pixel inside the frame is enough


def test_draw_scene_refuses_a_string_centre_and_a_seed_beside_an_rng_and_draw_scenes_is_bounded_by_size():
    from ddim_course.pocket.scenes import draw_scenes

    with pytest.raises(ValueError, match="center must be two numbers"):
        draw_scene(seed=0, center="12")
    with pytest.raises(ValueError, match="give seed or rng, not both"):
        draw_scene(seed=1, rng=np.random.default_rng(5))
    with pytest.raises(ValueError, match="n must be at most 781 for 1024 x 1024 scenes"):
        draw_scenes(200_000, size=1024)
    assert len(draw_scenes(2, size=128)) == 2


def test_show_images_checks_every_picture_and_splits_a_batch():
    from PIL import Image

    from ddim_course import show_images

    for images, message in (
        (torch.rand(3, 8, 8) * 255, r"image 0: needs values in \[0, 1\].*x / 255"),
        (torch.full((3, 8, 8), float("nan")), "NaN or infinite"),
        (np.full((8, 8), np.nan), "image 0 holds NaN"),
        (torch.rand(3, 8, 8, device="meta"), "image 0 is a meta tensor"),
        (torch.rand(3, 8, 8).to_sparse(), "image 0 is a sparse_coo tensor"),
        (np.zeros((8, 8, 3), dtype=np.int64), "pass x.astype"),
        (np.zeros((2, 8, 8, 5)), r"image 0 has shape \(8, 8, 5\)"),
        ("cat.jpg", "load it with load_image first"),
        (5, "an image or a list of images, got int"),
    ):
        with pytest.raises(ValueError, match=message):
            show_images(images)
    image = Image.new("RGB", (8, 8))
    for titles, message in ((5, "got int"), ("abc", "got str"), (["a", "b"], "got 2 titles for 1 images")):
        with pytest.raises(ValueError, match=message):
            show_images([image], titles=titles)
    assert len(show_images(torch.rand(2, 3, 8, 8)).axes) == 2  # decode(..., output_type="pt")
    assert len(show_images(np.random.rand(2, 8, 8, 3)).axes) == 2
    assert len(show_images(np.random.rand(3, 8, 8)).axes) == 1  # channels first
    assert len(show_images([image], titles=(t for t in ["a"])).axes) == 1
    assert len(show_images(np.random.randn(8, 8)).axes) == 1  # a map of any range, in grey
    white = show_images(torch.ones(1, 8, 8)).axes[0].get_images()[0].get_array()  # one channel: grey in [0, 1]
    assert np.asarray(white).min() == 255  # drawn white (scaled to its own range it was black)
    assert show_images(torch.rand(3, 4, 4)).axes[0].get_images()[0].get_array().shape[:2] == (4, 4)  # not RGBA


def test_arguments_that_would_be_dropped_are_refused_or_warned(pipe, image):
    from ddim_course.exact import fixed_point_invert
    from ddim_course.widgets import guided_sample

    with pytest.raises(ValueError, match=r"iterations must be a whole number in \[1, 100\]"):
        fixed_point_invert(pipe, image, PROMPT, iterations=0, num_inference_steps=2, progress=False)
    with pytest.raises(ValueError, match="prompt must be one string"):
        guided_sample(pipe, [PROMPT, "a blue square on a plain background"], 2.0, num_inference_steps=2)
    with pytest.warns(UserWarning, match="negative_prompt has no effect at guidance_scale=1") as record:
        sample(pipe, PROMPT, negative_prompt="blue", guidance_scale=1, num_inference_steps=2, progress=False)
    assert record[0].filename == __file__  # the warning points at the learner's line
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sample(pipe, PROMPT, negative_prompt="blue", guidance_scale=2, num_inference_steps=2, progress=False)


def test_sizes_and_counts_are_bounded_before_the_work(pipe):
    with pytest.raises(ValueError, match=r"height and width must be at most 64 \(4 x the model's 16\)"):
        sample(pipe, PROMPT, start_latents=torch.randn(1, 4, 256, 256), num_inference_steps=1, progress=False)
    with pytest.raises(ValueError, match=r"height and width must be at most 64 \(4 x the model's 16\), got \(16, 72\)"):
        decode(pipe, torch.randn(1, 4, 16, 72))
    with pytest.raises(ValueError, match="1100 images given; at most 1024"):
        invert(pipe, ["missing.png"] * 1100, PROMPT, num_inference_steps=1, progress=False)  # before any is read
    assert sample(pipe, PROMPT, start_latents=torch.randn(1, 4, 32, 32), num_inference_steps=1, progress=False)


def test_explorers_take_an_image_path_and_check_their_settings_when_made(pipe, inv):
    pytest.importorskip("ipywidgets")
    from ddim_course import example_image
    from ddim_course.widgets import EditExplorer, MethodExplorer, start_step_explorer

    path = str(example_image("pocket_example"))
    start_step_explorer(pipe, path, invert(pipe, path, PROMPT, num_inference_steps=4, progress=False))
    with pytest.raises(ValueError, match="image is not the picture this inversion was made from"):
        start_step_explorer(pipe, path, inv)  # inv is another picture's: its PSNRs would compare two pictures
    EditExplorer(pipe, path, PROMPT, "a green circle on a striped background", num_inference_steps=2, start_step=0)
    MethodExplorer(pipe, path, PROMPT, "x", start_step=0, num_inference_steps=2).widget("ddim", 1.0)
    for kwargs, message in (
        (dict(source_prompt=5), "source_prompt must be a string"),
        (dict(start_step=100), r"start_step must be in \[0, 1\] for 2 steps, got 100"),
        (dict(inner_steps=-1), r"inner_steps must be a whole number in \[1, 1000\]"),
    ):
        settings = dict(source_prompt=PROMPT, target_prompt="x", start_step=0, num_inference_steps=2) | kwargs
        with pytest.raises(ValueError, match=message):
            MethodExplorer(pipe, path, **settings)


def test_plots_name_what_they_cannot_draw(pipe):
    from ddim_course import plot_schedule, plot_snr
    from ddim_course.plots import plot_residuals

    plot_schedule(pipe.scheduler.alphas_cumprod)
    plot_snr(pipe.scheduler.alphas_cumprod.numpy())
    plot_residuals({7.5: [[0.1, 0.01], [0.2, 0.02]]})
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2)
    plot_residuals({1.0: [[0.1]], 7.5: [[0.2]]}, ax=list(axes))  # a list of Axes, one per key
    with pytest.raises(ValueError, match="ax gives 1 Axes for 2 panels"):
        plot_residuals({1.0: [[0.1]], 7.5: [[0.2]]}, ax=axes[0])
    for call, message in (
        (lambda: plot_schedule(pipe.scheduler), "not its values; pass pipe.scheduler.alphas_cumprod"),
        (lambda: plot_schedule(torch.linspace(0, 5, 10)), r"finite values in \(0, 1\]"),
        (lambda: plot_snr(torch.rand(10, 10)), r"must be 1-D .* got shape \(10, 10\)"),
        (lambda: plot_schedule([0.5, 0.4], ax="x"), "ax must be a matplotlib Axes"),
        (lambda: plot_residuals([[1.0]]), "residuals must be a non-empty dict"),
        (lambda: plot_residuals({}), "residuals must be a non-empty dict"),
        (lambda: plot_residuals({1: [1.0, 2.0]}), r"residuals\[1\] must be a table"),
    ):
        with pytest.raises(ValueError, match=message):
            call()


def test_odd_tensor_layouts_and_dtypes_are_named(pipe):
    from ddim_course import psnr, tensor_to_pil
    from ddim_course.attention import blend_mask

    x = torch.rand(3, 4, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch: nested tensors are a prototype
        nested = torch.nested.nested_tensor([x])
    for call, message in (
        (lambda: psnr(x.to_sparse(), x), "ordinary real tensor with data, got a sparse_coo tensor"),
        (lambda: psnr(nested, x), "got a nested tensor"),
        (lambda: tensor_to_pil(x.to(torch.float8_e4m3fn)), r"float8_e4m3fn tensor \(pass x.float\(\)\)"),
        (lambda: blend_mask(torch.rand(1, 4, 4).to_sparse(), 0.3), "word_maps must be a real tensor"),
        (
            lambda: sample(pipe, PROMPT, start_latents=torch.randn(1, 4, 16, 16).to_sparse(), num_inference_steps=1),
            r"to_dense\(\)",
        ),
        (lambda: decode(pipe, torch.randn(1, 4, 16, 16).to_sparse()), "sparse_coo tensor"),
        (lambda: decode(pipe, torch.zeros(1, 4, 16, 16, dtype=torch.int64)), "got a int64 tensor"),
        (
            lambda: sample(pipe, PROMPT, start_latents=torch.zeros(1, 4, 16, 16).to(torch.float8_e4m3fn)),
            r"start_latents is a float8_e4m3fn tensor \(pass x.float\(\)\)",
        ),
        (lambda: sample(pipe, PROMPT, start_latents=nested), "start_latents is a nested tensor"),
    ):
        with pytest.raises(ValueError, match=message):
            call()


def test_a_method_named_with_an_option_it_does_not_take_lists_its_options(pipe, image):
    with pytest.raises(ValueError, match="the 'ddim' method has no option 'negative_prompt'; its options are"):
        METHODS["ddim"](pipe, image, PROMPT, negative_prompt="x", num_inference_steps=2)
    assert "inner_steps" in METHODS["null-text"].options() and "iterations" in METHODS["fixed-point"].options()
    assert "inner_steps" not in METHODS["ddim"].options()
    from ddim_course.inversions import Method

    # a method of one's own: ordinary parameters are options too, and one that takes **kwargs checks them itself
    def mine(pipe, image, prompt, num_inference_steps=50, guidance_scale=1.0, progress=True, depth=1):
        return invert(pipe, image, prompt, num_inference_steps=num_inference_steps, progress=progress)

    assert Method("mine", "mine", mine, "").options() == (
        "num_inference_steps",
        "guidance_scale",
        "progress",
        "depth",
    )
    anything = Method("any", "any", lambda pipe, image, prompt, **kw: invert(pipe, image, prompt, **kw), "")
    assert anything.options() is None
    assert anything(pipe, image, PROMPT, num_inference_steps=2, guidance_scale=1.0, progress=False).latents


def test_score_names_a_case_that_is_not_one():
    from ddim_course.pocket.pie_tiny import score

    with pytest.raises(ValueError, match="case must be an EditCase from pie_tiny"):
        score(None, np.zeros((64, 64, 3)))


def test_blend_words_that_match_nothing_or_are_also_kept_are_named(pipe, image):
    from ddim_course.attention import PromptToPrompt

    with pytest.raises(ValueError, match="'red' is in blend_words and in blend_keep_words"):
        PromptToPrompt(blend_words=("red", "blue"), blend_keep_words=("Red",))
    target = "a blue circle on a striped background"
    common = dict(num_inference_steps=2, start_step=0, progress=False)
    for settings, message in (
        (dict(blend_words=("circle", "cirlce")), "blend_words 'cirlce' is not a word of either prompt"),
        (dict(blend_keep_words=("background", "bakground")), "blend_keep_words 'bakground' is not a word"),
    ):
        with pytest.raises(ValueError, match=message):
            edit(pipe, image, PROMPT, target, control=PromptToPrompt(**settings), **common)
    long = "a red circle on a striped background with a blue square and a green triangle on a dotted background"
    with pytest.raises(ValueError, match="comes after the 16 tokens the text encoder reads"):
        edit(pipe, image, long, long.replace("triangle", "square"), control=PromptToPrompt(blend_words=("triangle",)))


def test_direct_inversion_without_control_warns_that_it_is_plain_ddim(pipe, image):
    with pytest.warns(UserWarning, match="inversion='direct' without control is a plain DDIM edit") as record:
        edit(pipe, image, PROMPT, "a blue circle", inversion="direct", num_inference_steps=2, start_step=0)
    assert record[0].filename == __file__  # the warning points at the learner's line


def test_pie_tiny_given_a_set_of_kinds_is_the_same_on_every_run():
    from ddim_course.pocket.pie_tiny import KINDS as KINDS_ALL
    from ddim_course.pocket.pie_tiny import pie_tiny

    class Unordered(set):  # iterates in a fixed wrong order, as a set may under another hash seed
        def __iter__(self):
            return iter(["pattern", "shape", "colour"])

    assert [c.kind for c in pie_tiny(1, kinds=Unordered(KINDS_ALL))] == ["colour", "shape", "pattern"]
    assert [c.kind for c in pie_tiny(1, kinds=["pattern", "colour"])] == ["pattern", "colour"]  # a list keeps order
    with pytest.raises(ValueError, match="got b'shape'"):
        pie_tiny(1, kinds=b"shape")


def test_saving_under_a_path_too_long_or_under_a_file_is_one_line(tmp_path, inv):
    from ddim_course.files import OutputPathError

    (tmp_path / "mine.safetensors").write_bytes(b"a learner's file")
    os.mkfifo(tmp_path / "pipe.png")
    for path, message in (
        (tmp_path / ("c" * 300) / "x.safetensors", "cannot be used .*choose a shorter"),
        (tmp_path / "mine.safetensors" / "x.safetensors", "mine.safetensors is a file, not a folder"),
        (tmp_path / "mine.safetensors" / "sub" / "x.safetensors", "mine.safetensors is a file, not a folder"),
        (tmp_path / "pipe.png" / "x.safetensors", "pipe.png is a named pipe, not a folder"),  # was "does not exist"
    ):
        with pytest.raises(OutputPathError, match=message):
            inv.save(path)
    assert (tmp_path / "mine.safetensors").read_bytes() == b"a learner's file"


def test_a_word_the_prompt_holds_twice_warns_or_is_chosen_by_occurrence():
    from ddim_course.attention import AttentionMaps

    maps = torch.stack([torch.zeros(8, 8), torch.ones(8, 8), torch.zeros(8, 8), torch.full((8, 8), 3.0)])
    am = AttentionMaps(["<s>", "red", "and", "red"], {8: maps})
    with pytest.warns(UserWarning, match=r"'red' occurs 2 times in the prompt \(tokens \[1, 3\]\)"):
        assert am.word("red").mean() == 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert am.word("red", occurrence=0).mean() == 1.0 and am.word("red", occurrence=1).mean() == 3.0
        am.word("and")
    with pytest.raises(ValueError, match=r"occurrence must be in \[0, 1\]: 'red' occurs 2 time\(s\), got 2"):
        am.word("red", occurrence=2)
