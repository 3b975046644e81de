"""Command line: ``python -m ddim_course edit|invert|reconstruct ...`` for people who just want results.

    python -m ddim_course edit photo.jpg --source "a photo of a cat" --target "a photo of a tiger" -o tiger.png
    python -m ddim_course invert photo.jpg --prompt "a photo of a cat" -o cat.inversion.pt
    python -m ddim_course reconstruct cat.inversion.pt --start-step 10 -o back.png

Outputs are never overwritten unless ``--force`` is given.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _out_path(path: str, force: bool, parser: argparse.ArgumentParser) -> Path:
    out = Path(path)
    if out.exists() and not force:
        parser.error(f"{out} exists; choose another -o or pass --force to overwrite it")
    if not out.parent.exists():
        parser.error(f"the folder {out.parent} does not exist")
    return out


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="auto", help="'auto' (default), 'pocket', a hub id or a local folder")
    p.add_argument("--steps", type=int, default=50, help="DDIM steps (default 50)")
    p.add_argument("-o", "--output", required=True, help="where to write the result")
    p.add_argument("--force", action="store_true", help="overwrite the output if it exists")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ddim_course", description="DDIM inversion and editing.", epilog=__doc__.split("\n\n")[1]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    e = sub.add_parser("edit", help="invert an image with a source prompt and sample it with a target prompt")
    e.add_argument("image", help="an image file or http(s) URL")
    e.add_argument("--source", required=True, help="a prompt that describes the image")
    e.add_argument("--target", required=True, help="the same prompt with your change")
    e.add_argument("--start-step", type=int, default=10, help="where re-sampling starts (default 10 of 50)")
    e.add_argument("--guidance", type=float, default=7.5, help="guidance scale (default 7.5)")
    _common(e)
    i = sub.add_parser("invert", help="DDIM-invert an image and save the trajectory (.pt)")
    i.add_argument("image")
    i.add_argument("--prompt", required=True)
    _common(i)
    r = sub.add_parser("reconstruct", help="sample back from a saved inversion")
    r.add_argument("inversion", help="a .pt file written by `invert`")
    r.add_argument("--start-step", type=int, default=0)
    r.add_argument("--prompt", default=None, help="sample with another prompt (default: the inversion's)")
    r.add_argument("--guidance", type=float, default=None)
    _common(r)
    return parser


def main(argv: list[str] | None = None) -> int:
    import torch

    from .ddim import Inversion, edit, invert, reconstruct
    from .images import ImageLoadError, load_image
    from .models import ModelLoadError, load_pipeline

    parser = build_parser()
    args = parser.parse_args(argv)
    out = _out_path(args.output, args.force, parser)
    try:
        if args.command == "reconstruct":
            data = torch.load(args.inversion, map_location="cpu", weights_only=True)
            inversion = Inversion(**data)
        else:
            image = load_image(args.image)
        pipe = load_pipeline(args.model)
        progress = not args.quiet
        if args.command == "edit":
            result = edit(
                pipe,
                image,
                args.source,
                args.target,
                start_step=args.start_step,
                num_inference_steps=args.steps,
                guidance_scale=args.guidance,
                progress=progress,
            )[0]
        elif args.command == "invert":
            inv = invert(pipe, image, args.prompt, num_inference_steps=args.steps, progress=progress)
            fields = {
                k: getattr(inv, k)
                for k in (
                    "latents",
                    "timesteps",
                    "prompt",
                    "guidance_scale",
                    "num_inference_steps",
                    "negative_prompt",
                    "method",
                )
            }
            fields["latents"] = [x.cpu().clone() for x in fields["latents"]]
            torch.save(fields, out)
            print(f"wrote {out} ({len(inv.latents)} latents)")
            return 0
        else:
            result = reconstruct(
                pipe,
                inversion,
                prompt=args.prompt,
                start_step=args.start_step,
                guidance_scale=args.guidance,
                progress=progress,
            )[0]
    except (ImageLoadError, ModelLoadError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    result.save(out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
