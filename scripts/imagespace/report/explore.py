"""The interactive map of a dataset: one self-contained HTML page (Bokeh, its JavaScript inlined, WebGL).

Every 2-D map of the run (PCA, the manifold embeddings, the first two principal components of the feature
sets of trained and pretrained networks and of the descriptors, the human space and its predictions) can be
shown, coloured by label, subtype, split, any clustering, any human dimension and, where the curation stage ran,
the label-issue score, the outlier score and the suspected mislabels (to highlight). Hovering a point shows its
thumbnail (for all images up to ``thumbnails``, for a stratified sample above), file name, label and the
colouring's value; choosing a value under "highlight" selects its points and fades the others.

The page needs nothing but itself: no CDN, no server, no image files beside it.
"""

from __future__ import annotations

import base64
import html
import io

import numpy as np

# colours of a categorical colouring: Bokeh's Category20 (then grey for the rest, "other")
NOISE_COLOUR = "#bbbbbb"
# the tooltip image of a point without a thumbnail (above explore.thumbnails): one transparent pixel
NO_THUMB = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"


def thumbnail_uri(img: np.ndarray, size: int) -> str:
    """A PNG data URI of one ingested image, its longer side *size* pixels."""
    from PIL import Image

    a = np.asarray(img)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.dtype != np.uint8:
        lo, hi = float(a.min()), float(a.max())
        a = ((a - lo) / (hi - lo if hi > lo else 1.0) * 255).astype(np.uint8)
    im = Image.fromarray(a)
    scale = size / max(im.size)
    if scale < 1:
        im = im.resize((max(1, round(im.size[0] * scale)), max(1, round(im.size[1] * scale))), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _categorical(values) -> tuple[list[str], list[str], list[str]]:
    """(colour per point, legend values, legend colours) of a categorical variable; the 20 largest values get
    their own colour (Category10 up to 10 values, else Category20), the rest share grey. Cluster -1 (noise) and
    a missing value are grey."""
    from bokeh.palettes import Category10, Category20

    from imagespace.io import natural_key

    values = np.asarray(values).astype(str)
    uniq, counts = np.unique(values, return_counts=True)
    order = [u for _, u in sorted(zip(-counts, uniq.tolist()), key=lambda t: (t[0], natural_key(t[1])))]
    named = [u for u in order if u not in ("-1", "")][:20]
    palette = Category10[10] if len(named) <= 10 else Category20[20]
    colour = {u: palette[i] for i, u in enumerate(sorted(named, key=natural_key))}
    out = [colour.get(v, NOISE_COLOUR) for v in values.tolist()]
    legend = sorted(named, key=natural_key)
    return out, legend, [colour[v] for v in legend]


def _continuous(values) -> list[str]:
    from bokeh.palettes import Viridis256

    v = np.asarray(values, dtype=float)
    ok = np.isfinite(v)
    out = np.full(len(v), NOISE_COLOUR, dtype=object)
    if ok.any():
        lo, hi = np.quantile(v[ok], [0.02, 0.98])
        t = np.clip((v[ok] - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
        out[ok] = [Viridis256[int(round(x * 255))] for x in t]
    return out.tolist()


def feature_map(X: np.ndarray, seed: int = 0) -> np.ndarray:
    """The first two principal components of standardised features: the map of a feature set that has none."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    X = np.asarray(X, dtype=np.float64)
    keep = X.std(axis=0) > 0
    Z = StandardScaler().fit_transform(X[:, keep]) if keep.any() else np.zeros((len(X), 1))
    n = min(2, Z.shape[1], len(Z))
    Y = PCA(n_components=n, random_state=seed, svd_solver="randomized" if min(Z.shape) > 500 else "full").fit_transform(
        Z
    )
    return np.hstack([Y, np.zeros((len(Y), 2 - n))])


def build_page(
    manifest,
    maps: dict,
    colourings: dict,
    *,
    images=None,
    thumbnails: int = 3000,
    thumbnail_size: int = 64,
    seed: int = 0,
    title: str = "",
) -> tuple[str, dict]:
    """The page's HTML and a description of what it holds.

    Parameters
    ----------
    manifest : pandas.DataFrame
        The ingest manifest (``id``, ``name``, ``label``, ``split``, ``index``: row of *images*).
    maps : dict
        {name: (ids, Y n x 2)}; points missing from a map are hidden there.
    colourings : dict
        {name: (kind, {id: value})}, kind "categorical" or "continuous"; label, subtype and split are added here.
    images : numpy.ndarray, optional
        The ingested images (thumbnails); None: no thumbnails.
    thumbnails : int
        At most this many thumbnails: every image up to it, else a stratified, seeded sample of that many.
    thumbnail_size : int
        A thumbnail's longer side in pixels.
    seed : int
        The seed of the thumbnails' sample.
    title : str
        The page's title.

    Returns
    -------
    tuple of (str, dict)
        The HTML and its description (``n_points``, ``n_thumbnails``, ``maps``: points per map, ``colourings``:
        kind per colouring, ``outside_first_view``: points outside each map's first view).
    """
    from bokeh.embed import file_html
    from bokeh.layouts import column, row
    from bokeh.models import ColumnDataSource, Div
    from bokeh.resources import INLINE

    from imagespace.io import own_image_mask

    if not maps:
        raise ValueError("no 2-D map to show")
    m = manifest.loc[own_image_mask(manifest)].reset_index(drop=True)
    ids = m["id"].astype(str).to_numpy()
    n = len(ids)
    data = {
        "id": ids.tolist(),
        "name": m["name"].astype(str).tolist(),
        "label": m["label"].astype(str).tolist(),
        "split": m["split"].astype(str).tolist(),
    }
    cols = {**_manifest_colourings(m, ids), **colourings}
    data["thumb"], with_thumb = _thumbnails(m, images, thumbnails=thumbnails, size=thumbnail_size, seed=seed)
    described = {
        "n_points": n,
        "n_thumbnails": int(len(with_thumb)),
        "maps": {},
        "colourings": {},
        "outside_first_view": {},
    }
    views = _map_columns(maps, ids, data, described)
    legends = _colour_columns(cols, ids, data, described)
    first_map, first_col = list(maps)[0], next(iter(cols))
    data["x"], data["y"] = data[f"x__{first_map}"].copy(), data[f"y__{first_map}"].copy()
    data["colour"], data["value"] = list(data[f"c__{first_col}"]), list(data[f"v__{first_col}"])
    source = ColumnDataSource(data, name="points_source")
    p = _figure(source, views[first_map], n=n, title=f"{title}: {first_map}")
    legend_div = Div(text="", name="legend", width=260)
    info = Div(text=_info_text(n, len(with_thumb), described["outside_first_view"]), width=260, name="info")
    selects = _controls(source, p, views=views, legends=legends, legend_div=legend_div, first=(first_map, first_col))
    # the legend of the first colouring, drawn in Python
    legend_div.text = (
        "".join(
            f'<div><span style="display:inline-block;width:12px;height:12px;background:{c};'
            f'margin-right:6px"></span>{html.escape(v)}</div>'
            for v, c in legends[first_col]
        )
        or "<p><i>continuous: dark = low, yellow = high (2%-98% range)</i></p>"
    )
    data["value"] = [("" if v == "" else f"{first_col}: {v}") for v in data[f"v__{first_col}"]]
    source.data["value"] = data["value"]
    layout = row(p, column(*selects, info, legend_div))
    page = file_html(layout, resources=INLINE, title=f"imagespace: {title}")
    return page, described


def _manifest_colourings(m, ids) -> dict:
    """The colourings every page has: label, and subtype and split where they tell something."""
    cols = {"label": ("categorical", dict(zip(ids, m["label"].astype(str))))}
    if (
        "subtype" in m.columns
        and m["subtype"].astype(str).str.len().gt(0).any()
        and (m["subtype"].astype(str) != m["label"].astype(str)).any()
    ):
        cols["subtype"] = ("categorical", dict(zip(ids, m["subtype"].astype(str))))
    if m["split"].nunique() > 1:
        cols["split"] = ("categorical", dict(zip(ids, m["split"].astype(str))))
    return cols


def _thumbnails(m, images, *, thumbnails: int, size: int, seed: int) -> tuple[list[str], np.ndarray]:
    """(a data URI per point, the rows with a thumbnail): every image up to *thumbnails*, else a stratified, seeded
    sample of that many; none without *images*."""
    from imagespace.sampling import stratified_sample

    n = len(m)
    thumb = [NO_THUMB] * n
    with_thumb = (
        np.arange(n)
        if n <= thumbnails
        else (
            stratified_sample(n, thumbnails, seed, m["label"].to_numpy()) if thumbnails > 0 else np.array([], dtype=int)
        )
    )
    if images is None:
        return thumb, np.array([], dtype=int)
    index = m["index"].to_numpy() if "index" in m.columns else np.arange(n)
    for r in with_thumb.tolist():
        thumb[r] = thumbnail_uri(images[index[r]], size)
    return thumb, with_thumb


def _map_columns(maps: dict, ids, data: dict, described: dict) -> dict:
    """Each map's coordinates as columns of *data* (NaN where a map lacks a point); returns each map's first view
    [x0, x1, y0, y1]: its bulk (plots.robust_limits); panning and zooming out show every point."""
    from imagespace.report.plots import robust_limits

    n = len(ids)
    pos = {i: r for r, i in enumerate(ids.tolist())}
    views = {}
    for name in list(maps):
        mids, Y = maps[name]
        x = np.full(n, np.nan)
        y = np.full(n, np.nan)
        rows = [pos.get(str(i), -1) for i in np.asarray(mids).astype(str)]
        ok = np.array([r >= 0 for r in rows], dtype=bool)
        r_ok = np.array([r for r in rows if r >= 0], dtype=int)
        x[r_ok], y[r_ok] = np.asarray(Y)[ok, 0], np.asarray(Y)[ok, 1]
        # float arrays travel as base64 binary in the page, not as JSON lists
        data[f"x__{name}"], data[f"y__{name}"] = x.astype(np.float32), y.astype(np.float32)
        described["maps"][name] = int(np.isfinite(x).sum())
        xy = np.c_[x, y][np.isfinite(x) & np.isfinite(y)]
        (x0, x1), (y0, y1), inside = robust_limits(xy) if len(xy) else ((-1.0, 1.0), (-1.0, 1.0), np.zeros(0, bool))
        views[name] = [x0, x1, y0, y1]
        described["outside_first_view"][name] = int((~inside).sum())
    return views


def _colour_columns(cols: dict, ids, data: dict, described: dict) -> dict:
    """Each colouring's colours and values as columns of *data*; returns its legend ([value, colour] pairs; none
    for a continuous one)."""
    legends = {}
    for name, (kind, values) in cols.items():
        vals = [values.get(i) for i in ids.tolist()]
        if kind == "categorical":
            v = ["" if a is None else str(a) for a in vals]
            data[f"c__{name}"], legend, colours = _categorical(v)
            data[f"v__{name}"] = v
            legends[name] = [[a, c] for a, c in zip(legend, colours)]
        else:
            v = [np.nan if a is None else float(a) for a in vals]
            data[f"c__{name}"] = _continuous(v)
            data[f"v__{name}"] = [("" if not np.isfinite(a) else f"{a:.3g}") for a in v]
            legends[name] = []
        described["colourings"][name] = kind
    return legends


def _figure(source, v: list, *, n: int, title: str):
    """The WebGL scatter plot, opened on the view *v*, with the hover card (thumbnail, name, label, split)."""
    from bokeh.models import HoverTool, Range1d
    from bokeh.plotting import figure

    p = figure(
        width=900,
        height=720,
        output_backend="webgl",
        tools="pan,wheel_zoom,box_zoom,box_select,tap,reset,save",
        active_scroll="wheel_zoom",
        title=title,
        name="map",
        x_range=Range1d(v[0], v[1], reset_start=v[0], reset_end=v[1]),
        y_range=Range1d(v[2], v[3], reset_start=v[2], reset_end=v[3]),
    )
    renderer = p.scatter(
        "x",
        "y",
        source=source,
        size=7 if n < 2000 else (5 if n < 20000 else 3),
        fill_color="colour",
        line_color=None,
        fill_alpha=0.8,
        nonselection_fill_alpha=0.08,
        selection_fill_alpha=1.0,
        name="points",
    )
    hover = HoverTool(
        renderers=[renderer],
        tooltips="""
        <div class="is-tip" style="max-width:220px">
          <img class="is-thumb" src="@thumb" style="width:96px;height:auto;image-rendering:pixelated" alt="">
          <div><b>@name</b></div>
          <div>label: @label · split: @split</div>
          <div class="is-value">@value</div>
        </div>""",
    )
    p.add_tools(hover)
    return p


def _info_text(n: int, n_thumbs: int, outside: dict) -> str:
    """The page's note: how many images and thumbnails, how to use it, points outside each map's first view."""
    return (
        f"<p>{n} images · {n_thumbs} with a thumbnail"
        + (" (a stratified sample)" if 0 < n_thumbs < n else "")
        + ". Hover a point for its image; drag to pan, scroll to zoom, box-select or highlight to pick. "
        "Each map opens on its bulk (at least 95% of the points); zoom out for far points"
        + (
            " (" + ", ".join(f"{k}: {c}" for k, c in outside.items() if c) + " outside the first view)"
            if any(outside.values())
            else ""
        )
        + ".</p>"
    )


# the legend of a colouring, drawn in the browser when another colouring is chosen
DRAW_LEGEND = """
        function esc(t) { return String(t).replace(/[&<>"']/g, ch => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[ch])); }
        function legend_html(key) {
          const items = legends[key] || [];
          if (!items.length) return '<p><i>continuous: dark = low, yellow = high (2%-98% range)</i></p>';
          return items.map(([v, c]) => `<div><span style="display:inline-block;width:12px;height:12px;background:${c};margin-right:6px"></span>${esc(v)}</div>`).join('');
        }
    """  # noqa: E501
ON_MAP = """
        const d = source.data, key = cb_obj.value, keep = source.selected.indices.slice();
        d.x = d['x__' + key].slice(); d.y = d['y__' + key].slice();
        plot.title.text = plot.title.text.split(': ')[0] + ': ' + key;
        const v = views[key];  // the new map's bulk, also where reset returns
        plot.x_range.setv({start: v[0], end: v[1], reset_start: v[0], reset_end: v[1]});
        plot.y_range.setv({start: v[2], end: v[3], reset_start: v[2], reset_end: v[3]});
        source.change.emit();
        source.selected.indices = keep;  // the highlighted class or cluster stays highlighted on the new map
        source.selected.change.emit();
    """
ON_COLOUR = """
        const d = source.data, key = cb_obj.value;
        d.colour = d['c__' + key].slice(); d.value = d['v__' + key].map(v => v === '' ? '' : key + ': ' + v);
        source.selected.indices = [];
        source.change.emit();
        hi.options = ['(none)'].concat((legends[key] || []).map(x => x[0]));
        hi.value = '(none)';
        legend.text = legend_html(key);
    """
ON_HIGHLIGHT = """
        const v = cb_obj.value, vals = source.data['v__' + colour.value];
        const idx = [];
        if (v !== '(none)') for (let i = 0; i < vals.length; i++) if (vals[i] === v) idx.push(i);
        source.selected.indices = idx;
        source.selected.change.emit();
        source.change.emit();
    """


def _controls(source, p, *, views: dict, legends: dict, legend_div, first: tuple[str, str]) -> list:
    """The map, colouring and highlight menus, their callbacks in the browser wired."""
    from bokeh.models import CustomJS, Select

    first_map, first_col = first
    map_select = Select(title="Map", value=first_map, options=list(views), name="map_select", width=260)
    col_select = Select(title="Colour by", value=first_col, options=list(legends), name="colour_select", width=260)
    first_values = [lab for lab, _ in legends[first_col]]
    hi_select = Select(
        title="Highlight", value="(none)", options=["(none)", *first_values], name="highlight_select", width=260
    )
    map_select.js_on_change("value", CustomJS(args=dict(source=source, plot=p, views=views), code=ON_MAP))
    on_colour = CustomJS(
        args=dict(source=source, hi=hi_select, legend=legend_div, legends=legends), code=DRAW_LEGEND + ON_COLOUR
    )
    col_select.js_on_change("value", on_colour)
    hi_select.js_on_change("value", CustomJS(args=dict(source=source, colour=col_select), code=ON_HIGHLIGHT))
    return [map_select, col_select, hi_select]


#: the value of a suspected mislabel in the colouring "suspected mislabels" (the one to highlight), and of the others
MISLABEL, NOT_FLAGGED = "suspected mislabel", "not flagged"


def curation_colourings(scores) -> dict:
    """The colourings of the curation stage: "label-issue score" and "outlier score" (continuous), and "suspected
    mislabels" (categorical: :data:`MISLABEL` or :data:`NOT_FLAGGED`, so that the highlight menu selects them).

    Parameters
    ----------
    scores : pandas.DataFrame
        ``curation/scores.tsv`` (``id``, ``label_issue_score``, ``outlier_score``, ``label_issue``; a score is
        empty where the curation assessed nothing).

    Returns
    -------
    dict
        ``{name: (kind, {id: value})}`` for :func:`build_page`.
    """
    import pandas as pd

    ids = scores["id"].astype(str).tolist()
    flagged = scores["label_issue"].astype(str).str.lower().isin(["true", "1"]).tolist()
    out = {}
    for name, col in (("label-issue score", "label_issue_score"), ("outlier score", "outlier_score")):
        v = pd.to_numeric(scores[col], errors="coerce").to_numpy(dtype=float)
        out[name] = ("continuous", {i: x for i, x in zip(ids, v.tolist()) if np.isfinite(x)})
    out["suspected mislabels"] = ("categorical", {i: MISLABEL if f else NOT_FLAGGED for i, f in zip(ids, flagged)})
    return out


def from_files(
    manifest_path,
    images_path,
    *,
    maps: list,
    features: list,
    clusters: list,
    human: list,
    settings: dict,
    human_sets=(),
    curation=(),
    title: str = "",
) -> tuple[str, dict]:
    """:func:`build_page` on the workflow's files. *maps*: results/<d>/maps/<method>.npz; *features*:
    results/<d>/features/<fs>.npz (those in *human_sets* are drawn on their first two dimensions, the others on
    their first two principal components); *clusters*: clustering/<fs>/<method>/assignments.tsv; *human*: the
    human-space tables (human/<split>.tsv): the map "human space" and one colouring per dimension; *curation*:
    curation/scores.tsv where the curation stage ran (:func:`curation_colourings`), else empty."""
    from pathlib import Path

    import pandas as pd

    from imagespace.io import load_features, load_human_table, load_images, load_manifest

    manifest = load_manifest(manifest_path)
    out_maps: dict = {}
    for path in maps:
        f = load_features(path)
        out_maps[Path(path).stem] = (f.ids, f.X[:, :2])
    if human:
        parts = [load_human_table(p) for p in human]
        h_ids = np.concatenate([i for i, _ in parts])
        H = np.vstack([h for _, h in parts])
        if H.shape[1] >= 2:
            out_maps["human space"] = (h_ids, H[:, :2])
    for path in features:
        fs = Path(path).stem
        f = load_features(path)
        if f.X.shape[1] < 2:
            continue
        out_maps[fs] = (f.ids, f.X[:, :2] if fs in human_sets else feature_map(f.X, settings["seed"]))
    colourings: dict = {}
    for path in clusters:
        p = Path(path)
        a = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
        colourings[f"clusters {p.parent.parent.name}/{p.parent.name}"] = (
            "categorical",
            dict(zip(a["id"], a["cluster"])),
        )
    if human:
        for j in range(H.shape[1]):
            colourings[f"human dim_{j + 1}"] = ("continuous", dict(zip(h_ids.tolist(), H[:, j].tolist())))
    for path in curation:
        colourings |= curation_colourings(pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False))
    return build_page(
        manifest,
        out_maps,
        colourings,
        images=load_images(images_path),
        thumbnails=settings["thumbnails"],
        thumbnail_size=settings["thumbnail_size"],
        seed=settings["seed"],
        title=title,
    )
