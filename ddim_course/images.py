"""Images in and out: load (path, URL or PIL), resize and crop, PIL <-> tensor <-> latents."""

from __future__ import annotations

import contextlib
import errno
import io
import numbers
import os
import re
import socket
import stat
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .files import expand_user
from .i18n import tr


def _images_dir() -> Path:
    """The course photos: ``images/`` beside the package in a checkout, ``_images`` inside a wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "images", here / "_images"):
        if (candidate / "ATTRIBUTION.md").exists():
            return candidate
    return here.parent / "images"


IMAGES_DIR = _images_dir()
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
MAX_FILE_BYTES = 50 * 1024 * 1024  # a local file over this is refused before it is read
MAX_PIXELS = 64_000_000  # PIL's own bomb guard warns at ~89 M pixels; we refuse above this
MAX_SIZE = 4096  # the largest side load_image(..., size=) resizes to
CONNECT_TIMEOUT, READ_TIMEOUT = 5.0, 30.0  # per connection attempt / per read
TOTAL_TIMEOUT = 60.0  # a whole download, however the server trickles its bytes


class ImageLoadError(ValueError):
    """An image could not be loaded; the message says why and what to do."""


def _size(n: float) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 1024:.1f} kB"


# --------------------------------------------------------------------------------------------------
# showing what the learner gave, in one line, without secrets
# --------------------------------------------------------------------------------------------------
_SECRET_QUERY = re.compile(
    r"([?&;][^=&;#]*(?:token|key|sig|secret|pass|auth|credential|session)[^=&;#]*=)[^&;#]*", re.IGNORECASE
)


def _redact_url(url: str) -> str:
    """The URL without its user info (``user:password@``) and with secret-looking query values as ``***``."""
    m = re.match(r"([A-Za-z][A-Za-z0-9+.\-]*:/*)([^/?#]*@)", url)
    if m:
        url = m.group(1) + "***@" + url[m.end() :]
    return _SECRET_QUERY.sub(r"\1***", url)


def _show(text: str, limit: int = 160) -> str:
    """``text`` on one line (control characters escaped), shortened in the middle when long."""
    text = "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)
    if len(text) > limit:
        text = f"{text[: limit * 2 // 3]}…{text[-limit // 4 :]} ({len(text)} characters)"
    return text


def _first_line(e: BaseException, limit: int = 160) -> str:
    text = str(e).strip().splitlines()
    return _show(text[0], limit) if text else type(e).__name__


# --------------------------------------------------------------------------------------------------
# URLs
# --------------------------------------------------------------------------------------------------
def _watching_adapter(sockets: list):
    """A requests adapter that remembers the socket of every connection it opens, so a deadline can shut them."""
    from requests.adapters import HTTPAdapter

    def watch_connect(conn):
        connect = conn.connect

        def connect_and_remember(*args, **kwargs):
            connect(*args, **kwargs)
            sockets.append(conn.sock)  # the response keeps reading from it after conn.sock is cleared

        conn.connect = connect_and_remember
        return conn

    def watch(pool):
        if not getattr(pool, "_ddim_course_watched", False) and hasattr(pool, "_new_conn"):
            new_conn = pool._new_conn
            pool._new_conn = lambda: watch_connect(new_conn())
            pool._ddim_course_watched = True
        return pool

    class Adapter(HTTPAdapter):
        def get_connection_with_tls_context(self, *args, **kwargs):  # requests >= 2.32.2
            return watch(super().get_connection_with_tls_context(*args, **kwargs))

        def get_connection(self, *args, **kwargs):  # older requests
            return watch(super().get_connection(*args, **kwargs))

    return Adapter()


def _why_not_fetched(e: Exception) -> str:
    """A short reason for a failed request, never the URL (it may hold a password)."""
    import requests

    text = str(e)
    if isinstance(e, requests.exceptions.InvalidSchema):  # only a redirect can lead off http(s)
        return "the server redirected to a URL that is not http(s)"
    if isinstance(e, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, ValueError, UnicodeError)):
        return "it is not a valid URL (check the host name and the port)"
    if isinstance(e, requests.exceptions.TooManyRedirects):
        return "too many redirects"
    if isinstance(e, requests.exceptions.SSLError):
        return "the HTTPS connection failed (certificate or TLS error)"
    if isinstance(e, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
        return "the download broke off or was garbled"
    if "NameResolution" in text or "Name or service not known" in text or "getaddrinfo" in text:
        return "the host name could not be resolved (are you offline?)"
    m = re.search(r"\[Errno -?\d+\] ([^'\"()]+)", text)
    if m:
        return m.group(1).strip().lower()
    if "RemoteDisconnected" in text or "Connection aborted" in text:
        return "the server closed the connection"
    return type(e).__name__


def _fetch(url: str) -> bytes:
    import requests

    shown = _show(_redact_url(url))
    too_slow = (
        f"timed out fetching {shown}: the download took over {TOTAL_TIMEOUT:g} s in all (TOTAL_TIMEOUT, the "
        "limit for one image); the server is too slow: download the image yourself or use a local file"
    )
    sockets: list = []
    expired = threading.Event()

    def expire():  # unblocks a read stuck on a server that trickles bytes (each byte restarts READ_TIMEOUT)
        expired.set()
        for sock in list(sockets):
            with contextlib.suppress(Exception):  # closed already: nothing to unblock
                sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(TOTAL_TIMEOUT, expire)
    timer.daemon = True
    start = time.monotonic()
    error = None
    data = bytearray()
    timer.start()
    try:
        with requests.Session() as session:
            adapter = _watching_adapter(sockets)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            with session.get(
                url, stream=True, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT), headers={"User-Agent": "ddim-course"}
            ) as r:
                if r.status_code >= 400:
                    raise ImageLoadError(f"could not fetch {shown}: HTTP {r.status_code} {_show(r.reason or '')}")
                kind = r.headers.get("Content-Type", "").split(";")[0].strip().lower()
                if (
                    kind
                    and not kind.startswith("image/")
                    and kind not in ("application/octet-stream", "binary/octet-stream")
                ):
                    raise ImageLoadError(
                        f"{shown} returned {_show(kind, 60)!r}, not an image; use a direct link to the image file"
                    )
                length = r.headers.get("Content-Length", "").strip()
                size = int(length) if length.isdigit() else 0
                if size > MAX_DOWNLOAD_BYTES:
                    raise ImageLoadError(
                        f"{shown} is {_size(size)}; the limit is {_size(MAX_DOWNLOAD_BYTES)}: download a smaller image"
                    )
                for chunk in r.iter_content(64 * 1024):
                    if expired.is_set() or time.monotonic() - start > TOTAL_TIMEOUT:
                        raise ImageLoadError(too_slow)
                    data += chunk
                    if len(data) > MAX_DOWNLOAD_BYTES:
                        raise ImageLoadError(
                            f"{shown} is over {_size(MAX_DOWNLOAD_BYTES)}, the limit: download a smaller image"
                        )
                if expired.is_set():
                    raise ImageLoadError(too_slow)
    except ImageLoadError as e:
        error = str(e)
    except requests.Timeout:
        error = (
            too_slow
            if expired.is_set()
            else (
                f"timed out fetching {shown} (connect {CONNECT_TIMEOUT:g} s, read {READ_TIMEOUT:g} s); "
                "check your connection or use a local file (the course ships some in images/)"
            )
        )
    except Exception as e:  # noqa: BLE001 - any failure of the request becomes one line (without the URL's secrets)
        error = (
            too_slow
            if expired.is_set()
            else f"could not fetch {shown}: {_why_not_fetched(e)}; use a local file instead"
        )
    finally:
        timer.cancel()
    if error is not None:
        raise ImageLoadError(error) from None
    return bytes(data)


# --------------------------------------------------------------------------------------------------
# local files
# --------------------------------------------------------------------------------------------------
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_KINDS = (
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a file")


def _not_a_url(text: str, scheme: str) -> ImageLoadError:
    shown = _show(_redact_url(text), 80)
    hint = ""
    if scheme in ("http", "https"):
        hint = f"; write it as {scheme}://host/path"
    elif scheme == "file":
        from urllib.parse import unquote, urlsplit

        hint = f"; give the path itself: {_show(unquote(urlsplit(text).path), 80)!r}"
    elif scheme == "data":
        hint = "; decode the data yourself and pass PIL.Image.open(io.BytesIO(data))"
    elif re.match(r"[\w.\-]+:\d+(/|$)", text):
        hint = f"; did you mean 'http://{shown}'?"
    return ImageLoadError(f"{shown}: only http(s) URLs and local paths are supported, not {scheme}: URLs{hint}")


def _read_file(text: str) -> tuple[bytes, str]:
    """The bytes of a local image file, refusing anything that is not a regular file of a sane size."""
    if not text.strip():
        raise ImageLoadError("the path is empty; give the path of an image file, a URL or a PIL image")
    if "\0" in text:
        raise ImageLoadError(f"the path '{_show(text)}' contains a NUL character (\\x00), which no file name can hold")
    m = _SCHEME.match(text)
    if m and len(m.group(1)) > 1 and not os.path.lexists(text):  # one letter is a Windows drive (C:\...)
        raise _not_a_url(text, m.group(1).lower())
    path = expand_user(text)
    shown = _show(str(path))
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        if os.path.islink(path):
            target = _show(os.readlink(path))
            raise FileNotFoundError(
                f"no such image file: {shown} is a symbolic link to {target}, which does not exist"
            ) from None
        hint = ""
        shipped = [IMAGES_DIR / f"{path.name}{ext}" for ext in ("", ".jpg", ".png")] if path.name else []
        if any(os.path.isfile(p) for p in shipped):
            hint = tr("did_you_mean", what=next(p for p in shipped if os.path.isfile(p)))
        elif text != text.strip() and os.path.exists(text.strip()):
            hint = tr("did_you_mean_unspaced", what=repr(text.strip()))
        elif text.startswith(("www.", "//")):
            hint = tr("did_you_mean", what=f"'https://{_show(text.lstrip('/'), 80)}'")
        raise FileNotFoundError(tr("image_not_found", shown=shown, hint=hint)) from None
    except OSError as e:
        raise _os_error(e, shown, text) from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageLoadError(tr("image_folder", shown=shown))
    if not stat.S_ISREG(st.st_mode):
        raise ImageLoadError(f"{shown} is not a regular file ({_kind(st.st_mode)}); give the path of an image file")
    if st.st_size > MAX_FILE_BYTES:
        raise ImageLoadError(_too_big(shown, st.st_size))
    flags = os.O_RDONLY
    for name in ("O_NONBLOCK", "O_NOCTTY", "O_BINARY", "O_CLOEXEC"):  # a swapped-in pipe must not block open()
        flags |= getattr(os, name, 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        raise _os_error(e, shown, text) from None
    chunks, total = [], 0
    try:
        st = os.fstat(fd)  # the file opened, not the one looked at above
        if not stat.S_ISREG(st.st_mode):
            raise ImageLoadError(f"{shown} is not a regular file ({_kind(st.st_mode)}); give the path of an image file")
        while chunk := os.read(fd, min(2**20, MAX_FILE_BYTES + 1 - total)):
            chunks.append(chunk)
            total += len(chunk)
            if total > MAX_FILE_BYTES:  # a file that grows while it is read
                raise ImageLoadError(_too_big(shown, total))
    except OSError as e:
        raise _os_error(e, shown, text) from None
    finally:
        os.close(fd)
    return b"".join(chunks), shown


def _too_big(shown: str, n: int) -> str:
    return f"{shown} is {_size(n)}; the limit is {_size(MAX_FILE_BYTES)}: use a smaller image (resize or compress it)"


def _os_error(e: OSError, shown: str, text: str) -> ImageLoadError:
    if e.errno == errno.ENAMETOOLONG:
        return ImageLoadError(
            "the path is too long for the file system (which allows about 255 characters a name, 4096 in all): "
            f"{_show(text, 90)}"
        )
    if isinstance(e, PermissionError):
        return ImageLoadError(f"cannot read {shown}: permission denied; check the file's permissions (ls -l)")
    if e.errno == errno.ELOOP:
        return ImageLoadError(f"cannot read {shown}: its symbolic links form a loop")
    if e.errno == errno.ENXIO:
        return ImageLoadError(f"{shown} is not a regular file (a socket or device); give the path of an image file")
    return ImageLoadError(f"cannot read {shown}: {e.strerror or type(e).__name__}")


# --------------------------------------------------------------------------------------------------
# decoding
# --------------------------------------------------------------------------------------------------
def _check_pixels(im: Image.Image, name: str) -> None:
    w, h = im.size
    if w < 1 or h < 1:
        raise ImageLoadError(f"{name} is empty ({w}x{h} pixels); give an image with at least one pixel")
    if w * h > MAX_PIXELS:
        raise ImageLoadError(
            f"{name} is {w}x{h} pixels, over the {MAX_PIXELS // 1_000_000} M pixel limit "
            "(a possible decompression bomb); resize it first"
        )


# what load_image reads: raster formats PIL decodes itself (not EPS or PDF, which need outside programs)
PICTURE_FORMATS = (
    *("PNG", "JPEG", "JPEG2000", "WEBP", "GIF", "BMP", "DIB", "TIFF", "PPM", "ICO", "TGA", "QOI", "AVIF", "PSD"),
)


def _format_of(data: bytes) -> str | None:
    """The format PIL would read ``data`` as, from its header alone (nothing decoded, no outside program run)."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.format
    except Exception:  # noqa: BLE001 - not a picture at all
        return None


def _open(data: bytes | Path, name: str) -> Image.Image:
    if isinstance(data, Path):
        data, name = _read_file(str(data))
    if not data:
        raise ImageLoadError(tr("image_empty", name=name))
    error = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # picture formats only: PIL would hand PostScript (EPS) to Ghostscript, a program that runs the file
            im = Image.open(io.BytesIO(data), formats=PICTURE_FORMATS)
            _check_pixels(im, name)
            im.load()
    except ImageLoadError as e:
        error = str(e)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        error = f"{name} is too large to open safely (a possible decompression bomb)"
    except UnidentifiedImageError:
        fmt = _format_of(data)
        error = (
            f"{name} is in the {fmt} format, which the course does not open (it reads "
            f"{', '.join(PICTURE_FORMATS)}): save it as PNG or JPEG"
            if fmt
            else tr("image_unreadable", name=name)
        )
    except MemoryError:
        error = f"{name} is too large to open in memory; resize it first"
    except OSError as e:
        error = f"{name} could not be read as an image ({_first_line(e, 100)}); is the file complete?"
    except Exception as e:  # noqa: BLE001 - a damaged file makes PIL's decoders raise all sorts
        error = (
            f"{name} could not be read as an image ({type(e).__name__}: {_first_line(e, 100)}); is the file complete?"
        )
    if error is not None:
        raise ImageLoadError(error) from None
    return im


def to_rgb(im: Image.Image) -> Image.Image:
    """Any PIL mode (RGBA, P, L, CMYK, 16-bit, ...) as 8-bit RGB; transparency goes onto white."""
    if not isinstance(im, Image.Image):
        raise ValueError(f"to_rgb needs a PIL image, got {_describe(im)}; for a path use load_image(path)")
    with contextlib.suppress(Exception):  # a damaged EXIF block: keep the image as stored
        im = ImageOps.exif_transpose(im)
    if im.mode == "LAB":  # PIL converts LAB to RGB by copying the numbers over: mid grey came out blue
        raise ImageLoadError(
            "the image is in the LAB colour space, which PIL cannot turn into RGB correctly; convert it to RGB with a "
            "colour-managed tool first (PIL.ImageCms, or an image editor)"
        )
    if im.mode.startswith("I;16") or im.mode == "I":
        arr = np.asarray(im, dtype=np.float64)
        if arr.size and (arr.min() < 0 or arr.max() > 65535):  # clipping would turn part of it black or white
            raise ImageLoadError(
                f"the integer image holds values from {arr.min():g} to {arr.max():g}; pixels must be in [0, 255] or "
                "[0, 65535] (16 bits): rescale it first"
            )
        top = 65535.0 if im.mode.startswith("I;16") or arr.max() > 255 else 255.0
        im = Image.fromarray((arr / top * 255).round().clip(0, 255).astype(np.uint8), "L")
    elif im.mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        if bad:
            raise ImageLoadError(
                f"the image has {bad} NaN or infinite pixels (of {arr.size}); "
                "replace them first, e.g. PIL.Image.fromarray(numpy.nan_to_num(array, posinf=1, neginf=0))"
            )
        if arr.min() < -0.5:  # not an image in [0, 1] or [0, 255]: clipping would turn a part of it black
            raise ImageLoadError(
                f"the float image holds values down to {arr.min():.3g}; pixels must be in [0, 1] (or [0, 255]): "
                "rescale it first, e.g. (array - array.min()) / (array.max() - array.min())"
            )
        if arr.max() > 255.5:  # clipping would turn a part of it white
            raise ImageLoadError(
                f"the float image holds values up to {arr.max():.4g}; pixels must be in [0, 1] (or [0, 255]): "
                "rescale it first, e.g. array / array.max()"
            )
        # float pixels in [0, 1] (a little overshoot, up to 2, is clipped), or in [0, 255]; never stretched
        top = 1.0 if arr.max() <= 2 else 255.0
        im = Image.fromarray((arr / top * 255).round().clip(0, 255).astype(np.uint8), "L")
    if im.mode in ("La", "RGBa"):  # premultiplied alpha
        im = im.convert("LA" if im.mode == "La" else "RGBA")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, im)
    try:
        return im.convert("RGB")
    except Exception as e:  # noqa: BLE001
        raise ImageLoadError(f"PIL cannot convert an image in mode {im.mode!r} to RGB ({_first_line(e)})") from None


# --------------------------------------------------------------------------------------------------
# load_image
# --------------------------------------------------------------------------------------------------
def _side(n) -> bool:
    return isinstance(n, numbers.Integral) and not isinstance(n, bool) and 1 <= n <= MAX_SIZE


def _check_size(size) -> tuple[int, int]:
    """``size`` as (width, height): an int (a square) or a pair of ints, each in [1, MAX_SIZE]."""
    if isinstance(size, (tuple, list)) and len(size) == 2 and all(_side(n) for n in size):
        return int(size[0]), int(size[1])
    if _side(size):
        return int(size), int(size)
    raise ValueError(
        f"size must be an int (a square side) or a (width, height) pair of ints, each from 1 to {MAX_SIZE}, "
        f"got {_show(_repr(size), 80)}"
    )


def _huge_int(value) -> bool:
    """Whether ``value`` is an int of over 60 digits: shown by its length (Python refuses to print over 4300)."""
    return isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200


def _repr(value) -> str:
    """repr() that names a huge int by its number of digits instead."""
    if _huge_int(value):
        return f"an int of about {int(value.bit_length() * 0.30103) + 1} digits"
    return repr(value)


def resize_and_crop(im: Image.Image, size: int | tuple[int, int]) -> Image.Image:
    """Scale so the image covers ``size`` (int = square, or (width, height)), then crop the centre. The image is
    first turned upright by its EXIF orientation tag, as ``load_image`` turns it."""
    if not isinstance(im, Image.Image):
        raise ValueError(
            f"resize_and_crop needs a PIL image, got {_describe(im)}; for a path use load_image(path, size=...)"
        )
    # turned upright first, as load_image does: a photo's EXIF orientation would turn the crop again when loaded
    upright = ImageOps.exif_transpose(im)
    return ImageOps.fit(upright, _check_size(size), method=Image.Resampling.LANCZOS, centering=(0.5, 0.5))


def _not_a_source(source) -> ImageLoadError:
    start = "source must be a path, a URL or a PIL image"
    if isinstance(source, np.ndarray):
        return ImageLoadError(
            f"{start}, got a numpy array of shape {source.shape} and dtype {source.dtype}; convert it first: "
            "PIL.Image.fromarray(array) for uint8 HxWx3 (floats in [0, 1]: (array * 255).round().astype('uint8'))"
        )
    if isinstance(source, torch.Tensor):
        if source.ndim in (3, 4) and source.shape[-3] == 4 and source.is_floating_point():  # (1, 4, h, w): a latent
            return ImageLoadError(
                f"{start}, got a torch tensor of shape {tuple(source.shape)}, which looks like a latent (4 channels): "
                "pass the picture itself, or decode the latent first: ddim_course.decode(pipe, latents)[0]"
            )
        return ImageLoadError(
            f"{start}, got a torch tensor of shape {tuple(source.shape)}; convert it first: "
            "ddim_course.tensor_to_pil(x)[0] for (3, H, W) in [0, 1], or PIL.Image.fromarray(array) for uint8 HxWx3"
        )
    if isinstance(source, (bytes, bytearray, memoryview)):
        return ImageLoadError(
            f"{start}, got bytes; for image data use PIL.Image.open(io.BytesIO(data)), for a path os.fsdecode(path)"
        )
    if isinstance(source, (list, tuple)):
        return ImageLoadError(
            f"{start}, got a {type(source).__name__}: load one at a time, [load_image(s) for s in ...]"
        )
    return ImageLoadError(f"{start}, got {type(source).__name__}")


def load_image(source, *, size: int | tuple[int, int] | None = None) -> Image.Image:
    """Load an image from a path, a URL or a PIL image as RGB, optionally resized and centre-cropped.

    Only http(s) URLs and regular local files are read: a named pipe, a device, a file over ``MAX_FILE_BYTES``,
    a download over ``MAX_DOWNLOAD_BYTES`` or ``TOTAL_TIMEOUT`` seconds is refused with an ``ImageLoadError``.
    """
    wanted = None if size is None else _check_size(size)
    if isinstance(source, Image.Image):
        _check_pixels(source, "the image")
        try:
            source.load()
        except Exception as e:  # noqa: BLE001 - a closed or truncated image
            raise ImageLoadError(f"the PIL image could not be read ({_first_line(e)})") from None
        im = source
    elif isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        text = os.fsdecode(text) if isinstance(text, bytes) else text
        if re.match(r"\s*https?://", text, re.IGNORECASE):
            url = text.strip()
            im = _open(_fetch(url), _show(_redact_url(url)))
        else:
            im = _open(*_read_file(text))
    else:
        raise _not_a_source(source)
    frames = getattr(im, "n_frames", 1)
    if isinstance(frames, int) and frames > 1:  # an animated GIF or WebP, a multi-page TIFF
        warnings.warn(
            f"the image has {frames} frames (an animation or several pages); the course reads only the one it is at "
            "(the first, for a file just opened): im.seek(k) picks another before load_image(im)",
            stacklevel=learner_stacklevel(),
        )
    im = to_rgb(im)
    if wanted is not None:
        im = resize_and_crop(im, wanted)
    return im


def example_image(name: str) -> Path:
    """The path of one of the photos shipped in ``images/`` (e.g. ``"cat"``; ``"cat.jpg"`` works too)."""
    names = sorted(p.stem for p in IMAGES_DIR.glob("*.*") if p.suffix in (".jpg", ".png"))
    if not isinstance(name, str):
        raise ValueError(f"name must be the name of an example image (a string), got {_repr(name)}; one of {names}")
    if Path(name).suffix.lower() in (".jpg", ".png"):
        name = name[: -len(Path(name).suffix)]
    if not name or "/" in name or "\\" in name or name.startswith("."):  # a name in images/, not a path
        raise ValueError(f"no example image {name!r}: give one of {names} (for your own file, use load_image)")
    for ext in (".jpg", ".png"):
        path = IMAGES_DIR / f"{name}{ext}"
        if path.exists():
            return path
    raise FileNotFoundError(f"no example image {name!r}; choose one of {names}")


# --------------------------------------------------------------------------------------------------
# PIL <-> tensors <-> latents
# --------------------------------------------------------------------------------------------------
def pil_to_tensor(images) -> torch.Tensor:
    """PIL image(s) -> float tensor (batch, 3, H, W) in [0, 1]."""
    images = [images] if isinstance(images, Image.Image) else images
    if not isinstance(images, (list, tuple)) or not images or not all(isinstance(im, Image.Image) for im in images):
        raise ValueError(
            f"pil_to_tensor needs a PIL image or a non-empty list of them, got {_describe(images)}; "
            "for a path use load_image(path) first"
        )
    for im in images:
        _check_pixels(im, "the image")  # no empty image, nor one over load_image's pixel limit
    images = [to_rgb(im) for im in images]  # as read: a photo's EXIF tag may turn it on its side
    if len({im.size for im in images}) > 1:
        raise ValueError(
            f"the images have different sizes {sorted({im.size for im in images})}; "
            "resize them to one size first (load_image(im, size=...))"
        )
    arrays = [np.asarray(im, dtype=np.float32) / 255 for im in images]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def tensor_to_pil(x: torch.Tensor) -> list[Image.Image]:
    """Float tensor (batch, 3, H, W) or (3, H, W) in [0, 1] -> list of PIL images (1 channel: grey)."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"tensor_to_pil needs a torch tensor with data, got {_describe(x)}")
    if (odd := _odd_tensor(x)) is not None:
        raise ValueError(f"tensor_to_pil needs an ordinary float tensor, got {odd}")
    if not x.is_floating_point():
        raise ValueError(
            f"tensor_to_pil needs a float tensor in [0, 1], got {x.dtype}; for 8-bit pixels pass x.float() / 255"
        )
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[1] not in (1, 3) or 0 in x.shape:
        raise ValueError(
            f"tensor_to_pil needs shape (batch, 3, H, W) or (3, H, W) (channels first), got {tuple(x.shape)}; "
            "a channels-last (H, W, 3) tensor becomes channels first with x.permute(2, 0, 1)"
        )
    bad = int((~torch.isfinite(x)).sum())
    if bad:
        raise ValueError(f"the tensor holds {bad} NaN or infinite values; there is no picture to show")
    low, high = float(x.detach().min()), float(x.detach().max())  # detached: no autograd warning for a grad tensor
    if low < -0.05 or high > 1.05:  # a little overshoot is clipped, as decoders' is; more is another kind of image
        hint = (
            "for pixels in [-1, 1] (the VAE's range), pass (x + 1) / 2"
            if low >= -1.05 and high <= 1.05
            else "for pixels in [0, 255], pass x / 255"
            if low >= -0.05 and high <= 255.5
            else "pass x.clamp(0, 1) to clip it, or rescale it to [0, 1]"
        )
        raise ValueError(f"tensor_to_pil needs values in [0, 1], got {low:.3g} to {high:.3g}; {hint}")
    x = x.detach().float().expand(-1, 3, -1, -1)
    arr = (x.clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy() * 255).round().astype(np.uint8)
    return [Image.fromarray(a) for a in arr]


_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _odd_tensor(x: torch.Tensor) -> str | None:
    """What keeps a tensor from being read as real numbers (None for an ordinary one): the one check of meta,
    nested, sparse, complex and float8 tensors that psnr, tensor_to_pil, show_images and blend_mask share."""
    if x.is_meta:
        return "a meta tensor (a shape with no data)"
    if x.is_nested:
        return "a nested tensor"
    if x.layout != torch.strided:
        return f"a {str(x.layout).replace('torch.', '')} tensor (pass x.to_dense())"
    if x.is_complex():
        return "a complex tensor"
    if x.is_floating_point() and x.dtype not in _FLOATS:
        return f"a {str(x.dtype).replace('torch.', '')} tensor (pass x.float())"
    return None


def _describe(x) -> str:
    if isinstance(x, torch.Tensor):
        return _odd_tensor(x) or f"a {str(x.dtype).replace('torch.', '')} tensor of shape {tuple(x.shape)}"
    if isinstance(x, (list, tuple)):
        return f"a {type(x).__name__} of {len(x)} items" if x else f"an empty {type(x).__name__}"
    return type(x).__name__


def image_size(pipe) -> int:
    """The pipeline's native image side in pixels (512 for SD 1.5, 64 for the pocket model)."""
    from .ddim import _check_pipe

    _check_pipe(pipe)
    return pipe.unet.config.sample_size * pipe.vae_scale_factor


def learner_stacklevel() -> int:
    """The ``stacklevel`` for ``warnings.warn`` that names the first caller outside ddim_course and torch's
    decorators (the learner's line, however deep in the package the warning is raised). Call it right where you warn."""
    frame, level = sys._getframe(1), 1
    inside = (str(Path(__file__).parent), str(Path(torch.__file__).parent))
    while frame is not None and frame.f_code.co_filename.startswith(inside):
        frame, level = frame.f_back, level + 1
    return level


# a picture whose short side is under this share of the model's side is mostly made up by the scaling: said so
SMALL_SHARE = 0.25


def _warn_if_cropped(images: list[Image.Image], side: int) -> None:
    """Say what a model with square images leaves out of one that is not square (its centre is kept), and that a
    picture far smaller than the model's side is blown up (the model then sees a blur of a few pixels)."""
    for k, im in enumerate(images):
        w, h = im.size
        if min(w, h) < SMALL_SHARE * side:
            name = "the image" if len(images) == 1 else f"image {k}"
            warnings.warn(
                f"{name} is only {w} x {h} pixels and was scaled up {side / min(w, h):.3g} times to the model's "
                f"{side} x {side}: the model sees a blur, not a picture; give an image of at least {side} x {side}",
                stacklevel=learner_stacklevel(),
            )
            return
        if w != h:
            lost = 1 - min(w, h) / max(w, h)
            which = "left and right edges" if w > h else "top and bottom"
            name = "the image" if len(images) == 1 else f"image {k}"
            warnings.warn(
                f"{name} is {w} x {h} pixels, but the model takes {side} x {side}: it was scaled and its centre "
                f"cropped, leaving out {lost:.0%} of it (the {which}); crop it first to choose what stays, e.g. "
                "load_image(path).crop((left, top, right, bottom))",
                stacklevel=learner_stacklevel(),
            )
            return


@torch.inference_mode()
def encode(pipe, image) -> torch.Tensor:
    """Image(s) -> scaled latents: the VAE encoder's mean (deterministic) times ``scaling_factor``."""
    from .ddim import MAX_BATCH, _check_pipe

    _check_pipe(pipe)
    images = image if isinstance(image, (list, tuple)) else [image]
    if not images:
        raise ValueError("encode needs an image or a non-empty list of images, got an empty list")
    if len(images) > MAX_BATCH:
        raise ValueError(f"{len(images)} images given; at most {MAX_BATCH} are encoded in one call")
    side = image_size(pipe)
    images = [load_image(im) for im in images]
    _warn_if_cropped(images, side)
    images = [resize_and_crop(im, side) for im in images]
    x = pipe.image_processor.preprocess(images, height=side, width=side)
    x = x.to(pipe.device, pipe.vae.dtype)
    latents = pipe.vae.encode(x).latent_dist.mean
    return latents.float() * pipe.vae.config.scaling_factor


@torch.inference_mode()
def decode(pipe, latents: torch.Tensor, *, output_type: str = "pil"):
    """Scaled latents -> images (``"pil"``: list of PIL; ``"pt"``: tensor in [0, 1]; ``"np"``)."""
    from .ddim import MAX_BATCH, _check_latent_side, _check_latent_size, _check_pipe

    _check_pipe(pipe)
    if output_type not in ("pil", "pt", "np"):
        raise ValueError(f"output_type must be 'pil', 'pt' or 'np', got {output_type!r}")
    if not isinstance(latents, torch.Tensor) or _odd_tensor(latents) or not latents.dtype.is_floating_point:
        raise ValueError(f"latents must be a floating-point torch tensor with data, got {_describe(latents)}")
    channels = pipe.vae.config.latent_channels
    if latents.ndim != 4 or latents.shape[1] != channels or min(latents.shape[0], *latents.shape[2:]) < 1:
        raise ValueError(
            f"latents must have shape (batch, {channels}, height, width), none of them 0, got {tuple(latents.shape)}"
        )
    _check_latent_side(pipe, latents, "latents")  # the decoder's time and memory grow with the area
    if latents.shape[0] > MAX_BATCH:  # 2,000 pocket latents took a minute and 7.4 GB
        raise ValueError(f"latents hold {latents.shape[0]} latents; at most {MAX_BATCH} are decoded in one call")
    bad = int((~torch.isfinite(latents)).sum())
    if bad:  # they would decode to a black or grey picture without a word
        raise ValueError(f"the latents hold {bad} NaN or infinite values; there is no image to decode")
    _check_latent_size(latents, "the latents", warn=True)
    x = latents.to(pipe.device, pipe.vae.dtype) / pipe.vae.config.scaling_factor
    images = pipe.vae.decode(x).sample.float()
    bad = int((~torch.isfinite(images)).sum())
    if bad:  # postprocess would clip them to a black picture without a word
        top = float(latents.abs().max())
        raise ValueError(
            f"the decoder gave {bad} NaN or infinite pixels: the latents (largest |value| {top:.3g}) are far outside "
            "what the autoencoder makes (a few units); decode latents from encode, sample or invert"
        )
    return pipe.image_processor.postprocess(images, output_type=output_type, do_denormalize=[True] * len(images))
