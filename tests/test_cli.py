"""The command line: edit, invert, reconstruct; never overwrites without --force."""

import subprocess
import sys

import pytest
from PIL import Image

from ddim_course.__main__ import main
from ddim_course.pocket.scenes import draw_scene
from tests.conftest import tiny_pipeline


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


def test_edit_writes_an_image_and_refuses_to_overwrite(model, photo, tmp_path, capsys):
    out = tmp_path / "edited.png"
    args = [
        "edit",
        str(photo),
        "--source",
        "a red circle on a plain background",
        "--target",
        "a blue circle on a plain background",
        "--steps",
        "4",
        "--start-step",
        "1",
        "--model",
        model,
        "--quiet",
        "-o",
        str(out),
    ]
    assert main(args) == 0
    assert Image.open(out).size == (64, 64)
    before = out.read_bytes()
    with pytest.raises(SystemExit):
        main(args)
    assert "--force" in capsys.readouterr().err
    assert out.read_bytes() == before  # untouched
    assert main([*args, "--force", "--guidance", "1.0"]) == 0


def test_invert_then_reconstruct(model, photo, tmp_path):
    inv = tmp_path / "scene.inversion.pt"
    assert (
        main(
            [
                "invert",
                str(photo),
                "--prompt",
                "a red circle",
                "--steps",
                "4",
                "--model",
                model,
                "--quiet",
                "-o",
                str(inv),
            ]
        )
        == 0
    )
    back = tmp_path / "back.png"
    assert (
        main(
            ["reconstruct", str(inv), "--start-step", "2", "--steps", "4", "--model", model, "--quiet", "-o", str(back)]
        )
        == 0
    )
    assert Image.open(back).size == (64, 64)


def test_bad_input_is_one_line_not_a_traceback(model, tmp_path, capsys):
    code = main(
        [
            "edit",
            str(tmp_path / "missing.png"),
            "--source",
            "a",
            "--target",
            "b",
            "--model",
            model,
            "-o",
            str(tmp_path / "x.png"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: no such image file") and "Traceback" not in err
    assert not (tmp_path / "x.png").exists()


def test_help_runs_as_a_module():
    out = subprocess.run([sys.executable, "-m", "ddim_course", "edit", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--start-step" in out.stdout and "--force" in out.stdout
