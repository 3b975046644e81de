"""Benchmarks that print tables:
``python -m ddim_course.bench [overhead|cost|widgets|inversions|edits|course|sd15|all]``
(``--model`` picks the pipeline, default pocket; ``--images`` how many images the quality tables use).

Speed is compared as ratios measured in the same run (machines are noisy); quality as PSNR.
"""

from __future__ import annotations

import argparse

import torch

from ..__main__ import _for_cli
from ..models import ModelLoadError, load_pipeline
from . import (
    bench_course,
    bench_edits,
    bench_inversion_cost,
    bench_inversions,
    bench_overhead,
    bench_sd15,
    bench_widgets,
)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m ddim_course.bench", description=__doc__.split("\n")[0])
    p.add_argument(
        "what",
        nargs="?",
        default="all",
        choices=["overhead", "cost", "widgets", "inversions", "edits", "course", "sd15", "all"],
    )
    p.add_argument("--model", default="pocket")
    p.add_argument("--images", type=int, default=3)
    p.add_argument("--scenes", type=int, default=10, help="pie-tiny scenes for 'edits' (3 edits each)")
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help="pie-tiny scenes drawn from another seed for 'edits' (tune settings there; default: the held-out ones)",
    )
    args = p.parse_args(argv)
    if not 1 <= args.scenes <= 1000:
        p.error(f"--scenes must be in [1, 1000] (10 take a few minutes on a CPU), got {args.scenes}")
    if args.seed is not None and not 0 <= args.seed < 2**32:
        p.error(f"--seed must be a whole number in [0, 2**32), got {args.seed}")
    if args.seed is not None:  # before the model loads: scenes that would be held-out ones
        from ..pocket.pie_tiny import check_development_seed

        try:
            check_development_seed(args.scenes, args.seed)
        except ValueError as e:
            p.error(f"--seed: {e}")
    if not 1 <= args.images <= 100:
        p.error(f"--images must be in [1, 100], got {args.images}")
    if args.what in ("course", "sd15"):  # they make their own pipelines: an option they do not read is refused
        given = [
            f"--{name}"
            for name, default in (("model", "pocket"), ("images", 3), ("scenes", 10), ("seed", None))
            if getattr(args, name) != default
        ]
        if given:
            runs = "the notebooks on the default model" if args.what == "course" else "a pipeline it builds"
            one = len(given) == 1
            p.error(
                f"{', '.join(given)} {'does' if one else 'do'} not apply to '{args.what}' (it runs {runs}): leave "
                f"{'it' if one else 'them'} out"
            )
    if args.what == "sd15":  # not in "all": minutes on a CPU, and a few GB of memory
        print(f"torch {torch.__version__}")
        print(bench_sd15(), flush=True)
        return
    if args.what == "course":
        print(bench_course(), flush=True)
        return
    try:
        pipe = load_pipeline(args.model)
    except ModelLoadError as e:  # a folder that is not a pipeline, an id the hub cannot give offline...
        p.error(f"--model {args.model!r}: {_for_cli(str(e))}")
    print(f"model {args.model}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    if args.what in ("overhead", "all"):
        print(bench_overhead(pipe), flush=True)
    if args.what in ("cost", "all"):
        print(bench_inversion_cost(pipe, n_images=args.images), flush=True)
    if args.what in ("widgets", "all"):
        print(bench_widgets(pipe), flush=True)
    if args.what in ("inversions", "all"):
        print(bench_inversions(pipe, n_images=args.images), flush=True)
    if args.what in ("edits", "all"):
        print(bench_edits(pipe, n_scenes=args.scenes, seed=args.seed), flush=True)
    if args.what == "all":
        print(bench_course(), flush=True)


if __name__ == "__main__":
    from ..files import run_script

    run_script(main)
