"""Test settings for the whole repo (unit tests and notebooks): offline, headless, deterministic.

The notebooks are committed without any outputs. The expected text of the cells marked
``# NBVAL_CHECK_OUTPUT`` lives beside them in ``notebooks/checks/NAME.json`` (written by
``tools/record_checks.py``), keyed by each cell's ``id`` (nbformat 4.5), so that adding or moving cells
keeps every expected text on its cell. When nbval reads a notebook, we hand it those outputs, so nbval
compares them. A checks file that names a cell the notebook lacks, or a marked cell with nothing recorded,
is an error: re-record with ``python tools/record_checks.py notebooks/NN_*.ipynb``.
"""

import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _cpus() -> int:
    """The CPUs this process may run on (a container's share, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows
        return os.cpu_count() or 1


# pyproject.toml's `-n auto --dist loadfile` runs the test files and the notebooks in parallel worker processes
# (pytest-xdist). The workers, and the notebook kernels each one starts, share out the CPUs: two workers on two
# cores each starting two torch threads would fight over them. Set before anything imports torch; kernels inherit it.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, _cpus() // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))))


def pytest_xdist_auto_num_workers(config):
    """`-n auto`: one worker per CPU, at most 4 (each holds its own models and runs its own notebook kernel)."""
    return max(1, min(4, _cpus()))


# This process plots without a display; the notebooks' kernels plot inline, as in Jupyter (ipykernel's default
# when MPLBACKEND is unset), so that the figures are in the outputs the site is built from (tests/test_site.py).
import matplotlib  # noqa: E402

matplotlib.use("Agg")
os.environ.pop("MPLBACKEND", None)

CHECKS = Path(__file__).resolve().parent / "notebooks" / "checks"
MARK = "# NBVAL_CHECK_OUTPUT"


class StaleChecksError(ValueError):
    """A notebook and its checks file (notebooks/checks/NAME.json) disagree about the checked cells."""


def with_expected_outputs(nb, path, checks_dir=CHECKS):
    """Put the recorded outputs of the NBVAL_CHECK_OUTPUT cells, matched by cell id, into a notebook read for testing.

    Raises StaleChecksError, naming the notebook and the cell id, where the checks file names an id that is not
    a marked code cell of the notebook, or a marked cell has no id or no recorded output.
    """
    import nbformat

    name = Path(path).name
    sidecar = Path(checks_dir) / (Path(path).stem + ".json")
    expected = json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.exists() else {}
    redo = f"re-run `python tools/record_checks.py notebooks/{name}`"
    marked = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and cell.source.startswith(MARK):
            if not cell.get("id"):
                raise StaleChecksError(f"{name}: the {MARK} cell at position {index} has no cell id; {redo}")
            marked[cell.id] = cell
    for cell_id in expected:
        if cell_id not in marked:
            raise StaleChecksError(
                f"{name}: {sidecar.name} has expected output for cell id {cell_id!r}, which is not a {MARK} code cell"
                f" of the notebook (cell ids: nbstripout needs --keep-id to keep them); {redo}"
            )
    for cell_id, cell in marked.items():
        entry = expected.get(cell_id)
        if not entry or not entry.get("outputs"):
            raise StaleChecksError(f"{name}: the {MARK} cell {cell_id!r} has no recorded output in {sidecar}; {redo}")
        cell.outputs = [nbformat.from_dict(o) for o in entry["outputs"]]
        cell.execution_count = entry["execution_count"]
    return nb


def pytest_configure(config):
    try:
        import nbval.plugin as plugin
    except ImportError:
        return
    read = plugin.nbformat.read

    class _Reader:  # nbval calls nbformat.read(path, as_version=4); everything else passes through
        def __getattr__(self, name):
            return getattr(plugin.nbformat.__wrapped__, name)

        @staticmethod
        def read(path, *args, **kwargs):
            return with_expected_outputs(read(path, *args, **kwargs), path)

    if not hasattr(plugin.nbformat, "__wrapped__"):
        reader = _Reader()
        reader.__wrapped__ = plugin.nbformat
        plugin.nbformat = reader


# The notebooks' outputs of this run, kept for the static site's test (tests/test_site.py), which runs last and
# builds the site from them instead of executing every notebook a second time: {notebook path: {cell id: outputs}}.
EXECUTED_OUTPUTS: dict = {}

# The Chinese edition's code is the English notebooks' code, byte for byte (tests/test_zh.py proves it with
# tools/sync_zh.py --check), so nbval runs only the English notebooks.
collect_ignore = ["notebooks/zh"]


def pytest_collection_modifyitems(config, items):
    """The site's test goes last, after the notebooks whose outputs it reuses."""
    last = [it for it in items if it.path.name == "test_site.py"]
    items[:] = [it for it in items if it.path.name != "test_site.py"] + last


def pytest_runtest_makereport(item, call):
    outputs = getattr(item, "test_outputs", None)  # set by nbval's cell item once the cell ran
    if call.when == "call" and outputs is not None and getattr(item, "cell", None) is not None:
        cell_id = item.cell.get("id")
        if cell_id:
            EXECUTED_OUTPUTS.setdefault(str(item.path), {})[cell_id] = list(outputs)
