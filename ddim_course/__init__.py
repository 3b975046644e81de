"""ddim_course: the working code of a hands-on course on DDIM inversion for Stable Diffusion."""

import logging
import sys


def _interrupted_while_starting(kind, value, traceback, _previous=sys.excepthook):
    """Ctrl-C while torch and diffusers import, before a command's own handler runs: one line, not a traceback."""
    if issubclass(kind, KeyboardInterrupt):
        sys.stderr.write("interrupted while the command was starting; nothing was done\n")
        sys.stderr.flush()  # Python ends by killing itself with SIGINT: nothing buffered would be written
    else:
        _previous(kind, value, traceback)


if sys.argv[:1] == ["-m"]:  # `python -m ddim_course...`: Python imports this package before the command's module
    sys.excepthook = _interrupted_while_starting

# transformers warns on import that torchvision is missing; the course never needs torchvision.
logging.getLogger("transformers.utils.import_utils").setLevel(logging.ERROR)
# a prompt longer than the text encoder reads gets the course's own one-line warning (ddim._prompts), not this log line
logging.getLogger("transformers.tokenization_utils_base").setLevel(logging.ERROR)

# ruff: noqa: E402

from .ddim import (
    Inversion,
    NonFiniteError,
    ddim_step,
    ddim_update,
    denoise,
    encode_text,
    guide,
    img2img,
    invert,
    model_fingerprint,
    predict_x0_and_eps,
    reconstruct,
    sample,
)
from .editing import edit
from .files import OutputPathError
from .i18n import get_language, set_language
from .images import ImageLoadError, decode, encode, example_image, load_image, pil_to_tensor, tensor_to_pil
from .inversions import METHODS
from .metrics import psnr
from .models import ModelLoadError, get_preset, load_pipeline
from .plots import plot_schedule, plot_snr, show_images

__version__ = "0.3.0"

__all__ = [
    "METHODS",
    "ImageLoadError",
    "Inversion",
    "ModelLoadError",
    "NonFiniteError",
    "OutputPathError",
    "ddim_step",
    "ddim_update",
    "decode",
    "denoise",
    "edit",
    "encode",
    "encode_text",
    "example_image",
    "get_language",
    "get_preset",
    "guide",
    "img2img",
    "invert",
    "load_image",
    "load_pipeline",
    "model_fingerprint",
    "pil_to_tensor",
    "plot_schedule",
    "plot_snr",
    "predict_x0_and_eps",
    "psnr",
    "reconstruct",
    "sample",
    "set_language",
    "show_images",
    "tensor_to_pil",
]
