"""The answer a summary leads with: the best representation per task, with its score.

* **separates the classes**: the feature set with the highest probe accuracy (its best classifier, on the probes'
  headline split: held out, else cross-validated);
* **clusters by label**: the (feature set, method) with the highest adjusted Rand index against the labels;
* **closest to the human space**: the chosen representation of the leaderboard (the lowest out-of-fold disparity on
  the alignment's training split), else its top row.

Each entry names the pixel features' (``pca``) score beside it. :func:`warnings` flags pixel features that separate
the classes no better than chance while a pretrained backbone does. Used by :mod:`imagespace.report.summary`.
"""

from __future__ import annotations

PIXELS = "pca"
#: a probe within this much of chance (the majority-class rate or the shuffled-label accuracy) is at chance
CHANCE_MARGIN = 0.05


def _probe_best(by_probe: dict) -> dict:
    """The best classifier of one feature set's probes: {classifier, accuracy, split, chance}."""
    p, sc = max(by_probe.items(), key=lambda kv: kv[1]["accuracy"])
    chance = max(
        max(v["majority_rate"] for v in by_probe.values()),
        max((v["shuffled_accuracy"] or 0.0) for v in by_probe.values()),
    )
    return {"classifier": p, "accuracy": sc["accuracy"], "split": sc["split"], "chance": chance}


def best_probe(probes: dict) -> dict | None:
    """{feature_set, classifier, accuracy, split, chance, pixels} of the set whose best probe scores highest."""
    if not probes:
        return None
    scored = {fs: _probe_best(by) for fs, by in probes.items() if by}
    if not scored:
        return None
    fs = max(scored, key=lambda f: scored[f]["accuracy"])
    return {"feature_set": fs, **scored[fs], "pixels": scored.get(PIXELS, {}).get("accuracy")}


def best_clustering(by_fs: dict) -> dict | None:
    """{feature_set, method, ari, pixels (pca's best ARI)} of the clustering with the highest ARI against the labels."""
    rows = [(fs, m, e["ari"]) for fs, by_m in by_fs.items() for m, e in by_m.items() if e.get("ari") is not None]
    if not rows:
        return None
    fs, m, ari = max(rows, key=lambda r: r[2])
    pix = [a for f, _, a in rows if f == PIXELS]
    return {"feature_set": fs, "method": m, "ari": ari, "pixels": max(pix) if pix else None}


def closest_to_human(selection: dict | None, board: list[dict], splits: list[str]) -> dict | None:
    """{feature_set, disparity, split, how}: the leaderboard's chosen representation, else its top row."""
    if selection:
        return {
            "feature_set": selection["chosen"],
            "disparity": selection["disparity"],
            "split": selection["split"],
            "how": "chosen: the lowest out-of-fold disparity on the training split",
        }
    for sp in splits:
        for r in board or []:
            if r.get(f"{sp}_disparity") is not None:
                return {
                    "feature_set": r["feature_set"],
                    "disparity": r[f"{sp}_disparity"],
                    "split": sp,
                    "how": "the leaderboard's top row",
                }
    return None


def best(s: dict) -> dict:
    """summary.json ``headline``: {probe, clustering, human, human_ceiling}, each None where the run has no such
    result (``human_ceiling``: the chosen representation's direct score as a share of the noise ceiling)."""
    return {
        "probe": best_probe(s.get("probes") or {}),
        "clustering": best_clustering(s.get("clustering_by_feature_set") or {}),
        "human": closest_to_human(
            s.get("alignment_selection"), s.get("alignment") or [], s.get("alignment_splits") or []
        ),
        "human_ceiling": (s.get("human_data") or {}).get("headline"),
    }


def warnings(s: dict) -> list[str]:
    """Pixel features at chance while a backbone is not: the one warning that says which representation to use."""
    probes = s.get("probes") or {}
    if PIXELS not in probes:
        return []
    pix = _probe_best(probes[PIXELS])
    if pix["accuracy"] > pix["chance"] + CHANCE_MARGIN:
        return []
    good = {
        fs: b
        for fs in probes
        if fs.startswith("bb_") and (b := _probe_best(probes[fs]))["accuracy"] > b["chance"] + CHANCE_MARGIN
    }
    if not good:
        return []
    fs = max(good, key=lambda f: good[f]["accuracy"])
    return [
        f"pixel features ({PIXELS}) separate the classes no better than chance (best probe {pix['accuracy']:.3f}, "
        f"chance {pix['chance']:.3f}), but the pretrained backbone {fs} does ({good[fs]['classifier']} probe "
        f"{good[fs]['accuracy']:.3f} on {good[fs]['split']}): use {fs} for these images"
    ]


def _vs_pixels(fs: str, pixels, fmt: str = "{:.3f}") -> str:
    return "" if fs == PIXELS or pixels is None else f" (pixels, {PIXELS}: {fmt.format(pixels)})"


def markdown(h: dict) -> list[str]:
    """The first lines of summary.md: one line per task that the run scored."""
    lines = []
    if p := h.get("probe"):
        lines.append(
            f"- **separates the classes: `{p['feature_set']}`**, {p['classifier']} probe accuracy "
            f"**{p['accuracy']:.3f}** on {p['split']} (chance {p['chance']:.3f})"
            f"{_vs_pixels(p['feature_set'], p['pixels'])}"
        )
    if c := h.get("clustering"):
        lines.append(
            f"- **clusters by label: `{c['feature_set']}`**, {c['method']} ARI **{c['ari']:.3f}**"
            f"{_vs_pixels(c['feature_set'], c['pixels'])}"
        )
    if m := h.get("human"):
        lines.append(
            f"- **closest to the human space: `{m['feature_set']}`**, Procrustes disparity **{m['disparity']:.3f}** "
            f"on {m['split']} ({m['how']})"
        )
    if ceiling := h.get("human_ceiling"):
        lines.append(f"- {ceiling}")
    return ["## Answer: the best representation per task", ""] + lines + [""] if lines else []
