"""The review table ``curation/issues.tsv`` and the per-image scores ``curation/scores.tsv``."""

from __future__ import annotations

import numpy as np
import pandas as pd

ISSUE_COLUMNS = ["image", "id", "split", "kind", "score", "label", "suggestion", "evidence"]
SCORE_COLUMNS = [
    "id",
    "name",
    "split",
    "label",
    "label_issue_score",
    "suggested",
    "label_issue",
    "outlier_score",
    "outlier",
]
KINDS = ("label", "outlier", "duplicate")


def scores_table(rows: dict, ids, labels: pd.DataFrame, *, outlier: np.ndarray, flagged: np.ndarray) -> pd.DataFrame:
    """Every image's label-issue score (1 - cleanlab's quality) and outlier score, for maps and for review.

    Parameters
    ----------
    rows : dict
        :func:`imagespace.curation.labels_and_splits`.
    ids : array-like of str
        The row ids.
    labels : pandas.DataFrame
        :func:`imagespace.curation.label_issues`.
    outlier, flagged : numpy.ndarray
        :func:`imagespace.curation.outlier_scores`.

    Returns
    -------
    pandas.DataFrame
        :data:`SCORE_COLUMNS`, in the rows' order.
    """
    return pd.DataFrame(
        {
            "id": np.asarray(ids).astype(str),
            "name": rows["name"],
            "split": rows["split"],
            "label": labels["given"].to_numpy(),
            "label_issue_score": 1.0 - labels["quality"].to_numpy(),
            "suggested": labels["suggested"].to_numpy(),
            "label_issue": labels["issue"].to_numpy(bool),
            "outlier_score": np.asarray(outlier, dtype=float),
            "outlier": np.asarray(flagged, bool),
        },
        columns=SCORE_COLUMNS,
    )


def _duplicate_rows(duplicates: pd.DataFrame) -> list[list]:
    """One issue per duplicate image after the first of its group (the group's first is the one kept)."""
    out = []
    for g, grp in duplicates.groupby("group", sort=True):
        first = grp.iloc[0]
        for _, r in grp.iloc[1:].iterrows():
            flags = [w for w, c in (("spans splits", "spans_splits"), ("mixed labels", "mixed_labels")) if _true(r[c])]
            out.append(
                [
                    r["name"],
                    str(r["id"]),
                    r["split"],
                    "duplicate",
                    float(r["min_correlation"]),
                    r["label"],
                    f"duplicate of {first['name']} ({first['label']})",
                    f"group {g}, {r['kind']}" + "".join(f", {f}" for f in flags),
                ]
            )
    return out


def _true(v) -> bool:
    return str(v).strip().lower() in ("true", "1")


def issues_table(scores: pd.DataFrame, labels: pd.DataFrame, duplicates: pd.DataFrame | None = None) -> pd.DataFrame:
    """The review table: every flagged label issue and outlier, and every duplicate ingest found.

    Parameters
    ----------
    scores : pandas.DataFrame
        :func:`scores_table`.
    labels : pandas.DataFrame
        :func:`imagespace.curation.label_issues` (same rows).
    duplicates : pandas.DataFrame, optional
        ``ingest/duplicates.tsv``.

    Returns
    -------
    pandas.DataFrame
        :data:`ISSUE_COLUMNS`: kind label (score: 1 - quality; suggestion: the suggested label; evidence: the
        feature sets that agree and each one's most probable class), outlier (score: mean k-NN distance over
        the typical one) and duplicate (score: the group's lowest pixel correlation); each kind by score,
        highest first.
    """
    lab = scores[scores["label_issue"]]
    ev = labels.loc[lab.index]
    out = pd.DataFrame(
        {
            "image": lab["name"],
            "id": lab["id"],
            "split": lab["split"],
            "kind": "label",
            "score": lab["label_issue_score"],
            "label": lab["label"],
            "suggestion": lab["suggested"],
            "evidence": ["agree: " + (a or "none") + "; " + e for a, e in zip(ev["agree"], ev["evidence"])],
        }
    ).sort_values("score", ascending=False, kind="mergesort")
    o = scores[scores["outlier"]].sort_values("outlier_score", ascending=False, kind="mergesort")
    outl = pd.DataFrame(
        {
            "image": o["name"],
            "id": o["id"],
            "split": o["split"],
            "kind": "outlier",
            "score": o["outlier_score"],
            "label": o["label"],
            "suggestion": "check: unlike the other images",
            "evidence": [f"mean k-NN distance {s:.2f} x the typical one" for s in o["outlier_score"]],
        }
    )
    dup = pd.DataFrame(_duplicate_rows(duplicates) if duplicates is not None and len(duplicates) else [])
    dup = dup.set_axis(ISSUE_COLUMNS, axis=1) if len(dup) else pd.DataFrame(columns=ISSUE_COLUMNS)
    parts = [p for p in (out, outl, dup) if len(p)]
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=ISSUE_COLUMNS)
    return table[ISSUE_COLUMNS].reset_index(drop=True)
