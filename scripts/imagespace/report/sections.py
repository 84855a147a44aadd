"""The section builders of the summary (:data:`imagespace.report.summary.SECTIONS`): each reads its result files and
adds its keys (and warnings) to the summary being built: ``builder(out, inputs, settings) -> None``."""

from __future__ import annotations

from pathlib import Path

from imagespace.io import read_json

COMPARE_KEYS = (
    "disparity",
    "permutation_mean",
    "permutation_sd",
    "permutation_p",
    "z",
    "significant",
    "mean_r",
    "per_dim_r",
    "per_dim_r2",
    "ci95",
    "bootstrap_sd",
    "rdm",
    "cka",
    "category_rdm",
    "n",
    "k",
    "feature_dims",
    "reduction",
    "verdict",
)
BACKBONE_KEYS = (
    "framework",
    "network",
    "layer",
    "pooling",
    "input_size",
    "input",
    "source",
    "weights",
    "weights_sha256",
    "dims",
    "n",
    "n_constant",
    "device",
    "seconds",
)
CLUSTER_KEYS = (
    "k",
    "accuracy",
    "majority_accuracy",
    "ari",
    "nmi",
    "ari_subtype",
    "nmi_subtype",
    "n_noise",
    "sizes",
    "n",
    "strategy",
    "eps",
    "min_samples",
    "noise_fraction",
    "selection",
    "scale",
)
EVAL_KEYS = (
    "n",
    "accuracy",
    "balanced_accuracy",
    "macro_f1",
    "majority_rate",
    "majority_class",
    "chance_rate",
    "per_class",
    "confusion",
    "confusion_normalized",
    "most_confused",
    "chose_checkpoint",
)
CNN_TRAINING_KEYS = (
    "val_accuracy",
    "best_epoch",
    "epochs_run",
    "train_seconds",
    "n_params",
    "n_bias_params",
    "train_accuracy",
    "why",
    "device",
    "n_train",
    "n_val",
    "validation",
    "checkpoint_split",
    "target",
    "stopped_early",
)
DUPLICATE_KEYS = (
    "duplicate_groups",
    "duplicate_images",
    "identical_groups",
    "cross_split_duplicates",
    "mixed_label_duplicates",
    "dropped",
    "cross_split_remaining",
)
# the keys every summary has, filled by the sections after the overview (their order is summary.json's)
FILLED_LATER = (
    "embeddings",
    "maps",
    "trustworthiness",
    "degeneracy",
    "clustering",
    "clustering_by_feature_set",
    "compare",
    "human_checks",
    "cnn",
    "human_maps",
    "predicted_human_space",
    "classification",
    "probes",
    "backbones",
)


def overview(out: dict, inputs, settings) -> None:
    """The images, classes and splits (ingest.json), the PCA (pca.json), and the empty sections filled later."""
    ing = read_json(inputs.ingest)
    out.update(
        {
            "n_images": ing["n_images"],
            "n_skipped": ing["n_skipped"],
            "skipped_by_kind": ing["skipped_by_kind"],
            "splits": ing["splits"],
            "classes": ing["classes"],
            "image_shape": ing["shape"],
            "ingest": {k: (ing.get("duplicates") or {}).get(k) for k in DUPLICATE_KEYS}
            | {"selection": ing.get("selection")},
            "pca": read_json(inputs.pca),
        }
    )
    out.update({k: {} for k in FILLED_LATER})
    out["warnings"] = []
    out["notes"] = list(settings.notes)


def backbones(out: dict, inputs, settings) -> None:
    """backbones.<feature set>: network, layer, weights and their sha256 (the backbones' features.json)."""
    for path in inputs.backbones:
        r = read_json(path)
        out["backbones"][r.get("feature_set") or f"bb_{r['backbone']}"] = {k: r.get(k) for k in BACKBONE_KEYS}


def ensemble_weights(out: dict, inputs, settings) -> None:
    """ensemble_weights.<ensemble>: the members and weights greedy selection chose, and on which rows."""
    out["ensemble_weights"] = {}
    keys = ("select", "weights", "rounds", "disparity", "candidate_disparity", "chosen_on", "n_rows")
    for path in inputs.ensembles:
        r = read_json(path)
        out["ensemble_weights"][r["ensemble"]] = {k: r.get(k) for k in keys} | {
            "out_of_fold_disparity": (r.get("out_of_fold") or {}).get("disparity")
        }


def finetune(out: dict, inputs, settings) -> None:
    """finetune.<variant>: the epochs, how they were chosen, the out-of-fold disparity of the training rows."""
    out["finetune"] = {}
    for path in inputs.finetune:
        r = read_json(path)
        inner, oof = r.get("inner") or {}, r.get("out_of_fold") or {}
        out["finetune"][r["variant"]] = {
            "backbone": r.get("backbone"),
            "target": r.get("target"),
            "unfreeze": (r.get("settings") or {}).get("unfreeze"),
            "epochs": r.get("epochs"),
            "epochs_setting": r.get("epochs_setting"),
            "epochs_why": inner.get("why"),
            "n_train": r.get("n_train"),
            "train_split": r.get("train_split"),
            "out_of_fold_disparity": oof.get("disparity"),
            "out_of_fold_folds": oof.get("folds"),
            "fold_epochs": [f["epochs"] for f in oof.get("per_fold", [])] or None,
            "weights_sha256": r.get("weights_sha256"),
            "seconds": r.get("seconds"),
        }


def classification(out: dict, inputs, settings) -> None:
    """classification.<model>.<split> from the CNNs' evaluation.json files (the class CNN is <variant>; a
    metric-learning variant gives <variant>_nearest_centroid and <variant>_mlp), and their warnings."""
    for path in inputs.evaluation:
        r = read_json(path)
        v = r["variant"]
        for clf, by_split in r["classifiers"].items():
            name = v if clf == "softmax" else f"{v}_{clf}"
            out["classification"][name] = {sp: {k: m.get(k) for k in EVAL_KEYS} for sp, m in by_split.items()}
            out["classification"][name]["headline_split"] = r["headline_split"]
        out["cnn"].setdefault(v, {})["train_modes"] = r["train_modes"]
        out["warnings"].extend(r["warnings"])


def probes(out: dict, inputs, settings) -> None:
    """probes.<feature set>.<probe> = headline scores (+ every split's full metrics under by_split). A feature set
    whose best probe is within 0.05 of chance (the majority-class rate or the shuffled-label accuracy), and a
    probe that could not be run, are warnings."""
    from imagespace.evaluation import probe_scores

    for path in inputs.probes:
        r = read_json(path)
        fs = r["feature_set"]
        scores = probe_scores(r)
        for note in r.get("notes", []):
            out["warnings"].append(f"probes {fs}: {note}")
        if not scores:
            continue
        out["probes"][fs] = {
            p: {
                **sc,
                "by_split": {
                    **{sp: r["holdout"][sp][p] for sp in r["holdout"]},
                    **({"cv_" + r["train_split"]: r["cv"][p]} if p in r["cv"] else {}),
                },
            }
            for p, sc in scores.items()
        }
        best = max(sc["accuracy"] for sc in scores.values())
        base = max(
            max(sc["majority_rate"] for sc in scores.values()),
            max((sc["shuffled_accuracy"] or 0.0) for sc in scores.values()),
        )
        if best <= base + 0.05:
            out["warnings"].append(
                f"probes {fs}: best probe accuracy {best:.3f} on {r['headline']} is within 0.05 of chance "
                f"({base:.3f}, majority class or shuffled labels): this representation does not separate the classes"
            )


def retrieval(out: dict, inputs, settings) -> None:
    """retrieval.<feature set> = {metric, gallery_split, n_gallery, label, headline, ks, splits: {split: {n, chance,
    precision: {k: {mean, ci}}, in_sample}}}; the results' own warnings (every precision@k within 0.05 of chance)
    join the summary's. A split the feature set was fitted on (``settings.fitted_on``: {feature set: why} for
    ``settings.train_split``: a network trained on its labels, say) gets ``in_sample``: its neighbours there are
    not those of new images."""
    out["retrieval"] = {}
    keys = ("metric", "gallery_split", "n_gallery", "label", "headline", "ks", "splits", "gallery_dataset")
    for path in inputs.retrieval:
        r = read_json(path)
        entry = {k: r.get(k) for k in keys}
        why = (settings.fitted_on or {}).get(r["feature_set"])
        for sp, v in entry["splits"].items():
            v["in_sample"] = why if (why and sp == settings.train_split and not r.get("gallery_dataset")) else None
        out["retrieval"][r["feature_set"]] = entry
        out["warnings"].extend(r.get("warnings", []))


def interactive_map(out: dict, inputs, settings) -> None:
    """interactive_map: the interactive page (explore/map.html) and its description, or None."""
    out["interactive_map"] = None
    for path in inputs.explore:
        r = read_json(path)
        out["interactive_map"] = {"page": str(Path(path).with_suffix(".html")), **r}


def predicted_human_space(out: dict, inputs, settings) -> None:
    """predicted_human_space.<feature set>: the table and map of coordinates predicted by another dataset's models."""
    for path in inputs.predicted:
        fs = Path(path).stem
        n = sum(1 for _ in open(path, encoding="utf-8")) - 1
        out["predicted_human_space"][fs] = {
            "table": str(path),
            "map": str(Path(path).with_name(f"{fs}_map.png")),
            "n_images": n,
            "models_from": settings.predicted_from,
        }


def human_maps(out: dict, inputs, settings) -> None:
    """human_maps.human_pred_<base>: the maps into the human space; images predicted far out are warnings."""
    for path in inputs.maps_human:
        r = read_json(path)
        out["human_maps"][f"human_pred_{r['base']}"] = r
        far = r.get("extreme_rows") or []
        if far:
            out["warnings"].append(
                f"human_pred_{r['base']}: {len(far)} image(s) predicted at least 10x the median distance of the "
                f"training predictions from their centre (farthest: {far[0]['id']}, {far[0]['ratio']:g}x): they "
                "dominate the disparity of their split; their features lie outside the range the map was fitted on"
            )


def cnn(out: dict, inputs, settings) -> None:
    """cnn.<variant>: its training (training.json) and its features (features.json: dead units are warnings)."""
    for path in inputs.cnn:
        r = read_json(path)
        entry = out["cnn"].setdefault(r["variant"], {})
        if Path(path).name == "training.json":
            entry.update({k: r.get(k) for k in CNN_TRAINING_KEYS})
            if r.get("nan_loss"):
                out["warnings"].append(
                    f"cnn {r['variant']}: the training loss became NaN (training diverged); "
                    "lower cnn.optimizer.learning_rate"
                )
            continue
        entry["dead_units"] = r["dead_units"]
        entry["feature_dims"] = r["dims"]
        if r["dead_units"] and len(r["dead_units"]) == r["dims"]:
            out["warnings"].append(
                f"cnn {r['variant']}: all {r['dims']} penultimate units are dead (the same value for "
                "every image): the network collapsed and its features carry no information; "
                "try another cnn.seed or a lower cnn.optimizer.learning_rate"
            )
        elif r["dead_units"]:
            out["warnings"].append(
                f"cnn {r['variant']}: {len(r['dead_units'])} of {r['dims']} penultimate units dead: {r['dead_units']}"
            )


def embeddings_and_maps(out: dict, inputs, settings) -> None:
    """embeddings.<method>, maps.<method>, and the trustworthiness and degeneracy numbers of each."""
    for path in inputs.embed:
        info = read_json(path)
        out["embeddings"][info["method"]] = {k: v for k, v in info.items() if k != "input"}
        if info.get("trustworthiness"):
            out["trustworthiness"][f"{info['method']} ({info['n_components']}-D)"] = info["trustworthiness"]
        if info.get("degeneracy"):
            out["degeneracy"][f"{info['method']} ({info['n_components']}-D)"] = info["degeneracy"]
    for path in inputs.maps:
        info = read_json(path)
        # the PCA and t-SNE maps of a CNN's features
        for name, t in (info.get("trustworthiness_by_map") or {}).items():
            out["trustworthiness"][f"{info['method']} {name} map"] = t
        for name, d in (info.get("degeneracy_by_map") or {}).items():
            out["degeneracy"][f"{info['method']} {name} map"] = d
        if info.get("trustworthiness"):
            out["trustworthiness"][f"{info['method']} map"] = info["trustworthiness"]
        if info.get("degeneracy"):
            out["degeneracy"][f"{info['method']} map"] = info["degeneracy"]
        if "params" in info:  # an embedding method's map (the PCA map has no parameters)
            out["maps"][info["method"]] = {k: v for k, v in info.items() if k != "input"}


def clustering(out: dict, inputs, settings) -> None:
    """clustering_by_feature_set.<feature set>.<method>, and clustering.<method> (its first feature set)."""
    for path in inputs.clustering:
        r = read_json(path)
        fs, method = Path(path).parts[-3], Path(path).parts[-2]
        entry = {"feature_set": fs, **{k: r.get(k) for k in CLUSTER_KEYS}}
        out["clustering_by_feature_set"].setdefault(fs, {})[method] = entry
        out["clustering"].setdefault(method, entry)  # the first configured feature set


def compare(out: dict, inputs, settings) -> None:
    """compare.<feature set>.<split>: the Procrustes comparison with the human space; not above chance: a warning."""
    for path in inputs.compare:
        doc = read_json(path)
        fs = doc["feature_set"]
        for split, r in doc["splits"].items():
            out["compare"].setdefault(fs, {})[split] = {k: r.get(k) for k in COMPARE_KEYS}
            if not r["significant"]:
                out["warnings"].append(f"compare {fs}/{split}: {r['verdict']}")


def human_checks(out: dict, inputs, settings) -> None:
    """human_checks.<split>: whether the human space has label (and subtype) structure; none is a warning."""
    for path in inputs.human:
        r = read_json(path)
        out["human_checks"][r["split"]] = r
        for key in ("label", "subtype"):
            if key in r and not r[key]["significant"]:
                out["warnings"].append(f"human space {r['split']}: no {key} structure — {r[key]['verdict']}")


def headline(out: dict, inputs, settings) -> None:
    """headline: the answer summary.md leads with (:func:`imagespace.report.headline.best`), and its warnings."""
    from imagespace.report import headline as _headline

    out["headline"] = _headline.best(out)
    out["warnings"] += _headline.warnings(out)


def human_data(out: dict, inputs, settings) -> None:
    """human_data: every feature set compared directly with each split's human data (RDM correlations or triplet
    accuracy, :mod:`imagespace.human.scores`), with the noise ceiling and each score's share of it; a split given
    as coordinates has no ceiling, and says so. Reads ``inputs.more["human_direct"]`` (human/direct_<split>.json)."""
    files = list(inputs.more.get("human_direct", ()))
    kinds = dict(settings.human_kinds or {})
    if not files and not kinds:
        return
    from imagespace.human.scores import summary_section

    splits = {split: None for split, kind in kinds.items() if kind == "coordinates"}
    for path in files:
        j = read_json(path)
        splits[j["split"]] = j["result"]
    chosen = (out.get("alignment_selection") or {}).get("chosen")
    section = summary_section(splits, chosen=chosen)
    out["human_data"] = section
    out["warnings"] += section["warnings"]
    # the leaderboard's rows get each split's direct score and its share of the ceiling, beside the disparity
    direct = {(r["split"], r["feature_set"]): r for r in section["rows"]}
    for row in out.get("alignment") or []:
        for (split, fs), r in direct.items():
            if fs == row["feature_set"]:
                row[f"{split}_direct_metric"] = r["metric"]
                row[f"{split}_direct"] = r["value"]
                row[f"{split}_share_of_ceiling"] = r["share_of_ceiling"]


def curation(out: dict, inputs, settings) -> None:
    """curation: likely label errors, outliers and duplicates (:mod:`imagespace.curation`): counts, the top ten, the
    estimated label-noise rate, and a warning above ``curation.warn_above``. Reads ``inputs.more["curation"]``
    (curation/issues.tsv, scores.tsv, curation.json, and applied.json where curation.exclude or curation.relabel is
    set)."""
    files = {Path(p).name: p for p in inputs.more.get("curation", ())}
    if not {"issues.tsv", "scores.tsv", "curation.json"} <= set(files):
        if "applied.json" in files:  # corrections applied to a dataset the curation stage does not assess
            out["curation"] = {"applied": read_json(files["applied.json"]), "assessed": False, "warnings": []}
        return
    import pandas as pd

    from imagespace.curation import summary_section

    def read(name):
        return pd.read_csv(files[name], sep="\t", dtype=str, keep_default_na=False)

    section = summary_section(
        read("issues.tsv"),
        read("scores.tsv"),
        read_json(files["curation.json"]),
        warn_above=settings.curation_warn_above,
        applied=read_json(files["applied.json"]) if "applied.json" in files else None,
    )
    out["curation"] = section
    out["warnings"] += section["warnings"]
