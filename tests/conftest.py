import pytest
import torch

from ddim_course.pocket.model import (
    build_tokenizer,
    make_scheduler,
    make_text_encoder,
    make_unet,
    make_vae,
)


def tiny_pipeline(prediction_type: str = "epsilon", seed: int = 0):
    """A tiny randomly initialised StableDiffusionPipeline (no download): 64x64 images, 16x16 latents."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    torch.manual_seed(seed)
    tok = build_tokenizer()
    text = make_text_encoder(len(tok), tiny=True)
    unet = make_unet(tiny=True, cross_attention_dim=text.config.hidden_size)
    vae = make_vae(tiny=True)
    sched = DDIMScheduler.from_config(make_scheduler().config, prediction_type=prediction_type)
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text,
        tokenizer=tok,
        unet=unet,
        scheduler=sched,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="session")
def pipe():
    return tiny_pipeline()


@pytest.fixture(scope="session")
def vpipe():
    return tiny_pipeline("v_prediction", seed=1)
