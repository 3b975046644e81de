"""Measure one pocket-model folder on the development scenes: ``python evaluate_dev.py FOLDER NAME [quick]``.

Prints prompt following, inversion and the evaluate script's colour edits on 16 held-out scenes, then the pie-tiny
table (negative-prompt + P2P and direct + P2P) on the development scenes (seed 50 000, never the held-out 30 000),
and a ``RESULT {json}`` line that ``pick.py`` reads. On CUDA unless ``quick`` (CPU, 20 steps: a dry run)."""

import json
import os
import statistics
import sys
import time

os.environ["HF_HUB_OFFLINE"] = "1"
import numpy as np

from ddim_course.bench.common import table
from ddim_course.bench.edits import HEADER, ROWS, run_edits, summary_rows
from ddim_course.models import load_pipeline
from ddim_course.pocket import evaluate as E
from ddim_course.pocket.pie_tiny import pie_tiny
from ddim_course.pocket.scenes import draw_scenes

folder, name = sys.argv[1], sys.argv[2]
quick = len(sys.argv) > 3
steps = 20 if quick else 50
t0 = time.time()
pipe = load_pipeline(folder, device="cpu" if quick else "cuda", cache=False)
out = {"name": name}
out["follow"], _, _ = E.prompt_following(pipe, n_per_caption=1 if quick else 2, steps=steps)
held = draw_scenes(4 if quick else 16, seed=E.HELD_OUT_SEED)
rec0, rec10, i2i = E.inversion_quality(pipe, held, steps=steps)
out["rec0"], out["rec10"], out["i2i"] = float(np.mean(rec0)), float(np.mean(rec10)), float(np.mean(i2i))
right, moved, bg = E.colour_edits(pipe, held, steps=steps)
out["coledit"] = [float(np.mean(right)), float(np.median(moved)), float(np.mean(bg))]
print(name, "general", json.dumps(out), f"{time.time() - t0:.0f}s", flush=True)
rows = [r for r in ROWS if r[1] in ("negative-prompt", "direct")]
lines = summary_rows(run_edits(pipe, pie_tiny(1 if quick else 10, seed=50_000), rows, steps=steps))
print(table(f"{name}: development pie-tiny (seed 50000)", HEADER, lines), flush=True)
out["dev_right"] = statistics.mean(float(line[2].rstrip("%")) for line in lines)
out["dev_truth"] = statistics.mean(float(line[5]) for line in lines)
out["colour_direct"] = next(line for line in lines if line[0] == "colour" and line[1].startswith("direct"))
out["seconds"] = round(time.time() - t0)
print("RESULT", json.dumps(out), flush=True)
