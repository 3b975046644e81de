"""Print the names of the two candidates to bring back, best first: ``python pick.py EVAL_FILE...``.

Score: the colour edits' reader-right % (direct + P2P) + the mean right % + 2 x the mean PSNR to the true edit over
the development table, plus 100 when prompt following holds (colour >= 95%, shape >= 90%). A candidate whose
evaluation did not finish is taken after the scored ones, so a slow evaluation never loses a trained model."""

import json
import os
import sys

scored = []
for path in sys.argv[1:]:
    for line in open(path, encoding="utf-8"):
        if line.startswith("RESULT "):
            r = json.loads(line[len("RESULT ") :])
            if r["name"] == "shipped":
                continue
            follows = r["follow"]["color"] >= 0.95 and r["follow"]["shape"] >= 0.9
            colour = float(r["colour_direct"][2].rstrip("%"))
            scored.append((colour + r["dev_right"] + 2 * r["dev_truth"] + 100 * follows, r["name"]))
picked = [name for _, name in sorted(scored, reverse=True)[:2]]
for name in ("c1", "c2", "c3", "c4"):
    trained = os.path.exists(f"/tmp/{name}/unet/diffusion_pytorch_model.safetensors")
    if len(picked) < 2 and name not in picked and trained:
        picked.append(name)
print(" ".join(picked))
