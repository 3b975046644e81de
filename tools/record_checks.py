"""Run notebooks and keep only the outputs nbval must check: ``python tools/record_checks.py notebooks/*.ipynb``.

The notebook is saved with no outputs at all (cell ids kept). The text output of the cells that start with
``# NBVAL_CHECK_OUTPUT`` goes to ``notebooks/checks/NAME.json``, keyed by the cell's ``id`` (a notebook without
cell ids gets them first: nbformat 4.5), which the repo's conftest.py hands to nbval so that it compares them.
Prints each notebook's run time. Use the model the tests use (pocket, CPU).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat.corpus.words import generate_corpus_id

MARK = "# NBVAL_CHECK_OUTPUT"


def record(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    nb.nbformat_minor = max(nb.nbformat_minor, 5)  # checks are keyed by cell id, new in nbformat 4.5
    for cell in nb.cells:
        if not cell.get("id"):
            cell.id = generate_corpus_id()
    start = time.perf_counter()
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - start
    count, expected = 0, {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.metadata.pop("execution", None)
        if cell.metadata.get("tags") == ["keep_output"]:
            cell.metadata.pop("tags")
        if cell.source.startswith(MARK):
            count += 1
            outputs = [
                o
                for o in cell.outputs
                if o.output_type == "execute_result" or (o.output_type == "stream" and o.name == "stdout")
            ]
            for o in outputs:
                if o.output_type == "execute_result":
                    o.data = {k: v for k, v in o.data.items() if k.startswith("text/")}
                    o.execution_count = count
                    o.metadata = {}
            expected[cell.id] = {"execution_count": count, "outputs": outputs}
        cell.outputs, cell.execution_count = [], None
    checks = path.parent / "checks"
    checks.mkdir(exist_ok=True)
    (checks / f"{path.stem}.json").write_text(
        json.dumps(expected, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)
    return seconds


def _problem(path: Path) -> str | None:
    """Why ``path`` cannot be recorded (it is rewritten in place, and its checks file beside it), or None."""
    if path.suffix != ".ipynb" or not path.is_file():
        return "is not a notebook file (.ipynb)"
    checks = path.parent / "checks"
    for p in (path, checks, checks / f"{path.stem}.json"):
        if p.is_symlink():
            return f"{p} is a link; this tool writes only real files"
    try:
        nbformat.read(path, as_version=4)
    except Exception as e:  # noqa: BLE001 - any reason it is not a notebook
        return f"cannot be read as a notebook ({type(e).__name__})"
    return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path, help="notebooks to run; each is rewritten without outputs")
    args = parser.parse_args(argv)
    for path in args.notebooks:  # all checked before any is run and rewritten
        if (problem := _problem(path)) is not None:
            print(f"error: {path} {problem}", file=sys.stderr)
            return 2
    for path in args.notebooks:
        print(f"{path}: {record(path):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
