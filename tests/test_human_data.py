"""Human data as researchers collect it (imagespace.human.kinds, .spaces): matrices, ratings, triplets -> a space."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import shared
from scipy.spatial.distance import pdist, squareform

from imagespace.human import kinds, procrustes, spaces
from imagespace.io import InputError


def _split(n: int, split: str = "validation"):
    names = [f"img_{i:03d}.png" for i in range(n)]
    manifest = pd.DataFrame({"id": [f"{split}/{x}" for x in names], "name": names, "split": split})
    manifest["augmented_from"] = ""
    skipped = pd.DataFrame({"split": pd.Series(dtype=str), "name": pd.Series(dtype=str)})
    return names, manifest, skipped


def _write_square(path, D, names):
    pd.DataFrame(D, index=names, columns=names).to_csv(path, index_label="id")


def _rocks(name):
    return np.loadtxt(shared("rocks", name))


def test_a_distance_matrix_of_the_validation_rocks_gives_their_space_back(tmp_path):
    """mds_120 as an exact Euclidean distance matrix: metric MDS recovers it (disparity <= 0.01)."""
    H = _rocks("mds_120.txt")
    names, manifest, skipped = _split(len(H))
    _write_square(tmp_path / "d.csv", squareform(pdist(H)), names)
    spec = {"path": str(tmp_path / "d.csv"), "kind": "dissimilarity", "dims": H.shape[1]}
    table, notes, record = spaces.join_data(spec, "validation", manifest, skipped=skipped)
    X = table[[c for c in table.columns if c.startswith("dim_")]].to_numpy()
    assert list(table["name"]) == names and X.shape == H.shape
    assert procrustes.disparity(H, X) <= 0.01
    assert record["stress1"] < 1e-3 and record["filled_pairs"] == 0


def test_the_matrix_route_scores_every_feature_set_as_the_coordinate_route():
    """Given mds_120 as its exact distance matrix, a feature set's RDM Spearman on the observed pairs equals the
    coordinate route's (rdm_compare of the coordinates) to 1e-9."""
    from imagespace.human import direct, rdm_compare

    H = _rocks("mds_120.txt")
    rng = np.random.default_rng(0)
    R = pdist(H)[None]
    for F in (H @ rng.normal(size=(8, 20)), rng.normal(size=(len(H), 5)), H[:, :2] ** 2):
        matrix_route = direct.rdm_score(R, pdist(F), "spearman")
        coordinate_route = rdm_compare(H, F, n_perm=2, seed=0)["spearman"]
        assert abs(matrix_route - coordinate_route) <= 1e-9


def test_similarity_matrix_in_file_order_and_the_stress_curve_chooses_the_dimension(tmp_path):
    rng = np.random.default_rng(1)
    H = rng.normal(size=(40, 3)) * [3, 2, 1]
    names, manifest, skipped = _split(len(H))
    D = squareform(pdist(H))
    np.savetxt(tmp_path / "s.txt", D.max() - D)  # a similarity matrix, rows in sorted file-name order
    spec = {"path": str(tmp_path / "s.txt"), "kind": "similarity", "order": "sorted_filenames", "max_dims": 5}
    table, _, record = spaces.join_data(spec, "validation", manifest, skipped=skipped)
    curve = [c["stress1"] for c in record["stress_curve"]]
    assert record["dims"] == 3 and curve[2] <= 0.05 < curve[1]
    assert procrustes.disparity(H, table[["dim_1", "dim_2", "dim_3"]].to_numpy()) < 0.01


def test_ratings_with_missing_pairs_report_coverage_and_give_a_space(tmp_path):
    rng = np.random.default_rng(2)
    H = rng.normal(size=(30, 2))
    names, manifest, skipped = _split(len(H))
    D = squareform(pdist(H))
    rows = []
    for s in range(5):
        for i, j in zip(*np.triu_indices(len(H), 1)):
            if rng.random() < 0.7:
                rows.append((names[i], names[j], 7 - 6 * D[i, j] / D.max() + rng.normal(0, 0.2), f"s{s}"))
    pd.DataFrame(rows, columns=["a", "b", "sim", "who"]).to_csv(tmp_path / "r.csv", index=False)
    spec = {
        "path": str(tmp_path / "r.csv"),
        "kind": "ratings",
        "direction": "similarity",
        "columns": {"item_a": "a", "item_b": "b", "value": "sim", "subject": "who"},
        "dims": 2,
    }
    table, notes, _ = spaces.join_data(spec, "validation", manifest, skipped=skipped)
    assert notes[0].startswith("pairs with data:") and "lowest coverage per item" in notes[0]
    assert procrustes.disparity(H, table[["dim_1", "dim_2"]].to_numpy()) < 0.05


def test_triplets_from_the_rocks_give_their_space_back_by_an_ordinal_embedding(tmp_path):
    """20,000 odd-one-out choices from mds_360 with a logistic choice rule: SOE recovers the space
    (disparity <= 0.15) and reproduces held-out choices about as well as the true space."""
    H = _rocks("mds_360.txt")
    names, manifest, skipped = _split(len(H), "train")
    rng = np.random.default_rng(3)
    idx = np.array([rng.choice(len(H), 3, replace=False) for _ in range(20000)])
    d = np.stack([((H[idx[:, a]] - H[idx[:, b]]) ** 2).sum(1) ** 0.5 for a, b in ((1, 2), (0, 2), (0, 1))], 1)
    p = np.exp(-d / (0.1 * d.mean()))  # odd one out: the item whose opposite pair is the closest
    p /= p.sum(1, keepdims=True)
    odd = (rng.random(len(idx))[:, None] > np.cumsum(p, 1)).sum(1)
    df = pd.DataFrame({f"item_{q + 1}": np.array(names)[idx[:, q]] for q in range(3)})
    df["choice"] = np.array(names)[idx[np.arange(len(idx)), odd]]
    df.to_csv(tmp_path / "t.csv", index=False)
    spec = {"path": str(tmp_path / "t.csv"), "kind": "triplets", "dims": H.shape[1]}
    table, _, record = spaces.join_data(spec, "train", manifest, skipped=skipped)
    X = table[[c for c in table.columns if c.startswith("dim_")]].to_numpy()
    assert procrustes.disparity(H, X) <= 0.15
    T, _, _ = kinds.read_triplets(tmp_path / "t.csv", spec, names)
    assert record["heldout_accuracy"] > spaces.triplet_accuracy(T, H) - 0.05


@pytest.mark.parametrize(
    "case, message",
    [
        ("asymmetric", r"d\.csv: the matrix is not symmetric: largest asymmetry at row 2, column 3: 9 vs 1"),
        ("unknown", r"d\.csv: data row 2: id 'nope\.png' matches no image of the split"),
        ("twice", r"t\.csv: data row 2 names one item twice"),
        ("direction", r"r\.csv: human\.validation\.direction must be declared for kind ratings"),
        ("scale", r"human\.validation\.scale: \[7, 1\]: the low end must be below the high one"),
    ],
)
def test_bad_human_data_gives_one_clear_line(tmp_path, case, message):
    names, manifest, skipped = _split(4)
    D = squareform(pdist(np.arange(8.0).reshape(4, 2) ** 1.5))
    if case in ("asymmetric", "unknown"):
        if case == "asymmetric":
            D[1, 2] = 9.0
            D[2, 1] = 1.0
        ids = names if case == "asymmetric" else [names[0], "nope.png", *names[2:]]
        _write_square(tmp_path / "d.csv", D, ids)
        spec = {"path": str(tmp_path / "d.csv"), "kind": "dissimilarity", "dims": 2}
    elif case == "twice":
        rows = [names[:3] + [names[0]], [names[0], names[1], names[0], names[1]]]
        pd.DataFrame(rows, columns=["item_1", "item_2", "item_3", "choice"]).to_csv(tmp_path / "t.csv", index=False)
        spec = {"path": str(tmp_path / "t.csv"), "kind": "triplets"}
    else:  # ratings: no declared direction, or a scale upside down
        pd.DataFrame([[names[0], names[1], 3]], columns=["item_a", "item_b", "value"]).to_csv(tmp_path / "r.csv")
        spec = {"path": str(tmp_path / "r.csv"), "kind": "ratings"}
        if case == "scale":
            spec |= {"direction": "similarity", "scale": [7, 1]}
    with pytest.raises(InputError, match=message) as err:
        spaces.join_data(spec, "validation", manifest, skipped=skipped)
    assert "\n" not in str(err.value)


def test_every_kind_runs_through_the_workflow(tmp_path):
    """configs/human_kinds.yaml (no downloads) in a real Snakemake run: ratings, triplets and a matrix of the
    synthetic space become human spaces that the coordinate stages read (compare), and rule human_direct scores
    every feature set with the ceiling where there is one."""
    import json
    import shutil

    from conftest import ROOT, copy_project, snakemake

    from imagespace.io import load_human_table

    work = copy_project(tmp_path / "p")
    shutil.copy(ROOT / "configs" / "human_kinds.yaml", work / "config.yaml")
    splits = ("train", "validation", "test")
    targets = [f"results/synth_kinds/human/direct_{s}.json" for s in splits]
    targets += ["results/synth_kinds/compare/pca/comparison.json"]
    targets += [f"results/synth_kinds/human/{s}_{f}.png" for s in splits for f in ("stress", "shepard")]
    snakemake(work, *targets)
    res = work / "results" / "synth_kinds"
    check = {s: json.loads((res / "human" / f"{s}_check.json").read_text()) for s in splits}
    assert check["train"]["built"]["kind"] == "ratings" and check["train"]["notes"][0].startswith("pairs with data")
    assert check["validation"]["built"]["heldout_accuracy"] > 0.7
    assert check["test"]["built"]["stress1"] < 0.01  # an exact distance matrix of the built-in space
    direct = {s: json.loads((res / "human" / f"direct_{s}.json").read_text()) for s in splits}
    nc = direct["train"]["ceiling"]
    assert nc["n_subjects"] == 20 and nc["lower"] < nc["upper"]
    assert set(direct["train"]["result"]["feature_sets"]) == {"pca", "mds"}
    assert direct["test"]["ceiling"]["lower"] is None and "no ceiling" in direct["test"]["ceiling"]["note"]
    # the paired test of the two feature sets on each split's direct statistic, and its table in direct_<split>.md
    for s in splits:
        (row,) = direct[s]["result"]["paired"]
        metric = "triplet_accuracy" if s == "validation" else "spearman"
        assert row["metric"] == metric and {row["a"], row["b"]} == {"pca", "mds"} and row["correction"] == "holm"
        assert row["a_value"] >= row["b_value"] and row["ci95_low"] <= row["diff"] <= row["ci95_high"]
        md = (res / "human" / f"direct_{s}.md").read_text()
        assert f"## Paired comparisons on {metric}" in md and f"| {row['a']} | {row['b']} |" in md
    # 5000 odd-one-out choices on ~27 items repeat some triplets by chance, with too few answers each for their
    # agreement to be the ceiling: the split-half estimate is, and the agreement is kept beside it
    vc = direct["validation"]["ceiling"]
    assert vc["n_repeated_triplets"] > 0 and vc["method"].startswith("split-half, Spearman–Brown")
    assert vc["repeated_agreement"]["value"] < vc["value"] and "too few answers" in vc["note"]
    for s in splits:
        ids, H = load_human_table(res / "human" / f"{s}.tsv")
        assert len(ids) == check[s]["n"] and np.isfinite(H).all()
        assert 0 <= json.loads((res / "compare/pca/comparison.json").read_text())["splits"][s]["disparity"] <= 1
        assert all((res / "human" / f"{s}_{f}.png").stat().st_size > 1000 for f in ("stress", "shepard"))
