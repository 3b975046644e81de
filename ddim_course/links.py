"""Where the course lives: the one place that holds its git URL and the release its notebooks install.

The notebooks' Colab setup cells and the README's Colab badges are made from ``REPO`` and ``REF``; run
``python -m ddim_course.links`` after changing them (a test checks that they agree). Both use ``REF``, a fixed tag
(``"v"`` + the version in pyproject.toml, a test checks it): a badge opens the notebook as released and its setup
cell installs the package of the same release, so the two always fit (a badge on a branch opened notebooks newer
than the package they installed). Tag the release commit with ``REF`` before publishing. The static site links its
pages to the repo's files on ``BRANCH``, the branch it is built from.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

REPO = "https://github.com/ddim-course/ddim-course"
BRANCH = "main"
REF = "v0.3.0"
# the course as a static site (tools/build_site.py, published by .github/workflows/site.yml on every push to main)
SITE = "https://ddim-course.github.io/ddim-course/"
ROOT = Path(__file__).resolve().parent.parent
SETUP_MARKER = "# Colab setup"


def colab_url(notebook: str) -> str:
    """The 'Open in Colab' link of a notebook in ``notebooks/`` (its path there, e.g. ``"zh/01_x.ipynb"``)."""
    parts = notebook.split("/") if isinstance(notebook, str) else []
    if not parts or not notebook.endswith(".ipynb") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(
            f"notebook must be a notebook's path in notebooks/, like '01_noise_schedule.ipynb', got {notebook!r}"
        )
    path = REPO.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{path}/blob/{REF}/notebooks/{notebook}"


def setup_cell_source() -> str:
    """The first code cell of every notebook: installs the package at REF in Colab, does nothing elsewhere.

    A failed install stops the notebook with one line that says what failed and what to do (pip's own message
    is printed above it), not with a CalledProcessError traceback.
    """
    return (
        f"{SETUP_MARKER}: in Colab, install the course package (Colab's own torch is kept). Elsewhere: nothing.\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        "    import subprocess\n"
        "\n"
        f'    url = "ddim-course @ git+{REPO}@{REF}"\n'
        '    result = subprocess.run([sys.executable, "-m", "pip", "install", "-q", url])\n'
        "    if result.returncode:\n"
        "        raise SystemExit(\n"
        '            f"Could not install the course package (pip exit code {result.returncode}) from {url}. "\n'
        '            "Check that this Colab runtime is connected to the internet, then run this cell again. "\n'
        f'            "pip\'s message is above; if it persists, please report it at {REPO}/issues"\n'
        "        )"
    )


def notebooks(*, editions: bool = False) -> list[Path]:
    """The English notebooks; with ``editions``, the Chinese edition's (``notebooks/zh/``) too."""
    found = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    return found + (sorted((ROOT / "notebooks" / "zh").glob("[0-9][0-9]_*.ipynb")) if editions else [])


def update(write: bool = True) -> list[str]:
    """Rewrite the setup cells and badges from REPO; return the files that were (or would be) changed."""
    changed = []
    for path in notebooks(editions=True):
        nb = json.loads(path.read_text(encoding="utf-8"))
        rel = path.relative_to(ROOT / "notebooks").as_posix()
        for cell in nb["cells"]:
            src = "".join(cell["source"])
            if cell["cell_type"] == "code" and src.startswith(SETUP_MARKER) and src != setup_cell_source():
                cell["source"] = setup_cell_source().splitlines(keepends=True)
                changed.append(str(path))
            if cell["cell_type"] == "markdown" and "colab.research.google.com" in src:
                new = re.sub(r"https://colab\.research\.google\.com/github/\S+?\.ipynb", colab_url(rel), src)
                if new != src:
                    cell["source"] = new.splitlines(keepends=True)
                    changed.append(str(path))
        if write and str(path) in changed:
            _write(path, json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n")
    for name, site in (("README.md", SITE), ("README.zh-CN.md", SITE + "zh/")):
        readme = ROOT / name
        if not readme.exists():
            continue
        text = readme.read_text(encoding="utf-8")
        new = re.sub(
            r"https://colab\.research\.google\.com/github/\S+?/notebooks/([^)\s]+\.ipynb)",
            lambda m: colab_url(m.group(1)),
            text,
        )
        new = re.sub(r"https://[a-z0-9-]+\.github\.io/[^)\s>*]*", site, new)  # "Read the course online: ..."
        if new != text:
            changed.append(str(readme))
            if write:
                _write(readme, new)
    return changed


def _write(path: Path, text: str) -> None:
    """Replace a repo file in one step; a link is refused, never written through."""
    from .files import write_atomically

    write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), overwrite=True)


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m ddim_course.links",
        description="Rewrite the notebooks' Colab setup cells and badges and the READMEs' links from REPO.",
    )
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file is out of date")
    args = parser.parse_args(argv)  # --help or a typo stops here, before any file is touched
    stale = update(write=not args.check)
    if stale:
        print(("out of date:\n" if args.check else "rewritten:\n") + "\n".join(dict.fromkeys(stale)))
    else:
        print(f"all links agree with {REPO}")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
