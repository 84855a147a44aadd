"""Curation (issue 32): label issues, outliers, the review table, galleries, summary section and opt-in actions.

Library tests on generated data (blobs with known flips, points placed far away), and one real Snakemake run of the
rule label_issues on a small folder of generated images with a planted mislabel and a planted duplicate.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, snakemake
from PIL import Image

from imagespace import curation
from imagespace.io import FeatureFile


def blobs(n_per: int = 60, k: int = 4, d: int = 6, seed: int = 0, spread: float = 1.0):
    """k well separated Gaussian blobs (centres 8 apart): features and true labels."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * 8
    y = np.repeat(np.arange(k), n_per)
    return centres[y] + rng.normal(scale=spread, size=(len(y), d)), y


def flip(y, rate: float, seed: int = 1):
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(y), size=int(rate * len(y)), replace=False))
    noisy = y.copy()
    noisy[rows] = (noisy[rows] + rng.integers(1, y.max() + 1, size=len(rows))) % (y.max() + 1)
    return noisy, rows


def manifest_of(labels, splits) -> pd.DataFrame:
    n = len(labels)
    names = [f"img_{i:04d}.png" for i in range(n)]
    return pd.DataFrame(
        {
            "index": np.arange(n),
            "id": [f"{s}/{m}" for s, m in zip(splits, names)],
            "split": splits,
            "name": names,
            "label": [f"c{v}" for v in labels],
            "path": names,
        }
    )


def probe_result(accuracy: float, majority: float = 0.25, shuffled: float = 0.25) -> dict:
    """A probes JSON with one headline split (the fields probe_verdict reads)."""
    r = {"accuracy": accuracy, "balanced_accuracy": accuracy, "macro_f1": accuracy, "n": 100}
    r |= {"majority_rate": majority}
    return {
        "headline": "validation",
        "holdout": {"validation": {"logistic": r, "knn": {**r, "accuracy": accuracy - 0.01}}},
        "shuffled": {"logistic": {"accuracy": shuffled}, "knn": {"accuracy": shuffled}},
        "cv": {},
    }


# --------------------------------------------------------------------------- choosing the feature sets
def test_sets_at_chance_or_far_below_the_best_are_left_out_unless_named():
    probes = {"pca": probe_result(0.9), "stats": probe_result(0.7), "noise": probe_result(0.27)}
    chosen, notes = curation.choose_feature_sets(probes)
    assert list(chosen) == ["pca"] and chosen["pca"]["classifier"] == "logistic"
    assert any("noise" in n and "chance" in n for n in notes) and any("stats" in n and "below" in n for n in notes)
    chosen, notes = curation.choose_feature_sets(probes, ["noise", "stats"])
    assert list(chosen) == ["stats", "noise"] and any("noise" in n and "at chance" in n for n in notes)
    with pytest.raises(ValueError, match=r"curation\.feature_sets: \['bb'\] not probed"):
        curation.choose_feature_sets(probes, ["bb"])


# --------------------------------------------------------------------------- probabilities and label issues
def test_out_of_fold_probabilities_never_see_the_rows_own_label():
    X, y = blobs()
    noisy, rows = flip(y, 0.05)
    P = curation.out_of_fold(X, noisy, "logistic", n_classes=4, folds=5, seed=0)
    assert P.shape == (len(y), 4) and np.allclose(P.sum(axis=1), 1)
    # a flipped row, predicted without itself, puts its mass on its true class, not on the label it was given
    assert (P[rows].argmax(axis=1) == y[rows]).all() and (P[rows, noisy[rows]] < 0.1).all()
    again = curation.out_of_fold(X, noisy, "logistic", n_classes=4, folds=5, seed=0)
    assert np.array_equal(P, again)


def test_label_issues_find_the_flipped_labels_and_suggest_the_true_class():
    X, y = blobs(n_per=80)
    noisy, rows = flip(y, 0.05)
    rows_info = {"classes": ["a", "b", "c", "d"], "y": noisy, "train": np.ones(len(y), bool)}
    P = curation.probabilities(X, rows_info, "knn", folds=5, seed=0)
    t = curation.label_issues(noisy, {"pca": P, "copy": P}, rows_info["classes"])
    flagged = np.flatnonzero(t["issue"].to_numpy())
    hit = len(np.intersect1d(flagged, rows))
    assert hit >= 0.8 * len(rows) and hit >= 0.9 * len(flagged)  # confident learning prunes by the estimated rate
    assert (t.loc[rows, "suggested"].to_numpy() == np.asarray(rows_info["classes"])[y[rows]]).all()
    assert (t.loc[rows, "agree"] == "pca,copy").all()
    clean = np.setdiff1d(np.arange(len(y)), rows)
    assert t.loc[rows, "quality"].max() < t.loc[clean, "quality"].min()
    assert curation.noise_rate(t, rows_info["train"]) == pytest.approx(len(flagged) / len(y))


def test_a_confusion_is_not_a_label_error_unless_the_other_class_is_far_more_probable():
    # a weak representation: every image's own class at 0.6; two images filed as "a" look like "b" to it
    y = np.repeat([0, 1, 2], 40)
    P = np.where(y[:, None] == np.arange(3), 0.6, 0.2)
    P[0] = [0.15, 0.62, 0.23]  # "b" only 4 times as probable as the given "a": ambiguous
    P[1] = [0.05, 0.62, 0.33]  # 12 times as probable: a likely error
    t = curation.label_issues(y, {"f": P}, ["a", "b", "c"])
    assert 0.62 / 0.15 < curation.MIN_ODDS < 0.62 / 0.05
    assert bool(t["issue"][1]) and not bool(t["issue"][0]) and t["issue"].sum() == 1
    assert t["quality"][1] < t["quality"][0] < t["quality"][2] and t["suggested"][0] == t["suggested"][1] == "b"


def test_held_out_rows_are_scored_by_models_fitted_on_the_training_rows():
    X, y = blobs()
    noisy = y.copy()
    split = np.where(np.arange(len(y)) % 4 == 0, "test", "train")
    wrong = np.flatnonzero(split == "test")[:3]
    noisy[wrong] = (y[wrong] + 1) % 4
    m = manifest_of(noisy, split)
    rows = curation.labels_and_splits(m["id"], m, train_split="train")
    assert rows["train"].sum() == (split == "train").sum()
    P = curation.probabilities(X, rows, "logistic", folds=5, seed=0)
    t = curation.label_issues(rows["y"], {"pca": P}, rows["classes"], groups=rows["split"])
    assert set(np.flatnonzero(t["issue"].to_numpy())) == set(wrong)


# --------------------------------------------------------------------------- outliers
def test_points_far_from_the_rest_get_the_top_outlier_scores_and_are_flagged():
    X, _ = blobs()
    rng = np.random.default_rng(3)
    far = rng.normal(size=(4, X.shape[1])) * 40 + 80
    Z = np.vstack([X, far])
    train = np.ones(len(Z), bool)
    score, flagged, per = curation.outlier_scores({"a": Z, "b": Z * 1000}, train, k=5)
    top = np.argsort(-score)[:4]
    assert set(top) == set(range(len(X), len(Z)))
    assert flagged[len(X) :].all() and flagged[: len(X)].mean() < 0.02
    assert np.allclose(per["a"], per["b"])  # relative to the typical distance: the unit does not matter
    assert np.median(score[: len(X)]) == pytest.approx(1.0, abs=0.1)


def test_standardising_a_descriptor_set_stops_one_large_column_from_deciding():
    X, _ = blobs()
    rng = np.random.default_rng(4)
    X = np.column_stack([X, rng.normal(scale=1e4, size=len(X))])  # a column in other units, pure noise
    X[0, :-1] += 60  # the real outlier, in the informative columns
    train = np.ones(len(X), bool)
    raw = curation.relative_knn_distance(X, train, k=5)
    std = curation.relative_knn_distance(X, train, k=5, standardize=True)
    assert np.argmax(std) == 0 and np.argmax(raw) != 0


def test_clean_blobs_are_hardly_flagged():
    X, y = blobs(n_per=100, seed=5)
    m = manifest_of(y, np.where(np.arange(len(y)) % 4 == 0, "validation", "train"))
    fs = FeatureFile(X.astype(np.float32), m["id"].to_numpy(), {"kind": "pca"})
    from imagespace import evaluation

    probes = {"pca": evaluation.probe_feature_set(fs.X, fs.ids, m, ("logistic", "knn"), "train", 5, 0)}
    settings = {"feature_sets": [], "k": 10, "train_split": "train", "folds": 5, "seed": 0}
    res = curation.curate({"pca": fs}, probes, m, settings=settings)
    s = res["scores"]
    assert (s["label_issue"] | s["outlier"]).mean() < 0.01
    issues = curation.issues_table(s, res["labels"])
    section = curation.summary_section(issues, s, res["info"], warn_above=0.02)
    assert section["warnings"] == [] and not any("Warning" in ln for ln in curation.summary_markdown(section))


def softened_digits_among_digits(n_base: int = 600, n_alien: int = 16, seed: int = 0):
    """scikit-learn's digits (as ingest reads them) and a batch of zeros as another scanner would give them (blurred,
    dimmer): near the zeros in pixel space, unlike every digit in grey levels and texture, and alike each other."""
    from scipy import ndimage
    from sklearn.datasets import load_digits

    d = load_digits()
    imgs = np.rint(d.images * 255 / 16).astype(np.uint8)
    rng = np.random.default_rng(seed)
    base = rng.choice(len(imgs), n_base, replace=False)
    alien = rng.choice(np.setdiff1d(np.flatnonzero(d.target == 0), base), n_alien, replace=False)
    soft = [np.clip(ndimage.gaussian_filter(imgs[i].astype(float), 1.0) * 0.8, 0, 255) for i in alien]
    images = np.concatenate([imgs[base], np.asarray(soft, np.uint8)])[..., None]
    labels = d.target[np.concatenate([base, alien])].astype(str)
    split = np.where(np.arange(len(labels)) % 4 == 0, "validation", "train")
    return images, labels, split, np.arange(n_base, n_base + n_alien)


def test_a_batch_of_foreign_images_needs_the_appearance_view_and_more_neighbours_than_its_size():
    from imagespace import pca as ispca

    images, labels, split, alien = softened_digits_among_digits()
    X = images.reshape(len(images), -1)
    res = ispca.fit(X, None, 1.0 / 255.0, threshold=0.9, min_store=10)
    views = {"pca": res.fit_scores[:, : res.n_components_for(0.9)], "appearance": curation.appearance_features(images)}
    assert views["appearance"].shape[0] == len(images) and np.isfinite(views["appearance"]).all()
    train = split == "train"

    def top(score):  # how many of the batch are among the 2 x batch highest scores
        return int(np.isin(alien, np.argsort(-score, kind="stable")[: 2 * len(alien)]).sum())

    pixels_only, _, _ = curation.outlier_scores({"pca": views["pca"]}, train, k=50)
    few, few_flagged, _ = curation.outlier_scores(views, train, k=10, standardize={"appearance"})
    score, flagged, _ = curation.outlier_scores(views, train, k=50, standardize={"appearance"})
    assert top(pixels_only) == 0  # in pixel space the softened zeros sit among the zeros
    # with k below the batch's size its members vouch for each other
    assert top(few) <= len(alien) // 4 and few_flagged[alien].sum() <= 2
    assert top(score) == len(alien) and flagged[alien].all()
    assert flagged[: alien[0]].mean() < 0.02


def test_the_outlier_views_add_the_appearance_only_where_no_descriptor_set_is_a_candidate():
    images, labels, split, _ = softened_digits_among_digits(n_base=60, n_alien=2)
    m = manifest_of(np.zeros(len(labels), int), split)
    ids = m["id"].to_numpy()
    X = images.reshape(len(images), -1).astype(np.float32)
    pca = FeatureFile(X, ids, {"kind": "pca"})
    views, std, names = curation.outlier_views({"pca": pca}, ids[::-1], m, images=images, settings={})
    assert names == ["pca", curation.APPEARANCE] and std == {curation.APPEARANCE}
    assert np.array_equal(views["pca"], X[::-1])  # rows in the order asked for
    assert np.allclose(views[curation.APPEARANCE][0], curation.appearance_features(images, rows=[len(images) - 1])[0])
    stats = FeatureFile(X[:, :5], ids, {"kind": "stats"})
    _, std, names = curation.outlier_views({"pca": pca, "stats": stats}, ids, m, images=images, settings={})
    assert names == ["pca", "stats"] and std == {"stats"}
    assert curation.outlier_views({"pca": pca}, ids, m, settings={})[2] == ["pca"]  # no images: no appearance


# --------------------------------------------------------------------------- the run: tables, galleries, summary
def generated_images(y, seed: int = 0):
    """16 x 16 grey images whose mean brightness encodes the class (plus noise)."""
    rng = np.random.default_rng(seed)
    base = 40 + 50 * np.asarray(y)[:, None, None]
    return np.clip(base + rng.normal(scale=6, size=(len(y), 16, 16)), 0, 255).astype(np.uint8)[..., None]


def test_run_writes_the_review_table_galleries_and_facts(tmp_path):
    from imagespace import evaluation

    y = np.repeat(np.arange(4), 40)
    noisy, rows = flip(y, 0.05, seed=2)
    split = np.where(np.arange(len(y)) % 5 == 0, "validation", "train")
    m = manifest_of(noisy, split)
    images = generated_images(y)
    images[7] = 255  # an image unlike any other
    X = images.reshape(len(y), -1).astype(np.float32)
    fs = FeatureFile(X, m["id"].to_numpy(), {"kind": "pca"})
    probes = {"pca": evaluation.probe_feature_set(X, fs.ids, m, ("logistic", "knn"), "train", 5, 0)}
    settings = {"feature_sets": [], "k": 10, "train_split": "train", "folds": 5, "seed": 0}
    res = curation.curate({"pca": fs}, probes, m, settings=settings)
    dup = pd.DataFrame(
        [[1, "near", 0.5, 0.998, False, True, m.id[i], m.split[i], m.name[i], m.label[i]] for i in (3, 50)],
        columns=["group", "kind", "max_pixel_difference", "min_correlation", "spans_splits", "mixed_labels"]
        + ["id", "split", "name", "label"],
    )
    out = {k: tmp_path / f"{k}.{e}" for k, e in (("issues", "tsv"), ("scores", "tsv"), ("info", "json"))}
    out |= {"label_gallery": tmp_path / "label_issues.png", "outlier_gallery": tmp_path / "outliers.png"}
    info = curation.write_outputs(res, m, images, duplicates=dup, out=out)
    t = pd.read_csv(out["issues"], sep="\t", keep_default_na=False)
    assert list(t.columns) == curation.ISSUE_COLUMNS
    labels = t[t["kind"] == "label"]
    planted = set(m.name[rows[split[rows] == "train"]])
    assert planted <= set(labels["image"])
    assert labels["score"].is_monotonic_decreasing
    assert t[t["kind"] == "outlier"]["image"].iloc[0] == m.name[7]
    d = t[t["kind"] == "duplicate"]
    assert len(d) == 1 and d["image"].iloc[0] == m.name[50] and "mixed labels" in d["evidence"].iloc[0]
    assert info["issues"] == {"label": len(labels), "outlier": int((t["kind"] == "outlier").sum()), "duplicate": 1}
    s = pd.read_csv(out["scores"], sep="\t", keep_default_na=False)
    assert len(s) == len(y) and set(curation.SCORE_COLUMNS) == set(s.columns)
    for k in ("label_gallery", "outlier_gallery"):
        with Image.open(out[k]) as im:
            assert im.format == "PNG" and im.size[0] > 400 and im.size[1] > 100
    section = curation.summary_section(t, s, info, warn_above=0.02)
    assert section["noise_rate"] > 0.02 and len(section["warnings"]) == 1
    md = curation.summary_markdown(section)
    assert md[2].startswith("**Warning:**") and len(section["top"]) == min(10, len(labels))
    assert sum(ln.startswith("| img_") for ln in md) == len(section["top"])


def test_importing_curation_loads_no_heavy_library():
    code = (
        "import sys; import imagespace.curation; print(sorted({'matplotlib','sklearn','cleanlab'} & set(sys.modules)))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT / "scripts")
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stderr


# --------------------------------------------------------------------------- opt-in actions
def test_exclude_takes_only_flagged_training_images_out_of_every_fit_and_lists_them_as_curated():
    m = manifest_of(np.array([0, 1, 0, 1, 0]), np.array(["train", "train", "validation", "train", "train"]))
    issues = pd.DataFrame(
        {
            "image": m.name[[0, 2, 3]],
            "id": m.id[[0, 2, 3]],
            "split": m.split[[0, 2, 3]],
            "kind": ["label", "label", "outlier"],
        }
    )
    cur, skipped = curation.exclude_flagged(m, issues, ["label_issues"])
    # every row stays in its place (rows index the images and the features); the validation image is only scored
    assert list(cur["id"]) == list(m["id"]) and list(cur["index"]) == list(m["index"])
    assert list(cur["split"]) == [curation.CURATED, "train", "validation", "train", "train"]
    assert list(skipped["kind"]) == ["curated"] and "label" in skipped["reason"].iloc[0]
    assert list(skipped["split"]) == ["train"]  # where it was
    cur, skipped = curation.exclude_flagged(m, issues, ["label_issues", "outliers"])
    assert (cur["split"] == "train").sum() == 2 and list(skipped["name"]) == list(m.name[[0, 3]])
    assert list(skipped.columns) == ["split", "name", "path", "kind", "reason", "is_image_file"]
    # what a fit on the training split sees: the probes fit on the kept images, and never score the excluded ones
    from imagespace import evaluation

    X, y = blobs(n_per=30, k=3, d=4)
    mm = manifest_of(y, np.where(np.arange(len(y)) % 5 == 0, "validation", "train"))
    flagged = mm[mm["split"] == "train"].iloc[:7]
    iss = pd.DataFrame({"image": flagged["name"], "id": flagged["id"], "split": "train", "kind": "outlier"})
    cur, _ = curation.exclude_flagged(mm, iss, ["outliers"])
    r = evaluation.probe_feature_set(X, mm["id"], cur, ("logistic",), "train", 3, 0)
    assert r["n_train"] == (mm["split"] == "train").sum() - 7 and list(r["holdout"]) == ["validation"]
    r = evaluation.probe_feature_set(X, mm["id"], cur.assign(split=cur["split"].replace("train", "all")), ("knn",))
    assert r["train_split"] == "all" and r["n_train"] == len(mm) - 7  # without a training split: all but those
    with pytest.raises(ValueError, match=r"curation\.exclude: \['dupes'\]"):
        curation.exclude_flagged(m, issues, ["dupes"])


def test_exclude_follows_augmented_copies_and_a_dataset_without_a_training_split():
    m = manifest_of(np.array([0, 1, 0, 1]), np.array(["all"] * 4))
    m["augmented_from"] = ["", "", "", m.id[0]]  # row 3: balance's copy of row 0
    issues = pd.DataFrame({"image": [m.name[0]], "id": [m.id[0]], "split": ["all"], "kind": ["outlier"]})
    cur, skipped = curation.exclude_flagged(m, issues, ["outliers"])
    # without a training split every image is training (as for the probes): the kept ones become the training split
    assert list(cur["split"]) == [curation.CURATED, "train", "train", curation.CURATED]
    assert len(skipped) == 2 and skipped["reason"].str.contains("outlier").all()


def test_relabel_applies_corrections_by_name_or_id_and_names_the_file_and_line_on_bad_input(tmp_path):
    m = manifest_of(np.array([0, 1, 0]), np.array(["train"] * 3))
    f = tmp_path / "fix.tsv"
    for text in (
        "image\tlabel\nimg_0000.png\tc1\n",
        "name\tnew_label\nimg_0000.png\tc1\n",
        "id\tlabel\ntrain/img_0000.png\tc1\n",
    ):
        f.write_text(text)
        out = curation.apply_relabel(m, curation.read_relabel(f), path=str(f))
        assert list(out["label"]) == ["c1", "c1", "c0"] and list(out["label_before"]) == ["c0", "c1", "c0"]
    for text, msg in (
        ("file\tclass\nx\tc1\n", "needs a column id or name"),
        ("image\tlabel\nimg_0001.png\tc0\nnope.png\tc1\n", "line 3: no image of the dataset has the name 'nope.png'"),
        ("id\tlabel\ntrain/nope.png\tc1\n", "line 2: no image of the dataset has the id 'train/nope.png'"),
        ("image\tlabel\nimg_0000.png\tc9\n", "line 2: the label 'c9' is not a class"),
        ("image\tlabel\nimg_0000.png\tc1\nimg_0000.png\tc0\n", "line 3: image 'img_0000.png' is named more than once"),
    ):
        f.write_text(text)
        with pytest.raises(ValueError, match=msg) as e:
            curation.apply_relabel(m, curation.read_relabel(f), path=str(f))
        assert str(e.value).startswith("curation.relabel: ") and str(f) in str(e.value) and "\n" not in str(e.value)


def test_the_curated_manifest_applies_corrections_first_and_never_excludes_a_corrected_label():
    m = manifest_of(np.array([0, 1, 0, 1]), np.array(["train", "train", "train", "validation"]))
    issues = pd.DataFrame(
        {"image": m.name[[0, 1, 3]], "id": m.id[[0, 1, 3]], "split": m.split[[0, 1, 3]], "kind": ["label"] * 3}
    )
    fix = pd.DataFrame({"key": "name", "value": [m.name[0], m.name[3]], "label": ["c1", "c0"], "line": [2, 3]})
    cur, skipped, facts = curation.curated_manifest(
        m, issues=issues, exclude=["label_issues"], corrections=fix, path="fix.tsv"
    )
    assert list(cur["label"]) == ["c1", "c1", "c0", "c0"] and list(cur["label_before"]) == ["c0", "c1", "c0", "c1"]
    assert list(cur["split"]) == ["train", curation.CURATED, "train", "validation"]  # row 0 was reviewed: kept
    assert list(skipped["name"]) == [m.name[1]]
    assert facts == {
        "exclude": ["label_issues"],
        "relabel": "fix.tsv",
        "excluded": 1,
        "excluded_by_kind": {"label": 1, "outlier": 0},
        "relabelled": 2,
        "train_split": "train",
    }
    same, none, nothing = curation.curated_manifest(m)
    assert same.drop(columns="label_before").equals(m) and len(none) == 0 and nothing["excluded"] == 0
    table = issues.assign(label=m.label[[0, 1, 3]].to_numpy(), suggestion="c0", score=0.9)
    section = curation.summary_section(table, m, {"n_train": 3}, applied=facts)
    md = "\n".join(curation.summary_markdown(section))
    assert (
        "**Curated:** 1 flagged training images excluded" in md
        and "2 labels corrected (curation.relabel: `fix.tsv`)" in md
    )


# --------------------------------------------------------------------------- the interactive map
def test_the_interactive_map_colours_by_the_curation_scores_and_highlights_suspected_mislabels(tmp_path):
    from imagespace.report import explore

    m = manifest_of(np.array([0, 1, 0, 1]), np.array(["train", "train", "train", "validation"]))
    scores = pd.DataFrame(
        {
            "id": m["id"],
            "label_issue_score": ["0.9", "0.1", "0.2", ""],
            "outlier_score": ["1.0", "3.5", "0.9", "1.1"],
            "label_issue": ["True", "False", "False", "False"],
        }
    )
    cols = explore.curation_colourings(scores)
    assert cols["label-issue score"] == ("continuous", {m.id[0]: 0.9, m.id[1]: 0.1, m.id[2]: 0.2})
    assert cols["outlier score"][1][m.id[1]] == 3.5
    assert cols["suspected mislabels"][1][m.id[0]] == explore.MISLABEL
    assert cols["suspected mislabels"][1][m.id[1]] == explore.NOT_FLAGGED
    ids = m["id"].to_numpy()
    page, described = explore.build_page(m, {"pca": (ids, np.arange(8.0).reshape(4, 2))}, cols, thumbnails=0)
    assert {"label-issue score": "continuous", "outlier score": "continuous"}.items() <= described["colourings"].items()
    assert described["colourings"]["suspected mislabels"] == "categorical"
    # the page's data: a colour and a value column per colouring, and "suspected mislabel" among the highlights
    for name in ("label-issue score", "outlier score", "suspected mislabels"):
        assert f'"c__{name}"' in page and f'"v__{name}"' in page
    assert f'"{explore.MISLABEL}"' in page
    # from the workflow's files: the colourings come with curation/scores.tsv, and only with it
    from imagespace.io import save_features

    man, maps, sc = tmp_path / "manifest.tsv", tmp_path / "pca.npz", tmp_path / "scores.tsv"
    m.to_csv(man, sep="\t", index=False)
    scores.to_csv(sc, sep="\t", index=False)
    save_features(maps, np.arange(8.0).reshape(4, 2), ids, kind="map")
    np.save(tmp_path / "images.npy", np.zeros((4, 8, 8, 1), np.uint8))
    settings = {"seed": 0, "thumbnails": 0, "thumbnail_size": 16}
    kw = dict(maps=[maps], features=[], clusters=[], human=[], settings=settings)
    _, with_curation = explore.from_files(man, tmp_path / "images.npy", curation=[sc], **kw)
    _, without = explore.from_files(man, tmp_path / "images.npy", **kw)
    assert set(with_curation["colourings"]) - set(without["colourings"]) == set(cols)


# --------------------------------------------------------------------------- the rule in a real run
CONFIG = {
    "targets": ["small"],
    "datasets": {
        "small": {"source": {"type": "class_folders", "root": "imgs"}, "images": {"size": [16, 16]}},
    },
    "embeddings": {"methods": []},
    "clustering": {"methods": ["kmeans"]},
    "compare": {"feature_sets": []},
    "explore": {"enabled": False},
    "retrieval": {"enabled": False},
    "backbones": {"enabled": []},
}


@pytest.mark.workflow
def test_rule_label_issues_flags_a_planted_mislabel_and_lists_a_duplicate(tmp_path):
    classes = {"dark": 40, "mid": 120, "light": 200}
    rng = np.random.default_rng(0)
    for cls, level in classes.items():
        for i in range(24):
            img = np.clip(level + rng.normal(scale=8, size=(16, 16)), 0, 255).astype(np.uint8)
            (tmp_path / "imgs" / cls).mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(tmp_path / "imgs" / cls / f"{cls}_{i:02d}.png")
    light = np.clip(200 + rng.normal(scale=8, size=(16, 16)), 0, 255).astype(np.uint8)
    Image.fromarray(light).save(tmp_path / "imgs" / "dark" / "planted.png")  # a light image filed as dark
    Image.open(tmp_path / "imgs" / "mid" / "mid_03.png").save(tmp_path / "imgs" / "mid" / "copy.png")
    cfg = {**CONFIG, "datasets": {"small": {**CONFIG["datasets"]["small"], "validation_fraction": 0.25}}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    snakemake(tmp_path, "results/small/curation/issues.tsv")
    t = pd.read_csv(tmp_path / "results/small/curation/issues.tsv", sep="\t", keep_default_na=False)
    row = t[(t["image"] == "dark/planted.png") & (t["kind"] == "label")]
    assert len(row) == 1 and row["label"].iloc[0] == "dark" and row["suggestion"].iloc[0] == "light"
    assert set(t[t["kind"] == "duplicate"]["image"]) & {"mid/copy.png", "mid/mid_03.png"}
    for f in ("label_issues.png", "outliers.png", "scores.tsv", "curation.json"):
        assert (tmp_path / "results/small/curation" / f).stat().st_size > 0
    log = (tmp_path / "logs/small/label_issues.log").read_text()
    assert "feature sets pca" in log and "(views pca, appearance, k 50)" in log
    # a bad curation key stops the run with one line naming it
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"curation": {"warn_above": 2}}))
    r = snakemake(tmp_path, "-n", "--configfile", str(tmp_path / "bad.yaml"), check=False)
    assert r.returncode != 0 and "curation.warn_above" in r.stderr
    # the opt-in actions: a relabel file that is not there stops the run at start-up with one line naming it
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"curation": {"relabel": "fixes.tsv"}}))
    r = snakemake(tmp_path, "-n", "--configfile", str(tmp_path / "bad.yaml"), check=False)
    assert r.returncode != 0 and "datasets.small: curation.relabel: fixes.tsv is not a file" in r.stderr
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"curation": {"exclude": ["outliers"], "enabled": False}}))
    r = snakemake(tmp_path, "-n", "--configfile", str(tmp_path / "bad.yaml"), check=False)
    assert r.returncode != 0 and "curation.exclude ['outliers'] needs the curation stage" in r.stderr


def test_features_at_chance_give_a_warning_and_an_empty_review_not_a_failure(tmp_path):
    """Where no probed set separates the classes (noise features), nothing is assessed: every image is listed
    unscored, the galleries say so, and the summary warns why (a degenerate result is a warning, not an error)."""
    from imagespace import evaluation

    y = np.repeat(np.arange(3), 30)
    split = np.where(np.arange(len(y)) % 5 == 0, "validation", "train")
    m = manifest_of(y, split)
    X = np.random.default_rng(0).normal(size=(len(y), 8)).astype(np.float32)  # no class structure
    fs = FeatureFile(X, m["id"].to_numpy(), {"kind": "pca"})
    probes = {"pca": evaluation.probe_feature_set(X, fs.ids, m, ("logistic", "knn"), "train", 5, 0)}
    settings = {"feature_sets": [], "k": 10, "train_split": "train", "folds": 5, "seed": 0}
    res = curation.curate({"pca": fs}, probes, m, settings=settings)
    assert res["info"]["assessed"] is False and "at chance" in res["info"]["warning"]
    out = {k: tmp_path / f"{k}.{e}" for k, e in (("issues", "tsv"), ("scores", "tsv"), ("info", "json"))}
    out |= {"label_gallery": tmp_path / "label_issues.png", "outlier_gallery": tmp_path / "outliers.png"}
    info = curation.write_outputs(res, m, generated_images(y), duplicates=None, out=out)
    t = pd.read_csv(out["issues"], sep="\t", keep_default_na=False)
    s = pd.read_csv(out["scores"], sep="\t", keep_default_na=False)
    assert len(t) == 0 and len(s) == len(y) and not s["label_issue"].astype(str).eq("True").any()
    for k in ("label_gallery", "outlier_gallery"):
        with Image.open(out[k]) as im:
            assert im.format == "PNG"
    section = curation.summary_section(t, s, info, warn_above=0.02)
    assert section["warnings"] == [res["info"]["warning"]] and not section["assessed"]
    assert curation.summary_markdown(section)[2].startswith("**Warning:** curation: nothing was assessed")
