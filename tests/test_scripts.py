"""The measuring scripts run and print their tables (their numbers are judged by people, not by tests)."""

import contextlib
import io
import os
import subprocess
import sys
from unittest import mock

import pytest
import torch
from PIL import Image

from ddim_course import load_pipeline
from ddim_course.bench.cost import bench_inversion_cost
from ddim_course.bench.course import bench_course
from ddim_course.bench.inversions import bench_inversions
from ddim_course.bench.overhead import bench_overhead
from ddim_course.bench.widgets import bench_widgets
from ddim_course.inversions import METHODS
from ddim_course.pocket.evaluate import main as evaluate


def test_evaluate_quick_prints_a_table(capsys):
    rows = evaluate(["--quick", "--scenes", "2", "--steps", "16"])  # the table, not its numbers: fewer steps
    out = capsys.readouterr().out
    assert "| VAE round trip PSNR (dB, mean)" in out and "inversion minus img2img" in out and "16 steps" in out
    # the start steps keep their share of the run (10 and 15 of 50): a fixed 15 of 16 left the edits one step
    assert "from start_step 3," in out and "colour edits at start_step 5," in out and "targets are for 50" in out
    assert len(rows) >= 15 and all(len(r) == 4 for r in rows)


def test_bench_overhead_table():
    table = bench_overhead(load_pipeline("pocket", device="cpu"), steps=5, repeats=1)
    assert "| sample (guided)" in table and "| invert (guidance 1)" in table


def test_bench_inversion_cost_table():
    table = bench_inversion_cost(load_pipeline("pocket", device="cpu"), n_images=1, steps=5, repeats=1)
    lines = [line for line in table.splitlines() if line.startswith("| 1 ") or line.startswith("| 3.5 ")]
    assert len(lines) == 2
    assert lines[0].split("|")[2].strip() == "5" and lines[1].split("|")[2].strip() == "10"  # UNet calls


def test_bench_widgets_table():
    table = bench_widgets(load_pipeline("pocket", device="cpu"), steps=20, repeats=1)
    for control in ("noise explorer", "guidance explorer", "start_step explorer", "Apply at start_step 0"):
        assert control in table
    assert "edit, 20 guided steps" in table


def test_bench_inversions_has_a_row_per_registered_method(pipe):
    table = bench_inversions(pipe, n_images=1, steps=4, inner_steps=1)  # the tiny test pipeline
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in table.splitlines()[3:]]
    for g in ("1", "7.5"):
        names = [r[1] for r in rows if r[0] == g]
        fixed = [n for n in names if n.startswith("fixed-point, ")]
        assert [n for n in names if n not in fixed] == [m.label for m in METHODS.values() if m.name != "fixed-point"]
        assert fixed == ["fixed-point, 1 iteration"] + [f"fixed-point, {k} iterations" for k in (2, 3, 4, 5)]
    calls = {(r[0], r[1]): int(r[5]) for r in rows}
    assert calls[("1", "fixed-point, 3 iterations")] == 4 * calls[("1", "DDIM")] == 16  # 4 steps, 1 + 3 calls each
    assert calls[("7.5", "EDICT")] == 2 * 2 * 4  # two latents, each a guided (batch of 2) call, 4 steps


def test_the_learners_modules_do_not_import_the_benchmarks():
    modules = ["ddim_course", "ddim_course.pocket.evaluate"]
    modules += [f"ddim_course.{m}" for m in ("ddim", "images", "metrics", "plots", "widgets", "exercises")]
    modules += ["ddim_course.inversions", "ddim_course.models"]
    code = f"import sys\nfor m in {modules!r}: __import__(m)\nprint([m for m in sys.modules if 'bench' in m])"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, encoding="utf-8", errors="replace", check=True
    )
    assert "ddim_course.bench" not in done.stdout


def test_loading_shows_no_progress_bar(capfd):
    """diffusers' "Loading pipeline components" and transformers' "Loading weights" bars would stay in a
    notebook's output; both libraries' own settings are left as they were."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    libs = (diffusers_logging, transformers_logging)
    before = [lib.is_progress_bar_enabled() for lib in libs]
    try:
        for enabled in (True, False):
            for lib in libs:
                (lib.enable_progress_bar if enabled else lib.disable_progress_bar)()
            load_pipeline("pocket", device="cpu", cache=False)
            captured = capfd.readouterr()
            assert "Loading" not in captured.err + captured.out and "it/s]" not in captured.err
            assert [lib.is_progress_bar_enabled() for lib in libs] == [enabled, enabled]
    finally:
        for lib, was in zip(libs, before):
            (lib.enable_progress_bar if was else lib.disable_progress_bar)()


def _notebook(path, source):
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nbformat.write(nb, path)


def test_bench_course_times_each_notebook(tmp_path):
    _notebook(tmp_path / "01_fine.ipynb", "print(1 + 1)")
    _notebook(tmp_path / "02_broken.ipynb", "raise RuntimeError('broken on purpose')")
    (tmp_path / "notes.ipynb").write_text("not a lesson: not numbered, so not run", encoding="utf-8")
    table = bench_course(tmp_path)
    rows = {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| ")}
    assert "passed" in rows["01_fine.ipynb"]
    assert "FAILED" in rows["02_broken.ipynb"]
    assert "notes.ipynb" not in rows and "**total**" in rows


def test_parallel_workers_share_out_the_cpus():
    """Under pyproject's `-n auto`, each worker (and the notebook kernels it starts) gets its share of the cores."""
    count = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if count is None:
        pytest.skip("run in one process (-n 0): there is nothing to share out")
    assert int(os.environ["OMP_NUM_THREADS"]) >= 1
    assert torch.get_num_threads() == int(os.environ["OMP_NUM_THREADS"])


def test_sd15_shape_matches_the_published_parameter_counts():
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from ddim_course.bench.sd15 import SD15_TEXT, SD15_UNET, SD15_VAE

    with init_empty_weights():  # shapes only: no memory, no time
        parts = UNet2DConditionModel(**SD15_UNET), AutoencoderKL(**SD15_VAE), CLIPTextModel(CLIPTextConfig(**SD15_TEXT))
    counts = [sum(p.numel() for p in m.parameters()) for m in parts]
    # the parameter counts of runwayml/stable-diffusion-v1-5's unet, vae and text_encoder
    assert counts == [859_520_964, 83_653_863, 123_060_480]


def test_bench_sd15_prints_a_row_per_dtype(monkeypatch):
    import ddim_course.bench.sd15 as bench

    # the same code on a narrow copy of the architecture, so the test takes seconds, not minutes
    narrow = dict(block_out_channels=(32, 32, 64, 64), cross_attention_dim=64, sample_size=16)  # 128x128 images
    monkeypatch.setattr(bench, "SD15_UNET", dict(bench.SD15_UNET, **narrow))
    monkeypatch.setattr(bench, "SD15_VAE", dict(bench.SD15_VAE, block_out_channels=(32, 32, 32, 32)))
    small_text = dict(num_hidden_layers=1, hidden_size=64, intermediate_size=64, num_attention_heads=2)
    monkeypatch.setattr(bench, "SD15_TEXT", dict(bench.SD15_TEXT, **small_text, projection_dim=64))
    table = bench.bench_sd15(device="cpu", steps=2)
    rows = [line for line in table.splitlines() if line.startswith("| float32")]
    assert len(rows) == 2 and "for 2" in rows[0] and "process RSS" in rows[0]
    ratios = [float(cell.split("(")[1].rstrip("x) ")) for cell in rows[1].split("|")[3:5]]
    assert all(r > 0 for r in ratios)  # the edit table: both P2P runs timed against the plain swap


def test_bench_edits_prints_every_row_kind_and_the_published_table(pipe):
    from ddim_course.bench.edits import PIE_BENCH, ROWS, bench_edits

    out = bench_edits(pipe, n_scenes=1, steps=3)  # the tiny test pipeline: the tables, not their numbers
    lines = [[c.strip() for c in line.split("|")[1:-1]] for line in out.splitlines() if line.startswith("| ")]
    main = [r for r in lines if r[0] in ("colour", "shape", "pattern")]
    assert [(r[0], r[1]) for r in main] == [(k, label) for k in ("colour", "shape", "pattern") for label, _, _ in ROWS]
    calls = {r[1]: int(r[-1]) for r in main if r[0] == "colour"}
    assert calls["DDIM + prompt swap"] == 3 + 3 * 2  # inversion at guidance 1, then 2 rows a step
    assert calls["DDIM + P2P"] == 3 + 3 * 4 and calls["direct + P2P"] == 3 + 3 * 3
    assert "Cost of attention control" in out and "Ju et al. 2024, Table 1" in out
    published = {r[0]: r[2] for r in lines if r[0] in {p[0] for p in PIE_BENCH}}
    assert published == {
        "DDIM + P2P": "17.87",
        "null-text + P2P": "27.03",
        "negative-prompt + P2P": "26.21",
        "direct + P2P": "27.22",
    }


def test_run_edits_gives_each_kind_of_edit_its_preset_settings(pipe, monkeypatch):
    from ddim_course.bench import edits
    from ddim_course.models import POCKET, PRESETS
    from ddim_course.pocket.pie_tiny import pie_tiny

    given = []

    def fake_edit(pipe, image, source, target, *, control=None, **kwargs):
        given.append(control)
        return [Image.new("RGB", (64, 64))]

    monkeypatch.setattr(edits, "edit", fake_edit)
    cases = pie_tiny(1)
    edits.run_edits(pipe, cases, rows=[("direct + P2P", "direct", "prompt-to-prompt")], steps=2)
    preset = PRESETS[POCKET]
    assert preset.prompt_to_prompt_by_kind["pattern"]  # the pocket model measured settings for pattern edits
    for case, ctrl in zip(cases, given):
        want = preset.prompt_to_prompt | preset.prompt_to_prompt_by_kind.get(case.kind, {})
        assert all(getattr(ctrl, k) == v for k, v in want.items()), case.kind
        assert ctrl.blend_words == case.blend_words
    pattern = given[[c.kind for c in cases].index("pattern")]
    assert pattern.cross_replace_steps == 0 and pattern.blend_threshold == 0.6
    assert preset.prompt_to_prompt_for(None) == preset.prompt_to_prompt == preset.prompt_to_prompt_for("colour")
    with pytest.raises(ValueError, match="kind must be None .* or one of"):
        preset.prompt_to_prompt_for("background")  # a typo or another word must not fall back silently


def test_bench_edits_seed_draws_development_scenes_and_says_so(pipe, monkeypatch):
    from ddim_course.bench import edits
    from ddim_course.pocket.pie_tiny import SEED, score

    drawn = []

    def fake_run(pipe, cases, **kwargs):  # the scenes and the title, not the edits
        drawn.append([c.source_prompt for c in cases])
        return {label: [(c, score(c, c.source.image), 1.0, 0.0, 1) for c in cases] for label, _, _ in edits.ROWS}

    monkeypatch.setattr(edits, "run_edits", fake_run)
    held_out = edits.bench_edits(pipe, n_scenes=3)
    dev = edits.bench_edits(pipe, n_scenes=3, seed=SEED + 20_000)
    assert "3 held-out scenes" in held_out and "development scenes (seed 50000" in dev
    assert drawn[0] != drawn[1]  # other scenes, not the held-out ones
    for near in (SEED - 1, SEED + 5, SEED + 9_998):  # 29,999 drew scenes 30,000-30,009, three with held-out layouts
        with pytest.raises(ValueError, match=f"seed {near} with 3 scenes would draw some of the held-out scenes"):
            edits.bench_edits(pipe, n_scenes=3, seed=near)
    assert len(drawn) == 2  # refused before any edit ran


def test_evaluate_quick_keeps_a_per_caption_that_was_given(monkeypatch):
    from ddim_course.pocket import evaluate

    class SeenError(Exception):
        pass

    def stop(pipe, n_per_caption, steps):
        raise SeenError(n_per_caption)

    monkeypatch.setattr(evaluate, "load_pipeline", lambda *a, **k: None)
    monkeypatch.setattr(evaluate, "vae_round_trip", lambda *a, **k: [31.0])
    monkeypatch.setattr(evaluate, "photo_round_trip", lambda *a, **k: [25.0])
    monkeypatch.setattr(evaluate, "prompt_following", stop)
    for argv, want in ((["--quick", "--per-caption", "5"], 5), (["--quick"], 1), ([], 2)):
        with pytest.raises(SeenError) as seen:
            evaluate.main(argv)
        assert seen.value.args == (want,), argv


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--scenes", "0"], r"--scenes must be in [1, 1000]"),
        (["--scenes", "100000000"], r"--scenes must be in [1, 1000]"),
        (["--seed", "-1"], "--seed"),
        (["--seed", str(10**30)], "--seed"),
        (["--images", "0"], "--images must be in [1, 100]"),
        (["--images", "100000000"], "--images must be in [1, 100]"),
    ],
)
def test_bench_edits_bad_numbers_are_one_line(extra, needle, capsys, monkeypatch):
    from ddim_course.bench import __main__ as bench_cli

    monkeypatch.setattr(bench_cli, "load_pipeline", lambda *a, **k: pytest.fail("the model loaded before the check"))
    with pytest.raises(SystemExit) as e:
        bench_cli.main(["edits", *extra])
    assert e.value.code == 2 and needle in capsys.readouterr().err


@pytest.mark.parametrize("model", ["missing", "file"])
def test_bench_a_model_that_does_not_load_is_one_line(model, tmp_path, capsys, monkeypatch):
    from ddim_course.bench import __main__ as bench_cli

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = tmp_path / "not_a_pipeline"
    if model == "file":
        path.write_text("not weights", encoding="utf-8")
    with pytest.raises(SystemExit) as e:
        bench_cli.main(["overhead", "--model", str(path)])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "--model" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--steps", "0"], "--steps must be in [4, 999]"),
        (["--steps", "2"], "--steps must be in [4, 999]"),
        (["--steps", "1000"], "--steps must be in [4, 999]"),
        (["--steps", "3"], "--steps must be in [4, 999]"),
        (["--scenes", "0"], "--scenes must be in [1, 1000]"),
        (["--per-caption", "0"], "--per-caption must be in [1, 100]"),
    ],
)
def test_evaluate_bad_numbers_are_one_line_before_the_model_loads(extra, needle, capsys, monkeypatch):
    from ddim_course.pocket import evaluate

    monkeypatch.setattr(evaluate, "load_pipeline", lambda *a, **k: pytest.fail("the model loaded before the check"))
    with pytest.raises(SystemExit) as e:
        evaluate.main(extra)
    assert e.value.code == 2 and needle in capsys.readouterr().err


def test_evaluate_a_model_that_does_not_load_is_one_line(tmp_path, capsys, monkeypatch):
    from ddim_course.pocket import evaluate

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SystemExit) as e:
        evaluate.main(["--quick", "--model", str(tmp_path / "missing")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "--model" in err and "Traceback" not in err


def test_the_table_scripts_end_in_one_line_when_their_output_closes_or_fills(tmp_path):
    """`bench ... | head -1` and a full disk ended in a traceback (only Ctrl-C was caught); `bench course --model x`
    started half an hour of notebooks, reading none of its options; train's --out "" trained into the current
    folder."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}

    def run(*args, stdout=subprocess.PIPE):
        return subprocess.run([sys.executable, "-m", *args], stdout=stdout, stderr=subprocess.PIPE, text=True,
                              encoding="utf-8", errors="replace", env=env, timeout=300, cwd=tmp_path)  # fmt: skip

    from ddim_course.files import run_script

    def fails(error):
        def main():
            raise error

        return main

    for error, status, said in (
        (BrokenPipeError(32, "Broken pipe"), 1, ""),  # `| head -1`: quiet
        (OSError(28, "No space left on device"), 1, "error: No space left on device\n"),
        (KeyboardInterrupt(), 130, "interrupted\n"),
    ):
        err = io.StringIO()
        with pytest.raises(SystemExit) as ended, contextlib.redirect_stderr(err), mock.patch("os.dup2"):
            run_script(fails(error))
        assert ended.value.code == status and err.getvalue() == said
    course = run("ddim_course.bench", "course", "--model", "nonsense", "--seed", "50000")
    assert course.returncode == 2 and "--model, --seed do not apply to 'course'" in course.stderr, course.stderr
    for out in ("", "   "):
        train = run("ddim_course.pocket.train", "--out", out, "--smoke")
        assert train.returncode == 2 and "--out is " in train.stderr and not list(tmp_path.iterdir()), train.stderr
