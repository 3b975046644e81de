"""The course's teaching helpers: exercise checks, widget callbacks, notebooks and links."""

import json

import pytest
import torch

from ddim_course import ddim_step, invert, psnr
from ddim_course.exercises import check_add_noise, check_ddim_step, check_psnr, check_start_index
from ddim_course.links import REPO, SETUP_MARKER, colab_url, notebooks, setup_cell_source, update
from ddim_course.pocket.model import make_scheduler
from ddim_course.pocket.scenes import draw_scene
from ddim_course.widgets import (
    EditExplorer,
    MethodExplorer,
    compare_at_start_step,
    guidance_explorer,
    guided_sample,
    noise_explorer,
    noisy_image_at,
    start_step_explorer,
)

PROMPT = "a red circle on a striped background"
SCHED = make_scheduler()
A = SCHED.alphas_cumprod
FINAL = SCHED.final_alpha_cumprod


def test_check_add_noise_passes_right_and_explains_wrong():
    right = check_add_noise(lambda x0, n, t: A[t].sqrt() * x0 + (1 - A[t]).sqrt() * n, A)
    assert right and "matches" in repr(right) and repr(right).startswith("✅")
    wrong = check_add_noise(lambda x0, n, t: A[t] * x0 + (1 - A[t]) * n, A)
    assert not wrong and "no square roots" in wrong.message and "off by up to" in wrong.message
    swapped = check_add_noise(lambda x0, n, t: (1 - A[t]).sqrt() * x0 + A[t].sqrt() * n, A)
    assert "swapped" in swapped.message
    crash = check_add_noise(lambda x0, n, t: 1 / 0, A)
    assert not crash and "ZeroDivisionError" in crash.message
    shape = check_add_noise(lambda x0, n, t: x0[0], A)
    assert "shape" in shape.message


def test_check_ddim_step():
    def ref(eps, t, tp, x):
        return ddim_step(eps, t, tp, x, A, final_alpha_cumprod=FINAL)

    assert check_ddim_step(ref, A, FINAL)

    def no_final(eps, t, tp, x):  # the classic bug: a negative index reads alphas_cumprod from the end
        a_t, a_p = A[t], A[tp]
        x0 = (x - (1 - a_t).sqrt() * eps) / a_t.sqrt()
        return a_p.sqrt() * x0 + (1 - a_p).sqrt() * eps

    result = check_ddim_step(no_final, A, FINAL)
    assert not result and "t_prev < 0" in result.message and "1 -> -19" in result.message


def test_check_start_index_and_psnr():
    assert check_start_index(lambda s: 50 - s)
    off = check_start_index(lambda s: 50 - s - 1)
    assert not off and "off by -1" in off.message
    assert check_psnr(lambda a, b: psnr(a, b))
    bad = check_psnr(lambda a, b: float(((a - b) ** 2).mean()))
    assert not bad and "log10" in bad.message


def test_widget_callbacks_without_a_browser(pipe):
    image = draw_scene(seed=8).pil()
    latents = torch.zeros(1, 4, 16, 16)
    im, a = noisy_image_at(pipe, latents, torch.randn(1, 4, 16, 16), 500)
    assert im.size == (64, 64) and a == pytest.approx(float(A[500]))
    with pytest.raises(ValueError, match=r"t must be in \[0, 999\]"):
        noisy_image_at(pipe, latents, latents, 1000)
    s1 = guided_sample(pipe, PROMPT, 3.0, num_inference_steps=3)
    s2 = guided_sample(pipe, PROMPT, 3.0, num_inference_steps=3)
    assert psnr(s1, s2) == float("inf")  # fixed seed: same picture
    inv = invert(pipe, image, PROMPT, num_inference_steps=5, progress=False)
    r = compare_at_start_step(pipe, image, inv, 2)
    assert set(r) == {"reconstruction", "img2img", "psnr_reconstruction", "psnr_img2img"}


def test_edit_explorer_reuses_its_inversion(pipe, monkeypatch):
    import ddim_course.widgets as widgets

    image = draw_scene(seed=9).pil()
    ex = EditExplorer(pipe, image, PROMPT, "a blue circle on a striped background", start_step=2, num_inference_steps=5)
    calls = []
    monkeypatch.setattr(widgets, "invert", lambda *a, **k: calls.append(1))
    first = ex.apply()
    ex.start_step = 4
    second = ex.apply()
    assert not calls  # no new inversion per edit
    assert first.size == (64, 64) and psnr(first, second) < float("inf")


def test_widgets_build(pipe):
    image = draw_scene(seed=10).pil()
    inv = invert(pipe, image, PROMPT, num_inference_steps=3, progress=False)
    box = noise_explorer(pipe, image)
    slider = box.children[0]
    before = box.children[1].value
    slider.value = 900
    assert box.children[1].value != before  # moving the slider re-renders
    guidance_explorer(pipe, PROMPT, num_inference_steps=2)
    start_step_explorer(pipe, image, inv)
    ex = EditExplorer(pipe, image, PROMPT, "a blue circle on a plain background", start_step=1, num_inference_steps=3)
    w = ex.widget()
    assert ex.result is not None and w.children[3].description == "Apply"


def test_method_explorer_inverts_each_method_once(pipe):
    image = draw_scene(seed=11).pil()
    ex = MethodExplorer(pipe, image, PROMPT, "a blue circle", start_step=2, inner_steps=1, num_inference_steps=4)
    box = ex.widget(method="DDIM", guidance=3.5)
    pick, after, label = box.children[0].children[0], box.children[1].children[2].children[1], box.children[2]
    first = after.value
    assert "DDIM at guidance 3.5" in label.value
    pick.value = "null-text"
    assert after.value != first and "null-text" in label.value  # switching the method re-renders
    ddim = ex.inversions[("DDIM", None)]
    pick.value = "DDIM"
    scale = box.children[0].children[1]
    scale.value = 7.5  # DDIM inverts at guidance 1 whatever the sampling guidance: nothing new to invert
    assert ex.inversions[("DDIM", None)] is ddim and ddim.method == "ddim"
    assert set(ex.inversions) == {("DDIM", None), ("null-text", 3.5)}
    with pytest.raises(ValueError, match="method must be one of"):
        ex.show("EDICT", 7.5)


# ------------------------------------------------------------------------------------------------
# notebooks
# ------------------------------------------------------------------------------------------------
def test_notebooks_exist_in_order_and_are_committed_without_outputs():
    names = [p.name for p in notebooks()]
    assert names[:5] == [
        "01_noise_schedule.ipynb",
        "02_ddim_sampling.ipynb",
        "03_ddim_inversion.ipynb",
        "04_reconstruction_vs_img2img.ipynb",
        "05_editing.ipynb",
    ]
    for path in notebooks():
        nb = json.loads(path.read_text())
        sidecar = path.parent / "checks" / f"{path.stem}.json"
        expected = json.loads(sidecar.read_text())
        checked = []
        for index, cell in enumerate(nb["cells"]):
            if cell["cell_type"] != "code":
                continue
            assert not cell["outputs"] and cell["execution_count"] is None, f"{path.name}: committed with outputs"
            if "".join(cell["source"]).startswith("# NBVAL_CHECK_OUTPUT"):
                checked.append(str(index))
        # every check cell has its expected text beside the notebook (or nbval would have nothing to compare)
        assert sorted(checked) == sorted(expected), f"{path.name}: re-run tools/record_checks.py"
        for entry in expected.values():
            assert entry["outputs"] and all(o["output_type"] in ("stream", "execute_result") for o in entry["outputs"])
        assert len(checked) >= 2, f"{path.name} needs cells with # NBVAL_CHECK_OUTPUT"


def test_nbval_sees_the_expected_outputs():
    import nbformat

    from conftest import with_expected_outputs

    path = notebooks()[0]
    nb = with_expected_outputs(nbformat.read(path, as_version=4), path)
    checks = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("# NBVAL_CHECK_OUTPUT")]
    assert checks and all(c.outputs and c.execution_count for c in checks)


def test_every_notebook_has_the_colab_setup_cell_and_badge():
    for path in notebooks():
        nb = json.loads(path.read_text())
        first_code = next(c for c in nb["cells"] if c["cell_type"] == "code")
        assert "".join(first_code["source"]) == setup_cell_source()
        assert colab_url(path.name) in "".join(nb["cells"][0]["source"])
        text = json.dumps(nb)
        assert "0.18215" not in text and "runwayml" not in text and "_encode_prompt" not in text
    assert update(write=False) == [], "run `python -m ddim_course.links` to refresh the links from REPO"
    assert REPO in setup_cell_source() and SETUP_MARKER in setup_cell_source()


def test_setup_cell_does_nothing_outside_colab(monkeypatch):
    import subprocess
    import sys

    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("the setup cell ran pip outside Colab"))
    exec(setup_cell_source(), {})
    assert "torch" not in setup_cell_source().split("import subprocess")[1]  # never pins or reinstalls torch
