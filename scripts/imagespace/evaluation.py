"""Evaluation of classifiers: metrics, sanity warnings, confusion figures, mistake galleries, linear/kNN probes.

Plain Python (no Snakemake): labels are integer indices into a list of class
names throughout. Metrics come from scikit-learn; every returned dict holds
plain Python types only, so it can go straight into ``util.write_json``.
"""

from __future__ import annotations

import logging
import math
import warnings

import numpy as np

log = logging.getLogger("imagespace.evaluation")

PROBES = ("logistic", "knn", "nearest_centroid")

# probe_cv fits on at most this many rows (a stratified sample) to keep logistic regression tractable
MAX_PROBE_ROWS = 20000
#: the split of the images ``curation.exclude`` takes out (the curated manifest, :mod:`imagespace.curation`): they keep
#: their rows (rows index the image array and every feature file), but no fit trains on them and no held-out score
#: (probes, CNN evaluation) counts them
EXCLUDED_SPLIT = "curated"


# --------------------------------------------------------------------------- metrics
def _labels(y, name: str, k: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise ValueError(f"{name} must hold integer class indices")
    y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= k):
        raise ValueError(f"{name} holds class indices outside 0..{k - 1} ({k} class names)")
    return y


def classification_metrics(y_true, y_pred, class_names: list[str]) -> dict:
    """Accuracy, balanced accuracy, macro F1, baselines, per-class scores and the K x K confusion matrix.

    ``y_true`` and ``y_pred`` are integer indices into ``class_names``. Returns::

        {"n", "accuracy", "balanced_accuracy", "macro_f1",
         "majority_rate", "majority_class", "chance_rate",
         "per_class": {name: {"precision", "recall", "f1", "support"}},
         "confusion": [[count]] (rows = true, columns = predicted, class_names order),
         "confusion_normalized": [[share of the row]] (all 0 for rows without support),
         "class_names": [...],
         "most_confused": [{"true", "predicted", "count", "share"}] (up to 5, largest count first;
                           share = count / support of the true class)}

    Macro F1 and balanced accuracy are over the classes present in ``y_true``.
    """
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        confusion_matrix,
        f1_score,
        precision_recall_fscore_support,
    )

    class_names = [str(c) for c in class_names]
    k = len(class_names)
    if k == 0:
        raise ValueError("class_names is empty")
    y_true = _labels(y_true, "y_true", k)
    y_pred = _labels(y_pred, "y_pred", k)
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} labels but y_pred has {len(y_pred)}")
    n = len(y_true)
    if n == 0:
        raise ValueError("no labels to evaluate (empty split)")

    labels = list(range(k))
    present = sorted(set(y_true.tolist()))
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    support = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cmn = np.where(support[:, None] > 0, cm / np.maximum(support, 1)[:, None], 0.0)
    prec, rec, f1, sup = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    counts = np.bincount(y_true, minlength=k)
    maj = int(np.argmax(counts))

    with warnings.catch_warnings():  # "y_pred contains classes not in y_true": those are left out, as intended
        warnings.simplefilter("ignore", UserWarning)
        balanced = float(balanced_accuracy_score(y_true, y_pred))  # mean recall over the classes in y_true

    off = [(int(cm[i, j]), i, j) for i in range(k) for j in range(k) if i != j and cm[i, j] > 0]
    off.sort(key=lambda t: (-t[0], t[1], t[2]))
    most_confused = [
        {"true": class_names[i], "predicted": class_names[j], "count": c, "share": float(c / support[i])}
        for c, i, j in off[:5]
    ]
    return {
        "n": int(n),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": balanced,
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "majority_rate": float(counts[maj] / n),
        "majority_class": class_names[maj],
        "chance_rate": float(1.0 / len(present)),
        "per_class": {
            name: {"precision": float(prec[i]), "recall": float(rec[i]), "f1": float(f1[i]), "support": int(sup[i])}
            for i, name in enumerate(class_names)
        },
        "confusion": cm.astype(int).tolist(),
        "confusion_normalized": cmn.astype(float).tolist(),
        "class_names": class_names,
        "most_confused": most_confused,
    }


def degenerate_warnings(metrics: dict, label: str, margin: float = 0.05) -> list[str]:
    """Plain-English warnings for a classifier that has learnt (almost) nothing; [] when it looks fine.

    Warns when the accuracy is within ``margin`` of, or below, the larger of the
    majority-class rate and the chance rate; and (with n >= 20) when one class
    receives >= 95% of the predictions although the true labels are not that
    concentrated.
    """
    out: list[str] = []
    acc = float(metrics["accuracy"])
    maj = float(metrics["majority_rate"])
    chance = float(metrics["chance_rate"])
    base = max(maj, chance)
    if acc <= base + margin:
        out.append(
            f"{label}: held-out accuracy {acc:.3f} is within {margin:.2f} of (or below) the majority-class rate "
            f"{maj:.3f} (always predicting '{metrics['majority_class']}'; chance {chance:.3f}): "
            "the classifier does no better than a trivial baseline."
        )
    cm = np.asarray(metrics["confusion"])
    n = int(cm.sum())
    if n >= 20:
        pred_counts = cm.sum(axis=0)
        j = int(np.argmax(pred_counts))
        true_top = cm.sum(axis=1).max() / n
        if pred_counts[j] / n >= 0.95 and true_top < 0.95:
            name = metrics["class_names"][j]
            out.append(
                f"{label}: predicts '{name}' for {int(pred_counts[j])} of {n} images "
                f"({pred_counts[j] / n:.0%}), although the most frequent true class is only {true_top:.0%} of them: "
                "the classifier has collapsed onto one class."
            )
    return out


# --------------------------------------------------------------------------- figures
def _short(name, width: int = 18) -> str:
    name = str(name)
    return name if len(name) <= width else name[: width - 1] + "…"


def plot_confusion(metrics: dict, path, title: str = "", normalize: bool = True) -> None:
    """Heat map of the confusion matrix (rows = true class, columns = predicted), readable up to ~40 classes.

    Cells are annotated only when K <= 20: with the percentage (and the count
    below it when K <= 12) when normalised, else with the count.
    """
    from matplotlib.figure import Figure

    from imagespace.io import save_figure

    names = [_short(c) for c in metrics["class_names"]]
    k = len(names)
    cm = np.asarray(metrics["confusion"], dtype=float)
    cmn = np.asarray(metrics["confusion_normalized"], dtype=float)
    data = cmn if normalize else cm
    size = max(5.0, 0.28 * k + 2.5)
    tick_fs = float(np.clip(200.0 / max(k, 1), 6.0, 10.0))
    fig = Figure(figsize=(size + 1.2, size))
    ax = fig.subplots()
    vmax = 1.0 if normalize else max(1.0, float(cm.max()))
    im = ax.imshow(data, cmap="Blues", vmin=0.0, vmax=vmax, interpolation="nearest", aspect="equal")
    cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
    cb.set_label("share of the true class" if normalize else "images", fontsize=9)
    cb.ax.tick_params(labelsize=8)
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xticklabels(names, rotation=60 if k > 6 else 30, ha="right", rotation_mode="anchor", fontsize=tick_fs)
    ax.set_yticklabels(names, fontsize=tick_fs)
    ax.set_xlabel("predicted class", fontsize=10)
    ax.set_ylabel("true class", fontsize=10)
    if k > 1:  # thin grid between cells
        ax.set_xticks(np.arange(-0.5, k, 1), minor=True)
        ax.set_yticks(np.arange(-0.5, k, 1), minor=True)
        ax.grid(which="minor", color="0.85", lw=0.4)
        ax.tick_params(which="minor", length=0)
    if k <= 20:
        ann_fs = 9 if k <= 8 else (7.5 if k <= 12 else 6.5)
        for i in range(k):
            for j in range(k):
                if cm[i].sum() == 0 or (k > 12 and cm[i, j] == 0):  # empty rows; zeros only clutter big matrices
                    continue
                if normalize:
                    text = f"{100 * cmn[i, j]:.0f}%"
                    if k <= 12:
                        text += f"\n{int(cm[i, j])}"
                else:
                    text = str(int(cm[i, j]))
                dark = data[i, j] > 0.55 * vmax
                ax.text(j, i, text, ha="center", va="center", fontsize=ann_fs, color="white" if dark else "0.15")
    acc = metrics.get("accuracy")
    sub = (
        f"accuracy {acc:.3f}, balanced {metrics.get('balanced_accuracy', float('nan')):.3f}, n = {metrics.get('n')}"
        if acc is not None
        else ""
    )
    ax.set_title("\n".join(t for t in (title, sub) if t), fontsize=10)
    save_figure(fig, path)


def confident_mistake_rows(y_true, y_pred, confidence, n: int = 16) -> np.ndarray:
    """Indices of the (up to) *n* wrong predictions with the highest confidence, highest first (ties: lower index)."""
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    confidence = np.asarray(confidence, dtype=float)
    if not (len(y_true) == len(y_pred) == len(confidence)):
        raise ValueError(
            f"y_true ({len(y_true)}), y_pred ({len(y_pred)}) and confidence ({len(confidence)}) differ in length"
        )
    wrong = np.flatnonzero(y_true != y_pred)
    conf = np.nan_to_num(confidence[wrong], nan=-np.inf)
    order = np.argsort(-conf, kind="stable")
    return wrong[order[: max(0, int(n))]]


def plot_confident_mistakes(
    images, y_true, y_pred, confidence, class_names, ids, path, n: int = 16, title: str = "", image_rows=None
) -> np.ndarray:
    """Gallery of the *n* most confident wrong predictions; returns the drawn row indices.

    ``images`` is N x H x W x C uint8 (C = 1 or 3), possibly a memmap: only the
    drawn rows are read. When *y_true* etc. describe a subset of the images (one split),
    ``image_rows[i]`` is the row of ``images`` that item i shows, and the returned
    indices are rows of ``images``. With no mistake the figure says so (the file is still written).
    """
    from matplotlib.figure import Figure

    from imagespace.io import save_figure

    rows = confident_mistake_rows(y_true, y_pred, confidence, n)
    m = len(rows)
    if m == 0:
        fig = Figure(figsize=(4, 2))
        ax = fig.subplots()
        ax.axis("off")
        ax.text(0.5, 0.5, "no mistakes", ha="center", va="center", fontsize=14, transform=ax.transAxes)
        if title:
            ax.set_title(title, fontsize=10)
        save_figure(fig, path)
        return rows
    ncol = min(m, 4 if m <= 8 else int(math.ceil(math.sqrt(m))))
    nrow = int(math.ceil(m / ncol))
    fig = Figure(figsize=(2.7 * ncol, 2.7 * nrow + (0.4 if title else 0)))
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, i in zip(axes, rows):
        img = np.asarray(images[int(i if image_rows is None else image_rows[i])])
        if img.ndim == 3 and img.shape[2] == 1:
            img = img[:, :, 0]
        if img.ndim == 2:
            ax.imshow(img, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        else:
            ax.imshow(img, interpolation="nearest")
        t, p = class_names[int(y_true[i])], class_names[int(y_pred[i])]
        ax.set_title(
            f"{_short(ids[i], 28)}\n{_short(t, 13)} → {_short(p, 13)} (p={float(confidence[i]):.2f})", fontsize=6.5
        )
    if title:
        fig.suptitle(title, fontsize=10)
    save_figure(fig, path)
    return rows if image_rows is None else np.asarray(image_rows)[rows]


# --------------------------------------------------------------------------- tables
def mistakes_table(ids, y_true, y_pred, confidence, class_names):
    """All rows as a DataFrame (id, true, predicted, confidence, correct): mistakes first, most confident first."""
    import pandas as pd

    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    names = np.asarray([str(c) for c in class_names], dtype=object)
    df = pd.DataFrame(
        {
            "id": np.asarray(ids).astype(str),
            "true": names[y_true],
            "predicted": names[y_pred],
            "confidence": np.asarray(confidence, dtype=float),
            "correct": y_true == y_pred,
        }
    )
    return df.sort_values(
        ["correct", "confidence"], ascending=[True, False], kind="mergesort", na_position="last"
    ).reset_index(drop=True)


# --------------------------------------------------------------------------- probes
def make_probe(name: str, seed: int, n_train: int):
    """A scikit-learn Pipeline (StandardScaler + classifier) for probe *name* (one of PROBES)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier, NearestCentroid
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "logistic":
        clf = LogisticRegression(C=1.0, max_iter=2000, solver="lbfgs", random_state=seed)
    elif name == "knn":
        clf = KNeighborsClassifier(n_neighbors=max(1, min(5, int(n_train))))
    elif name == "nearest_centroid":
        clf = NearestCentroid()
    else:
        raise ValueError(f"unknown probe {name!r}; known probes: {', '.join(PROBES)}")
    return make_pipeline(StandardScaler(), clf)


def _check_probes(probes) -> tuple[str, ...]:
    probes = (probes,) if isinstance(probes, str) else tuple(probes)
    for p in probes:
        if p not in PROBES:
            raise ValueError(f"unknown probe {p!r}; known probes: {', '.join(PROBES)}")
    return probes


def _xy(X, y, k: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"{what}: features must be a 2-D array (N x D), got shape {X.shape}")
    y = _labels(y, f"{what} labels", k)
    if len(y) != X.shape[0]:
        raise ValueError(f"{what}: {X.shape[0]} feature rows but {len(y)} labels")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{what}: features contain NaN or infinite values")
    return X, y


def _subsample(y: np.ndarray, m: int, seed: int, keep: int) -> np.ndarray:
    """A stratified sample of about m rows (imagespace.sampling), topped up so every class keeps min(count, keep)
    rows."""
    from imagespace.sampling import stratified_sample

    idx = stratified_sample(len(y), m, seed, strata=y)
    chosen = np.zeros(len(y), bool)
    chosen[idx] = True
    rng = np.random.default_rng(seed)
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        have = int(chosen[members].sum())
        need = min(len(members), keep) - have
        if need > 0:
            chosen[rng.choice(members[~chosen[members]], size=need, replace=False)] = True
    return np.flatnonzero(chosen)


def probe_cv(X, y, class_names, probes=PROBES, folds: int = 5, seed: int = 0, shuffle_labels: bool = False) -> dict:
    """Cross-validated probes: out-of-fold predictions (StratifiedKFold, shuffled, seeded) scored by
    classification_metrics.

    Folds = min(*folds*, size of the smallest class). With more than 20,000
    rows a stratified sample of 20,000 rows (``util.stratified_sample`` with the
    labels as strata; every class keeps at least min(its count, folds) rows) is
    used, so that logistic regression (lbfgs) stays tractable for D up to a few
    thousand. ``shuffle_labels`` permutes the labels with *seed* first, giving
    a chance baseline.

    Returns ``{probe: {**classification_metrics(...), "folds": k, "n_used": rows used, "shuffled": bool}}``.
    """
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    probes = _check_probes(probes)
    class_names = [str(c) for c in class_names]
    X, y = _xy(X, y, len(class_names), "probe_cv")
    if folds < 2:
        raise ValueError(f"probe_cv needs at least 2 folds, got {folds}")
    if shuffle_labels:
        y = np.random.default_rng(seed).permutation(y)
    present, counts = np.unique(y, return_counts=True)
    if len(present) < 2:
        raise ValueError(f"probe_cv needs at least 2 classes, the labels hold {len(present)}")
    if counts.min() < 2:
        small = [class_names[c] for c, m in zip(present, counts) if m < 2]
        raise ValueError(
            f"probe_cv needs at least 2 images in every class for cross-validation; "
            f"{len(small)} class(es) have only 1: {', '.join(small[:5])}"
        )
    if len(y) > MAX_PROBE_ROWS:
        rows = _subsample(y, MAX_PROBE_ROWS, seed, keep=folds)
        log.info("probe_cv: %d rows, using a stratified sample of %d", len(y), len(rows))
        X, y = X[rows], y[rows]
        counts = np.unique(y, return_counts=True)[1]
    k = int(min(folds, counts.min()))
    cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    n_train = len(y) - int(math.ceil(len(y) / k))  # the smallest training fold
    out = {}
    for name in probes:
        pred = cross_val_predict(make_probe(name, seed, n_train), X, y, cv=cv)
        out[name] = {
            **classification_metrics(y, pred, class_names),
            "folds": k,
            "n_used": int(len(y)),
            "shuffled": bool(shuffle_labels),
        }
    return out


def probe_holdout(X_train, y_train, X_test, y_test, class_names, probes=PROBES, seed: int = 0) -> dict:
    """Probes fitted on the training rows and scored on the test rows.

    Returns ``{probe: {**classification_metrics(test), "folds": None, "n_used": training rows, "shuffled": False}}``.
    """
    probes = _check_probes(probes)
    class_names = [str(c) for c in class_names]
    X_train, y_train = _xy(X_train, y_train, len(class_names), "probe_holdout (train)")
    X_test, y_test = _xy(X_test, y_test, len(class_names), "probe_holdout (test)")
    if X_train.shape[1] != X_test.shape[1]:
        raise ValueError(f"probe_holdout: train has {X_train.shape[1]} features, test has {X_test.shape[1]}")
    if len(np.unique(y_train)) < 2:
        raise ValueError("probe_holdout needs at least 2 classes in the training rows")
    if len(y_test) == 0:
        raise ValueError("probe_holdout: the test split is empty")
    out = {}
    for name in probes:
        model = make_probe(name, seed, len(y_train)).fit(X_train, y_train)
        out[name] = {
            **classification_metrics(y_test, model.predict(X_test), class_names),
            "folds": None,
            "n_used": int(len(y_train)),
            "shuffled": False,
        }
    return out


# --------------------------------------------------------------------------- probes of one feature set
def probe_feature_set(
    X, ids, manifest, probes=PROBES, train_split: str = "train", folds: int = 5, seed: int = 0
) -> dict:
    """Every probe on one feature set: fitted on *train_split*, scored on each other split it has rows for;
    cross-validated on *train_split*; and cross-validated on shuffled labels (the chance level).

    *ids* key the rows of *X* to the manifest (``id``, ``split``, ``label``). Without a
    *train_split* among the rows (a dataset without splits), the cross-validation over all
    rows is the only score. Returns {"classes", "train_split", "n_train", "holdout": {split:
    {probe: metrics}}, "cv": {probe: metrics}, "shuffled": {probe: metrics}, "headline": split or "cv"}.
    The headline is the first held-out split that chose nothing (test before validation).
    """
    import pandas as pd

    m = manifest.set_index("id").loc[[str(i) for i in ids]]
    from imagespace.io import natural_key, rows_all_equal

    classes = sorted(pd.unique(manifest["label"]).tolist(), key=natural_key)
    index = {c: i for i, c in enumerate(classes)}
    y = m["label"].map(index).to_numpy(np.int64)
    splits = m["split"].to_numpy().astype(str)
    X = np.asarray(X, dtype=np.float64)
    bad = ~np.isfinite(X).all(axis=1)
    if bad.any():
        raise ValueError(
            f"{int(bad.sum())} rows of the feature set hold NaN or infinite values "
            f"(first id: {np.asarray(ids)[bad][0]})"
        )
    tr = np.flatnonzero(splits == train_split)
    if len(tr) == 0:
        tr = np.flatnonzero(splits != EXCLUDED_SPLIT)
        train_split = "all"
    out = {"classes": classes, "train_split": train_split, "n_train": int(len(tr)), "holdout": {}}
    if rows_all_equal(X):  # e.g. a collapsed network: no classifier can be fitted on it
        why = (
            f"every row of the feature set is the same ({X.shape[1]} dims): no probe was fitted "
            "(it carries no information)"
        )
        return {**out, "cv": {}, "shuffled": {}, "notes": [why], "headline": None, "degenerate": why}
    fit_rows = tr if len(tr) <= MAX_PROBE_ROWS else tr[_subsample(y[tr], MAX_PROBE_ROWS, seed, keep=folds)]
    for sp in dict.fromkeys(splits.tolist()):
        if sp in (train_split, EXCLUDED_SPLIT) or train_split == "all":  # curation.exclude's images: never scored
            continue
        te = np.flatnonzero(splits == sp)
        out["holdout"][sp] = probe_holdout(X[fit_rows], y[fit_rows], X[te], y[te], classes, probes, seed)
    out["notes"] = []
    for key, shuffled in (("cv", False), ("shuffled", True)):
        try:
            out[key] = probe_cv(X[tr], y[tr], classes, probes, folds, seed, shuffle_labels=shuffled)
        except ValueError as exc:  # e.g. a class with one training image: no stratified folds
            out[key] = {}
            out["notes"].append(
                f"{'shuffled-label ' if shuffled else ''}cross-validation on {train_split!r} not run: {exc}"
            )
    held = list(out["holdout"])
    order = sorted(held, key=lambda s: (s != "test", s != "validation", s))
    out["headline"] = order[0] if order else ("cv" if out["cv"] else None)
    return out


def probe_scores(result: dict) -> dict:
    """{probe: {accuracy, balanced_accuracy, macro_f1, split, chance}} of a probe_feature_set result, on its
    headline."""
    head = result["headline"]
    if head is None:
        return {}
    by = result["cv"] if head == "cv" else result["holdout"][head]
    shuffled = result.get("shuffled") or {}
    return {
        p: {
            "accuracy": r["accuracy"],
            "balanced_accuracy": r["balanced_accuracy"],
            "macro_f1": r["macro_f1"],
            "split": head,
            "n": r["n"],
            "shuffled_accuracy": shuffled[p]["accuracy"] if p in shuffled else None,
            "majority_rate": r["majority_rate"],
        }
        for p, r in by.items()
    }
