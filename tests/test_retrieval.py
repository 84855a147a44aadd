"""Find similar images (imagespace.retrieval): neighbours, precision@k, chance, a query folder."""

import numpy as np
import pandas as pd
import pytest

from imagespace import retrieval
from imagespace.io import FeatureFile


def _manifest(labels, splits):
    n = len(labels)
    return pd.DataFrame(
        {
            "id": [str(i) for i in range(n)],
            "name": [f"img_{i}.png" for i in range(n)],
            "label": [str(x) for x in labels],
            "subtype": ["" for _ in range(n)],
            "split": list(splits),
        }
    )


SETTINGS = {
    "k": [1, 5, 10],
    "metric": "cosine",
    "gallery_split": "train",
    "label": "label",
    "n_bootstrap": 200,
    "n_queries": 3,
    "queries": [],
    "seed": 0,
}


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_nearest_equals_scikit_learn_brute_force(metric):
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(0)
    G, Q = rng.normal(size=(300, 12)), rng.normal(size=(40, 12))
    idx, dist = retrieval.nearest(Q, G, 7, metric)
    ref = NearestNeighbors(n_neighbors=7, metric=metric, algorithm="brute").fit(G)
    rd, ri = ref.kneighbors(Q)
    np.testing.assert_array_equal(idx, ri)  # continuous data: no ties
    np.testing.assert_allclose(dist, rd, atol=1e-9)


def test_self_is_never_a_neighbour_and_ties_go_to_the_lower_index():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 5))
    X[[10, 20, 30]] = X[5]  # four identical rows: each one's nearest are the other three, lowest index first
    idx, dist = retrieval.nearest(X, X, 4, "euclidean", exclude=np.arange(50))
    assert (idx != np.arange(50)[:, None]).all()
    assert idx[5, :3].tolist() == [10, 20, 30] and idx[20, :3].tolist() == [5, 10, 30]
    np.testing.assert_allclose(dist[5, :3], 0.0, atol=1e-6)


@pytest.mark.parametrize("m", [300, 9000])  # every column scanned; the bound from a subset of 1024 columns
def test_smallest_equals_a_stable_sort_of_each_row_ties_and_excluded_entries_included(m):
    rng = np.random.default_rng(3)
    d = np.round(rng.random((70, m)), 2)  # coarse values: many ties, at the k-th place too
    d[np.arange(70), rng.integers(0, m, 70)] = np.inf  # an excluded entry per row
    d[5, :] = 0.5  # a row of equal values: the k lowest indices
    for k in (1, 7, 25):
        idx, vals = retrieval.smallest(d, k)
        ref = np.argsort(d, axis=1, kind="stable")[:, :k]
        np.testing.assert_array_equal(idx, ref)
        np.testing.assert_array_equal(vals, np.take_along_axis(d, ref, axis=1))
    with pytest.raises(ValueError, match="non-finite"):
        retrieval.smallest(np.full((2, 10), np.nan), 3)


def test_precision_is_one_on_separated_classes_and_near_chance_on_noise():
    rng = np.random.default_rng(2)
    labels = np.repeat(np.arange(4), 60)
    splits = np.where(np.arange(240) % 4 == 0, "validation", "train")
    centres = rng.normal(size=(4, 16)) * 20
    separated = centres[labels] + rng.normal(size=(240, 16))
    noise = rng.normal(size=(240, 16))
    m = _manifest(labels, splits)
    ids = m["id"].to_numpy()
    good, _ = retrieval.retrieve(separated, ids, m, ks=(1, 5, 10), n_bootstrap=200)
    bad, table = retrieval.retrieve(noise, ids, m, ks=(1, 5, 10), n_bootstrap=200)
    assert good["headline"] == "validation" and good["n_gallery"] == 180
    assert good["splits"]["validation"]["precision"]["10"]["mean"] == 1.0
    # chance: 45 of the 180 gallery images share a validation image's label
    assert bad["splits"]["validation"]["chance"] == pytest.approx(45 / 180)
    # a training image leaves itself out: 44 of the other 179
    assert bad["splits"]["train"]["chance"] == pytest.approx(44 / 179)
    assert bad["splits"]["train"]["leave_one_out"] and not bad["splits"]["validation"]["leave_one_out"]
    p10 = bad["splits"]["validation"]["precision"]["10"]
    # 60 queries x 10 neighbours at p = 0.25: sd of the mean <= sqrt(.25*.75/600) = 0.018; 4 sd is 0.07
    assert abs(p10["mean"] - 0.25) < 0.07 and p10["ci"][0] <= p10["mean"] <= p10["ci"][1]
    assert retrieval.degenerate_warnings(bad, "noise") and not retrieval.degenerate_warnings(good, "separated")
    assert "within 0.05 of chance" in retrieval.degenerate_warnings(bad, "noise")[0]
    # the table: every image, max(k) neighbours each, ranked, none of them itself
    assert len(table) == 240 * 10 and (table["id"] != table["neighbour_id"]).all()
    assert set(table.loc[table["split"] == "validation", "neighbour_id"]) <= set(ids[splits == "train"])


def test_a_query_folder_gets_the_neighbours_its_images_have_inside_the_dataset():
    """New images ranked against a fitted dataset (a query folder) get exactly the training-set neighbours that
    the same images get as that dataset's validation images."""
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(3), 40)
    splits = np.where(np.arange(120) % 3 == 0, "validation", "train")
    X = rng.normal(size=(3, 8))[labels] * 3 + rng.normal(size=(120, 8))
    m = _manifest(labels, splits)
    settings = dict(SETTINGS, k=[1, 3])
    own, own_table, _ = retrieval.run(FeatureFile(X, m["id"]), m, settings)
    val = np.flatnonzero(splits == "validation")
    q = _manifest(labels[val], ["all"] * len(val))
    q["name"] = m["name"].to_numpy()[val]
    res, table, _ = retrieval.run(FeatureFile(X[val], q["id"]), q, settings, gallery=(FeatureFile(X, m["id"]), m))
    inside = own_table[own_table["split"] == "validation"]
    assert table["neighbour_id"].tolist() == inside["neighbour_id"].tolist()
    np.testing.assert_allclose(table["distance"], inside["distance"])
    assert res["splits"]["all"]["precision"]["1"]["mean"] == own["splits"]["validation"]["precision"]["1"]["mean"]
    assert res["n_gallery"] == 80 and res["gallery_dataset"]


def test_augmented_copies_are_neither_queries_nor_neighbours():
    rng = np.random.default_rng(4)
    labels = np.repeat(np.arange(2), 20)
    m = _manifest(labels, ["train"] * 40)
    m["augmented_from"] = ["" if i < 36 else "0" for i in range(40)]
    X = rng.normal(size=(40, 4))
    X[36:] = X[0]  # copies of image 0: they would be its nearest neighbours
    _, table, _ = retrieval.run(FeatureFile(X, m["id"]), m, dict(SETTINGS, k=[3]))
    assert set(table["id"]) == set(map(str, range(36))) and not set(table["neighbour_id"]) & {"36", "37", "38", "39"}


def test_unknown_query_name_is_an_error_naming_it():
    m = _manifest([0, 1] * 10, ["train"] * 20)
    X = np.random.default_rng(5).normal(size=(20, 3))
    with pytest.raises(ValueError, match="retrieval.queries: 'nope.png'"):
        retrieval.run(FeatureFile(X, m["id"]), m, dict(SETTINGS, queries=["nope.png"]))


def test_gallery_figure_is_drawn(tmp_path):
    rng = np.random.default_rng(6)
    labels = np.repeat(np.arange(2), 15)
    m = _manifest(labels, np.where(np.arange(30) % 5 == 0, "validation", "train"))
    images = rng.integers(0, 255, size=(30, 16, 16, 3), dtype=np.uint8)
    X = rng.normal(size=(30, 6))
    _, _, draw = retrieval.run(
        FeatureFile(X, m["id"]), m, dict(SETTINGS, k=[1, 4], queries=["img_3.png"]), images=images
    )
    out = tmp_path / "gallery.png"
    draw(out, title="t")
    from PIL import Image

    w, h = Image.open(out).size
    assert w > h > 100  # 3 rows of 1 query + 4 neighbours


def test_an_empty_label_column_is_an_error_naming_the_key():
    m = _manifest([0, 1] * 10, ["train"] * 20)
    X = np.random.default_rng(7).normal(size=(20, 3))
    with pytest.raises(ValueError, match="retrieval.label: 'subtype' is empty for every image"):
        retrieval.retrieve(X, m["id"], m, label="subtype")


def test_the_warning_needs_every_k_near_chance():
    def result(p1, p5):
        return {
            "headline": "validation",
            "ks": [1, 5],
            "splits": {"validation": {"chance": 0.333, "precision": {"1": {"mean": p1}, "5": {"mean": p5}}}},
        }

    assert retrieval.degenerate_warnings(result(0.35, 0.37), "a")  # both within 0.05: warned, naming the best k
    assert "0.370 at k=5" in retrieval.degenerate_warnings(result(0.35, 0.37), "a")[0]
    assert not retrieval.degenerate_warnings(result(0.35, 0.46), "b")  # one k well above chance: not degenerate


def test_a_k_beyond_the_gallery_is_scored_at_the_gallery_depth_and_zero_rows_are_far_from_everything():
    m = _manifest([0, 1, 0, 1, 0, 1], ["train"] * 3 + ["validation"] * 3)
    X = np.random.default_rng(8).normal(size=(6, 3))
    X[4] = 0.0  # a dead-layer row
    res, table = retrieval.retrieve(X, m["id"], m, ks=(1, 10), n_bootstrap=10)
    # 3 training images: a held-out image has 3 neighbours, a training image 2 (itself excluded)
    assert res["ks"] == [1, 2] and table.groupby("id").size().max() == 2
    assert res["zero_rows"] == 1
    assert (table.loc[table["id"] == "4", "distance"].astype(float) == 1.0).all()
    # queries not in this dataset: a note (the block is shared by every dataset), not an error
    res, _, _ = retrieval.run(
        FeatureFile(X, m["id"]), m, dict(SETTINGS, k=[1], queries=["elsewhere.png"]), strict_queries=False
    )
    assert "elsewhere.png" in res["notes"][0] and "all zero" in res["notes"][1]
