"""Figures that scale with the number of classes (issue 12, "Done means"): a generated 60-class image set gives a
t-SNE map with at most 20 legend entries and a cluster gallery that says what it leaves out, and the classes'
colours stay perceptually apart.

The data set is written as class folders of PNGs in tmp_path and goes through the functions the rules call:
ingest (rule ingest), t-SNE (rule map_embed), the label map and the thumbnail map (rule plot_map), k-means and the
gallery (rule cluster_kmeans). The assertions are on the returned matplotlib figures.

Colour distance is CIEDE2000 (ΔE00) between sRGB colours converted to CIELAB (D65), implemented below and checked
against Sharma, Wu & Dalal's published test pairs. The bound, ΔE00 > 5: about 1 is just noticeable between two large
patches side by side under controlled viewing; marks as small as scatter dots and legend symbols, on a screen, need
several times more (Stone, Szafir & Setlur, "An engineering model for color difference as a function of size",
2014), and differences of about 5 and up are the ones seen at a glance. The bound is not loose either: no palette of
many colours keeps them all far apart (the Glasbey palette used, greedy max-min, gets 6.35 at 60 colours and 5.03 up
to 193), whereas the former tab20 scheme repeated its colours after 20 classes (ΔE00 = 0).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from matplotlib import colormaps
from matplotlib.colors import to_rgb
from PIL import Image

from imagespace import cluster, embed
from imagespace import ingest as ING
from imagespace.io import load_images, load_manifest
from imagespace.report import plots

N_CLASSES = 60
MIN_DELTA_E = 5.0  # CIEDE2000; see the module docstring


# --------------------------------------------------------------------------- colour difference
def srgb_to_lab(rgb) -> np.ndarray:
    """sRGB in [0, 1] (..., 3 or 4; alpha ignored) -> CIELAB, D65 white point, 2° observer."""
    rgb = np.asarray(rgb, dtype=np.float64)[..., :3]
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    to_xyz = np.array(
        [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
    )
    xyz = lin @ to_xyz.T / np.array([0.95047, 1.0, 1.08883])
    eps, kappa = 216 / 24389, 24389 / 27
    f = np.where(xyz > eps, np.cbrt(xyz), (kappa * xyz + 16) / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def ciede2000(lab1, lab2) -> np.ndarray:
    """CIEDE2000 colour difference (kL = kC = kH = 1) between CIELAB colours (broadcast over leading axes)."""
    L1, a1, b1 = np.moveaxis(np.asarray(lab1, dtype=np.float64), -1, 0)
    L2, a2, b2 = np.moveaxis(np.asarray(lab2, dtype=np.float64), -1, 0)
    c_mean = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_mean**7 / (c_mean**7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p, h2p = np.degrees(np.arctan2(b1, a1p)) % 360, np.degrees(np.arctan2(b2, a2p)) % 360
    chroma0 = c1p * c2p == 0
    dh = h2p - h1p
    dh = np.where(chroma0, 0.0, np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh)))
    d_l, d_c, d_h = L2 - L1, c2p - c1p, 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))
    l_mean, cp_mean, hsum = (L1 + L2) / 2, (c1p + c2p) / 2, h1p + h2p
    h_mean = np.where(
        chroma0,
        hsum,
        np.where(np.abs(h1p - h2p) <= 180, hsum / 2, np.where(hsum < 360, (hsum + 360) / 2, (hsum - 360) / 2)),
    )
    t = (
        1
        - 0.17 * np.cos(np.radians(h_mean - 30))
        + 0.24 * np.cos(np.radians(2 * h_mean))
        + 0.32 * np.cos(np.radians(3 * h_mean + 6))
        - 0.20 * np.cos(np.radians(4 * h_mean - 63))
    )
    s_l = 1 + 0.015 * (l_mean - 50) ** 2 / np.sqrt(20 + (l_mean - 50) ** 2)
    s_c, s_h = 1 + 0.045 * cp_mean, 1 + 0.015 * cp_mean * t
    r_t = (
        -np.sin(np.radians(60 * np.exp(-(((h_mean - 275) / 25) ** 2))))
        * 2
        * np.sqrt(cp_mean**7 / (cp_mean**7 + 25.0**7))
    )
    return np.sqrt((d_l / s_l) ** 2 + (d_c / s_c) ** 2 + (d_h / s_h) ** 2 + r_t * (d_c / s_c) * (d_h / s_h))


def delta_e(colors_a, colors_b) -> np.ndarray:
    """ΔE00 between every colour of *colors_a* (rows) and of *colors_b* (columns), matplotlib colour specs."""
    a = srgb_to_lab(np.array([to_rgb(c) for c in colors_a]))
    b = srgb_to_lab(np.array([to_rgb(c) for c in colors_b]))
    return ciede2000(a[:, None, :], b[None, :, :])


def min_pairwise(colors) -> float:
    d = delta_e(colors, colors)
    return float(d[np.triu_indices(len(colors), 1)].min())


@pytest.mark.parametrize(
    "lab1, lab2, expected",
    [
        # pairs from the test data of Sharma, Wu & Dalal (2005), "The CIEDE2000 color-difference formula" (Table 1)
        ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
        ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
        ((50.0, 2.49, -0.001), (50.0, -2.49, 0.0009), 7.1792),
        ((50.0, 2.49, -0.001), (50.0, -2.49, 0.0011), 7.2195),
        ((50.0, -0.001, 2.49), (50.0, 0.0011, -2.49), 4.7461),
        ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
        ((22.7233, 20.0904, -46.6940), (23.0331, 14.9730, -42.5619), 2.0373),
    ],
)
def test_colour_difference_matches_the_published_test_data(lab1, lab2, expected):
    assert ciede2000(lab1, lab2) == pytest.approx(expected, abs=1e-4)
    assert srgb_to_lab([1.0, 1.0, 1.0]) == pytest.approx([100.0, 0.0, 0.0], abs=1e-3)


# --------------------------------------------------------------------------- the palette
def test_up_to_ten_classes_keep_the_tab10_colours():
    tab10 = [colormaps["tab10"](i) for i in range(10)]
    for n in range(1, 11):
        assert plots.class_colors(n) == tab10[:n]
    # more classes: the first ten keep their colours (a class added to a data set does not recolour the others)
    assert np.allclose(plots.class_colors(11)[:10], tab10, atol=1e-5)


@pytest.mark.parametrize("n", [11, 20, N_CLASSES, 87])
def test_many_classes_get_perceptually_distinct_colours(n):
    colors = plots.class_colors(n)
    assert len(colors) == n
    assert min_pairwise(colors) > MIN_DELTA_E
    # and none fades into the white axes
    assert delta_e(colors, ["white"]).min() > MIN_DELTA_E


def test_label_colours_follow_the_sorted_labels():
    labels = [f"c{i:02d}" for i in range(N_CLASSES)][::-1]
    colors = plots.label_colors(labels * 2)
    assert list(colors) == sorted(labels) and list(colors.values()) == plots.class_colors(N_CLASSES)


# --------------------------------------------------------------------------- the figures of a 60-class data set
@pytest.fixture(scope="module")
def sixty_classes(tmp_path_factory):
    """60 class folders of 4 to 8 small PNGs each (a blocky class pattern plus noise), ingested with a
    validation split, and their t-SNE map, as the workflow makes them."""
    base = tmp_path_factory.mktemp("sixty")
    rng = np.random.default_rng(0)
    raw = base / "raw"
    for c in range(N_CLASSES):
        pattern = np.kron(rng.integers(0, 256, size=(4, 4, 3)), np.ones((4, 4, 1)))
        folder = raw / f"class{c:02d}"
        folder.mkdir(parents=True)
        for i in range(4 + c % 5):
            img = np.clip(pattern + rng.normal(0, 12, pattern.shape), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(folder / f"img{i}.png")
    out = base / "ingest"
    ING.ingest(
        "sixty",
        {
            "source": {"type": "class_folders", "root": str(raw)},
            "images": {"size": [16, 16], "color": "rgb"},
            "validation_fraction": 0.25,
        },
        out / "manifest.tsv",
        out / "images.npy",
        out / "skipped.tsv",
        out / "info.json",
    )
    manifest = load_manifest(out / "manifest.tsv")
    images = load_images(out / "images.npy")
    X = images[manifest["index"].to_numpy()].reshape(len(manifest), -1).astype(np.float64) / 255.0
    Y, _, _ = embed.embed("tsne", X, 2, embed.params_for("tsne", None), 0)
    return {"dir": base, "manifest": manifest, "images": images, "X": X, "Y": Y}


def legend_entries(fig):
    legend = fig.axes[0].get_legend()
    return [t.get_text() for t in legend.get_texts()], legend.legend_handles


def legend_beside_the_map(fig) -> bool:
    """The legend lies to the right of the axes (it hides no point of the map)."""
    fig.draw_without_rendering()
    ax = fig.axes[0]
    return ax.get_legend().get_window_extent().x0 >= ax.get_window_extent().x1


def class_counts(manifest) -> dict:
    return manifest["label"].value_counts().to_dict()


def check_class_legend(texts, handles, manifest, colors, handle_colour):
    """At most 20 entries; the listed classes are the largest, each in its map colour, and a last class entry says
    how many are not listed."""
    counts = class_counts(manifest)
    assert len(counts) == N_CLASSES
    assert len(texts) <= plots.MAX_LEGEND
    listed = [t for t in texts if t in counts]
    assert 10 <= len(listed) < N_CLASSES
    assert f"... {N_CLASSES - len(listed)} more classes not listed" in texts
    assert min(counts[c] for c in listed) >= max(n for c, n in counts.items() if c not in listed)
    for text, handle in zip(texts, handles):
        if text in counts:
            assert np.allclose(to_rgb(handle_colour(handle)), to_rgb(colors[text]))
    return listed


def test_the_t_sne_map_of_sixty_classes_lists_at_most_twenty(sixty_classes):
    d = sixty_classes
    m = d["manifest"]
    labels, splits = m["label"].to_numpy(), m["split"].to_numpy()
    assert set(splits) == {"train", "validation"}
    path = d["dir"] / "tsne_labels.png"
    # as rule plot_map draws it
    fig = plots.scatter_by_label(d["Y"], labels, path, title="sixty: tsne", marker_by=splits)
    assert path.read_bytes()[:4] == b"\x89PNG"
    colors = plots.label_colors(labels)
    texts, handles = legend_entries(fig)
    listed = check_class_legend(texts, handles, m, colors, lambda h: h.get_color())
    assert {"train", "validation"} <= set(texts)
    assert len(listed) == plots.MAX_LEGEND - 3  # + the note + two split markers = 20
    assert legend_beside_the_map(fig)

    # the map draws the 60 classes in 60 colours, and every listed class's colour is far from every other class's
    drawn = {tuple(np.round(c.get_facecolor()[0][:3], 6)) for c in fig.axes[0].collections if len(c.get_offsets())}
    assert len(drawn) == N_CLASSES
    d_e = delta_e([colors[c] for c in listed], list(drawn))
    d_e[d_e < 1e-6] = np.inf  # a class against itself
    assert d_e.min() > MIN_DELTA_E


def test_the_thumbnail_map_lists_at_most_twenty(sixty_classes):
    d = sixty_classes
    m = d["manifest"]
    labels = m["label"].to_numpy()
    fig = plots.thumbnails(
        d["Y"], d["images"][m["index"].to_numpy()], labels, d["dir"] / "tsne_thumbnails.png", n=150, title="sixty: tsne"
    )
    colors = plots.label_colors(labels)
    texts, handles = legend_entries(fig)
    listed = check_class_legend(texts, handles, m, colors, lambda h: h.get_edgecolor())
    assert len(listed) == plots.MAX_LEGEND - 1
    assert legend_beside_the_map(fig)
    assert min_pairwise([colors[c] for c in listed]) > MIN_DELTA_E


def test_the_cluster_gallery_of_sixty_clusters_says_what_it_leaves_out(sixty_classes):
    d = sixty_classes
    m = d["manifest"]
    pred = cluster.fit_kmeans(d["X"], N_CLASSES, seed=0, n_init=1).labels  # rule cluster_kmeans with k = n_classes
    assert len(set(pred)) == N_CLASSES
    fig = cluster.gallery(pred, m, d["images"], path=d["dir"] / "gallery.png")
    title = fig._suptitle.get_text()
    assert (
        title == f"showing the {cluster.GALLERY_CLUSTERS} largest of {N_CLASSES} clusters ({N_CLASSES - 30} not shown)"
    )
    # the title sits just above the first row, however tall the gallery (not 12 % of 54 inches away)
    assert (1 - fig.subplotpars.top) * fig.get_figheight() <= 0.7
    rows = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert len(rows) == cluster.GALLERY_CLUSTERS == 30
    sizes = dict(zip(*np.unique(pred, return_counts=True)))
    shown = [int(re.match(r"cluster (\d+)", r).group(1)) for r in rows]
    assert min(sizes[c] for c in shown) >= max(n for c, n in sizes.items() if c not in shown)
