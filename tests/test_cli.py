"""The command line: edit, invert, reconstruct. Where the result goes is checked before any work, the result is
written atomically (never over a file that appeared meanwhile, never through a link, never over the input), and
every anticipated problem is one line ``error: ...`` and exit status 2, never a traceback."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import ddim_course.editing as editing
import ddim_course.models as models
from ddim_course.__main__ import main
from ddim_course.ddim import Inversion
from ddim_course.inversions import METHODS
from ddim_course.pocket.scenes import draw_scene
from tests.conftest import python_c, tiny_pipeline


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli_model")
    tiny_pipeline().save_pretrained(folder)
    return str(folder)


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "scene.png"
    draw_scene(seed=3).pil().save(path)
    return path


@pytest.fixture(scope="module")
def inversion_file(model, tmp_path_factory):
    """A 4-step inversion of a scene by the tiny model, written by `invert`."""
    folder = tmp_path_factory.mktemp("cli_inversion")
    image = folder / "scene.png"
    draw_scene(seed=3).pil().save(image)
    out = folder / "scene.safetensors"
    args = ["invert", image, "--prompt", "a red circle", "--steps", "4", "--model", model, "--quiet", "-o", out]
    assert main([str(a) for a in args]) == 0
    return out


@pytest.fixture
def no_model(monkeypatch):
    """Fail the test if the command loads a model: the problem must be found before that work."""

    def load_pipeline(*args, **kwargs):
        pytest.fail("the model was loaded although the command line could have refused earlier")

    monkeypatch.setattr(models, "load_pipeline", load_pipeline)


def run(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *needles):
    assert code == 2, err
    assert "Traceback" not in err
    assert err.startswith("error: ") and err.count("\n") == 1 and err.endswith("\n"), repr(err)
    for needle in needles:
        assert needle in err, err


def edit_args(photo, out, model="pocket", *extra):
    return [
        "edit",
        photo,
        "--source",
        "a red circle on a plain background",
        "--target",
        "a blue circle on a plain background",
        "--model",
        model,
        "--quiet",
        "-o",
        out,
        *extra,
    ]


def a_small_inversion() -> Inversion:
    return Inversion(
        latents=[torch.zeros(1, 4, 8, 8), torch.ones(1, 4, 8, 8)],
        timesteps=[999],
        prompt="a red circle",
        guidance_scale=1.0,
        num_inference_steps=1,
    )


# --------------------------------------------------------------------------------------------------
# it works, and says what it did
# --------------------------------------------------------------------------------------------------
def test_edit_writes_an_image_says_so_and_refuses_to_overwrite(model, photo, tmp_path, capsys):
    out = tmp_path / "edited.png"
    args = edit_args(photo, out, model, "--steps", "4", "--start-step", "1")
    code, stdout, err = run(args, capsys)
    assert code == 0 and err == ""  # --quiet: no progress bars
    assert f"model: {model} (cpu, float32)" in stdout
    assert f"wrote {out} (64x64)" in stdout
    assert Image.open(out).size == (64, 64)
    before = out.read_bytes()
    code, _, err = run(args, capsys)
    assert_one_line_error(code, err, "exists", "--force")
    assert out.read_bytes() == before  # untouched
    assert run([*args, "--force", "--guidance", "1.0"], capsys)[0] == 0


def test_progress_bars_go_to_stderr_unless_quiet(model, photo, tmp_path, capsys):
    args = edit_args(photo, tmp_path / "e.png", model, "--steps", "3", "--start-step", "1")
    args.remove("--quiet")
    code, stdout, err = run(args, capsys)
    assert code == 0 and "DDIM" in err and "DDIM" not in stdout


def test_invert_then_reconstruct_through_safetensors(model, inversion_file, tmp_path, capsys):
    assert inversion_file.read_bytes()[8:9] == b"{"  # a safetensors header, not a pickle
    back = tmp_path / "back.png"
    code, stdout, err = run(
        ["reconstruct", inversion_file, "--start-step", "2", "--model", model, "--quiet", "-o", back], capsys
    )
    assert code == 0, err
    assert f"wrote {back} (64x64)" in stdout and "model: " in stdout
    assert Image.open(back).size == (64, 64)
    # --steps equal to the inversion's is fine too
    again = tmp_path / "again.png"
    args = ["reconstruct", inversion_file, "--steps", "4", "--model", model, "--quiet", "-o", again]
    assert run(args, capsys)[0] == 0


def test_invert_says_how_many_latents_and_which_method(model, photo, tmp_path, capsys):
    out = tmp_path / "scene.safetensors"
    args = ["invert", photo, "--prompt", "a red circle", "--steps", "3", "--method", "negative-prompt"]
    code, stdout, _ = run([*args, "--model", model, "--quiet", "-o", out], capsys)
    assert code == 0 and f"wrote {out} (4 latents, method negative-prompt)" in stdout
    assert Inversion.load(out).method == "negative-prompt"


# --------------------------------------------------------------------------------------------------
# defaults come from the model's preset
# --------------------------------------------------------------------------------------------------
def test_edit_defaults_come_from_the_models_preset(photo, tmp_path, capsys, monkeypatch):
    seen = {}

    def fake_edit(pipe, image, source, target, **kwargs):
        seen.update(kwargs)
        return [Image.new("RGB", (64, 64))]

    monkeypatch.setattr(editing, "edit", fake_edit)
    code, stdout, err = run(edit_args(photo, tmp_path / "e.png", "pocket"), capsys)
    assert code == 0, err
    assert "model: pocket (cpu, float32)" in stdout
    preset = models.get_preset("pocket")
    assert (preset.edit_start_step, preset.edit_guidance) == (15, 2.0)
    assert seen["start_step"] == 15 and seen["guidance_scale"] == 2.0
    assert seen["num_inference_steps"] == preset.num_inference_steps
    # given values win
    code, _, _ = run(edit_args(photo, tmp_path / "f.png", "pocket", "--start-step", "3", "--guidance", "4"), capsys)
    assert code == 0 and seen["start_step"] == 3 and seen["guidance_scale"] == 4.0


def test_edit_with_prompt_to_prompt_starts_at_step_0_at_the_editors_guidance(photo, tmp_path, capsys, monkeypatch):
    seen = {}

    def fake_edit(pipe, image, source, target, **kwargs):
        seen.clear()
        seen.update(kwargs)
        return [Image.new("RGB", (64, 64))]

    monkeypatch.setattr(editing, "edit", fake_edit)
    p2p = ["--inversion", "direct", "--control", "prompt-to-prompt"]
    code, _, err = run(edit_args(photo, tmp_path / "e.png", "pocket", *p2p), capsys)
    assert code == 0, err
    assert seen["inversion"] == "direct" and seen["control"] == "prompt-to-prompt"
    assert seen["start_step"] == 0 and seen["guidance_scale"] is None  # edit's own: 7.5, or a fitted inversion's
    code, _, err = run(
        edit_args(photo, tmp_path / "f.png", "pocket", *p2p, "--start-step", "5", "--guidance", "3"), capsys
    )
    assert code == 0 and seen["start_step"] == 5 and seen["guidance_scale"] == 3.0
    # without --control: the plain swap, from a DDIM inversion unless another is named
    code, _, err = run(edit_args(photo, tmp_path / "g.png", "pocket", "--inversion", "null-text"), capsys)
    assert code == 0 and seen["control"] is None and seen["inversion"] == "null-text" and seen["start_step"] == 15


def test_edit_with_prompt_to_prompt_runs_on_a_model(model, photo, tmp_path, capsys):
    out = tmp_path / "p2p.png"
    extra = ["--steps", "3", "--inversion", "direct", "--control", "prompt-to-prompt"]
    code, stdout, err = run(edit_args(photo, out, model, *extra), capsys)
    assert code == 0, err
    assert f"wrote {out} (64x64)" in stdout and Image.open(out).size == (64, 64)
    # an inversion prompt-to-prompt cannot follow: one line, nothing written
    out = tmp_path / "edict.png"
    code, _, err = run(
        edit_args(photo, out, model, "--steps", "3", "--inversion", "edict", "--control", "prompt-to-prompt"), capsys
    )
    assert_one_line_error(code, err, "'edict'", "not built")
    assert not out.exists()


def test_direct_inversion_without_control_is_refused_before_the_model_loads(photo, tmp_path, capsys, no_model):
    code, _, err = run(edit_args(photo, tmp_path / "x.png", "pocket", "--inversion", "direct"), capsys)
    assert_one_line_error(code, err, "--inversion direct needs --control prompt-to-prompt")


@pytest.mark.parametrize("method", ["edict", "ddpm"])
def test_prompt_to_prompt_from_another_sampler_is_refused_before_the_model_loads(
    method, photo, tmp_path, capsys, no_model
):
    args = edit_args(photo, tmp_path / "x.png", "pocket", "--inversion", method, "--control", "prompt-to-prompt")
    code, _, err = run(args, capsys)
    assert_one_line_error(code, err, f"prompt-to-prompt editing from a {method!r} inversion is not built")


def test_a_default_start_step_past_the_steps_says_it_is_the_default(model, photo, tmp_path, capsys):
    code, _, err = run(edit_args(photo, tmp_path / "x.png", model, "--steps", "3"), capsys)
    assert_one_line_error(code, err, "the default --start-step", "--steps 3")


def test_invert_uses_the_method_registry_and_the_presets_guidance(photo, tmp_path, capsys, monkeypatch):
    seen = {}

    def fake_method(pipe, image, prompt, **kwargs):
        seen.update(kwargs)
        return a_small_inversion()

    monkeypatch.setitem(METHODS, "ddim", fake_method)
    out = tmp_path / "x.safetensors"
    code, stdout, err = run(["invert", photo, "--prompt", "a", "--model", "pocket", "--quiet", "-o", out], capsys)
    assert code == 0, err
    assert seen["guidance_scale"] == 2.0 and seen["num_inference_steps"] == 50 and seen["progress"] is False
    assert f"wrote {out} (2 latents, method ddim)" in stdout


# --------------------------------------------------------------------------------------------------
# files the learner owns
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["edit", "invert"])
def test_a_file_that_appears_during_the_run_is_not_overwritten(command, model, photo, tmp_path, capsys, monkeypatch):
    out = tmp_path / ("result.png" if command == "edit" else "result.safetensors")
    theirs = b"written by someone else while the model worked"

    def appear():
        out.write_bytes(theirs)

    monkeypatch.setattr(editing, "edit", lambda *a, **k: appear() or [Image.new("RGB", (64, 64))])
    monkeypatch.setitem(METHODS, "ddim", lambda *a, **k: appear() or a_small_inversion())
    if command == "edit":
        args = edit_args(photo, out, model, "--steps", "4", "--start-step", "1")
    else:
        args = ["invert", photo, "--prompt", "a", "--steps", "4", "--model", model, "--quiet", "-o", out]
    code, stdout, err = run(args, capsys)
    assert_one_line_error(code, err, "appeared", "not saved")
    assert "wrote" not in stdout
    assert out.read_bytes() == theirs
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["scene.png", out.name])  # no temporary file left


@pytest.mark.parametrize("force", [False, True])
def test_never_writes_through_a_dangling_symlink(force, photo, tmp_path, capsys, no_model):
    target = tmp_path / "elsewhere.png"
    link = tmp_path / "link.png"
    link.symlink_to(target)
    code, _, err = run(edit_args(photo, link, "pocket", *(["--force"] if force else [])), capsys)
    assert_one_line_error(code, err, "symbolic link")
    assert not target.exists() and link.is_symlink()


def test_never_writes_through_a_symlink_to_a_file(photo, tmp_path, capsys, no_model):
    target = tmp_path / "mine.png"
    target.write_bytes(b"a learner's file")
    link = tmp_path / "link.png"
    link.symlink_to(target)
    code, _, err = run(edit_args(photo, link, "pocket", "--force"), capsys)
    assert_one_line_error(code, err, "symbolic link")
    assert target.read_bytes() == b"a learner's file"


@pytest.mark.parametrize("command", ["edit", "reconstruct"])
def test_force_never_overwrites_the_input(command, photo, inversion_file, tmp_path, capsys, no_model):
    if command == "edit":
        source = photo
        args = edit_args(photo, photo, "pocket", "--force")
    else:  # an inversion file named like an image, given as its own output
        source = tmp_path / "inversion.png"
        source.write_bytes(inversion_file.read_bytes())
        args = ["reconstruct", source, "--model", "pocket", "--quiet", "--force", "-o", source]
    before = source.read_bytes()
    code, _, err = run(args, capsys)
    assert_one_line_error(code, err, "input")
    assert source.read_bytes() == before


@pytest.mark.parametrize(
    "command, name",
    [
        ("edit", "tiger.txt"),
        ("edit", "tiger"),
        ("edit", "tiger.safetensors"),
        ("invert", "cat.pt"),
        ("invert", "cat.png"),
        ("reconstruct", "back.safetensors"),
    ],
)
def test_a_wrong_extension_is_refused_before_the_model_loads(
    command, name, photo, inversion_file, tmp_path, capsys, no_model
):
    out = tmp_path / name
    if command == "edit":
        args = edit_args(photo, out, "pocket")
    elif command == "invert":
        args = ["invert", photo, "--prompt", "a", "--model", "pocket", "--quiet", "-o", out]
    else:
        args = ["reconstruct", inversion_file, "--model", "pocket", "--quiet", "-o", out]
    code, _, err = run(args, capsys)
    assert_one_line_error(code, err, "does not end in")
    assert not out.exists()


def test_output_that_is_a_folder_is_refused(photo, tmp_path, capsys, no_model):
    folder = tmp_path / "results.png"
    folder.mkdir()
    code, _, err = run(edit_args(photo, folder, "pocket", "--force"), capsys)
    assert_one_line_error(code, err, "not a regular file")
    assert folder.is_dir() and not any(folder.iterdir())
    code, _, err = run(edit_args(photo, tmp_path, "pocket"), capsys)
    assert_one_line_error(code, err)


def test_a_missing_output_folder_is_refused(photo, tmp_path, capsys, no_model):
    code, _, err = run(edit_args(photo, tmp_path / "no" / "such" / "x.png", "pocket"), capsys)
    assert_one_line_error(code, err, "does not exist")
    assert not (tmp_path / "no").exists()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write anywhere")
def test_an_unwritable_output_folder_is_refused(photo, tmp_path, capsys, no_model):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        code, _, err = run(edit_args(photo, folder / "x.png", "pocket"), capsys)
    finally:
        folder.chmod(0o700)
    assert_one_line_error(code, err, "not writable")


def test_a_name_too_long_for_the_file_system_is_one_line(photo, tmp_path, capsys, no_model):
    code, _, err = run(edit_args(photo, tmp_path / ("a" * 5000 + ".png"), "pocket"), capsys)
    assert_one_line_error(code, err, "characters long")
    assert len(err) < 300
    code, _, err = run(edit_args(tmp_path / ("b" * 5000 + ".png"), tmp_path / "x.png", "pocket"), capsys)
    assert_one_line_error(code, err, "too long")


# --------------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------------
@pytest.mark.timeout(60)
def test_an_input_that_is_a_named_pipe_is_refused_not_waited_for(tmp_path, capsys, no_model):
    fifo = tmp_path / "photo.png"
    os.mkfifo(fifo)
    code, _, err = run(edit_args(fifo, tmp_path / "x.png", "pocket"), capsys)
    assert_one_line_error(code, err, "not a regular file")
    inversion = tmp_path / "cat.safetensors"
    os.mkfifo(inversion)
    code, _, err = run(["reconstruct", inversion, "--model", "pocket", "--quiet", "-o", tmp_path / "y.png"], capsys)
    assert_one_line_error(code, err, "not a regular file")


def test_a_missing_image_is_one_line(tmp_path, capsys, no_model):
    code, _, err = run(edit_args(tmp_path / "missing.png", tmp_path / "x.png", "pocket"), capsys)
    assert_one_line_error(code, err, "no such image file")
    assert not (tmp_path / "x.png").exists()


def test_an_empty_image_path_and_an_absurd_step_count_are_refused_before_the_model_loads(
    photo, tmp_path, capsys, no_model
):
    code, _, err = run(edit_args("", tmp_path / "x.png", "pocket"), capsys)
    assert_one_line_error(code, err, "the image file path is empty")  # it used to say ". is a folder"
    code, _, err = run(edit_args(photo, tmp_path / "x.png", "pocket", "--steps", "9" * 23), capsys)
    assert_one_line_error(code, err, "--steps must be at most 1000")
    assert not (tmp_path / "x.png").exists()


def test_a_text_file_named_png_is_one_line(tmp_path, capsys, no_model):
    bad = tmp_path / "notes.png"
    bad.write_text("hello", encoding="utf-8")
    code, _, err = run(edit_args(bad, tmp_path / "x.png", "pocket"), capsys)
    assert_one_line_error(code, err, "not an image")


def _old_pt(path):
    torch.save({"latents": [torch.zeros(1, 4, 8, 8)] * 2, "timesteps": [999], "num_inference_steps": 1}, path)


def _plain_safetensors(path):
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(2)}, str(path))


@pytest.mark.parametrize(
    "name, make, needle",
    [
        ("old.pt", _old_pt, "safetensors"),
        ("old.safetensors", _old_pt, "not an inversion file"),  # a pickle renamed
        ("notes.safetensors", lambda p: p.write_text("hello, not tensors", encoding="utf-8"), "not an inversion file"),
        ("random.safetensors", lambda p: p.write_bytes(os.urandom(4096)), "not an inversion file"),
        ("huge-header.safetensors", lambda p: p.write_bytes(b"\xff" * 8 + b"{}"), "not an inversion file"),
        ("empty.safetensors", lambda p: p.write_bytes(b""), "not an inversion file"),
        ("plain.safetensors", _plain_safetensors, "not an inversion file"),
        ("missing.safetensors", lambda p: None, "no such inversion file"),
        ("folder.safetensors", lambda p: p.mkdir(), "folder"),
    ],
)
def test_reconstruct_of_anything_but_an_inversion_is_one_line(name, make, needle, tmp_path, capsys, no_model):
    path = tmp_path / name
    make(path)
    out = tmp_path / "back.png"
    code, _, err = run(["reconstruct", path, "--model", "pocket", "--quiet", "-o", out], capsys)
    assert_one_line_error(code, err, needle)
    assert not out.exists()


def test_reconstruct_refuses_steps_other_than_the_inversions(inversion_file, tmp_path, capsys, no_model):
    code, _, err = run(
        ["reconstruct", inversion_file, "--steps", "7", "--model", "pocket", "--quiet", "-o", tmp_path / "b.png"],
        capsys,
    )
    assert_one_line_error(code, err, "4 steps", "--steps")


def test_reconstruct_refuses_an_inversion_made_by_another_model(inversion_file, tmp_path, capsys):
    args = ["reconstruct", inversion_file, "--model", "pocket", "--quiet", "-o", tmp_path / "b.png"]
    code, _, err = run(args, capsys)
    assert_one_line_error(code, err, "model")
    assert not (tmp_path / "b.png").exists()


# --------------------------------------------------------------------------------------------------
# numbers
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--guidance", "nan"], "--guidance"),
        (["--guidance", "inf"], "--guidance"),
        (["--guidance=-inf"], "--guidance"),
        (["--guidance", "-1"], "--guidance"),
        (["--steps", "0"], "--steps"),
        (["--steps", "-3"], "--steps"),
        (["--start-step", "-1"], "--start-step"),
        (["--steps", "5", "--start-step", "5"], "--start-step"),
    ],
)
def test_bad_numbers_are_one_line_before_the_model_loads(extra, needle, photo, tmp_path, capsys, no_model):
    code, _, err = run(edit_args(photo, tmp_path / "x.png", "pocket", *extra), capsys)
    assert_one_line_error(code, err, needle)


@pytest.mark.parametrize(
    "command, extra, needle",
    [
        ("edit", ["--start-step", "60"], "--start-step must be in [0, 49]"),
        ("edit", ["--steps", "100000"], "--steps"),
        ("invert", ["--guidance", "nan"], "--guidance"),
        ("invert", ["--steps", "0"], "--steps"),
        ("reconstruct", ["--start-step", "60"], "[0, 3]"),
        ("reconstruct", ["--guidance", "inf"], "--guidance"),
    ],
)
def test_numbers_the_model_cannot_use_are_one_line(
    command, extra, needle, model, photo, inversion_file, tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(editing, "edit", lambda *a, **k: pytest.fail("edit ran with numbers it cannot use"))
    out = tmp_path / ("x.safetensors" if command == "invert" else "x.png")
    if command == "edit":
        args = edit_args(photo, out, model, *extra)
    elif command == "invert":
        args = ["invert", photo, "--prompt", "a", "--model", model, "--quiet", "-o", out, *extra]
    else:
        args = ["reconstruct", inversion_file, "--model", model, "--quiet", "-o", out, *extra]
    code, _, err = run(args, capsys)
    assert_one_line_error(code, err, needle)
    assert not out.exists()


def test_ctrl_c_writes_nothing(photo, tmp_path, capsys, monkeypatch, model):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(editing, "edit", interrupted)
    out = tmp_path / "x.png"
    code, _, err = run(edit_args(photo, out, model, "--steps", "4", "--start-step", "1"), capsys)
    assert code == 130 and err == "interrupted; nothing was written\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.png"]


def test_a_bad_model_is_one_line(photo, tmp_path, capsys):
    code, _, err = run(edit_args(photo, tmp_path / "x.png", str(tmp_path / "no-such-model")), capsys)
    assert_one_line_error(code, err, "could not load the model")


def test_a_model_error_gives_the_command_lines_advice_not_pythons(photo, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, _, err = run(edit_args(photo, tmp_path / "x.png", "no-such-user/no-such-model"), capsys)
    assert_one_line_error(code, err, "could not load the model", "--model pocket")
    assert "load_pipeline(" not in err


def test_a_ddpm_edit_is_seeded_so_that_a_command_repeats(model, photo, tmp_path, capsys):
    args = ["--inversion", "ddpm", "--steps", "4", "--start-step", "1"]
    outs = [tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"]
    for out, seed in zip(outs, ("0", "0", "1")):
        code, _, err = run(edit_args(photo, out, model, *args, "--seed", seed), capsys)
        assert code == 0 and "warning" not in err, err  # no "differs from run to run": the command seeds it
    a, b, c = (np.array(Image.open(o)) for o in outs)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    code, _, err = run(edit_args(photo, tmp_path / "d.png", model, "--seed", "-1"), capsys)
    assert_one_line_error(code, err, "--seed")


# --------------------------------------------------------------------------------------------------
# help, and a real process
# --------------------------------------------------------------------------------------------------
def test_help_shows_examples_one_per_line_and_the_preset_defaults(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    for command in ("edit", "invert", "reconstruct"):
        assert any(line.strip().startswith(f"python -m ddim_course {command} ") for line in lines), lines
    with pytest.raises(SystemExit):
        main(["edit", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "default: the model's preset" in text and "--force" in text and "--quiet" in text
    with pytest.raises(SystemExit):
        main(["invert", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--method" in text and all(name in text for name in METHODS)


def test_help_runs_as_a_module():
    out = subprocess.run(
        [sys.executable, "-m", "ddim_course", "edit", "--help"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    assert out.returncode == 0 and "--start-step" in out.stdout and "--force" in out.stdout


def test_a_real_process_prints_one_line_and_no_traceback(photo, tmp_path):
    args = [sys.executable, "-m", "ddim_course", *map(str, edit_args(photo, tmp_path / "x.png", "pocket"))]
    out = subprocess.run(
        [*args, "--guidance", "nan"], capture_output=True, text=True, encoding="utf-8", errors="replace"
    )
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and out.stderr.startswith("error: "), out.stderr


def test_ctrl_c_while_a_command_is_starting_is_one_line_and_the_library_keeps_pythons_hook():
    starting = (
        "import sys; sys.argv = ['-m']; import ddim_course; "  # as `python -m ddim_course ...` imports the package
        "sys.excepthook(KeyboardInterrupt, KeyboardInterrupt(), None)"
    )
    run = python_c(starting)
    assert run.stderr.strip() == "interrupted while the command was starting; nothing was done"
    library = "import sys; before = sys.excepthook; import ddim_course; assert sys.excepthook is before"
    assert python_c(library).returncode == 0


def test_the_librarys_advice_is_given_in_the_command_lines_words():
    from ddim_course.__main__ import _for_cli

    said = "fitted at guidance 2, used at 1: Use guidance_scale=2, or invert again at 1 (guidance_scale=7.5."
    assert _for_cli(said) == "fitted at guidance 2, used at 1: Use --guidance 2, or invert again at 1 (--guidance 7.5."
    assert _for_cli("load it with load_pipeline('pocket')") == "load it with --model pocket"
    import warnings

    from ddim_course.images import _warn_if_cropped

    with warnings.catch_warnings(record=True) as caught:  # encode's own warning, in the command line's words
        warnings.simplefilter("always")
        _warn_if_cropped([Image.new("RGB", (96, 64))], 64)
    said = _for_cli(str(caught[0].message))
    assert said.endswith("crop it first to choose what stays (in any picture editor)") and "load_image" not in said
