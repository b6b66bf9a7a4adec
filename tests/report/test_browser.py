"""The built site as a user sees it: a real headless Chromium on a real report, under a sub-path.

Needs Debian's ``chromium`` (``apt-get install -y chromium``) and the ``playwright`` package
(requirements-dev.txt); Playwright drives the system browser through ``executable_path``, so no
browser is downloaded. The site is served under ``/tsnegrid-test/``, as GitHub Pages serves a
project site under ``/REPO/``, so every absolute link would break. Every test runs on the same
report built twice, by MkDocs and by Zensical (when installed); a request to any host but the
local server fails the test (it is aborted, so a test never waits on the network).
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image

from tests.reportkit import ROOT, build_report, mkdocs_build, small_config
from tsnegrid.report import tiles
from tsnegrid.report.pages import PAGES

#: Debian's chromium; TSNEGRID_CHROMIUM may name another Chromium (e.g. a CI runner's Chrome).
CHROMIUM = Path(os.environ.get("TSNEGRID_CHROMIUM", "/usr/bin/chromium"))
PREFIX = "/tsnegrid-test/"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
NASTY = "<img src=x onerror=alert(1)>.png"
NASTY_CLASS = "<svg onload=alert(2)>"
#: The site builders the report supports (MkDocs, the default, and Zensical).
BUILDERS = ("mkdocs", "zensical")

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the environment
    sync_playwright = None  # type: ignore[assignment]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        sync_playwright is None,
        reason="playwright is not installed (pip install -r requirements-dev.txt)",
    ),
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (Debian: apt-get install -y chromium)"
    ),
]


class SubPathHandler(SimpleHTTPRequestHandler):
    """Serves the site folder under ``PREFIX`` only (anything else is a 404)."""

    def translate_path(self, path: str) -> str:
        if not path.startswith(PREFIX):
            return str(Path(self.directory) / "-no-such-file-")
        return super().translate_path("/" + path[len(PREFIX) :])

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Site:
    base: str
    folder: Path
    layout: list[dict[str, str]]
    builder: str = "mkdocs"


@dataclass
class Watch:
    """What went wrong while a page was open."""

    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    ok_urls: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.context.route("**/*", self._local_only)
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self.errors.append(f"failed: {r.url} {r.failure}"))
        page.on("response", self._response)
        page.on("dialog", self._dialog)

    def _local_only(self, route: Any) -> None:
        """Let requests to the local server (and data:/blob: URLs) through; abort the rest."""
        url = urlsplit(route.request.url)
        if url.scheme in ("data", "blob") or url.hostname == "127.0.0.1":
            route.continue_()
        else:
            self.errors.append(f"request to another host: {route.request.url}")
            route.abort()

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            self.errors.append(f"HTTP {response.status}: {response.url}")
        else:
            self.ok_urls.append(response.url)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()


@contextmanager
def serving(folder: Path) -> Iterator[str]:
    """Serve ``folder`` (which may not exist yet) under ``PREFIX``; yield the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SubPathHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{PREFIX}"
    finally:
        server.shutdown()
        server.server_close()


def make_docs(tmp: Path, **overrides: object) -> tuple[Path, list[dict[str, str]]]:
    """A real report (the same one for both builders) and its layout rows."""
    docs = tmp / "docs"
    build_report(small_config(docs, cache_dir=None, **overrides))
    with (docs / "layout.csv").open(newline="") as f:
        return docs, list(csv.DictReader(f))


def zensical_build(docs: Path, site: Path) -> subprocess.CompletedProcess[str]:
    """``zensical build`` of ``docs`` with the project's mkdocs.yml (paths relative to the config
    file: Zensical refuses a docs_dir outside the project)."""
    assert docs.parent == site.parent
    config_path = docs.parent / f"{docs.name}-zensical.yml"
    text = (ROOT / "mkdocs.yml").read_text()
    text = text.replace("docs_dir: docs", f"docs_dir: {docs.name}")
    text = text.replace("site_dir: site", f"site_dir: {site.name}")
    config_path.write_text(text)
    return subprocess.run(
        [sys.executable, "-m", "zensical", "build", "--strict", "-f", str(config_path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=docs.parent,
    )


def build_site(docs: Path, layout: list[dict[str, str]], builder: str, base: str) -> Site:
    """The site of ``docs``, built strictly by ``builder`` with ``SITE_URL`` set as the Pages
    workflow sets it.

    With a site URL, Material's navigation.instant is active: links inside the site swap the
    page content without a reload, which is where scripts that only run on load break.
    """
    site = docs.parent / f"site-{builder}"
    before = os.environ.get("SITE_URL")
    os.environ["SITE_URL"] = base
    try:
        done = mkdocs_build(docs, site) if builder == "mkdocs" else zensical_build(docs, site)
    finally:
        if before is None:
            del os.environ["SITE_URL"]
        else:
            os.environ["SITE_URL"] = before
    assert done.returncode == 0, done.stdout + done.stderr
    assert (site / "index.html").is_file()
    return Site(base, site, layout, builder)


def needs(builder: str) -> None:
    if builder == "zensical":
        pytest.importorskip("zensical", reason="zensical is not installed (requirements-dev.txt)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert sync_playwright is not None
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def report_docs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, str]]]:
    # One part of the cell layout per row, so that the viewer fetches parts as the pointer moves
    # (a default part of 500 kB holds the whole map of a small run).
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tiles, "PART_BYTES", 1)
        return make_docs(tmp_path_factory.mktemp("browser"))


@pytest.fixture(scope="module", params=BUILDERS)
def site(
    request: pytest.FixtureRequest, report_docs: tuple[Path, list[dict[str, str]]]
) -> Iterator[Site]:
    needs(request.param)
    docs, layout = report_docs
    with serving(docs.parent / f"site-{request.param}") as base:
        yield build_site(docs, layout, request.param, base)


@pytest.fixture(scope="module")
def nasty_docs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("nasty")
    rng = np.random.default_rng(0)
    for k, cls in enumerate(("plain", NASTY_CLASS)):
        (tmp / "images" / cls).mkdir(parents=True)
        for i in range(15):
            pixels = rng.integers(0, 80, size=(12, 12, 3), dtype=np.uint8) + np.uint8(150 * k)
            name = NASTY if (k, i) == (0, 3) else f"{i:02d}.png"
            Image.fromarray(pixels).save(tmp / "images" / cls / name)
    return make_docs(tmp, images=tmp / "images", n_images=None, thumb_px=8)


@pytest.fixture(scope="module", params=BUILDERS)
def nasty_site(
    request: pytest.FixtureRequest, nasty_docs: tuple[Path, list[dict[str, str]]]
) -> Iterator[Site]:
    needs(request.param)
    docs, layout = nasty_docs
    with serving(docs.parent / f"site-{request.param}") as base:
        yield build_site(docs, layout, request.param, base)


def page_urls(base: str) -> list[tuple[str, str]]:
    return [(title, base if stem == "index" else f"{base}{stem}/") for stem, title in PAGES]


def open_page(browser: Browser, **context: Any) -> tuple[Page, Watch]:
    page = browser.new_context(**context).new_page()
    page.set_default_timeout(15_000)
    watch = Watch()
    watch.attach(page)
    return page, watch


def navigate_in_site(page: Page, site: Site, title: str, url: str) -> None:
    """Click a link of the navigation and check the page was swapped, not reloaded."""
    page.evaluate("window.tsnegridNoReload = true")
    page.locator("nav.md-nav--primary a.md-nav__link", has_text=title).first.click()
    page.wait_for_url(url)
    page.locator("article h1", has_text=title).wait_for()
    assert page.evaluate("window.tsnegridNoReload === true"), "the site reloaded: not instant"


def decode_all_images(page: Page) -> list[tuple[str, int]]:
    """Load every <img> (lazy ones too) and return (src, naturalWidth) of each."""
    return page.evaluate("""() => Promise.all([...document.images].map(img => {
        img.loading = "eager";
        return img.decode().then(() => [img.src, img.naturalWidth], () => [img.src, 0]);
    }))""")


def wait_for_map(page: Page) -> None:
    page.wait_for_function("""() => {
        const v = document.getElementById("tsnegrid-map")?.tsnegridViewer;
        return v && v.world.getItemCount() === 1 && v.world.getItemAt(0).getFullyLoaded();
    }""")


def test_every_page_loads_cleanly_and_every_image_decodes(browser, site):
    page, watch = open_page(browser)
    shown: set[str] = set()
    for title, url in page_urls(site.base):
        page.goto(url, wait_until="networkidle")
        active = page.locator("nav.md-nav--primary .md-nav__link--active").first.inner_text()
        assert active.strip() == title, url
        images = decode_all_images(page)
        assert [src for src, width in images if width == 0] == [], url
        for src, _ in images:
            assert src.startswith(site.base), f"{src} is outside the site's sub-path"
            shown.add(src.removeprefix(site.base))
    figures = {f"img/{p.name}" for p in (site.folder / "img").iterdir()}
    assert {f for f in figures if "/map-full-" not in f} <= shown
    assert watch.errors == []
    page.context.close()


def test_lightbox_opens_after_in_site_navigation(browser, site):
    page, watch = open_page(browser)
    page.goto(site.base, wait_until="networkidle")
    navigate_in_site(page, site, "Embedding", f"{site.base}embedding/")
    page.locator("article a.glightbox").first.click()
    slide = page.locator(".glightbox-container .gslide.current img")
    slide.wait_for(state="visible")
    assert slide.evaluate("img => img.decode().then(() => img.naturalWidth)") > 0
    assert watch.errors == []
    page.context.close()


def grid_shape(site: Site) -> tuple[int, int, float, float]:
    """rows, cols and a cell's width and height in map pixels (from the files, not the viewer)."""
    cells = json.loads((site.folder / "tiles" / "cells.json").read_text())
    return cells["rows"], cells["cols"], cells["cell_width"], cells["cell_height"]


def cell_on_screen(page: Page, site: Site, row: int, col: int) -> tuple[float, float]:
    """Page coordinates of the centre of grid cell (row, col); grid row 0 is the map's bottom."""
    rows, _, cell_w, cell_h = grid_shape(site)
    x, y = (col + 0.5) * cell_w, (rows - 1 - row + 0.5) * cell_h
    return tuple(
        page.evaluate(
            """([x, y]) => {
        const v = document.getElementById("tsnegrid-map").tsnegridViewer;
        const image = v.world.getItemAt(0);
        const p = image.imageToViewerElementCoordinates(new OpenSeadragon.Point(x, y));
        const box = v.element.getBoundingClientRect();
        return [box.left + p.x, box.top + p.y];
    }""",
            [x, y],
        )
    )


def centre_cell(page: Page, site: Site) -> str:
    """The name of the image at the centre of the view (or "Empty cell")."""
    x, y = page.evaluate("""() => {
        const v = document.getElementById("tsnegrid-map").tsnegridViewer;
        const p = v.world.getItemAt(0).viewportToImageCoordinates(v.viewport.getCenter(true));
        return [p.x, p.y];
    }""")
    rows, _, cell_w, cell_h = grid_shape(site)
    row, col = rows - 1 - int(y // cell_h), int(x // cell_w)
    at = [r["name"] for r in site.layout if (int(r["row"]), int(r["col"])) == (row, col)]
    return at[0] if at else "Empty cell"


def test_map_loads_tiles_and_names_the_cell_under_the_pointer(browser, site):
    page, watch = open_page(browser, has_touch=True, viewport={"width": 1280, "height": 900})
    page.goto(site.base, wait_until="networkidle")
    navigate_in_site(page, site, "Final map", f"{site.base}map/")  # the viewer must start again
    wait_for_map(page)
    tiles = [u for u in watch.ok_urls if f"{PREFIX}tiles/map_files/" in u]
    assert tiles, "no tile was loaded"
    rows, cols, _, _ = grid_shape(site)
    legend = page.locator("#tsnegrid-map .tsnegrid-map__class-name").all_inner_texts()
    assert legend == sorted({r["label"] for r in site.layout}, key=int)
    info = page.locator("#tsnegrid-map .tsnegrid-map__info")

    # Images away from the bottom-right quarter, where the navigator covers the map.
    def in_view(r: dict[str, str]) -> bool:
        return not (int(r["row"]) < rows / 2 and int(r["col"]) >= cols / 2)

    by_index = {int(r["index"]): r for r in site.layout if in_view(r)}
    first, last = by_index[min(by_index)], by_index[max(by_index)]
    page.mouse.move(*cell_on_screen(page, site, int(first["row"]), int(first["col"])))
    expect(info).to_contain_text(first["name"])
    expect(info).to_contain_text(f"#{first['index']}")
    expect(info).to_contain_text(first["label"])
    page.mouse.click(*cell_on_screen(page, site, int(last["row"]), int(last["col"])))
    expect(info).to_contain_text(last["name"])
    page.mouse.move(1, 1)  # leaving the map keeps the clicked cell
    expect(info).to_contain_text(last["name"])

    parts = {u.split("?")[0] for u in watch.ok_urls if f"{PREFIX}tiles/cells/" in u}
    assert len(parts) == len({first["row"], last["row"]}), parts  # one part per row visited

    middle = sorted(by_index.items())[len(by_index) // 2][1]
    page.touchscreen.tap(*cell_on_screen(page, site, int(middle["row"]), int(middle["col"])))
    expect(info).to_contain_text(middle["name"])
    expect(page.locator("#tsnegrid-map .tsnegrid-map__marker")).to_be_visible()
    assert watch.errors == []
    page.context.close()


def test_map_keyboard_focus_names_the_cell_at_the_centre(browser, site):
    page, watch = open_page(browser)
    page.goto(f"{site.base}map/", wait_until="networkidle")
    wait_for_map(page)
    info = page.locator("#tsnegrid-map .tsnegrid-map__info")
    for _ in range(60):  # Tab through the page up to the map
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('openseadragon-canvas')"):
            break
    else:
        pytest.fail("the map cannot be reached with Tab")
    before = centre_cell(page, site)
    expect(info).to_contain_text(before)
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.wait_for_function("""() => {  // the pan has ended
        const v = document.getElementById("tsnegrid-map").tsnegridViewer;
        const now = v.viewport.getCenter(true), target = v.viewport.getCenter(false);
        return now.equals(target) && now.x > 0.55;
    }""")
    after = centre_cell(page, site)
    assert after != before
    expect(info).to_contain_text(after)
    assert watch.errors == []
    page.context.close()


def test_downloads_resolve(browser, site):
    page, watch = open_page(browser)
    linked: set[str] = set()
    for _title, url in page_urls(site.base):
        page.goto(url, wait_until="networkidle")
        hrefs = page.locator("article a[href]").evaluate_all("links => links.map(a => a.href)")
        linked |= {h for h in hrefs if re.search(r"\.(csv|json|png)$", h)}
    assert f"{site.base}layout.csv" in linked
    for name in ("layout.csv", "manifest.json", "timings.json"):
        response = page.request.get(f"{site.base}{name}")
        assert response.status == 200, name
        assert response.body() == (site.folder / name).read_bytes()
    for href in sorted(linked):
        assert href.startswith(site.base), href
        assert page.request.get(href).status == 200, href
    assert page.request.get(f"http://{page.url.split('/')[2]}/layout.csv").status == 404
    assert watch.errors == []
    page.context.close()


def test_a_file_name_with_markup_is_shown_as_text_and_never_runs(browser, nasty_site):
    page, watch = open_page(browser)
    for _title, url in page_urls(nasty_site.base):
        page.goto(url, wait_until="networkidle")
        assert page.locator('img[src="x"], svg[onload]').count() == 0, url
    page.goto(f"{nasty_site.base}map/", wait_until="networkidle")
    wait_for_map(page)
    row = next(r for r in nasty_site.layout if r["name"].endswith(NASTY))
    assert row["name"] == f"plain/{NASTY}"
    page.mouse.move(*cell_on_screen(page, nasty_site, int(row["row"]), int(row["col"])))
    name = page.locator("#tsnegrid-map .tsnegrid-map__name")
    expect(name).to_have_text(row["name"])
    assert name.evaluate("n => n.children.length") == 0
    legend = page.locator("#tsnegrid-map .tsnegrid-map__class-name").all_text_contents()
    assert NASTY_CLASS in legend
    page.wait_for_timeout(200)
    assert watch.dialogs == []
    assert watch.errors == []
    page.context.close()


def test_no_page_asks_another_host_and_the_lightbox_is_styled_locally(browser, site):
    page, watch = open_page(browser)
    for _title, url in page_urls(site.base):
        page.goto(url, wait_until="networkidle")
    page.goto(f"{site.base}embedding/", wait_until="networkidle")
    page.locator("article a.glightbox").first.click()
    container = page.locator(".glightbox-container")
    container.wait_for(state="visible")
    assert container.evaluate("c => getComputedStyle(c).position") == "fixed"  # its CSS loaded
    assert f"{site.base}assets/tsnegrid/glightbox/glightbox.min.css" in watch.ok_urls
    assert [u for u in watch.ok_urls if not u.startswith(site.base)] == []
    assert watch.errors == []  # holds any request to another host
    page.context.close()


def test_dark_mode_follows_the_system_and_the_toggle(browser, site):
    page, watch = open_page(browser, color_scheme="dark")
    page.goto(site.base, wait_until="networkidle")
    scheme = "document.body.getAttribute('data-md-color-scheme')"
    assert page.evaluate(scheme) == "slate"
    page.locator("form[data-md-component=palette] label:not([hidden])").first.click()
    page.wait_for_function(f"{scheme} === 'default'")
    navigate_in_site(page, site, "Quality", f"{site.base}quality/")
    assert page.evaluate(scheme) == "default"  # the choice survives navigation
    page.locator("form[data-md-component=palette] label:not([hidden])").first.click()
    page.wait_for_function(f"{scheme} === 'slate'")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background not in ("rgb(255, 255, 255)", "rgba(0, 0, 0, 0)"), background
    assert watch.errors == []
    page.context.close()


def search_results(page: Page, site: Site, query: str) -> list[str]:
    """The result links of the site's own search for ``query`` (Material's search under MkDocs,
    Zensical's search dialog, whose shadow DOM Playwright's CSS selectors enter)."""
    if site.builder == "zensical":
        page.locator("button.md-search__button").click()
        results = page.locator("dialog[aria-label=Search] ol[role=listbox] a[role=option]")
    else:
        page.keyboard.press("/")
        results = page.locator(".md-search-result__item a")
    page.keyboard.type(query)
    results.first.wait_for()
    return results.evaluate_all("links => links.map(a => a.href)")


def test_search_finds_a_section_of_the_report(browser, site):
    page, watch = open_page(browser)
    page.goto(site.base, wait_until="networkidle")
    hrefs = search_results(page, site, "seams")
    assert f"{site.base}quality/#seams" in hrefs, hrefs
    assert all(h.startswith(site.base) for h in hrefs), hrefs
    assert watch.errors == []
    page.context.close()
