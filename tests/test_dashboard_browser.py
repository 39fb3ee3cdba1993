"""The dashboard in a real browser: headless Chromium (Debian's `chromium`) opens every page of the
running Streamlit app on the demo data, saves a screenshot per page and fails on any exception
text on a page.

* Data: the real demo pipeline (`run_demo`) into a test SIDETRACK_HOME and database — the
  session's demo when conftest provides one (`demo_session`), else this module runs it.
* App: `streamlit run dashboard/app.py` as a subprocess in its own process group on a free port
  of 127.0.0.1, against that database; stopped by its PID.
* Pages: the dashboard's page registry (`dashboard/pages/__init__.py`, `PAGES`), each opened by its
  URL path; the sidebar's navigation links must all be registry pages.
* Screenshots: `$SIDETRACK_ARTIFACTS/screenshots/` (default `artifacts/screenshots/` at the repo
  root, not committed), `<nn>-<page>.png`, plus the Overview on a 390×844 phone and in the dark
  theme. Each PNG must have the viewport's size and must not be one flat colour.
* Failure: a `stException` element, an `st.error` box, a "Page not found" / connection dialog,
  a Python traceback or `…Error:` text on a page, or a traceback in the server's log.

No timing is asserted here; speed is measured by benchmarks/dashboard_speed.py.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cdp_browser import Browser, BrowserTimeout, find_chromium, png_stats, stop_process_group

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "dashboard" / "app.py"
REGISTRY = REPO / "dashboard" / "pages" / "__init__.py"
DESKTOP = (1440, 1400)
PHONE = (390, 844, 2.0)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(find_chromium() is None and not os.environ.get("CI"),
                       reason="no Chromium: install Debian's `chromium` (apt-get install chromium) or set CHROMIUM"),
]


# ------------------------------------------------------------------------------------ pages

@dataclass(frozen=True)
class PageSpec:
    url_path: str      # the page's URL path (the first page is also served at the root URL)
    title: str

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", (self.url_path or self.title).lower()).strip("-") or "home"


def _field(entry, *names):
    for name in names:
        value = entry.get(name) if isinstance(entry, dict) else getattr(entry, name, None)
        if value is not None:
            return value
    return None


def registry_pages() -> list[PageSpec]:
    """The pages the dashboard registers, in order; the single-page app when there is no registry."""
    if not REGISTRY.is_file():
        return [PageSpec("", "SideTrack")]
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    module = importlib.import_module("dashboard.pages")
    pages = []
    for entry in module.PAGES:
        if isinstance(entry, (tuple, list)):   # (title, url_path, module file, icon)
            title, url_path = entry[0], entry[1]
        else:
            title, url_path = _field(entry, "title", "name", "label"), _field(entry, "url_path", "path", "slug")
        pages.append(PageSpec(str(url_path or "").strip("/"), str(title)))
    return pages


PAGES = registry_pages()
NOTICES: dict[str, list[str]] = {}   # url_path -> the page's info/warning boxes, for index.json


# ------------------------------------------------------------------------------------ fixtures

def artifacts_dir() -> Path:
    root = Path(os.environ.get("SIDETRACK_ARTIFACTS") or REPO / "artifacts")
    return root / "screenshots"


@pytest.fixture(scope="module")
def screenshots() -> Path:
    folder = artifacts_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):   # this run's screenshots only
        old.unlink()
    yield folder
    (folder / "index.json").write_text(json.dumps(
        {"pages": [{"file": f"{i + 1:02d}-{p.slug}.png", "url_path": p.url_path, "title": p.title,
                    "notices": NOTICES.get(p.url_path)} for i, p in enumerate(PAGES)],
         "written": sorted(f.name for f in folder.glob("*.png"))}, indent=2))


@pytest.fixture(scope="module")
def demo_database(request, tmp_path_factory):
    """(database URL, SIDETRACK_HOME) holding the demo's data, run through the real pipeline.

    Reuses the session's demo when conftest provides a session fixture `demo_session` (with
    `.url` and `.home`), so the suite runs the demo once; otherwise runs it here, once.
    SIDETRACK_BROWSER_DEMO_URL (+ _HOME) points it at a demo database built before (`sidetrack
    demo` into some SIDETRACK_HOME), to iterate on the browser checks without the pipeline."""
    if os.environ.get("SIDETRACK_BROWSER_DEMO_URL"):   # developer shortcut: a demo database already built
        yield os.environ["SIDETRACK_BROWSER_DEMO_URL"], Path(os.environ.get("SIDETRACK_BROWSER_DEMO_HOME", "."))
        return
    try:
        session = request.getfixturevalue("demo_session")
    except pytest.FixtureLookupError:
        session = None
    if session is not None:
        yield session.url, Path(session.home)
        return
    from sidetrack_pipeline.demo.run import run_demo
    from tests.conftest import _create_db

    url = _create_db(request.getfixturevalue("pg_admin_uri"), f"browser_{os.getpid()}")
    home = tmp_path_factory.mktemp("browser-demo-home")
    models = request.getfixturevalue("models_cache")
    saved = dict(os.environ)   # run_demo sets AUDIO_ROOT and drops some variables itself
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SIDETRACK_HOME", str(home))
        mp.setenv("SIDETRACK_DATABASE_URL", url)
        mp.setenv("DAGSTER_HOME", str(home / "dagster"))
        mp.setenv("TORCH_DEVICE", "cpu")
        mp.setenv("ANALYSIS_WORKERS", "2")
        mp.setenv("SIDETRACK_MODELS_DIR", str(models))
        mp.delenv("EMBEDDING_MODEL", raising=False)
        try:
            run_demo(echo=lambda *_: None)
        finally:
            os.environ.clear()
            os.environ.update(saved)
    yield url, home


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.is_file() else ""


def start_dashboard(app: Path, url: str, home: Path, log: Path, timeout: float = 90.0) -> Server:
    """`streamlit run <app>` on a free local port of 127.0.0.1, in its own process group."""
    port = _free_port()
    env = {**os.environ, "SIDETRACK_HOME": str(home), "SIDETRACK_DATABASE_URL": url,
           "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1",
           "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"]
    out = open(log, "wb")  # noqa: SIM115  (the child keeps it; closed below)
    process = subprocess.Popen(cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=out,
                               stderr=subprocess.STDOUT, start_new_session=True)
    out.close()
    server = Server(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {process.returncode}:\n{server.log_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return server
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop_process_group(process, grace=5)
            raise RuntimeError(f"streamlit did not answer /_stcore/health within {timeout:.0f} s:\n"
                               f"{server.log_text()[-4000:]}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def dashboard(demo_database, screenshots):
    url, home = demo_database
    server = start_dashboard(APP, url, Path(home), screenshots.parent / "streamlit.log")
    yield server
    stop_process_group(server.process, grace=10)


@pytest.fixture(scope="module")
def browser():
    with Browser(width=DESKTOP[0], height=DESKTOP[1], start_timeout=60) as b:
        yield b


# ------------------------------------------------------------------------------------ the checks

# Rendered: connected, the script has run to the end, nothing is a skeleton or spinner any more,
# the main block has content and every Plotly chart has drawn its SVG.
RENDERED_JS = r"""
(() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || !document.querySelector('[data-testid="stAppViewContainer"]')) return null;
  if (app.getAttribute('data-test-connection-state') !== 'CONNECTED') return null;
  if (app.getAttribute('data-test-script-state') !== 'notRunning') return null;
  if (document.querySelector('[data-testid="stStatusWidgetRunningIcon"], [data-testid="stStatusWidgetRunningManIcon"]')) return null;
  if (document.querySelector('[data-testid="stAppSkeleton"], [data-testid="stSkeleton"], [data-testid="stSpinner"]')) return null;
  const main = document.querySelector('[data-testid="stMainBlockContainer"]');
  if (!main || !main.innerText.trim()) return null;
  const charts = document.querySelectorAll('[data-testid="stPlotlyChart"]');
  const drawn = document.querySelectorAll('[data-testid="stPlotlyChart"] .main-svg');
  if (drawn.length < charts.length) return null;
  return {path: location.pathname, title: document.title, text: main.innerText.length,
          nodes: document.getElementsByTagName('*').length, charts: charts.length};
})()
"""

PROBLEMS_JS = r"""
(() => {
  const out = [];
  const clip = (s) => s.replace(/\s+/g, ' ').trim().slice(0, 1500);
  for (const el of document.querySelectorAll('[data-testid="stException"]'))
    out.push('exception box: ' + clip(el.innerText));
  for (const el of document.querySelectorAll('[data-testid="stAlertContentError"]'))
    out.push('st.error box: ' + clip(el.innerText));
  for (const el of document.querySelectorAll('[data-testid="stDialog"], [role="dialog"], [data-testid="stToast"]'))
    if (/not found|error|exception|traceback/i.test(el.innerText)) out.push('dialog/toast: ' + clip(el.innerText));
  const text = document.body.innerText;
  if (text.includes('Traceback (most recent call last)')) out.push('traceback text on the page');
  const m = text.match(/(^|[^\w])(\w*(Error|Exception)):\s?.{0,200}/m);
  if (m) out.push('error text: ' + clip(m[0]));
  return out;
})()
"""

# Info/warning boxes (empty states such as "not computed yet"): recorded, reported as warnings.
NOTICES_JS = r"""
Array.from(document.querySelectorAll('[data-testid="stAlertContentInfo"], [data-testid="stAlertContentWarning"]'))
     .map(el => el.innerText.replace(/\s+/g, ' ').trim().slice(0, 300))
"""

NAV_LINKS_JS = r"""
Array.from(document.querySelectorAll('[data-testid="stSidebarNavLink"]'))
     .map(a => new URL(a.href).pathname.replace(/^\/+|\/+$/g, ''))
"""

EXPAND_NAV_JS = r"""
(() => {
  const b = document.querySelector('[data-testid="stSidebarNavViewButton"]');
  if (b && /more/i.test(b.innerText)) { b.click(); return true; }
  return false;
})()
"""

THEME_JS = r"""
(() => {
  const c = getComputedStyle(document.querySelector('[data-testid="stApp"]')).backgroundColor;
  const v = (c.match(/\d+(\.\d+)?/g) || []).slice(0, 3).map(Number);
  return {color: c, luminance: v.length === 3 ? (0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]) / 255 : null};
})()
"""


def open_page(browser: Browser, base: str, page: PageSpec) -> dict:
    """Open one page by its URL path and wait until the app has rendered it and settled."""
    target = f"{base}/{page.url_path}"
    browser.page.navigate(target, timeout=60)
    try:
        state = browser.page.wait_stable(RENDERED_JS, f"page {page.title!r} ({target}) to render",
                                         timeout=120, quiet=1.5)
    except BrowserTimeout as exc:
        problems = browser.page.evaluate(PROBLEMS_JS)
        raise AssertionError(f"{exc}\nproblems on the page: {problems}") from None
    return state


def check_screenshot(png: bytes, width: int, height: int, name: str) -> dict:
    stats = png_stats(png)
    assert (stats["width"], stats["height"]) == (width, height), (name, stats)
    # a blank or single-colour capture (the failure mode of `chromium --screenshot` on Streamlit)
    assert stats["colours"] > 16 and stats["variance"] > 20.0, (name, stats)
    return stats


def assert_no_problems(browser: Browser, page: PageSpec) -> None:
    problems = browser.page.evaluate(PROBLEMS_JS)
    assert not problems, f"page {page.title!r} (/{page.url_path}) shows errors:\n" + "\n".join(problems)


def _page_ids() -> list[str]:
    return [f"{i + 1:02d}-{p.slug}" for i, p in enumerate(PAGES)]


def test_the_checks_catch_an_exception(browser, tmp_path):
    """The error checks are not vacuous: a tiny app that shows st.error and raises is caught."""
    app = tmp_path / "broken.py"
    app.write_text('import streamlit as st\nst.title("Broken")\nst.error("Something failed")\n{}["missing"]\n')
    server = start_dashboard(app, "postgresql://unused", tmp_path, tmp_path / "broken.log")
    try:
        open_page(browser, server.url, PageSpec("", "Broken"))
        problems = browser.page.evaluate(PROBLEMS_JS)
    finally:
        stop_process_group(server.process, grace=10)
    assert any(p.startswith("exception box: KeyError") for p in problems), problems
    assert "st.error box: Something failed" in problems, problems
    assert any("KeyError" in line for line in server_log_errors(server)), server.log_text()[-3000:]


@pytest.mark.parametrize("index,page", list(enumerate(PAGES)), ids=_page_ids())
def test_page_renders_without_errors(browser, dashboard, screenshots, index, page):
    state = open_page(browser, dashboard.url, page)
    # the app stayed on the page asked for (an unknown path falls back to the main page)
    allowed = {page.url_path} | ({""} if index == 0 else set())
    assert state["path"].strip("/") in allowed, (page, state)
    assert page.title.lower() in (state["title"] + " " + browser.page.evaluate(
        "document.querySelector('[data-testid=\"stMainBlockContainer\"]').innerText")).lower(), (page, state)
    path = screenshots / f"{index + 1:02d}-{page.slug}.png"
    check_screenshot(browser.page.screenshot(path), *DESKTOP, path.name)
    notices = browser.page.evaluate(NOTICES_JS) or []
    NOTICES[page.url_path] = notices
    for notice in notices:   # an empty state on the demo data is worth a look, not an exception
        warnings.warn(f"page {page.title!r} shows a notice on the demo data: {notice}", stacklevel=1)
    assert_no_problems(browser, page)


def test_navigation_links_are_the_registered_pages(browser, dashboard):
    """The sidebar links to every registered page and to nothing else (the root is the first page)."""
    open_page(browser, dashboard.url, PAGES[0])
    # a long navigation is collapsed behind "View N more": open it first
    if browser.page.evaluate(EXPAND_NAV_JS):
        browser.page.wait_stable(NAV_LINKS_JS + ".length", "the expanded navigation", timeout=15, quiet=0.5)
    links = set(browser.page.evaluate(NAV_LINKS_JS) or [])
    registered = {p.url_path for p in PAGES}
    if len(PAGES) > 1:
        assert links, "the sidebar shows no page links"
        assert links <= registered | {""}, f"links to unregistered pages: {sorted(links - registered - {''})}"
        assert registered - {""} <= links, f"registered pages without a link: {sorted(registered - {''} - links)}"


def test_overview_on_a_phone(browser, dashboard, screenshots):
    width, height, scale = PHONE
    page = PAGES[0]
    browser.page.set_viewport(width, height, scale=scale, mobile=True)
    try:
        open_page(browser, dashboard.url, page)
        path = screenshots / f"{len(PAGES) + 1:02d}-{page.slug}-phone.png"
        check_screenshot(browser.page.screenshot(path), int(width * scale), int(height * scale), path.name)
        assert_no_problems(browser, page)
    finally:
        browser.page.set_viewport(*DESKTOP)


def test_overview_in_dark_theme(browser, dashboard, screenshots):
    """Streamlit's default theme follows the system's colour scheme; the browser says 'dark'."""
    page = PAGES[0]
    browser.page.set_color_scheme("light")
    open_page(browser, dashboard.url, page)
    light = browser.page.evaluate(THEME_JS)
    browser.page.set_color_scheme("dark")
    try:
        open_page(browser, dashboard.url, page)
        dark = browser.page.evaluate(THEME_JS)
        if dark["luminance"] is not None and light["luminance"] is not None \
                and abs(dark["luminance"] - light["luminance"]) < 0.05:
            pytest.skip(f"the app does not follow the system colour scheme (theme fixed in its config?): "
                        f"background {light['color']} in light, {dark['color']} in dark")
        assert dark["luminance"] < 0.3, dark
        path = screenshots / f"{len(PAGES) + 2:02d}-{page.slug}-dark.png"
        stats = check_screenshot(browser.page.screenshot(path), *DESKTOP, path.name)
        assert stats["mean"] < 128, stats   # mostly dark pixels
        assert_no_problems(browser, page)
    finally:
        browser.page.set_color_scheme(None)


def server_log_errors(server: Server) -> list[str]:
    """Lines of the server's log (ANSI colours removed) that tell of a traceback or an error."""
    log = re.sub(r"\x1b\[[0-9;]*m", "", server.log_text())
    return [line for line in log.splitlines()
            if "Traceback" in line or re.search(r"\b\w*(Error|Exception):", line)]


def test_server_log_has_no_traceback(browser, dashboard):
    """Runs last in this module: everything the pages above did left no traceback in the log."""
    errors = server_log_errors(dashboard)
    assert not errors, "\n".join(errors[:20]) + "\n" + dashboard.log_text()[-6000:]
