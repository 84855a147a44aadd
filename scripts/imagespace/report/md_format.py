"""How the summary page writes numbers, p-values, lists and strategies."""

from __future__ import annotations


def some(names, n: int = 6) -> str:
    """The first *n* names, comma-separated, and how many more there are."""
    names = list(names)
    return ", ".join(names[:n]) + (f", … {len(names) - n} more" if len(names) > n else "")


def num(v, fmt="{:.3f}"):
    """A number in *fmt* ("–" for None; anything else that is not a number as it is)."""
    return "–" if v is None else (fmt.format(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v))


def pvalue(v, relation: bool = False) -> str:
    """A permutation p-value: below 0.001 (or 0.0001) as a bound, as the convention is, otherwise to 4 places
    (after "= " with *relation*)."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        for bound in (0.0001, 0.001):
            if v < bound:
                return f"< {bound:g}"
    return ("= " if relation and v is not None else "") + num(v, "{:.4f}")


def strategy(st: dict | None) -> str:
    """How a method ran: exact, or the scalable strategy and on how many points."""
    if not st or st.get("name") == "exact":
        return "all points" + (f" ({st['solver'].replace('_', '-')})" if st and st.get("solver") else "")
    if st["name"] == "landmarks":
        return f"{st['n_landmarks']} landmarks + {st['extension']} for {st['n_extended']}"
    if st["name"] == "subsample" and "n_tree" in st:
        return f"tree on {st['n_tree']}, {st['n_assigned']} to the nearest centroid"
    if st["name"] == "subsample":
        return f"fitted on {st['n_fit']}, {st['n_assigned']} to the {st['assignment']}"
    if st["name"] == "sampled silhouettes":
        return f"silhouettes on a sample of {st['silhouette_sample']}"
    return str(st)


def selection_line(sel: dict) -> str:
    """What the selection settings left out and added, in words.

    Parameters
    ----------
    sel : dict
        The selection description of ingest.json.

    Returns
    -------
    str
        The classes dropped, images left out, and the balancing of a split; "" when nothing was left out or added.
    """
    parts = []
    if sel.get("small_classes_dropped"):
        parts.append(f"classes dropped (min_per_class): {', '.join(map(str, sel['small_classes_dropped']))}")
    for key, what in (("max_per_class_left_out", "max_per_class"), ("subsample_left_out", "subsample")):
        if sel.get(key):
            parts.append(f"{sel[key]} images left out by {what}")
    b = sel.get("balance")
    if b:
        parts.append(
            f"{b['split']} split balanced to {b['target']} per class: {b['dropped']} images left out, {b['added']} "
            f"flipped/turned copies added"
            + (f", {len(b['short_of_target'])} classes short" if b["short_of_target"] else "")
        )
    return "; ".join(parts)


def degeneracy_cells(d: dict | None) -> str:
    """The spread ratio, far and spot cells of a map's row ("-" without the numbers)."""
    if not d:
        return "- | - | -"
    held = d.get("held_out") or {}
    far = f"{d['n_far']}" + (f" (+{held['n_far']} of {held['n']} held out)" if held.get("n_far") else "")
    spots = f"{d['n_in_spots']} on {d['n_spots']}" if d["n_spots"] else "0"
    return f"{d['spread_ratio']:.3f} | {far} | {spots}"
