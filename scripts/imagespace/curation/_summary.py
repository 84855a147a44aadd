"""The curation section of summary.json and summary.md."""

from __future__ import annotations

import pandas as pd

TOP = 10


def summary_section(
    issues: pd.DataFrame, scores: pd.DataFrame, info: dict, *, warn_above: float = 0.02, applied: dict | None = None
) -> dict:
    """summary.json ``curation``: counts, the top ten suspects, the estimated label-noise rate and a warning.

    Parameters
    ----------
    issues : pandas.DataFrame
        ``curation/issues.tsv``.
    scores : pandas.DataFrame
        ``curation/scores.tsv``.
    info : dict
        ``curation/curation.json`` (``noise_rate``, ``train_split``, ``n_train``, ``feature_sets``, ``notes``).
    warn_above : float
        ``curation.warn_above``.
    applied : dict, optional
        ``curation/applied.json`` (:func:`imagespace.curation.curated_manifest`'s facts) where curation.exclude or
        curation.relabel is set.

    Returns
    -------
    dict
        ``{counts, noise_rate, n_train, feature_sets, outlier_views, top, warnings, notes, assessed}``, and
        ``applied`` where given.
    """
    counts = {k: int((issues["kind"] == k).sum()) for k in ("label", "outlier", "duplicate")}
    top = issues[issues["kind"] == "label"].head(TOP)
    rate = float(info.get("noise_rate") or 0.0)
    warnings = [info["warning"]] if info.get("warning") else []  # nothing assessed, and why
    if rate > warn_above:
        warnings.append(
            f"curation: an estimated {rate:.1%} of the {info.get('n_train', 0)} training labels are wrong "
            f"(above curation.warn_above {warn_above:.1%}): review curation/issues.tsv and curation/label_issues.png"
        )
    return {
        "counts": counts,
        "n_images": int(len(scores)),
        "noise_rate": rate,
        "warn_above": float(warn_above),
        "n_train": int(info.get("n_train", 0)),
        "feature_sets": info.get("feature_sets", {}),
        "top": [
            {k: r[k] for k in ("image", "split", "label", "suggestion", "score")} | {"score": float(r["score"])}
            for _, r in top.iterrows()
        ],
        "warnings": warnings,
        "outlier_views": list(info.get("outlier_views", [])),
        "notes": list(info.get("notes", [])),
        "assessed": info.get("assessed", True) is not False,
    } | ({"applied": applied} if applied else {})


def summary_markdown(section: dict) -> list[str]:
    """The lines of summary.md's curation section (its warnings first).

    Parameters
    ----------
    section : dict
        :func:`summary_section`.

    Returns
    -------
    list of str
    """
    lines = ["## Curation: likely mislabels, outliers, duplicates", ""]
    lines += [f"**Warning:** {w}" for w in section["warnings"]] + ([""] if section["warnings"] else [])
    if section.get("applied"):
        lines += [applied_line(section["applied"]), ""]
    if not section.get("assessed", True):
        return lines
    c = section["counts"]
    sets = ", ".join(f"`{fs}` ({'+'.join(v['classifiers'])})" for fs, v in section["feature_sets"].items()) or "none"
    lines += [
        f"{c['label']} suspected mislabels, {c['outlier']} outliers and {c['duplicate']} duplicates among "
        f"{section['n_images']} images; estimated label-noise rate of the training split "
        f"**{section['noise_rate']:.1%}** (of {section['n_train']}). Evidence: {sets}. "
        "See `curation/issues.tsv`, `curation/label_issues.png`, `curation/outliers.png`.",
        "",
    ]
    if section["top"]:
        lines += ["| image | split | given | suggested | score |", "|---|---|---|---|---|"]
        lines += [
            f"| {t['image']} | {t['split']} | {t['label']} | {t['suggestion']} | {t['score']:.3f} |"
            for t in section["top"]
        ]
        lines.append("")
    return lines


def applied_line(applied: dict) -> str:
    """summary.md's line on the curated manifest the fits read (curation.exclude, curation.relabel).

    Parameters
    ----------
    applied : dict
        ``curation/applied.json``.

    Returns
    -------
    str
    """
    parts = []
    if applied.get("exclude"):
        kinds = ", ".join(f"{n} {k}" for k, n in applied.get("excluded_by_kind", {}).items() if n)
        parts.append(
            f"{applied['excluded']} flagged training images excluded (curation.exclude: "
            f"{', '.join(applied['exclude'])}{'; ' + kinds if kinds else ''}; listed in `curation/skipped.tsv`)"
        )
    if applied.get("relabel"):
        parts.append(f"{applied['relabelled']} labels corrected (curation.relabel: `{applied['relabel']}`)")
    return (
        "**Curated:** "
        + "; ".join(parts)
        + ". The probes, the CNNs and the fine-tuned networks were fitted on the curated manifest "
        "(`curation/manifest.tsv`)."
    )
