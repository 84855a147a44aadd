"""What the rule ``label_issues`` runs: probabilities and outlier scores of the chosen feature sets, the tables,
the galleries and ``curation.json``."""

from __future__ import annotations

import numpy as np

from ._labels import LABEL_COLUMNS, label_issues, noise_rate
from ._outliers import APPEARANCE, appearance_features, outlier_scores
from ._probs import labels_and_splits, probabilities
from ._select import choose_feature_sets
from ._table import issues_table, scores_table


def common_ids(features: dict, manifest) -> np.ndarray:
    """The collection's own images (not ``balance``'s copies) that every feature set has a row for, in manifest
    order.

    Parameters
    ----------
    features : dict
        ``{feature set: imagespace.io.FeatureFile}``.
    manifest : pandas.DataFrame
        The ingest manifest.

    Returns
    -------
    numpy.ndarray of str
    """
    from imagespace.io import own_image_mask

    ids = manifest.loc[own_image_mask(manifest), "id"].astype(str).to_numpy()
    for fs in features.values():
        ids = ids[np.isin(ids, fs.ids)]
    if len(ids) == 0:
        raise ValueError(f"the feature sets {sorted(features)} share no image of the manifest")
    return ids


def outlier_views(features: dict, ids, manifest, *, images=None, settings: dict) -> tuple[dict, set, list]:
    """The views the outlier score averages: every candidate feature set that has all the rows, and the images'
    appearance descriptor (:func:`appearance_features`) where no candidate is a descriptor set.

    Parameters
    ----------
    features : dict
        ``{feature set: imagespace.io.FeatureFile}`` of the candidate sets.
    ids : array-like of str
        The rows scored (:func:`common_ids` of the chosen sets).
    manifest : pandas.DataFrame
        The ingest manifest (column ``index``: each image's row in *images*).
    images : array-like, optional
        The ingested images; None: no appearance view.
    settings : dict
        ``groups``: the descriptor groups of the appearance view (default: the stats stage's).

    Returns
    -------
    views : dict
        ``{view: X}``, rows in the order of *ids*.
    standardize : set of str
        The descriptor views (standardised before the distances).
    names : list of str
        The views, in order, as reported in curation.json.
    """
    ids = np.asarray(ids).astype(str)
    views, standardize = {}, set()
    for fs, f in features.items():
        if np.isin(ids, f.ids).all():
            views[fs] = f.rows(ids)
            if f.meta.get("kind") == "stats":
                standardize.add(fs)
    if images is not None and not standardize:
        index = manifest.set_index(manifest["id"].astype(str))["index"]
        rows = index.loc[ids].to_numpy(np.int64)
        views[APPEARANCE] = appearance_features(images, rows=rows, groups=settings.get("groups"))
        standardize.add(APPEARANCE)
    return views, standardize, list(views)


def curate(features: dict, probes: dict, manifest, *, settings: dict, images=None) -> dict:
    """Label issues and outliers of one dataset.

    Parameters
    ----------
    features : dict
        ``{feature set: imagespace.io.FeatureFile}`` of the candidate sets.
    probes : dict
        ``{feature set: probe result}`` of the same sets (``results/<dataset>/probes/<set>.json``).
    manifest : pandas.DataFrame
        The ingest manifest.
    settings : dict
        ``feature_sets`` (the curation block's, [] = every set not at chance), ``k`` (neighbours), the probes'
        ``train_split``, ``folds``, ``seed``, and the appearance view's ``groups`` (:func:`outlier_views`).
    images : array-like, optional
        The ingested images: their appearance descriptor is a view of the outlier score where no candidate set is
        a descriptor set (None: the candidate sets only).

    Returns
    -------
    dict
        ``{ids, rows, labels, scores, info}``: row ids, :func:`labels_and_splits`, :func:`label_issues`,
        :func:`scores_table` (with a column ``train``), and the run's facts for ``curation.json``.
    """
    chosen, notes = choose_feature_sets(probes, settings.get("feature_sets") or ())
    n_classes = manifest["label"].astype(str).nunique()
    if not chosen or n_classes < 2:
        why = (
            f"the dataset has {n_classes} class(es): label issues need two"
            if n_classes < 2
            else "no feature set separates the classes (every probed set is at chance: " + "; ".join(notes) + ")"
        )
        return not_assessed(manifest, settings=settings, why=f"curation: nothing was assessed: {why}", notes=notes)
    use = {fs: features[fs] for fs in chosen}
    ids = common_ids(use, manifest)
    rows = labels_and_splits(ids, manifest, train_split=settings["train_split"])
    X = {fs: use[fs].rows(ids) for fs in use}
    probs = {
        fs: np.mean(
            [
                probabilities(X[fs], rows, c, folds=settings["folds"], seed=settings["seed"])
                for c in chosen[fs]["classifiers"]
            ],
            axis=0,
        )
        for fs in use
    }
    labels = label_issues(rows["y"], probs, rows["classes"], groups=rows["split"])
    views, descriptors, view_names = outlier_views(features, ids, manifest, images=images, settings=settings)
    score, flagged, _ = outlier_scores(views, rows["train"], k=settings["k"], standardize=descriptors)
    scores = scores_table(rows, ids, labels, outlier=score, flagged=flagged)
    scores["train"] = rows["train"]
    info = {
        "feature_sets": chosen,
        "train_split": settings["train_split"] if rows["train"].sum() < len(ids) else "all",
        "n_images": int(len(ids)),
        "n_train": int(rows["train"].sum()),
        "noise_rate": noise_rate(labels, rows["train"]),
        "label_issues": int(labels["issue"].sum()),
        "outliers": int(flagged.sum()),
        "outlier_views": view_names,
        "outlier_k": int(settings["k"]),
        "notes": notes,
    }
    return {"ids": ids, "rows": rows, "labels": labels, "scores": scores, "info": info}


def not_assessed(manifest, *, settings: dict, why: str, notes=()) -> dict:
    """The result of a dataset whose labels cannot be assessed (one class, or every feature set at chance): every
    image listed with no score and no flag, and *why* as a warning, so the run completes and says so.

    Parameters
    ----------
    manifest : pandas.DataFrame
        The ingest manifest.
    settings : dict
        As for :func:`curate` (``train_split``).
    why : str
        The one-line reason, a warning of the summary.
    notes : sequence of str
        The feature-set choice's notes.

    Returns
    -------
    dict
        As :func:`curate`, with ``info["assessed"]`` false.
    """
    import pandas as pd

    from imagespace.io import own_image_mask

    ids = manifest.loc[own_image_mask(manifest), "id"].astype(str).to_numpy()
    rows = labels_and_splits(ids, manifest, train_split=settings["train_split"])
    given = np.asarray(rows["classes"], dtype=object)[rows["y"]]
    n = len(ids)
    labels = pd.DataFrame(
        {
            "row": np.arange(n),
            "given": given,
            "suggested": given,
            "quality": np.full(n, np.nan),
            "issue": np.zeros(n, bool),
            "agree": [""] * n,
            "evidence": [""] * n,
        },
        columns=LABEL_COLUMNS,
    )
    scores = scores_table(rows, ids, labels, outlier=np.full(n, np.nan), flagged=np.zeros(n, bool))
    scores["train"] = rows["train"]
    info = {
        "assessed": False,
        "warning": why,
        "feature_sets": {},
        "train_split": settings["train_split"],
        "n_images": int(n),
        "n_train": int(rows["train"].sum()),
        "noise_rate": None,
        "label_issues": 0,
        "outliers": 0,
        "notes": [*notes, why],
    }
    return {"ids": ids, "rows": rows, "labels": labels, "scores": scores, "info": info}


def write_outputs(result: dict, manifest, images, *, duplicates, out: dict) -> dict:
    """Write issues.tsv, scores.tsv, the two galleries and curation.json (each atomically).

    Parameters
    ----------
    result : dict
        :func:`curate`.
    manifest : pandas.DataFrame
        The ingest manifest (column ``index``: the row of each image in *images*).
    images : array-like
        The ingested images.
    duplicates : pandas.DataFrame or None
        ``ingest/duplicates.tsv``.
    out : dict
        Paths: ``issues``, ``scores``, ``label_gallery``, ``outlier_gallery``, ``info``.

    Returns
    -------
    dict
        The facts written to ``curation.json`` (with the issue counts by kind).
    """
    from imagespace.io import write_json, write_table

    from ._gallery import plot_label_issues, plot_outliers

    scores = result["scores"]
    table = issues_table(scores, result["labels"], duplicates)
    index = manifest.set_index(manifest["id"].astype(str))["index"]
    image_rows = index.loc[result["ids"]].to_numpy(np.int64)
    write_table(out["issues"], table, float_format="%.4f")
    write_table(out["scores"], scores.drop(columns="train"), float_format="%.4f")
    plot_label_issues(scores, images, image_rows=image_rows, path=out["label_gallery"])
    plot_outliers(scores, images, image_rows=image_rows, path=out["outlier_gallery"])
    info = {**result["info"], "issues": {k: int((table["kind"] == k).sum()) for k in ("label", "outlier", "duplicate")}}
    write_json(out["info"], info)
    return info
