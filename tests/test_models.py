"""Loading pipelines: local folders, the hub code path offline, and clear errors."""

import json
import os
import re

import numpy as np
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
    assert get_preset(pipe).name == POCKET  # the pocket tokenizer: a pocket model trained to another folder
    other = tiny_pipeline()
    other.tokenizer.model_max_length = 77  # SD's prompt length: not a pocket model
    assert get_preset(other).name == SD15  # any other SD-family model gets SD 1.5's preset


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


def test_removed_model_id_says_where_the_weights_went(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError) as err:
        load_pipeline("runwayml/stable-diffusion-v1-5", device="cpu")
    text = str(err.value)
    assert "no longer exists" in text and "load_pipeline('stable-diffusion-v1-5/stable-diffusion-v1-5')" in text


def test_a_hugging_face_page_address_is_answered_with_its_id(monkeypatch):
    """The model's page pasted from the browser said "no such folder": it is told to pass the id alone."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for url, model_id in (
        (
            "https://huggingface.co/stable-diffusion-v1-5/stable-diffusion-v1-5",
            "stable-diffusion-v1-5/stable-diffusion-v1-5",
        ),
        ("huggingface.co/nobody-here/no-such-model/tree/main", "nobody-here/no-such-model"),
    ):
        with pytest.raises(
            ModelLoadError, match=re.escape(f"not a model id. Pass the id alone: load_pipeline('{model_id}')")
        ):
            load_pipeline(url, device="cpu")
    with pytest.raises(ModelLoadError, match="no such folder"):  # the Hub's other pages are not models
        load_pipeline("https://huggingface.co/docs/diffusers", device="cpu")
    with pytest.raises(ModelLoadError, match="no longer exists"):  # a removed model's page: where its weights went
        load_pipeline("https://huggingface.co/runwayml/stable-diffusion-v1-5", device="cpu")


def test_folder_that_is_not_a_pipeline(tmp_path):
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
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


# --------------------------------------------------------------------------------------------------
# messages that say the real cause (not "not in the local cache" for everything while offline)
# --------------------------------------------------------------------------------------------------
def _copy(saved, tmp_path):
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(saved, folder)
    return folder


def _load_offline(folder, monkeypatch, **kwargs):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError) as err:
        load_pipeline(folder, device="cpu", cache=False, **kwargs)
    text = str(err.value)
    assert "local cache" not in text and "\n" not in text and "'pocket'" in text
    assert err.value.__cause__ is None and err.value.__suppress_context__
    return text


def test_a_model_index_that_is_not_json_says_so(saved, tmp_path, monkeypatch):
    folder = _copy(saved, tmp_path)
    (folder / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline",', encoding="utf-8")
    assert "its model_index.json is not valid JSON (" in _load_offline(folder, monkeypatch)
    (folder / "model_index.json").write_text("[1, 2]", encoding="utf-8")
    assert "its model_index.json is not a JSON object" in _load_offline(folder, monkeypatch)
    (folder / "unet" / "config.json").write_text("{", encoding="utf-8")
    (folder / "model_index.json").write_text((saved / "model_index.json").read_text(encoding="utf-8"), encoding="utf-8")
    assert "its unet/config.json is not valid JSON" in _load_offline(folder, monkeypatch)


@pytest.mark.parametrize("component", ["unet", "vae", "text_encoder", "tokenizer", "scheduler"])
def test_a_missing_component_is_named(saved, tmp_path, monkeypatch, component):
    import shutil

    folder = _copy(saved, tmp_path)
    shutil.rmtree(folder / component)
    assert f"it has no {component}/ folder, which model_index.json lists" in _load_offline(folder, monkeypatch)


def test_damaged_or_missing_weights_are_named(saved, tmp_path, monkeypatch):
    folder = _copy(saved, tmp_path)
    weights = folder / "vae" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:5000])  # a download that broke off
    text = _load_offline(folder, monkeypatch)
    assert "its vae/diffusion_pytorch_model.safetensors is damaged or incomplete" in text
    weights.unlink()
    assert "its vae/ folder has no weights (.safetensors)" in _load_offline(folder, monkeypatch)


def test_a_custom_pipeline_is_refused_and_its_code_never_runs(saved, tmp_path, monkeypatch):
    import json

    folder = _copy(saved, tmp_path)
    marker = tmp_path / "code-ran"
    (folder / "pipeline.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nclass MyPipeline: pass\n", encoding="utf-8"
    )
    index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    for change, message in [
        ({"_class_name": "MyPipeline"}, "names the pipeline class 'MyPipeline'; this course loads Stable Diffusion"),
        ({"_class_name": ["pipeline", "MyPipeline"]}, "asks for custom pipeline code"),
        ({"_class_name": "FluxPipeline"}, "names the pipeline class 'FluxPipeline'"),
        ({"unet": ["pipeline", "MyPipeline"]}, "takes the unet from 'pipeline', not 'diffusers'"),
        ({"unet": ["diffusers", "UNet2DModel"]}, "its unet is a UNet2DModel; this course needs a UNet2DConditionModel"),
    ]:
        (folder / "model_index.json").write_text(json.dumps({**index, **change}), encoding="utf-8")
        assert message in _load_offline(folder, monkeypatch)
    assert not marker.exists()


def test_an_inpainting_unet_is_refused(saved, tmp_path, monkeypatch):
    import json

    folder = _copy(saved, tmp_path)
    config = json.loads((folder / "unet" / "config.json").read_text(encoding="utf-8"))
    (folder / "unet" / "config.json").write_text(json.dumps({**config, "in_channels": 9}), encoding="utf-8")
    assert "its UNet takes 9 input channels but its VAE makes 4-channel latents" in _load_offline(folder, monkeypatch)


def test_fp16_variant_only_folders_load(saved, tmp_path):
    folder = _copy(saved, tmp_path)
    for part in ("unet", "vae", "text_encoder"):
        for f in (folder / part).glob("*.safetensors"):
            f.rename(f.with_name(f.name.replace(".safetensors", ".fp16.safetensors")))
    assert load_pipeline(folder, device="cpu", cache=False).unet.config.sample_size == 16


def test_dtype_is_checked_and_names_the_options(saved):
    pipe = load_pipeline(saved, device="cpu")
    assert load_pipeline(saved, device="cpu", dtype="float32") is pipe  # a string names the same dtype
    assert load_pipeline(saved, device="cpu", dtype="torch.float32") is pipe
    options = r"dtype must be torch.float32, torch.float16 or torch.bfloat16 \(or 'float32', 'float16', 'bfloat16'\)"
    for bad in [torch.int8, torch.float64, "int8", "banana", 16, np.float16]:
        with pytest.raises(ModelLoadError, match=options):
            load_pipeline(saved, device="cpu", dtype=bad)
    for half in [torch.float16, "float16", "fp16"]:
        with pytest.raises(ModelLoadError, match="dtype float16 needs a GPU: on the CPU use float32"):
            load_pipeline(POCKET, device="cpu", dtype=half)


def test_device_is_checked(saved):
    for bad, message in [
        ("gpu", "did you mean 'cuda'"),
        ("banana", r"device must be 'cpu', 'cuda', 'cuda:N', 'mps' or a torch.device"),
        (True, "got bool"),
        (1.5, "got float"),
        ("meta", "device 'meta' is not available here"),
    ]:
        with pytest.raises(ModelLoadError, match=message):
            load_pipeline(saved, device=bad)
    if not torch.cuda.is_available():
        with pytest.raises(ModelLoadError, match="device 'cuda' needs CUDA, which is not available here"):
            load_pipeline(saved, device="cuda")
    assert load_pipeline(saved, device=" CPU ").device.type == "cpu"


def test_the_model_argument_is_checked(tmp_path):
    with pytest.raises(ModelLoadError, match="model must be a str or a Path.*got NoneType"):
        load_pipeline(None, device="cpu")
    with pytest.raises(ModelLoadError, match="got int"):
        load_pipeline(3, device="cpu")
    with pytest.raises(ModelLoadError, match="got StableDiffusionPipeline; it is a pipeline already"):
        load_pipeline(tiny_pipeline(), device="cpu")
    for empty in ["", "   "]:
        with pytest.raises(ModelLoadError, match="model is an empty string; use 'pocket'"):
            load_pipeline(empty, device="cpu")
    with pytest.raises(ModelLoadError, match="NUL character"):
        load_pipeline("models/a\0b", device="cpu")
    with pytest.raises(ModelLoadError, match="the path is too long for the file system"):
        load_pipeline(tmp_path / ("m" * 5000), device="cpu")
    with pytest.raises(ModelLoadError, match="it is a file, not a folder"):
        load_pipeline(POCKET_DIR / "model_index.json", device="cpu")
    with pytest.raises(ModelLoadError, match="not a valid Hugging Face model id"):
        load_pipeline("not a model id", device="cpu")
    assert resolve_model(" Pocket ") == POCKET


@pytest.mark.timeout(30)
def test_a_model_folder_with_a_named_pipe_is_not_waited_for(tmp_path, monkeypatch):
    os.mkfifo(tmp_path / "model_index.json")
    assert "its model_index.json is not a regular file" in _load_offline(tmp_path, monkeypatch)


@pytest.mark.parametrize("side", [10**6, 0, "64", [64, 10**6], True])
def test_a_folder_with_an_absurd_latent_side_is_refused_when_loaded(saved, tmp_path, monkeypatch, side):
    folder = _copy(saved, tmp_path)
    config = folder / "unet" / "config.json"
    config.write_text(
        json.dumps(json.loads(config.read_text(encoding="utf-8")) | {"sample_size": side}), encoding="utf-8"
    )
    text = _load_offline(folder, monkeypatch)
    assert "unet/config.json gives sample_size" in text and "[1, 512]" in text


def test_a_tokenizer_that_is_incomplete_or_another_models_is_refused(saved, tmp_path, monkeypatch):
    """With tokenizer_config.json alone the folder loaded, and every word of a prompt was one unknown token."""
    folder = _copy(saved, tmp_path)
    tok = folder / "tokenizer"
    kept = {f.name: f.read_bytes() for f in tok.iterdir()}
    for f in ("vocab.json", "merges.txt", "tokenizer.json"):
        (tok / f).unlink(missing_ok=True)
    assert "has neither tokenizer.json nor vocab.json with merges.txt" in _load_offline(folder, monkeypatch)
    os.mkfifo(tok / "tokenizer.json")  # a named pipe is no file (and is not waited for)
    assert "has neither tokenizer.json" in _load_offline(folder, monkeypatch)
    (tok / "tokenizer.json").unlink()
    for name, data in kept.items():
        (tok / name).write_bytes(data)
    small = {"<|startoftext|>": 0, "<|endoftext|>": 1, "a</w>": 2, "b</w>": 3}  # another model's, or cut short
    (tok / "vocab.json").write_text(json.dumps(small), encoding="utf-8")
    (tok / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    (tok / "tokenizer.json").unlink(missing_ok=True)
    assert "its tokenizer knows" in _load_offline(folder, monkeypatch)


def test_a_tokenizer_config_without_a_length_reads_what_the_encoder_can(saved, tmp_path):
    folder = _copy(saved, tmp_path)
    config = folder / "tokenizer" / "tokenizer_config.json"
    config.write_text(
        json.dumps(
            {k: v for k, v in json.loads(config.read_text(encoding="utf-8")).items() if k != "model_max_length"}
        ),
        encoding="utf-8",
    )
    pipe = load_pipeline(folder, device="cpu", cache=False)  # transformers read 10**30: an OverflowError later
    assert pipe.tokenizer.model_max_length == pipe.text_encoder.config.max_position_embeddings


def test_a_model_folder_that_is_a_named_pipe_is_named_so(tmp_path, monkeypatch):
    os.mkfifo(tmp_path / "model")
    assert "it is a named pipe, a device or a socket, not a folder" in _load_offline(tmp_path / "model", monkeypatch)


def test_a_preset_name_with_a_typo_is_named_not_silently_stable_diffusions(tmp_path):
    import warnings

    with pytest.warns(UserWarning, match="did you mean 'pocket'"):
        assert get_preset("pockt").name != "pocket"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a hub id and a folder of the learner's own: no word
        get_preset("someone/my-finetune")
        (tmp_path / "pocket2").mkdir()
        get_preset(str(tmp_path / "pocket2"))


def test_the_cache_knows_a_folder_by_its_place_and_its_files_and_a_changed_pipeline_is_loaded_again(
    tmp_path, monkeypatch
):
    """A probe of model loading found: "./m" from two working folders gave the first folder's model; a scheduler
    file edited since loading was not seen; a cached pipeline whose UNet was replaced, or whose schedule was changed
    in place, came back as it was."""
    import shutil
    import warnings

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for where, ptype in (("one", "epsilon"), ("two", "v_prediction")):
        shutil.copytree(POCKET_DIR, tmp_path / where / "m")
        config = tmp_path / where / "m" / "scheduler" / "scheduler_config.json"
        config.write_text(
            json.dumps(json.loads(config.read_text(encoding="utf-8")) | {"prediction_type": ptype}), encoding="utf-8"
        )
    monkeypatch.chdir(tmp_path / "one")
    first = load_pipeline("./m")
    monkeypatch.chdir(tmp_path / "two")
    assert load_pipeline("./m").scheduler.config.prediction_type == "v_prediction"
    monkeypatch.chdir(tmp_path / "one")
    assert load_pipeline("./m") is first  # the same folder, unchanged: the cached pipeline
    config = tmp_path / "one" / "m" / "scheduler" / "scheduler_config.json"
    config.write_text(json.dumps(json.loads(config.read_text(encoding="utf-8")) | {"beta_end": 0.02}), encoding="utf-8")
    again = load_pipeline("./m")
    assert again is not first and again.scheduler.config.beta_end == 0.02
    again.scheduler.alphas_cumprod[:] = 0.5  # notebook 01, an experiment on the schedule
    with pytest.warns(UserWarning, match="was changed since it was loaded \\(the schedule's values\\)"):
        fresh = load_pipeline("./m")
    assert fresh is not again and float(fresh.scheduler.alphas_cumprod[0]) != 0.5
    fresh.unet = again.unet
    with pytest.warns(UserWarning, match="\\(a model or the tokenizer\\)"):
        assert load_pipeline("./m") is not fresh
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_pipeline("./m") is load_pipeline("./m")


@pytest.mark.parametrize(
    "change, said",
    [
        ({"num_train_timesteps": 10**9}, "num_train_timesteps 1000000000; it must be a whole number in \\[2, 10000\\]"),
        ({"num_train_timesteps": "1000"}, "num_train_timesteps 1000"),
        ({"prediction_type": "flow"}, "prediction_type flow; the course's DDIM reads 'epsilon'"),
        ({"timestep_spacing": "bogus"}, "timestep_spacing bogus"),
        ({"trained_betas": [0.01] * 3}, "trained_betas of 3 values for 1000 training timesteps"),
        ({"vae/scaling_factor": "0.4"}, "scaling_factor 0.4; it must be a number above 0"),
        ({"vae/scaling_factor": 0}, "scaling_factor 0; it must be a number above 0"),
    ],
)
def test_a_scheduler_file_the_course_cannot_use_is_named_at_load(tmp_path, monkeypatch, change, said):
    import shutil

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    shutil.copytree(POCKET_DIR, tmp_path / "m")
    config = tmp_path / "m" / "scheduler" / "scheduler_config.json"
    if any(k.startswith("vae/") for k in change):
        config, change = tmp_path / "m" / "vae" / "config.json", {k[4:]: v for k, v in change.items()}
    config.write_text(json.dumps(json.loads(config.read_text(encoding="utf-8")) | change), encoding="utf-8")
    with pytest.raises(ModelLoadError, match=said):
        load_pipeline(str(tmp_path / "m"), cache=False)


def test_an_old_ddim_scheduler_file_loads_with_stable_diffusions_choices(tmp_path, monkeypatch):
    """A DDIM file without clip_sample, set_alpha_to_one and steps_offset loaded with DDIM's defaults put back
    (clipping on): the first sample was refused."""
    import shutil

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    shutil.copytree(POCKET_DIR, tmp_path / "m")
    config = tmp_path / "m" / "scheduler" / "scheduler_config.json"
    old = {
        k: v
        for k, v in json.loads(config.read_text(encoding="utf-8")).items()
        if k not in ("clip_sample", "set_alpha_to_one", "steps_offset")
    }
    config.write_text(json.dumps(old), encoding="utf-8")
    pipe = load_pipeline(str(tmp_path / "m"), cache=False)
    c = pipe.scheduler.config
    assert (c.clip_sample, c.set_alpha_to_one, c.steps_offset) == (False, False, 1)
    sample(pipe, "a red circle on a plain background", num_inference_steps=2, progress=False)


def test_a_model_named_by_the_environment_variable_says_so_when_it_fails(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("DDIM_COURSE_MODEL", str(tmp_path / "no-such-folder"))
    with pytest.raises(ModelLoadError, match="came from the environment variable DDIM_COURSE_MODEL=.*no-such-folder"):
        load_pipeline()
    with pytest.raises(ModelLoadError) as named:
        load_pipeline(str(tmp_path / "no-such-folder"))  # named here: nothing to add
    assert "environment variable" not in str(named.value)


def test_a_tokenizer_length_too_short_for_a_word_is_the_encoders(tmp_path, monkeypatch):
    import shutil
    import warnings

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    shutil.copytree(POCKET_DIR, tmp_path / "m")
    config = tmp_path / "m" / "tokenizer" / "tokenizer_config.json"
    config.write_text(
        json.dumps(json.loads(config.read_text(encoding="utf-8")) | {"model_max_length": 1}), encoding="utf-8"
    )
    pipe = load_pipeline(str(tmp_path / "m"), cache=False)
    assert pipe.tokenizer.model_max_length == pipe.text_encoder.config.max_position_embeddings
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every prompt was said to be cut off
        sample(pipe, "a red circle on a plain background", num_inference_steps=2, progress=False)


def test_get_preset_of_a_pocket_copy_agrees_with_the_loaded_pipeline(tmp_path, monkeypatch):
    import shutil

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    shutil.copytree(POCKET_DIR, tmp_path / "copy")
    assert get_preset(str(tmp_path / "copy")).name == POCKET == get_preset(load_pipeline(str(tmp_path / "copy"))).name
    monkeypatch.setenv("DDIM_COURSE_MODEL", str(tmp_path / "copy"))
    assert get_preset().name == POCKET
    assert get_preset(str(tmp_path / "no-such")).name == SD15  # a folder that is not there: SD's, as before


def test_quiet_logs_puts_each_librarys_level_back_also_when_the_block_raises():
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    from ddim_course.quiet import quiet_logs

    before = diffusers_logging.get_verbosity(), transformers_logging.get_verbosity()
    diffusers_logging.set_verbosity_info()
    transformers_logging.set_verbosity_warning()
    try:
        with pytest.raises(RuntimeError), quiet_logs("diffusers", "transformers"):
            assert diffusers_logging.get_verbosity() == diffusers_logging.ERROR
            assert transformers_logging.get_verbosity() == transformers_logging.ERROR
            raise RuntimeError("inside")
        assert diffusers_logging.get_verbosity() == diffusers_logging.INFO
        assert transformers_logging.get_verbosity() == transformers_logging.WARNING
        with quiet_logs("transformers"):  # only the library named
            assert diffusers_logging.get_verbosity() == diffusers_logging.INFO
    finally:
        diffusers_logging.set_verbosity(before[0])
        transformers_logging.set_verbosity(before[1])
