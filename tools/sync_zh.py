"""Keep the Chinese edition (``notebooks/zh/``) in step with the English notebooks: ``python tools/sync_zh.py``.

The Chinese notebook of ``notebooks/NN_name.ipynb`` is ``notebooks/zh/NN_name.ipynb``. It has the same cells with the
same ids in the same order, plus one setup cell (id ``zh-language``) right after the Colab cell that selects Chinese
for the package's messages. Its code cells are the English ones, byte for byte: this tool copies them. Its markdown
cells are translations; each keeps, in ``metadata["zh"]["en_sha256"]``, the hash of the English source it was
translated from, so that a changed English cell shows up as stale until a translator updates it.

What it does:
- creates a missing Chinese notebook (English markdown kept as a placeholder, marked untranslated);
- adds and removes cells so that the ids and their order follow the English notebook (a new English markdown cell
  arrives untranslated, with its English text);
- copies every English code cell over the Chinese one;
- reports, per notebook, the markdown cells that are untranslated or stale (their English source changed since).

``--check`` changes nothing and exits with status 1 when anything is out of step (the test suite runs this check).
``--mark-translated NOTEBOOK CELL_ID`` records that a cell's current translation follows the current English source.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
ZH = NOTEBOOKS / "zh"
LANGUAGE_CELL_ID = "zh-language"
LANGUAGE_CELL = (
    'from ddim_course import set_language\n\nset_language("zh")  # 中文版：检查结果、控件和常见错误信息用中文显示'
)


def english_notebooks() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def source(cell) -> str:
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else s


def read(path: Path) -> dict:
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:  # a merge conflict's <<<<<<< markers, a cut-off file
        raise SystemExit(f"error: {path} is not valid notebook JSON ({e}); a merge conflict left in it?") from None
    except OSError as e:
        raise SystemExit(f"error: cannot read {path}: {e.strerror or e}") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise SystemExit(f"error: {path} is JSON but not a notebook (no list of cells)")
    return nb


def write(nb: dict, path: Path) -> None:
    """Replace the notebook in one step; a link is refused, never written through."""
    from ddim_course.files import OutputPathError, write_atomically

    text = json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n"
    try:
        write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), overwrite=True)
    except OutputPathError as e:
        raise SystemExit(f"error: {e}") from None


def language_cell() -> dict:
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": LANGUAGE_CELL_ID,
        "metadata": {},
        "outputs": [],
        "source": LANGUAGE_CELL.splitlines(keepends=True),
    }


def _status(cell: dict, english: dict) -> str:
    """'ok', 'untranslated' or 'stale' for a Chinese markdown cell against its English cell."""
    meta = cell.get("metadata", {}).get("zh", {})
    if not meta.get("en_sha256"):
        return "untranslated"
    return "ok" if meta["en_sha256"] == sha(source(english)) else "stale"


def synced(en: dict, zh: dict | None) -> dict:
    """The Chinese notebook ``zh`` brought in step with the English ``en`` (a new one when ``zh`` is None)."""
    old = {c.get("id"): c for c in (zh or {}).get("cells", [])}
    cells = []
    for k, cell in enumerate(en["cells"]):
        if cell["cell_type"] == "code":
            cells.append(copy.deepcopy(cell))
        else:
            mine = old.get(cell.get("id"))
            if mine is None or mine.get("cell_type") != "markdown":
                mine = copy.deepcopy(cell)  # English text until translated; no hash: reported as untranslated
                mine.setdefault("metadata", {}).pop("zh", None)
            cells.append(mine)
        if k == 1:  # right after the Colab setup cell
            cells.append(language_cell())
    out = copy.deepcopy(zh) if zh is not None else {k: copy.deepcopy(v) for k, v in en.items() if k != "cells"}
    out["cells"] = cells
    out["metadata"] = copy.deepcopy(en.get("metadata", {}))
    out["metadata"]["language_edition"] = "zh"
    return out


def problems(en: dict, zh: dict) -> list[str]:
    """What is out of step, one line each: code that differs, ids out of order, untranslated or stale markdown."""
    found = []
    want = [c.get("id") for c in en["cells"]]
    want.insert(2, LANGUAGE_CELL_ID)
    have = [c.get("id") for c in zh["cells"]]
    if have != want:
        return [f"cell ids differ from the English notebook's (run python tools/sync_zh.py): {have} != {want}"]
    english = {c.get("id"): c for c in en["cells"]}
    for cell in zh["cells"]:
        cid = cell.get("id")
        if cid == LANGUAGE_CELL_ID:
            if source(cell) != LANGUAGE_CELL:
                found.append(f"{cid}: the language cell was changed")
            continue
        en_cell = english[cid]
        if cell["cell_type"] != en_cell["cell_type"]:
            found.append(f"{cid}: {cell['cell_type']} here, {en_cell['cell_type']} in English")
        elif cell["cell_type"] == "code":
            if source(cell) != source(en_cell):
                found.append(f"{cid}: code differs from the English cell")
            if cell.get("outputs"):
                found.append(f"{cid}: has outputs (commit notebooks without outputs)")
        else:
            status = _status(cell, en_cell)
            if status != "ok":
                found.append(f"{cid}: {status} markdown (English: {source(en_cell)[:60]!r}...)")
    return found


def mark_translated(path: Path, cell_id: str) -> None:
    """Record that the Chinese cell ``cell_id`` of ``path`` translates the current English source.

    ``path`` may name the Chinese notebook (``notebooks/zh/07_....ipynb``) or just its name, with or without
    ``.ipynb``."""
    name = path.name if path.name.endswith(".ipynb") else path.name + ".ipynb"
    path = ZH / name
    if not path.is_file() or not (NOTEBOOKS / name).is_file():
        raise SystemExit(f"error: no notebook {name!r} in both {NOTEBOOKS} and {ZH}")
    en = read(NOTEBOOKS / name)
    zh = read(path)
    english = {c.get("id"): c for c in en["cells"]}
    for cell in zh["cells"]:
        if cell.get("id") == cell_id and cell["cell_type"] == "markdown":
            cell.setdefault("metadata", {})["zh"] = {"en_sha256": sha(source(english[cell_id]))}
            write(zh, path)
            return
    raise SystemExit(f"error: no markdown cell {cell_id!r} in {path}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if anything is out of step")
    parser.add_argument("--mark-translated", nargs=2, metavar=("NOTEBOOK", "CELL_ID"))
    args = parser.parse_args(argv)
    if args.mark_translated and args.check:
        parser.error("--check changes nothing, --mark-translated changes a notebook: give one of them")
    if args.mark_translated:
        mark_translated(Path(args.mark_translated[0]), args.mark_translated[1])
        return 0
    bad = 0
    for en_path in english_notebooks():
        zh_path = ZH / en_path.name
        en = read(en_path)
        if args.check:
            if not zh_path.exists():
                print(f"{zh_path.relative_to(ROOT)}: missing (run python tools/sync_zh.py)")
                bad += 1
                continue
            found = problems(en, read(zh_path))
        else:
            ZH.mkdir(exist_ok=True)
            zh = synced(en, read(zh_path) if zh_path.exists() else None)
            write(zh, zh_path)
            found = problems(en, zh)
        for line in found:
            print(f"{zh_path.relative_to(ROOT)}: {line}")
        bad += bool(found)
    english = {p.name for p in english_notebooks()}
    for extra in sorted(ZH.glob("*.ipynb")) if ZH.exists() else []:
        if extra.name not in english:
            print(f"{extra.relative_to(ROOT)}: no English notebook of this name")
            bad += 1
    if not bad:
        print("the Chinese edition is in step with the English notebooks")
    return 1 if args.check and bad else 0


if __name__ == "__main__":
    sys.exit(main())
