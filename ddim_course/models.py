"""Loading a pipeline (the pocket model, Stable Diffusion, or any SD-family folder) and per-model presets."""

from __future__ import annotations

import contextlib
import difflib
import errno
import json
import os
import re
import stat
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from .files import expand_user
from .i18n import tr
from .pocket.scenes import vocabulary
from .quiet import no_progress_bars, quiet_logs

SD15 = "stable-diffusion-v1-5/stable-diffusion-v1-5"
SD21_BASE = "stabilityai/stable-diffusion-2-1-base"  # 512 px, epsilon prediction: the Chinese edition's model
SD21 = "stabilityai/stable-diffusion-2-1"  # 768 px, v-prediction
POCKET = "pocket"
POCKET_DIR = Path(__file__).resolve().parent / "pocket" / "weights"
ENV_VAR = "DDIM_COURSE_MODEL"

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
_DTYPE_ALIASES = {"fp32": "float32", "float": "float32", "fp16": "float16", "half": "float16", "bf16": "bfloat16"}
# what a folder's model_index.json may name: the pipeline class, and (library, classes) per loaded component.
# Anything else, above all a model's own Python code, is refused: this course never runs code from a model folder.
PIPELINE_CLASSES = ("StableDiffusionPipeline", "StableDiffusionImg2ImgPipeline")
COMPONENTS = {
    "unet": ("diffusers", ("UNet2DConditionModel",)),
    "vae": ("diffusers", ("AutoencoderKL",)),
    "text_encoder": ("transformers", ("CLIPTextModel", "CLIPTextModelWithProjection")),
    "tokenizer": ("transformers", ("CLIPTokenizer", "CLIPTokenizerFast")),
    "scheduler": ("diffusers", None),  # any diffusers scheduler: replaced by a DDIMScheduler from its config
}
MAX_CONFIG_BYTES = 1024 * 1024

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


def _show(text: str, limit: int = 120) -> str:
    from .images import _show as show

    return show(text, limit)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return _show(text.splitlines()[0], 160) if text else "no details"


def _model_text(model, what: str = "model") -> str:
    """``model`` as a str: a name, a hub id or a folder path; anything else is a clear error."""
    if isinstance(model, (str, os.PathLike)):
        text = os.fspath(model)
        text = os.fsdecode(text) if isinstance(text, bytes) else text
        if not text.strip():
            raise ModelLoadError(
                f"{what} is an empty string; use 'pocket' (the course's built-in model), 'auto', "
                f"a Hugging Face id like {SD15!r} or the path of a local diffusers folder"
            )
        if "\0" in text:
            raise ModelLoadError(f"{what} '{_show(text)}' contains a NUL character (\\x00); check how it was built")
        return text
    hint = "; it is a pipeline already: use it as it is" if hasattr(model, "unet") else ""
    raise ModelLoadError(
        f"{what} must be a str or a Path: 'pocket', 'auto', a Hugging Face id like {SD15!r} or a local diffusers "
        f"folder; got {type(model).__name__}{hint}"
    )


def _named_by_env(model) -> str | None:
    """What $DDIM_COURSE_MODEL names when ``model`` is "auto" (and it names a model), else None."""
    if not (isinstance(model, str) and model.strip().lower() == "auto"):
        return None
    env = os.environ.get(ENV_VAR, "").strip()
    return env if env and env.lower() != "auto" else None


def resolve_model(model: str | os.PathLike = "auto") -> str:
    """``"auto"`` -> $DDIM_COURSE_MODEL, else SD 1.5 on CUDA, else the pocket model."""
    model = _model_text(model)
    if model.strip().lower() == "auto":
        env = _named_by_env(model)
        if env is not None:
            return resolve_model(env)
        return SD15 if torch.cuda.is_available() else POCKET
    if model.strip().lower() == POCKET:
        return POCKET
    return model


def _check_device(device) -> torch.device:
    """``device`` as a torch.device that exists here; ``None`` picks the best one available."""
    if device is None:
        return default_device()
    usage = "device must be 'cpu', 'cuda', 'cuda:N', 'mps' or a torch.device (leave it out to pick the best one)"
    if isinstance(device, bool) or not isinstance(device, (str, int, torch.device)):
        raise ModelLoadError(f"{usage}, got {type(device).__name__}")
    try:
        dev = torch.device(device.strip().lower() if isinstance(device, str) else device)
    except (RuntimeError, ValueError, TypeError):
        hint = "; did you mean 'cuda'?" if str(device).strip().lower() in ("gpu", "nvidia", "cuda0") else ""
        raise ModelLoadError(f"{usage}, got {_show(repr(device), 60)}{hint}") from None
    if dev.type == "cpu":
        return torch.device("cpu")  # torch takes "cpu:5" too, but there is one CPU device: name it once
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU-only build of torch" if torch.version.cuda is None else "no GPU was found"
            raise ModelLoadError(
                f"device {str(dev)!r} needs CUDA, which is not available here ({build}); "
                "use device='cpu' or leave device out"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ModelLoadError(
                f"device {str(dev)!r} does not exist: this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
        return dev
    backend = getattr(torch.backends, "mps", None) if dev.type == "mps" else getattr(torch, dev.type, None)
    if dev.type != "meta" and backend is not None and getattr(backend, "is_available", lambda: False)():
        return dev
    raise ModelLoadError(f"device {str(dev)!r} is not available here; use device='cpu' or leave device out")


def _check_dtype(dtype, device: torch.device, name: str) -> torch.dtype:
    """``dtype`` as float32, float16 or bfloat16 (strings accepted); ``None``: float16 for big models on CUDA."""
    if dtype is None or (isinstance(dtype, str) and dtype.strip().lower() == "auto"):
        return torch.float16 if device.type == "cuda" and name != POCKET else torch.float32
    options = "torch.float32, torch.float16 or torch.bfloat16 (or 'float32', 'float16', 'bfloat16')"
    if isinstance(dtype, str):
        key = dtype.strip().lower().removeprefix("torch.")
        key = _DTYPE_ALIASES.get(key, key)
        if key not in DTYPES:
            raise ModelLoadError(f"dtype must be {options}, got {_show(repr(dtype), 60)}")
        dtype = DTYPES[key]
    if not isinstance(dtype, torch.dtype) or dtype not in DTYPES.values():
        raise ModelLoadError(f"dtype must be {options}, got {_show(repr(dtype), 60)}")
    if dtype == torch.float16 and device.type == "cpu":
        raise ModelLoadError(
            "dtype float16 needs a GPU: on the CPU use float32 (leave dtype out) or bfloat16, or pass device='cuda'"
        )
    return dtype


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")


HUB_RESOLVE_S = 5.0  # how long the Hub's name may take to resolve before it is taken to work (a slow network)


def _hub_unreachable() -> bool:
    """True when the Hub's host name does not resolve (no network): huggingface_hub would then retry for half a
    minute, printing every try, before failing. A name that resolves, or is still resolving after a few seconds,
    counts as reachable."""
    import socket
    import threading
    from urllib.parse import urlparse
    from urllib.request import getproxies

    from huggingface_hub import constants

    if any(k in getproxies() for k in ("https", "all")):  # a proxy resolves names for this machine: not our call
        return False
    host = urlparse(str(constants.ENDPOINT)).hostname
    if not host:
        return False
    answer = {}

    def resolve():
        try:
            socket.getaddrinfo(host, 443)
            answer["resolves"] = True
        except (OSError, UnicodeError):
            answer["resolves"] = False

    thread = threading.Thread(target=resolve, daemon=True)
    thread.start()
    thread.join(HUB_RESOLVE_S)
    return answer.get("resolves") is False


# ids that tutorials still use but the Hub no longer serves -> where the same weights are now
REMOVED_IDS = {
    "runwayml/stable-diffusion-v1-5": (SD15, "taken down by its authors in August 2024"),
}


# a model's page on the Hub (owner/name after the host); the site's other pages (its docs, datasets...) are not models
_HUB_PAGE = re.compile(
    r"(?:https?://)?(?:www\.)?(?:huggingface\.co|hf\.co)/"
    r"(?!(?:datasets|spaces|docs|blog|papers|models|organizations|collections|posts|learn|tasks|settings|chat)/)"
    r"([\w.-]+/[\w.-]+)"
)


def _not_found_message(model: str, reason: str, local: bool = False) -> str:
    page = _HUB_PAGE.match(str(model).strip())
    if page is not None:  # the model's web page pasted instead of its id
        model_id = page.group(1)
        if model_id not in REMOVED_IDS:
            return (
                f"could not load the model {_show(model)!r}: that is the address of a Hugging Face page, not a model "
                f"id. Pass the id alone: load_pipeline({model_id!r})"
            )
        model = model_id
    moved = REMOVED_IDS.get(str(model).strip())
    if moved is not None:
        return (
            f"could not load the model {model!r}: this id was {moved[1]} and no longer exists on the Hugging Face "
            f"Hub. The same weights are published as {moved[0]!r}: load_pipeline({moved[0]!r}) (or 'pocket', "
            "the course's built-in model, offline)."
        )
    if local:
        return (
            f"could not load the model {_show(model)!r}: {reason.rstrip('.')}. Use load_pipeline('pocket') for the "
            "course's built-in model, or pass a complete diffusers folder (one written by "
            "pipe.save_pretrained(folder))."
        )
    return tr("model_not_found", model=_show(model), reason=reason)


class _FolderError(Exception):
    """Why a model folder cannot be loaded (becomes a ModelLoadError)."""


def _stat(path: Path):
    """``os.stat(path)``, or None when there is nothing there; other failures are a one-line ModelLoadError."""
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        if e.errno == errno.ENAMETOOLONG:
            raise _FolderError("the path is too long for the file system") from None
        raise _FolderError(f"{_show(str(path))} cannot be read ({e.strerror or type(e).__name__})") from None


def _is_file(path: Path) -> bool:
    st = _stat(path)
    return st is not None and stat.S_ISREG(st.st_mode)


def _read_json(path: Path, label: str) -> dict:
    """A small JSON object from a model folder; its problems come back as a ModelLoadError reason."""
    st = _stat(path)
    if st is None:
        raise _FolderError(f"it has no {label}: the download or copy is incomplete")
    if not stat.S_ISREG(st.st_mode):
        raise _FolderError(f"its {label} is not a regular file")
    if st.st_size > MAX_CONFIG_BYTES:
        raise _FolderError(f"its {label} is {st.st_size // 1024} kB, too large for a config file")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.loads(f.read(MAX_CONFIG_BYTES + 1))
    except json.JSONDecodeError as e:
        raise _FolderError(f"its {label} is not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    except (UnicodeDecodeError, RecursionError, ValueError):
        raise _FolderError(f"its {label} is not valid JSON text") from None
    except OSError as e:
        raise _FolderError(f"its {label} cannot be read ({e.strerror or type(e).__name__})") from None
    if not isinstance(data, dict):
        raise _FolderError(f"its {label} is not a JSON object")
    return data


def _diffusers_library(lib) -> bool:
    """A library a diffusers pipeline may take a part from: diffusers, transformers, or one of diffusers' own
    pipeline modules (SD 1.5's safety checker comes from "stable_diffusion")."""
    if lib in ("diffusers", "transformers"):
        return True
    if not isinstance(lib, str) or not lib.isidentifier():
        return False
    import importlib.util

    return importlib.util.find_spec(f"diffusers.pipelines.{lib}") is not None


def _check_index(index: dict) -> None:
    """Refuse a model_index.json naming a pipeline or component this course cannot, or will not, load."""
    cls = index.get("_class_name")
    if isinstance(cls, (list, tuple)):
        raise _FolderError(
            f"its model_index.json asks for custom pipeline code ({_show(str(cls), 60)}); "
            "this course never runs code that comes with a model"
        )
    if not isinstance(cls, str) or not cls:
        raise _FolderError(
            "its model_index.json names no pipeline class (_class_name), so it is not a diffusers pipeline"
        )
    if cls not in PIPELINE_CLASSES:
        raise _FolderError(
            f"its model_index.json names the pipeline class {_show(cls, 60)!r}; this course loads Stable Diffusion "
            f"pipelines ({', '.join(PIPELINE_CLASSES)}) only, and never runs code that comes with a model"
        )
    for name, (library, classes) in COMPONENTS.items():
        entry = index.get(name)
        if not (isinstance(entry, (list, tuple)) and len(entry) == 2 and all(isinstance(x, str) for x in entry)):
            raise _FolderError(f"its model_index.json names no {name}, which a Stable Diffusion pipeline needs")
        lib, cls = entry
        if lib != library:
            raise _FolderError(
                f"its model_index.json takes the {name} from {_show(lib, 40)!r}, not {library!r} "
                "(custom code, which this course never runs)"
            )
        if classes is not None and cls not in classes:
            raise _FolderError(f"its {name} is a {_show(cls, 40)}; this course needs a {' or '.join(classes)}")
        if classes is None and not (cls.endswith("Scheduler") or cls.endswith("SchedulerMultistep")):
            raise _FolderError(f"its {name} is a {_show(cls, 40)}, not a diffusers scheduler")
        if classes is None:
            import diffusers

            if not isinstance(getattr(diffusers, cls, None), type):
                raise _FolderError(f"its {name} is a {_show(cls, 40)}, which diffusers does not have")
    for name, entry in index.items():  # the other parts a pipeline may list (safety_checker, image_encoder, ...)
        if name.startswith("_") or name in COMPONENTS or not isinstance(entry, (list, tuple)):
            continue  # a setting (requires_safety_checker: false), not a part
        if len(entry) == 2 and entry[0] is None:  # [null, null]: a part the pipeline goes without
            continue
        if not (len(entry) == 2 and _diffusers_library(entry[0])):
            raise _FolderError(
                f"its model_index.json takes {_show(name, 40)} from {_show(str(entry), 60)!r}, not from diffusers or "
                "transformers (custom code, which this course never runs)"
            )


_WEIGHTS = re.compile(r"(?:diffusion_pytorch_model|model)(?:\.([\w-]+?))?(?:-\d+-of-\d+)?\.safetensors")


def _check_safetensors(file: Path, label: str) -> None:
    """Refuse a weights file that is not a complete safetensors file (only its header is read)."""
    damaged = f"its {label} is damaged or incomplete (not a valid safetensors file): download or copy it again"
    st = _stat(file)
    if st is None or not stat.S_ISREG(st.st_mode):
        raise _FolderError(f"its {label} is not a regular file")
    try:
        with open(file, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            if not 2 <= n <= min(st.st_size - 8, 100 * 2**20):
                raise _FolderError(damaged)
            header = json.loads(f.read(n))
        end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    except _FolderError:
        raise
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError, RecursionError):
        raise _FolderError(damaged) from None
    if not isinstance(end, int) or end > st.st_size - 8 - n:
        raise _FolderError(damaged)


MAX_TRAIN_TIMESTEPS = 10_000
"""The most training timesteps a scheduler file may give (Stable Diffusion's: 1000; 10**9 ran out of memory)."""


def _check_scheduler_config(config: dict, label: str) -> None:
    """Refuse a scheduler file whose numbers the course's DDIM cannot use, naming the key (before diffusers builds
    a schedule of 10**9 steps, or a model loads that fails at its first step)."""
    from .ddim import PREDICTION_TYPES

    n = config.get("num_train_timesteps", 1000)
    if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= MAX_TRAIN_TIMESTEPS:
        raise _FolderError(
            f"its {label} gives num_train_timesteps {_show(str(n), 40)}; it must be a whole number in [2, "
            f"{MAX_TRAIN_TIMESTEPS}] (1000 for Stable Diffusion)"
        )
    ptype = config.get("prediction_type", "epsilon")
    if ptype not in PREDICTION_TYPES:
        raise _FolderError(
            f"its {label} gives prediction_type {_show(str(ptype), 40)}; the course's DDIM reads "
            f"{', '.join(repr(p) for p in PREDICTION_TYPES)}"
        )
    spacing = config.get("timestep_spacing", "leading")
    if spacing not in ("leading", "trailing", "linspace"):
        raise _FolderError(
            f"its {label} gives timestep_spacing {_show(str(spacing), 40)}; use 'leading' (Stable Diffusion's), "
            "'trailing' or 'linspace'"
        )
    betas = config.get("trained_betas")
    if betas is not None and not (isinstance(betas, list) and len(betas) == n):
        count = len(betas) if isinstance(betas, list) else "no list of"
        raise _FolderError(f"its {label} gives trained_betas of {count} values for {n} training timesteps")


def _check_folder(path: Path) -> dict:
    """Find what is wrong with a local pipeline folder before diffusers does; returns extra from_pretrained args."""
    st = _stat(path)
    if st is None:
        raise _FolderError("no such folder")
    if not stat.S_ISDIR(st.st_mode):
        single = (
            " (single-file checkpoints are not supported)" if path.suffix.lower() in (".safetensors", ".ckpt") else ""
        )
        kind = "a file" if stat.S_ISREG(st.st_mode) else "a named pipe, a device or a socket"
        raise _FolderError(f"it is {kind}, not a folder: pass the diffusers folder that holds model_index.json{single}")
    if _stat(path / "model_index.json") is None:
        raise _FolderError("the folder has no model_index.json, so it is not a diffusers pipeline folder")
    index = _read_json(path / "model_index.json", "model_index.json")
    _check_index(index)
    configs = {}
    variants = []
    for name in COMPONENTS:
        folder = path / name
        st = _stat(folder)
        if st is None or not stat.S_ISDIR(st.st_mode):
            raise _FolderError(
                f"it has no {name}/ folder, which model_index.json lists: the download or copy is incomplete"
            )
        if name == "tokenizer":
            if not (
                _is_file(folder / "tokenizer.json") or all(_is_file(folder / f) for f in ("vocab.json", "merges.txt"))
            ):
                raise _FolderError(  # with tokenizer_config.json alone, every word was one unknown token
                    "its tokenizer/ folder has neither tokenizer.json nor vocab.json with merges.txt (as files): "
                    "the download or copy is incomplete"
                )
            continue
        label = f"{name}/{'scheduler_config.json' if name == 'scheduler' else 'config.json'}"
        configs[name] = _read_json(folder / label.split("/")[1], label)
        if name == "scheduler":
            _check_scheduler_config(configs[name], label)
            continue
        try:
            files = [f.name for f in folder.iterdir()]
        except OSError as e:
            raise _FolderError(f"its {name}/ folder cannot be read ({e.strerror or type(e).__name__})") from None
        found = [m for m in map(_WEIGHTS.fullmatch, files) if m]
        if not found and not any(f.endswith(".safetensors") for f in files):
            if any(f.endswith((".bin", ".ckpt", ".pt", ".pth", ".pkl")) for f in files):
                raise _FolderError(
                    "it has no safetensors weights (this course loads safetensors only, never pickled .bin files)"
                )
            raise _FolderError(f"its {name}/ folder has no weights (.safetensors): the download or copy is incomplete")
        for m in found:
            _check_safetensors(folder / m.group(0), f"{name}/{m.group(0)}")
        if found and not any(m.group(1) is None for m in found):  # only variant files, e.g. ...fp16.safetensors
            variants.append({m.group(1) for m in found})
    unet, vae, text = configs["unet"], configs["vae"], configs["text_encoder"]
    side = unet.get("sample_size")
    sides = side if isinstance(side, list) and len(side) == 2 else [side]
    if side is not None and not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 512 for v in sides):
        raise _FolderError(  # SD 1.5's is 64 (512 pixels), SDXL's 128; a million would be terabytes of latents
            f"its unet/config.json gives sample_size {_show(str(side), 40)}; a latent side is a whole number in "
            "[1, 512] (64 for Stable Diffusion 1.5)"
        )
    scale = vae.get("scaling_factor", 0.18215)
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 < scale < 1e3:
        raise _FolderError(  # a string failed deep in encode; 0 made every latent 0
            f"its vae/config.json gives scaling_factor {_show(str(scale), 40)}; it must be a number above 0 (0.18215 "
            "for Stable Diffusion 1.5)"
        )
    channels, latent = unet.get("in_channels"), vae.get("latent_channels")
    if isinstance(channels, int) and isinstance(latent, int) and channels != latent:
        raise _FolderError(
            f"its UNet takes {channels} input channels but its VAE makes {latent}-channel latents "
            "(an inpainting or other special model?); this course needs a text-to-image Stable Diffusion model"
        )
    cross, hidden = unet.get("cross_attention_dim"), text.get("hidden_size")
    if isinstance(cross, int) and isinstance(hidden, int) and cross != hidden:
        raise _FolderError(
            f"its UNet expects {cross}-dimensional text features but its text encoder makes {hidden}: "
            "the components come from different models"
        )
    common = set.intersection(*variants) if variants else set()
    return {"variant": sorted(common)[0]} if common else {}


def _hub_index(name: str, local_only: bool) -> None:
    """Fetch (or find in the cache) a hub model's model_index.json and check it; failures are a ModelLoadError.
    ``local_only``: the cache only (offline, or the Hub's name does not resolve)."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.utils import (
        EntryNotFoundError,
        GatedRepoError,
        HFValidationError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
        validate_repo_id,
    )

    reason = None
    try:
        validate_repo_id(name)
        index_file = hf_hub_download(name, "model_index.json", local_files_only=local_only)
    except HFValidationError:
        reason = "there is no such folder, and it is not a valid Hugging Face model id (owner/name)"
    except LocalEntryNotFoundError:
        if _offline():
            reason = "it is not in the local cache and HF_HUB_OFFLINE is set (OSError)"
        elif local_only:
            reason = (
                "it is not in the local cache and the Hugging Face Hub cannot be reached (its name does not resolve: "
                "no network?); on a machine kept offline, set HF_HUB_OFFLINE=1"
            )
        else:
            reason = "it is not in the local cache and the Hugging Face Hub cannot be reached"
    except GatedRepoError:
        reason = "it is a gated model: accept its licence on its Hugging Face page, then log in (hf auth login)"
    except RepositoryNotFoundError:
        reason = "the id is unknown on the Hugging Face Hub (or private: log in with hf auth login)"
    except RevisionNotFoundError:
        reason = "the Hugging Face Hub has no such revision of it"
    except EntryNotFoundError:
        reason = "it has no model_index.json, so it is not a diffusers pipeline"
    except Exception as e:  # noqa: BLE001 - network and cache failures of every kind
        reason = _explain(e)
    if reason is not None:
        raise ModelLoadError(_not_found_message(name, reason)) from None
    try:
        _check_index(_read_json(Path(index_file), "model_index.json"))
    except _FolderError as e:
        reason = str(e)
    if reason is not None:
        raise ModelLoadError(_not_found_message(name, reason)) from None


def _looks_local(name: str) -> bool:
    return (
        name.startswith((".", "/", "~", "\\"))
        or re.match(r"[A-Za-z]:[\\/]", name) is not None
        or "\\" in name
        or name.count("/") > 1
        or name.lower().endswith((".json", ".safetensors", ".ckpt", ".bin", ".pt", ".pth"))
    )


def load_pipeline(model: str | os.PathLike = "auto", *, device=None, dtype=None, cache: bool = True):
    """A StableDiffusionPipeline with a DDIMScheduler: ``"auto"``, ``"pocket"``, a hub id or a local folder.

    ``device``: "cpu", "cuda", "mps" or None (the best available); ``dtype``: torch.float32, torch.float16,
    torch.bfloat16 or their names (None: float16 on CUDA for big models, else float32). Only Stable Diffusion
    pipelines with safetensors weights are loaded, and never any code that comes with a model.
    """
    try:
        return _load_pipeline(model, device=device, dtype=dtype, cache=cache)
    except ModelLoadError as e:
        env = _named_by_env(model)
        if env is not None:  # load_pipeline() named no model: say where this one came from
            hint = f"the model came from the environment variable {ENV_VAR}={env!r}: change or unset it"
            raise ModelLoadError(f"{e} ({hint})") from None
        raise


def _load_pipeline(model, *, device, dtype, cache):
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    from .ddim import _flag

    cache = _flag(cache, "cache")
    name = resolve_model(model)
    device = _check_device(device)
    dtype = _check_dtype(dtype, device, name)
    folder = POCKET_DIR if name == POCKET else expand_user(name)
    try:  # a folder is known by where it is and what it holds: "./m" from two working folders is two models
        where, stamp = (str(folder.resolve()), _folder_stamp(folder)) if folder.is_dir() else (name, None)
    except (OSError, ValueError):  # not a folder here (a hub id), or a name no path can hold
        where, stamp = name, None
    key = (where, str(device), str(dtype))
    if cache and key in _PIPELINE_CACHE:
        cached = _PIPELINE_CACHE[key]
        if getattr(cached, "_ddim_course_stamp", None) == stamp and _as_loaded(cached):
            return cached  # re-running the cell gives the model as loaded, not as an experiment left it
        del _PIPELINE_CACHE[key]  # moved to another device or dtype, or its files changed: load it again

    kwargs = dict(
        torch_dtype=dtype,
        use_safetensors=True,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    reason, local_only = None, _offline()
    if name == POCKET:
        if not (POCKET_DIR / "model_index.json").exists():
            raise ModelLoadError(
                f"the pocket model's weights are not in {POCKET_DIR}; train them with "
                "`python -m ddim_course.pocket.train --out ddim_course/pocket/weights` or reinstall the course"
            )
        path = POCKET_DIR
    else:
        path = expand_user(name)
        try:
            is_hub_id = _stat(path) is None and not _looks_local(name)
        except _FolderError as e:
            raise ModelLoadError(_not_found_message(name, str(e))) from None
        if is_hub_id:
            path = None
            local_only = _offline() or _hub_unreachable()  # no half minute of retries when there is no network
            _hub_index(name, local_only)
            if name == SD15 and dtype == torch.float16:
                kwargs["variant"] = "fp16"
    if path is not None:
        try:
            kwargs.update(_check_folder(path))
        except _FolderError as e:
            reason = str(e)
        if reason is not None:
            raise ModelLoadError(_not_found_message(name, reason, local=True)) from None
    source = name if path is None else str(path)
    try:
        # no "Loading pipeline components" (diffusers) or "Loading weights" (transformers) bar left in the notebook;
        # diffusers' warnings (a list of every unused weight) end in our one error
        with no_progress_bars("diffusers", "transformers"), quiet_logs("diffusers"):
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*safety.checker.*")
                warnings.filterwarnings("ignore", message=".*torch_dtype.*")  # older diffusers know no `dtype`
                # diffusers sets an old scheduler file's steps_offset to 1 (and clip_sample off), with the whole file
                warnings.filterwarnings("ignore", message="The configuration file of this scheduler")
                pipe = StableDiffusionPipeline.from_pretrained(source, local_files_only=local_only, **kwargs)
            pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config, **_ddim_choices(pipe.scheduler))
            reason = _tokenizer_problem(pipe)
    except Exception as e:  # noqa: BLE001 - turned into one clear error below
        reason = _explain(e, local=path is not None)
    if reason is not None:
        raise ModelLoadError(_not_found_message(name, reason, local=path is not None)) from None
    try:
        pipe = pipe.to(device)
    except Exception as e:  # noqa: BLE001 - e.g. out of GPU memory
        if "meta tensor" in str(e):  # parameters that no weights file filled: another model's weights?
            reason = "its weights do not match its config.json (some parameters got no weights: another model's files?)"
        else:
            reason = f"it could not be moved to {device} ({type(e).__name__}: {_first_line(e)})"
    if reason is not None:
        raise ModelLoadError(_not_found_message(name, reason, local=path is not None)) from None
    pipe.set_progress_bar_config(disable=True)
    pipe._ddim_course_model = name  # lets get_preset(pipe) find the preset
    if cache:
        pipe._ddim_course_loaded = (dict(pipe.scheduler.config), _part_dtypes(pipe), pipe.device)
        pipe._ddim_course_parts = _parts(pipe)
        pipe._ddim_course_stamp = stamp
        _PIPELINE_CACHE[key] = pipe
    return pipe


def _folder_stamp(folder: Path) -> tuple:
    """The files of a model folder as (path, size, modification time): a file replaced or edited since a pipeline
    was loaded changes it (a scheduler file set to v-prediction was not seen, and the old pipeline came back)."""
    files = []
    for root, _, names in os.walk(folder):
        for n in sorted(names):
            st = os.stat(os.path.join(root, n))
            files.append((os.path.relpath(os.path.join(root, n), folder), st.st_size, st.st_mtime_ns))
            if len(files) > 1000:  # not a model folder of a few dozen files: known by its place alone
                return ()
    return tuple(sorted(files))


def _parts(pipe) -> tuple:
    """What a learner may change on a cached pipeline that the scheduler check does not see: the models and the
    tokenizer themselves, the UNet's attention processors, the tokenizer's length, the VAE's latent scale and the
    schedule's values (changed in place: alphas_cumprod[:] = 0.5)."""
    unet = getattr(pipe, "unet", None)
    processors = tuple(sorted((k, type(v).__name__) for k, v in unet.attn_processors.items())) if unet else ()
    alphas = getattr(pipe.scheduler, "alphas_cumprod", None)
    return (
        tuple(id(getattr(pipe, n, None)) for n in ("unet", "vae", "text_encoder", "tokenizer")),
        processors,
        getattr(getattr(pipe, "tokenizer", None), "model_max_length", None),
        getattr(getattr(getattr(pipe, "vae", None), "config", None), "scaling_factor", None),
        alphas.detach().cpu().double().numpy().tobytes() if isinstance(alphas, torch.Tensor) else None,
    )


def _tokenizer_problem(pipe) -> str | None:
    """What makes a loaded tokenizer unfit for its text encoder, or None. A tokenizer_config.json that gives no
    model_max_length (transformers then reads it as 10**30) gets the encoder's own length."""
    tok, config = pipe.tokenizer, getattr(pipe.text_encoder, "config", None)
    vocab = getattr(config, "vocab_size", None)
    if isinstance(vocab, int) and len(tok) < vocab // 2:
        return (
            f"its tokenizer knows {len(tok)} tokens but its text encoder reads {vocab}: the tokenizer's files "
            "(tokenizer.json, or vocab.json and merges.txt) are incomplete or another model's"
        )
    positions = getattr(config, "max_position_embeddings", None)
    # at least the start token, one word and the end token (a length of 1 warned that every prompt was cut)
    if isinstance(positions, int) and positions > 0 and not min(3, positions) <= tok.model_max_length <= positions:
        tok.model_max_length = positions
    return None


def _part_dtypes(pipe) -> tuple:
    """The dtypes of the pipeline's three models (a part removed or replaced by something else: None)."""
    return tuple(getattr(getattr(pipe, name, None), "dtype", None) for name in ("unet", "vae", "text_encoder"))


def _as_loaded(pipe) -> bool:
    """Bring a cached pipeline back to the scheduler it was loaded with (a learner may have swapped it, or changed
    its prediction type: every later result would be wrong); False when its dtype or device changed."""
    from diffusers import DDIMScheduler

    config, dtypes, device = getattr(pipe, "_ddim_course_loaded", (None, None, None))
    if config is None or pipe.device != device or _part_dtypes(pipe) != dtypes:
        return False  # moved, or a part cast to another dtype (pipe.text_encoder.half(), ...): load it again
    parts = getattr(pipe, "_ddim_course_parts", None)
    now = _parts(pipe) if type(pipe.scheduler) is DDIMScheduler and dict(pipe.scheduler.config) == config else None
    if parts is not None and now is not None and now != parts:
        changed = next(
            what
            for what, a, b in zip(
                (
                    "a model or the tokenizer",
                    "an attention processor",
                    "the tokenizer's length",
                    "the VAE's scaling factor",
                    "the schedule's values",
                ),
                now,
                parts,
            )  # fmt: skip
            if a != b
        )
        warnings.warn(
            f"the cached pipeline was changed since it was loaded ({changed}); load_pipeline loaded it again "
            "(load_pipeline(..., cache=False) loads a separate copy to experiment on)",
            stacklevel=3,
        )
        return False
    if type(pipe.scheduler) is not DDIMScheduler or dict(pipe.scheduler.config) != config:
        warnings.warn(
            "the cached pipeline's scheduler was changed since it was loaded; load_pipeline put its DDIM scheduler "
            "back (load_pipeline(..., cache=False) loads a separate copy to experiment on)",
            stacklevel=3,
        )
        pipe.scheduler = DDIMScheduler.from_config(config)
    return True


def _ddim_choices(scheduler) -> dict:
    """What DDIM takes from Stable Diffusion when a folder ships another sampler (Euler, DPM-Solver): their files
    say nothing of the last step's alpha (DDIM's default would end at 1, where SD's ends at alphas_cumprod[0], and
    edit-friendly DDPM inversion's last step could add no noise), and their "linspace" spacing puts timesteps 20.4
    apart at 50 steps while a DDIM step goes 1000 // 50 = 20 down, as diffusers' DDIMScheduler does."""
    from diffusers import DDIMScheduler

    config = scheduler.config
    if isinstance(scheduler, DDIMScheduler):  # a DDIM file says what it wants; what it leaves out is SD's
        missing = set(config.get("_use_default_values", ()))  # from_config would put DDIM's defaults back
        choices = {k: False for k in ("clip_sample", "set_alpha_to_one") if k in missing}
        if "steps_offset" in missing:  # diffusers sets an old file's steps_offset to 1
            choices["steps_offset"] = config.get("steps_offset", 1)
        return choices
    choices = {} if "set_alpha_to_one" in config else {"set_alpha_to_one": False}
    if "clip_sample" not in config:  # DDIMScheduler's default would clip: SD's sampler never does
        choices["clip_sample"] = False
    if config.get("timestep_spacing") == "linspace":
        choices["timestep_spacing"] = "leading"
    return choices


def _explain(e: Exception, local: bool = False) -> str:
    """The real cause of a failed from_pretrained, in a few words (``local``: from a folder, not the Hub)."""
    text = str(e)
    low = text.lower()
    kind = type(e).__name__
    first = _first_line(e)
    if "deserializ" in low or "safetensorerror" in kind.lower() or "unable to load weights" in low:
        return f"a safetensors weights file is damaged or incomplete ({first})"
    if "safetensors" in low and ("could not find" in low or ".bin" in low or "use_safetensors" in low):
        return "it has no safetensors weights (this course loads safetensors only, never pickled .bin files)"
    if "size mismatch" in low or ("shape" in low and ("expected" in low or "mismatch" in low)):
        return f"its weights do not match its config.json ({first})"
    if isinstance(e, json.JSONDecodeError) or "jsondecodeerror" in low or "not a valid json" in low:
        return f"one of its config files is not valid JSON ({first})"
    if _offline() and any(w in low for w in ("cache", "offline", "outgoing traffic", "local_files_only")):
        return f"it is not (completely) in the local cache and HF_HUB_OFFLINE is set ({kind})"
    if not local and ("not found" in low or "404" in low or "repository" in low):
        return f"the id is unknown on the Hugging Face Hub or the Hub is unreachable ({kind})"
    return f"{kind}: {first}"


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
    # prompt-to-prompt's settings for this model (attention.PromptToPrompt's fields); Hertz et al.'s for SD
    prompt_to_prompt: dict = field(default_factory=dict)
    # what differs for one kind of pie-tiny edit ("colour", "shape", "pattern"), measured on development scenes
    prompt_to_prompt_by_kind: dict = field(default_factory=dict)
    vocabulary: bool = False  # True: the model knows only a few words (the pocket model), told as prompt_note

    def prompt_to_prompt_for(self, kind: str | None = None) -> dict:
        """Prompt-to-prompt settings for an edit of ``kind`` (None: any edit): the model's, with what that kind of
        edit needs on top (the pocket model's background-pattern edits: no cross-attention injection, a tighter
        mask). Hertz et al. set them per edit too."""
        from .pocket.pie_tiny import KINDS

        if kind is not None and kind not in KINDS:
            raise ValueError(f"kind must be None (any edit) or one of {KINDS}, got {kind!r}")
        return self.prompt_to_prompt | self.prompt_to_prompt_by_kind.get(kind, {})

    @property
    def prompt_note(self) -> str:
        """What a learner may type as a prompt, in the language of ``set_language``; "" when any text will do."""
        return vocabulary() if self.vocabulary else ""

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
        # chosen by measurement (notebook 05): at start_step 15, guidance 2 each edit is read back right by the
        # pocket reader, in place (centre moved 0.3, 1.4, 1.1 px); "a blue circle" erases the circle instead (05's
        # failure cases), "a red circle on a dotted background" stays striped
        edit_prompts=(
            "a green circle on a striped background",
            "a red square on a striped background",
            "a red circle on a plain background",
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
        # measured on pie-tiny (python -m ddim_course.bench edits): the pocket model's maps are 8 x 8, one map pixel
        # is 8 image pixels, so no dilation; and they never fall to 0, so a higher threshold than SD's 0.3
        prompt_to_prompt={"blend_threshold": 0.5, "blend_dilation": 0},
        # pattern edits (30 development scenes, direct + P2P): read right 53% -> 90%, the shape kept at 34 dB and
        # moved 0.7 px; the source's cross-attention held the old stripes in place (benchmarks/README.md)
        prompt_to_prompt_by_kind={"pattern": {"cross_replace_steps": 0.0, "blend_threshold": 0.6}},
        vocabulary=True,
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
# Stable Diffusion 2.1 (OpenCLIP text encoder, 1024-wide cross-attention): the examples of the lesson's Chinese
# edition, as far as this repository's public-domain photos allow: its face -> sunglasses on Grace Hopper's portrait;
# its puppy -> cat turned round (there is no puppy photo here): the cat photo -> a puppy.
PRESETS[SD21_BASE] = Preset(
    name=SD21_BASE,
    example_image="cat",
    source_prompt="a photograph of a cat",
    edit_prompts=("a photograph of a puppy", "a photograph of a tiger", "a watercolor painting of a cat"),
    sample_prompts=(
        "a photograph of a puppy on the grass",
        "a watercolor painting of a lighthouse",
        "a cup of coffee on a wooden table",
    ),
    guidance_scale=7.5,
    edit_start_step=10,
    extra_images={"grace_hopper": ("a photograph of a woman", ("a photograph of a woman wearing sunglasses",))},
)
PRESETS[SD21] = replace(PRESETS[SD21_BASE], name=SD21)


def get_preset(model=None) -> Preset:
    """The preset for a pipeline or model name; SD 1.5's for any other SD-family model."""
    if model is None or isinstance(model, (str, os.PathLike)):
        name = resolve_model("auto" if model is None else model)
        with contextlib.suppress(OSError, ValueError):
            folder = expand_user(name)
            if folder.resolve() == POCKET_DIR.resolve() or (name not in PRESETS and _pocket_folder(folder)):
                name = POCKET  # the shipped weights' folder, or a copy or a run of the training script
        near = difflib.get_close_matches(str(name), [k for k in PRESETS if k != str(name)], n=1, cutoff=0.8)
        if str(name) not in PRESETS and near and not os.path.exists(os.path.expanduser(str(name))):  # a typo would
            # silently get Stable Diffusion 1.5's settings (a folder of that name is the learner's own model)
            warnings.warn(
                f"get_preset({model!r}): no preset has this name, so it is Stable Diffusion 1.5's; did you mean "
                f"{near[0]!r}?",
                stacklevel=2,
            )
    else:
        if not hasattr(model, "unet"):
            raise ValueError(
                f"get_preset needs a pipeline (load_pipeline()), a model name or None, got {type(model).__name__}"
            )
        name = getattr(model, "_ddim_course_model", None) or getattr(model, "name_or_path", "")
        if str(name) not in PRESETS and _pocket_shaped(model):
            name = POCKET  # the shipped weights loaded by hand, or a pocket model the learner trained
    return PRESETS.get(str(name), PRESETS[SD15])


def _pocket_folder(folder: Path) -> bool:
    """Whether a model folder holds a pocket-shaped tokenizer (as ``_pocket_shaped`` asks of a loaded pipeline):
    get_preset(folder) then agrees with get_preset(load_pipeline(folder))."""
    from .pocket.model import MAX_LENGTH, grammar_words

    if not folder.is_dir():
        return False
    try:
        config = _read_json(folder / "tokenizer" / "tokenizer_config.json", "tokenizer config")
        vocab = _read_json(folder / "tokenizer" / "vocab.json", "vocabulary")  # SD's is over the size read: False
    except _FolderError:
        return False
    return config.get("model_max_length") == MAX_LENGTH and all(f"{w}</w>" in vocab for w in grammar_words())


def _pocket_shaped(pipe) -> bool:
    """Whether a pipeline speaks the pocket model's language: its 16-token tokenizer, every grammar word one token
    (what ``python -m ddim_course.pocket.train`` writes); its prompts and settings are the pocket model's then."""
    from .pocket.model import MAX_LENGTH, grammar_words

    tok = getattr(pipe, "tokenizer", None)
    if getattr(tok, "model_max_length", None) != MAX_LENGTH:
        return False
    try:
        vocab = tok.get_vocab()
    except Exception:  # a tokenizer without a vocabulary
        return False
    return all(f"{w}</w>" in vocab for w in grammar_words())
