"""Loading pipelines: local folders, the hub code path offline, and clear errors."""

import os

import pytest
import torch
from diffusers import DDIMScheduler

from ddim_course import ModelLoadError, get_preset, load_pipeline, sample
from ddim_course.models import POCKET, POCKET_DIR, SD15, resolve_model
from tests.conftest import tiny_pipeline


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_pipeline")
    tiny_pipeline().save_pretrained(folder, safe_serialization=True)
    return folder


def test_local_folder_loads_with_a_ddim_scheduler(saved):
    pipe = load_pipeline(saved, device="cpu")
    assert isinstance(pipe.scheduler, DDIMScheduler)
    assert pipe.unet.dtype == torch.float32
    assert load_pipeline(saved, device="cpu") is pipe  # cached
    out = sample(
        pipe,
        "a red circle on a striped background",
        num_inference_steps=2,
        progress=False,
        generator=torch.Generator().manual_seed(0),
    )
    assert out[0].size == (64, 64)
    assert get_preset(pipe).name == SD15  # any other SD-family model gets SD 1.5's preset


def test_environment_variable_picks_the_model(saved, monkeypatch):
    monkeypatch.setenv("DDIM_COURSE_MODEL", str(saved))
    assert resolve_model("auto") == str(saved)
    assert load_pipeline(device="cpu").unet.config.sample_size == 16
    monkeypatch.delenv("DDIM_COURSE_MODEL")
    if not torch.cuda.is_available():
        assert resolve_model("auto") == POCKET


def test_unknown_model_offline_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError) as err:
        load_pipeline("nobody-here/no-such-model-xyz", device="cpu")
    text = str(err.value)
    assert "nobody-here/no-such-model-xyz" in text and "'pocket'" in text and "local" in text
    assert err.value.__cause__ is None and err.value.__suppress_context__  # no chained traceback


def test_folder_that_is_not_a_pipeline(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(ModelLoadError, match="not a diffusers pipeline folder"):
        load_pipeline(tmp_path, device="cpu")
    with pytest.raises(ModelLoadError, match="no such folder"):
        load_pipeline(tmp_path / "missing", device="cpu")
    assert sorted(os.listdir(tmp_path)) == before


def test_pickle_only_checkpoint_is_refused(tmp_path):
    from safetensors.torch import load_file

    tiny_pipeline().save_pretrained(tmp_path, safe_serialization=True)
    unet = tmp_path / "unet" / "diffusion_pytorch_model.safetensors"
    torch.save(load_file(unet), unet.with_suffix(".bin"))  # the UNet as a pickled .bin only
    unet.unlink()
    with pytest.raises(ModelLoadError, match="safetensors"):
        load_pipeline(tmp_path, device="cpu", cache=False)


def test_presets_are_complete():
    for preset in (get_preset(POCKET), get_preset(SD15)):
        assert preset.image().mode == "RGB"
        assert preset.source_prompt and preset.edit_prompts and preset.sample_prompts
    assert get_preset(POCKET).image().size == (64, 64)


def test_pocket_model_loads_offline_in_seconds(monkeypatch):
    import time

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert (POCKET_DIR / "model_index.json").exists()
    start = time.perf_counter()
    pipe = load_pipeline(POCKET, device="cpu", cache=False)
    assert time.perf_counter() - start < 30  # "a few seconds"; generous for a loaded CI machine
    assert get_preset(pipe).name == POCKET
    assert pipe.vae.config.scaling_factor != 0.18215
