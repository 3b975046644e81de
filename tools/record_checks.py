"""Run notebooks and keep only the outputs nbval must check: ``python tools/record_checks.py notebooks/*.ipynb``.

Cells that start with ``# NBVAL_CHECK_OUTPUT`` keep their text output (tagged ``keep_output``, which nbstripout
respects) and an execution count, so that nbval compares them; every other cell is stripped. Prints each
notebook's run time. Use the model the tests use (the pocket model on a CPU).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

MARK = "# NBVAL_CHECK_OUTPUT"


def record(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - start
    count = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.metadata.pop("execution", None)
        tags = [t for t in cell.metadata.get("tags", []) if t != "keep_output"]
        if cell.source.startswith(MARK):
            count += 1
            cell.outputs = [
                o
                for o in cell.outputs
                if o.output_type == "execute_result" or (o.output_type == "stream" and o.name == "stdout")
            ]
            for o in cell.outputs:
                if o.output_type == "execute_result":
                    o.data = {k: v for k, v in o.data.items() if k.startswith("text/")}
                    o.execution_count = count
                    o.metadata = {}
            cell.execution_count = count
            tags.append("keep_output")
        else:
            cell.outputs, cell.execution_count = [], None
        if tags:
            cell.metadata["tags"] = tags
        else:
            cell.metadata.pop("tags", None)
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)
    return seconds


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(f"{name}: {record(Path(name)):.1f} s", flush=True)
