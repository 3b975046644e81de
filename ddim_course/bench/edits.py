"""pie-tiny: inversion x editor on pocket scenes with their true edited images (notebook 07), beside PIE-Bench's
published numbers for the same rows on Stable Diffusion 1.4."""

from __future__ import annotations

import statistics
import time

from ..attention import PromptToPrompt, as_controller
from ..ddim import _show
from ..editing import edit, unet_rows_per_step
from ..inversions import METHODS, get_method
from ..models import get_preset
from .common import table

# (label, inversion method, editor): the rows of Ju et al. 2024, Table 1, and the plain prompt swap
ROWS = (
    ("DDIM + prompt swap", "ddim", None),
    ("DDIM + P2P", "ddim", "prompt-to-prompt"),
    ("null-text + P2P", "null-text", "prompt-to-prompt"),
    ("negative-prompt + P2P", "negative-prompt", "prompt-to-prompt"),
    ("direct + P2P", "direct", "prompt-to-prompt"),
)

# Ju et al. 2024 ("PnP Inversion: Boosting Diffusion-based Editing with 3 Lines of Code", ICLR 2024), Table 1:
# PIE-Bench, 700 images, Stable Diffusion 1.4, 50 steps, guidance 7.5. (structure distance x 10^3, background PSNR,
# LPIPS x 10^3, MSE x 10^4, SSIM x 10^2, CLIP similarity whole / edited)
PIE_BENCH = (
    ("DDIM + P2P", 69.43, 17.87, 208.80, 219.88, 71.14, 25.01, 22.44),
    ("null-text + P2P", 13.44, 27.03, 60.67, 35.86, 84.11, 24.75, 21.86),
    ("negative-prompt + P2P", 16.17, 26.21, 69.01, 39.73, 83.40, 24.61, 21.87),
    ("direct + P2P", 11.65, 27.22, 54.55, 32.86, 84.76, 25.02, 22.10),
)


def pie_bench_table() -> str:
    """PIE-Bench's published numbers (Ju et al. 2024, Table 1), cited, to compare the shape of the results."""
    return table(
        "PIE-Bench, published (Ju et al. 2024, Table 1; SD 1.4, 700 images, guidance 7.5) - not measured here",
        [
            "method",
            "structure distance x10^3",
            "background PSNR",
            "LPIPS x10^3",
            "MSE x10^4",
            "SSIM x10^2",
            "CLIP whole",
            "CLIP edited",
        ],
        [[label, *(f"{v:.2f}" for v in values)] for label, *values in PIE_BENCH],
    )


def _check_rows(rows) -> list[tuple[str, str, object]]:
    """``rows`` as (label, method name, editor) triples, checked before any work: the editor is None (prompt swap),
    "prompt-to-prompt" (the preset's settings) or a configured ``PromptToPrompt``, used as it is."""
    if isinstance(rows, (str, bytes)) or not isinstance(rows, (list, tuple)) or not rows:
        raise ValueError(f"rows must be a list of (label, method, editor) triples like ROWS, got {_show(rows)}")
    checked, labels = [], set()
    for row in rows:
        if not (isinstance(row, (list, tuple)) and len(row) == 3 and isinstance(row[0], str)):
            raise ValueError(
                f"each row must be (label, method, editor), e.g. ('DDIM + P2P', 'ddim', 'prompt-to-prompt'), "
                f"got {_show(row)}"
            )
        label, method, editor = row
        if label in labels:
            raise ValueError(f"two rows are labelled {label!r}: their results would be mixed; give each its own")
        labels.add(label)
        if not isinstance(editor, PromptToPrompt):
            as_controller(editor)  # None, "prompt-to-prompt", or a clear error ("none" is not a way to say None)
        m = get_method(method)
        if editor is not None and not m.ddim_sampler:  # refused by edit, but only after the first inversion
            raise ValueError(f"row {label!r}: prompt-to-prompt edits from a DDIM-sampled inversion; {m.name!r} is not")
        checked.append((label, m.name, editor))
    return checked


def run_edits(pipe, cases, rows=ROWS, *, steps=50, guidance_scale=7.5, control=None, start_step=0, progress=False):
    """Edit every case with every row; returns {row label: [(case, scores, seconds, UNet calls)]}.

    One inversion per scene and method serves all of that scene's edits (its seconds are shared among them). A row
    whose editor is a ``PromptToPrompt`` edits with it; the "prompt-to-prompt" rows use the model preset's settings
    for the case's kind of edit, with the case's blend and kept words; ``control`` replaces those by a configured
    ``PromptToPrompt`` (or a function of the case that returns one)."""
    from ..pocket.pie_tiny import EditCase, score

    rows = _check_rows(rows)
    if isinstance(cases, EditCase):
        cases = [cases]
    try:
        cases = list(cases)  # any iterable of cases (a generator too)
    except TypeError:
        cases = None
    if cases is None or not all(isinstance(c, EditCase) for c in cases):
        raise ValueError(f"cases must be a list of EditCase (what pie_tiny returns), got {_show(cases)}")
    if control is not None and not isinstance(control, PromptToPrompt) and not callable(control):
        raise ValueError(f"control must be None, a PromptToPrompt or a function of the case, got {_show(control)}")
    out = {label: [] for label, _, _ in rows}
    inversions: dict = {}
    preset = get_preset(pipe)  # once: it reads the pipeline's tokenizer
    for case in cases:
        for label, method, editor in rows:
            key = (id(case.source), method)
            if key not in inversions:
                t = time.perf_counter()
                inv = METHODS[method](
                    pipe,
                    case.source.pil(),
                    case.source_prompt,
                    num_inference_steps=steps,
                    guidance_scale=guidance_scale,
                    progress=progress,
                )
                inversions[key] = (inv, time.perf_counter() - t)
            inv, inv_seconds = inversions[key]
            ctrl = editor if isinstance(editor, PromptToPrompt) else None
            if editor is not None and ctrl is None:
                ctrl = control(case) if callable(control) else control
                if ctrl is None:
                    words = {"blend_words": case.blend_words, "blend_keep_words": case.keep_words}
                    settings = preset.prompt_to_prompt_for(case.kind) | words
                    ctrl = PromptToPrompt(**settings)
            t = time.perf_counter()
            image = edit(
                pipe,
                None,
                case.source_prompt,
                case.target_prompt,
                inversion=inv,
                control=ctrl,
                start_step=start_step,
                num_inference_steps=steps,
                guidance_scale=guidance_scale,
                progress=progress,
            )[0]
            seconds = time.perf_counter() - t
            calls = (steps - start_step) * unet_rows_per_step(
                inv, guidance_scale, editor is not None, start_step=start_step
            )
            out[label].append((case, score(case, image), seconds, inv_seconds, inv.unet_calls + calls))
    return out


def summary_rows(results, kinds=("colour", "shape", "pattern")) -> list[list[str]]:
    """One line per kind of edit and row: edit right, background PSNR (PIE-Bench rules), PSNR to the true edit,
    centre moved (median), seconds and UNet calls per edit (the inversion included)."""
    from ..pocket.pie_tiny import KINDS

    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    if not kinds or any(k not in KINDS for k in kinds):
        raise ValueError(f"kinds must be some of {KINDS}, got {kinds!r}")
    if not isinstance(results, dict):
        raise ValueError(f"results must be what run_edits returns (a dict of rows), got {_show(results)}")
    lines = []
    for kind in kinds:
        for label, items in results.items():
            items = [it for it in items if it[0].kind == kind]
            if not items:
                continue
            s = [it[1] for it in items]
            moved = [x["centre_moved"] for x in s if x["centre_moved"] == x["centre_moved"]]
            lines.append(
                [
                    kind,
                    label,
                    f"{100 * statistics.mean(x['right'] for x in s):.0f}%",
                    f"{statistics.mean(x['background_psnr'] for x in s):.2f}",
                    f"{statistics.mean(x['background_ssim'] for x in s) * 100:.2f}",
                    f"{statistics.mean(x['psnr_to_truth'] for x in s):.2f}",
                    f"{statistics.median(moved):.1f}" if moved else "-",
                    f"{statistics.mean(it[2] + it[3] for it in items):.2f}",
                    f"{statistics.mean(it[4] for it in items):.0f}",
                ]
            )
    return lines


HEADER = [
    "edit",
    "inversion + editor",
    "edit right (reader)",
    "background PSNR (dB)",
    "background SSIM x10^2",
    "PSNR to the true edit (dB)",
    "centre moved (px, median)",
    "seconds per edit",
    "UNet calls per edit",
]


def bench_edits(
    pipe, *, n_scenes: int = 10, steps: int = 50, guidance_scale: float = 7.5, seed: int | None = None
) -> str:
    """``python -m ddim_course.bench edits``: the pie-tiny table and PIE-Bench's published one.

    ``seed`` None: the held-out scenes (``pie_tiny.SEED``), the ones to report. Any other seed draws other scenes:
    tune settings on those, so that the held-out table is not fitted to."""
    from ..pocket.pie_tiny import SEED, check_development_seed, pie_tiny

    seed = SEED if seed is None else seed
    check_development_seed(n_scenes, seed)
    cases = pie_tiny(n_scenes, seed=seed)
    results = run_edits(pipe, cases, steps=steps, guidance_scale=guidance_scale)
    which = "held-out scenes" if seed == SEED else f"development scenes (seed {seed}, not the held-out ones)"
    title = (
        f"pie-tiny: {n_scenes} {which} x 3 kinds of edit, {steps} steps, guidance {guidance_scale:g}, "
        f"{pipe.device} (background by PIE-Bench's rules)"
    )
    return "\n\n".join([table(title, HEADER, summary_rows(results)), cost_table(results), pie_bench_table()])


def cost_table(results, ran=ROWS) -> str:
    """What prompt-to-prompt adds: sampling seconds per edit (the inversion left out) against the plain swap's.
    ``ran``: the rows ``run_edits`` ran (their editors say which are attention-controlled)."""
    if not isinstance(results, dict) or not results.get("DDIM + prompt swap"):
        raise ValueError("cost_table compares each row with the 'DDIM + prompt swap' row: run_edits must include it")
    swap = statistics.mean(it[2] for it in results["DDIM + prompt swap"])
    rows = []
    for label, _, editor in _check_rows(ran):
        if editor is not None and results.get(label):
            seconds = statistics.mean(it[2] for it in results[label])
            rows.append([label, f"{seconds:.2f}", f"{swap:.2f}", f"{seconds / swap:.2f}x"])
    return table(
        "Cost of attention control: sampling seconds per edit, inversion left out (same steps, same machine)",
        ["inversion + editor", "P2P edit (s)", "plain swap (s)", "ratio"],
        rows,
    )
