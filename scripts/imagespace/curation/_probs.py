"""Predicted class probabilities: out of fold on the training split, from models fitted on it elsewhere.

The folds are the probes' (:func:`imagespace.evaluation.probe_cv`): stratified, shuffled and seeded with
``probes.seed``, ``min(probes.folds, smallest class)`` of them; the classifiers are the probes' pipelines
(:func:`imagespace.evaluation.make_probe`).
"""

from __future__ import annotations

import warnings

import numpy as np


def labels_and_splits(ids, manifest, *, train_split: str = "train") -> dict:
    """The label index, split and training mask of every row of a feature set.

    Parameters
    ----------
    ids : array-like of str
        The feature set's row ids (manifest ``id``).
    manifest : pandas.DataFrame
        The ingest manifest (``id``, ``split``, ``label``, ``name``).
    train_split : str
        The split the models are fitted on; a dataset without it uses every image (out of fold).

    Returns
    -------
    dict
        ``{classes, y, split, name, train}``: class names (natural order), label indices, splits, file names,
        and the boolean mask of the training rows.
    """
    from imagespace.io import natural_key

    m = manifest.set_index("id").loc[[str(i) for i in ids]]
    classes = sorted(set(manifest["label"].astype(str)), key=natural_key)
    index = {c: i for i, c in enumerate(classes)}
    split = m["split"].to_numpy().astype(str)
    train = split == train_split
    if not train.any():
        train = np.ones(len(split), bool)
    return {
        "classes": classes,
        "y": m["label"].astype(str).map(index).to_numpy(np.int64),
        "split": split,
        "name": m["name"].to_numpy().astype(str),
        "train": train,
    }


def _fit_proba(classifier: str, X_fit, y_fit, X_pred, n_classes: int, seed: int) -> np.ndarray:
    from imagespace.evaluation import make_probe

    model = make_probe(classifier, seed, len(y_fit)).fit(X_fit, y_fit)
    out = np.zeros((len(X_pred), n_classes))
    if len(X_pred):
        out[:, model.classes_] = model.predict_proba(X_pred)
    return out


def out_of_fold(X, y, classifier: str, *, n_classes: int, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Out-of-fold class probabilities of the probe *classifier* on (X, y).

    Parameters
    ----------
    X : numpy.ndarray, shape (n, d)
        The features.
    y : numpy.ndarray, shape (n,)
        Label indices.
    classifier : str
        One of :data:`imagespace.evaluation.PROBES`.
    n_classes : int
        Columns of the result (classes absent from a fold get probability 0).
    folds, seed : int
        The probes' folds and seed.

    Returns
    -------
    numpy.ndarray, shape (n, n_classes)
        Each row predicted by the model fitted without its fold.
    """
    from sklearn.model_selection import StratifiedKFold

    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    counts = np.bincount(y)
    k = int(max(2, min(folds, counts[counts > 0].min())))
    cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    P = np.zeros((len(y), n_classes))
    with warnings.catch_warnings():  # a class with fewer images than folds: sklearn warns, the folds stand
        warnings.simplefilter("ignore", UserWarning)
        splits = list(cv.split(X, y))
    for fit, held in splits:
        P[held] = _fit_proba(classifier, X[fit], y[fit], X[held], n_classes, seed)
    return P


def probabilities(X, rows: dict, classifier: str, *, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Class probabilities of every row: out of fold on the training rows, from a model fitted on all training
    rows for the others (held-out splits).

    Parameters
    ----------
    X : numpy.ndarray, shape (n, d)
        The features, rows as *rows* (:func:`labels_and_splits`).
    rows : dict
        :func:`labels_and_splits` of the same ids.
    classifier : str
        The probe classifier.
    folds, seed : int
        The probes' folds and seed.

    Returns
    -------
    numpy.ndarray, shape (n, number of classes)
    """
    X = np.asarray(X, dtype=np.float64)
    if not np.isfinite(X).all():
        raise ValueError("the features hold NaN or infinite values")
    k = len(rows["classes"])
    tr = rows["train"]
    P = np.zeros((len(X), k))
    P[tr] = out_of_fold(X[tr], rows["y"][tr], classifier, n_classes=k, folds=folds, seed=seed)
    if (~tr).any():
        P[~tr] = _fit_proba(classifier, X[tr], rows["y"][tr], X[~tr], k, seed)
    return P
