"""The degeneracy check of maps and embeddings, the robust display limits of the map figures, and the summary's
warnings from the stored numbers (generated data; the workflow run is in test_workflow.py)."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from imagespace import report
from imagespace.report import degeneracy, plots
from imagespace.report.md_format import degeneracy_cells

LIMITS = {"min_spread_ratio": 0.05, "max_far_share": 0.005, "max_spot_share": 0.05}


def collapsed_map(seed=0, n_line=970, n_far=30):
    """Points on a line (tiny jitter across it) and a clump of *n_far* points on one far spot."""
    rng = np.random.default_rng(seed)
    line = np.c_[rng.uniform(-1, 1, n_line), rng.normal(0, 1e-4, n_line)]
    clump = np.tile([0.0, 25.0], (n_far, 1))
    return np.vstack([line, clump])


def blob(seed=0, n=1000):
    return np.random.default_rng(seed).normal(size=(n, 2))


def tsne_like(seed=0, n_per=150, k=8):
    """Round clusters on a ring, as t-SNE draws classes."""
    rng = np.random.default_rng(seed)
    angles = np.linspace(0, 2 * np.pi, k, endpoint=False)
    centres = 10 * np.c_[np.cos(angles), np.sin(angles)]
    return np.vstack([c + rng.normal(0, 1.0, (n_per, 2)) for c in centres])


def test_collapsed_map_with_a_far_clump_is_flagged():
    Y = collapsed_map()
    c = degeneracy.check(Y)
    assert c["spread_ratio"] < 0.01
    assert c["n_far"] == 30 and c["far_share"] == pytest.approx(0.03)
    assert c["largest_spot"] == 30 and c["n_in_spots"] >= 30
    found = degeneracy.problems(c, **LIMITS)
    assert any("collapsed" in p for p in found)
    assert any("30 of 1000 points" in p and "far outside the bulk" in p for p in found)


@pytest.mark.parametrize("make", [blob, tsne_like])
def test_good_two_dimensional_spreads_pass(make):
    Y = make()
    c = degeneracy.check(Y)
    assert c["spread_ratio"] > 0.5
    assert c["n_far"] == 0 and c["n_spots"] == 0
    assert degeneracy.problems(c, **LIMITS) == []


def test_check_is_invariant_to_scale_and_rotation():
    Y = tsne_like(seed=3)
    theta = 0.7
    R = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    a, b = degeneracy.check(Y), degeneracy.check(1e-3 * Y @ R.T + 5.0)
    assert a["n_far"] == b["n_far"] and a["n_spots"] == b["n_spots"]
    assert (
        abs(a["spread_ratio"] - b["spread_ratio"]) < 0.1
    )  # the central box is axis-aligned: a rotation moves it a little


def test_far_held_out_points_are_counted_and_warned():
    Y = blob(seed=1)
    rng = np.random.default_rng(2)
    held = np.vstack([rng.normal(size=(190, 2)), rng.normal([80.0, -60.0], 1.0, (10, 2))])
    c = degeneracy.check(Y, held_out=held)
    assert c["n_far"] == 0
    assert c["held_out"] == {"n": 200, "n_far": 10, "far_share": 0.05}
    found = degeneracy.problems(c, **LIMITS)
    assert any("10 of 200 held-out points" in p for p in found)
    assert degeneracy.problems(degeneracy.check(Y, held_out=held[:190]), **LIMITS) == []


def test_points_on_one_spot_are_counted():
    Y = np.vstack([blob(seed=4, n=900), np.tile([0.3, -0.2], (100, 1))])
    c = degeneracy.check(Y)
    assert c["largest_spot"] == 100 and c["n_spots"] == 1
    assert any("piled onto 1 spot" in p for p in degeneracy.problems(c, **LIMITS))


def test_k_dimensional_embedding_with_a_collapsed_axis():
    rng = np.random.default_rng(5)
    Y = np.c_[rng.normal(size=(800, 1)), 1e-5 * rng.normal(size=(800, 7))]
    assert degeneracy.check(Y)["spread_ratio"] < 0.01
    assert degeneracy.check(rng.normal(size=(800, 8)))["spread_ratio"] > 0.5


def test_disconnected_neighbour_graph_is_named_as_the_cause():
    rng = np.random.default_rng(6)
    X = np.vstack([rng.normal(0, 1, (50, 5)), rng.normal(100, 1, (40, 5)), rng.normal(-100, 1, (30, 5))])
    g = degeneracy.neighbour_components(X, 5)
    assert g["n_components"] == 3 and g["sizes"] == [50, 40, 30]
    c = {**degeneracy.check(collapsed_map()), "method": "lle", "neighbour_graph": g}
    assert "disconnected: 3 components" in degeneracy.problems(c, **LIMITS)[-1]
    assert degeneracy.neighbour_components(rng.normal(size=(100, 5)), 10)["n_components"] == 1


def test_robust_limits_cover_the_bulk_and_leave_out_a_far_clump():
    Y = collapsed_map()
    _, (_, y1), inside = plots.robust_limits(Y)
    assert inside.mean() >= 0.95
    assert not inside[-30:].any() and inside[:-30].all()
    assert y1 < 1.0  # the frame is the line's, not stretched to the clump at y = 25
    inside = plots.robust_limits(tsne_like())[2]
    assert inside.all()  # nothing far: the full extent


@pytest.mark.parametrize("make", [collapsed_map, lambda: np.vstack([blob(seed=7), [[60.0, 60.0], [-70.0, 50.0]]])])
def test_map_figures_frame_the_bulk_and_count_the_far_points(make, tmp_path):
    Y = make()
    n_far = int((~plots.robust_limits(Y)[2]).sum())
    assert n_far in (30, 2)
    labels = np.repeat(["a", "b"], [len(Y) // 2, len(Y) - len(Y) // 2])
    fig = plots.scatter_by_label(Y, labels, tmp_path / "labels.png", title="map")
    ax = fig.axes[0]
    inside = (
        (Y[:, 0] >= ax.get_xlim()[0])
        & (Y[:, 0] <= ax.get_xlim()[1])
        & (Y[:, 1] >= ax.get_ylim()[0])
        & (Y[:, 1] <= ax.get_ylim()[1])
    )
    assert inside.mean() >= 0.95 and (~inside).sum() == n_far
    assert f"{n_far} of {len(Y)} points far outside the frame" in ax.get_title()
    images = np.zeros((len(Y), 8, 8), dtype=np.uint8)
    fig = plots.thumbnails(Y, images, labels, tmp_path / "thumbs.png", n=20, title="map")
    assert f"{n_far} of {len(Y)} points" in fig.axes[0].get_title()
    assert (tmp_path / "labels.png").stat().st_size > 0 and (tmp_path / "thumbs.png").stat().st_size > 0


def test_cluster_map_panels_frame_the_bulk(tmp_path):
    from imagespace.report import clustermaps

    Y = collapsed_map()
    ids = np.array([f"i{j}" for j in range(len(Y))])
    fig_path = tmp_path / "maps.png"
    shown = clustermaps.plot_on_maps(
        {"lle": (ids, Y), "blob": (ids, blob(n=len(Y)))},
        {"pca / kmeans": {i: j % 3 for j, i in enumerate(ids)}, "pca / half": {i: 0 for i in ids[: len(ids) // 2]}},
        fig_path,
    )
    assert fig_path.stat().st_size > 0
    # a row per clustering, a panel per map; images a clustering did not assign are grey, not counted
    assert shown == {
        "pca / kmeans": {"lle": len(Y), "blob": len(Y)},
        "pca / half": {"lle": len(Y) // 2, "blob": len(Y) // 2},
    }
    # sixty clusterings (clustering.feature_sets: all): the panels shrink, the image stays a few thousand pixels tall
    many = {f"set{j} / kmeans": {i: j % 4 for i in ids[:50]} for j in range(60)}
    clustermaps.plot_on_maps({"lle": (ids[:50], Y[:50]), "blob": (ids[:50], blob(n=50))}, many, fig_path)
    height = int.from_bytes(fig_path.read_bytes()[20:24], "big")  # the PNG header's
    assert 60 * 1.2 * 110 * 0.9 < height < 60 * 1.3 * 110
    labels = np.where(np.arange(len(Y)) < 500, "a", "b")
    clustermaps.plot_kmeans_regions(Y, labels, k=2, seed=0, path=tmp_path / "km.png")
    assert (tmp_path / "km.png").stat().st_size > 0


def test_edge_marker_points_are_drawn_inside_the_frame():
    fig = Figure()
    ax = fig.subplots()
    Y = collapsed_map()
    assert plots.frame_bulk(ax, Y) == 30
    drawn = ax.collections[-1].get_offsets()
    assert len(drawn) == 30
    assert (drawn[:, 1] <= ax.get_ylim()[1]).all() and (drawn[:, 1] >= ax.get_ylim()[0]).all()


def test_summary_warns_from_the_stored_numbers():
    good = {"method": "tsne", **degeneracy.check(tsne_like())}
    bad = {
        "method": "lle",
        **degeneracy.check(collapsed_map()),
        "neighbour_graph": {"n_neighbors": 5, "n_components": 4, "sizes": [900, 60, 30, 10]},
    }
    out = {"degeneracy": {"tsne map": good, "lle map": bad}}
    warn = report.degeneracy_warnings(out, {"min_spread_ratio": 0.05, "max_far_share": 0.005, "max_spot_share": 0.05})
    assert len(warn) == 1 and warn[0].startswith("lle map is degenerate: collapsed")
    assert "disconnected: 4 components" in warn[0]
    # the thresholds are the config's: a laxer one silences it
    assert report.degeneracy_warnings(out, {"min_spread_ratio": 0.0, "max_far_share": 0.5, "max_spot_share": 0.5}) == []
    cells = degeneracy_cells(bad)
    assert cells.startswith(f"{bad['spread_ratio']:.3f} | 30 |")


def test_check_defaults_are_the_schemas():
    d = degeneracy.settings()
    c = degeneracy.check(blob())
    assert (c["far_factor"], c["spot_tol"], c["min_spot_size"]) == (d["far_factor"], d["spot_tol"], d["min_spot_size"])
    assert degeneracy.check(blob(), far_factor=0.5)["n_far"] > 0  # a setting given wins


def test_interactive_map_opens_on_each_maps_bulk():
    import json
    import re

    import pandas as pd

    from imagespace.report import explore

    Y = collapsed_map()
    n = len(Y)
    ids = [f"i{j}" for j in range(n)]
    manifest = pd.DataFrame(
        {
            "id": ids,
            "name": [f"{i}.png" for i in ids],
            "label": np.where(np.arange(n) % 2, "a", "b"),
            "split": "train",
            "index": np.arange(n),
        }
    )
    maps = {"lle": (np.array(ids), Y), "blob": (np.array(ids), blob(n=n))}
    page, described = explore.build_page(manifest, maps, {}, thumbnails=0, title="t")
    assert described["outside_first_view"] == {"lle": 30, "blob": 0}
    (x0, x1), (y0, y1), _ = plots.robust_limits(Y)
    # the first map's view is its bulk (the clump at y = 25 outside it); every point stays in the page's data
    starts = {float(v) for v in re.findall(r'"start":\s*([-0-9.e]+)', page)}
    ends = {float(v) for v in re.findall(r'"end":\s*([-0-9.e]+)', page)}
    assert any(abs(v - y0) < 1e-9 for v in starts) and any(abs(v - y1) < 1e-9 for v in ends) and y1 < 1.0
    assert "30 outside the first view" in page or "lle: 30" in page
    assert json.dumps(described)  # serialisable, as explore writes it
