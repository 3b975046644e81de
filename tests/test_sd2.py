"""Stable Diffusion 2.1: the preset of the Chinese edition's model, and the SD-2-shaped code path (OpenCLIP-style text
encoder, linear attention projections, v-prediction for the 768 model) on tiny random pipelines saved to a local
folder and loaded back the way the hub path loads them."""

import pytest
import torch
from diffusers import DDIMInverseScheduler

from ddim_course import edit, encode, get_preset, invert, load_pipeline, reconstruct, sample
from ddim_course.images import example_image
from ddim_course.models import SD21, SD21_BASE
from ddim_course.pocket.scenes import draw_scene
from tests.conftest import tiny_sd2_pipeline

PROMPT = "a red circle on a striped background"


def test_sd21_presets_hold_the_chinese_editions_examples():
    base, v = get_preset(SD21_BASE), get_preset(SD21)
    assert base.name == SD21_BASE and v.name == SD21
    assert "a photograph of a puppy" in base.edit_prompts and base.source_prompt == "a photograph of a cat"
    assert example_image(base.example_image).exists()
    (name, (source, edits)) = next(iter(base.extra_images.items()))
    assert example_image(name).exists() and source == "a photograph of a woman" and "sunglasses" in edits[0]
    assert base.prompt_note == "" and v.edit_prompts == base.edit_prompts


@pytest.fixture(scope="module", params=["epsilon", "v_prediction"])
def sd2(request, tmp_path_factory):
    """The tiny SD-2 pipeline saved as safetensors and loaded with load_pipeline, as a downloaded model would be."""
    folder = tmp_path_factory.mktemp(f"sd2-{request.param}")
    tiny = tiny_sd2_pipeline(request.param)
    # a random UNet's output is far from a noise prediction: scaled down it stays smooth, so round trips close
    with torch.no_grad():
        tiny.unet.conv_out.weight.mul_(0.01)
        tiny.unet.conv_out.bias.mul_(0.01)
    tiny.save_pretrained(folder, safe_serialization=True)
    pipe = load_pipeline(folder, device="cpu")
    assert pipe.text_encoder.config.hidden_act == "gelu" and pipe.unet.config.use_linear_projection
    assert pipe.scheduler.config.prediction_type == request.param
    return pipe


def test_sd2_samples_inverts_reconstructs_and_edits(sd2):
    image = draw_scene(seed=3).pil()
    out = sample(sd2, PROMPT, num_inference_steps=5, generator=torch.Generator().manual_seed(0), progress=False)
    assert out[0].size == (64, 64)
    inv = invert(sd2, image, PROMPT, num_inference_steps=20, progress=False)
    # the trajectory is diffusers' own DDIMInverseScheduler's, step for step
    sched = DDIMInverseScheduler.from_config(sd2.scheduler.config)
    sched.set_timesteps(20)
    from ddim_course.ddim import encode_text

    cond, _ = encode_text(sd2, PROMPT, guidance=False)
    x, theirs = inv.latents[0], [inv.latents[0]]
    with torch.no_grad():
        for t in sched.timesteps:
            x = sched.step(sd2.unet(x, t, encoder_hidden_states=cond).sample, t, x).prev_sample
            theirs.append(x)
    assert max((a - b).abs().max().item() for a, b in zip(inv.latents, theirs)) < 1e-4
    back = reconstruct(sd2, inv, start_step=0, output_type="latent", progress=False)
    assert (back - encode(sd2, image)).abs().max().item() < 0.05
    edited = edit(
        sd2,
        image,
        PROMPT,
        "a blue circle on a striped background",
        start_step=3,
        num_inference_steps=10,
        progress=False,
    )
    assert edited[0].size == (64, 64)
