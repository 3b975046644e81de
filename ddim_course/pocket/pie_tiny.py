"""pie-tiny: an edit benchmark on pocket scenes that, unlike PIE-Bench, has the true edited image. Notebook 07.

Each case is a held-out drawn scene, an edit of one kind (its colour, its shape, or its background pattern), the
target prompt, the *true* edited image (the same scene drawn again with that one thing changed: same place, size,
shade, stripes; ``scenes.edit_scene``) and the mask of the region the edit may change. ``score`` measures an edit
the way PIE-Bench does (background PSNR, MSE and SSIM outside the edit mask) and the ways PIE-Bench cannot: PSNR to
the true edited image, whether the pocket reader reads the target's colour, shape and pattern, and how far the
shape's centre moved.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ddim import _whole
from ..metrics import as_array, pie_background, psnr
from .reader import read_scene
from .scenes import COLORS, PATTERNS, SHAPES, Scene, draw_scene, edit_scene

KINDS = ("colour", "shape", "pattern")
SEED = 30_000  # held out: training draws its scenes from seeds 0-2
MAX_HELD_OUT = 1000  # scenes the held-out seed may draw: other seeds must not draw any of theirs


def _scene_seed(seed: int, i: int) -> int:
    """The draw_scene seed of ``pie_tiny``'s scene i."""
    return seed + 1 + i


def _pattern_seed(seed: int, i: int) -> int:
    """The seed of scene i's new pattern, in a pattern edit."""
    return seed + 10_000 + i


def scene_seeds(n_scenes: int, seed: int) -> set[int]:
    """The draw_scene seeds ``pie_tiny(n_scenes, seed=seed)`` uses: scene i's, and its new pattern's."""
    return {f(seed, i) for i in range(n_scenes) for f in (_scene_seed, _pattern_seed)}


def check_development_seed(n_scenes: int, seed: int) -> None:
    """Refuse a seed for tuning whose scenes would be held-out ones (seed 29,999 drew 30,000-30,009: three of ten
    development scenes had the layouts of held-out scenes)."""
    shared = scene_seeds(n_scenes, seed) & scene_seeds(MAX_HELD_OUT, SEED)
    if seed != SEED and shared:
        raise ValueError(
            f"seed {seed} with {n_scenes} scenes would draw some of the held-out scenes (draw_scene seed "
            f"{min(shared)}...): settings tuned there would be fitted to them; choose a seed such as 50000"
        )


@dataclass
class EditCase:
    """One pie-tiny case: the source scene, the kind of edit, and the truth after it."""

    kind: str
    source: Scene
    truth: Scene
    edit_mask: np.ndarray  # (H, W) bool: the pixels the edit may change

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"an EditCase's kind must be one of {KINDS}, got {self.kind!r}")
        for name in ("source", "truth"):
            value = getattr(self, name)
            if not isinstance(value, Scene):
                raise ValueError(f"an EditCase's {name} must be a Scene (draw_scene), got {type(value).__name__}")
        m = self.edit_mask
        if not isinstance(m, np.ndarray) or m.shape != self.source.image.shape[:2]:
            raise ValueError(
                f"edit_mask must be a (H, W) array like the scene's {self.source.image.shape[:2]}, got "
                f"{m.shape if isinstance(m, np.ndarray) else type(m).__name__}"
            )

    @property
    def source_prompt(self) -> str:
        return self.source.caption

    @property
    def target_prompt(self) -> str:
        return self.truth.caption

    @property
    def blend_words(self) -> tuple[str, ...] | None:
        """The words a user gives prompt-to-prompt's local blend: the changed word for a colour or shape edit
        (None: the default), "background" for a pattern edit (the pattern word's map does not look at the
        background on the pocket model: notebook 07 shows it)."""
        return ("background",) if self.kind == "pattern" else None

    @property
    def keep_words(self) -> tuple[str, ...] | None:
        """The words a user keeps out of the local blend's mask: the object's colour and shape for a pattern edit
        (chosen on 60 development scenes: benchmarks/README.md), None otherwise."""
        return (self.source.color, self.source.shape) if self.kind == "pattern" else None


def edit_region(kind: str, source: Scene, truth: Scene) -> np.ndarray:
    """Where an edit of ``kind`` may change pixels: the shape (colour), both shapes (shape), the background."""
    if kind == "colour":
        return source.mask > 0
    if kind == "shape":
        return (source.mask > 0) | (truth.mask > 0)
    if kind == "pattern":
        return source.mask < 1
    raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def pie_tiny(n_scenes: int = 10, *, seed: int = SEED, kinds=KINDS) -> list[EditCase]:
    """``n_scenes`` held-out scenes, each edited in every kind of ``kinds`` (None: all; deterministic for a seed)."""
    n_scenes, seed = _whole(n_scenes, "n_scenes"), _whole(seed, "seed")
    if not 1 <= n_scenes <= 1000:  # each scene is drawn, kept and edited three times: 1000 is hours of edits
        raise ValueError(f"n_scenes must be a whole number in [1, 1000], got {n_scenes!r}")
    if seed < 0:
        raise ValueError(f"seed must be a whole number >= 0 (the held-out scenes use {SEED}), got {seed!r}")
    if kinds is None:
        kinds = KINDS
    if isinstance(kinds, (set, frozenset)):  # a set's order changes from run to run: the cases would too
        kinds = [k for k in KINDS if k in kinds] + sorted((k for k in kinds if k not in KINDS), key=repr)
    try:
        if isinstance(kinds, (bytes, bytearray)):
            raise TypeError
        kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    except TypeError:
        raise ValueError(f"kinds must be some of {KINDS} (or None: all of them), got {kinds!r}") from None
    if not kinds or any(not isinstance(k, str) or k not in KINDS for k in kinds) or len(set(kinds)) != len(kinds):
        raise ValueError(f"kinds must be some of {KINDS}, each once, got {kinds!r}")
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(n_scenes):
        color, shape, pattern = str(rng.choice(list(COLORS))), str(rng.choice(SHAPES)), str(rng.choice(PATTERNS))
        source = draw_scene(color, shape, pattern, seed=_scene_seed(seed, i))
        for kind in kinds:
            if kind == "colour":
                truth = edit_scene(source, color=str(rng.choice([c for c in COLORS if c != color])))
            elif kind == "shape":
                truth = edit_scene(source, shape=str(rng.choice([s for s in SHAPES if s != shape])))
            else:
                new = str(rng.choice([p for p in PATTERNS if p != pattern]))
                truth = edit_scene(source, pattern=new, seed=_pattern_seed(seed, i))
            cases.append(EditCase(kind, source, truth, edit_region(kind, source, truth)))
    return cases


def score(case: EditCase, edited) -> dict:
    """Everything pie-tiny measures about one edited image (PIL image or array in [0, 1]). ``centre_moved`` is NaN
    when the reader finds no shape in the edit (or in the truth): the benchmark's median leaves such edits out, and
    its "right" column counts them as wrong."""
    if not isinstance(case, EditCase):
        raise ValueError(f"case must be an EditCase from pie_tiny(), got {type(case).__name__}")
    if isinstance(edited, np.ndarray) and edited.dtype.kind in "iu":  # score reads arrays in [0, 1] only
        raise ValueError(
            f"edited is an integer array ({edited.dtype}); pass the PIL image, or the array in [0, 1] (a / 255)"
        )
    out = as_array(edited, "edited")
    if out.ndim == 4 and out.shape[0] == 1:
        out = out[0]
    if out.shape != case.source.image.shape:
        h, w, c = case.source.image.shape
        raise ValueError(
            f"the edited image must be one {h} x {w} RGB image like the scene, got an array of {out.shape}"
        )
    bg = pie_background(case.source.image, out, case.edit_mask)
    reading, truth = read_scene(out), case.truth
    # the whole target, as read_edit reads it: a pattern edit that lost the object, or a colour edit that lost the
    # stripes, is no right edit (reading the changed word alone called pure noise a right "checkered" edit)
    right = (reading.color, reading.shape, reading.pattern) == (truth.color, truth.shape, truth.pattern)
    truth_reading = read_scene(truth.image)
    moved = float("nan")
    if reading.center is not None and truth_reading.center is not None:
        moved = float(np.hypot(*np.subtract(reading.center, truth_reading.center)))
    return {
        "background_psnr": bg["psnr"],
        "background_mse": bg["mse"],
        "background_ssim": bg["ssim"],
        "psnr_to_truth": psnr(truth.image, out),
        "right": bool(right),
        "centre_moved": moved,
    }
