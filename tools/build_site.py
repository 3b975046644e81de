"""Build the course as a static site, readable before installing anything.

    python tools/build_site.py OUT_DIR              # executes every notebook on the pocket model (minutes)
    python tools/build_site.py OUT_DIR --no-execute # the lessons' text and code only, no outputs

The pages are made by nbconvert (Jupyter's own converter, the tool behind "File > Save and Export As > HTML"),
so a page looks like the notebook in JupyterLab: its figures, printed numbers and maths. What is added here:
a home page (the README's introduction, the notebook table and the two commands), previous / next links, an
"Open in Colab" and a "download notebook" link on every page, the Chinese edition beside the English one where
``notebooks/zh/`` exists, and maths that renders offline (MathJax 2 from the ``jupyter-server-mathjax`` package,
copied into the site, instead of nbconvert's default CDN). The explorers' widgets have no kernel on a static page:
each shows the picture of its first state that ``ddim_course.widgets`` puts beside the live widget, with a line
saying it is interactive when run. Nothing on a page is fetched from elsewhere except the Colab badge image.

``tests/test_site.py`` builds the site from the outputs of the test run's own notebook execution (no second run)
and checks every page in Chromium.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ddim_course.files import discard_work, swap_in_folder, work_folder  # noqa: E402
from ddim_course.links import BRANCH, REPO, colab_url  # noqa: E402
from ddim_course.widgets import STATIC_NOTE  # noqa: E402

NOTEBOOKS = ROOT / "notebooks"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
PROGRESS_BAR = re.compile(r"\d+%\|.*\|\s*\d+/\d+|Progress\(")  # tqdm's text ("  0%|    | 0/50 [...]") or a repr
MATHJAX = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"
SITE_MARK = ".ddim-course-site"  # written into every folder this tool builds, so a rebuild never wipes anything else
TITLE = "DDIM inversion, hands on"
# (code, folder under notebooks/, folder in the site, name of the language in itself)
EDITIONS = [("en", "", "", "English"), ("zh", "zh", "zh", "中文")]
README = {"en": "README.md", "zh": "README.zh-CN.md"}  # each edition's home page is made from its README
# the words this tool adds to a page, in each edition's language
WORDS = {
    "en": {
        "note": STATIC_NOTE,  # the line the explorers themselves give where no widget can run
        "previous": "previous",
        "next": "next",
        "download": "download notebook",
        "lessons": "The lessons",
        "table": "| # | lesson | you leave knowing |",
        "run": "Run it yourself",
        "fresh": "On a fresh machine with Python 3.10+, from the repository folder (after `git clone` and `cd`):",
        "source": "The source, the tests and the issues:",
    },
    "zh": {
        "note": "交互式探索器：运行这个 notebook（在 JupyterLab 或 Colab 中）即可操作它的控件。"
        "这里显示的是它的初始状态。",
        "previous": "上一课",
        "next": "下一课",
        "download": "下载 notebook",
        "lessons": "课程",
        "table": "| # | 课 | 学完你会知道 |",
        "run": "自己运行",
        "fresh": "在一台装有 Python 3.10+ 的新机器上，在仓库目录中（`git clone` 并 `cd` 进入之后）运行：",
        "source": "源代码、测试和问题：",
    },
}
CSS = """
.site-nav { font: 15px/1.5 system-ui, sans-serif; display: flex; flex-wrap: wrap; gap: 0.4em 1.2em;
  align-items: center; padding: 0.6em 1em; border-bottom: 1px solid #ccc; background: #f7f7f7; }
.site-nav a { color: #0645ad; }
.site-nav .home { font-weight: 600; margin-right: auto; }
.site-nav img { vertical-align: middle; }
.widget-note { font: 14px/1.4 system-ui, sans-serif; border-left: 4px solid #888; padding: 0.3em 0.8em; }
.home-page { max-width: 60em; margin: 0 auto; padding: 1em; font: 16px/1.55 system-ui, sans-serif; }
.home-page table { border-collapse: collapse; }
.home-page td, .home-page th { border: 1px solid #ccc; padding: 0.3em 0.6em; vertical-align: top; }
.home-page code { background: #f2f2f2; padding: 0 0.2em; }
"""

# No favicon request (a 404 in the console of every page); the site's own styles; MathJax's HTML-CSS output set to
# the web font that jupyter-server-mathjax ships (STIX-Web; the default, TeX, is not in the package), and its blank
# test font made local: MathJax 2 loads it from url('about:blank'), which Chromium refuses with a console error.
MATHJAX_CONFIG = {
    "availableFonts": [],
    "preferredFont": None,
    "webFont": "STIX-Web",
    "imageFont": None,
    "styles": {"@font-face": {"font-family": "MathJax_Blank", "src": "local('MathJax_Blank')"}},
}
HEAD = (
    f'<link rel="icon" href="data:,">\n<style>{CSS}</style>\n<script type="text/x-mathjax-config">\n'
    f'MathJax.Hub.Config({{"HTML-CSS": {json.dumps(MATHJAX_CONFIG)}}});\n</script>'
)


class SiteError(Exception):
    """What stops a build, said in one line (an output folder that is not ours, a notebook that fails)."""


@dataclass
class Page:
    notebook: Path  # the notebook file in the repo
    edition: str  # "en" or "zh"
    html_name: str  # path of the page in the site, e.g. "01_noise_schedule.html" or "zh/01_noise_schedule.html"
    title: str
    rel: str  # the notebook's path under notebooks/, e.g. "01_noise_schedule.ipynb" or "zh/01_noise_schedule.ipynb"


# --------------------------------------------------------------------------------------------------
# notebooks: read, execute, prepare
# --------------------------------------------------------------------------------------------------
def course_notebooks(folder: Path = NOTEBOOKS) -> list[Path]:
    return sorted(folder.glob("[0-9][0-9]_*.ipynb"))


def read_notebook(path: Path):
    import nbformat

    return nbformat.read(path, as_version=4)


def execute_notebook(path: Path, timeout: int = 900):
    """The notebook run top to bottom in a fresh kernel, in its own folder, offline (as the tests run it)."""
    from nbclient import NotebookClient

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.pop("MPLBACKEND", None)  # the kernel plots inline (its default), so the figures are in the outputs
    nb = read_notebook(path)
    try:
        NotebookClient(
            nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
        ).execute()
    except Exception as e:  # a cell's error, a timeout: name the notebook, keep it short
        first = str(e).strip().splitlines()
        raise SiteError(f"{path.name} failed while executing: {first[-1] if first else type(e).__name__}") from None
    return nb


def with_outputs(nb, outputs: dict):
    """The notebook with the outputs of an earlier run put back on its code cells, matched by cell id."""
    import nbformat

    for cell in nb.cells:
        if cell.cell_type == "code" and cell.get("id") in outputs:
            kept = [nbformat.from_dict(dict(o)) for o in outputs[cell.id]]
            if cell.source.rstrip().endswith(";"):  # nbval runs cells outside IPython's history, where a closing
                kept = [o for o in kept if o.output_type != "execute_result"]  # ";" does not hide the value
            cell.outputs = kept
    return nb


def static_widgets(nb, note: str = WORDS["en"]["note"]):
    """Outputs that only a live kernel can show become what a static page can: an explorer's picture and a note;
    a progress bar is left out (never a widget's raw text such as ``HBox(children=...)``)."""
    import nbformat

    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if out.get("output_type") == "display_data" and set(data) <= {"text/plain"} and not data.get("text/plain"):
                continue  # a finished progress bar of the course emptied its output (ddim_course.ddim._bar): no box
            if WIDGET_VIEW not in data:
                outputs.append(out)
                continue
            if PROGRESS_BAR.search(str(data.get("text/plain", ""))):  # tqdm's: the cell prints its result anyway
                continue
            # an explorer shows its picture (ddim_course.widgets puts it beside the widget) and the note; any other
            # widget the note alone (tests/test_site.py fails on an explorer note without a picture)
            if "image/png" in data:
                outputs.append(nbformat.v4.new_output("display_data", data={"image/png": data["image/png"]}))
            outputs.append(
                nbformat.v4.new_output(
                    "display_data",
                    data={
                        "text/html": f'<p class="widget-note">{html.escape(note)}</p>',
                        "text/plain": note,
                    },
                )
            )
        cell.outputs = outputs
    return nb


def notebook_title(nb, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return re.sub(r"[*_`]", "", line[2:]).strip()
    return fallback


# --------------------------------------------------------------------------------------------------
# pages
# --------------------------------------------------------------------------------------------------
def _exporter():
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab")
    exporter.mathjax_url = MATHJAX
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    return exporter


def _rewrite_links(text: str, page_dir: str, known: set[str]) -> str:
    """Links between notebooks point to their pages; links to other repo files point to the repository."""

    def fix(m):
        attr, quote, url = m.group(1), m.group(2), m.group(3)
        if re.match(r"^([a-z][a-z0-9+.-]*:|#|//)", url, re.I):
            return m.group(0)
        path, _, frag = url.partition("#")
        target = os.path.normpath(os.path.join(page_dir, path)) if path else ""
        if target.endswith(".ipynb"):
            page = target[: -len(".ipynb")] + ".html"
            if page in known:
                rel = os.path.relpath(page, page_dir or ".")
                return f"{attr}={quote}{rel}{'#' + frag if frag else ''}{quote}"
        if (
            path and target not in known and not target.startswith(("notebooks/", "mathjax/"))
        ):  # a repository file (the package's source, an image, ...)
            repo_path = os.path.normpath(os.path.join("notebooks", page_dir, path))
            if repo_path.startswith(".."):
                return m.group(0)
            url = f"{REPO}/blob/{BRANCH}/{repo_path}{'#' + frag if frag else ''}"
            return f"{attr}={quote}{url}{quote}"
        return m.group(0)

    return re.sub(r'\b(href)=(["\'])([^"\']*)\2', fix, text)


def _nav(page: Page, pages: list[Page], editions: dict[str, list[Page]]) -> str:
    here = os.path.dirname(page.html_name)
    rel = lambda name: os.path.relpath(name, here or ".")  # noqa: E731
    words = WORDS[page.edition]
    same = [p for p in pages if p.edition == page.edition]
    i = same.index(page)
    home = "index.html" if page.edition == "en" else page.edition + "/index.html"
    parts = [f'<a class="home" href="{rel(home)}">{TITLE}</a>']
    if i > 0:
        before = same[i - 1]
        parts.append(
            f'<a rel="prev" href="{rel(before.html_name)}">&larr; {words["previous"]}: {html.escape(before.title)}</a>'
        )
    if i + 1 < len(same):
        after = same[i + 1]
        parts.append(
            f'<a rel="next" href="{rel(after.html_name)}">{words["next"]}: {html.escape(after.title)} &rarr;</a>'
        )
    parts.append(f'<a class="download" href="{rel("notebooks/" + page.rel)}" download>{words["download"]}</a>')
    parts.append(
        f'<a class="colab" href="{colab_url(page.rel)}"><img alt="Open in Colab" width="117" height="20" '
        'src="https://colab.research.google.com/assets/colab-badge.svg"></a>'
    )
    for code, other in editions.items():
        if code != page.edition:
            twin = [p for p in other if p.notebook.name == page.notebook.name]
            if twin:
                name = dict((c, n) for c, _, _, n in EDITIONS)[code]
                parts.append(f'<a class="edition" hreflang="{code}" href="{rel(twin[0].html_name)}">{name}</a>')
    return '<nav class="site-nav">' + "\n".join(parts) + "</nav>"


def render_page(nb, page: Page, pages: list[Page], editions: dict[str, list[Page]], known: set[str], exporter) -> str:
    body, _ = exporter.from_notebook_node(
        static_widgets(nb, WORDS[page.edition]["note"]), resources={"metadata": {"name": page.title}}
    )
    here = os.path.dirname(page.html_name)
    if here:  # pages of another edition sit one folder down: the shared MathJax copy is one up
        body = body.replace(
            f'src="{MATHJAX}"', f'src="{os.path.relpath("mathjax", here)}/{MATHJAX[len("mathjax/") :]}"'
        )
    body = _rewrite_links(body, here, known)
    # nbconvert's template loads require.js from a CDN for JavaScript outputs; the course has none
    body = re.sub(r'<script src="https://cdnjs\.cloudflare\.com/ajax/libs/require\.js/[^"]*"></script>', "", body)
    nav = _nav(page, pages, editions)
    body = body.replace("</head>", f"{HEAD}\n</head>", 1)
    body = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + "\n" + nav, body, count=1)
    body = body.replace("</body>", nav.replace('class="site-nav"', 'class="site-nav site-foot"') + "\n</body>", 1)
    if 'lang="' not in body[:500]:
        body = body.replace("<html", f'<html lang="{page.edition}"', 1)
    return body


def _readme_parts(readme: str) -> tuple[str, str, list[str]]:
    """The README's introduction (before its first section), the table of the two commands (the table whose rows
    run pip), and its notebook rows ("| 01 | [title](notebooks/...ipynb) | ... |"), in any language."""
    intro = re.split(r"^## ", readme, maxsplit=1, flags=re.M)[0]
    intro = re.sub(r"^# .*\n", "", intro, count=1).strip()
    intro = re.sub(r"^\*\*Read the course online.*?\n\n", "", intro, flags=re.S | re.M)  # this is that site
    intro = re.sub(r"^\*\*.*?github\.io.*?\n\n", "", intro, flags=re.S | re.M)  # (in another language too)
    intro = intro.replace("](#", f"]({REPO}#")  # the README's own sections stay on the repository's page
    # a file of the repository (the other README, a folder) is linked on the repository too
    intro = re.sub(r"\]\((?!https?:|#|mailto:)([^)\s]+)\)", lambda m: f"]({REPO}/blob/{BRANCH}/{m.group(1)})", intro)
    lines = readme.splitlines()
    commands = []
    for i, line in enumerate(lines):
        if line.startswith("|") and "`pip install" in line:
            if not commands and i >= 2 and lines[i - 1].startswith("|---"):
                commands += [lines[i - 2], lines[i - 1]]
            commands.append(line)
    rows = [line for line in lines if re.match(r"^\| \d\d \| \[", line)]
    return intro, "\n".join(commands), rows


def render_home(pages: list[Page], edition: str, readme: str) -> str:
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    intro, commands, rows = _readme_parts(readme)
    about = {p.notebook.name: "" for p in pages}
    for row in rows:  # the README's "you leave knowing" column, by notebook file
        cells = [c.strip() for c in row.strip("|").split("|")]
        m = re.search(r"\(notebooks/(?:[a-z]+/)?([^/)]+\.ipynb)\)", cells[1])
        if m and m.group(1) in about:
            about[m.group(1)] = cells[2]
    here = "" if edition == "en" else edition
    words = WORDS[edition]
    table = [words["table"], "|---|---|---|"]
    for p in pages:
        if p.edition == edition:
            link = os.path.relpath(p.html_name, here or ".")
            table.append(f"| {p.notebook.name[:2]} | [{p.title}]({link}) | {about.get(p.notebook.name, '')} |")
    index_of = lambda folder: os.path.relpath(f"{folder}/index.html" if folder else "index.html", here or ".")  # noqa: E731
    others = " · ".join(
        f'<a hreflang="{code}" href="{index_of(folder)}">{name}</a>'
        for code, _, folder, name in EDITIONS
        if code != edition and any(p.edition == code for p in pages)
    )
    markdown = "\n\n".join(
        [
            intro,
            "## " + words["lessons"],
            "\n".join(table),
            "## " + words["run"],
            words["fresh"],
            commands,
            f"{words['source']} [{REPO}]({REPO}).",
        ]
    )
    body = markdown2html_mistune(markdown)
    body = _rewrite_links(body, here, {p.html_name for p in pages} | {"index.html"})
    return (
        f'<!DOCTYPE html>\n<html lang="{edition}">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>{TITLE}</title>\n'
        f'{HEAD}\n</head>\n<body>\n<main class="home-page">\n<h1>{TITLE}</h1>\n'
        + (f'<p class="editions">{others}</p>\n' if others else "")
        + body
        + "\n</main>\n</body>\n</html>\n"
    )


# --------------------------------------------------------------------------------------------------
# the site
# --------------------------------------------------------------------------------------------------
def _prepare_out(out: Path) -> tuple[Path, bool]:
    """Check ``out`` (new, empty, or built by this tool before: never anyone else's files, never through a link) and
    make the folder the site is built in: a hidden one inside ``out``, whose pages replace the old site only when
    the site is complete, so that Ctrl-C or an error part-way leaves the old site whole."""
    if out.is_symlink():
        raise SiteError(f"{out} is a symbolic link: give a real folder (the site is never written through a link)")
    if out.exists():
        if not out.is_dir():
            raise SiteError(f"{out} is a file: give a folder for the site")
        if any(out.iterdir()) and not (out / SITE_MARK).is_file():
            raise SiteError(f"{out} is not empty and was not built by this tool: give a new or empty folder")
    try:
        if out.parent.exists() and not out.parent.is_dir():  # a file where the site's folder should sit
            raise NotADirectoryError(20, "Not a directory")
        work, made = work_folder(out, ".building-")
    except OSError as e:  # a file where a folder above it should be, a folder that cannot be written...
        raise SiteError(f"cannot make the folder {out} ({e.strerror or e}): give a folder you can write to") from None
    (work / SITE_MARK).write_text(
        "built by tools/build_site.py; the whole folder is replaced on the next build\n", encoding="utf-8"
    )
    return work, made


def _mathjax_folder() -> Path:
    try:
        import jupyter_server_mathjax
    except ImportError:
        raise SiteError("jupyter-server-mathjax is missing: pip install -r requirements.txt") from None
    return Path(jupyter_server_mathjax.__file__).parent / "static"


def build_site(
    out, *, outputs: dict | None = None, execute: bool = True, notebooks: Path = NOTEBOOKS, log=print
) -> list[Page]:
    """Write the site into ``out``. ``outputs``: {notebook path: {cell id: outputs}} of a run already made (the
    test run's); a notebook not in it is executed when ``execute``, else shown without outputs."""
    out = Path(out)
    mathjax = _mathjax_folder()
    work, made = _prepare_out(out)
    try:
        pages = _build_into(work, outputs, execute, notebooks, log, mathjax)
        swap_in_folder(work, out, replace_all=True)  # the folder is the tool's own (SITE_MARK): no stale page stays
    except BaseException:
        discard_work(work, out, made)
        raise
    return pages


def _build_into(out: Path, outputs, execute: bool, notebooks: Path, log, mathjax: Path) -> list[Page]:
    """build_site's work, into the folder ``out``."""
    pages: list[Page] = []
    for code, folder, site_folder, _ in EDITIONS:
        for path in course_notebooks(notebooks / folder if folder else notebooks):
            html_name = (site_folder + "/" if site_folder else "") + path.stem + ".html"
            pages.append(Page(path, code, html_name, path.stem, path.relative_to(notebooks).as_posix()))
    editions = {code: [p for p in pages if p.edition == code] for code, *_ in EDITIONS}
    editions = {k: v for k, v in editions.items() if v}
    known = {p.html_name for p in pages}
    outputs = {str(Path(k).resolve()): v for k, v in (outputs or {}).items()}
    rendered, twins = {}, {}
    for page in pages:  # English first (EDITIONS' order), so another edition can take their outputs
        t = time.perf_counter()
        ran = outputs.get(str(page.notebook.resolve()))
        if ran is not None:
            nb, how = with_outputs(read_notebook(page.notebook), ran), "outputs of the test run"
        elif page.edition != "en" and twins.get(page.notebook.name) is not None:  # the same code as the English
            english = twins[page.notebook.name]  # notebook (issue 15's sync test): its outputs, matched by cell id
            ran = {c.id: c.outputs for c in english.cells if c.cell_type == "code" and c.get("id")}
            nb, how = with_outputs(read_notebook(page.notebook), ran), "outputs of the English edition"
        elif execute and page.edition == "en":
            nb, how = execute_notebook(page.notebook), "executed"
        else:
            nb, how = read_notebook(page.notebook), "no outputs"
        page.title = notebook_title(nb, page.notebook.stem)
        rendered[page.html_name] = nb
        if page.edition == "en":
            twins[page.notebook.name] = nb
        log(f"{page.html_name}: {how} ({time.perf_counter() - t:.1f} s)")
    readmes = {code: ROOT / name for code, name in README.items() if (ROOT / name).is_file()}
    exporter = _exporter()  # one for all pages: making one costs about half a second
    for page in pages:
        target = out / page.html_name
        target.parent.mkdir(parents=True, exist_ok=True)
        html_text = render_page(rendered[page.html_name], page, pages, editions, known, exporter)
        target.write_text(html_text, encoding="utf-8")
        copy = out / "notebooks" / page.rel
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(page.notebook, copy)  # the committed notebook: no outputs, as a learner downloads it
    for code, _, folder, _ in EDITIONS:
        if code in editions:
            home = out / folder / "index.html" if folder else out / "index.html"
            home.parent.mkdir(parents=True, exist_ok=True)
            readme = readmes.get(code, ROOT / "README.md").read_text(encoding="utf-8")
            home.write_text(render_home(pages, code, readme), encoding="utf-8")
    shutil.copytree(mathjax, out / "mathjax")
    (out / ".nojekyll").write_text("", encoding="utf-8")  # GitHub Pages: serve the folder as it is
    return pages


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Build the course as a static site (one page per notebook).")
    parser.add_argument("out", help="output folder: new, empty, or one this tool built before")
    parser.add_argument("--no-execute", action="store_true", help="do not run the notebooks: text and code only")
    args = parser.parse_args(argv)
    if not args.out.strip():  # "" would be read as the current folder
        parser.error(f"out must name a folder, got a blank name {args.out!r}")
    t = time.perf_counter()
    try:
        pages = build_site(args.out, execute=not args.no_execute)
    except SiteError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted; {args.out} was left as it was", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the log's reader went away (`| head`): the site was not finished
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print(f"the output pipe was closed; {args.out} was left as it was", file=sys.stderr)
        return 1
    size = folder_size(Path(args.out))
    print(f"{len(pages)} pages in {args.out} ({size / 2**20:.1f} MiB) in {time.perf_counter() - t:.0f} s")
    print(f"read it: python -m http.server --directory {args.out} 8000, then open http://127.0.0.1:8000/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
