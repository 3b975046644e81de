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
    en, zh = (ROOT / "README.md").read_text(), (ROOT / "README.zh-CN.md").read_text()
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
    nb = json.loads(path.read_text())
    cell = next(c for c in nb["cells"] if c["cell_type"] == cell_type and c["id"] != sync_zh.LANGUAGE_CELL_ID)
    cell["source"] = change(sync_zh.source(cell)).splitlines(keepends=True)
    path.write_text(json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n")
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
    nb = json.loads((nbs / name).read_text())
    nb["cells"].insert(4, {"cell_type": "markdown", "id": "new-cell", "metadata": {}, "source": ["More text."]})
    (nbs / name).write_text(json.dumps(nb, indent=1))
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


def test_set_language_switches_checks_widgets_and_errors(pipe):
    from ddim_course import edit, load_image
    from ddim_course.exercises import check_psnr
    from ddim_course.widgets import guidance_explorer

    ddim_course.set_language("zh")
    assert ddim_course.get_language() == "zh"
    result = check_psnr(lambda a, b: None)
    assert repr(result).startswith("未通过: ")
    assert "返回了 None" in result.message and "未通过" in result._repr_html_()
    box = guidance_explorer(pipe, "a red circle", num_inference_steps=2)
    assert box.children[1].description == "引导强度"
    with pytest.raises(ValueError, match="start_step 必须在"):
        edit(pipe, torch.zeros(1, 4, 16, 16), "a", "b", start_step=99, num_inference_steps=5, progress=False)
    with pytest.raises(FileNotFoundError, match="找不到图片文件"):
        load_image("no-such-picture.png")
    ddim_course.set_language("en")
    assert repr(check_psnr(lambda a, b: None)).startswith("FAIL: ")
    with pytest.raises(ValueError, match="language must be one of"):
        ddim_course.set_language("fr")
