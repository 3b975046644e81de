"""The Chinese edition: notebooks/zh/ runs the English code (checked here instead of a second nbval run), every
cell is translated from the current English text, and the package speaks Chinese after set_language("zh")."""

import importlib.util
import json
import re
import shutil
import string
from pathlib import Path

import pytest
import torch

import ddim_course
from ddim_course import i18n

ROOT = Path(__file__).resolve().parent.parent
CJK = re.compile(r"[\u4e00-\u9fff]")


def _sync_module():
    spec = importlib.util.spec_from_file_location("sync_zh", ROOT / "tools" / "sync_zh.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sync_zh = _sync_module()


@pytest.fixture(autouse=True)
def english_afterwards():
    yield
    ddim_course.set_language("en")


# ------------------------------------------------------------------------------------------------
# the notebooks
# ------------------------------------------------------------------------------------------------
def test_every_english_notebook_has_a_chinese_one_in_step():
    english = sync_zh.english_notebooks()
    assert english, "no English notebooks found"
    for path in english:
        zh_path = sync_zh.ZH / path.name
        assert zh_path.exists(), f"{zh_path} is missing: run python tools/sync_zh.py and translate it"
        found = sync_zh.problems(sync_zh.read(path), sync_zh.read(zh_path))
        assert not found, f"{zh_path.name}: " + "; ".join(found[:5]) + " (run python tools/sync_zh.py)"


def test_chinese_markdown_is_chinese_and_links_to_the_chinese_notebook():
    for path in sync_zh.english_notebooks():
        zh = sync_zh.read(sync_zh.ZH / path.name)
        for cell in zh["cells"]:
            if cell["cell_type"] == "markdown":
                assert CJK.search(sync_zh.source(cell)), f"{path.name} {cell['id']}: no Chinese text"
        first = sync_zh.source(zh["cells"][0])
        assert f"notebooks/zh/{path.name}" in first, f"{path.name}: the Colab badge must open the Chinese notebook"


def test_readmes_link_each_other_and_share_the_commands():
    en, zh = (ROOT / "README.md").read_text(encoding="utf-8"), (ROOT / "README.zh-CN.md").read_text(encoding="utf-8")
    assert "README.zh-CN.md" in en and "README.md" in zh
    commands = [line for line in en.splitlines() if "`pip install" in line]
    assert commands
    for line in commands:
        for code in re.findall(r"`([^`]*pip install[^`]*)`", line):
            assert code in zh, f"README.zh-CN.md lacks the command {code!r}"
    for path in sync_zh.english_notebooks():
        assert f"notebooks/zh/{path.name}" in zh, f"README.zh-CN.md does not list {path.name}"


def _copy_course(tmp_path, monkeypatch, names=("01_noise_schedule.ipynb",)):
    nbs = tmp_path / "notebooks"
    (nbs / "zh").mkdir(parents=True)
    for name in names:
        shutil.copy(sync_zh.NOTEBOOKS / name, nbs / name)
        shutil.copy(sync_zh.ZH / name, nbs / "zh" / name)
    monkeypatch.setattr(sync_zh, "NOTEBOOKS", nbs)
    monkeypatch.setattr(sync_zh, "ZH", nbs / "zh")
    monkeypatch.setattr(sync_zh, "ROOT", tmp_path)
    return nbs


def _edit(path, cell_type, change):
    nb = json.loads(path.read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"] if c["cell_type"] == cell_type and c["id"] != sync_zh.LANGUAGE_CELL_ID)
    cell["source"] = change(sync_zh.source(cell)).splitlines(keepends=True)
    path.write_text(json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return cell["id"]


def test_sync_tool_catches_changed_code_and_stale_text_and_fixes_code(tmp_path, monkeypatch, capsys):
    nbs = _copy_course(tmp_path, monkeypatch)
    name = "01_noise_schedule.ipynb"
    assert sync_zh.main(["--check"]) == 0
    code_id = _edit(nbs / "zh" / name, "code", lambda s: s + "\nprint('only in Chinese')")
    assert sync_zh.main(["--check"]) == 1
    assert f"{code_id}: code differs" in capsys.readouterr().out
    text_id = _edit(nbs / name, "markdown", lambda s: s + "\n\nA new English sentence.")
    sync_zh.main([])  # copies the English code back, keeps the translation, reports the changed text
    out = capsys.readouterr().out
    assert f"{text_id}: stale markdown" in out and "code differs" not in out
    zh = sync_zh.read(nbs / "zh" / name)
    assert CJK.search(sync_zh.source(next(c for c in zh["cells"] if c["id"] == text_id)))  # translation kept
    sync_zh.main(["--mark-translated", str(nbs / "zh" / name), text_id])
    assert sync_zh.main(["--check"]) == 0
    (nbs / "zh" / name).unlink()
    assert sync_zh.main(["--check"]) == 1 and "missing" in capsys.readouterr().out


def test_a_new_english_cell_arrives_untranslated(tmp_path, monkeypatch, capsys):
    nbs = _copy_course(tmp_path, monkeypatch)
    name = "01_noise_schedule.ipynb"
    nb = json.loads((nbs / name).read_text(encoding="utf-8"))
    nb["cells"].insert(4, {"cell_type": "markdown", "id": "new-cell", "metadata": {}, "source": ["More text."]})
    (nbs / name).write_text(json.dumps(nb, indent=1), encoding="utf-8")
    assert sync_zh.main(["--check"]) == 1 and "cell ids differ" in capsys.readouterr().out
    sync_zh.main([])
    assert "new-cell: untranslated markdown" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------------
# the package's words
# ------------------------------------------------------------------------------------------------
def test_every_message_has_both_languages_with_the_same_placeholders():
    fields = string.Formatter()
    for key, texts in i18n.MESSAGES.items():
        assert set(texts) == set(i18n.LANGUAGES), key
        names = [{f for _, f, _, _ in fields.parse(texts[lang]) if f} for lang in i18n.LANGUAGES]
        assert names[0] == names[1], f"{key}: placeholders differ between languages"
        assert CJK.search(texts["zh"]), f"{key}: the Chinese text has no Chinese"


def test_set_language_switches_checks_widgets_and_errors(pipe, tmp_path):
    from ddim_course import edit, load_image
    from ddim_course.exercises import check_psnr
    from ddim_course.widgets import guidance_explorer

    ddim_course.set_language("zh")
    assert ddim_course.get_language() == "zh"
    result = check_psnr(lambda a, b: None)
    assert repr(result).startswith("未通过: ")
    assert "返回了 None" in result.message and "未通过" in result._repr_html_()
    box = guidance_explorer(pipe, "a red circle", num_inference_steps=2)
    assert box.children[1].description == "引导强度" and "随机种子 0，引导强度 5" in box.children[-1].value
    assert "提示词须写成英文" in ddim_course.get_preset("pocket").prompt_note
    with pytest.raises(ValueError, match="start_step 必须在"):
        edit(pipe, torch.zeros(1, 4, 16, 16), "a", "b", start_step=99, num_inference_steps=5, progress=False)
    with pytest.raises(FileNotFoundError, match="找不到图片文件"):
        load_image("no-such-picture.png")
    (tmp_path / "notes.png").write_text("not a picture", encoding="utf-8")
    with pytest.raises(ddim_course.ImageLoadError, match="不是 PIL 能读取的图片"):
        load_image(tmp_path / "notes.png")
    ddim_course.set_language("en")
    assert repr(check_psnr(lambda a, b: None)).startswith("FAIL: ")
    with pytest.raises(ValueError, match="language must be one of"):
        ddim_course.set_language("fr")


def test_every_check_speaks_chinese_and_its_english_is_unchanged():
    """Each check_* with a wrong and a right answer: Chinese after set_language("zh"), and in English the very
    messages of the checks before they were translated."""
    from ddim_course import psnr
    from ddim_course.attention import blend_mask
    from ddim_course.exact import edict_inverse_step
    from ddim_course.exercises import (
        check_add_noise,
        check_blend_mask,
        check_ddim_step,
        check_edict_inverse_step,
        check_invert,
        check_psnr,
        check_start_index,
    )
    from tests.test_exercises import FINAL, A, right_add_noise, right_invert, right_step

    a, final = A, FINAL

    def no_final_alpha(eps, t, tp, x):  # alphas_cumprod[-19] at the last step
        x0 = (x - (1 - a[t]).sqrt() * eps) / a[t].sqrt()
        return a[tp].sqrt() * x0 + (1 - a[tp]).sqrt() * eps

    # check name: (right answer, wrong answer, what the wrong answer gives in English)
    checks = {
        "add_noise": (
            lambda: check_add_noise(right_add_noise, a),
            lambda: check_add_noise(lambda x0, n, t: a[t] * x0 + (1 - a[t]) * n, a),
            "off by up to 1.06 at t=250. Hint: it looks like a * x0 + (1 - a) * noise (no square roots). "
            "x_t = sqrt(alpha_bar_t) * x0 + sqrt(1 - alpha_bar_t) * noise, with alpha_bar_t = alphas_cumprod[t].",
        ),
        "ddim_step": (
            lambda: check_ddim_step(right_step, a, final),
            lambda: check_ddim_step(no_final_alpha, a, final),
            "off by up to 3.82 at t=1 -> -19. Hint: the last step goes to t_prev < 0: use final_alpha_cumprod there "
            "instead of alphas_cumprod[t_prev] (a negative index reads from the end of the tensor!). predict x0 = "
            "(x_t - sqrt(1 - a_t) * eps) / sqrt(a_t), then x_prev = sqrt(a_prev) * x0 + sqrt(1 - a_prev) * eps, "
            "with a = alphas_cumprod.",
        ),
        "start_index": (
            lambda: check_start_index(lambda s: 50 - s),
            lambda: check_start_index(lambda s: -(s + 2)),
            "for start_step=0 you chose latents[-2], i.e. latents[49] (off by -1). Hint: sampling from start_step s "
            "begins at timesteps[s], which the inversion reached after 50 - s steps. The original lesson's loop is "
            "off by one here.",
        ),
        "invert": (
            lambda: check_invert(right_invert, a, final),
            lambda: check_invert(lambda x0, m, ts: right_invert(x0, m, ts)[1:-1], a, final),
            "for 10 steps: your list has 9 latents, expected 11. Hint: 2 short: a loop that skips the first and the "
            "last step, as the original lesson's does, loses two. One latent before the loop (the clean one) and one "
            "after each of the 10 steps.",
        ),
        "psnr": (
            lambda: check_psnr(psnr),
            lambda: check_psnr(lambda x, y: float(((x - y) ** 2).mean())),
            "for noise 0.01: you got 0.000 dB, expected 39.977 dB. "
            "Hint: PSNR = 10 * log10(1 / mean((a - b)**2)) for images in [0, 1].",
        ),
        "edict_inverse_step": (
            lambda: check_edict_inverse_step(edict_inverse_step),
            lambda: check_edict_inverse_step(lambda *args: edict_inverse_step(*args)[::-1]),
            "for a=1.01, b=-0.02, p=0.93: off (x by up to 4.37, y by up to 4.37). "
            "Hint: you returned y, x: return x first, then y.",
        ),
        "blend_mask": (
            lambda: check_blend_mask(blend_mask),
            lambda: check_blend_mask(lambda m, t: (m / m.flatten(1).amax(1)[:, None, None] > t).float()[:, None]),
            "for threshold 0.3 and maps in [0.6, 1.6]: 90 of 128 mask values differ. "
            "Hint: you divided by the maximum only; take the minimum off first (these maps never reach 0).",
        ),
    }
    english_words = ("Hint", "your", "you ", "return ", "expected", "off by", "within", "matches", "tried", " the ")
    ddim_course.set_language("zh")
    for name, (right, wrong, _) in checks.items():
        for answer, result, verdict in (("right", right(), "通过: "), ("wrong", wrong(), "未通过: ")):
            assert bool(result) == (answer == "right"), f"{name}, {answer}: {result!r}"
            assert repr(result).startswith(verdict) and CJK.search(result.message), f"{name}, {answer}: {result!r}"
            found = [word for word in english_words if word in result.message]
            assert not found, f"{name}, {answer}: English {found} in {result.message!r}"
    assert "提示：" in checks["start_index"][1]().message

    ddim_course.set_language("en")
    for name, (right, wrong, message) in checks.items():
        # the measured errors (1.06, 3.82...) are left out of the comparison: float rounding may differ by CPU
        assert _no_decimals(repr(wrong())) == _no_decimals("FAIL: " + message), name
        assert right() and not CJK.search(right().message), name
    assert repr(checks["add_noise"][0]()) == (
        "PASS: add_noise matches the formula at every t (1000 values of t, within 1e-05)."
    )
    assert repr(checks["start_index"][0]()) == (
        "PASS: right for every start_step tried: latents[50 - start_step], which is what Inversion.latents_at does."
    )
    assert repr(checks["invert"][0]()) == (
        "PASS: your loop gives invert's trajectory at every step (10 and 4 steps, within 1e-05): the model asked at "
        "the timestep you go to, with the latent you come from."
    )
    assert repr(check_psnr(lambda x, y: None)) == (
        "FAIL: for noise 0.01: your psnr returned None (a missing `return`?); return one number (a float)"
    )


def _no_decimals(text: str) -> str:
    return re.sub(r"\d+\.\d+", "#", text)


def test_the_sync_tool_names_a_damaged_notebook_and_never_writes_through_a_link(tmp_path):
    bad = tmp_path / "01_x.ipynb"
    bad.write_text("<<<<<<< HEAD\n{}\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="is not valid notebook JSON .*merge conflict"):
        sync_zh.read(bad)
    target = tmp_path / "elsewhere.ipynb"
    target.write_text("mine\n", encoding="utf-8")
    link = tmp_path / "02_y.ipynb"
    link.symlink_to(target)
    with pytest.raises(SystemExit, match="link"):
        sync_zh.write({"cells": []}, link)
    assert target.read_text(encoding="utf-8") == "mine\n"


def test_check_and_mark_translated_together_are_refused(capsys):
    with pytest.raises(SystemExit) as e:  # --check "changes nothing": it was ignored, and the notebook was changed
        sync_zh.main(["--check", "--mark-translated", "notebooks/zh/01_noise_schedule.ipynb", "c01"])
    assert e.value.code == 2 and "give one of them" in capsys.readouterr().err


def test_the_chinese_messages_name_values_words_and_paths_in_chinese(pipe):
    """An answer's value ("a torch.float32 tensor"), the pocket model's unknown words and a shipped picture's "did you
    mean" came out in English inside the Chinese messages."""
    import warnings

    from ddim_course import load_image
    from ddim_course.editing import warn_unknown_words
    from ddim_course.exercises import check_psnr
    from ddim_course.models import get_preset

    ddim_course.set_language("zh")
    try:
        complex_answer = check_psnr(lambda a, b: torch.zeros(1, dtype=torch.complex64))
        assert "返回了 一个 torch.complex64 张量" in complex_answer.message
        assert "给出的答案是 一个 str" in check_psnr("my_psnr").message
        with pytest.raises(FileNotFoundError, match="你是不是想用 .*cat.jpg？"):
            load_image("cat")
        pocket = ddim_course.load_pipeline()
        assert get_preset(pocket).vocabulary
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warn_unknown_words(pocket, ["a red dog"])
        assert str(caught[0].message).startswith("口袋模型从未学过 'dog'：")
    finally:
        ddim_course.set_language("en")
