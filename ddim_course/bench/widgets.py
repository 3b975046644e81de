"""Each explorer's re-render time: from a moved control (or Apply) to the new picture, without a browser."""

from __future__ import annotations

from ..ddim import invert
from ..models import get_preset
from ..timing import best_times
from .common import table


def bench_widgets(pipe, *, steps: int = 50, repeats: int = 3) -> str:
    """Each explorer's re-render: the time from a moved control (or Apply) to the new picture, without a
    browser (the callbacks run as ipywidgets runs them; the browser only swaps a PNG). Inversions are cached."""
    from ..widgets import EditExplorer, guidance_explorer, noise_explorer, start_step_explorer

    preset = get_preset(pipe)
    image, source = preset.image(pipe), preset.source_prompt
    inversion = invert(pipe, image, source, num_inference_steps=steps, progress=False)
    noise = noise_explorer(pipe, image).children[0]
    guidance = guidance_explorer(pipe, source, num_inference_steps=steps).children[1]
    start = start_step_explorer(pipe, image, inversion).children[0]
    explorer = EditExplorer(
        pipe,
        image,
        source,
        preset.edit_prompts[0],
        start_step=preset.edit_start_step,
        guidance_scale=preset.edit_guidance,
        num_inference_steps=steps,
    )
    edit_box = explorer.widget()
    edit_start, apply = edit_box.children[1], edit_box.children[3]

    def mover(control, a, b):
        def move():
            control.value = b if control.value == a else a

        return move

    def apply_at(s):
        def run():
            edit_start.value = s
            apply.click()

        return run

    cases = [
        ("noise explorer (01): move t", "decode", mover(noise, 500, 600)),
        ("guidance explorer (02): move guidance", f"sample, {steps} guided steps", mover(guidance, 5.0, 7.5)),
        ("start_step explorer (04): move start_step", "reconstruct + img2img from 10 or 11", mover(start, 10, 11)),
        (
            f"edit explorer (05): Apply at start_step {preset.edit_start_step}",
            f"edit, {steps - preset.edit_start_step} guided steps",
            apply_at(preset.edit_start_step),
        ),
        ("edit explorer (05): Apply at start_step 0", f"edit, {steps} guided steps", apply_at(0)),
    ]
    times = best_times([c[2] for c in cases], repeats)
    rows = []
    for (name, work, _), t in zip(cases, times):
        target = name.startswith("edit explorer")  # the target is for the editing widget
        rows.append(
            [name, work, f"{t:.3f}", "<= 1 s" if target else "", ("yes" if t <= 1.0 else "NO") if target else ""]
        )
    return table(
        f"Widget re-render from a cached inversion (best of {repeats}, {pipe.device})",
        ["control", "work", "seconds", "target", "met"],
        rows,
    )
