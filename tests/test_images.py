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
    attribution = (IMAGES_DIR / "ATTRIBUTION.md").read_text(encoding="utf-8")
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
    bad.write_text("hello, not an image", encoding="utf-8")
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


# --------------------------------------------------------------------------------------------------
# hostile inputs: reads that never end, other schemes, secrets in URLs, odd paths, odd pixels
# --------------------------------------------------------------------------------------------------
@pytest.mark.timeout(30)
def test_pipes_devices_and_sockets_are_refused_not_read(tmp_path):
    import os
    import shutil
    import socket
    import tempfile
    from pathlib import Path

    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(ImageLoadError, match=r"pipe.png is not a regular file \(a named pipe\); give the path"):
        load_image(fifo)
    for device in ("/dev/zero", "/dev/urandom", "/dev/null"):
        if os.path.exists(device):
            with pytest.raises(ImageLoadError, match=r"is not a regular file \(a character device\)"):
                load_image(device)
    (tmp_path / "zero.png").symlink_to("/dev/zero")
    with pytest.raises(ImageLoadError, match=r"zero.png is not a regular file \(a character device\)"):
        load_image(tmp_path / "zero.png")
    short = Path(tempfile.mkdtemp(dir="/tmp"))  # a socket's path must be short (about 100 bytes)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(short / "sock.png"))
        with pytest.raises(ImageLoadError, match=r"is not a regular file \(a socket\)"):
            load_image(short / "sock.png")
    shutil.rmtree(short)
    real = tmp_path / "real.png"
    draw_scene(seed=0).pil().save(real)
    (tmp_path / "link.png").symlink_to(real)
    assert load_image(tmp_path / "link.png").size == (64, 64)  # a link to a regular file is fine


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    import ddim_course.images as images

    path = tmp_path / "big.png"
    draw_scene(seed=0).pil().save(path)
    monkeypatch.setattr(images, "MAX_FILE_BYTES", 100)
    with pytest.raises(ImageLoadError, match=r"big.png is .* kB; the limit is 0.1 kB"):
        load_image(path)
    monkeypatch.setattr(images, "MAX_FILE_BYTES", 50 * 2**20)
    assert load_image(path).size == (64, 64)


@pytest.mark.timeout(30)
def test_a_server_that_trickles_meets_the_total_deadline(monkeypatch):
    import contextlib
    import socket
    import threading
    import time

    import ddim_course.images as images

    monkeypatch.setattr(images, "TOTAL_TIMEOUT", 0.5)
    with local_server({"/trickle.png": ("image/png", b"\0" * 20, 0, 0.25)}) as server:  # 5 s in all, then stops
        start = time.monotonic()
        with pytest.raises(ImageLoadError, match=r"took over 0.5 s in all \(TOTAL_TIMEOUT"):
            load_image(f"{server}/trickle.png")
        assert time.monotonic() - start < 2.5

    # a server that trickles its headers, one byte every 0.1 s for at most 3 s
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve():
        conn, _ = listener.accept()
        with conn, contextlib.suppress(OSError):
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            for _ in range(30):
                conn.sendall(b"a")
                time.sleep(0.1)

    threading.Thread(target=serve, daemon=True).start()
    start = time.monotonic()
    with listener, pytest.raises(ImageLoadError, match="TOTAL_TIMEOUT"):
        load_image(f"http://127.0.0.1:{port}/x.png")
    assert time.monotonic() - start < 2.5


@pytest.mark.parametrize(
    "source, scheme",
    [
        ("file:///tmp/cat.png", "file"),
        ("data:image/png;base64,iVBORw0KGgo=", "data"),
        ("ftp://example.com/cat.png", "ftp"),
        ("s3://bucket/cat.png", "s3"),
        ("javascript:alert(1)", "javascript"),
        ("localhost:8000/cat.png", "localhost"),
    ],
)
def test_other_schemes_are_refused_by_name(source, scheme):
    with pytest.raises(ImageLoadError, match=rf"only http\(s\) URLs and local paths are supported, not {scheme}:"):
        load_image(source)


def test_a_windows_drive_is_a_path_not_a_scheme():
    with pytest.raises(FileNotFoundError, match=r"no such image file: C:\\x.png"):
        load_image("C:\\x.png")


def test_urls_never_show_a_password_or_token():
    with local_server({"/page": ("text/html", b"<html></html>", 0)}) as server:
        host = server.removeprefix("http://")
        for url, shown in [
            (f"http://learner:hunter2@{host}/missing.png", f"http://***@{host}/missing.png: HTTP 404"),
            (f"http://learner:hunter2@{host}/page", f"http://***@{host}/page returned 'text/html'"),
            (f"http://{host}/missing.png?token=hunter2&w=64", f"http://{host}/missing.png?token=***&w=64"),
            ("ftp://learner:hunter2@example.com/cat.png", "ftp://***@example.com/cat.png"),
        ]:
            with pytest.raises(ImageLoadError) as err:
                load_image(url)
            assert "hunter2" not in str(err.value) and shown in str(err.value)
            assert err.value.__cause__ is None and "hunter2" not in repr(err.value.__context__)


def test_broken_urls_are_one_line_errors():
    import socket

    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for url, message in [
        (f"http://user:hunter2@127.0.0.1:{port}/x.png", "connection refused"),
        ("http://", "not a valid URL"),
        ("http://[::1", "not a valid URL"),
        ("http://127.0.0.1:99999/x.png", "not a valid URL"),
        ("http:/x.png", "write it as http://host/path"),
    ]:
        with pytest.raises(ImageLoadError, match=message) as err:
            load_image(url)
        assert "\n" not in str(err.value) and "hunter2" not in str(err.value)


def test_paths_the_file_system_cannot_hold(tmp_path):
    import os

    with pytest.raises(ImageLoadError, match="too long for the file system") as err:
        load_image(tmp_path / ("a" * 5000 + ".png"))
    assert len(str(err.value)) < 300
    with pytest.raises(ImageLoadError, match="too long for the file system"):
        load_image("/".join(["abcdefgh"] * 600))
    with pytest.raises(ImageLoadError, match="NUL character"):
        load_image(str(tmp_path / "a\0b.png"))
    with pytest.raises(ImageLoadError, match="the path is empty"):
        load_image("")
    (tmp_path / "broken.png").symlink_to(tmp_path / "gone.png")
    with pytest.raises(FileNotFoundError, match="broken.png is a symbolic link to .*gone.png, which does not exist"):
        load_image(tmp_path / "broken.png")
    (tmp_path / "loop.png").symlink_to(tmp_path / "loop.png")
    with pytest.raises(ImageLoadError, match="symbolic links form a loop"):
        load_image(tmp_path / "loop.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageLoadError, match=r"empty.png is empty \(0 bytes\)"):
        load_image(tmp_path / "empty.png")
    with pytest.raises(FileNotFoundError, match=r"no such image file: .*line\\n.png"):  # still one line
        load_image(tmp_path / "line\n.png")
    if os.geteuid() != 0:  # root reads anything
        locked = tmp_path / "locked.png"
        draw_scene(seed=0).pil().save(locked)
        locked.chmod(0)
        with pytest.raises(ImageLoadError, match="permission denied"):
            load_image(locked)


def test_float_images_with_nan_or_inf_are_refused(tmp_path):
    arr = np.random.default_rng(0).random((20, 30)).astype(np.float32)
    arr[0, 0], arr[1, 1], arr[2, 2] = np.nan, np.inf, -np.inf
    im = Image.fromarray(arr)
    assert im.mode == "F"
    with pytest.raises(ImageLoadError, match=r"the image has 3 NaN or infinite pixels \(of 600\)"):
        load_image(im)
    im.save(tmp_path / "nan.tif")
    with pytest.raises(ImageLoadError, match="the image has 3 NaN or infinite pixels"):
        load_image(tmp_path / "nan.tif")
    with pytest.raises(ImageLoadError, match="NaN"):
        pil_to_tensor(im)


def test_arrays_tensors_and_bytes_say_how_to_convert():
    with pytest.raises(ValueError, match=r"numpy array of shape \(8, 8, 3\).*PIL.Image.fromarray\(array\)"):
        load_image(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ImageLoadError, match=r"torch tensor of shape \(3, 8, 8\).*tensor_to_pil"):
        load_image(torch.zeros(3, 8, 8))
    with pytest.raises(ImageLoadError, match=r"looks like a latent \(4 channels\).*decode\(pipe, latents\)\[0\]"):
        load_image(torch.zeros(1, 4, 16, 16))  # notebook 01's noise_explorer(pipe, latents): tensor_to_pil led nowhere
    with pytest.raises(ImageLoadError, match=r"got bytes; for image data use PIL.Image.open\(io.BytesIO\(data\)\)"):
        load_image(_png_bytes(Image.new("RGB", (4, 4))))
    with pytest.raises(ImageLoadError, match="got NoneType"):
        load_image(None)


def test_empty_and_closed_images_are_refused():
    for size in [(0, 0), (0, 5), (5, 0)]:
        with pytest.raises(ImageLoadError, match=rf"the image is empty \({size[0]}x{size[1]} pixels\)"):
            load_image(Image.new("RGB", size))
    assert load_image(Image.new("1", (3, 2))).size == (3, 2)  # a bool image is fine


@pytest.mark.parametrize("size", [0, -64, True, 64.0, "64", (64,), (64, 0), (64, 64.0), (64, None), 5000, (1, 4097)])
def test_size_is_checked(size):
    with pytest.raises(ValueError, match=r"size must be an int \(a square side\) or a \(width, height\) pair of ints"):
        load_image(Image.new("RGB", (8, 8)), size=size)


def test_good_sizes_still_work():
    im = Image.new("RGB", (30, 20))
    assert load_image(im, size=np.int64(16)).size == (16, 16)
    assert load_image(im, size=[24, 12]).size == (24, 12)
    assert load_image(im, size=(4096, 1)).size == (4096, 1)


def test_a_wide_row_of_images_is_narrowed_to_a_page_not_shrunk_by_the_browser():
    """Seven images of 3 inches made a figure 21 inches wide, which JupyterLab drew at 62%: titles 6 pixels high."""
    import matplotlib.pyplot as plt

    from ddim_course.plots import MAX_ROW_INCHES, show_images

    picture = Image.new("RGB", (16, 16), "white")
    fig = show_images([picture] * 7, titles=["a title of some length"] * 7, ncols=7, size=3)
    assert fig.get_size_inches()[0] <= MAX_ROW_INCHES + 1e-6
    fig2 = show_images([picture] * 2, ncols=2, size=3)
    assert fig2.get_size_inches()[0] == 6  # a row that fits keeps the size asked for
    plt.close("all")


def test_a_wrapped_title_keeps_a_number_with_its_unit():
    """Notebook 05's failure cases ended a title line in "moved 20.7" with "px" alone below it."""
    from ddim_course.plots import _fill

    for width in range(12, 60):
        for line in _fill("a word tied elsewhere: reads blue circle, moved 20.7 px; 31.0 dB in 12 steps", width).split(
            "\n"
        ):
            assert not line.startswith(("px", "dB", "steps")), (width, line)
    assert "\u00a0" not in _fill("moved 20.7 px", 8)  # drawn as a plain space
