"""The whole course under nbval: each notebook's run time, one pytest process a notebook."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import torch

from .common import table

REPO = Path(__file__).resolve().parents[2]  # the clone's root: ddim_course/bench/course.py -> ../..


def bench_course(notebooks_dir: Path | None = None) -> str:
    """Each notebook's run time under nbval (``python -m pytest NOTEBOOK``, one process each), and the total."""
    folder = notebooks_dir or REPO / "notebooks"
    books = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if not books:
        raise FileNotFoundError(f"no notebooks in {folder}: run this from a clone of the course's repository")
    rows, total = [], 0.0
    env = dict(os.environ, HF_HUB_OFFLINE="1", MPLBACKEND="Agg", PYTHONIOENCODING="utf-8")
    for nb in books:
        t = time.perf_counter()
        # the repo's pytest settings (nbval's options, the conftest with the expected outputs) apply
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-n",
            "0",  # one notebook, timed alone: no parallel workers (pyproject's addopts ask for them)
            "-c",
            str(REPO / "pyproject.toml"),
            "--rootdir",
            str(REPO),
            str(nb),
        ]
        done = subprocess.run(
            cmd, cwd=REPO, env=env, capture_output=True, text=True, encoding="utf-8", errors="replace"
        )
        secs = time.perf_counter() - t
        total += secs
        last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr.strip()[-200:]
        rows.append([nb.name, f"{secs:.1f}", "passed" if done.returncode == 0 else f"FAILED: {last}"])
    rows.append(["**total**", f"{total:.1f}", ""])
    return table(
        f"The whole course under nbval (one pytest process per notebook, torch threads {torch.get_num_threads()})",
        ["notebook", "seconds", "result"],
        rows,
    )
