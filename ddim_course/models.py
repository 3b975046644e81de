"""Loading a pipeline (the pocket model, Stable Diffusion, or any SD-family folder) and per-model presets."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

SD15 = "stable-diffusion-v1-5/stable-diffusion-v1-5"
POCKET = "pocket"
POCKET_DIR = Path(__file__).resolve().parent / "pocket" / "weights"
ENV_VAR = "DDIM_COURSE_MODEL"

_PIPELINE_CACHE: dict = {}  # (model, device, dtype) -> pipeline, so re-running a cell is instant


class ModelLoadError(ValueError):
    """A model could not be loaded; the message says why and what to do instead."""


def default_device() -> torch.device:
    """cuda > mps > cpu."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_model(model: str | os.PathLike = "auto") -> str:
    """``"auto"`` -> $DDIM_COURSE_MODEL, else SD 1.5 on CUDA, else the pocket model."""
    model = str(model)
    if model == "auto":
        env = os.environ.get(ENV_VAR, "").strip()
        if env:
            return env
        return SD15 if torch.cuda.is_available() else POCKET
    return model


def _not_found_message(model: str, reason: str) -> str:
    return (
        f"could not load the model {model!r}: {reason}. Use load_pipeline('pocket') for the course's built-in "
        "model (works offline), pass a local diffusers folder, or check the model id and your connection."
    )


def load_pipeline(model: str | os.PathLike = "auto", *, device=None, dtype=None, cache: bool = True):
    """A StableDiffusionPipeline with a DDIMScheduler: ``"auto"``, ``"pocket"``, a hub id or a local folder."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    name = resolve_model(model)
    device = torch.device(device) if device is not None else default_device()
    if dtype is None:
        dtype = torch.float16 if device.type == "cuda" and name != POCKET else torch.float32
    key = (name, str(device), str(dtype))
    if cache and key in _PIPELINE_CACHE:
        return _PIPELINE_CACHE[key]

    kwargs = dict(
        torch_dtype=dtype,
        use_safetensors=True,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    if name == POCKET:
        if not (POCKET_DIR / "model_index.json").exists():
            raise ModelLoadError(
                f"the pocket model's weights are not in {POCKET_DIR}; train them with "
                "`python -m ddim_course.pocket.train --out ddim_course/pocket/weights` or reinstall the course"
            )
        source = str(POCKET_DIR)
    else:
        path = Path(name).expanduser()
        looks_local = path.exists() or name.startswith((".", "/", "~")) or os.sep + os.sep in name
        if looks_local:
            if not path.exists():
                raise ModelLoadError(_not_found_message(name, "no such folder"))
            if not (path / "model_index.json").exists():
                raise ModelLoadError(
                    _not_found_message(
                        name, "the folder has no model_index.json, so it is not a diffusers pipeline folder"
                    )
                )
            source = str(path)
        else:
            source = name
            if name == SD15 and dtype == torch.float16:
                kwargs["variant"] = "fp16"
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*safety.checker.*")
            warnings.filterwarnings("ignore", message=".*torch_dtype.*")  # older diffusers know no `dtype`
            pipe = StableDiffusionPipeline.from_pretrained(source, **kwargs)
    except Exception as e:  # noqa: BLE001 - turned into one clear error below
        raise ModelLoadError(_not_found_message(name, _explain(e))) from None
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    pipe = pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    pipe._ddim_course_model = name  # lets get_preset(pipe) find the preset
    if cache:
        _PIPELINE_CACHE[key] = pipe
    return pipe


def _explain(e: Exception) -> str:
    text = str(e)
    low = text.lower()
    if "safetensors" in low or (".bin" in low and "use_safetensors" in low):
        return "it has no safetensors weights (this course loads safetensors only, never pickled .bin files)"
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
    kind = type(e).__name__
    if offline:
        return f"it is not in the local cache and HF_HUB_OFFLINE is set ({kind})"
    if "not found" in low or "404" in low or "repository" in low:
        return f"the id is unknown on the Hugging Face Hub or the Hub is unreachable ({kind})"
    return f"{kind}: {text.splitlines()[0][:200] if text else 'no details'}"


# --------------------------------------------------------------------------------------------------
# presets: what each notebook cell needs from the active model
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Preset:
    """Per-model settings so a notebook cell reads the same for every model."""

    name: str
    example_image: str  # a name in images/ (see images.example_image)
    source_prompt: str
    edit_prompts: tuple[str, ...]
    sample_prompts: tuple[str, ...]
    guidance_scale: float = 7.5  # for sampling
    inversion_guidance: float = 1.0
    edit_start_step: int = 10
    edit_guidance: float = 7.5  # for edits from a plain DDIM inversion
    num_inference_steps: int = 50
    # null-text inversion's Adam learning rate and early-stop loss (the step-i threshold is early_stop * (1 + 2 i));
    # Mokady et al.'s values for Stable Diffusion by default
    null_text_learning_rate: float = 1e-2
    null_text_early_stop: float = 1e-5
    extra_images: dict = field(default_factory=dict)  # name -> (source prompt, edit prompts)

    def image(self, pipe=None):
        """The example image as RGB PIL, at the pipeline's resolution when ``pipe`` is given."""
        from .images import example_image, image_size, load_image

        size = image_size(pipe) if pipe is not None else None
        return load_image(example_image(self.example_image), size=size)


PRESETS: dict[str, Preset] = {
    POCKET: Preset(
        name=POCKET,
        example_image="pocket_example",
        source_prompt="a red circle on a striped background",
        edit_prompts=(
            "a blue circle on a striped background",
            "a red square on a striped background",
            "a red circle on a dotted background",
        ),
        sample_prompts=(
            "a red circle on a striped background",
            "a blue square on a checkered background",
            "a yellow triangle on a dotted background",
            "a green circle on a plain background",
        ),
        guidance_scale=5.0,
        edit_start_step=15,
        edit_guidance=2.0,  # measured: colour edits right, background kept (python -m ddim_course.pocket.evaluate)
        # measured on 3 held-out scenes at guidance 7.5, 10 inner steps (python -m ddim_course.bench inversions):
        # the paper's 1e-2 / 1e-5 stop the last steps at a loss near 1e-3, 2 dB under the VAE round trip
        null_text_learning_rate=1e-1,
        null_text_early_stop=1e-7,
    ),
    SD15: Preset(
        name=SD15,
        example_image="cat",
        source_prompt="a photograph of a cat",
        edit_prompts=("a photograph of a tiger", "a watercolor painting of a cat", "a photograph of a fox"),
        sample_prompts=(
            "a photograph of a cat on a sofa",
            "a watercolor painting of a lighthouse",
            "a cup of coffee on a wooden table",
        ),
        guidance_scale=7.5,
        edit_start_step=10,
        extra_images={
            "grace_hopper": ("a photograph of a woman", ("a photograph of a woman wearing sunglasses",)),
            "coffee": ("a cup of coffee", ("a cup of tea",)),
        },
    ),
}


def get_preset(model=None) -> Preset:
    """The preset for a pipeline or model name; SD 1.5's for any other SD-family model."""
    if model is None:
        name = resolve_model("auto")
    elif isinstance(model, str):
        name = resolve_model(model)
    else:
        name = getattr(model, "_ddim_course_model", None) or getattr(model, "name_or_path", "")
        if str(Path(str(name)).resolve()) == str(POCKET_DIR.resolve()):
            name = POCKET
    return PRESETS.get(str(name), PRESETS[SD15])
