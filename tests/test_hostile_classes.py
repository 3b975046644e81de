"""Classes of hostile input found by a probe of the public functions (2026-11-29): each gets a clear one-line error
from ddim_course (or the right result), never a silent wrong number, a deep torch traceback, or a pipeline left
broken for the rest of the session."""

import itertools
import math
import os
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from ddim_course import decode, invert, sample
from ddim_course.ddim import (
    ddim_sigma,
    ddim_step,
    ddim_update,
    denoise,
    edict_denoise,
    guide,
    predict_x0_and_eps,
    step_coefficients,
)
from ddim_course.pocket.scenes import draw_scene

PROMPT = "a red circle on a striped background"


@pytest.fixture(scope="module")
def inv(pipe):
    return invert(pipe, draw_scene(seed=3).pil(), PROMPT, num_inference_steps=4, progress=False)


def test_a_failed_call_with_meta_latents_leaves_the_pipeline_working(pipe):
    from ddim_course.widgets import noisy_image_at

    meta = torch.zeros(1, 4, 16, 16, device="meta")
    with pytest.raises(ValueError, match="latents is on the meta device"):
        noisy_image_at(pipe, meta, meta, 10)
    assert pipe.scheduler.alphas_cumprod.device.type == "cpu"
    assert sample(pipe, PROMPT, num_inference_steps=2, output_type="latent", progress=False).isfinite().all()
    image, a = noisy_image_at(pipe, torch.zeros(1, 4, 16, 16), torch.ones(1, 4, 16, 16), 10)
    assert image.size == (64, 64) and 0 < a < 1


def test_a_scheduler_that_is_not_ddim_is_refused_by_name(pipe):
    from diffusers import EulerDiscreteScheduler

    own = pipe.scheduler
    try:
        pipe.scheduler = EulerDiscreteScheduler.from_config(own.config)
        with pytest.raises(ValueError, match=r"pipe.scheduler is a EulerDiscreteScheduler.*DDIMScheduler.from_config"):
            sample(pipe, PROMPT, num_inference_steps=2, output_type="latent", progress=False)
    finally:
        pipe.scheduler = own


def test_metrics_read_a_transparent_image_as_load_image_does():
    from ddim_course.images import load_image
    from ddim_course.metrics import as_array, psnr

    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[4:12, 4:12] = (255, 0, 0, 255)  # a red square on a transparent background
    im = Image.fromarray(rgba, "RGBA")
    assert psnr(im, load_image(im)) == math.inf
    assert as_array(im)[0, 0].tolist() == [1.0, 1.0, 1.0]  # transparency on white, not black


def test_a_float_image_with_negative_values_is_refused_not_half_blackened():
    from ddim_course.images import ImageLoadError, load_image

    signed = Image.fromarray(np.linspace(-1, 1, 64 * 64, dtype="f4").reshape(64, 64), "F")
    with pytest.raises(ImageLoadError, match=r"values down to -1.*pixels must be in \[0, 1\].*rescale"):
        load_image(signed)
    ok = load_image(Image.fromarray(np.linspace(0, 1, 64 * 64, dtype="f4").reshape(64, 64), "F"))
    assert np.asarray(ok).max() == 255


def test_pil_to_tensor_refuses_an_empty_image():
    from ddim_course.images import pil_to_tensor

    with pytest.raises(ValueError, match=r"empty \(0x0 pixels\)"):
        pil_to_tensor(Image.new("RGB", (0, 0)))


def test_an_inversion_changed_after_it_was_made_is_named_before_it_is_used_or_saved(pipe, inv, tmp_path):
    import dataclasses

    longer = dataclasses.replace(inv)
    longer.num_inference_steps = 10
    with pytest.raises(ValueError, match="an Inversion of 10 steps holds 11 latents"):
        longer.latents_at(0)
    with pytest.raises(ValueError, match="an Inversion of 10 steps holds 11 latents"):
        longer.timestep_at(0)
    broken = dataclasses.replace(inv, latents=[x.clone() for x in inv.latents])
    broken.latents[2][:] = float("nan")
    with pytest.raises(ValueError, match=r"latents\[2\]"):
        broken.save(tmp_path / "broken.safetensors")
    assert not (tmp_path / "broken.safetensors").exists()
    named = dataclasses.replace(inv)
    named.prompt = 5
    with pytest.raises(ValueError, match="prompt must be a string"):
        named.save(tmp_path / "named.safetensors")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_inversion_file_says_permission_denied(inv, tmp_path):
    from ddim_course import Inversion

    path = inv.save(tmp_path / "inv.safetensors")
    path.chmod(0)
    try:
        with pytest.raises(PermissionError, match="permission denied"):
            Inversion.load(path)
    finally:
        path.chmod(0o600)


def test_the_input_file_is_protected_when_given_as_one_path(tmp_path):
    from ddim_course.files import OutputPathError, check_output_path

    f = tmp_path / "photo.png"
    f.write_bytes(b"mine")
    for inputs in (str(f), f, [str(f)], (f,)):
        with pytest.raises(OutputPathError, match="is the input file"):
            check_output_path(f, inputs=inputs, overwrite=True)
    with pytest.raises(ValueError, match="inputs must be a list of the input files' paths"):
        check_output_path(tmp_path / "out.png", inputs=5)
    assert check_output_path(tmp_path / "out.png", inputs=None) == tmp_path / "out.png"
    assert f.read_bytes() == b"mine"


def test_an_edit_case_of_an_unknown_kind_is_refused():
    from ddim_course.pocket.pie_tiny import EditCase

    s = draw_scene(seed=1)
    with pytest.raises(ValueError, match=r"kind must be one of \('colour', 'shape', 'pattern'\), got 'hue'"):
        EditCase("hue", s, s, s.mask > 0)
    with pytest.raises(ValueError, match=r"edit_mask must be a \(H, W\) array"):
        EditCase("colour", s, s, np.zeros((3, 3), bool))


def test_show_images_refuses_thousands_of_panels():
    from ddim_course.plots import MAX_PANELS, show_images

    with pytest.raises(ValueError, match=f"at most {MAX_PANELS} images in one figure, got 1600"):
        show_images(torch.rand(1600, 3, 4, 4))
    im = Image.new("RGB", (8, 8))
    with pytest.raises(ValueError, match=f"at most {MAX_PANELS} images in one figure, got more"):
        show_images(itertools.repeat(im))  # endless: it filled memory before the count was checked
    with pytest.raises(ValueError, match="got more than 1 titles for 1 images"):
        show_images([im], titles=itertools.cycle(["a"]))


def test_pipeline_and_empty_latent_mistakes_are_named(pipe, inv):
    from ddim_course.attention import cross_attention_maps

    for bad in ("pocket", None):
        with pytest.raises(ValueError, match="pipe must be a Stable-Diffusion-style pipeline"):
            cross_attention_maps(bad, inv)
    with pytest.raises(ValueError, match=r"none of them 0, got \(1, 4, 16, 0\)"):
        decode(pipe, torch.randn(1, 4, 16, 0))


@pytest.mark.parametrize(
    "cond, uncond, match",
    [
        (torch.zeros(1, 16, 999), None, r"cond must be text embeddings .*\(batch, tokens, 32\)"),
        (torch.zeros(1, 16, 32, dtype=torch.complex64), None, "complex64"),
        (torch.full((1, 16, 32), float("nan")), None, "NaN or infinite"),
        (torch.zeros(1, 16, 32), torch.zeros(1, 3, 32), r"uncond must be .*shaped like cond \(1, 16, 32\)"),
        (torch.zeros(1, 16, 32), "x", "uncond must be None, an embedding or a list"),
        (torch.zeros(1, 16, 32), [torch.zeros(1, 16, 32), 5], r"uncond\[1\] must be text embeddings"),
    ],
)
def test_denoise_checks_its_embeddings(pipe, cond, uncond, match):
    steps = 2
    with pytest.raises(ValueError, match=match):
        denoise(pipe, torch.zeros(1, 4, 16, 16), cond, uncond, num_inference_steps=steps, guidance_scale=2)


@pytest.mark.parametrize(
    "maps, match",
    [
        ([1, 2, 3], "noise_maps must be a list of 2 tensors"),
        ((z for z in [torch.zeros(1, 4, 16, 16)] * 2), "noise_maps must be a list of 2 tensors"),
        ([torch.zeros(1, 4, 16, 16, dtype=torch.complex64)] * 2, r"noise_maps\[0\] must be a real float tensor"),
        ([torch.zeros(1, 4, 16, 16), torch.full((1, 4, 16, 16), float("inf"))], r"noise_maps\[1\].*NaN or infinite"),
    ],
)
def test_denoise_checks_its_noise_maps(pipe, maps, match):
    cond = torch.zeros(1, 16, 32)
    with pytest.raises(ValueError, match=match):
        denoise(
            pipe, torch.zeros(1, 4, 16, 16), cond, None, num_inference_steps=2, guidance_scale=1, eta=1, noise_maps=maps
        )


def test_edict_denoise_checks_its_latents(pipe):
    cond = torch.zeros(1, 16, 32)
    x = torch.zeros(1, 4, 16, 16)
    with pytest.raises(ValueError, match="NaN or infinite"):
        edict_denoise(pipe, torch.full_like(x, float("nan")), x, cond, None, num_inference_steps=2, guidance_scale=1)
    with pytest.raises(ValueError, match="x must be a torch tensor"):
        edict_denoise(pipe, [0.0], x, cond, None, num_inference_steps=2, guidance_scale=1)
    with pytest.raises(ValueError, match=r"must have one shape"):
        edict_denoise(pipe, x, torch.zeros(2, 4, 16, 16), cond, None, num_inference_steps=2, guidance_scale=1)


def test_ddim_step_checks_its_noise(pipe):
    a = pipe.scheduler.alphas_cumprod
    x = torch.zeros(1, 4, 8, 8)
    step = dict(final_alpha_cumprod=1.0, eta=0.5)
    with pytest.raises(ValueError, match="noise must be a real float tensor"):
        ddim_step(x, 500, 480, x, a, noise=torch.zeros(1, 4, 8, 8, dtype=torch.complex64), **step)
    with pytest.raises(ValueError, match="noise must be a real float tensor"):
        ddim_step(x, 500, 480, x, a, noise=torch.zeros(1, 4, 8, 8, device="meta"), **step)
    with pytest.raises(ValueError, match="noise holds"):
        ddim_step(x, 500, 480, x, a, noise=torch.full_like(x, float("nan")), **step)
    with pytest.raises(ValueError, match="noise is only used when eta > 0"):
        ddim_step(x, 500, 480, x, a, final_alpha_cumprod=1.0, noise=torch.zeros_like(x))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda x: ddim_update(x, x, 0.0, 0.5), r"alpha_t must be at least 1e-12"),
        (lambda x: predict_x0_and_eps(x, x, 1e-300), r"alpha_t must be at least 1e-12"),  # x0 was infinite
        (lambda x: ddim_update(x * float("nan"), x, 0.5, 0.6), "model_output holds .* NaN or infinite"),
        (
            lambda x: ddim_step(x, 21, 1, x * float("inf"), torch.full((1000,), 0.5), final_alpha_cumprod=1.0),
            "x_t holds",
        ),
        (lambda x: ddim_update(x, x, 1.5, 0.5), r"alpha_t must be a number in \[0, 1\]"),
        (lambda x: ddim_update(x, x, 0.5, -0.1), r"alpha_prev must be a number in \[0, 1\]"),
        (lambda x: ddim_update(x, x, 0.5, 0.6, eta=5, noise=x), r"eta must be a number in \[0, 1\]"),
        (lambda x: ddim_update(x, x, 0.5, 0.6, eta="0.5", noise=x), r"eta must be a number in \[0, 1\]"),
        (lambda x: ddim_update(x, x, 0.6, 0.5, eta=0.5, noise=x), "goes to a noisier latent"),
        (lambda x: ddim_update(x, x, torch.tensor([0.5, 0.0]), 0.6), r"alpha_t must hold noise levels in \[1e-12, 1\]"),
        (lambda x: predict_x0_and_eps(x, x, float("nan")), "alpha_t must be a number"),
        (lambda x: step_coefficients(0, 0.5), "alpha_t must be at least 1e-12"),
        (lambda x: step_coefficients(2.0, 0.5), r"alpha_t must be a number in \[0, 1\]"),
        (lambda x: ddim_sigma(1.0, 0.9, 0.5), "starts clean"),
        (lambda x: guide(torch.zeros(1, 4, 2, 2), torch.zeros(2, 4, 2, 2), 7.5), "must have one shape"),
        (lambda x: guide(x, x, "7.5"), r"guidance_scale must be a number in \[0, 100\]"),
        (lambda x: guide(x, x, float("nan")), r"guidance_scale must be a number in \[0, 100\]"),
        (lambda x: guide([1.0], x, 7.5), "out_uncond must be the model's output"),
    ],
)
def test_the_update_building_blocks_refuse_what_has_no_meaning(call, match):
    with pytest.raises(ValueError, match=match):
        call(torch.ones(1, 4, 2, 2))


def test_the_building_blocks_still_compute_what_they_teach():
    x, out = torch.randn(1, 4, 2, 2, dtype=torch.float64), torch.randn(1, 4, 2, 2, dtype=torch.float64)
    m, c = step_coefficients(0.3, 0.6)
    assert torch.allclose(ddim_update(out, x, 0.3, 0.6), m * x + c * out)
    batched = ddim_update(out, x, torch.tensor([0.3]).view(1, 1, 1, 1), torch.tensor([0.6]).view(1, 1, 1, 1))
    assert torch.allclose(batched, m * x + c * out)
    assert ddim_sigma(0.3, 0.6, 0.0) == 0.0 and ddim_sigma(0.3, 0.6, 1.0) > 0
    assert torch.allclose(guide(x, out, 1.0), out)


def test_edict_mix_below_a_half_is_refused_everywhere(pipe):
    from ddim_course.exact import edict_inverse_step, edict_invert

    x = torch.ones(1, 4, 2, 2)
    with pytest.raises(ValueError, match=r"mix must be a number in \[0.5, 1\]"):
        edict_inverse_step(x, x, lambda z: z, 1.0, 0.1, 0)
    with pytest.raises(ValueError, match=r"mix must be a number in \[0.5, 1\]"):
        edict_invert(pipe, draw_scene(seed=2).pil(), PROMPT, num_inference_steps=2, mix=0.01, progress=False)


@pytest.mark.parametrize(
    "maps, tokens, match",
    [
        ({8: torch.zeros(3, 8, 8, dtype=torch.int64)}, ["a", "b", "c"], "must be a float"),
        ({8: torch.zeros(3, 8, 8, device="meta")}, ["a", "b", "c"], "must be a float"),
        ({8: torch.full((3, 8, 8), float("nan"))}, ["a", "b", "c"], "NaN or infinite"),
        ({8: torch.zeros(3, 8, 8)}, None, "tokens must be a list"),
        ({8: torch.zeros(3, 8, 8)}, (t for t in "abc"), "tokens must be a list"),
    ],
)
def test_attention_maps_check_what_they_hold(maps, tokens, match):
    from ddim_course.attention import AttentionMaps

    with pytest.raises(ValueError, match=match):
        AttentionMaps(tokens, maps)


def test_the_prompt_to_prompt_explorer_checks_its_blend_words_when_made(pipe):
    from ddim_course.widgets import PromptToPromptExplorer

    with pytest.raises(ValueError, match="sky"):
        PromptToPromptExplorer(
            pipe, draw_scene(seed=3).pil(), PROMPT, "a blue circle on a striped background", blend_words=("sky",)
        )


def test_a_check_given_a_number_instead_of_a_function_says_so(pipe):
    from ddim_course.exercises import check_ddim_step, check_psnr

    for given in (5, 31.2, None):
        result = check_psnr(given)
        assert not result.passed and "not a function" in result.message and "check_psnr(my_psnr)" in result.message
    with pytest.raises(ValueError, match=r"final_alpha_cumprod must be a number in \(0, 1\]"):
        check_ddim_step(lambda *a: None, pipe.scheduler.alphas_cumprod, 10**400)


@pytest.mark.parametrize(
    "points, kwargs, match",
    [
        ({}, {}, "points must be a non-empty dict"),
        ([("ddim", 1.0)], {}, "points must be a non-empty dict"),
        ({("ddim", 1.0): (50, float("nan"))}, {}, "each entry of points must be"),
        ({(5, 1.0): (50, -1.0)}, {}, "each entry of points must be"),
        ({("ddim", 1.0): (50, -1.0)}, {"ax": "x"}, "ax must be a matplotlib Axes"),
        ({("ddim", 1.0): (50, -1.0)}, {"markers": ["o"]}, "markers must be a dict"),
    ],
)
def test_plot_error_against_calls_names_its_mistakes(points, kwargs, match):
    from ddim_course.plots import plot_error_against_calls

    with pytest.raises(ValueError, match=match):
        plot_error_against_calls(points, **kwargs)


def test_plot_attention_maps_names_its_mistakes(pipe, inv):
    from ddim_course.attention import AttentionMaps, cross_attention_maps
    from ddim_course.plots import plot_attention_maps

    maps = AttentionMaps(["<s>", "red", "</s>"], {8: torch.rand(3, 8, 8)})
    for kwargs, match in (
        ({"size": float("nan")}, r"size must be a number in \[0.5, 20\]"),
        ({"size": -1}, r"size must be a number"),
        ({"side": [8]}, r"no maps at side=list"),
        ({"side": 5}, r"no maps at 5 x 5; the UNet attends at \[8\]"),
        ({"image": np.zeros(5)}, r"the image has shape \(5,\); give \(H, W, 3\), \(3, H, W\) or \(H, W\)"),
    ):
        with pytest.raises(ValueError, match=match):
            plot_attention_maps(maps, **kwargs)
    with pytest.raises(ValueError, match="has no words"):
        plot_attention_maps(cross_attention_maps(pipe, inv, prompt=""))


def test_the_reader_helpers_refuse_what_is_not_a_picture():
    from ddim_course.pocket.reader import read_color, read_pattern, read_shape

    for pixels in (np.zeros((0, 3)), np.full((5, 3), np.nan), np.zeros((5, 4)), [[0.5, 0.2, 0.1]]):
        with pytest.raises(ValueError, match="rgb_pixels must be"):
            read_color(pixels)
    assert read_color(np.array([[0.9, 0.1, 0.1]] * 3)) == "red"
    assert read_color(np.array([[True, False, False]] * 3)) == "red"  # booleans are 0 and 1 (numpy's error before)
    with pytest.raises(ValueError, match=r"mask must be a \(H, W\) mask"):
        read_shape(None)
    with pytest.raises(ValueError, match="must have one shape"):
        read_pattern(np.zeros((8, 8)), np.ones((4, 4), bool))


def test_scene_helpers_refuse_broken_scenes():
    import dataclasses

    from ddim_course.pocket.scenes import edit_scene

    s = draw_scene(seed=1)
    broken = dataclasses.replace(s, image=np.full_like(s.image, np.nan))
    with pytest.raises(ValueError, match="NaN or infinite"):
        broken.pil()
    with pytest.raises(ValueError, match="scene must be drawn by draw_scene"):
        edit_scene(dataclasses.replace(s, params={}), color="blue")


@pytest.mark.parametrize(
    "call, match",
    [
        ("resize_and_crop('x.png', 8)", "resize_and_crop needs a PIL image"),
        ("to_rgb(None)", "to_rgb needs a PIL image"),
        ("show_source(5)", "show_source shows a function, class or module"),
        ("snapshot(None)", "snapshot needs an explorer's widget"),
        ("get_preset(pipe).image('pocket')", "pipe must be a Stable-Diffusion-style pipeline"),
    ],
)
def test_helpers_name_an_argument_of_the_wrong_type(pipe, call, match):
    from ddim_course.images import resize_and_crop, to_rgb  # noqa: F401 - used by the calls
    from ddim_course.models import get_preset  # noqa: F401
    from ddim_course.plots import show_source  # noqa: F401
    from ddim_course.widgets import snapshot  # noqa: F401

    with pytest.raises(ValueError, match=match):
        eval(call)


def test_an_answer_that_patches_torch_fails_and_torch_is_put_back(pipe):
    from ddim_course.exercises import check_add_noise

    def patched(x0, noise, t):
        torch.Tensor.abs = lambda self: torch.zeros((), dtype=torch.float64)  # every error would read 0
        return x0

    def patched_function(x0, noise, t):
        torch.isfinite = lambda x: torch.ones((), dtype=torch.bool)
        return x0

    own = torch.isfinite
    for answer, name in ((patched, "Tensor.abs"), (patched_function, "torch.isfinite")):
        result = check_add_noise(answer, pipe.scheduler.alphas_cumprod)
        assert not result.passed and f"changed torch itself ({name})" in result.message
    assert "abs" not in vars(torch.Tensor) and torch.isfinite is own


def test_wrong_answers_that_look_right_fail_and_right_ones_in_other_types_pass(pipe):
    from fractions import Fraction

    from ddim_course.exercises import check_add_noise, check_invert, check_psnr
    from ddim_course.metrics import psnr

    a = pipe.scheduler.alphas_cumprod

    def add_noise(x0, noise, t):
        return a[t].sqrt() * x0 + (1 - a[t]).sqrt() * noise

    half = check_add_noise(lambda x0, n, t: add_noise(x0, n, t).half(), a)
    assert not half.passed and "half precision" in half.message
    assert check_add_noise(add_noise, a).passed

    class Lying(list):  # says it holds the whole trajectory, holds one latent
        def __len__(self):
            return self.n

    def invert_one(x0, eps_model, timesteps):
        out = Lying([x0])
        out.n = len(timesteps) + 1
        return out

    result = check_invert(invert_one, a, pipe.scheduler.final_alpha_cumprod)
    assert not result.passed and "has 1 latents" in result.message
    exact = check_psnr(lambda x, y: Fraction(psnr(x, y)).limit_denominator(10**12))
    assert exact.passed, exact.message


def test_an_edit_explorer_checks_settings_changed_after_it_was_made(pipe):
    from ddim_course.widgets import EditExplorer

    e = EditExplorer(
        pipe, draw_scene(seed=3).pil(), PROMPT, "a blue circle on a striped background", num_inference_steps=3
    )
    e.start_step = 100
    with pytest.raises(ValueError, match="start_step"):
        e.widget()
    e.start_step, e.guidance_scale = 1, 50.0
    with pytest.raises(ValueError, match=r"guidance_scale must be a number in \[1, 15\]"):
        e.widget()


def test_a_snapshot_of_an_explorer_with_a_huge_prompt_stays_small(pipe):
    from ddim_course.widgets import guidance_explorer, snapshot

    box = guidance_explorer(pipe, PROMPT, num_inference_steps=2)
    box.children[0].children[0].value = "red " * 250_000
    assert "the end is cut off" in box.children[-1].value  # the warning is shown under the picture, not in a log
    picture = snapshot(box)
    assert picture.height < 1200  # 30 lines of text at most (it was 562,816 pixels high)


def test_a_snapshots_text_wraps_at_spaces_not_inside_words():
    """The pictures a page without a kernel shows read "signa / l scale" and "g / uidance: 2"."""
    from ddim_course.widgets import _wrap_lines

    lines = ["signal scale: 0.5; noise scale: 0.87; guidance: 2; background: striped", "", "x" * 50]
    rows = _wrap_lines(lines, 24)
    assert all(len(r) <= 24 for r in rows) and "" in rows
    words = " ".join(lines[0].split())
    assert " ".join(rows[: rows.index("")]) == words  # every word whole, in order
    assert "".join(rows[rows.index("") + 1 :]) == "x" * 50  # a word longer than a line is still cut


def test_an_explorers_note_is_cut_between_words():
    """The guidance explorer's note on unknown words ended "... background patterns (plain, striped, checkere"."""
    from ddim_course.widgets import _first_line

    words = "the pocket model never learned 'elephant': it knows the colours red, green and blue, " * 8
    line = _first_line(words + "\nsecond line")
    assert line.endswith(" ...") and len(line) <= 404 and words.startswith(line[:-4])
    assert line[:-4].split(" ")[-1] in words.split(" ")  # the last word shown is whole
    assert _first_line("short\nsecond") == "short"


def test_keeping_a_word_the_edit_changes_is_refused_before_the_edit_runs(pipe, inv):
    from ddim_course import edit
    from ddim_course.attention import PromptToPrompt

    for word in ("circle", "square"):
        with pytest.raises(ValueError, match="names a word the local blend uses"):
            edit(
                pipe,
                None,
                PROMPT,
                "a red square on a striped background",
                inversion=inv,
                control=PromptToPrompt(blend_keep_words=(word,)),
                progress=False,
            )


def test_token_words_end_at_the_prompts_own_end(pipe):
    from transformers import CLIPTokenizer

    from ddim_course.attention import token_ids, token_words
    from ddim_course.models import POCKET_DIR

    words = token_words(pipe, "a red \N{LARGE RED CIRCLE} circle on a striped background")
    assert words[-6:] == ["circle", "on", "a", "striped", "background", "<|endoftext|>"]  # not cut at the emoji
    bang = CLIPTokenizer.from_pretrained(POCKET_DIR / "tokenizer", pad_token="!")  # SD 2's padding token
    assert token_words(bang, "a red circle") == ["<|startoftext|>", "a", "red", "circle", "<|endoftext|>"]
    assert token_words(bang, "a red! circle")[-2:] == ["circle", "<|endoftext|>"]
    with pytest.raises(ValueError, match="a character that is not text"):
        token_ids(pipe, "a \udcff circle")


def test_a_direct_inversion_reconstructs_the_same_for_a_prompt_and_a_list_of_it(pipe):
    from ddim_course import reconstruct
    from ddim_course.inversions import METHODS

    inv = METHODS["direct"](pipe, draw_scene(seed=3).pil(), PROMPT, num_inference_steps=4, progress=False)
    one = reconstruct(pipe, inv, prompt=PROMPT, output_type="latent", progress=False)
    listed = reconstruct(pipe, inv, prompt=[PROMPT], output_type="latent", progress=False)
    assert torch.equal(one, listed) and torch.equal(one, inv.latents[0])


def test_null_text_with_no_inner_steps_is_refused(pipe):
    from ddim_course.inversions import METHODS

    with pytest.raises(ValueError, match=r"inner_steps must be a whole number in \[1, 1000\]"):
        METHODS["null-text"](pipe, draw_scene(seed=3).pil(), PROMPT, num_inference_steps=2, inner_steps=0)


def test_get_preset_takes_the_pocket_folder_as_a_path_or_a_string():
    from pathlib import Path

    from ddim_course.models import POCKET, POCKET_DIR, get_preset

    for model in (POCKET_DIR, str(POCKET_DIR), Path("pocket")):
        assert get_preset(model).name == POCKET


def test_small_helpers_name_their_mistakes():
    from ddim_course.attention import blend_mask
    from ddim_course.i18n import tr
    from ddim_course.timing import best_time

    with pytest.raises(ValueError, match="no message 'no_such_key'"):
        tr("no_such_key")
    with pytest.raises(ValueError, match="message 'raised' needs the value 'where'"):
        tr("raised")
    for repeats in (0, 2.5, None, True):
        with pytest.raises(ValueError, match="repeats must be a whole number >= 1"):
            best_time(lambda: None, repeats)
    with pytest.raises(ValueError, match="best_time needs a function"):
        best_time(3, 2)
    with pytest.raises(ValueError, match="too much to make at once"):
        blend_mask(torch.rand(10_000, 1, 1), 0.5, size=(4096, 4096))


def test_helpers_of_the_blend_the_registry_and_the_links_name_their_arguments(pipe):
    from ddim_course.attention import PromptToPrompt, align_tokens, blend_positions, keep_positions
    from ddim_course.inversions import METHODS
    from ddim_course.links import colab_url

    target = "a red square on a striped background"
    with pytest.raises(ValueError, match="controller must be a PromptToPrompt"):
        blend_positions(pipe, "p2p", align_tokens(pipe, PROMPT, target), PROMPT, target)
    with pytest.raises(ValueError, match="alignment must be align_tokens"):
        blend_positions(pipe, PromptToPrompt(), None, PROMPT, target)
    with pytest.raises(ValueError, match="controller must be a PromptToPrompt"):
        keep_positions(pipe, None, PROMPT, target)
    with pytest.raises(ValueError, match="options by name: pass 3 as name=value"):
        METHODS["ddim"](pipe, draw_scene(seed=3).pil(), PROMPT, 3)
    for bad in (None, "../../etc/passwd", "zh/../x.ipynb", "01.txt"):
        with pytest.raises(ValueError, match="notebook must be a notebook's path in notebooks/"):
            colab_url(bad)
    assert colab_url("zh/01_noise_schedule.ipynb").endswith("/notebooks/zh/01_noise_schedule.ipynb")


# --------------------------------------------------------------------------------------------------
# a second probe (2026-11-29, later): exercises and explorers
# --------------------------------------------------------------------------------------------------
SCHEDULE = torch.linspace(0.999, 0.01, 1000)


def _add_noise(x0, noise, t):
    return SCHEDULE[t].sqrt() * x0 + (1 - SCHEDULE[t]).sqrt() * noise


def test_stop_pressed_during_a_check_stops_the_answer_too():
    import signal
    import threading
    import time

    from ddim_course.exercises import check_psnr

    count = {"n": 0}

    def endless(a, b):
        while True:
            count["n"] += 1

    # what Jupyter's Stop button does: a real SIGINT, which wakes the check's wait at once (interrupt_main only sets
    # a flag that the wait notices when it ends, and on a loaded machine the check could return first)
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    before_handler = signal.signal(signal.SIGINT, signal.default_int_handler)  # whatever an earlier test left
    try:
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            check_psnr(endless)
    finally:
        signal.signal(signal.SIGINT, before_handler)
    time.sleep(0.5)
    before = count["n"]
    time.sleep(0.5)
    assert count["n"] == before, "the learner's loop must stop with the check, not spin for the rest of the session"


def test_an_answer_that_changes_torch_settings_fails_and_they_are_put_back():
    from ddim_course.exercises import check_add_noise

    def float64_by_default(x0, noise, t):
        torch.set_default_dtype(torch.float64)
        return _add_noise(x0, noise, t)

    result = check_add_noise(float64_by_default, SCHEDULE)
    assert not result.passed and "torch.set_default_dtype" in result.message and "put back" in result.message
    assert torch.get_default_dtype() == torch.float32 and torch.tensor([1.0]).dtype == torch.float32


def test_an_answer_leaves_the_random_stream_and_torch_functional_as_they_were():
    import torch.nn.functional as F

    from ddim_course.exercises import check_add_noise, check_psnr

    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    reseeding = check_add_noise(
        lambda x0, n, t: (torch.manual_seed(123), torch.rand(9), _add_noise(x0, n, t))[2], SCHEDULE
    )
    assert reseeding.passed  # right values; the seed it set is taken back
    assert torch.equal(torch.rand(3), expected), "the learner's random stream must go on as if the check never ran"
    mse = F.mse_loss

    def patching(a, b):
        F.mse_loss = lambda *args, **kwargs: torch.tensor(0.0)
        return 10 * torch.log10(1 / ((a - b) ** 2).mean()).item()

    result = check_psnr(patching)
    assert not result.passed and "torch.nn.functional.mse_loss" in result.message and F.mse_loss is mse


def test_check_start_index_grades_the_number_an_int_subclass_indexes_with():
    from ddim_course.exercises import check_start_index

    class Liar(int):
        def __int__(self):
            return 50 - self.s

    def lying(s):
        x = Liar(7)
        x.s = s
        return x

    result = check_start_index(lying)
    assert not result.passed and "latents[7]" in result.message


def test_a_method_explorer_forgets_inversions_made_with_other_settings(pipe):
    from ddim_course.widgets import MethodExplorer

    image = draw_scene(seed=3).pil()
    m = MethodExplorer(pipe, image, PROMPT, "a blue circle", num_inference_steps=3, inner_steps=1)
    first = m.inversion("null-text", 3.5)
    assert m.inversion("null-text", 3.5) is first  # kept while nothing changed
    m.method_options["null-text"]["inner_steps"] = 2
    assert m.inversion("null-text", 3.5).info["inner_steps"] == 2 and m.inversion("null-text", 3.5) is not first
    ddim = m.inversion("ddim", 1.0)
    m.image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    again = m.inversion("ddim", 1.0)
    assert not torch.equal(again.clean_latent, ddim.clean_latent), "a new picture must be inverted again"


def test_an_edit_explorer_inverts_a_changed_picture_again(pipe):
    from ddim_course.widgets import EditExplorer

    image = draw_scene(seed=3).pil()
    e = EditExplorer(pipe, image, PROMPT, "a blue circle", num_inference_steps=2, start_step=0)
    old = e.inversion
    e.image = draw_scene(seed=4).pil()
    e.apply()
    assert e.inversion is not old and not torch.equal(e.inversion.clean_latent, old.clean_latent)


def test_compare_at_start_step_refuses_another_picture_and_a_batch(pipe, inv):
    from ddim_course.widgets import compare_at_start_step

    with pytest.raises(ValueError, match="image is not the picture this inversion was made from"):
        compare_at_start_step(pipe, Image.new("RGB", (64, 64), "white"), inv, 0)
    pair = invert(
        pipe, [draw_scene(seed=3).pil(), draw_scene(seed=4).pil()], PROMPT, num_inference_steps=2, progress=False
    )
    with pytest.raises(ValueError, match="this inversion holds 2 pictures"):
        compare_at_start_step(pipe, draw_scene(seed=3).pil(), pair, 0)


def test_explorers_check_prompt_text_and_the_inversion_s_model_when_made(pipe):
    from ddim_course.widgets import EditExplorer, MethodExplorer, guidance_explorer, start_step_explorer
    from tests.conftest import tiny_pipeline

    image = draw_scene(seed=3).pil()
    with pytest.raises(ValueError, match="prompt holds a character that is not text"):
        guidance_explorer(pipe, "a red \ud800 circle", num_inference_steps=2)
    with pytest.raises(ValueError, match="target_prompt holds a character that is not text"):
        EditExplorer(pipe, image, PROMPT, "a blue \ud800 circle", num_inference_steps=2)
    other = tiny_pipeline(seed=7)
    with pytest.raises(ValueError, match="this inversion was made by the model"):
        start_step_explorer(other, image, invert(pipe, image, PROMPT, num_inference_steps=2, progress=False))
    m = MethodExplorer(pipe, image, PROMPT, "a blue circle", num_inference_steps=2)
    with pytest.raises(ValueError, match=r"guidance must be one of \[1.0, 3.5, 7.5\], got True"):
        m.widget("ddim", True)


# --------------------------------------------------------------------------------------------------
# a second probe (2026-11-29, later): files, command lines, loading
# --------------------------------------------------------------------------------------------------
def test_load_image_never_hands_a_file_to_an_outside_program(tmp_path, monkeypatch):
    from ddim_course import ImageLoadError, load_image

    ran = tmp_path / "gs_ran"
    gs = tmp_path / "bin" / "gs"
    gs.parent.mkdir()
    gs.write_text(f"#!/bin/sh\ntouch {ran}\nexit 1\n", encoding="utf-8")
    gs.chmod(0o755)
    monkeypatch.setenv("PATH", f"{gs.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    eps = tmp_path / "picture.png"  # the name says PNG; the content is PostScript, which PIL gives to Ghostscript
    eps.write_text(
        "%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nnewpath 0 0 moveto 10 10 lineto stroke\n", encoding="utf-8"
    )
    with pytest.raises(ImageLoadError, match="is in the EPS format, which the course does not open"):
        load_image(str(eps))
    assert not ran.exists(), "Ghostscript must never run on a learner's input"


def test_a_copy_that_fails_part_way_leaves_no_half_written_file(tmp_path, monkeypatch):
    import errno
    import shutil

    from ddim_course import files

    def no_hard_links(src, dst):  # FAT and exFAT sticks, some network shares
        raise PermissionError(errno.EPERM, "Operation not permitted")

    def disk_full(src, dst, *args, **kwargs):
        dst.write(src.read(10))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "link", no_hard_links)
    monkeypatch.setattr(shutil, "copyfileobj", disk_full)
    out = tmp_path / "result.png"
    with pytest.raises(OSError, match="No space left"):
        files.write_atomically(out, lambda p: p.write_bytes(b"\x89PNG" + b"x" * 4000))
    assert not out.exists() and list(tmp_path.iterdir()) == [], "nothing half-written, no temporary file left"


def test_a_full_disk_while_saving_an_inversion_is_an_oserror_that_says_so(tmp_path, monkeypatch, inv):
    import safetensors.torch

    def full(*args, **kwargs):
        raise safetensors.SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(safetensors.torch, "save_file", full)
    with pytest.raises(
        OSError, match=r"could not write .*inv\.safetensors: .*No space left on device.*free some space"
    ):
        inv.save(tmp_path / "inv.safetensors")
    assert list(tmp_path.iterdir()) == []


def test_the_links_command_changes_nothing_on_help_or_a_typo(monkeypatch):
    from ddim_course import links

    monkeypatch.setattr(links, "update", lambda write=True: pytest.fail("no file may be read or written"))
    for argv, code in ((["--help"], 0), (["--chek"], 2)):
        with pytest.raises(SystemExit) as stop:
            links.main(argv)
        assert stop.value.code == code


def test_a_closed_output_pipe_is_one_line_not_a_failure_once_written(monkeypatch, tmp_path):
    import subprocess
    import sys

    import ddim_course.__main__ as cli

    def closed_after_writing(args):
        args.written = "out.png"
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(cli, "_run", closed_after_writing)
    monkeypatch.setattr(cli.os, "dup2", lambda *a: None)  # the test's own stdout stays as it is
    assert cli.main(["invert", "x.png", "--prompt", "p", "-o", str(tmp_path / "i.safetensors")]) == 0
    # a real pipe closed before anything was written: one line on stderr, no traceback
    example = str(__import__("ddim_course").example_image("pocket_example"))
    cmd = [sys.executable, "-m", "ddim_course", "invert", example, "--prompt", PROMPT, "--model", "pocket"]
    child = subprocess.Popen(
        [*cmd, "--steps", "2", "-o", str(tmp_path / "o.safetensors")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ, HF_HUB_OFFLINE="1"),
    )
    child.stdout.close()  # `| head -0`
    err = child.stderr.read().decode()
    assert child.wait(timeout=300) == 1
    assert "output pipe was closed" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_an_interrupted_training_run_leaves_out_as_it_was(tmp_path, monkeypatch):
    from ddim_course.pocket import train

    out = tmp_path / "run"
    out.mkdir()
    (out / "training_args.json").write_text(
        "{}\n", encoding="utf-8"
    )  # an earlier run of the learner's, replaced only when complete
    (out / "train_log.jsonl").write_text('{"phase": "done"}\n', encoding="utf-8")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "train_vae", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train.main(["--out", str(out), "--smoke", "--no-progress", "--force"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"], "no unfinished run left beside --out"
    assert (out / "train_log.jsonl").read_text(encoding="utf-8") == '{"phase": "done"}\n' and len(
        list(out.iterdir())
    ) == 2


def test_training_reads_other_weights_only_as_safetensors(tmp_path, capsys):
    from ddim_course.pocket import train

    vae = tmp_path / "pickled" / "vae"
    vae.mkdir(parents=True)
    (vae / "config.json").write_text("{}", encoding="utf-8")
    (vae / "diffusion_pytorch_model.bin").write_bytes(b"not read")
    with pytest.raises(SystemExit):
        train.main(["--out", str(tmp_path / "out"), "--smoke", "--vae-from", str(tmp_path / "pickled")])
    assert "no vae/*.safetensors there" in capsys.readouterr().err


def test_a_hub_id_without_network_fails_at_once_with_what_to_do(monkeypatch):
    import socket
    import time

    from ddim_course import ModelLoadError, load_pipeline

    def no_network(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    start = time.perf_counter()
    with pytest.raises(ModelLoadError, match="cannot be reached .*does not resolve.*set HF_HUB_OFFLINE=1"):
        load_pipeline("nobody/nothing-here")
    assert time.perf_counter() - start < 10, "no half minute of retries"


def _pocket_copy(tmp_path):
    import shutil

    from ddim_course.models import POCKET_DIR

    folder = tmp_path / "model"
    shutil.copytree(POCKET_DIR, folder)
    return folder


@pytest.mark.parametrize(
    "change, match",
    [
        (
            {"scheduler": ["diffusers", "EvilScheduler"]},
            "its scheduler is a EvilScheduler, which diffusers does not have",
        ),
        ({"image_encoder": ["evil", "Evil"]}, "takes image_encoder from .*custom code"),
    ],
)
def test_a_local_folder_s_errors_name_the_folder_not_the_hub(tmp_path, change, match):
    import json

    from ddim_course import ModelLoadError, load_pipeline

    folder = _pocket_copy(tmp_path)
    index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    (folder / "model_index.json").write_text(json.dumps(index | change), encoding="utf-8")
    with pytest.raises(ModelLoadError, match=match) as caught:
        load_pipeline(str(folder))
    assert "Hugging Face Hub" not in str(caught.value)


def test_another_model_s_weights_in_a_folder_are_named_without_a_flood(tmp_path, capfd):
    import shutil

    from ddim_course import ModelLoadError, load_pipeline

    folder = _pocket_copy(tmp_path)
    shutil.copy(
        folder / "vae" / "diffusion_pytorch_model.safetensors", folder / "unet" / "diffusion_pytorch_model.safetensors"
    )
    with pytest.raises(ModelLoadError, match="its weights do not match its config.json"):
        load_pipeline(str(folder))
    err = capfd.readouterr().err
    assert len(err) < 2000, f"diffusers' list of unused weights must not reach the learner ({len(err)} characters)"


def test_example_image_takes_a_name_with_or_without_its_extension_and_nothing_else():
    from ddim_course import example_image

    assert example_image("cat.jpg") == example_image("cat")
    for bad, match in (
        (None, "must be the name of an example image"),
        (3, "a string"),
        ("../README", "not|no example"),
    ):
        with pytest.raises(ValueError, match=match):
            example_image(bad)


# --------------------------------------------------------------------------------------------------
# a third probe (2026-11-29, later): editing, attention control and the edit benchmark
# --------------------------------------------------------------------------------------------------
def test_run_edits_uses_a_row_s_own_controller_and_checks_rows_before_any_work(pipe, monkeypatch):
    import ddim_course.bench.edits as bench
    from ddim_course.attention import PromptToPrompt
    from ddim_course.pocket.pie_tiny import pie_tiny

    mine = PromptToPrompt(blend=False, cross_replace_steps=0, self_replace_steps=0)
    used = []
    real = bench.edit
    monkeypatch.setattr(bench, "edit", lambda *a, **k: (used.append(k["control"]), real(*a, **k))[1])
    cases = pie_tiny(1, kinds=("colour",))
    bench.run_edits(pipe, cases, rows=(("mine", "ddim", mine),), steps=2)
    assert used == [mine], "a row's PromptToPrompt is the one the edit uses"
    for rows, match in (
        (("ddim", "direct"), "each row must be"),
        ((("x", "Null-Text", "none"),), "control must be None"),
        ((("x", "nope", None),), "unknown|method"),
        ((("a", "ddim", None), ("a", "direct", None)), "two rows are labelled 'a'"),
    ):
        with pytest.raises(ValueError, match=match):
            bench.run_edits(pipe, cases, rows=rows, steps=2)
    assert len(used) == 1, "no edit ran for bad rows"
    one = bench.run_edits(pipe, cases[0], rows=(("swap", "null-text", None),), steps=2)  # one case, any spelling
    assert len(one["swap"]) == 1
    with pytest.raises(ValueError, match="kinds must be some of"):
        bench.summary_rows(one, kinds=("color",))
    assert bench.summary_rows(one, kinds="colour") and bench.summary_rows(one, kinds="colour")[0][0] == "colour"
    with pytest.raises(ValueError, match="'DDIM \\+ prompt swap' row"):
        bench.cost_table(one)


def test_methods_check_guidance_before_inverting(pipe, monkeypatch):
    import ddim_course.inversions as inversions

    monkeypatch.setattr(inversions, "invert", lambda *a, **k: pytest.fail("the inversion must not run"))
    for name in ("ddim", "direct"):
        with pytest.raises(ValueError, match="guidance_scale"):
            inversions.METHODS[name](pipe, draw_scene(seed=3).pil(), PROMPT, guidance_scale="7.5")


def test_a_ddpm_edit_made_here_is_seeded_or_warned_about(pipe):
    from ddim_course import edit
    from ddim_course.inversions import METHODS

    assert [name for name, method in METHODS.items() if method.draws_noise] == ["ddpm"]  # what edit and the CLI seed
    image = draw_scene(seed=3).pil()
    kw = dict(inversion="ddpm", num_inference_steps=3, start_step=0, progress=False, output_type="latent")
    a = edit(pipe, image, PROMPT, "a blue circle", generator=torch.Generator().manual_seed(0), **kw)
    b = edit(pipe, image, PROMPT, "a blue circle", generator=torch.Generator().manual_seed(0), **kw)
    assert torch.equal(a, b), "the same seed must give the same edit"
    with pytest.warns(UserWarning, match="differ from run to run"):
        edit(pipe, image, PROMPT, "a blue circle", **kw)
    with pytest.raises(ValueError, match="inversion='ddim' draws no noise"):
        edit(pipe, image, PROMPT, "a blue circle", generator=torch.Generator(), inversion="ddim", start_step=0)
    made = invert(pipe, image, PROMPT, num_inference_steps=3, progress=False)
    with pytest.raises(ValueError, match="reuses the Inversion it was given"):  # was "not Generator with ddim"
        edit(pipe, None, PROMPT, "a blue circle", generator=torch.Generator(), **kw | {"inversion": made})
    with pytest.raises(ValueError, match="generator must be a torch.Generator"):
        edit(pipe, image, PROMPT, "a blue circle", generator=0, **kw)
    with warnings.catch_warnings():  # refused before the warning: no word about an edit that is not made
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="prompt-to-prompt editing from a 'ddpm' inversion is not built"):
            edit(pipe, image, PROMPT, "a blue circle", control="prompt-to-prompt", **kw)


def test_a_blend_that_would_never_start_is_refused():
    from ddim_course.attention import PromptToPrompt

    with pytest.raises(ValueError, match="blend_start must be below 1 when blending"):
        PromptToPrompt(blend_start=1.0)
    assert PromptToPrompt(blend=False, blend_start=1.0).blend is False


def test_a_forced_run_replaces_only_the_run_and_keeps_the_folder_and_your_files(tmp_path, monkeypatch):
    from ddim_course.pocket import train

    out = tmp_path / "run"
    out.mkdir()
    out.chmod(0o2775)
    (out / "training_args.json").write_text("old\n", encoding="utf-8")
    (out / "README.md").write_text("the model card\n", encoding="utf-8")  # not part of a run: kept

    def fake_training(args, work):
        (work / "training_args.json").write_text("new\n", encoding="utf-8")
        (work / "unet").mkdir()

    monkeypatch.setattr(train, "_train", fake_training)
    train.main(["--out", str(out), "--smoke", "--no-progress", "--force"])
    assert (out / "training_args.json").read_text(encoding="utf-8") == "new\n" and (out / "unet").is_dir()
    assert (out / "README.md").read_text(encoding="utf-8") == "the model card\n"
    assert out.stat().st_mode & 0o7777 == 0o2775, "the folder itself (its mode) is left as it was"
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "training_args.json", "unet"], "nothing left over"


def test_review_mends_blend_start_runs_formats_and_a_stop_puts_torch_back(pipe, monkeypatch, tmp_path):
    import ddim_course.bench.edits as bench
    from ddim_course import ImageLoadError, edit, exercises, load_image
    from ddim_course.attention import PromptToPrompt
    from ddim_course.pocket.pie_tiny import pie_tiny

    image = draw_scene(seed=3).pil()
    late = PromptToPrompt(blend_start=0.95)  # 10 steps: the blend would start at step 9.5, after the last
    with pytest.raises(ValueError, match=r"leaves no step of this 10-step run \(num_inference_steps - start_step\)"):
        edit(pipe, image, PROMPT, "a blue circle", control=late, num_inference_steps=10, start_step=0)
    # the preset's blend starts after a fifth of the run: a 1-step run blends from its step (it was refused, with
    # advice about blend_start, which the string control cannot take)
    for steps, start in ((1, 0), (5, 4)):
        one = edit(pipe, image, PROMPT, "a blue circle", control="prompt-to-prompt", num_inference_steps=steps,
                   start_step=start, progress=False)  # fmt: skip
        assert len(one) == 1 and one[0].size == image.size
    with pytest.raises(ValueError, match="row 'x': prompt-to-prompt edits from a DDIM-sampled inversion"):
        bench.run_edits(pipe, pie_tiny(1), rows=(("x", "edict", "prompt-to-prompt"),), steps=2)
    cases = (c for c in pie_tiny(1, kinds=("colour",)))  # a generator of cases
    assert len(bench.run_edits(pipe, cases, rows=(("s", "ddim", None),), steps=2)["s"]) == 1
    pcx = tmp_path / "picture.pcx"
    Image.new("RGB", (8, 8), "red").save(pcx)
    with pytest.raises(ImageLoadError, match="is in the PCX format, which the course does not open"):
        load_image(str(pcx))
    monkeypatch.setattr(exercises, "TIME_LIMIT", 1.0)

    def slow_and_meddling(a, b):
        torch.set_default_dtype(torch.float64)
        while True:
            pass

    assert "took over" in exercises.check_psnr(slow_and_meddling).message
    assert torch.get_default_dtype() == torch.float32, "what an answer changed is put back after a time-out too"


def test_an_edit_explorer_inverts_again_for_a_new_prompt_step_count_or_path(pipe):
    from ddim_course import example_image
    from ddim_course.widgets import EditExplorer

    e = EditExplorer(pipe, draw_scene(seed=3).pil(), PROMPT, "a blue circle", num_inference_steps=2, start_step=0)
    old = e.inversion
    e.source_prompt = "a red circle"
    e.apply()
    assert e.inversion is not old and e.inversion.prompt == "a red circle"
    e.num_inference_steps = 3
    e.apply()
    assert e.inversion.num_inference_steps == 3
    e.image = str(example_image("pocket_example"))  # a path, as the explorer takes when it is made
    e.apply()
    assert isinstance(e.image, Image.Image) and e.inversion.num_inference_steps == 3


def test_behind_a_proxy_the_hub_is_not_judged_by_this_machine_s_name_lookup(monkeypatch):
    import socket

    from ddim_course.models import _hub_unreachable

    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: (_ for _ in ()).throw(socket.gaierror(-2, "no")))
    assert _hub_unreachable()
    monkeypatch.setenv("HTTPS_PROXY", "http://10.0.0.1:3128")  # only the proxy resolves outside names
    assert not _hub_unreachable()


# --------------------------------------------------------------------------------------------------
# a fourth probe (2026-11-29, last): the core functions
# --------------------------------------------------------------------------------------------------
def test_psnr_on_the_8_bit_scale_reads_pil_images_on_it_and_refuses_mixed_scales():
    from ddim_course import psnr

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-10, 11, a.shape), 0, 255).astype(np.uint8)
    right = psnr(Image.fromarray(a), Image.fromarray(b))
    assert psnr(Image.fromarray(a), Image.fromarray(b), data_range=255) == pytest.approx(right)  # was 80.6 dB
    assert (
        psnr(a, b, data_range=255) == pytest.approx(right) and psnr(a, Image.fromarray(a), data_range=255) == math.inf
    )
    for x, y in ((a / 255, b / 255), (a, b / 255)):
        with pytest.raises(ValueError, match="data_range=255 is for images in \\[0, 255\\]"):
            psnr(x, y, data_range=255)
    with pytest.raises(ValueError, match="pass result\\[0\\]"):
        psnr(Image.fromarray(a), [Image.fromarray(a)])


def test_load_pipeline_gives_the_model_as_loaded_after_an_experiment_on_its_scheduler():
    from diffusers import DDIMScheduler, EulerDiscreteScheduler

    from ddim_course import load_pipeline

    pipe = load_pipeline("pocket")
    pipe.scheduler = EulerDiscreteScheduler.from_config(pipe.scheduler.config)
    with pytest.warns(UserWarning, match="put its DDIM scheduler back"):
        again = load_pipeline("pocket")
    assert again is pipe and type(again.scheduler) is DDIMScheduler
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config, prediction_type="v_prediction")
    with pytest.warns(UserWarning):
        assert load_pipeline("pocket").scheduler.config.prediction_type == "epsilon"


def test_an_inversion_shows_a_short_summary_and_keeps_numpy_numbers_when_saved(tmp_path, inv):
    from ddim_course import Inversion

    text = repr(inv)
    assert len(text) < 400 and "latents: 5 of (1, 4, 16, 16)" in text and "tensor(" not in text
    kept = Inversion(**{**inv.__dict__, "info": {"psnr": np.float32(31.5), "steps": torch.tensor(3)}})
    kept.save(tmp_path / "i.safetensors")
    assert Inversion.load(tmp_path / "i.safetensors").info == {"psnr": 31.5, "steps": 3}


def test_an_error_in_an_explorer_callback_shows_in_its_label_not_in_a_log(pipe):
    from ddim_course.widgets import MethodExplorer, PromptToPromptExplorer

    image = draw_scene(seed=3).pil()
    target = "a blue circle on a striped background"
    m = MethodExplorer(pipe, image, PROMPT, target, start_step=0, num_inference_steps=2)
    box = m.widget("ddim", 1.0)
    scale, label = box.children[0].children[1], box.children[-1]
    m.image = "/nonexistent.png"  # the kept inversions' settings can't be read: raised before _busy until now
    scale.value = 3.5  # the callback runs; nothing is raised out of it
    assert "could not" in label.value and "no such image file: /nonexistent.png" in label.value, label.value
    p = PromptToPromptExplorer(pipe, image, PROMPT, target, num_inference_steps=2)
    box = p.widget(method="ddim")
    cross, label = box.children[1].children[0], box.children[-1]
    p.guidance_scale = 1000
    cross.value = 0.5
    assert "could not" in label.value and "guidance" in label.value, label.value


def test_an_edit_explorer_s_widget_follows_a_programmatic_apply_and_a_failed_apply_keeps_the_last_edit(
    pipe, monkeypatch
):
    import ddim_course.widgets as widgets
    from ddim_course.widgets import EditExplorer, _png

    e = EditExplorer(pipe, draw_scene(seed=3).pil(), PROMPT, "a blue circle", num_inference_steps=3, start_step=0)
    box = e.widget()
    text, start, guidance, button = box.children[0].children[0], box.children[1], box.children[2], box.children[3]
    after, label = box.children[4].children[1], box.children[-1]
    e.start_step, e.guidance_scale, e.target_prompt = 2, 3.0, "a green circle"  # as notebook 05 does
    shown = e.apply()
    assert (start.value, guidance.value, text.value) == (2, 3.0, "a green circle")
    assert after.value == _png(shown) and "start_step 2, guidance 3" in label.value, label.value
    button.click()  # the next Apply edits from what the explorer shows, not from the old slider
    assert e.start_step == 2 and e.guidance_scale == 3.0 and e.target_prompt == "a green circle"
    e.num_inference_steps = 4  # a new step count: inverted again, and the slider reaches the new last step
    e.start_step = 3
    e.apply()
    assert start.max == 3 and start.value == 3

    def failing(*args, **kwargs):
        raise ValueError("the edit failed")

    monkeypatch.setattr(widgets, "edit", failing)
    before = e.result
    text.value, start.value = "a red circle", 1
    button.click()
    assert "could not" in label.value and "the edit failed" in label.value
    assert (e.target_prompt, e.start_step, e.guidance_scale) == ("a green circle", 3, 3.0)  # the settings it shows
    assert e.result is before


def test_prompts_the_text_encoder_reads_alike_are_one_prompt_to_an_inversion(pipe):
    """A direct inversion reconstructed exactly with its own prompt but at 13.8 dB with 'P ' or 'P' capitalised (the
    same tokens), and an edit warned that such a source prompt 'no longer retraces the picture'."""
    from ddim_course import METHODS, edit, reconstruct
    from ddim_course.ddim import read_alike

    image = draw_scene(seed=3).pil()
    inv = METHODS["direct"](pipe, image, PROMPT, num_inference_steps=4, guidance_scale=7.5, progress=False)
    for alike in (PROMPT + " ", PROMPT.capitalize(), PROMPT.replace(" ", "  "), [PROMPT]):
        assert read_alike(pipe, alike, PROMPT)
        back = reconstruct(pipe, inv, prompt=alike, output_type="latent", progress=False)
        assert torch.equal(back, inv.clean_latent), alike
    assert not read_alike(pipe, "a blue circle on a striped background", PROMPT)
    assert not read_alike(pipe, [PROMPT, PROMPT], [PROMPT, PROMPT, PROMPT])
    ddim = invert(pipe, image, PROMPT, num_inference_steps=4, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        edit(pipe, None, PROMPT.upper(), "a blue circle on a striped background", inversion=ddim,
             num_inference_steps=4, start_step=0, progress=False, output_type="latent")  # fmt: skip
    with pytest.warns(UserWarning, match="no longer retraces the picture"):
        edit(pipe, None, "a blue square on a striped background", PROMPT, inversion=ddim,
             num_inference_steps=4, start_step=0, progress=False, output_type="latent")  # fmt: skip


def test_a_null_text_path_is_not_reused_once_its_guidance_was_changed(pipe):
    """The path a null-text inversion records holds for the guidance it was recorded at: a learner who set
    inv.guidance_scale = 5 got an edit whose source followed the guidance-2 path, 0.97 off, with no word."""
    import copy

    from ddim_course import METHODS
    from ddim_course.editing import _source_path

    inv = METHODS["null-text"](pipe, draw_scene(seed=3).pil(), PROMPT, num_inference_steps=3, guidance_scale=2.0,
                               inner_steps=1, progress=False)  # fmt: skip
    assert _source_path(inv, inv.prompt, 2.0, 0) is inv.sampled_latents
    changed = copy.deepcopy(inv)
    changed.guidance_scale = 5.0
    assert _source_path(changed, changed.prompt, 5.0, 0) is None  # sampled, not read off the old path


def test_edit_starts_a_fifth_of_the_way_by_default_and_names_a_missing_picture(pipe):
    from ddim_course import edit

    image = draw_scene(seed=3).pil()
    kw = dict(progress=False, output_type="latent")
    a = edit(pipe, image, PROMPT, "a blue circle on a striped background", num_inference_steps=5, **kw)
    b = edit(pipe, image, PROMPT, "a blue circle on a striped background", num_inference_steps=5, start_step=1, **kw)
    assert torch.equal(a, b)  # 5 // 5: a fixed 10 was refused ("start_step must be in [0, 4]") under 11 steps
    for inversion in (None, "null-text", "edict"):
        with pytest.raises(ValueError, match="image is None, but inversion=.* inverts the picture here"):
            edit(pipe, None, PROMPT, "a blue circle", inversion=inversion, num_inference_steps=5, **kw)


def test_a_black_float_picture_is_on_every_scale():
    """psnr(zeros, a 0-255 float image, data_range=255) was refused as 'one of them is in [0, 1]'."""
    from ddim_course import psnr

    img = np.random.default_rng(0).uniform(0, 255, (16, 16, 3))
    by_hand = 10 * math.log10(255**2 / np.mean(img**2))
    assert psnr(np.zeros_like(img), img, data_range=255) == pytest.approx(by_hand)
    assert psnr(np.zeros_like(img), img * 1.5 / 255, data_range=2) == pytest.approx(
        10 * math.log10(4 / np.mean((img * 1.5 / 255) ** 2))
    )
    with pytest.raises(ValueError, match="one of them is in \\[0, 1\\]"):
        psnr(img / 255 / 2, img, data_range=255)  # a picture in [0, 1] beside one on 0-255 is still refused


def test_a_word_is_found_word_for_word_and_a_special_token_in_a_prompt_is_named(pipe):
    from ddim_course.attention import AttentionMaps, align_tokens

    tokens = ["<|startoftext|>", "a", "red", "circle", "on", "a", "striped", "background", "<|endoftext|>"]
    maps = AttentionMaps(tokens, {8: torch.arange(9.0).view(9, 1, 1).expand(9, 8, 8).contiguous()}, [True] * 9)
    assert maps.word("red circle").mean() == 2.5 and maps.word("Striped").mean() == 6  # whole words, any case
    for glued in ("ona", "circleon", "redcircle", "re d"):
        with pytest.raises(ValueError, match=f"{glued!r} is not one of the prompt's words"):
            maps.word(glued)
    with pytest.raises(ValueError, match="holds '<\\|endoftext\\|>', the tokenizer's own marker"):
        align_tokens(pipe, PROMPT, "a blue circle<|endoftext|> on a striped background")
    # words the tokenizer cuts at a sign or digit are still words; "!" (SD 2's padding token) is a word as any other
    cut = ["<s>", "a", "red", "t", "-", "shirt", "4", "2", "</s>"]
    cut_maps = AttentionMaps(cut, {8: torch.arange(9.0).view(9, 1, 1).expand(9, 8, 8).contiguous()}, [True] * 9)
    assert cut_maps.word("t-shirt").mean() == 4 and cut_maps.word("42").mean() == 6.5
    from transformers import CLIPTokenizer

    from ddim_course.models import POCKET_DIR

    sd2_like = CLIPTokenizer.from_pretrained(POCKET_DIR / "tokenizer", pad_token="!")
    assert align_tokens(sd2_like, "a red circle!", "a blue circle!").changed_source == [2]


def test_edit_branches_reads_control_as_edit_does_and_names_a_trace_that_is_no_list(pipe, inv):
    from ddim_course import get_preset
    from ddim_course.attention import PromptToPrompt
    from ddim_course.editing import edit_branches

    kw = dict(start_step=2, guidance_scale=7.5, progress=False)
    by_name = edit_branches(pipe, inv, PROMPT, "a blue circle on a striped background", controller="p2p", **kw)
    preset = PromptToPrompt(**get_preset(pipe).prompt_to_prompt)
    made = edit_branches(pipe, inv, PROMPT, "a blue circle on a striped background", controller=preset, **kw)
    assert all(torch.equal(x, y) for x, y in zip(by_name, made))
    with pytest.raises(ValueError, match="trace must be a list"):
        edit_branches(pipe, inv, PROMPT, "a blue circle", controller=None, trace=(), **kw)


def test_sigterm_is_an_interrupt_only_inside_the_block_that_cleans_up():
    import signal

    from ddim_course.files import stops_as_interrupt

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), stops_as_interrupt():
        signal.raise_signal(signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is before  # Python's own handling again afterwards


# --------------------------------------------------------------------------------------------------
# a probe of the least-tested public functions (2026-11-29, second session)
# --------------------------------------------------------------------------------------------------
def test_plot_attention_maps_reads_its_picture_as_show_images_does_and_draws_a_flat_map_at_its_value():
    """A 0-255 float picture was drawn white (clipped), a NaN one blank, an empty one failed in numpy; a map of one
    value was drawn black, as if the word looked nowhere; a map that requires grad failed in torch."""
    import matplotlib

    matplotlib.use("Agg")
    from ddim_course.attention import AttentionMaps
    from ddim_course.plots import plot_attention_maps

    maps = AttentionMaps(["<s>", "red", "</s>"], {4: torch.rand(3, 4, 4)})
    picture = draw_scene(seed=0).image
    for image, said in (
        (picture * 255, "plot_attention_maps: the image: needs values in \\[0, 1\\]"),
        (np.full((8, 8, 3), np.nan), "plot_attention_maps: the image: .*NaN"),
        (np.zeros((0, 0, 3)), "plot_attention_maps: the image has shape \\(0, 0, 3\\)"),
    ):
        with pytest.raises(ValueError, match=said):
            plot_attention_maps(maps, image)
    assert len(plot_attention_maps(maps, picture).axes) == 2
    with pytest.raises(
        ValueError, match="has shape \\(1, 3, 8, 8\\); give \\(H, W, 3\\), \\(3, H, W\\) or \\(H, W\\)$"
    ):
        plot_attention_maps(maps, torch.rand(1, 3, 8, 8))  # one picture: no word of batches, which it does not show
    # every word on one scale, 0 to the largest value of all: a word that looks less anywhere is darker (stretched
    # to its own range, "on" and "a" looked as sure of their place as the colour word)
    values = torch.stack([torch.zeros(4, 4), torch.full((4, 4), 0.3), torch.linspace(0, 0.6, 16).view(4, 4)])
    flat = AttentionMaps(["<s>", "red", "circle", "</s>"], {4: torch.cat([values, values[:1]]).requires_grad_()})
    fig = plot_attention_maps(flat)
    drawn = [ax.get_images()[0] for ax in fig.axes]
    assert [d.get_clim() for d in drawn] == [(0.0, pytest.approx(0.6))] * 2
    assert float(np.asarray(drawn[0].get_array()).max()) == pytest.approx(0.3)  # 'red': half as bright as the top
    assert "one grey scale for every word: black 0, white 0.6" in fig._suptitle.get_text()
    zeros = AttentionMaps(["<s>", "red", "</s>"], {4: torch.zeros(3, 4, 4)})
    assert plot_attention_maps(zeros).axes[0].get_images()[0].get_clim() == (0.0, 1.0)


def test_the_inversion_plots_name_what_they_cannot_draw():
    import matplotlib

    matplotlib.use("Agg")
    from ddim_course.plots import plot_error_against_calls, plot_residuals, plot_snr

    assert len(plot_residuals({7.5: torch.rand(5, 3, requires_grad=True)}).ravel()) == 1
    with pytest.raises(ValueError, match="markers\\['ddim'\\] is 'circle', not a matplotlib marker"):
        plot_error_against_calls({("ddim", 7.5): (10, -2.0)}, markers={"ddim": "circle"})
    ax = plot_error_against_calls({("ddim", 7.5): (5, -2.0)})[0]  # few steps: the axis was left without a number
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2", "5", "10"]
    for schedule in (torch.linspace(1.0, 0.01, 10), [1.0, 1.0]):
        with pytest.raises(ValueError, match="alphas_cumprod is 1 at t=0: no noise there"):
            plot_snr(schedule)


def test_the_step_functions_of_notebook_08_check_their_numbers():
    from ddim_course.ddim import edict_step, fixed_point_step, step_coefficients
    from ddim_course.exact import edict_inverse_step

    x, model = torch.randn(1, 4, 8, 8), (lambda z: 0.1 * z)
    for p in (2.0, 0.0, float("nan")):  # a step edict_inverse_step refuses to undo was made without a word
        with pytest.raises(ValueError, match="mix must be a number in \\[0.5, 1\\]"):
            edict_step(x, x, model, 0.9, 0.1, p)
    with pytest.raises(ValueError, match="a must be a number"):
        edict_step(x, x, model, "0.9", 0.1, 0.93)
    with pytest.raises(ValueError, match="x and y must be latents of one shape"):
        edict_step(x, torch.randn(2, 4, 8, 8), model, 0.9, 0.1, 0.93)
    back = edict_inverse_step(*edict_step(x, x, model, 0.9, 0.1, 0.93), model, 0.9, 0.1, 0.93)
    assert all(torch.allclose(b, x, atol=1e-5) for b in back)
    for iterations, said in ((-3, "iterations must be a whole number in \\[1, 100\\]"), (2.5, "iterations")):
        with pytest.raises(ValueError, match=said):
            fixed_point_step(model, x, 0.9, 0.5, x, iterations=iterations)
    for guess, said in ((None, "guess must be a latent"), (x[:, :2], "guess must have x_from's shape")):
        with pytest.raises(ValueError, match=said):
            fixed_point_step(model, x, 0.9, 0.5, guess, iterations=2)
    with pytest.raises(ValueError, match="x_from must be a latent"):
        fixed_point_step(model, x[:0], 0.9, 0.5, x[:0], iterations=2)
    levels = ((None, "None"), (torch.tensor([0.5, 0.4]), "a tensor of shape \\(2,\\)"), ("0.5", "'0.5'"))
    for alpha, said in levels:
        with pytest.raises(ValueError, match=f"alpha_t must be one number, a noise level .* got {said}"):
            step_coefficients(alpha, 0.9)
    assert (
        step_coefficients(torch.tensor(0.5), 0.9)
        == step_coefficients(np.array(0.5), 0.9)
        == step_coefficients(0.5, 0.9)
    )


def test_the_noise_explorer_shows_one_image(pipe):
    pytest.importorskip("ipywidgets")
    from ddim_course.widgets import noise_explorer

    with pytest.raises(ValueError, match="noise_explorer shows one image, got a list of 2"):
        noise_explorer(pipe, [draw_scene(seed=0).pil(), draw_scene(seed=3).pil()])


def test_an_ignored_sighup_stays_ignored_as_nohup_asks():
    import signal

    from ddim_course.files import stops_as_interrupt

    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with stops_as_interrupt():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN  # `nohup python -m ...` keeps running
            signal.raise_signal(signal.SIGHUP)  # ignored: no KeyboardInterrupt
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, before)


def test_explorers_show_what_their_controls_and_pictures_say(pipe):
    """Found by a probe of the widgets: a second copy of EditExplorer's widget took the first's results; a changed
    MethodExplorer.image was edited but the old one shown as the original (and a path was refused); a prompt of
    10,000 characters filled the label; start_step_explorer ran at guidance 1 whatever the inversion's."""
    pytest.importorskip("ipywidgets")
    import tempfile
    from pathlib import Path

    import ipywidgets as w

    from ddim_course.widgets import (
        EditExplorer,
        MethodExplorer,
        PromptToPromptExplorer,
        _png,
        _walk,
        start_step_explorer,
    )

    def kids(box, cls):
        return [x for x in _walk(box) if isinstance(x, cls)]

    image = draw_scene(seed=3).pil()
    e = EditExplorer(pipe, image, PROMPT, "a blue circle on a striped background", num_inference_steps=3)
    first, second = e.widget(), e.widget()
    kids(first, w.Text)[0].value = "a green circle on a striped background"
    kids(first, w.Button)[0].click()
    assert "'a green circle on a striped background', start_step" in kids(first, w.HTML)[-1].value
    assert kids(first, w.Image)[1].value == _png(e.result)  # the clicked copy shows its own edit
    kids(second, w.Text)[0].value = "a blue circle " * 800
    kids(second, w.Button)[0].click()
    said = kids(second, w.HTML)[-1].value
    assert "(11,200 characters)" in said and len(said) < 1000 and "a blue circle ' (" in said  # its end kept

    m = MethodExplorer(pipe, image, PROMPT, "a blue circle on a striped background", num_inference_steps=3)
    box = m.widget(method="ddim", guidance=7.5)
    flipped = draw_scene(seed=4).pil()
    m.image = flipped
    kids(box, w.Dropdown)[1].value = 1.0
    assert kids(box, w.Image)[0].value == _png(flipped)  # the original shown is the one edited
    path = Path(tempfile.mkdtemp()) / "scene.png"
    image.save(path)
    m.image = str(path)
    kids(box, w.Dropdown)[1].value = 3.5
    assert "could not" not in kids(box, w.HTML)[-1].value and kids(box, w.Image)[0].value == _png(image)
    m.image = flipped.resize((100, 100))  # another size: read at the model's, as when the explorer was made
    kids(box, w.Dropdown)[1].value = 1.0
    assert "could not" not in kids(box, w.HTML)[-1].value and m.image.size == (64, 64)

    p = PromptToPromptExplorer(pipe, image, PROMPT, "a blue circle on a striped background", num_inference_steps=5)
    box = p.widget(method="ddim")
    p.methods.image = flipped
    kids(box, w.FloatSlider)[0].value = 0.5
    assert kids(box, w.Image)[0].value == _png(flipped)

    guided = invert(pipe, image, PROMPT, num_inference_steps=4, guidance_scale=7.5, progress=False)
    box = start_step_explorer(pipe, image, guided)
    assert "could not" not in kids(box, w.HTML)[-1].value
    from ddim_course.widgets import compare_at_start_step

    at_its_own = compare_at_start_step(pipe, image, guided, 3, guidance_scale=7.5)
    kids(box, w.IntSlider)[0].value = 3
    assert kids(box, w.Image)[1].value == _png(at_its_own["reconstruction"])


def test_sampling_names_a_word_the_pocket_model_never_learned(pipe):
    with pytest.warns(UserWarning, match="the pocket model never learned 'unicorn': it knows only"):
        sample(pipe, "a purple unicorn on a plain background", num_inference_steps=2, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sample(pipe, PROMPT, num_inference_steps=2, progress=False)
