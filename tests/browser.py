"""A real headless Chromium (Debian's package, started here) driven by Playwright, for the interactive map's tests.

The browser runs offline: the page must need nothing but itself. ``make test`` installs Chromium (``make browser``);
without it the browser tests fail, naming what to install, unless IMAGESPACE_ALLOW_NO_BROWSER=1 lets them skip.
"""

from __future__ import annotations

import contextlib
import os
import shutil

import pytest

# the flags a root, offline, GPU-less machine needs (no sandbox as root; no background connections to fail)
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

# the plot view of the page's map (Bokeh's view tree), to turn data coordinates into pixels
FIND_PLOT = """() => {
  function find(v) { if (v.frame && v.model && v.model.name === 'map') return v;
    for (const c of (v.child_views || [])) { const r = find(c); if (r) return r; } return null; }
  for (const v of Object.values(Bokeh.index)) { const r = find(v); if (r) return r; }
  return null; }"""


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("IMAGESPACE_ALLOW_NO_BROWSER") == "1":
            pytest.skip("Chromium is not installed (make browser installs it)")
        raise AssertionError("Chromium is not installed: `make browser` (Debian package chromium) installs it")
    return path


@contextlib.contextmanager
def page(url: str, width: int = 1300, height: int = 850):
    """(page, outside): a loaded page in an offline browser, and the list of requests it made beyond itself."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=ARGS)
        try:
            context = browser.new_context(offline=True, viewport={"width": width, "height": height})
            pg = context.new_page()
            outside: list[str] = []
            pg.on("request", lambda r: None if r.url.startswith(("file:", "data:", "blob:")) else outside.append(r.url))
            errors: list[str] = []
            pg.on("pageerror", lambda e: errors.append(str(e)))
            pg.goto(url)
            pg.wait_for_function(
                "() => window.Bokeh && Bokeh.documents.length > 0 && Object.keys(Bokeh.index).length > 0",
                timeout=60_000,
            )
            pg.wait_for_function(
                f"() => {{ const v = ({FIND_PLOT})(); return v !== null && v.frame.bbox.width > 0; }}", timeout=60_000
            )
            yield pg, outside, errors
        finally:
            browser.close()


def points(pg) -> dict:
    """The page's data: number of points, finite ones on the shown map, the select widgets' options."""
    return pg.evaluate("""() => { const doc = Bokeh.documents[0];
      const d = doc.get_model_by_name('points').data_source.data;
      let shown = 0; for (let i = 0; i < d.x.length; i++) if (isFinite(d.x[i]) && isFinite(d.y[i])) shown++;
      return {n: d.x.length, shown,
              maps: doc.get_model_by_name('map_select').options, colourings:
              doc.get_model_by_name('colour_select').options,
              highlight: doc.get_model_by_name('highlight_select').options,
              selected: doc.get_model_by_name('points').data_source.selected.indices.length}; }""")


def hover(pg, i: int) -> dict:
    """Move the real mouse onto point *i*; the tooltip's thumbnail and text as the DOM shows them."""
    xy = pg.evaluate(f"""() => {{ const v = ({FIND_PLOT})(); const d = v.model.renderers[0].data_source.data;
      const r = v.el.getBoundingClientRect();
      return {{x: r.left + v.frame.x_scale.compute(d.x[{i}]), y: r.top + v.frame.y_scale.compute(d.y[{i}]), name:
      d.name[{i}]}}; }}""")
    pg.mouse.move(xy["x"] - 30, xy["y"] - 30)
    pg.mouse.move(xy["x"], xy["y"], steps=5)
    pg.wait_for_function(
        """() => { let ok = false;
      function walk(root) { for (const e of root.querySelectorAll('img.is-thumb')) if (e.getBoundingClientRect().width >
      0) ok = true;
        for (const e of root.querySelectorAll('*')) if (e.shadowRoot) walk(e.shadowRoot); }
      walk(document); return ok; }""",
        timeout=10_000,
    )
    tip = pg.evaluate("""() => { const out = [];
      function walk(root) { for (const e of root.querySelectorAll('.is-tip')) {
          const img = e.querySelector('img.is-thumb'); const r = img.getBoundingClientRect();
          if (r.width > 0) out.push({src: img.getAttribute('src'), width: img.naturalWidth, shown: r.width, text:
          e.innerText}); }
        for (const e of root.querySelectorAll('*')) if (e.shadowRoot) walk(e.shadowRoot); }
      walk(document); return out; }""")
    return {"point": xy, "tips": tip}


def choose(pg, widget: str, value: str) -> None:
    """Pick *value* in the select widget named *widget*, as a user does (the native <select> inside Bokeh's shadow
    DOM)."""
    title = {"map_select": "Map", "colour_select": "Colour by", "highlight_select": "Highlight"}[widget]
    pg.get_by_label(title).select_option(value)
    pg.wait_for_timeout(300)
