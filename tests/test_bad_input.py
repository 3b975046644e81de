"""The bad-input table (docs/bad_input.md): every row is a case here, and each case proves that nothing on
disk was changed. A row either raises the error a learner sees, or works (possibly with a warning)."""

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ddim_course import (
    ImageLoadError,
    Inversion,
    ModelLoadError,
    edit,
    img2img,
    invert,
    load_image,
    load_pipeline,
    reconstruct,
    sample,
    show_images,
)
from ddim_course.attention import PromptToPrompt
from ddim_course.exact import edict_invert
from ddim_course.inversions import METHODS
from ddim_course.pocket.scenes import draw_scene
from tests.conftest import local_server, tiny_pipeline

DOC = Path(__file__).resolve().parent.parent / "docs" / "bad_input.md"
PROMPT = "a red circle on a striped background"


def _snapshot(folder: Path) -> dict:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(folder.rglob("*"))
    }


def _save(tmp, name, im, **kw):
    path = tmp / name
    im.save(path, **kw)
    return path


@pytest.fixture(scope="module")
def url():
    routes = {
        "/slow.png": ("image/png", b"\0" * 5000, 1.0),
        "/page": ("text/html", b"<html>not an image</html>", 0),
        "/big.png": ("image/png", b"\0" * 5000, 0),
        "/trickle.png": ("image/png", b"\0" * 20, 0, 0.25),  # one byte every 0.25 s: 5 s in all, then it stops
    }
    with local_server(routes) as address:
        yield address


def _bomb(tmp):
    return _save(tmp, "bomb.png", Image.new("1", (12_000, 12_000)))


def _truncated(tmp):
    path = _save(tmp, "full.png", draw_scene(seed=0).pil())
    cut = tmp / "cut.png"
    cut.write_bytes(path.read_bytes()[:300])
    return cut


def _not_a_pipeline(tmp):
    (tmp / "weights").mkdir()
    (tmp / "weights" / "notes.txt").write_text("not a model", encoding="utf-8")
    return tmp / "weights"


def _bin_only(tmp):
    from safetensors.torch import load_file

    folder = tmp / "binmodel"
    tiny_pipeline().save_pretrained(folder)
    unet = folder / "unet" / "diffusion_pytorch_model.safetensors"
    torch.save(load_file(unet), unet.with_suffix(".bin"))
    unet.unlink()
    return folder


def _fifo(tmp):
    import os

    os.mkfifo(tmp / "photo.png")
    return tmp / "photo.png"


def _nan_image():
    arr = np.zeros((8, 8), np.float32)
    arr[0, 0], arr[1, 1] = np.nan, np.inf
    return Image.fromarray(arr)


def _model_folder(tmp, index: str | None = None, **changes):
    """A model folder holding only a model_index.json: the pocket model's, changed, or the given text."""
    import json

    from ddim_course.models import POCKET_DIR

    folder = tmp / "model"
    folder.mkdir()
    if index is None:
        index = json.dumps({**json.loads((POCKET_DIR / "model_index.json").read_text(encoding="utf-8")), **changes})
    (folder / "model_index.json").write_text(index, encoding="utf-8")
    return folder


def _img(mode):
    rgb = Image.fromarray((np.random.default_rng(0).random((24, 32, 3)) * 255).astype(np.uint8))
    return rgb.convert(mode)


class CommandLineError(Exception):
    """``python -m ddim_course ...`` exited with an error; the message is the one line it printed on stderr."""


def _cli(*args):
    """Run the command line in-process (never loading a model in these rows); an error exit raises."""
    import contextlib
    import io

    from ddim_course.__main__ import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main([str(a) for a in (*args, "--model", "pocket", "--quiet")])
    if code:
        raise CommandLineError(err.getvalue().strip())
    return code


def _dangling_link(tmp):
    link = tmp / "link.png"
    link.symlink_to(tmp / "not-yet.png")
    return link


def _old_pt(tmp):
    path = tmp / "old.pt"
    torch.save({"latents": [torch.zeros(1, 4, 8, 8)] * 2, "timesteps": [999], "num_inference_steps": 1}, path)
    return path


# (id, what is given, how it is called, expected: exception type and message, or "works")
CASES = [
    (
        "missing-file",
        "a path that does not exist",
        lambda t, p, u: load_image(t / "nope.png"),
        (FileNotFoundError, "no such image file"),
    ),
    ("directory", "a folder instead of a file", lambda t, p, u: load_image(t), (ImageLoadError, "is a folder")),
    (
        "not-an-image",
        "a text file named .png",
        lambda t, p, u: load_image((t / "x.png").write_text("hello", encoding="utf-8") and t / "x.png"),
        (ImageLoadError, "not an image"),
    ),
    (
        "truncated-png",
        "the first 300 bytes of a PNG",
        lambda t, p, u: load_image(_truncated(t)),
        (ImageLoadError, "is the file complete"),
    ),
    (
        "bomb",
        "a 12000x12000 PNG of a few kB",
        lambda t, p, u: load_image(_bomb(t)),
        (ImageLoadError, "decompression bomb"),
    ),
    (
        "16-bit",
        "a 16-bit greyscale PNG",
        lambda t, p, u: load_image(_save(t, "a.png", Image.fromarray(np.full((8, 8), 40000, np.uint16)))),
        "works",
    ),
    ("cmyk", "a CMYK JPEG", lambda t, p, u: load_image(_save(t, "a.jpg", _img("CMYK"))), "works"),
    (
        "rgba",
        "an RGBA PNG (transparency goes onto white)",
        lambda t, p, u: load_image(_save(t, "a.png", _img("RGBA"))),
        "works",
    ),
    ("palette", "a palette (P) PNG", lambda t, p, u: load_image(_save(t, "a.png", _img("P"))), "works"),
    ("greyscale", "a greyscale (L) PNG", lambda t, p, u: load_image(_save(t, "a.png", _img("L"))), "works"),
    (
        "1x1",
        "a 1x1 image, resized to the model",
        lambda t, p, u: load_image(Image.new("RGB", (1, 1)), size=64),
        "works",
    ),
    (
        "10000x10",
        "a 10000x10 strip, centre-cropped",
        lambda t, p, u: load_image(Image.new("RGB", (10000, 10)), size=64),
        "works",
    ),
    (
        "url-timeout",
        "a URL that answers too slowly (local server)",
        lambda t, p, u: _load_with("READ_TIMEOUT", 0.3, f"{u}/slow.png"),
        (ImageLoadError, "timed out"),
    ),
    (
        "url-html",
        "a URL that returns an HTML page",
        lambda t, p, u: load_image(f"{u}/page"),
        (ImageLoadError, "not an image"),
    ),
    (
        "url-oversized",
        "a download over the size limit",
        lambda t, p, u: _load_with("MAX_DOWNLOAD_BYTES", 1000, f"{u}/big.png"),
        (ImageLoadError, "limit is"),
    ),
    (
        "start-step",
        "start_step 50 with 50 steps",
        lambda t, p, u: img2img(p, draw_scene(seed=1).pil(), PROMPT, start_step=50, progress=False),
        (ValueError, r"start_step must be in \[0, 49\] for 50 steps, got 50"),
    ),
    (
        "steps-zero",
        "num_inference_steps=0",
        lambda t, p, u: sample(p, PROMPT, num_inference_steps=0),
        (ValueError, r"num_inference_steps must be in \[1, 999\] for this model's scheduler, got 0"),
    ),
    (
        "steps-negative",
        "num_inference_steps=-5",
        lambda t, p, u: sample(p, PROMPT, num_inference_steps=-5),
        (ValueError, "num_inference_steps must be in"),
    ),
    (
        "negative-guidance",
        "guidance_scale=-2",
        lambda t, p, u: sample(p, PROMPT, guidance_scale=-2),
        (ValueError, r"guidance_scale must be a number in \[0, 100\]"),
    ),
    ("empty-prompt", "an empty prompt", lambda t, p, u: sample(p, "", num_inference_steps=2, progress=False), "works"),
    (
        "long-prompt",
        "a prompt longer than the text encoder reads",
        lambda t, p, u: sample(p, " ".join([PROMPT] * 12), num_inference_steps=2, progress=False),
        ("warns", r"the end is cut off: it reads '(a red circle on a striped background ?){2}' and drops 'a red"),
    ),
    (
        "unknown-model",
        "an unknown model id while offline",
        lambda t, p, u: load_pipeline("nobody/no-such-model"),
        (ModelLoadError, "could not load the model 'nobody/no-such-model'"),
    ),
    (
        "not-a-pipeline",
        "a local folder that is not a pipeline",
        lambda t, p, u: load_pipeline(_not_a_pipeline(t)),
        (ModelLoadError, "not a diffusers pipeline folder"),
    ),
    (
        "bin-only",
        "a checkpoint with .bin weights only",
        lambda t, p, u: load_pipeline(_bin_only(t), cache=False),
        (ModelLoadError, "safetensors only"),
    ),
    (
        "named-pipe",
        "a named pipe (FIFO) instead of an image file",
        lambda t, p, u: load_image(_fifo(t)),
        (ImageLoadError, r"photo.png is not a regular file \(a named pipe\)"),
    ),
    (
        "device-file",
        "/dev/zero, a device that never ends",
        lambda t, p, u: load_image("/dev/zero"),
        (ImageLoadError, r"/dev/zero is not a regular file \(a character device\)"),
    ),
    (
        "url-trickle",
        "a URL that trickles one byte at a time (total deadline lowered to 0.5 s)",
        lambda t, p, u: _load_with("TOTAL_TIMEOUT", 0.5, f"{u}/trickle.png"),
        (ImageLoadError, r"took over 0.5 s in all \(TOTAL_TIMEOUT"),
    ),
    (
        "file-url",
        "a file:// URL",
        lambda t, p, u: load_image(f"file://{t}/mine.png"),
        (ImageLoadError, r"only http\(s\) URLs and local paths are supported, not file: URLs"),
    ),
    (
        "data-url",
        "a data: URL",
        lambda t, p, u: load_image("data:image/png;base64,iVBORw0KGgo="),
        (ImageLoadError, r"only http\(s\) URLs and local paths are supported, not data: URLs"),
    ),
    (
        "url-password",
        "a URL with a user name and password (the page is missing)",
        lambda t, p, u: load_image(u.replace("http://", "http://learner:hunter2@") + "/missing.png"),
        (ImageLoadError, r"^(?!.*hunter2).*could not fetch http://\*\*\*@127\.0\.0\.1:\d+/missing.png: HTTP 404"),
    ),
    (
        "long-path",
        "a 5000-character path",
        lambda t, p, u: load_image(t / ("a" * 5000 + ".png")),
        (ImageLoadError, "the path is too long for the file system"),
    ),
    (
        "nan-image",
        "a float (mode F) image with NaN and infinite pixels",
        lambda t, p, u: load_image(_nan_image()),
        (ImageLoadError, "the image has 2 NaN or infinite pixels"),
    ),
    (
        "bad-model-index",
        "a model folder whose model_index.json is not valid JSON",
        lambda t, p, u: load_pipeline(_model_folder(t, '{"_class_name": "StableDiffusionPipeline",'), cache=False),
        (ModelLoadError, r"^(?!.*local cache).*its model_index.json is not valid JSON"),
    ),
    (
        "missing-component",
        "a model folder without its unet/ folder",
        lambda t, p, u: load_pipeline(_model_folder(t), cache=False),
        (ModelLoadError, "it has no unet/ folder, which model_index.json lists"),
    ),
    (
        "custom-pipeline",
        "a model folder that names its own pipeline class",
        lambda t, p, u: load_pipeline(_model_folder(t, _class_name="MyPipeline"), cache=False),
        (ModelLoadError, "never runs code that comes with a model"),
    ),
    (
        "bad-dtype",
        "dtype=torch.int8",
        lambda t, p, u: load_pipeline("pocket", dtype=torch.int8),
        (ModelLoadError, r"dtype must be torch.float32, torch.float16 or torch.bfloat16"),
    ),
    (
        "bad-device",
        'device="gpu"',
        lambda t, p, u: load_pipeline("pocket", device="gpu"),
        (ModelLoadError, "did you mean 'cuda'"),
    ),
    (
        "wrong-latent",
        "an Inversion whose latents have the wrong shape",
        lambda t, p, u: reconstruct(p, _bad_inversion(p)),
        (ValueError, r"must have shape \(batch, 4, height, width\)"),
    ),
    (
        "not-an-inversion",
        "a plain tensor given to reconstruct",
        lambda t, p, u: reconstruct(p, torch.zeros(1, 4, 8, 8)),
        (ValueError, "must be an Inversion"),
    ),
    (
        "cli-output-is-input",
        "command line: -o is the input image, with --force",
        lambda t, p, u: _cli("edit", t / "mine.png", "--source", "a", "--target", "b", "--force", "-o", t / "mine.png"),
        (CommandLineError, "is the input file"),
    ),
    (
        "cli-dangling-link",
        "command line: -o is a symbolic link to a file not there yet",
        lambda t, p, u: _cli("edit", t / "mine.png", "--source", "a", "--target", "b", "-o", _dangling_link(t)),
        (CommandLineError, "is a symbolic link"),
    ),
    (
        "cli-pickled-inversion",
        "command line: reconstruct an old pickled .pt inversion",
        lambda t, p, u: _cli("reconstruct", _old_pt(t), "-o", t / "back.png"),
        (CommandLineError, "pickled file"),
    ),
    (
        "cli-guidance-nan",
        "command line: --guidance nan",
        lambda t, p, u: _cli(
            "edit", t / "mine.png", "--source", "a", "--target", "b", "--guidance", "nan", "-o", t / "x.png"
        ),
        (CommandLineError, r"--guidance must be a number in \[0, 100\]"),
    ),
    (
        "eta-nan",
        "eta=float('nan')",
        lambda t, p, u: sample(p, PROMPT, eta=float("nan"), num_inference_steps=2, progress=False),
        (ValueError, r"eta must be a number in \[0, 1\]"),
    ),
    (
        "eta-above-1",
        "eta=1.5",
        lambda t, p, u: sample(p, PROMPT, eta=1.5, num_inference_steps=2, progress=False),
        (ValueError, r"eta must be a number in \[0, 1\]"),
    ),
    (
        "guidance-inf",
        "guidance_scale=float('inf')",
        lambda t, p, u: sample(p, PROMPT, guidance_scale=float("inf"), num_inference_steps=2, progress=False),
        (ValueError, r"guidance_scale must be a number in \[0, 100\]"),
    ),
    (
        "guidance-absurd",
        "guidance_scale=1e6",
        lambda t, p, u: invert(p, draw_scene(seed=1).pil(), PROMPT, guidance_scale=1e6, progress=False),
        (ValueError, r"guidance_scale must be a number in \[0, 100\]"),
    ),
    (
        "nan-latents",
        "start_latents holding a NaN",
        lambda t, p, u: sample(p, PROMPT, start_latents=_nan_latents(), num_inference_steps=2, progress=False),
        (ValueError, "start_latents holds 1 NaN or infinite values"),
    ),
    (
        "meta-latents",
        "start_latents on the meta device",
        lambda t, p, u: sample(p, PROMPT, start_latents=torch.empty(1, 4, 16, 16, device="meta"), progress=False),
        (ValueError, "meta device"),
    ),
    (
        "two-prompts-one-image",
        "two prompts for one image in invert",
        lambda t, p, u: invert(p, draw_scene(seed=1).pil(), [PROMPT, PROMPT], progress=False),
        (ValueError, "2 prompts for 1 image"),
    ),
    (
        "non-string-prompt",
        "a number as the prompt",
        lambda t, p, u: sample(p, 42, num_inference_steps=2, progress=False),
        (ValueError, "prompt must be a string or a list of strings, got int"),
    ),
    (
        "generator-int",
        "generator=0",
        lambda t, p, u: sample(p, PROMPT, generator=0, num_inference_steps=2, progress=False),
        (ValueError, r"generator must be a torch.Generator \(e.g."),
    ),
    (
        "empty-image-list",
        "an empty list of images",
        lambda t, p, u: invert(p, [], PROMPT, progress=False),
        (ValueError, "no images given"),
    ),
    (
        "numpy-steps",
        "num_inference_steps=np.int64(3)",
        lambda t, p, u: sample(p, PROMPT, num_inference_steps=np.int64(3), progress=False),
        "works",
    ),
    (
        "million-char-prompt",
        "a prompt of a million characters",
        lambda t, p, u: sample(p, "red " * 250_000, num_inference_steps=1, progress=False),
        ("warns", r"at least \d+ tokens .*the end is cut off: it reads 'red red .*\(1,000,000 characters in all\)'"),
    ),
    (
        "short-inversion",
        "an Inversion with fewer latents than its steps",
        lambda t, p, u: _short_inversion(p),
        (ValueError, "an Inversion of 3 steps holds 4 latents"),
    ),
    (
        "other-model",
        "an Inversion made by another model",
        lambda t, p, u: reconstruct(tiny_pipeline(seed=1), _inversion(p), progress=False),
        (ValueError, "this inversion was made by the model"),
    ),
    (
        "not-an-inversion-file",
        "Inversion.load of a file that is not one",
        lambda t, p, u: Inversion.load(_save(t, "picture.safetensors", Image.new("RGB", (4, 4)), format="PNG")),
        (ValueError, "is not an inversion file written by Inversion.save"),
    ),
    (
        "save-over-a-file",
        "Inversion.save onto a learner's file",
        lambda t, p, u: _inversion(p).save(t / "mine.png"),
        (ValueError, r"does not end in .safetensors"),
    ),
    (
        "save-to-a-folder-name",
        "Inversion.save to a name ending in a slash",
        lambda t, p, u: _inversion(p).save(f"{t}/run.safetensors/"),
        (ValueError, r"ends in a slash, so it names a folder; give a file name"),
    ),
    (
        "progress-no",
        'progress="no" (a string, which Python reads as true)',
        lambda t, p, u: invert(p, draw_scene(seed=2).pil(), PROMPT, num_inference_steps=2, progress="no"),
        (ValueError, r"progress must be True or False, got 'no'"),
    ),
    (
        "edict-mix-zero",
        "EDICT inversion with mix=0",
        lambda t, p, u: edict_invert(p, draw_scene(seed=2).pil(), PROMPT, num_inference_steps=2, mix=0, progress=False),
        (ValueError, r"mix must be a number in \[0.5, 1\] \(inverting EDICT divides by it"),
    ),
    (
        "fixed-point-too-many",
        "invert with fixed_point_iterations=1000",
        lambda t, p, u: invert(p, draw_scene(seed=2).pil(), PROMPT, fixed_point_iterations=1000, progress=False),
        (ValueError, r"fixed_point_iterations must be in \[0, 100\] \(0 = plain DDIM; 3 is plenty\), got 1000"),
    ),
    (
        "fixed-point-fraction",
        "invert with fixed_point_iterations=2.5",
        lambda t, p, u: invert(p, draw_scene(seed=2).pil(), PROMPT, fixed_point_iterations=2.5, progress=False),
        (ValueError, "fixed_point_iterations must be a whole number, got 2.5"),
    ),
    (
        "p2p-steps-above-one",
        "PromptToPrompt(cross_replace_steps=40): steps as a count, not a share",
        lambda t, p, u: PromptToPrompt(cross_replace_steps=40),
        (
            ValueError,
            r"cross_replace_steps must be a number in \[0, 1\] \(a share of the steps or of the map\), got 40",
        ),
    ),
    (
        "edit-unknown-control",
        "edit with control='attention'",
        lambda t, p, u: edit(p, draw_scene(seed=2).pil(), PROMPT, "a blue circle", control="attention", progress=False),
        (ValueError, "control must be None \\(prompt swap\\), 'prompt-to-prompt' or a PromptToPrompt"),
    ),
    (
        "p2p-after-edict",
        "edit with inversion='edict' and control='prompt-to-prompt'",
        lambda t, p, u: edit(
            p,
            draw_scene(seed=2).pil(),
            PROMPT,
            "a blue circle",
            inversion="edict",
            control="prompt-to-prompt",
            num_inference_steps=2,
            start_step=0,
            progress=False,
        ),
        (ValueError, "prompt-to-prompt editing from a 'edict' inversion is not built"),
    ),
    (
        "blend-word-missing",
        "PromptToPrompt(blend_words=('sky',)) for prompts without 'sky'",
        lambda t, p, u: edit(
            p,
            draw_scene(seed=2).pil(),
            PROMPT,
            "a blue circle",
            control=PromptToPrompt(blend_words=("sky",)),
            num_inference_steps=2,
            start_step=0,
            progress=False,
        ),
        (ValueError, r"none of blend_words \['sky'\] is a word of either prompt"),
    ),
    (
        "blend-word-misspelt",
        "PromptToPrompt(blend_words=('circle', 'cirlce')): one of two words misspelt",
        lambda t, p, u: edit(
            p,
            draw_scene(seed=2).pil(),
            PROMPT,
            "a blue circle",
            control=PromptToPrompt(blend_words=("circle", "cirlce")),
            num_inference_steps=2,
            start_step=0,
            progress=False,
        ),
        (ValueError, r"blend_words 'cirlce' is not a word of either prompt"),
    ),
    (
        "show-0-255",
        "show_images of a tensor of 0-255 pixels",
        lambda t, p, u: show_images(torch.full((3, 8, 8), 200.0)),
        (ValueError, r"show_images: image 0: needs values in \[0, 1\], got 200 to 200; for pixels in \[0, 255\]"),
    ),
    (
        "negative-prompt-unguided",
        "sample with a negative prompt at guidance_scale=1",
        lambda t, p, u: sample(p, PROMPT, negative_prompt="blue", guidance_scale=1, num_inference_steps=2),
        ("warns", "negative_prompt has no effect at guidance_scale=1"),
    ),
    (
        "method-option",
        "METHODS['ddim'] with an option of another method",
        lambda t, p, u: METHODS["ddim"](p, draw_scene(seed=2).pil(), PROMPT, negative_prompt="x"),
        (ValueError, "the 'ddim' method has no option 'negative_prompt'; its options are"),
    ),
    (
        "latents-too-large",
        "start_latents of 256 x 256 for a model of 16 x 16",
        lambda t, p, u: sample(p, PROMPT, start_latents=torch.randn(1, 4, 256, 256), num_inference_steps=1),
        (ValueError, r"start_latents's height and width must be at most 64 \(4 x the model's 16\)"),
    ),
    (
        "image-tensor",
        "invert of an image as a (1, 3, 64, 64) tensor",
        lambda t, p, u: invert(p, torch.rand(1, 3, 64, 64), PROMPT, num_inference_steps=1),
        (ValueError, r"a tensor given as the image is read as latents .* shape \(1, 3, 64, 64\), an image's"),
    ),
]


def _nan_latents():
    latents = torch.zeros(1, 4, 16, 16)
    latents[0, 0, 0, 0] = float("nan")
    return latents


def _inversion(pipe):
    return invert(pipe, draw_scene(seed=2).pil(), PROMPT, num_inference_steps=3, progress=False)


def _short_inversion(pipe):
    inv = _inversion(pipe)
    return Inversion(
        latents=inv.latents[:3], timesteps=inv.timesteps, prompt=PROMPT, guidance_scale=1.0, num_inference_steps=3
    )


def _load_with(setting: str, value, url: str):
    """load_image(url) with one of images.py's limits lowered for the test (then restored)."""
    import ddim_course.images as images

    old = getattr(images, setting)
    setattr(images, setting, value)
    try:
        return load_image(url)
    finally:
        setattr(images, setting, old)


def _bad_inversion(pipe):
    inv = invert(pipe, draw_scene(seed=2).pil(), PROMPT, num_inference_steps=3, progress=False)
    return Inversion(
        latents=[x[:, :3] for x in inv.latents],
        timesteps=inv.timesteps,
        prompt=PROMPT,
        guidance_scale=1.0,
        num_inference_steps=3,
    )


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_row(case, tmp_path, pipe, url):
    _, _, call, expected = case
    work = tmp_path / "work"
    work.mkdir()
    (work / "mine.png").write_bytes(b"a learner's file")
    before = _snapshot(work)
    if expected == "works":
        out = call(work, pipe, url)
        assert out is not None
        if isinstance(out, Image.Image):
            assert out.mode == "RGB"
    elif expected[0] == "warns":
        with pytest.warns(UserWarning, match=expected[1]):
            call(work, pipe, url)
    else:
        kind, message = expected
        with pytest.raises(kind, match=message) as err:
            call(work, pipe, url)
        assert "Traceback" not in str(err.value)
    after = _snapshot(work)
    assert after.get("mine.png") == hashlib.sha256(b"a learner's file").hexdigest()
    assert {k: v for k, v in after.items() if k in before} == before  # nothing that was there changed


def test_the_table_in_the_docs_lists_every_case():
    text = DOC.read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([a-z0-9-]+)` \|", text, flags=re.M)
    assert rows == [c[0] for c in CASES]
    assert len(rows) >= 20
    # each row shows the message its case asserts (so the table cannot go stale when a message changes)
    for name, _, _, expected in CASES:
        if expected == "works":
            continue
        row = re.search(rf"^\| `{name}` \|.*$", text, flags=re.M).group(0)
        shown = re.search(r"`(?:\w+: )?([^`]*)`[^`]*$", row)  # the row's last code span, less "SomeError: "
        candidates = [row, shown.group(1).replace("PORT", "8000") if shown else ""]
        assert any(re.search(expected[1], c) for c in candidates), f"docs/bad_input.md's row {name} is stale"
    readme = (DOC.parent.parent / "README.md").read_text(encoding="utf-8")
    assert f"{len(rows)} kinds of bad input" in readme  # the README's count is the table's
