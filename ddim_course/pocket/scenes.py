"""Drawn scenes for the pocket model: "a {color} {shape} on a {pattern} background".

The caption names the colour, the shape and the background pattern. Everything else (where the
shape sits, how big it is, the background's grey levels, the stripe direction and width, the check
size, the dot spacing) is drawn at random. Those unprompted details are what DDIM inversion must keep
and img2img throws away, so each scene also carries its ground truth (mask, colour, centre).
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from ..ddim import _real, _whole
from ..i18n import tr

COLORS: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.12, 0.12),
    "green": (0.15, 0.70, 0.20),
    "blue": (0.15, 0.30, 0.90),
    "yellow": (0.92, 0.85, 0.10),
    "purple": (0.58, 0.18, 0.78),
    "orange": (0.95, 0.52, 0.08),
}
SHAPES = ("circle", "square", "triangle")
PATTERNS = ("plain", "striped", "checkered", "dotted")
SUPERSAMPLE = 4  # draw at 4x and average down: soft, anti-aliased edges


def vocabulary() -> str:
    """What a learner may type as a prompt for the pocket model, in the language of ``set_language`` (shown by the
    notebooks and the explorers)."""
    return tr(
        "pocket_vocabulary",
        n_colours=len(COLORS),
        colours=", ".join(COLORS),
        n_shapes=len(SHAPES),
        shapes=", ".join(SHAPES),
        n_patterns=len(PATTERNS),
        patterns=", ".join(PATTERNS),
    )


VOCABULARY = vocabulary()  # in English (the default language when the package is imported)


def caption(color: str, shape: str, pattern: str) -> str:
    """The caption grammar: ``"a {color} {shape} on a {pattern} background"``."""
    return f"a {color} {shape} on a {pattern} background"


def parse_caption(text: str) -> tuple[str, str, str] | None:
    """Return (color, shape, pattern) named by a caption, or None if it is not in the grammar."""
    if not isinstance(text, str):
        raise ValueError(f"a caption must be a string like 'a red circle on a striped background', got {text!r}")
    words = text.lower().strip().rstrip(".").split()
    if len(words) != 7 or words[0] != "a" or words[3:5] != ["on", "a"] or words[6] != "background":
        return None
    color, shape, pattern = words[1], words[2], words[5]
    if color not in COLORS or shape not in SHAPES or pattern not in PATTERNS:
        return None
    return color, shape, pattern


@dataclass
class Scene:
    """One drawn scene and its ground truth."""

    image: np.ndarray  # (H, W, 3) float32 in [0, 1]
    mask: np.ndarray  # (H, W) float32 coverage of the shape in [0, 1]
    color: str
    shape: str
    pattern: str
    rgb: tuple[float, float, float]
    center: tuple[float, float]  # (x, y) in pixels
    size: float  # side or diameter in pixels
    params: dict = field(default_factory=dict)

    @property
    def caption(self) -> str:
        return caption(self.color, self.shape, self.pattern)

    def pil(self) -> Image.Image:
        """The scene as an RGB PIL image."""
        if not np.isfinite(self.image).all():  # they would be drawn as black pixels without a word
            raise ValueError("the scene's image holds NaN or infinite values; draw it again with draw_scene")
        return Image.fromarray((self.image * 255).round().clip(0, 255).astype(np.uint8))


def _background_details(rng: np.random.Generator, pattern: str, tone: float | None = None) -> dict:
    """The random details of a neutral background (R = G = B): tones, stripe width and direction, offsets.

    ``tone`` keeps a given first tone (``edit_scene``); otherwise it is drawn first, as for every training scene."""
    a = float(rng.uniform(0.1, 0.9)) if tone is None else float(tone)
    if pattern == "plain":
        return {"tones": (a,)}
    # a second tone at least 0.3 away from the first, still inside [0.1, 0.9]
    choices = [v for v in np.linspace(0.1, 0.9, 81) if abs(v - a) >= 0.3]
    b = float(rng.choice(choices))
    if pattern == "striped":
        width = int(rng.integers(3, 9))
        direction = str(rng.choice(["horizontal", "vertical", "diagonal"]))
        offset = float(rng.uniform(0, 2 * width))
        return {"tones": (a, b), "stripe_width": width, "stripe_direction": direction, "offset": offset}
    if pattern == "checkered":
        cell = int(rng.integers(4, 11))
        ox, oy = (float(v) for v in rng.uniform(0, 2 * cell, size=2))
        return {"tones": (a, b), "check_size": cell, "origin": (ox, oy)}
    if pattern == "dotted":
        radius = float(rng.uniform(1.0, 3.0))
        spacing = float(rng.uniform(2 * radius + 3, 2 * radius + 8))
        ox, oy = (float(v) for v in rng.uniform(0, spacing, size=2))
        return {"tones": (a, b), "dot_radius": radius, "dot_spacing": spacing, "origin": (ox, oy)}
    raise ValueError(f"pattern must be one of {PATTERNS}, got {pattern!r}")


def _render_background(pattern: str, details: dict, n: int, ss: int) -> np.ndarray:
    """Draw a background of size n*ss from its details."""
    a = details["tones"][0]
    if pattern == "plain":
        return np.full((n * ss, n * ss), a, np.float32)
    b = details["tones"][1]
    y, x = (np.mgrid[0 : n * ss, 0 : n * ss] + 0.5) / ss  # pixel coordinates of each sub-sample
    if pattern == "striped":
        width = details["stripe_width"]
        coord = {"horizontal": y, "vertical": x, "diagonal": (x + y) / np.sqrt(2)}[details["stripe_direction"]]
        on = np.floor((coord + details["offset"]) / width) % 2 == 1
    elif pattern == "checkered":
        cell, (ox, oy) = details["check_size"], details["origin"]
        on = (np.floor((x + ox) / cell) + np.floor((y + oy) / cell)) % 2 == 1
    else:  # dotted
        spacing, (ox, oy) = details["dot_spacing"], details["origin"]
        dx = (x + ox) % spacing - spacing / 2
        dy = (y + oy) % spacing - spacing / 2
        on = dx**2 + dy**2 <= details["dot_radius"] ** 2
    return np.where(on, b, a).astype(np.float32)


def _shape_mask(shape: str, cx: float, cy: float, size: float, n: int, ss: int) -> np.ndarray:
    y, x = (np.mgrid[0 : n * ss, 0 : n * ss] + 0.5) / ss
    h = size / 2
    if shape == "circle":
        return (x - cx) ** 2 + (y - cy) ** 2 <= h**2
    if shape == "square":
        return (np.abs(x - cx) <= h) & (np.abs(y - cy) <= h)
    if shape == "triangle":  # pointing up, apex at the top centre, base at the bottom
        top, bottom = cy - h, cy + h
        frac = (y - top) / size  # 0 at the apex, 1 at the base
        return (y >= top) & (y <= bottom) & (np.abs(x - cx) <= frac * h)
    raise ValueError(f"shape must be one of {SHAPES}, got {shape!r}")


def draw_scene(
    color: str | None = None,
    shape: str | None = None,
    pattern: str | None = None,
    *,
    seed: int | None = None,
    rng: np.random.Generator | None = None,
    size: int = 64,
    center: tuple[float, float] | None = None,
    shape_size: float | None = None,
) -> Scene:
    """Draw one scene; unnamed parts of the caption and all unprompted details come from the seed."""
    seed, size, shape_size, center = _check_drawing(seed, rng, size, shape_size, center)
    if rng is None:
        rng = np.random.default_rng(seed)
    color = color if color is not None else str(rng.choice(list(COLORS)))
    shape = shape if shape is not None else str(rng.choice(SHAPES))
    pattern = pattern if pattern is not None else str(rng.choice(PATTERNS))
    if not isinstance(color, str) or color not in COLORS:
        raise ValueError(f"color must be one of {list(COLORS)}, got {color!r}")
    if not isinstance(shape, str) or shape not in SHAPES:  # a numpy array of one word would pass `in` and stay an array
        raise ValueError(f"shape must be one of {list(SHAPES)}, got {shape!r}")
    if not isinstance(pattern, str) or pattern not in PATTERNS:
        raise ValueError(f"pattern must be one of {list(PATTERNS)}, got {pattern!r}")
    color, shape, pattern = str(color), str(shape), str(pattern)  # numpy's str_ as a plain str in the caption
    details = _background_details(rng, pattern)
    s = float(shape_size) if shape_size is not None else float(rng.uniform(0.3, 0.6) * size)
    margin = s / 2 + 1
    if center is None:
        cx, cy = (float(v) for v in rng.uniform(margin, size - margin, size=2))
    else:
        cx, cy = (float(v) for v in center)  # the shape may be cut by the edge (its truth is the whole shape's)
    # a small random shade variation of the saturated colour, kept saturated
    shade = (float(rng.uniform(-0.06, 0.06)), float(rng.uniform(-0.015, 0.015)))
    scene = _render(color, shape, pattern, details, (cx, cy), s, shade, size)
    if scene.mask.sum() < 4:  # a caption naming a shape the picture does not show
        raise ValueError(
            f"center {center!r} leaves {scene.mask.sum():.2g} pixels of the {s:.3g}-pixel {shape} inside the "
            f"{size} x {size} scene: move it in (x and y in [{s / 2:.3g}, {size - s / 2:.3g}] keep all of it)"
        )
    return scene


def _check_drawing(seed, rng, size, shape_size, center):
    """``draw_scene``'s numbers, checked: a clear error instead of numpy's "high - low < 0"."""
    if seed is not None:
        seed = _whole(seed, "seed")
        if seed < 0:
            raise ValueError(f"seed must be a whole number >= 0 or None, got {seed!r}")
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"rng must be a numpy Generator (np.random.default_rng(seed)) or None, got {type(rng).__name__}"
        )
    if seed is not None and rng is not None:  # the rng would be used and the seed silently ignored
        raise ValueError("give seed or rng, not both: the scene's details come from one of them")
    size = _whole(size, "size")
    if not 16 <= size <= 1024:
        raise ValueError(f"size must be a whole number of pixels in [16, 1024] (the pocket model draws 64), got {size}")
    if shape_size is not None:
        shape_size = _real(shape_size, "shape_size", low=2, high=size - 2, hint=f"pixels, for a {size}-pixel scene")
    if center is not None:
        try:
            if isinstance(center, (str, bytes)):  # "12" would be read as the numbers 1 and 2
                raise TypeError
            cx, cy = (float(v) for v in center)
        except (TypeError, ValueError):
            raise ValueError(f"center must be two numbers (x, y) in pixels, got {center!r}") from None
        if not all(np.isfinite((cx, cy))) or not (0 <= cx <= size and 0 <= cy <= size):
            raise ValueError(f"center must be (x, y) inside the {size} x {size} scene, got {center!r}")
        center = (cx, cy)
    return seed, size, shape_size, center


def _render(color, shape, pattern, details, drawn_center, s, shade, size) -> Scene:
    """Draw a scene from all its details (``draw_scene`` draws them at random, ``edit_scene`` changes one)."""
    ss = SUPERSAMPLE
    background = _render_background(pattern, details, size, ss)
    cx, cy = drawn_center
    mask_hi = _shape_mask(shape, cx, cy, s, size, ss).astype(np.float32)
    h, light, sat = colorsys.rgb_to_hls(*COLORS[color])
    light = float(np.clip(light + shade[0], 0.25, 0.7))
    h = (h + shade[1]) % 1.0
    rgb = colorsys.hls_to_rgb(h, light, sat)
    hi = background[..., None] * (1 - mask_hi[..., None]) + np.asarray(rgb, np.float32) * mask_hi[..., None]
    image = hi.reshape(size, ss, size, ss, 3).mean(axis=(1, 3))
    mask = mask_hi.reshape(size, ss, size, ss).mean(axis=(1, 3))
    cy_true = cy + s / 6 if shape == "triangle" else cy  # a triangle's centre of mass: a sixth of its height lower
    params = dict(details, drawn_center=(cx, cy), shade=shade)
    return Scene(
        image=image.astype(np.float32),
        mask=mask.astype(np.float32),
        color=color,
        shape=shape,
        pattern=pattern,
        rgb=tuple(float(v) for v in rgb),
        center=(cx, cy_true),
        size=s,
        params=params,
    )


def edit_scene(
    scene: Scene, *, color: str | None = None, shape: str | None = None, pattern: str | None = None, seed: int = 0
) -> Scene:
    """The same scene with its colour, shape or background pattern changed and everything else kept: the true
    edited image of the pie-tiny benchmark (notebook 07). Same place, size, shade and background; a new pattern
    keeps the first tone and draws its other details from ``seed``."""
    if not isinstance(scene, Scene):
        raise ValueError(f"scene must be a Scene (what draw_scene returns), got {type(scene).__name__}")
    seed = _whole(seed, "seed")
    if seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed}")
    p = scene.params
    if not isinstance(p, dict) or not {"drawn_center", "shade", "tones"} <= set(p):
        raise ValueError("scene must be drawn by draw_scene (a Scene made by hand lacks the details edit_scene keeps)")
    size = scene.image.shape[0]
    color = scene.color if color is None else color
    shape = scene.shape if shape is None else shape
    if not isinstance(color, str) or not isinstance(shape, str) or color not in COLORS or shape not in SHAPES:
        raise ValueError(f"color must be one of {list(COLORS)} and shape one of {list(SHAPES)}")
    details = {k: v for k, v in p.items() if k not in ("drawn_center", "shade")}
    if pattern is not None and pattern != scene.pattern:
        details = _background_details(np.random.default_rng(seed), pattern, tone=p["tones"][0])
    else:
        pattern = scene.pattern
    return _render(color, shape, pattern, details, p["drawn_center"], scene.size, p["shade"], size)


def draw_scenes(n: int, *, seed: int = 0, size: int = 64) -> list[Scene]:
    """Draw ``n`` scenes from one seed (deterministic)."""
    n, seed = _whole(n, "n"), _whole(seed, "seed")
    if not 0 <= n <= MAX_SCENES or seed < 0:
        raise ValueError(
            f"n must be a whole number in [0, {MAX_SCENES}] (all are kept in memory) and seed one >= 0, "
            f"got n={n}, seed={seed}"
        )
    size = _check_drawing(None, None, size, None, None)[1]
    most = MAX_SCENES * 64 * 64 // (size * size)  # the same memory at any size: fewer scenes when they are larger
    if n > most:
        raise ValueError(
            f"n must be at most {most} for {size} x {size} scenes (all are kept in memory: {MAX_SCENES} at 64 x 64), "
            f"got {n}"
        )
    rng = np.random.default_rng(seed)
    return [draw_scene(rng=rng, size=size) for _ in range(n)]


MAX_SCENES = 200_000  # about 10 GB of 64 x 64 scenes; training draws 30,000 (40,000 on a GPU)
