"""Scoring a clustering against class labels, and choosing k from a scan without them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from imagespace.io import to_jsonable

from ._base import _labels, _noise_mask, _py

if TYPE_CHECKING:
    import pandas as pd

# how each criterion of a scan picks k
SELECT_CRITERIA = {"silhouette": "max", "bic": "min", "aic": "min"}


def _contingency(y_true, y_pred):
    """Contingency table of non-noise clusters (rows) against classes (columns).

    Returns ``(table, clusters, classes, n)`` where *n* counts all points,
    noise included.
    """
    y_true = _labels(y_true, "y_true")
    y_pred = _labels(y_pred, "y_pred")
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} labels but y_pred has {len(y_pred)}")
    if len(y_true) == 0:
        raise ValueError("no labels given")
    keep = ~_noise_mask(y_pred)
    classes, t_idx = np.unique(y_true, return_inverse=True)
    clusters, p_idx = np.unique(y_pred[keep], return_inverse=True)
    table = np.zeros((len(clusters), len(classes)), dtype=np.int64)
    np.add.at(table, (p_idx, t_idx[keep]), 1)
    return table, clusters, classes, len(y_true)


def hungarian_accuracy(y_true, y_pred) -> tuple[float, dict]:
    """Accuracy after the optimal one-to-one matching of clusters to classes.

    The matching maximises the number of correctly labelled points
    (:func:`scipy.optimize.linear_sum_assignment` on the cluster-by-class
    contingency table). With more clusters than classes the surplus clusters
    stay unmatched and all their points count as wrong; with more classes than
    clusters some classes get no cluster. Noise points (label ``-1``) are never
    matched and always count as wrong. The denominator is all points.

    Parameters
    ----------
    y_true : array-like, shape (n,)
        The classes.
    y_pred : array-like, shape (n,)
        The clusters (-1: noise).

    Returns
    -------
    accuracy : float
        Share of all points whose cluster is matched to their class.
    mapping : dict
        ``{cluster: class}`` of the matched pairs that share at least one point (Python-native keys and values).
    """
    from scipy.optimize import linear_sum_assignment

    table, clusters, classes, n = _contingency(y_true, y_pred)
    if table.size == 0:
        return 0.0, {}
    rows, cols = linear_sum_assignment(table, maximize=True)
    correct = int(table[rows, cols].sum())
    mapping = {_py(clusters[r]): _py(classes[c]) for r, c in zip(rows, cols) if table[r, c] > 0}
    return correct / n, mapping


def majority_mapping(y_true, y_pred) -> dict:
    """Map each (non-noise) cluster to its most frequent class (many-to-one).

    Ties go to the class that sorts first.

    Parameters
    ----------
    y_true : array-like, shape (n,)
        The classes.
    y_pred : array-like, shape (n,)
        The clusters (-1: noise).

    Returns
    -------
    dict
        ``{cluster: class}`` (Python-native keys and values).
    """
    table, clusters, classes, _ = _contingency(y_true, y_pred)
    # np.unique sorts the classes and argmax returns the first maximum.
    return {_py(clusters[i]): _py(classes[j]) for i, j in enumerate(table.argmax(axis=1))}


def majority_accuracy(y_true, y_pred) -> float:
    """Accuracy when each cluster is labelled by its majority class.

    This many-to-one mapping is what many notebooks report; it rewards
    over-segmentation (with one cluster per point it is 1.0), so it is shown
    next to :func:`hungarian_accuracy`, never instead of it. Noise points count
    as wrong; ties between classes go to the class that sorts first.

    Parameters
    ----------
    y_true : array-like, shape (n,)
        The classes.
    y_pred : array-like, shape (n,)
        The clusters (-1: noise).

    Returns
    -------
    float
        Share of all points in their cluster's majority class.
    """
    table, _, _, n = _contingency(y_true, y_pred)
    if table.size == 0:
        return 0.0
    return float(table.max(axis=1).sum()) / n


def score_clustering(y_pred, labels, subtypes=None) -> dict:
    """Score a clustering against class labels (and optionally finer subtypes).

    Keys: ``k`` (clusters excluding noise), ``n_noise``, ``accuracy``
    (Hungarian), ``majority_accuracy``, ``ari``, ``nmi`` (against *labels*),
    ``ari_subtype``, ``nmi_subtype`` (None without *subtypes*), ``sizes``
    (cluster -> count, string keys, noise as ``"-1"``) and ``mapping``
    (Hungarian cluster -> class, string keys). For ARI/NMI the noise points
    form one group of their own.

    Parameters
    ----------
    y_pred : array-like, shape (n,)
        The clusters (-1: noise).
    labels : array-like, shape (n,)
        The classes.
    subtypes : array-like, shape (n,), optional
        Finer classes; ignored where they equal *labels*.

    Returns
    -------
    dict
        The scores above, JSON-ready.
    """
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    y_pred = _labels(y_pred, "y_pred")
    labels = _labels(labels, "labels")
    noise = _noise_mask(y_pred)
    acc, mapping = hungarian_accuracy(labels, y_pred)
    clusters, counts = np.unique(y_pred, return_counts=True)
    result = {
        "k": int(len(np.unique(y_pred[~noise]))),
        "n_noise": int(noise.sum()),
        "accuracy": acc,
        "majority_accuracy": majority_accuracy(labels, y_pred),
        "ari": float(adjusted_rand_score(labels, y_pred)),
        "nmi": float(normalized_mutual_info_score(labels, y_pred)),
        "ari_subtype": None,
        "nmi_subtype": None,
        "sizes": {str(_py(c)): int(n) for c, n in zip(clusters, counts)},
        "mapping": mapping,
    }
    if subtypes is not None and np.array_equal(np.asarray(subtypes).astype(str), np.asarray(labels).astype(str)):
        subtypes = None  # no subtypes (each image's subtype is its label): no second, identical pair of scores
    if subtypes is not None:
        subtypes = _labels(subtypes, "subtypes")
        if len(subtypes) != len(y_pred):
            raise ValueError(f"subtypes has {len(subtypes)} labels but y_pred has {len(y_pred)}")
        result["ari_subtype"] = float(adjusted_rand_score(subtypes, y_pred))
        result["nmi_subtype"] = float(normalized_mutual_info_score(subtypes, y_pred))
    return to_jsonable(result)


def select_k(scan_df: pd.DataFrame, criterion: str) -> int:
    """Best k of a scan: max ``silhouette``, min ``bic`` or min ``aic``.

    NaN rows are ignored; ties go to the smallest k.

    Parameters
    ----------
    scan_df : pandas.DataFrame
        A scan table with a ``k`` column and the *criterion*'s column.
    criterion : str
        One of :data:`SELECT_CRITERIA`.

    Returns
    -------
    int
        The chosen k.
    """
    if criterion not in SELECT_CRITERIA:
        raise ValueError(f"unknown criterion {criterion!r}; choose one of {sorted(SELECT_CRITERIA)}")
    if criterion not in scan_df.columns:
        raise ValueError(f"scan table has no column {criterion!r} (columns: {list(scan_df.columns)})")
    df = scan_df.dropna(subset=[criterion]).sort_values("k", kind="stable")
    if df.empty:
        raise ValueError(f"no finite {criterion} values to select k from")
    values = df[criterion].to_numpy(dtype=float)
    i = int(np.argmax(values) if SELECT_CRITERIA[criterion] == "max" else np.argmin(values))
    return int(df["k"].iloc[i])


def resolve_k(spec, rows: pd.DataFrame, scan: pd.DataFrame | None = None) -> int:
    """Final k: an integer, 'n_classes', or a criterion of the scan ('silhouette', 'bic', 'aic').

    Parameters
    ----------
    spec : int or str
        The config's ``k``.
    rows : pandas.DataFrame
        The clustered rows (column ``label``: for ``n_classes``).
    scan : pandas.DataFrame, optional
        The scan a criterion chooses from.

    Returns
    -------
    int
        k.
    """
    if isinstance(spec, int) or (isinstance(spec, str) and spec.isdigit()):
        return int(spec)
    if spec == "n_classes":
        return int(rows["label"].nunique())
    if scan is None:
        raise ValueError(f"k: {spec!r} needs a scan")
    return select_k(scan, spec)


def k_range(opts: dict, n: int) -> list[int]:
    """The k a scan tries: ``opts["k_min"]`` to ``opts["k_max"]``, at most n - 1.

    Parameters
    ----------
    opts : dict
        A method's config block.
    n : int
        Rows clustered.

    Returns
    -------
    list of int
        The k.
    """
    return list(range(int(opts["k_min"]), min(int(opts["k_max"]), n - 1) + 1))
