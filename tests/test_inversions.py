"""Null-text and negative-prompt inversion on a tiny random pipeline."""

import pytest
import torch

import ddim_course.inversions as inversions
from ddim_course import edit, invert, reconstruct
from ddim_course.inversions import negative_prompt_invert, null_text_invert
from ddim_course.pocket.scenes import draw_scene

PROMPT = "a red circle on a striped background"


def _error(pipe, inv, **kw):
    back = reconstruct(pipe, inv, start_step=0, output_type="latent", progress=False, **kw)
    return (back - inv.clean_latent).pow(2).mean().item()


def test_null_text_lowers_the_reconstruction_error_at_high_guidance(pipe):
    image = draw_scene(seed=12).pil()
    ddim = invert(pipe, image, PROMPT, num_inference_steps=5, progress=False)
    plain = _error(pipe, ddim, guidance_scale=7.5)
    # a random tiny UNet listens to its embedding weakly: the paper's 1e-2 only gets to 0.8x in 10 Adam steps,
    # 1e-1 to about 0.27x (measured with transformers 5.23 and 4.57)
    nti = null_text_invert(
        pipe,
        image,
        PROMPT,
        num_inference_steps=5,
        guidance_scale=7.5,
        inner_steps=10,
        learning_rate=0.1,
        progress=False,
    )
    assert nti.method == "null-text" and len(nti.uncond_embeddings) == 5
    learned = _error(pipe, nti)
    assert learned < 0.5 * plain, (learned, plain)
    # the learned embeddings differ from the empty prompt's and the UNet's weights were left alone
    assert all(p.requires_grad for p in pipe.unet.parameters())
    assert nti.unet_calls > 5
    assert edit(
        pipe,
        image,
        PROMPT,
        "a blue circle on a striped background",
        start_step=1,
        num_inference_steps=5,
        inversion=nti,
        progress=False,
    )[0].size == (64, 64)


def test_negative_prompt_inversion_is_one_plain_pass(pipe, monkeypatch):
    image = draw_scene(seed=13).pil()
    passes = []
    real = inversions.invert

    def counting(*args, **kwargs):
        passes.append(kwargs.get("guidance_scale"))
        return real(*args, **kwargs)

    monkeypatch.setattr(inversions, "invert", counting)
    npi = negative_prompt_invert(pipe, image, PROMPT, num_inference_steps=5, progress=False)
    assert passes == [1.0] and npi.unet_calls == 5 and npi.negative_prompt == PROMPT
    # with the prompt as its own negative, guided reconstruction equals the guidance-1 one
    g1 = invert(pipe, image, PROMPT, num_inference_steps=5, progress=False)
    a = reconstruct(pipe, npi, start_step=0, output_type="latent", progress=False)
    b = reconstruct(pipe, g1, start_step=0, output_type="latent", progress=False)
    assert torch.allclose(a, b, atol=1e-5)
    assert _error(pipe, npi) < _error(pipe, g1, guidance_scale=7.5)


def test_null_text_keeps_its_own_embedding_for_each_step(pipe):
    image = draw_scene(seed=14).pil()
    nti = null_text_invert(pipe, image, PROMPT, num_inference_steps=4, inner_steps=3, progress=False)
    emb = nti.uncond_embeddings
    # four tensors, not four names for one (Adam updates its parameter in place)
    assert len({e.data_ptr() for e in emb}) == 4
    assert all(not torch.equal(a, b) for a, b in zip(emb, emb[1:]))
    # the paper's settings for any model but the pocket one
    assert (nti.info["learning_rate"], nti.info["early_stop"]) == (1e-2, 1e-5)


def test_each_stored_embedding_is_the_one_learned_at_its_step(pipe):
    """Replaying the guided steps with the stored embeddings meets each step's recorded loss (an embedding
    aliased with the next step's Adam parameter would hold the next step's values and miss it)."""
    from ddim_course.ddim import _alphas, _schedule, _unet_eps, ddim_step, encode_text

    n, g = 4, 7.5
    nti = null_text_invert(
        pipe,
        draw_scene(seed=16).pil(),
        PROMPT,
        num_inference_steps=n,
        inner_steps=5,
        learning_rate=1e-1,
        early_stop=0.0,
        guidance_scale=g,
        progress=False,
    )
    timesteps, ratio = _schedule(pipe, n)
    alphas, final = _alphas(pipe)
    cond, _ = encode_text(pipe, PROMPT, guidance=False)
    x = nti.latents[-1]
    for i, t in enumerate(timesteps):
        eps = _unet_eps(pipe, x, t, cond, nti.uncond_embeddings[i], g)
        x = ddim_step(eps, t, t - ratio, x, alphas, final_alpha_cumprod=final)
        loss = (x - nti.latents[n - i - 1]).pow(2).mean().item()
        assert loss <= 1.2 * nti.info["losses"][i], (i, loss, nti.info["losses"])


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"learning_rate": 0}, r"learning_rate must be a number in \[1e-12, 10\] .*got 0"),
        ({"learning_rate": -1e-2}, r"learning_rate must be a number in \[1e-12, 10\] .*got -0.01"),
        ({"learning_rate": float("inf")}, r"learning_rate must be a number in \[1e-12, 10\] .*got inf"),
        ({"early_stop": -1.0}, r"early_stop must be a number in \[0, 1e\+06\] .*got -1.0"),
    ],
)
def test_null_text_refuses_bad_settings(pipe, bad, message):
    with pytest.raises(ValueError, match=message):
        null_text_invert(pipe, draw_scene(seed=15).pil(), PROMPT, num_inference_steps=2, progress=False, **bad)


def test_null_text_at_guidance_1_learns_nothing_and_costs_one_pass(pipe):
    image = draw_scene(seed=16).pil()
    nti = null_text_invert(pipe, image, PROMPT, num_inference_steps=4, guidance_scale=1.0, progress=False)
    plain = invert(pipe, image, PROMPT, num_inference_steps=4, progress=False)
    assert nti.unet_calls == 4 and nti.method == "null-text" and len(nti.uncond_embeddings) == 4
    assert torch.equal(nti.latents[-1], plain.latents[-1])


def test_null_text_runs_past_100_steps(pipe):
    # the learning rate decays to half over the run (the paper's 1 - i/100 would turn negative after step 100)
    nti = null_text_invert(
        pipe, draw_scene(seed=17).pil(), PROMPT, num_inference_steps=102, inner_steps=1, progress=False
    )
    assert len(nti.uncond_embeddings) == 102


def test_null_text_runs_inside_no_grad_and_names_inference_mode(pipe):
    """Autograd raised "element 0 of tensors does not require grad" deep in Adam under a learner's no_grad."""
    kw = dict(num_inference_steps=2, guidance_scale=3.0, inner_steps=1, progress=False)
    image = draw_scene(seed=1).pil()
    plain = null_text_invert(pipe, image, PROMPT, **kw)
    with torch.no_grad():
        inside = null_text_invert(pipe, image, PROMPT, **kw)
    assert all(torch.equal(a, b) for a, b in zip(plain.uncond_embeddings, inside.uncond_embeddings))
    with (
        torch.inference_mode(),
        pytest.raises(ValueError, match="outside the `with torch.inference_mode\\(\\):` block"),
    ):
        null_text_invert(pipe, image, PROMPT, **kw)
