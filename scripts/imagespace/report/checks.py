"""The summary's warnings about its inputs and results: each check returns one line per problem found."""

from __future__ import annotations

from imagespace.constants import DOMINANT_SHARE
from imagespace.io import read_json

# images left out on purpose by a selection setting (listed in skipped.tsv, not a problem of the input)
CHOSEN_SKIPS = ("small_class", "not_selected", "balance", "duplicate")


def ingest_warnings(out: dict, inputs, settings) -> None:
    """Section builder: files skipped at ingest for a problem of the input, ingest's own warnings (safety skips, one
    class, a class from one folder), and the classes with too few images."""
    ing = read_json(inputs.ingest)
    # outside_root and too_large have warnings of their own (ingest.json); hidden files are only counted
    problems = {
        k: v
        for k, v in ing["skipped_by_kind"].items()
        if k not in (*CHOSEN_SKIPS, "outside_root", "too_large", "hidden")
    }
    if problems:
        out["warnings"].append(
            f"{sum(problems.values())} files/rows skipped at ingest ({problems}); see ingest/skipped.tsv"
        )
    out["warnings"] += ing.get("warnings", [])
    out["warnings"] += small_class_warnings(ing, settings.small_class_warning)


def quality_warnings(out: dict, inputs, settings) -> None:
    """Section builder: degenerate or untrustworthy maps, duplicates across splits or labels, degenerate
    clusterings."""
    out["warnings"] += degeneracy_warnings(out, settings.degeneracy or {})
    out["warnings"] += trustworthiness_warnings(out, settings.min_trustworthiness)
    out["warnings"] += duplicate_warnings(read_json(inputs.ingest).get("duplicates") or {})
    out["warnings"] += clustering_warnings(out)


def small_class_warnings(ing: dict, threshold: int) -> list[str]:
    """A warning naming the classes with fewer than *threshold* images of their own (augmented copies not counted).

    Parameters
    ----------
    ing : dict
        The ingest description (ingest.json: ``classes``, ``selection``).
    threshold : int
        The smallest number of a class's own images that is not a warning (``small_class_warning``).

    Returns
    -------
    list of str
        One warning, or none.
    """
    copies = ((ing.get("selection") or {}).get("balance") or {}).get("per_class") or {}
    own = {c: n - (copies.get(c) or {}).get("added", 0) for c, n in ing["classes"].items()}
    small = {c: n for c, n in own.items() if n < threshold}
    if not small:
        return []
    listed = ", ".join(f"{c} ({n})" for c, n in sorted(small.items(), key=lambda kv: kv[1])[:10])
    more = f" and {len(small) - 10} more" if len(small) > 10 else ""
    return [
        f"{len(small)} of {len(own)} classes have fewer than {threshold} images (small_class_warning): "
        f"{listed}{more}; their per-class scores rest on very few images"
    ]


def degeneracy_warnings(out: dict, thresholds: dict) -> list[str]:
    """Warnings for degenerate maps and embeddings (collapsed, piled onto spots, dominated by far points).

    Parameters
    ----------
    out : dict
        The summary, its ``degeneracy`` section filled (the numbers stored beside each map's trustworthiness).
    thresholds : dict
        The ``embeddings.degeneracy`` warning thresholds that differ from the schema's defaults.

    Returns
    -------
    list of str
        One warning per degenerate map or embedding, by name.
    """
    from imagespace.report.degeneracy import problems, settings

    limits = {**settings(), **thresholds}
    keys = ("min_spread_ratio", "max_far_share", "max_spot_share")
    warn = []
    for name, d in sorted((out.get("degeneracy") or {}).items()):
        found = problems(d, **{k: limits[k] for k in keys})
        if found:
            warn.append(f"{name} is degenerate: {'; '.join(found)}")
    return warn


def trustworthiness_warnings(out: dict, threshold: float) -> list[str]:
    """Warnings for maps and embeddings whose trustworthiness is under *threshold*.

    Parameters
    ----------
    out : dict
        The summary, its ``trustworthiness`` section filled.
    threshold : float
        ``embeddings.trustworthiness.warn_below``.

    Returns
    -------
    list of str
        One warning per map or embedding under the threshold, by name.
    """
    warn = []
    for name, t in sorted(out["trustworthiness"].items()):
        if t.get("value") is not None and t["value"] < threshold:
            warn.append(
                f"{name}: trustworthiness {t['value']:.3f} < {threshold:g} (embeddings.trustworthiness.warn_below): "
                f"many of the neighbours it shows are not neighbours in {t.get('space') or 'its input'}; "
                "read its layout with care"
            )
    return warn


def duplicate_warnings(d: dict) -> list[str]:
    """Warnings for duplicate images that cross splits (leakage) or carry different labels (label noise).

    Parameters
    ----------
    d : dict
        The duplicates description of ingest.json (``cross_split_remaining``, ``mixed_label_duplicates``).

    Returns
    -------
    list of str
        Up to two warnings.
    """
    out = []
    if d.get("cross_split_remaining"):
        out.append(
            f"{d['cross_split_remaining']} groups of duplicate images span splits: held-out images were also trained "
            "on, so held-out scores are optimistic (ingest/duplicates.tsv; duplicates.dedupe: keep_first drops the "
            "copies)"
        )
    if d.get("mixed_label_duplicates"):
        out.append(
            f"{d['mixed_label_duplicates']} groups of duplicate images carry different labels (ingest/duplicates.tsv)"
        )
    return out


def degenerate_clustering(e: dict) -> str | None:
    """Why a clustering result says nothing about structure, or None.

    Parameters
    ----------
    e : dict
        A clustering result (``k``, ``sizes`` by label, ``n``, ``n_noise``).

    Returns
    -------
    str or None
        No cluster (all noise), one cluster, or one cluster holding more than
        :data:`imagespace.constants.DOMINANT_SHARE` of the images; None when none of these holds.
    """
    sizes = {k: v for k, v in (e.get("sizes") or {}).items() if k != "-1"}
    n = e.get("n") or sum((e.get("sizes") or {}).values())
    if e.get("k") == 0 or (e.get("sizes") and not sizes):
        return f"no cluster: all {n} images are noise"
    if e.get("k") == 1 or len(sizes) == 1:
        noise = f", {e.get('n_noise')} noise points" if e.get("n_noise") else ""
        return f"one cluster (k = 1{noise}): no structure found"
    if sizes and n and max(sizes.values()) > DOMINANT_SHARE * n:
        return (
            f"one cluster holds {max(sizes.values())} of {n} images (> {DOMINANT_SHARE:.0%}): "
            "hardly any structure found"
        )
    return None


def clustering_warnings(out: dict) -> list[str]:
    """Degenerate clusterings, and DBSCAN scans whose best score is no better than on structureless data.

    Parameters
    ----------
    out : dict
        The summary, its ``clustering_by_feature_set`` section filled.

    Returns
    -------
    list of str
        One warning per problem, naming the method and feature set.
    """
    warn = []
    for fs, by_method in out["clustering_by_feature_set"].items():
        for method, e in by_method.items():
            w = degenerate_clustering(e)
            if w:
                warn.append(f"clustering {method} on {fs}: {w}")
            sel = e.get("selection") or {}
            if sel.get("beats_null") is False:
                warn.append(
                    f"clustering {method} on {fs}: its best scan score ({sel['score']:.3f}) is no higher than the "
                    f"same scan gives on structureless Gaussian data of the same covariance "
                    f"({sel['null_score']:.3f}): its {e.get('k')} clusters need not be structure"
                )
    return warn
