"""Images in and out: load (path, URL or PIL), resize and crop, PIL <-> tensor <-> latents."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError


def _images_dir() -> Path:
    """The course photos: ``images/`` beside the package in a checkout, ``_images`` inside a wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "images", here / "_images"):
        if (candidate / "ATTRIBUTION.md").exists():
            return candidate
    return here.parent / "images"


IMAGES_DIR = _images_dir()
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 64_000_000  # PIL's own bomb guard warns at ~89 M pixels; we refuse above this
CONNECT_TIMEOUT, READ_TIMEOUT = 5.0, 30.0


class ImageLoadError(ValueError):
    """An image could not be loaded; the message says why and what to do."""


def _size(n: float) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 1024:.1f} kB"


def _fetch(url: str) -> bytes:
    import requests

    try:
        with requests.get(
            url, stream=True, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT), headers={"User-Agent": "ddim-course"}
        ) as r:
            r.raise_for_status()
            kind = r.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if kind and not kind.startswith("image/") and kind != "application/octet-stream":
                raise ImageLoadError(f"{url} returned {kind!r}, not an image; use a direct link to the image file")
            size = int(r.headers.get("Content-Length") or 0)
            if size > MAX_DOWNLOAD_BYTES:
                raise ImageLoadError(
                    f"{url} is {_size(size)}; the limit is {_size(MAX_DOWNLOAD_BYTES)}: download a smaller image"
                )
            data = bytearray()
            for chunk in r.iter_content(64 * 1024):
                data += chunk
                if len(data) > MAX_DOWNLOAD_BYTES:
                    raise ImageLoadError(
                        f"{url} is over {_size(MAX_DOWNLOAD_BYTES)}, the limit: download a smaller image"
                    )
            return bytes(data)
    except requests.Timeout:
        raise ImageLoadError(
            f"timed out fetching {url} (connect {CONNECT_TIMEOUT:g} s, read {READ_TIMEOUT:g} s); "
            "check your connection or use a local file (the course ships some in images/)"
        ) from None
    except requests.HTTPError as e:
        raise ImageLoadError(f"could not fetch {url}: HTTP {e.response.status_code}") from None
    except requests.RequestException as e:
        raise ImageLoadError(f"could not fetch {url}: {type(e).__name__}; use a local file instead") from None


def _open(data: bytes | Path, name: str) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data) if isinstance(data, bytes) else data)
            if im.width * im.height > MAX_PIXELS:
                raise ImageLoadError(
                    f"{name} is {im.width}x{im.height} pixels, over the {MAX_PIXELS // 1_000_000} M pixel limit "
                    "(a possible decompression bomb); resize it first"
                )
            im.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageLoadError(f"{name} is too large to open safely (a possible decompression bomb)") from None
    except UnidentifiedImageError:
        raise ImageLoadError(f"{name} is not an image PIL can read (PNG, JPEG, WebP, ...)") from None
    except OSError as e:
        raise ImageLoadError(f"{name} could not be read as an image ({e}); is the file complete?") from None
    return im


def to_rgb(im: Image.Image) -> Image.Image:
    """Any PIL mode (RGBA, P, L, CMYK, 16-bit, ...) as 8-bit RGB; transparency goes onto white."""
    im = ImageOps.exif_transpose(im)
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or arr.max() > 255 else 255.0
        im = Image.fromarray((arr / top * 255).round().clip(0, 255).astype(np.uint8), "L")
    elif im.mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        arr = (arr - arr.min()) / max(arr.max() - arr.min(), 1e-12)
        im = Image.fromarray((arr * 255).round().astype(np.uint8), "L")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, im)
    return im.convert("RGB")


def resize_and_crop(im: Image.Image, size: int | tuple[int, int]) -> Image.Image:
    """Scale so the image covers ``size`` (int = square, or (width, height)), then crop the centre."""
    w, h = (size, size) if isinstance(size, int) else size
    if w < 1 or h < 1:
        raise ValueError(f"size must be positive, got {size}")
    return ImageOps.fit(im, (w, h), method=Image.Resampling.LANCZOS, centering=(0.5, 0.5))


def load_image(source, *, size: int | tuple[int, int] | None = None) -> Image.Image:
    """Load an image from a path, a URL or a PIL image as RGB, optionally resized and centre-cropped."""
    if isinstance(source, Image.Image):
        im = source
    elif isinstance(source, (str, Path)):
        s = str(source)
        if s.startswith(("http://", "https://")):
            im = _open(_fetch(s), s)
        else:
            path = Path(s).expanduser()
            if not path.exists():
                hint = ""
                if (IMAGES_DIR / path.name).exists():
                    hint = f"; did you mean {IMAGES_DIR / path.name}?"
                raise FileNotFoundError(f"no such image file: {path}{hint}")
            if path.is_dir():
                raise ImageLoadError(f"{path} is a folder, not an image file")
            im = _open(path, str(path))
    else:
        raise ValueError(f"source must be a path, a URL or a PIL image, got {type(source).__name__}")
    im = to_rgb(im)
    if size is not None:
        im = resize_and_crop(im, size)
    return im


def example_image(name: str) -> Path:
    """The path of one of the photos shipped in ``images/`` (e.g. ``"cat"``)."""
    for ext in (".jpg", ".png"):
        path = IMAGES_DIR / f"{name}{ext}"
        if path.exists():
            return path
    names = sorted(p.stem for p in IMAGES_DIR.glob("*.*") if p.suffix in (".jpg", ".png"))
    raise FileNotFoundError(f"no example image {name!r}; choose one of {names}")


# --------------------------------------------------------------------------------------------------
# PIL <-> tensors <-> latents
# --------------------------------------------------------------------------------------------------
def pil_to_tensor(images) -> torch.Tensor:
    """PIL image(s) -> float tensor (batch, 3, H, W) in [0, 1]."""
    images = [images] if isinstance(images, Image.Image) else list(images)
    arrays = [np.asarray(to_rgb(im), dtype=np.float32) / 255 for im in images]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def tensor_to_pil(x: torch.Tensor) -> list[Image.Image]:
    """Float tensor (batch, 3, H, W) or (3, H, W) in [0, 1] -> list of PIL images."""
    if x.ndim == 3:
        x = x[None]
    arr = (x.detach().float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy() * 255).round().astype(np.uint8)
    return [Image.fromarray(a) for a in arr]


def image_size(pipe) -> int:
    """The pipeline's native image side in pixels (512 for SD 1.5, 64 for the pocket model)."""
    return pipe.unet.config.sample_size * pipe.vae_scale_factor


@torch.inference_mode()
def encode(pipe, image) -> torch.Tensor:
    """Image(s) -> scaled latents: the VAE encoder's mean (deterministic) times ``scaling_factor``."""
    images = image if isinstance(image, (list, tuple)) else [image]
    side = image_size(pipe)
    images = [load_image(im, size=side) for im in images]
    x = pipe.image_processor.preprocess(images, height=side, width=side)
    x = x.to(pipe.device, pipe.vae.dtype)
    latents = pipe.vae.encode(x).latent_dist.mean
    return latents.float() * pipe.vae.config.scaling_factor


@torch.inference_mode()
def decode(pipe, latents: torch.Tensor, *, output_type: str = "pil"):
    """Scaled latents -> images (``"pil"``: list of PIL; ``"pt"``: tensor in [0, 1]; ``"np"``)."""
    x = latents.to(pipe.device, pipe.vae.dtype) / pipe.vae.config.scaling_factor
    images = pipe.vae.decode(x).sample.float()
    return pipe.image_processor.postprocess(images, output_type=output_type, do_denormalize=[True] * len(images))
