"""Acting on the review, opt-in: drop flagged training images from every fit, or apply the user's corrections.

Both are pure functions of the ingest manifest; the workflow calls them where the fits read the manifest.
"""

from __future__ import annotations

import pandas as pd

#: curation.exclude names -> the issue kinds of issues.tsv they drop
EXCLUDE = {"label_issues": "label", "outliers": "outlier"}
#: the columns of ingest's skipped.tsv (:data:`imagespace.ingest.SKIP_COLUMNS`)
SKIP_COLUMNS = ["split", "name", "path", "kind", "reason", "is_image_file"]


def exclude_flagged(manifest: pd.DataFrame, issues: pd.DataFrame, exclude, *, train_split: str = "train"):
    """Drop the flagged training images of the kinds named in ``curation.exclude``.

    Parameters
    ----------
    manifest : pandas.DataFrame
        The ingest manifest.
    issues : pandas.DataFrame
        ``curation/issues.tsv``.
    exclude : sequence of str
        Names of :data:`EXCLUDE` (``label_issues``, ``outliers``).
    train_split : str
        Only images of this split are dropped (held-out images are scored, never removed).

    Returns
    -------
    kept : pandas.DataFrame
        The manifest without them.
    skipped : pandas.DataFrame
        One row per dropped image, columns of ``skipped.tsv``, kind ``curated``.
    """
    bad = [e for e in exclude if e not in EXCLUDE]
    if bad:
        raise ValueError(f"curation.exclude: {bad} not among {sorted(EXCLUDE)}")
    kinds = {EXCLUDE[e] for e in exclude}
    hit = issues[issues["kind"].isin(kinds) & (issues["split"].astype(str) == train_split)]
    why = hit.groupby(hit["id"].astype(str))["kind"].agg(lambda k: "+".join(sorted(set(k))))
    drop = manifest["id"].astype(str).isin(why.index)
    gone = manifest[drop]
    skipped = pd.DataFrame(
        {
            "split": gone["split"],
            "name": gone["name"],
            "path": gone["path"] if "path" in gone else "",
            "kind": "curated",
            "reason": [f"curation.exclude: flagged as {why[i]} in curation/issues.tsv" for i in gone["id"].astype(str)],
            "is_image_file": True,
        },
        columns=SKIP_COLUMNS,
    )
    return manifest[~drop].reset_index(drop=True), skipped.reset_index(drop=True)


def read_relabel(path) -> pd.DataFrame:
    """The user's corrections: a TSV with columns ``image`` (file name, as in issues.tsv) and ``label``.

    Parameters
    ----------
    path : str or Path
        ``curation.relabel``.

    Returns
    -------
    pandas.DataFrame
        Columns ``image``, ``label``.
    """
    try:
        t = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ValueError(f"curation.relabel: cannot read {path}: {exc}") from None
    missing = [c for c in ("image", "label") if c not in t.columns]
    if missing:
        raise ValueError(f"curation.relabel: {path} lacks column(s) {missing} (has {list(t.columns)})")
    dup = t["image"][t["image"].duplicated()].tolist()
    if dup:
        raise ValueError(f"curation.relabel: {path} names {dup[0]!r} more than once")
    return t[["image", "label"]]


def apply_relabel(manifest: pd.DataFrame, corrections: pd.DataFrame, *, path="curation.relabel") -> pd.DataFrame:
    """The manifest with the corrected labels (the former label kept in column ``label_before``).

    Parameters
    ----------
    manifest : pandas.DataFrame
        The ingest manifest.
    corrections : pandas.DataFrame
        :func:`read_relabel`.
    path : str
        Named in errors.

    Returns
    -------
    pandas.DataFrame
    """
    names = manifest["name"].astype(str)
    unknown = sorted(set(corrections["image"]) - set(names))
    if unknown:
        raise ValueError(f"curation.relabel: {path} names {len(unknown)} image(s) not in the dataset: {unknown[:3]}")
    known = set(manifest["label"].astype(str))
    new = sorted(set(corrections["label"]) - known)
    if new:
        raise ValueError(
            f"curation.relabel: {path} gives label(s) {new[:3]} that no image has (classes: {sorted(known)})"
        )
    fix = dict(zip(corrections["image"], corrections["label"]))
    out = manifest.copy()
    out["label_before"] = out["label"]
    out["label"] = [fix.get(n, lab) for n, lab in zip(names, out["label"].astype(str))]
    return out
