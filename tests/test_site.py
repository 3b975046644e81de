"""The static site (tools/build_site.py): built into a temporary folder, served on 127.0.0.1, read in Chromium.

In the full run (``python -m pytest``) this test runs last (see conftest.py) and builds the pages from the outputs
the notebooks just produced under nbval: the notebooks are executed once. Run alone, it executes notebook 01 and
builds the other pages without outputs. A screenshot of every page goes to the test's temporary folder, or, whole
pages, to the folder named by ``DDIM_COURSE_SHOTS`` (to read them after a run).
"""

import http.server
import importlib.util
import json
import os
import re
import sys
import threading
import urllib.parse
import urllib.request
from functools import partial
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("build_site", ROOT / "tools" / "build_site.py")
build_site = sys.modules.setdefault("build_site", importlib.util.module_from_spec(SPEC))  # dataclasses need it there
SPEC.loader.exec_module(build_site)

BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
BADGE_SVG = (  # a stand-in for the badge, which the test, offline, cannot fetch
    '<svg xmlns="http://www.w3.org/2000/svg" width="117" height="20"><rect width="117" height="20" fill="#ddd"/>'
    '<text x="4" y="14" font-size="11">Open in Colab</text></svg>'
)
RAW_TEX = re.compile(r"\$\$|\\(frac|sqrt|bar|alpha|epsilon|mathbf|text)\b")


def _executed_outputs(config) -> dict:
    for plugin in config.pluginmanager.get_plugins():
        outputs = getattr(plugin, "EXECUTED_OUTPUTS", None)
        if isinstance(outputs, dict):
            return outputs
    return {}


@pytest.fixture(scope="module")
def site(request, tmp_path_factory):
    outputs = dict(_executed_outputs(request.config))
    first = build_site.course_notebooks()[0]
    if str(first) not in outputs:  # run alone: one notebook executed here, the others text and code only
        nb = build_site.execute_notebook(first)
        outputs[str(first)] = {c.id: c.outputs for c in nb.cells if c.cell_type == "code"}
    out = tmp_path_factory.mktemp("site") / "site"
    pages = build_site.build_site(out, outputs=outputs, execute=False, log=lambda *a: None)
    with_outputs = {p.html_name for p in pages if str(p.notebook) in outputs}
    return out, pages, with_outputs


def test_build_refuses_a_folder_that_is_not_its_own_and_a_link(tmp_path):
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "todo.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(build_site.SiteError, match="not empty and was not built by this tool"):
        build_site.build_site(mine, execute=False, log=lambda *a: None)
    assert (mine / "todo.txt").read_text(encoding="utf-8") == "mine"
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(build_site.SiteError, match="symbolic link"):
        build_site.build_site(link, execute=False, log=lambda *a: None)
    assert not (tmp_path / "elsewhere").exists()


def test_the_command_says_what_is_wrong_in_one_line(tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("mine", encoding="utf-8")
    assert build_site.main([str(tmp_path), "--no-execute"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not built by this tool" in err and "Traceback" not in err
    assert build_site.main([str(tmp_path / "mine.txt" / "site"), "--no-execute"]) == 2  # under a file
    err = capsys.readouterr().err
    assert err.startswith("error: cannot make the folder") and "Not a directory" in err
    assert (tmp_path / "mine.txt").read_text(encoding="utf-8") == "mine"


def test_a_second_edition_sits_beside_the_first_with_links_both_ways(tmp_path):
    notebooks = tmp_path / "notebooks"
    (notebooks / "zh").mkdir(parents=True)
    for name in [p.name for p in build_site.course_notebooks()[:2]]:
        for folder in (notebooks, notebooks / "zh"):
            (folder / name).write_bytes((ROOT / "notebooks" / name).read_bytes())
    out = tmp_path / "site"
    first = (notebooks / build_site.course_notebooks()[0].name).resolve()
    ran = {c.id: [{"output_type": "stream", "name": "stdout", "text": f"ran {c.id}\n"}] for c in _code_cells(first)}
    pages = build_site.build_site(
        out, outputs={str(first): ran}, execute=False, notebooks=notebooks, log=lambda *a: None
    )
    assert sorted(p.html_name for p in pages if p.edition == "zh") == sorted(
        "zh/" + p.html_name for p in pages if p.edition == "en"
    )
    en, zh = (
        (out / pages[0].html_name).read_text(encoding="utf-8"),
        (out / "zh" / pages[0].html_name).read_text(encoding="utf-8"),
    )
    assert (
        f'hreflang="zh" href="zh/{pages[0].html_name}"' in en and f'hreflang="en" href="../{pages[0].html_name}"' in zh
    )
    assert 'src="../mathjax/MathJax.js' in zh and (out / "zh" / "index.html").is_file()
    assert 'href="../notebooks/zh/' in zh  # the download link of the Chinese notebook
    assert "下一课" in zh and "下一课" not in en and "next:" in en  # the words the site adds, in each language
    last_id = _code_cells(first)[-1].id
    assert f"ran {last_id}" in en and f"ran {last_id}" in zh  # the Chinese page shows the English run's outputs


def test_the_home_page_has_the_two_commands_and_every_lesson(site):
    out, pages, _ = site
    for edition, index in (("en", "index.html"), ("zh", "zh/index.html")):
        editions = [page for page in pages if page.edition == edition]
        if not editions:
            continue
        home = (out / index).read_text(encoding="utf-8")
        assert "pip install -r requirements.txt &amp;&amp; python -m pytest" in home, index
        assert "pip install -r requirements.txt &amp;&amp; jupyter lab notebooks" in home, index
        prefix = "zh/" if edition == "zh" else ""
        for page in editions:
            assert f'href="{page.html_name.removeprefix(prefix)}"' in home, (index, page.html_name)
    assert any(page.edition == "zh" for page in pages), "the Chinese edition is built"


@pytest.mark.browser
@pytest.mark.timeout(900)
def test_every_page_loads_with_pictures_maths_and_working_links(site, tmp_path):
    from tests.test_browser import CHROMIUM, _chromium_runs

    if CHROMIUM is None or not _chromium_runs():
        pytest.skip(
            "no working Chromium: install Debian's package (apt-get install chromium) or set DDIM_COURSE_CHROMIUM"
        )
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    out, pages, with_outputs = site
    with_maths = {p.html_name for p in pages if "$" in _markdown(p.notebook)}  # the pages whose lesson has maths
    assert with_maths, "no lesson has maths: the maths check would check nothing"

    handler = partial(_QuietHandler, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    problems, links, shots = [], set(), Path(os.environ.get("DDIM_COURSE_SHOTS", tmp_path))
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            outside = []

            def route(r):
                url = r.request.url
                if url.startswith(base) or url.startswith("data:"):
                    r.continue_()
                elif url == BADGE:  # the one asset from elsewhere: answered here, the test is offline
                    r.fulfill(status=200, content_type="image/svg+xml", body=BADGE_SVG)
                else:
                    outside.append(url)
                    r.abort()

            page.route("**/*", route)
            errors = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("response", lambda r: errors.append(f"{r.status} for {r.url}") if r.status >= 400 else None)
            names = ["index.html"] + [p.html_name for p in pages]
            for name in names:
                errors.clear()
                outside.clear()
                page.goto(base + name, wait_until="load")
                typeset = page.evaluate(_TYPESET)
                state = page.evaluate(_PAGE_STATE)
                page.screenshot(path=str(shots / (name.replace("/", "_") + ".png")), full_page=shots != tmp_path)
                for e in errors:
                    problems.append(f"{name}: console error: {e}")
                for url in outside:
                    problems.append(f"{name}: fetched from elsewhere: {url}")
                for src in state["broken"]:
                    problems.append(f"{name}: an image that does not decode: {src[:80]}")
                if RAW_TEX.search(state["markdown"]):
                    problems.append(f"{name}: raw TeX left on the page: {RAW_TEX.search(state['markdown']).group(0)}")
                if name != "index.html":
                    if name in with_maths and (not typeset or state["maths"] == 0):
                        problems.append(f"{name}: no rendered maths (MathJax typeset: {typeset})")
                    if re.search(r"\b(VBox|HBox|IntSlider|FloatSlider)\(", state["text"]):
                        problems.append(f"{name}: a widget's raw repr is shown")
                if state["repeated"]:
                    problems.append(f"{name}: {state['repeated']} cells show the same picture twice")
                if name in with_outputs:
                    if state["figures"] == 0:
                        problems.append(f"{name}: no figure on a page made from executed outputs")
                    if state["widgetOutputs"] != state["widgetNotes"]:
                        problems.append(
                            f"{name}: {state['widgetOutputs']} explorer pictures, {state['widgetNotes']} notes"
                        )
                for href in state["links"]:
                    if href.startswith(base):
                        links.add(href)
            browser.close()
        for href in sorted(links):
            url, _, frag = href.partition("#")
            try:
                with urllib.request.urlopen(url, timeout=30) as r:
                    body = r.read().decode("utf-8", "replace")
            except Exception as e:
                problems.append(f"internal link {href}: {e}")
                continue
            if frag and f'id="{frag}"' not in body and f'id="{urllib.parse.unquote(frag)}"' not in body:
                problems.append(f"internal link {href}: no element with that id")
    finally:
        server.shutdown()
    assert not problems, "\n".join(problems[:40])
    # the pages a learner gets: every lesson has previous/next links in order, and a notebook to download
    lessons = [p for p in pages if p.edition == "en"]
    for i, lesson in enumerate(lessons):
        text = (out / lesson.html_name).read_text(encoding="utf-8")
        assert ('rel="prev"' in text) == (i > 0) and ('rel="next"' in text) == (i + 1 < len(lessons))
        assert i == 0 or f'rel="prev" href="{lessons[i - 1].html_name}"' in text
        assert i + 1 == len(lessons) or f'rel="next" href="{lessons[i + 1].html_name}"' in text
        downloaded = json.loads((out / "notebooks" / lesson.rel).read_text(encoding="utf-8"))
        assert downloaded["cells"] and all(
            not c.get("outputs") for c in downloaded["cells"] if c["cell_type"] == "code"
        )


# resolves once MathJax has typeset the page (its queue runs in order), false on a page without MathJax
_TYPESET = "() => new Promise(r => window.MathJax && MathJax.Hub ? MathJax.Hub.Queue(() => r(true)) : r(false))"


def _code_cells(notebook: Path):
    return [c for c in build_site.read_notebook(notebook).cells if c.cell_type == "code"]


def _markdown(notebook: Path) -> str:
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


_PAGE_STATE = """() => {
    const imgs = Array.from(document.images);
    return {
        broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src),
        figures: imgs.filter(i => i.src.startsWith('data:image/')).length,
        maths: document.querySelectorAll('.MathJax, .MathJax_Display, .MathJax_Preview + script, mjx-container').length,
        markdown: Array.from(document.querySelectorAll('.jp-MarkdownOutput, .home-page'))
            .map(e => e.innerText).join('\\n'),
        text: document.body.innerText,
        widgetNotes: document.querySelectorAll('.widget-note').length,
        widgetOutputs: Array.from(document.querySelectorAll('.widget-note')).filter(n => {
            const area = n.closest('.jp-OutputArea-child');
            const before = area && area.previousElementSibling;
            return before && before.querySelector('img');
        }).length,
        links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
        repeated: Array.from(document.querySelectorAll('.jp-Cell')).filter(c => {
            const srcs = Array.from(c.querySelectorAll('.jp-OutputArea img')).map(i => i.src);
            return new Set(srcs).size < srcs.length;
        }).length,
    };
}"""


def test_a_build_stopped_part_way_leaves_the_old_site_whole(tmp_path):
    out = tmp_path / "site"
    build_site.build_site(out, execute=False, log=lambda *a: None)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    calls = []

    def stop_at_the_third_page(*args):
        calls.append(args)
        if len(calls) == 3:
            raise KeyboardInterrupt  # Ctrl-C part-way

    with pytest.raises(KeyboardInterrupt):
        build_site.build_site(out, execute=False, log=stop_at_the_third_page)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"], "no half-built folder left beside it"
    build_site.build_site(out, execute=False, log=lambda *a: None)  # and it can be built again over it
    assert (out / "index.html").is_file() and sorted(p.name for p in tmp_path.iterdir()) == ["site"]


def test_an_empty_output_name_is_refused_not_read_as_this_folder(capsys):
    with pytest.raises(SystemExit) as e:
        build_site.main([" "])
    assert e.value.code == 2 and "out must name a folder" in capsys.readouterr().err


def test_a_finished_progress_bar_leaves_no_empty_box_on_a_page():
    """The course's bars empty their output when done (a display_data of an empty text/plain); a page built from
    nbclient's run drew an empty output box for each. Other outputs, and tqdm's own bars, are handled as before."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    kept = nbformat.v4.new_output("stream", name="stdout", text="done\n")
    empty = nbformat.v4.new_output("display_data", data={"text/plain": ""})
    bar = nbformat.v4.new_output(
        "display_data",
        data={"text/plain": "DDIM sampling:   0%|          | 0/50", build_site.WIDGET_VIEW: {"model_id": "x"}},
    )
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    nb.cells[0].outputs = [empty, bar, kept, empty]
    assert build_site.static_widgets(nb).cells[0].outputs == [kept]
