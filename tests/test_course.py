"""The course's teaching helpers: exercise checks, widget callbacks, notebooks and links."""

import json
import re

import pytest
import torch

from ddim_course import invert, psnr
from ddim_course.inversions import METHODS
from ddim_course.links import REPO, SETUP_MARKER, colab_url, notebooks, setup_cell_source, update
from ddim_course.pocket.model import make_scheduler
from ddim_course.pocket.scenes import draw_scene
from ddim_course.widgets import (
    EditExplorer,
    MethodExplorer,
    PromptToPromptExplorer,
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


def test_an_explorer_shows_a_picture_of_itself_where_widgets_cannot_run(pipe):
    import io

    from PIL import Image

    from ddim_course.widgets import STATIC_NOTE

    image = draw_scene(seed=10).pil()
    inv = invert(pipe, image, PROMPT, num_inference_steps=3, progress=False)
    box = start_step_explorer(pipe, image, inv)
    bundle = box._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle  # the live widget, ranked first by JupyterLab
    assert bundle["text/plain"] == STATIC_NOTE and "VBox(" not in bundle["text/plain"]
    picture = Image.open(io.BytesIO(bundle["image/png"]))
    picture.load()  # a PNG that decodes: three tiles (original, from the inversion, img2img) and the settings
    assert picture.width > 3 * 256 and picture.height > 256
    box.children[0].value = 0  # the picture follows the explorer's state (it starts at 2, the last step of 3)
    assert box._repr_mimebundle_()["image/png"] != bundle["image/png"]
    box.children[1].children[0].children[1].value = b"not a png"  # a picture that cannot be drawn: the widget stays
    broken = box._repr_mimebundle_()
    assert "image/png" not in broken and "application/vnd.jupyter.widget-view+json" in broken


def test_method_explorer_inverts_each_method_once(pipe):
    image = draw_scene(seed=11).pil()
    ex = MethodExplorer(pipe, image, PROMPT, "a blue circle", start_step=2, inner_steps=1, num_inference_steps=4)
    box = ex.widget(method="DDIM", guidance=3.5)
    pick, after, label = box.children[0].children[0], box.children[1].children[2].children[1], box.children[2]
    first = after.value
    assert pick.value == "ddim" and "DDIM at guidance 3.5" in label.value  # the old label is still accepted
    assert [value for _, value in pick.options] == list(METHODS)  # the registry's methods, by their labels
    pick.value = "null-text"
    assert after.value != first and "null-text" in label.value  # switching the method re-renders
    ddim = ex.inversions[("ddim", None)]
    pick.value = "ddim"
    scale = box.children[0].children[1]
    scale.value = 7.5  # DDIM inverts at guidance 1 whatever the sampling guidance: nothing new to invert
    assert ex.inversions[("ddim", None)] is ddim and ddim.method == "ddim"
    assert set(ex.inversions) == {("ddim", None), ("null-text", 3.5)}
    pick.value = "edict"  # an exact method inverts at the guidance it samples with: once per guidance
    assert ("edict", 7.5) in ex.inversions and "EDICT at guidance 7.5" in label.value
    scale.value = 3.5
    assert {("edict", 7.5), ("edict", 3.5)} <= set(ex.inversions)
    assert "exact by design" not in label.value
    pick.value = "ddim"
    ddim_edit = bytes(after.value)
    pick.value = "direct"  # its reconstruction is the stored path: the label says so, it measures no inversion
    assert "direct at guidance 3.5" in label.value and "exact by design" in label.value
    # and its edit, without prompt-to-prompt, is DDIM's own picture: said, not left for the learner to puzzle over
    assert bytes(after.value) == ddim_edit and "is DDIM's own" in label.value
    ex.method_options["fixed-point"] = {"iterations": 1}  # the label said "3 iterations" whatever was run
    pick.value = "fixed-point"
    assert label.value.startswith("fixed-point (1 iteration) at guidance 3.5"), label.value
    with pytest.raises(ValueError, match="unknown inversion method 'PnP'"):
        ex.show("PnP", 7.5)


def _controls(box) -> list:
    """An explorer's controls: every widget in it that can be disabled."""
    found = []
    for child in getattr(box, "children", ()):
        found += [child] if hasattr(child, "disabled") else _controls(child)
    return found


def _toggle(control, a, b):
    control.value = b if control.value == a else a


# explorer -> (its computation, how to build it, how to make it compute again, what it says while computing)
EXPLORERS = {
    "01 noise": (
        "noisy_image_at",
        lambda pipe, image, inv: noise_explorer(pipe, image),
        lambda box: _toggle(box.children[0], 500, 900),
        "decoding x_t at t = ",
    ),
    "02 guidance": (
        "guided_sample",
        lambda pipe, image, inv: guidance_explorer(pipe, PROMPT, num_inference_steps=2),
        lambda box: _toggle(box.children[1], 5.0, 7.5),
        "sampling with guidance ",
    ),
    "04 start_step": (
        "_compare",  # compare_at_start_step once its inputs are checked (the explorer checks them when made)
        lambda pipe, image, inv: start_step_explorer(pipe, image, inv),
        lambda box: _toggle(box.children[0], 1, 2),
        "reconstructing and running img2img from start_step ",
    ),
    "05 edit": (
        "EditExplorer.apply",
        lambda pipe, image, inv: EditExplorer(pipe, image, PROMPT, "a blue circle", num_inference_steps=3).widget(),
        lambda box: box.children[3].click(),
        "editing to 'a blue circle' at guidance 7.5 ...",
    ),
    "06 methods": (
        "MethodExplorer.show",
        lambda pipe, image, inv: MethodExplorer(
            pipe, image, PROMPT, "a blue circle", start_step=1, num_inference_steps=3
        ).widget(method="ddim", guidance=3.5),
        lambda box: _toggle(box.children[0].children[1], 3.5, 1.0),
        "sampling at guidance ",
    ),
    "07 prompt-to-prompt": (
        "PromptToPromptExplorer.show",
        lambda pipe, image, inv: PromptToPromptExplorer(
            pipe, image, PROMPT, "a blue circle", num_inference_steps=3
        ).widget(method="ddim"),
        lambda box: _toggle(box.children[1].children[0], 0.8, 0.5),
        "editing ...",
    ),
}


@pytest.mark.parametrize("name", list(EXPLORERS))
def test_explorers_are_busy_while_they_compute_and_survive_errors(pipe, monkeypatch, name):
    import ddim_course.widgets as widgets

    computation, build, again, busy_text = EXPLORERS[name]
    owner = widgets
    for part in computation.split(".")[:-1]:
        owner = getattr(owner, part)
    real = getattr(owner, computation.split(".")[-1])
    seen, state = [], {"box": None, "fail": False}

    def spy(*args, **kwargs):  # what a learner sees while the explorer computes
        if state["box"] is not None:
            seen.append((state["box"].children[-1].value, [c.disabled for c in _controls(state["box"])]))
        if state["fail"]:
            raise RuntimeError("out of memory\n(a second line of details)")
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, computation.split(".")[-1], spy)
    image = draw_scene(seed=12).pil()
    box = build(pipe, image, invert(pipe, image, PROMPT, num_inference_steps=3, progress=False))
    label, controls = box.children[-1], _controls(box)
    assert controls and not any(c.disabled for c in controls)
    state["box"] = box
    again(box)
    assert len(seen) == 1 and busy_text in seen[0][0] and seen[0][0].endswith("...")
    assert all(seen[0][1]), "the controls must be disabled while the explorer computes"
    assert "could not" not in label.value and "..." not in label.value and not any(c.disabled for c in controls)
    state["fail"] = True
    again(box)
    assert "could not " in label.value and "out of memory" in label.value and "second line" not in label.value
    assert not any(c.disabled for c in controls), "an error must leave the explorer usable"
    state["fail"] = False
    again(box)
    assert "could not" not in label.value and "..." not in label.value


def test_labels_show_short_numbers(pipe):
    box = guidance_explorer(pipe, PROMPT, num_inference_steps=2)
    guidance, eta, label = box.children[1], box.children[2], box.children[-1]
    guidance.value = 10.000000000000002  # what FloatSlider steps can give
    eta.value = 0.1 + 0.2
    assert label.value == "seed 0, guidance 10, eta 0.3"
    ex = EditExplorer(pipe, draw_scene(seed=13).pil(), PROMPT, "a blue circle", start_step=1, num_inference_steps=3)
    edit_box = ex.widget()
    edit_box.children[2].value = 7.500000000000002
    edit_box.children[3].click()
    assert edit_box.children[-1].value == "'a blue circle', start_step 1, guidance 7.5"


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
        nb = json.loads(path.read_text(encoding="utf-8"))
        sidecar = path.parent / "checks" / f"{path.stem}.json"
        expected = json.loads(sidecar.read_text(encoding="utf-8"))
        # the checks are keyed by cell id (nbformat 4.5), which `nbstripout` without --keep-id renumbers
        ids = [cell.get("id") for cell in nb["cells"]]
        assert (nb["nbformat"], nb["nbformat_minor"]) >= (4, 5) and all(ids), f"{path.name}: cells need ids"
        assert len(set(ids)) == len(ids), f"{path.name}: cell ids repeat"
        checked = []
        for cell in nb["cells"]:
            if cell["cell_type"] != "code":
                continue
            assert not cell["outputs"] and cell["execution_count"] is None, f"{path.name}: committed with outputs"
            if "".join(cell["source"]).startswith("# NBVAL_CHECK_OUTPUT"):
                checked.append(cell["id"])
        # every check cell has its expected text beside the notebook (or nbval would have nothing to compare)
        assert sorted(checked) == sorted(expected), f"{path.name}: re-run tools/record_checks.py"
        for entry in expected.values():
            assert entry["outputs"] and all(o["output_type"] in ("stream", "execute_result") for o in entry["outputs"])
        assert len(checked) >= 2, f"{path.name} needs cells with # NBVAL_CHECK_OUTPUT"


def test_nbval_sees_the_expected_outputs():
    import nbformat

    from conftest import CHECKS, with_expected_outputs

    for path in notebooks():
        expected = json.loads((CHECKS / f"{path.stem}.json").read_text(encoding="utf-8"))
        nb = nbformat.read(path, as_version=4)
        # a cell inserted above the checked ones moves no expected text: they are matched by cell id
        nb.cells.insert(1, nbformat.v4.new_code_cell("print('a cell added later')"))
        nb = with_expected_outputs(nb, path)
        checks = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("# NBVAL_CHECK_OUTPUT")]
        assert len(checks) == len(expected) >= 2
        for cell in checks:
            assert cell.outputs == [nbformat.from_dict(o) for o in expected[cell.id]["outputs"]], (path.name, cell.id)
            assert cell.execution_count == expected[cell.id]["execution_count"]
        assert not any(c.outputs for c in nb.cells if c.cell_type == "code" and c not in checks), path.name


def test_a_stale_checks_file_is_an_error(tmp_path):
    import nbformat

    from conftest import CHECKS, StaleChecksError, with_expected_outputs

    path = notebooks()[0]
    expected = json.loads((CHECKS / f"{path.stem}.json").read_text(encoding="utf-8"))
    sidecar = tmp_path / f"{path.stem}.json"

    def check(entries):
        sidecar.write_text(json.dumps(entries), encoding="utf-8")
        return with_expected_outputs(nbformat.read(path, as_version=4), path, checks_dir=tmp_path)

    check(expected)  # the committed checks file agrees with its notebook
    first = next(iter(expected))
    with pytest.raises(StaleChecksError, match=f"{path.name}.*'no-such-cell'"):  # an id the notebook lacks
        check({**expected, "no-such-cell": expected[first]})
    with pytest.raises(StaleChecksError, match=f"{path.name}.*'{first}'.*no recorded output"):  # a cell left out
        check({k: v for k, v in expected.items() if k != first})
    with pytest.raises(StaleChecksError, match=f"{path.name}.*'{first}'.*no recorded output"):
        check({**expected, first: {"execution_count": 1, "outputs": []}})
    with pytest.raises(StaleChecksError, match=f"{path.name}.*'5'"):  # the old files, keyed by position
        check({str(i): v for i, v in enumerate(expected.values(), start=5)})
    sidecar.unlink()
    with pytest.raises(StaleChecksError, match=f"{path.name}.*no recorded output"):  # no checks file at all
        with_expected_outputs(nbformat.read(path, as_version=4), path, checks_dir=tmp_path)


def test_every_notebook_has_the_colab_setup_cell_and_badge():
    for path in notebooks():
        nb = json.loads(path.read_text(encoding="utf-8"))
        first_code = next(c for c in nb["cells"] if c["cell_type"] == "code")
        assert "".join(first_code["source"]) == setup_cell_source()
        assert colab_url(path.name) in "".join(nb["cells"][0]["source"])
        # the original lesson's pitfalls are never in the code a learner runs, except in the cells that run them on
        # purpose to measure them (notebook 02), each of which says so on its first line
        code = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code" and not _demo(c))
        for pitfall in PITFALLS:
            assert pitfall not in code, f"{path.name} runs the pitfall {pitfall!r}"
    demos = "".join(
        "".join(c["source"])
        for p in notebooks()
        for c in json.loads(p.read_text(encoding="utf-8"))["cells"]
        if _demo(c)
    )
    assert all(pitfall in demos for pitfall in PITFALLS), "each pitfall is measured once, in notebook 02"


PITFALLS = ("0.18215", "runwayml", "_encode_prompt", "decode_latents")


def _demo(cell) -> bool:
    return cell["cell_type"] == "code" and "".join(cell["source"]).startswith("# PITFALL, run on purpose")


def test_the_links_are_up_to_date():
    """These two lines had slipped below _demo's return, so they never ran."""
    assert update(write=False) == [], "run `python -m ddim_course.links` to refresh the links from REPO"
    assert REPO in setup_cell_source() and SETUP_MARKER in setup_cell_source()


def test_setup_cell_installs_the_release_tag_not_a_branch():
    import re
    from pathlib import Path

    import ddim_course
    from ddim_course.links import BRANCH, REF

    pyproject = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text(encoding="utf-8")
    version = re.search(r'^version = "([^"]+)"', pyproject, re.MULTILINE).group(1)
    assert ddim_course.__version__ == version, "ddim_course.__version__ and pyproject.toml's version differ"
    assert REF == f"v{version}", "links.REF is 'v' + pyproject's version; then run python -m ddim_course.links"
    source = setup_cell_source()
    assert f'url = "ddim-course @ git+{REPO}@{REF}"' in source
    for moving in {BRANCH, "main", "master", "HEAD"}:
        assert f"@{moving}" not in source
    # the badges open the notebooks of that same release: on a branch, they opened notebooks newer than the package
    # their setup cell installs
    from ddim_course.links import ROOT, colab_url

    assert f"/blob/{REF}/notebooks/" in colab_url("01_noise_schedule.ipynb")
    for page in [ROOT / "README.md", ROOT / "README.zh-CN.md", *sorted((ROOT / "notebooks").rglob("*.ipynb"))]:
        badges = re.findall(r"colab\.research\.google\.com/github/[^)\s\\\"]+", page.read_text(encoding="utf-8"))
        assert badges and all(f"/blob/{REF}/" in b for b in badges), page


def test_setup_cell_in_colab_installs_and_explains_a_failed_install(monkeypatch):
    import subprocess
    import sys
    import types

    from ddim_course.links import REF

    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    calls, returncode = [], 0

    def fake_run(args, **kwargs):
        calls.append((args, kwargs))
        return subprocess.CompletedProcess(args, returncode)

    monkeypatch.setattr(subprocess, "run", fake_run)
    exec(setup_cell_source(), {})  # pip succeeds: nothing to say
    [(args, kwargs)] = calls
    assert args[:4] == [sys.executable, "-m", "pip", "install"] and args[-1].endswith(f"@{REF}")
    assert not kwargs.get("check"), "a failed install must not end in a CalledProcessError traceback"

    returncode = 1
    with pytest.raises(SystemExit) as failed:  # IPython shows a SystemExit as its message alone, and stops Run all
        exec(setup_cell_source(), {})
    message = str(failed.value)
    assert "\n" not in message and message.startswith("Could not install the course package (pip exit code 1)")
    assert f"@{REF}" in message and "run this cell again" in message


def test_setup_cell_does_nothing_outside_colab(monkeypatch):
    import subprocess
    import sys

    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("the setup cell ran pip outside Colab"))
    exec(setup_cell_source(), {})
    assert "torch" not in setup_cell_source().split("import subprocess")[1]  # never pins or reinstalls torch


def test_each_lesson_ends_by_linking_the_next_one():
    paths = notebooks()
    for path, following in zip(paths, paths[1:]):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        text = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        assert "## Next" in text, f"{path.name} has no Next section"
        first_link = re.search(r"\]\(([^)]+)\)", text[text.rindex("## Next") :])
        assert first_link and first_link.group(1) == following.name, (path.name, first_link and first_link.group(1))


def test_the_edit_explorer_refuses_values_its_sliders_would_quietly_move(pipe):
    image = draw_scene(seed=13).pil()
    bad = [
        (dict(start_step=100, num_inference_steps=4), r"start_step must be in \[0, 3\] for 4 steps, got 100"),
        (dict(start_step=-3, num_inference_steps=4), r"start_step must be in \[0, 3\] for 4 steps, got -3"),
        (dict(start_step=2.7, num_inference_steps=4), "start_step must be a whole number"),
        (dict(guidance_scale=0.5, num_inference_steps=4), r"guidance_scale must be a number in \[1, 15\]"),
        (dict(guidance_scale=50, num_inference_steps=4), r"guidance_scale must be a number in \[1, 15\]"),
    ]
    for kwargs, message in bad:
        with pytest.raises(ValueError, match=message):
            EditExplorer(pipe, image, PROMPT, "a blue circle", **kwargs)
    with pytest.raises(ValueError, match="target_prompt must be a string"):
        EditExplorer(pipe, image, PROMPT, None, num_inference_steps=4)
    with pytest.raises(ValueError, match="prompt must be a string"):
        guidance_explorer(pipe, None)
    # start_step set to None after the explorer was made: edit's default, as the constructor reads None (after
    # widget() a redraw refused it)
    again = EditExplorer(pipe, image, PROMPT, "a blue circle", num_inference_steps=5)
    again.widget()
    again.start_step = None
    again.apply()
    assert again.start_step == 1
    # no start_step: where edit starts without one, a fifth of the steps (it was min(10, n - 1): 9 of 10 here)
    for n, start in ((4, 0), (10, 2)):
        assert EditExplorer(pipe, image, PROMPT, "a blue circle", num_inference_steps=n).start_step == start


def test_explorers_name_bad_settings_when_made_not_only_in_their_label(pipe):
    image = draw_scene(seed=13).pil()
    for call, message in (
        (lambda: guidance_explorer(pipe, PROMPT, num_inference_steps=0), "num_inference_steps must be"),
        (lambda: guidance_explorer(pipe, PROMPT, seed=2**70), r"seed must be a whole number in \[0, 2\*\*63\)"),
        (lambda: PromptToPromptExplorer(pipe, image, PROMPT, "a blue circle", blend_words="blue"), "blend_words"),
        (
            lambda: PromptToPromptExplorer(pipe, image, PROMPT, "a blue circle", guidance_scale=float("nan")),
            "guidance_scale must be",
        ),
        (  # a blend with no step to start at: every redraw failed, naming a blend_start the explorer has no control of
            lambda: PromptToPromptExplorer(pipe, image, PROMPT, "a blue circle", num_inference_steps=1),
            r"num_inference_steps=1 leaves the local blend no step .* use num_inference_steps=2 or more",
        ),
    ):
        with pytest.raises(ValueError, match=message):
            call()


def test_the_explorers_read_a_pil_image_as_the_model_does(pipe):
    """A PIL image was kept as given: a 128 x 128 one failed every redraw's psnr against the 64 x 64 result, a CMYK
    one could not be shown (PNG has no CMYK)."""
    big = draw_scene(seed=11).pil().resize((128, 128))
    for image in (big, draw_scene(seed=11).pil().convert("CMYK")):
        ex = MethodExplorer(pipe, image, PROMPT, "a blue circle", start_step=2, num_inference_steps=4)
        assert ex.image.size == (64, 64) and ex.image.mode == "RGB"
        box = ex.widget(method="ddim", guidance=1.0)
        assert "could not" not in box.children[2].value and "reconstruction" in box.children[2].value


BINARY_OPENERS = {"Image", "tarfile", "gzip", "zipfile", "webbrowser", "os", "io"}


def test_every_text_file_is_read_and_written_as_utf8():
    """Without an encoding, Windows reads and writes text as cp1252: the Chinese notebooks and READMEs failed to
    decode there (python -m ddim_course.links, two tests of test_zh). Every open(), read_text() and write_text() of
    the package, the tools, the tests and conftest.py names its encoding, or is binary."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    files = [*sorted((root / "ddim_course").rglob("*.py")), *sorted((root / "tools").rglob("*.py"))]
    files += [*sorted((root / "tests").glob("*.py")), root / "conftest.py"]
    missing = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or any(k.arg == "encoding" for k in node.keywords):
                continue
            func, args = node.func, node.args

            def mode_at(k, args=args, node=node):
                given = next((kw.value for kw in node.keywords if kw.arg == "mode"), args[k] if len(args) > k else None)
                return given.value if isinstance(given, ast.Constant) else None if given is None else "?"

            if isinstance(func, ast.Name) and func.id == "open":
                text = "b" not in (mode_at(1) or "r")
            elif isinstance(func, ast.Attribute) and func.attr == "read_text":
                text = not args
            elif isinstance(func, ast.Attribute) and func.attr == "write_text":
                text = len(args) < 2
            elif isinstance(func, ast.Attribute) and func.attr == "open":  # Path.open(); not Image.open(f) and the like
                owner = func.value.id if isinstance(func.value, ast.Name) else ""
                text = owner not in BINARY_OPENERS and "b" not in (mode_at(0) or "r")
            elif any(  # a subprocess's pipes read as text
                kw.arg in ("text", "universal_newlines")
                and isinstance(kw.value, ast.Constant)
                and kw.value.value is True
                for kw in node.keywords
            ):
                text = True
            else:
                continue
            if text:
                missing.append(f"{path.relative_to(root)}:{node.lineno}")
    assert not missing, "name the encoding (encoding='utf-8'): " + ", ".join(missing)
