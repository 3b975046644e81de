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
    img2img,
    invert,
    load_image,
    load_pipeline,
    reconstruct,
    sample,
)
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
    (tmp / "weights" / "notes.txt").write_text("not a model")
    return tmp / "weights"


def _bin_only(tmp):
    from safetensors.torch import load_file

    folder = tmp / "binmodel"
    tiny_pipeline().save_pretrained(folder)
    unet = folder / "unet" / "diffusion_pytorch_model.safetensors"
    torch.save(load_file(unet), unet.with_suffix(".bin"))
    unet.unlink()
    return folder


def _img(mode):
    rgb = Image.fromarray((np.random.default_rng(0).random((24, 32, 3)) * 255).astype(np.uint8))
    return rgb.convert(mode)


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
        lambda t, p, u: load_image((t / "x.png").write_text("hello") and t / "x.png"),
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
        (ValueError, r"num_inference_steps must be in \[1, 1000\], got 0"),
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
        (ValueError, "guidance_scale must be >= 0"),
    ),
    ("empty-prompt", "an empty prompt", lambda t, p, u: sample(p, "", num_inference_steps=2, progress=False), "works"),
    (
        "long-prompt",
        "a prompt longer than the text encoder reads",
        lambda t, p, u: sample(p, " ".join([PROMPT] * 12), num_inference_steps=2, progress=False),
        ("warns", "the end is cut off"),
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
]


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
    text = DOC.read_text()
    rows = re.findall(r"^\| `([a-z0-9-]+)` \|", text, flags=re.M)
    assert rows == [c[0] for c in CASES]
    assert len(rows) >= 20
