"""Command line: ``python -m ddim_course edit|invert|reconstruct ...`` for people who just want results.

Where the result goes is checked before any work (the folder exists and is writable, the extension fits, it is
not the input, not a link, not a folder), and the result is written atomically at the end: an existing file is
replaced only with ``--force``, and never a file that appeared while the work ran. Every anticipated problem is
one line ``error: ...`` on stderr and exit status 2; Ctrl-C is exit status 130 and writes nothing.
"""

from __future__ import annotations

import argparse
import errno
import math
import os
import re
import stat
import sys
import warnings
from pathlib import Path

EXAMPLES = """\
examples:
  python -m ddim_course edit photo.jpg --source "a photo of a cat" --target "a photo of a tiger" -o tiger.png
  python -m ddim_course invert photo.jpg --prompt "a photo of a cat" -o cat.safetensors
  python -m ddim_course reconstruct cat.safetensors --start-step 10 -o back.png
  python -m ddim_course edit --help
"""
EDIT_EXAMPLES = """\
examples:
  python -m ddim_course edit photo.jpg --source "a photo of a cat" --target "a photo of a tiger" -o tiger.png
  python -m ddim_course edit scene.png --source "a red circle" --target "a blue circle" --model pocket -o blue.png
  python -m ddim_course edit scene.png --source "a red circle" --target "a blue circle" --inversion direct --control prompt-to-prompt -o blue.png
"""  # noqa: E501 (an example is one line, to copy)
INVERT_EXAMPLES = """\
examples:
  python -m ddim_course invert photo.jpg --prompt "a photo of a cat" -o cat.safetensors
  python -m ddim_course invert photo.jpg --prompt "a photo of a cat" --method null-text -o cat.safetensors
"""
RECONSTRUCT_EXAMPLES = """\
examples:
  python -m ddim_course reconstruct cat.safetensors -o back.png
  python -m ddim_course reconstruct cat.safetensors --start-step 10 --prompt "a photo of a tiger" -o tiger.png
"""
PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".pkl", ".pickle", ".ckpt")
PRESET = "default: the model's preset"


class CommandLineError(Exception):
    """A problem the learner can fix; the message is the one line they see."""


def _short(path, limit: int = 100) -> str:
    """A path for a one-line message: long names are cut in the middle."""
    text = str(path).replace("\n", "\\n")
    return text if len(text) <= limit else f"{text[: limit // 2]}…{text[-(limit // 2 - 1) :]}"


def _one_line(message) -> str:
    return " ".join(str(message).split()) or "no details"


def _for_cli(message: str) -> str:
    """The library's Python advice in the command line's terms: load_pipeline('pocket') is --model pocket here."""
    message = re.sub(r"\(load_pipeline\('[^'\s]*'\), or (--model \S+) on the command line\)", r"(\1)", message)
    message = re.sub(r"\bguidance_scale=(\d+(?:\.\d+)?)", r"--guidance \1", message)  # "Use guidance_scale=2"
    # encode's crop warning: a picture editor's crop, not Python's
    message = message.replace(", e.g. load_image(path).crop((left, top, right, bottom))", " (in any picture editor)")
    return re.sub(r"load_pipeline\('([^'\s]*)'\)", r"--model \1", message)


# --------------------------------------------------------------------------------------------------
# the parser
# --------------------------------------------------------------------------------------------------
def _common(p: argparse.ArgumentParser, *, steps_help: str) -> None:
    p.add_argument("--model", default="auto", help="'auto' (default), 'pocket', a hub id or a local folder")
    p.add_argument("--steps", type=int, default=None, help=steps_help)
    p.add_argument("-o", "--output", required=True, help="where to write the result (a new file)")
    p.add_argument("--force", action="store_true", help="replace the output if it exists (never the input)")
    p.add_argument("--quiet", action="store_true", help="no progress bars (they go to stderr)")


CONTROLS = ("none", "prompt-to-prompt")


def _seed(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="the seed of an inversion that draws noise (ddpm), so that a command gives the same result each time "
        "(default 0)",
    )


def _generator(args, method_name: str) -> dict:
    """``generator=`` for a method that draws noise (seeded by --seed), else nothing (the others refuse one)."""
    import torch

    from .inversions import get_method

    if not getattr(get_method(method_name), "draws_noise", False):  # a stand-in function (tests) draws none
        return {}
    return {"generator": torch.Generator().manual_seed(args.seed)}


def build_parser() -> argparse.ArgumentParser:
    from .files import IMAGE_SUFFIXES
    from .inversions import METHODS

    images = ", ".join(IMAGE_SUFFIXES)
    kw = dict(formatter_class=argparse.RawDescriptionHelpFormatter)
    parser = argparse.ArgumentParser(
        prog="python -m ddim_course",
        description="DDIM inversion and editing. Outputs are never overwritten unless --force is given.",
        epilog=EXAMPLES,
        **kw,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{edit,invert,reconstruct}")
    e = sub.add_parser(
        "edit",
        help="invert an image with a source prompt and sample it with a target prompt",
        description=f"Invert an image with --source, then sample it with --target.\nWrites an image ({images}).",
        epilog=EDIT_EXAMPLES,
        **kw,
    )
    e.add_argument("image", help="an image file or http(s) URL")
    e.add_argument("--source", required=True, help="a prompt that describes the image")
    e.add_argument("--target", required=True, help="the same prompt with your change")
    e.add_argument(
        "--start-step", type=int, default=None, help=f"where re-sampling starts, 0 = from pure noise ({PRESET})"
    )
    e.add_argument(
        "--guidance",
        type=float,
        default=None,
        help=f"guidance scale, >= 0 ({PRESET}; with --control prompt-to-prompt: 7.5, or a null-text inversion's)",
    )
    e.add_argument(
        "--inversion",
        choices=list(METHODS),
        default="ddim",
        help="the inversion method (default: ddim); 'direct' goes with --control prompt-to-prompt (notebook 07)",
    )
    e.add_argument(
        "--control",
        choices=CONTROLS,
        default="none",
        help="'none' (default): the plain prompt swap; 'prompt-to-prompt': attention control with the model's "
        "preset settings, from --start-step 0 unless given (notebook 07)",
    )
    _seed(e)
    _common(e, steps_help=f"DDIM steps ({PRESET})")
    i = sub.add_parser(
        "invert",
        help="invert an image and save the trajectory (.safetensors)",
        description="Invert an image and save the trajectory as a .safetensors file for `reconstruct`.",
        epilog=INVERT_EXAMPLES,
        **kw,
    )
    i.add_argument("image", help="an image file or http(s) URL")
    i.add_argument("--prompt", required=True, help="a prompt that describes the image")
    i.add_argument("--method", choices=list(METHODS), default="ddim", help="the inversion method (default: ddim)")
    _seed(i)
    i.add_argument(
        "--guidance",
        type=float,
        default=None,
        help=f"the guidance the inversion is meant to be sampled at, >= 0 ({PRESET}'s edit guidance)",
    )
    _common(i, steps_help=f"DDIM steps ({PRESET})")
    r = sub.add_parser(
        "reconstruct",
        help="sample back from a saved inversion",
        description=f"Sample back from a .safetensors inversion written by `invert`.\nWrites an image ({images}).",
        epilog=RECONSTRUCT_EXAMPLES,
        **kw,
    )
    r.add_argument("inversion", help="a .safetensors file written by `invert`")
    r.add_argument("--start-step", type=int, default=0, help="where sampling starts, 0 = from the noise (default 0)")
    r.add_argument("--prompt", default=None, help="sample with another prompt (default: the inversion's)")
    r.add_argument("--guidance", type=float, default=None, help="guidance scale, >= 0 (default: the inversion's)")
    _common(r, steps_help="must match the inversion's steps if given (default: the inversion's)")
    return parser


# --------------------------------------------------------------------------------------------------
# checks that need no model
# --------------------------------------------------------------------------------------------------
MAX_GUIDANCE = 100.0  # ddim.MAX_GUIDANCE (a test keeps the two equal; ddim is imported late, after the checks)


def _check_numbers(*, steps=None, start_step=None, guidance=None, max_steps=None, what="steps") -> None:
    """One-line errors for numbers no model can use; ``None`` means not known yet."""
    if steps is not None:
        if steps < 1:
            raise CommandLineError(f"--steps must be at least 1 (50 is typical), got {steps}")
        if steps > 1000:  # no model this course loads trains more timesteps: said before any model loads
            raise CommandLineError(f"--steps must be at most 1000 (a model's training steps), got {steps}")
        if max_steps is not None and steps > max_steps:
            raise CommandLineError(f"--steps must be at most {max_steps} for this model, got {steps}")
    if start_step is not None:
        if start_step < 0:
            raise CommandLineError(f"--start-step must be >= 0, got {start_step}")
        if steps is not None and start_step >= steps:
            raise CommandLineError(f"--start-step must be in [0, {steps - 1}] for {steps} {what}, got {start_step}")
    if guidance is not None and not (math.isfinite(guidance) and 0 <= guidance <= MAX_GUIDANCE):
        raise CommandLineError(
            f"--guidance must be a number in [0, {MAX_GUIDANCE:g}] (0 = prompt ignored, 1 = no guidance, 7.5 is "
            f"typical), got {guidance}"
        )


def _check_input(path: str, what: str, *, missing_ok: bool = False) -> None:
    """Refuse an input that is not a readable regular file (a named pipe or a device would block or never end)."""
    if not path.strip():  # Path("") would be the current folder
        raise CommandLineError(f"the {what} path is empty; give the path of an {what}")
    if path.startswith(("http://", "https://")):
        return
    from .files import expand_user

    p = expand_user(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        if missing_ok:
            return  # the loader says so, with its hints
        raise CommandLineError(f"no such {what}: {_short(p)}") from None
    except OSError as e:
        if e.errno == errno.ENAMETOOLONG:
            raise CommandLineError(
                f"the {what} name is too long for the file system ({len(path)} characters)"
            ) from None
        raise CommandLineError(f"cannot read the {what} {_short(p)}: {e.strerror or e}") from None
    if stat.S_ISDIR(st.st_mode):
        raise CommandLineError(f"{_short(p)} is a folder, not an {what}")
    if not stat.S_ISREG(st.st_mode):
        raise CommandLineError(f"{_short(p)} is not a regular file (a named pipe, socket or device); give an {what}")
    if not os.access(p, os.R_OK):
        raise CommandLineError(f"cannot read the {what} {_short(p)}: permission denied")


def _output(args) -> Path:
    from .files import IMAGE_SUFFIXES, INVERSION_SUFFIXES, check_output_path

    suffixes = INVERSION_SUFFIXES if args.command == "invert" else IMAGE_SUFFIXES
    source = args.inversion if args.command == "reconstruct" else args.image
    inputs = () if source.startswith(("http://", "https://")) else (source,)
    try:
        return check_output_path(args.output, suffixes=suffixes, overwrite=args.force, inputs=inputs)
    except OSError as e:  # e.g. a folder path too long for the file system
        raise CommandLineError(f"cannot write {_short(args.output)}: {e.strerror or e}") from None


def _load_inversion(path: str):
    from .ddim import Inversion

    if Path(path).suffix.lower() in PICKLE_SUFFIXES:
        raise CommandLineError(
            f"{_short(path)} is a pickled file ({Path(path).suffix}), which can run code when loaded; this course "
            "reads only .safetensors inversions: run `python -m ddim_course invert ... -o NAME.safetensors` again"
        )
    return Inversion.load(path)


# --------------------------------------------------------------------------------------------------
# the commands
# --------------------------------------------------------------------------------------------------
def _model_line(pipe, asked: str) -> str:
    name = getattr(pipe, "_ddim_course_model", None) or asked
    unet = getattr(pipe, "unet", None)
    dtype = str(getattr(unet, "dtype", "")).replace("torch.", "") or "?"
    return f"model: {_short(name)} ({getattr(pipe.device, 'type', pipe.device)}, {dtype})"


def _write_image(image, out: Path, args) -> int:
    """Write the result image atomically, say so, and return the exit code."""
    from PIL import Image

    from .files import write_atomically

    fmt = Image.registered_extensions()[out.suffix.lower()]
    _save(lambda: write_atomically(out, lambda tmp: image.save(tmp, format=fmt), overwrite=args.force), out, args.force)
    args.written = args.output
    print(f"wrote {args.output} ({image.width}x{image.height})")
    return 0


def _save(save, out: Path, force: bool) -> None:
    """Run ``save()`` (an atomic write); if the file cannot take the result now, say that nothing was saved."""
    from .files import OutputPathError

    try:
        save()
    except OutputPathError as e:
        if not force and (out.exists() or out.is_symlink()):  # it was checked absent before the work
            raise CommandLineError(
                f"{_short(out)} appeared while the work ran; it was left as it is and the result was not saved: "
                "run again with another -o (or --force to replace it)"
            ) from None
        message = str(e)
        raise CommandLineError(message if "not saved" in message else f"the result was not saved: {message}") from None


def _run(args) -> int:
    from . import ddim, inversions, models
    from .editing import edit
    from .images import load_image

    progress = not args.quiet
    # 1. everything that needs no model: the numbers given, where the result goes, the input
    _check_numbers(steps=args.steps, start_step=getattr(args, "start_step", None), guidance=args.guidance)
    if not 0 <= getattr(args, "seed", 0) < 2**63:
        raise CommandLineError(f"--seed must be a whole number in [0, 2**63), got {args.seed}")
    if args.command == "edit" and args.inversion == "direct" and args.control == "none":
        raise CommandLineError(
            "--inversion direct needs --control prompt-to-prompt: direct inversion only snaps the source branch of "
            "prompt-to-prompt (for the plain prompt swap, use --inversion ddim)"
        )
    if args.command == "edit" and args.control != "none" and not inversions.get_method(args.inversion).ddim_sampler:
        from .editing import _p2p_refused

        raise CommandLineError(str(_p2p_refused(args.inversion)))  # before a model of minutes is loaded
    out = _output(args)
    if args.command == "reconstruct":
        _check_input(args.inversion, "inversion file")
        inversion = _load_inversion(args.inversion)
        n = inversion.num_inference_steps
        if args.steps is not None and args.steps != n:
            raise CommandLineError(
                f"this inversion has {n} steps; leave out --steps (or pass --steps {n}), "
                f"or invert again with --steps {args.steps}"
            )
        _check_numbers(steps=n, start_step=args.start_step, what="steps (this inversion's)")
    else:
        _check_input(args.image, "image file", missing_ok=True)
        image = load_image(args.image)
    # 2. the model, and the defaults of its preset
    pipe = models.load_pipeline(args.model)
    print(_model_line(pipe, args.model), flush=True)
    preset = models.get_preset(pipe)
    max_steps = ddim.max_steps(pipe)
    if args.command == "reconstruct":  # reconstruct refuses an inversion made by another model
        result = ddim.reconstruct(
            pipe,
            inversion,
            prompt=args.prompt,
            start_step=args.start_step,
            guidance_scale=args.guidance,
            progress=progress,
        )[0]
        return _write_image(result, out, args)
    steps = preset.num_inference_steps if args.steps is None else args.steps
    guidance = preset.edit_guidance if args.guidance is None else args.guidance
    if args.command == "edit":
        control = None if args.control == "none" else args.control
        if control is not None and args.guidance is None:
            guidance = None  # edit's own default: 7.5, or the guidance a null-text inversion is fitted at
        default_start = 0 if control is not None else preset.edit_start_step
        start = default_start if args.start_step is None else args.start_step
        if args.start_step is None and start >= steps:
            raise CommandLineError(
                f"the default --start-step {start} needs more than --steps {steps}; "
                f"pass --start-step below {steps}, or more steps"
            )
        _check_numbers(steps=steps, start_step=start, guidance=guidance, max_steps=max_steps)
        result = edit(
            pipe,
            image,
            args.source,
            args.target,
            start_step=start,
            num_inference_steps=steps,
            guidance_scale=guidance,
            inversion=args.inversion,
            control=control,
            progress=progress,
            **_generator(args, args.inversion),
        )[0]
        return _write_image(result, out, args)
    _check_numbers(steps=steps, guidance=guidance, max_steps=max_steps)
    method = inversions.get_method(args.method)
    inv = method(
        pipe,
        image,
        args.prompt,
        num_inference_steps=steps,
        guidance_scale=guidance,
        progress=progress,
        **_generator(args, args.method),
    )
    _save(lambda: inv.save(out, overwrite=args.force), out, args.force)
    args.written = args.output
    print(f"wrote {args.output} ({len(inv.latents)} latents, method {inv.method})")
    return 0


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {_for_cli(_one_line(message))}", file=sys.stderr)


def _error(message) -> int:
    print(f"error: {_for_cli(_one_line(message))}", file=sys.stderr)
    return 2


def _os_error(e: OSError) -> str:
    if e.errno is None or not e.strerror:
        return str(e)
    if e.errno == errno.ENAMETOOLONG:
        return f"a file name is too long for the file system: {_short(e.filename)}"
    return f"{e.strerror}: {_short(e.filename)}" if e.filename else e.strerror


def main(argv: list[str] | None = None) -> int:
    from .files import stdout_to_devnull, stops_as_interrupt
    from .quiet import quiet_logs

    args = None
    try:
        args = build_parser().parse_args(argv)
        # no log chatter from transformers (the package warns in one line itself), restored after for callers of
        # ``main`` in Python; SIGTERM and SIGHUP stop the command as Ctrl-C does
        with warnings.catch_warnings(), quiet_logs("transformers"), stops_as_interrupt():
            warnings.showwarning = _show_warning
            return _run(args)
    except KeyboardInterrupt:
        written = getattr(args, "written", None) if args is not None else None
        print(f"interrupted; {written} was written" if written else "interrupted; nothing was written", file=sys.stderr)
        return 130
    except BrokenPipeError:  # stdout was closed early (`| head -1`): not the learner's file, not a failure if written
        stdout_to_devnull()
        written = getattr(args, "written", None) if args is not None else None
        if written:
            return 0
        print("the output pipe was closed before the command finished; nothing was written", file=sys.stderr)
        return 1
    except (CommandLineError, ValueError, FloatingPointError) as e:  # incl. ImageLoadError, ModelLoadError, ...
        return _error(e)
    except OSError as e:  # incl. FileNotFoundError
        return _error(_os_error(e))
    except MemoryError:
        return _error("out of memory; try a smaller image, fewer --steps or --model pocket")
    except Exception as e:  # noqa: BLE001 - not the learner's mistake: one line unless asked for more
        if type(e).__name__ == "OutOfMemoryError":  # torch.cuda.OutOfMemoryError
            return _error("the GPU ran out of memory; close other programs that use it, or use --model pocket")
        if os.environ.get("DDIM_COURSE_DEBUG"):
            raise
        print(
            f"error: unexpected {type(e).__name__}: {_short(_one_line(e), 300)} (a bug in ddim_course; "
            "set DDIM_COURSE_DEBUG=1 to see the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
