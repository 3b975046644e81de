"""Test settings for the whole repo (unit tests and notebooks): offline, headless, deterministic.

The notebooks are committed without any outputs. The expected text of the cells marked
``# NBVAL_CHECK_OUTPUT`` lives beside them in ``notebooks/checks/NAME.json`` (written by
``tools/record_checks.py``); when nbval reads a notebook, we hand it those outputs, so nbval compares them.
"""

import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

CHECKS = Path(__file__).resolve().parent / "notebooks" / "checks"


def with_expected_outputs(nb, path):
    """Put the recorded outputs of the NBVAL_CHECK_OUTPUT cells into a notebook read for testing."""
    import nbformat

    sidecar = CHECKS / (Path(path).stem + ".json")
    if not sidecar.exists():
        return nb
    expected = json.loads(sidecar.read_text())
    for i, cell in enumerate(nb.cells):
        key = str(i)
        if cell.cell_type == "code" and key in expected:
            cell.outputs = [nbformat.from_dict(o) for o in expected[key]["outputs"]]
            cell.execution_count = expected[key]["execution_count"]
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
