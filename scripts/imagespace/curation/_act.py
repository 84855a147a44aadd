"""Acting on the review, opt-in: drop flagged training images from every fit, or apply the user's corrections.

Both are pure functions of the ingest manifest and give the *curated manifest* (``curation/manifest.tsv``) that the
fits downstream of the training split read instead of ``ingest/manifest.tsv``. It keeps every row, in the same order
(the rows index the image array and every feature file): an excluded training image moves to the split
:data:`CURATED`, so no fit on the training split sees it and no held-out score counts it (the probes and the CNN
evaluation skip that split), while it is still described, mapped and clustered; a corrected label replaces the
given one, which is kept in the column ``label_before``.
"""

from __future__ import annotations

import pandas as pd

from imagespace.evaluation import EXCLUDED_SPLIT

#: curation.exclude names -> the issue kinds of issues.tsv they drop
EXCLUDE = {"label_issues": "label", "outliers": "outlier"}
#: the kind of an excluded image in curation/skipped.tsv, and the split it moves to in the curated manifest
#: (:data:`imagespace.evaluation.EXCLUDED_SPLIT`: no fit trains on it, no held-out score counts it)
CURATED = EXCLUDED_SPLIT
#: the columns of ingest's skipped.tsv (:data:`imagespace.io.SKIP_COLUMNS`)
SKIP_COLUMNS = ["split", "name", "path", "kind", "reason", "is_image_file"]
#: the columns a relabel file may name its images by (manifest column: ``image`` is issues.tsv's name for ``name``)
RELABEL_KEYS = {"id": "id", "name": "name", "image": "name"}
#: the columns a relabel file may give the corrected label in
RELABEL_LABELS = ("label", "new_label")


def _with_copies(manifest: pd.DataFrame, ids: set) -> pd.Series:
    """Rows whose id is in *ids*, and ``balance``'s augmented copies of them (column ``augmented_from``)."""
    hit = manifest["id"].astype(str).isin(ids)
    if "augmented_from" in manifest:
        hit |= manifest["augmented_from"].fillna("").astype(str).isin(ids)
    return hit


def exclude_flagged(manifest: pd.DataFrame, issues: pd.DataFrame, exclude, *, train_split: str = "train", keep=()):
    """Take the flagged training images of the kinds named in ``curation.exclude`` out of the training split.

    Parameters
    ----------
    manifest : pandas.DataFrame
        The ingest manifest.
    issues : pandas.DataFrame
        ``curation/issues.tsv``.
    exclude : sequence of str
        Names of :data:`EXCLUDE` (``label_issues``, ``outliers``).
    train_split : str
        Only images of this split are excluded (held-out images are scored, never removed); a dataset without it
        is all training images (as for the probes), and its kept images become this split.
    keep : collection of str
        Ids never excluded as label issues (their label was corrected by ``curation.relabel``).

    Returns
    -------
    curated : pandas.DataFrame
        The manifest, every row in its place, the excluded ones (and their augmented copies) in split
        :data:`CURATED`.
    skipped : pandas.DataFrame
        One row per excluded image, columns of ``skipped.tsv``, kind ``curated``.
    """
    bad = [e for e in exclude if e not in EXCLUDE]
    if bad:
        raise ValueError(f"curation.exclude: {bad} not among {sorted(EXCLUDE)}")
    split = manifest["split"].astype(str)
    if CURATED in set(split):
        raise ValueError(f"curation.exclude: the dataset already has a split named {CURATED!r}")
    has_train = (split == train_split).any()
    kinds = {EXCLUDE[e] for e in exclude}
    hit = issues[issues["kind"].isin(kinds) & ((issues["split"].astype(str) == train_split) | (not has_train))]
    hit = hit[~((hit["kind"] == "label") & hit["id"].astype(str).isin(set(map(str, keep))))]
    why = hit.groupby(hit["id"].astype(str))["kind"].agg(lambda k: "+".join(sorted(set(k))))
    drop = _with_copies(manifest, set(why.index))
    out = manifest.copy()
    if not has_train:
        out.loc[~drop, "split"] = train_split
    out.loc[drop, "split"] = CURATED
    gone = manifest[drop]
    origin = gone["id"].astype(str)
    if "augmented_from" in gone:
        origin = origin.where(origin.isin(why.index), gone["augmented_from"].fillna("").astype(str))
    skipped = pd.DataFrame(
        {
            "split": gone["split"],
            "name": gone["name"],
            "path": gone["path"] if "path" in gone else "",
            "kind": CURATED,
            "reason": [f"curation.exclude: flagged as {why[i]} in curation/issues.tsv" for i in origin],
            "is_image_file": True,
        },
        columns=SKIP_COLUMNS,
    )
    return out, skipped.reset_index(drop=True)


def read_relabel(path) -> pd.DataFrame:
    """The user's corrections: a TSV with a column ``id`` or ``name`` (``image``, as in issues.tsv, is the name)
    and a column ``label`` (or ``new_label``).

    Parameters
    ----------
    path : str or Path
        ``curation.relabel``.

    Returns
    -------
    pandas.DataFrame
        Columns ``key`` (the manifest column the rows name: ``id`` or ``name``), ``value``, ``label`` and ``line``
        (the row's line in the file, the header being line 1).
    """
    try:
        t = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ValueError(f"curation.relabel: cannot read {path}: {exc}") from None
    key = next((c for c in RELABEL_KEYS if c in t.columns), None)
    lab = next((c for c in RELABEL_LABELS if c in t.columns), None)
    if key is None or lab is None:
        raise ValueError(
            f"curation.relabel: {path} needs a column id or name (or image) and a column label (or new_label); "
            f"it has {list(t.columns)}"
        )
    out = pd.DataFrame(
        {"key": RELABEL_KEYS[key], "value": t[key].str.strip(), "label": t[lab].str.strip(), "line": t.index + 2}
    )
    dup = out[out["value"].duplicated()]
    if len(dup):
        r = dup.iloc[0]
        raise ValueError(f"curation.relabel: {path} line {r['line']}: {key} {r['value']!r} is named more than once")
    empty = out[(out["value"] == "") | (out["label"] == "")]
    if len(empty):
        raise ValueError(f"curation.relabel: {path} line {empty['line'].iloc[0]}: an empty {key} or label")
    return out


def apply_relabel(manifest: pd.DataFrame, corrections: pd.DataFrame, *, path="curation.relabel") -> pd.DataFrame:
    """The manifest with the corrected labels (the given label kept in column ``label_before``); ``balance``'s
    augmented copies of a corrected image take its new label.

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
    out = manifest.copy()
    out["label_before"] = out["label"].astype(str)
    known = set(out["label_before"])
    for r in corrections.itertuples(index=False):
        rows = out[r.key].astype(str) == r.value
        where = f"curation.relabel: {path} line {r.line}:"
        if not rows.any():
            raise ValueError(f"{where} no image of the dataset has the {r.key} {r.value!r}")
        if rows.sum() > 1:
            raise ValueError(f"{where} {rows.sum()} images have the {r.key} {r.value!r}; name it by its id")
        if r.label not in known:
            raise ValueError(f"{where} the label {r.label!r} is not a class of the dataset ({sorted(known)})")
        out.loc[_with_copies(out, set(out.loc[rows, "id"].astype(str))), "label"] = r.label
    return out


def curated_manifest(
    manifest: pd.DataFrame, *, issues=None, exclude=(), corrections=None, train_split="train", path=""
):
    """The curated manifest: ``curation.relabel`` applied, then ``curation.exclude`` (a corrected image is not
    excluded as a label issue: its label was reviewed).

    Parameters
    ----------
    manifest : pandas.DataFrame
        The ingest manifest.
    issues : pandas.DataFrame, optional
        ``curation/issues.tsv`` (needed when *exclude* names a kind).
    exclude : sequence of str
        ``curation.exclude``.
    corrections : pandas.DataFrame, optional
        :func:`read_relabel` of ``curation.relabel``.
    train_split : str
        The probes' training split.
    path : str
        The relabel file, named in errors.

    Returns
    -------
    curated : pandas.DataFrame
        Every row of *manifest*, in order, with the column ``label_before``.
    skipped : pandas.DataFrame
        The excluded images (:func:`exclude_flagged`).
    facts : dict
        ``{exclude, relabel, excluded, relabelled, excluded_by_kind}`` for curation/applied.json and the summary.
    """
    out = manifest.copy()
    out["label_before"] = out["label"].astype(str)
    if corrections is not None and len(corrections):
        out = apply_relabel(manifest, corrections, path=path)
    changed = out["label"].astype(str) != out["label_before"]
    skipped = pd.DataFrame(columns=SKIP_COLUMNS)
    if exclude:
        if issues is None:
            raise ValueError("curation.exclude needs curation/issues.tsv")
        out, skipped = exclude_flagged(out, issues, exclude, train_split=train_split, keep=set(out.loc[changed, "id"]))
    kinds = skipped["reason"].str.extract(r"flagged as (\S+) in")[0].str.split("+").explode()
    facts = {
        "exclude": list(exclude),
        "relabel": str(path) if corrections is not None else None,
        "excluded": int(len(skipped)),
        "excluded_by_kind": {k: int((kinds == k).sum()) for k in sorted(EXCLUDE.values())},
        "relabelled": int(changed.sum()),
        "train_split": train_split,
    }
    return out, skipped, facts
