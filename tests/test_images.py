"""Loading images: every kind of input a learner may hand over, good and bad."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from ddim_course import ImageLoadError, decode, encode, load_image, pil_to_tensor, psnr, show_images, tensor_to_pil
from ddim_course.images import IMAGES_DIR, example_image
from ddim_course.pocket.scenes import draw_scene
from tests.conftest import local_server


def _png_bytes(im):
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def test_shipped_photos_load_and_are_attributed():
    names = sorted(p.stem for p in IMAGES_DIR.glob("*.jpg"))
    assert len(names) >= 4
    attribution = (IMAGES_DIR / "ATTRIBUTION.md").read_text()
    for name in names:
        assert f"{name}.jpg" in attribution
        im = load_image(example_image(name), size=64)
        assert im.size == (64, 64) and im.mode == "RGB"


@pytest.mark.parametrize("mode", ["RGBA", "P", "L", "CMYK", "I;16", "LA", "1", "F"])
def test_any_mode_becomes_rgb(tmp_path, mode):
    base = Image.fromarray((np.random.default_rng(0).random((20, 30, 3)) * 255).astype(np.uint8))
    if mode == "I;16":
        im = Image.fromarray((np.random.default_rng(0).random((20, 30)) * 65535).astype(np.uint16))
    elif mode == "F":
        im = Image.fromarray(np.random.default_rng(0).random((20, 30)).astype(np.float32))
    else:
        im = base.convert(mode)
    path = tmp_path / ("x.tif" if mode in ("CMYK", "I;16", "F") else "x.png")
    im.save(path)
    out = load_image(path)
    assert out.mode == "RGB" and out.size == (30, 20)
    assert load_image(im).mode == "RGB"


def test_resize_and_centre_crop():
    im = Image.new("RGB", (300, 100), "white")
    assert load_image(im, size=64).size == (64, 64)
    assert load_image(im, size=(48, 32)).size == (48, 32)
    assert load_image(Image.new("RGB", (1, 1)), size=64).size == (64, 64)
    assert load_image(Image.new("RGB", (10000, 10)), size=64).size == (64, 64)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such image file"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(FileNotFoundError, match="did you mean"):
        load_image("cat.jpg")  # a shipped photo, named without its folder
    with pytest.raises(ImageLoadError, match="is a folder"):
        load_image(tmp_path)
    with pytest.raises(ValueError, match="must be a path, a URL or a PIL image"):
        load_image(42)


def test_not_an_image_and_truncated(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("hello, not an image")
    with pytest.raises(ImageLoadError, match="not an image"):
        load_image(bad)
    data = _png_bytes(draw_scene(seed=0).pil())
    cut = tmp_path / "cut.png"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageLoadError, match="is the file complete"):
        load_image(cut)
    assert cut.read_bytes() == data[: len(data) // 2]  # nothing on disk was touched


def test_decompression_bomb(tmp_path):
    bomb = tmp_path / "bomb.png"
    Image.new("1", (12_000, 12_000)).save(bomb)  # 144 M pixels in a few kB
    assert bomb.stat().st_size < 100_000
    with pytest.raises(ImageLoadError, match="decompression bomb"):
        load_image(bomb)


def test_url_image_html_timeout_and_oversize(monkeypatch):
    import ddim_course.images as images

    png = _png_bytes(draw_scene(seed=1).pil())
    routes = {
        "/ok.png": ("image/png", png, 0),
        "/page": ("text/html; charset=utf-8", b"<html>hi</html>", 0),
        "/slow.png": ("image/png", png, 1.5),
        "/big.png": ("image/png", b"\0" * 3000, 0),
    }
    with local_server(routes) as server:
        assert load_image(f"{server}/ok.png").size == (64, 64)
        with pytest.raises(ImageLoadError, match="'text/html', not an image"):
            load_image(f"{server}/page")
        monkeypatch.setattr(images, "READ_TIMEOUT", 0.3)
        with pytest.raises(ImageLoadError, match="timed out"):
            load_image(f"{server}/slow.png")
        monkeypatch.setattr(images, "MAX_DOWNLOAD_BYTES", 1000)
        with pytest.raises(ImageLoadError, match="the limit is"):
            load_image(f"{server}/big.png")


def test_psnr():
    a = torch.zeros(3, 8, 8)
    b = torch.full((3, 8, 8), 0.1)
    assert psnr(a, b) == pytest.approx(20.0)
    assert psnr(a, a) == float("inf")
    mask = torch.zeros(8, 8)
    mask[:4] = 1
    c = b.clone()
    c[:, 4:] = 0.5  # differs only outside the mask
    assert psnr(b, c, mask=mask) == float("inf")
    assert psnr(Image.new("RGB", (8, 8), (0, 0, 0)), Image.new("RGB", (8, 8), (255, 255, 255))) == 0.0
    with pytest.raises(ValueError, match="same size"):
        psnr(a, torch.zeros(3, 4, 4))


def test_pil_tensor_roundtrip_and_show_images():
    im = draw_scene(seed=2).pil()
    x = pil_to_tensor(im)
    assert x.shape == (1, 3, 64, 64) and 0 <= x.min() and x.max() <= 1
    assert np.array_equal(np.asarray(tensor_to_pil(x)[0]), np.asarray(im))
    fig = show_images([im, x[0]], titles=["pil", "tensor"])
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="titles"):
        show_images([im], titles=["a", "b"])


def test_encode_decode_shapes(pipe):
    im = draw_scene(seed=3).pil()
    z = encode(pipe, im)
    assert z.shape == (1, 4, 16, 16)
    assert torch.equal(z, encode(pipe, im))  # the encoder's mean: deterministic
    assert decode(pipe, z)[0].size == (64, 64)
    assert encode(pipe, Image.new("RGB", (200, 100))).shape == (1, 4, 16, 16)  # resized to the model
