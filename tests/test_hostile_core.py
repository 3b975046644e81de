"""Classes of bad input to the core functions that used to run without a word or fail deep in torch: guidance with
nothing to guide from, results that shared memory with the caller's tensors, building blocks that broadcast or
divided by zero, pixels passed as latents, a pipeline with parts in two dtypes, fixed-point iteration that diverges,
and counts whose product runs for hours."""

import warnings

import pytest
import torch

from ddim_course import (
    METHODS,
    Inversion,
    ddim_update,
    denoise,
    encode,
    encode_text,
    guide,
    invert,
    load_pipeline,
    predict_x0_and_eps,
    reconstruct,
    sample,
)
from ddim_course.ddim import edict_denoise
from ddim_course.pocket.scenes import draw_scene

PROMPT = "a red circle on a plain background"


@pytest.fixture(scope="module")
def image():
    return draw_scene("red", "circle", "plain", seed=4).pil()


def test_guidance_without_an_unconditional_embedding_is_refused_not_skipped(pipe):
    cond, uncond = encode_text(pipe, PROMPT, guidance=False)
    assert uncond is None
    x = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="guidance_scale=7.5 needs uncond"):
        denoise(pipe, x, cond, None, num_inference_steps=2, guidance_scale=7.5, progress=False)
    with pytest.raises(ValueError, match="needs uncond"):
        edict_denoise(pipe, x, x.clone(), cond, None, num_inference_steps=2, guidance_scale=3.0, progress=False)
    one = denoise(pipe, x, cond, None, num_inference_steps=2, guidance_scale=1.0, progress=False)  # no guidance: fine
    assert torch.isfinite(one).all()


def test_an_inversion_and_its_reconstruction_own_their_latents(pipe, image):
    x = encode(pipe, image).clone()  # a tensor of the learner's own (encode's is an inference tensor)
    kept = x.clone()
    for method in ("ddim", "direct"):
        inv = METHODS[method](pipe, x, PROMPT, num_inference_steps=3, progress=False)
        out = reconstruct(pipe, inv, output_type="latent", progress=False)
        assert len({x.data_ptr(), inv.latents[0].data_ptr(), out.data_ptr()}) == 3, method  # three tensors
        result = out.clone()
        x.add_(1)  # the learner's own tensor, changed after the call, changes neither
        assert torch.equal(inv.latents[0], kept) and torch.equal(out, result), method
        x.copy_(kept)


def test_the_update_refuses_shapes_that_would_broadcast_and_noise_it_would_ignore():
    x = torch.randn(3, 4, 2, 2)
    with pytest.raises(ValueError, match=r"model_output has shape \(1, 4, 2, 2\) but x_t \(3, 4, 2, 2\)"):
        ddim_update(torch.randn(1, 4, 2, 2), x, 0.5, 0.6)
    with pytest.raises(ValueError, match="noise is only used when eta > 0"):
        ddim_update(x, x, 0.5, 0.6, eta=0, noise=torch.randn_like(x))
    with pytest.raises(ValueError, match=r"noise has shape \(7, 1, 1, 1\)"):
        ddim_update(x, x, 0.5, 0.6, eta=0.5, noise=torch.randn(7, 1, 1, 1))
    with pytest.raises(ValueError, match="model_output must be a real float tensor"):
        ddim_update([1.0], x, 0.5, 0.6)
    with pytest.raises(ValueError, match="model_output must be a real float tensor"):
        ddim_update(torch.empty(3, 4, 2, 2, device="meta"), x, 0.5, 0.6)
    with pytest.raises(ValueError, match="alpha_t must be below 1 for prediction_type='sample'"):
        predict_x0_and_eps(x, x + 1, 1.0, prediction_type="sample")
    x0, eps = predict_x0_and_eps(x, x + 1, 0.5, prediction_type="sample")
    assert torch.allclose(eps, (x + 1 - 0.5**0.5 * x) / 0.5**0.5)


def test_guide_checks_a_tensor_guidance_scale_as_it_checks_a_number():
    u, c = torch.zeros(2, 4, 2, 2), torch.ones(2, 4, 2, 2)
    per_image = torch.tensor([1.0, 7.5]).view(2, 1, 1, 1)
    assert torch.equal(guide(u, c, per_image)[:, 0, 0, 0], torch.tensor([1.0, 7.5]))
    assert torch.equal(guide(u, c, torch.tensor(2.0)), 2 * c)
    for bad, said in (
        (torch.tensor(float("nan")), "guidance_scale must be a number"),
        (torch.tensor(1e9), "guidance_scale must be a number"),
        (torch.tensor([1.0, float("inf")]).view(2, 1, 1, 1), "must hold numbers in"),
        (torch.ones(5, 1, 1, 1), r"one scale per image for the model's output \(2, 4, 2, 2\): shape \(2, 1, 1, 1\)"),
        (torch.empty((), device="meta"), "guidance_scale must be a number"),
        (torch.empty(2, 1, 1, 1, device="meta"), "one scale per image"),
    ):
        with pytest.raises(ValueError, match=said):
            guide(u, c, bad)
    # shapes that broadcast without a word but line up with another axis: the width (a (B,) tensor when B is the
    # latent's width) or the channels (a (B, 1, 1) tensor when B is their number)
    u, c = torch.zeros(4, 4, 4, 4), torch.ones(4, 4, 4, 4)
    for bad in (torch.linspace(1, 8, 4), torch.linspace(1, 8, 4).view(-1, 1, 1), torch.ones(1, 4, 1, 1)):
        with pytest.raises(ValueError, match=r"shape \(4, 1, 1, 1\) \(guidance_scale.view\(-1, 1, 1, 1\)\)"):
            guide(u, c, bad)
    assert torch.equal(guide(u, c, torch.linspace(1, 4, 4).view(-1, 1, 1, 1))[:, 1, 2, 3], torch.linspace(1, 4, 4))


def test_pixels_given_as_latents_are_refused_and_a_huge_inversion_is_named(pipe, image):
    rgba = torch.rand(1, 4, 16, 16, generator=torch.Generator().manual_seed(1)) * 255  # an RGBA image in 0-255
    with pytest.raises(ValueError, match="latents are about unit size"):
        invert(pipe, rgba, PROMPT, num_inference_steps=2, progress=False)
    with pytest.raises(ValueError, match="latents are about unit size"):
        sample(pipe, PROMPT, num_inference_steps=2, start_latents=torch.randn(1, 4, 16, 16) * 1e6, progress=False)
    inv = invert(pipe, image, PROMPT, num_inference_steps=2, progress=False)
    # a method can make latents this large (EDICT at a low mix): they are reconstructed, with a word
    inv = Inversion(**{**inv.__dict__, "latents": [*inv.latents[:-1], inv.latents[-1] * 1e4]})
    with pytest.warns(UserWarning, match="will not look like a picture"):
        reconstruct(pipe, inv, output_type="latent", progress=False)
    fine = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(2)) * 5  # noise at guidance 100's size
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sample(pipe, PROMPT, num_inference_steps=2, start_latents=fine, output_type="latent", progress=False)


def test_a_part_cast_to_another_dtype_still_samples_and_the_cache_loads_the_model_again():
    pipe = load_pipeline("pocket")
    try:
        pipe.text_encoder.to(torch.float64)  # a learner's experiment on one part
        latents = sample(pipe, PROMPT, num_inference_steps=2, output_type="latent", progress=False)
        assert latents.dtype == torch.float32 and torch.isfinite(latents).all()
        again = load_pipeline("pocket")
        assert again is not pipe and again.text_encoder.dtype == torch.float32
    finally:
        pipe.text_encoder.to(torch.float32)


def test_fixed_point_iteration_that_diverges_says_so_and_one_that_converges_does_not():
    pipe = load_pipeline("pocket")
    scene = draw_scene("red", "circle", "plain", seed=4).pil()
    with pytest.warns(UserWarning, match=r"did not converge at 1 of 10 steps \(t=101\)"):
        inv = invert(pipe, scene, PROMPT, num_inference_steps=10, guidance_scale=7.5, fixed_point_iterations=30)
    moves = inv.info["residuals"][1]
    assert moves[-1] >= moves[0]  # what the warning reports
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        invert(pipe, scene, PROMPT, num_inference_steps=10, guidance_scale=1.0, fixed_point_iterations=3)


def test_counts_whose_product_runs_for_hours_are_refused_before_any_work(pipe, image):
    with pytest.raises(ValueError, match="999,000 Adam updates"):
        METHODS["null-text"](pipe, image, PROMPT, num_inference_steps=999, inner_steps=1000, progress=False)


def test_a_negative_prompt_an_inversion_at_guidance_1_cannot_use_is_named(pipe, image):
    with pytest.warns(UserWarning, match="negative_prompt has no effect on an inversion at guidance_scale=1"):
        inv = invert(pipe, image, PROMPT, num_inference_steps=2, negative_prompt="blurry", progress=False)
    assert inv.negative_prompt == "blurry"


def test_edit_friendly_ddpm_inversion_retraces_its_latents_on_a_scene_where_rounding_once_grew():
    """The noise maps are solved from the latent the sampler will be at: at guidance 7.5 on this scene (a circle in
    the corner) maps solved from the independent latents ended 0.81 away in the latent, 5.5 dB under the VAE."""
    pipe = load_pipeline("pocket")
    scene = draw_scene("orange", "circle", "striped", seed=9201, center=(3, 3), shape_size=20)
    seed = torch.Generator().manual_seed(0)
    inv = METHODS["ddpm"](pipe, scene.pil(), scene.caption, guidance_scale=7.5, generator=seed)
    for start in (0, 10):
        back = reconstruct(pipe, inv, start_step=start, output_type="latent")
        assert (back - inv.clean_latent).abs().max() < 1e-5, start


def test_a_picture_that_is_not_square_is_named_with_what_the_crop_leaves_out_at_the_learners_line(pipe):
    from PIL import Image

    with pytest.warns(UserWarning, match=r"is 96 x 64 pixels.*leaving out 33% of it \(the left and right") as w:
        invert(pipe, Image.new("RGB", (96, 64)), PROMPT, num_inference_steps=2, progress=False)
    assert w[0].filename == __file__  # this line, not a line inside ddim_course
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a square picture of another size is only scaled: nothing is lost
        invert(pipe, Image.new("RGB", (128, 128)), PROMPT, num_inference_steps=2, progress=False)


def test_a_picture_far_smaller_than_the_model_is_named_as_blown_up(pipe):
    from PIL import Image

    with pytest.warns(UserWarning, match=r"only 1 x 1 pixels and was scaled up 64 times to the model's 64 x 64") as w:
        encode(pipe, Image.new("RGB", (1, 1)))  # a thumbnail or a mistaken crop: one colour, drawn as a picture
    assert w[0].filename == __file__
    with pytest.warns(UserWarning, match=r"image 1 is only 15 x 40 pixels"):
        encode(pipe, [Image.new("RGB", (64, 64)), Image.new("RGB", (15, 40))])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a quarter of the model's side is still a picture
        encode(pipe, Image.new("RGB", (16, 16)))


def test_an_inversion_fitted_at_one_guidance_and_reconstructed_at_another_is_named(pipe, image):
    inv = METHODS["null-text"](pipe, image, PROMPT, num_inference_steps=2, guidance_scale=7.5, inner_steps=1)
    with pytest.warns(UserWarning, match="fitted at guidance 7.5 and is reconstructed at 2") as w:
        reconstruct(pipe, inv, guidance_scale=2.0, output_type="latent", progress=False)
    assert w[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reconstruct(pipe, inv, output_type="latent", progress=False)  # its own guidance


def test_an_inversion_takes_the_schedulers_own_timesteps_and_a_file_without_a_method_name_is_refused(
    pipe, image, tmp_path
):
    import json
    import struct

    inv = invert(pipe, image, PROMPT, num_inference_steps=3, progress=False)
    pipe.scheduler.set_timesteps(3)
    again = Inversion(**{**inv.__dict__, "timesteps": pipe.scheduler.timesteps})  # a tensor, as diffusers keeps it
    assert again.timesteps == inv.timesteps and all(type(t) is int for t in again.timesteps)
    path = inv.save(tmp_path / "inv.safetensors")
    data = path.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + n])
    header["__metadata__"]["ddim_course"] = header["__metadata__"]["ddim_course"].replace('"ddim"', "null", 1)
    text = json.dumps(header).encode()
    (tmp_path / "bad.safetensors").write_bytes(struct.pack("<Q", len(text)) + text + data[8 + n :])
    with pytest.raises(ValueError, match="method must be a name"):
        Inversion.load(tmp_path / "bad.safetensors")


def test_an_inversion_file_of_another_version_or_with_no_model_is_named(pipe, image, tmp_path):
    import json
    import struct

    from ddim_course.ddim import INVERSION_FORMAT

    path = invert(pipe, image, PROMPT, num_inference_steps=3, progress=False).save(tmp_path / "inv.safetensors")
    data = path.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]

    def rewritten(name, change):
        header = json.loads(data[8 : 8 + n])
        ours = json.loads(header["__metadata__"]["ddim_course"])
        header["__metadata__"]["ddim_course"] = json.dumps(change(ours))
        text = json.dumps(header).encode()
        (tmp_path / name).write_bytes(struct.pack("<Q", len(text)) + text + data[8 + n :])
        return tmp_path / name

    old = rewritten("old.safetensors", lambda h: {**h, "format": "ddim-course-inversion/0"})
    with pytest.raises(ValueError, match=rf"another version of ddim_course .*this version reads {INVERSION_FORMAT}"):
        Inversion.load(old)
    nameless = rewritten("nameless.safetensors", lambda h: {k: v for k, v in h.items() if k != "model"})
    with pytest.warns(UserWarning, match="does not say which model made it"):  # nothing could check the model
        assert Inversion.load(nameless).model is None
    # a DDIM inversion given an EDICT mix by hand: named as the wrong method's field, not as a half EDICT inversion
    mixed = rewritten("mixed.safetensors", lambda h: {**h, "mix": 0.93})
    with pytest.raises(ValueError, match="mix is the mixing weight of EDICT inversion only; .* method is 'ddim'"):
        Inversion.load(mixed)


def test_an_inversion_file_with_a_tensor_added_or_missing_is_refused_by_name(pipe, image, tmp_path):
    """A latent added to a saved file by hand was a raw KeyError ('latents.4'); one removed shortened the run."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    path = invert(pipe, image, PROMPT, num_inference_steps=3, progress=False).save(tmp_path / "inv.safetensors")
    with safe_open(str(path), "pt") as f:
        metadata = f.metadata()
    tensors = load_file(path)
    for name, change in (("added", {"latents.7": tensors["latents.0"].clone()}), ("gap", {"latents.1": None})):
        edited = {k: v for k, v in {**tensors, **change}.items() if v is not None}
        save_file(edited, tmp_path / f"{name}.safetensors", metadata=metadata)
        with pytest.raises(ValueError, match=r"not a valid inversion file .*must be numbered latents.0 to latents"):
            Inversion.load(tmp_path / f"{name}.safetensors")


def _edit_warnings(pipe, scene, target, source=None, **kwargs) -> list[str]:
    from ddim_course import edit

    source = scene.caption if source is None else source
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        edit(pipe, scene.pil(), source, target, num_inference_steps=10, start_step=0, progress=False, **kwargs)
    return [str(w.message) for w in caught]


def test_an_edit_names_what_would_leave_it_wrong_without_a_word():
    from ddim_course.attention import PromptToPrompt
    from ddim_course.models import get_preset

    pipe = load_pipeline("pocket")
    scene = draw_scene("red", "circle", "striped", seed=3)
    preset = PromptToPrompt(**get_preset(pipe).prompt_to_prompt_for("colour"))
    direct = dict(inversion="direct")
    blue = "a blue circle on a striped background"
    cases = [  # (target, keyword arguments, what the one new warning must say)
        ("a magenta circle on a striped background", dict(direct, control=preset), "never learned 'magenta'"),
        (blue, dict(direct, control=PromptToPrompt()), "keeps the defaults chosen for Stable Diffusion"),
        (blue + " on a striped background now", dict(direct, control=preset), "mask covered 99% of the picture"),
        (blue, dict(direct, control=preset.__class__(**{**preset.__dict__, "blend_keep_words": ("circle",)})), "took"),
        (  # a misspelt blend word is refused with the blend on; with it off it did nothing, without a word
            blue,
            dict(direct, control=preset.__class__(**{**preset.__dict__, "blend": False, "blend_words": ("bleu",)})),
            "blend_words is used by the local blend only",
        ),
    ]
    for target, kwargs, said in cases:
        told = _edit_warnings(pipe, scene, target, **kwargs)
        assert any(said in m for m in told), (said, told)
    assert _edit_warnings(pipe, scene, blue, control="prompt-to-prompt", **direct) == []  # a sound edit: no word
    assert _edit_warnings(pipe, scene, blue, control=PromptToPrompt(blend=False), **direct) == []  # no blend to set
    assert _edit_warnings(pipe, scene, " " + scene.caption.capitalize()) == []  # one prompt to the tokenizer
    long = "a red circle on a striped background and a red circle on a dotted background"
    from ddim_course import edit

    with pytest.warns(UserWarning, match="differ only after the 16 tokens"):
        edit(pipe, scene.pil(), long + " red", long + " blue", num_inference_steps=10, start_step=0, progress=False)
    # prompts that differ in characters the pocket tokenizer does not know: both read as one unknown token
    emoji = [scene.caption.replace("circle", f"circle {e}") for e in ("\N{LARGE RED CIRCLE}", "\N{LARGE BLUE CIRCLE}")]
    told = _edit_warnings(pipe, scene, emoji[1], source=emoji[0])
    assert any("reads the source and target prompts the same" in m and "'\N{LARGE BLUE CIRCLE}'" in m for m in told)


def test_a_saved_inversion_samples_bit_for_bit_as_the_one_it_was_saved_from(tmp_path):
    """The VAE hands back channels-last latents, whose layout changes how a convolution rounds: a loaded inversion
    (made contiguous by the file) reconstructed up to 3e-06 off, and a few pixels differed."""
    pipe = load_pipeline("pocket")
    scene = draw_scene("red", "circle", "striped", seed=5).pil()
    for name in ("ddim", "null-text", "edict", "ddpm", "direct"):
        extra = {"generator": torch.Generator().manual_seed(0)} if name == "ddpm" else {}
        inv = METHODS[name](pipe, scene, PROMPT, num_inference_steps=3, progress=False, **extra)
        back = Inversion.load(inv.save(tmp_path / f"{name}.safetensors"))
        kw = dict(output_type="latent", progress=False)
        assert torch.equal(reconstruct(pipe, inv, **kw), reconstruct(pipe, back, **kw)), name


def test_prompt_to_prompt_with_prompts_that_read_the_same_gives_the_picture_back():
    """No word differs, so nothing is blended: the target branch, left to itself at guidance 7.5, drew the picture
    again (16.7 dB where the inversion kept 35). It is the source branch now: a direct inversion's own latent."""
    from ddim_course import edit

    pipe = load_pipeline("pocket")
    scene = draw_scene("red", "circle", "striped", seed=3)
    inv = METHODS["direct"](pipe, scene.pil(), scene.caption, num_inference_steps=6, progress=False)
    kw = dict(inversion=inv, control="prompt-to-prompt", start_step=0, num_inference_steps=6, progress=False)
    for target in (scene.caption, scene.caption.capitalize() + " "):
        out = edit(pipe, None, scene.caption, target, output_type="latent", **kw)
        assert torch.equal(out, inv.clean_latent), target
    changed = edit(pipe, None, scene.caption, "a blue circle on a striped background", output_type="latent", **kw)
    assert not torch.equal(changed, inv.clean_latent)


class _NoFloat64(torch.Tensor):
    """Stands for a tensor on Apple's MPS, which has no float64: the checks that run on every sample, inversion and
    guided step must not ask the device for it (load_pipeline picks MPS on a Mac)."""

    def double(self, *args, **kwargs):
        raise TypeError("Cannot convert a MPS Tensor to float64 dtype as the MPS framework doesn't support float64")


def test_the_checks_on_every_call_ask_no_float64_of_the_device():
    from ddim_course.ddim import _check_latent_size, guide

    x = torch.randn(1, 4, 8, 8).as_subclass(_NoFloat64)
    _check_latent_size(x, "latents", warn=False)
    guide(x, x, torch.full((1, 1, 1, 1), 7.5).as_subclass(_NoFloat64))
    maps = torch.rand(2, 4, 4).as_subclass(_NoFloat64)
    with pytest.raises(TypeError, match="MPS"):  # the stand-in works: a float64 request is caught
        maps.double()


def test_noise_levels_one_per_image_must_be_shaped_per_image():
    """A (B,) tensor of alphas lined up with the latent's width: 1.82 off the per-image step, without a word."""
    from ddim_course.ddim import ddim_update, predict_x0_and_eps

    x, out = torch.randn(8, 4, 8, 8), torch.randn(8, 4, 8, 8)
    a_t, a_prev = torch.linspace(0.1, 0.5, 8), torch.linspace(0.2, 0.6, 8)
    for bad in ((a_t, a_prev.view(-1, 1, 1, 1)), (a_t.view(-1, 1, 1, 1), a_prev), (a_t[:3].view(-1, 1, 1, 1), 0.5)):
        with pytest.raises(ValueError, match=r"must have shape \(8, 1, 1, 1\)"):
            ddim_update(out, x, *bad)
    per_image = ddim_update(out, x, a_t.view(-1, 1, 1, 1), a_prev.view(-1, 1, 1, 1))
    assert torch.allclose(per_image[3], ddim_update(out[3:4], x[3:4], float(a_t[3]), float(a_prev[3]))[0], atol=1e-5)
    for wrong in (torch.randn(2, 4, 8, 8), torch.randn(8, 1, 8, 8), torch.randint(0, 5, (8, 4, 8, 8))):
        with pytest.raises(ValueError, match="model_output"):
            predict_x0_and_eps(wrong, x, 0.5)


def test_an_inversion_refuses_a_scheduler_changed_since_it_was_made(tmp_path):
    """EDICT's reconstruction came back 3.5 off after the scheduler was swapped for v-prediction, without a word."""
    from diffusers import DDIMScheduler

    from tests.conftest import tiny_pipeline

    pipe = tiny_pipeline()
    x = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    inv = METHODS["edict"](pipe, x, "a red circle", num_inference_steps=4, guidance_scale=2.0, progress=False)
    back = Inversion.load(inv.save(tmp_path / "edict.safetensors"))
    assert back.schedule == inv.schedule is not None
    kept = pipe.scheduler
    for change in ({"prediction_type": "v_prediction"}, {"set_alpha_to_one": True}, {"beta_end": 0.02}):
        pipe.scheduler = DDIMScheduler.from_config(kept.config, **change)
        for i in (inv, back):
            with pytest.raises(ValueError, match="made on another noise schedule than pipe.scheduler's"):
                reconstruct(pipe, i, output_type="latent", progress=False)
    pipe.scheduler = DDIMScheduler.from_config(kept.config)  # the same schedule again: exact again
    made = {}
    for name in METHODS:  # every method keeps it (the ones made from a DDIM pivot did not, at first)
        extra = {"inner_steps": 1} if name == "null-text" else {}
        made[name] = METHODS[name](pipe, x, "a red circle", num_inference_steps=3, progress=False, **extra)
        assert made[name].schedule == inv.schedule, name
    pipe.scheduler = DDIMScheduler.from_config(kept.config, prediction_type="v_prediction")
    for i in made.values():
        with pytest.raises(ValueError, match="made on another noise schedule"):
            reconstruct(pipe, i, output_type="latent", progress=False)
    pipe.scheduler = DDIMScheduler.from_config(kept.config)
    again = reconstruct(pipe, back, output_type="latent", progress=False)
    assert (again.double() - inv.clean_latent.double()).abs().max() < 1e-5


def test_small_api_mismatches_found_by_the_last_probe(pipe, image):
    """negative_prompt=None was refused at guidance 1 only (invert's default); 10,000 prompts drew their latents
    before being refused as a 'batch'; dark 8-bit arrays were read on [0, 1] (black and 1/255 scored 0 dB)."""
    import numpy as np

    from ddim_course import psnr, sample

    kw = dict(num_inference_steps=3, progress=False)
    assert invert(pipe, image, PROMPT, negative_prompt=None, **kw).num_inference_steps == 3
    sample(pipe, PROMPT, negative_prompt=None, guidance_scale=1.0, output_type="latent", **kw)
    with pytest.raises(ValueError, match="prompt is a list of 2000 prompts: at most 1024"):
        sample(pipe, [PROMPT] * 2000, **kw)
    dark, darker = np.ones((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="array of uint8 pixels .* pass data_range=255"):
        psnr(darker, dark)
    assert psnr(darker, dark, data_range=255) == pytest.approx(20 * np.log10(255))
