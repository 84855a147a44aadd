"""Curation measurements (issue 32), with library calls on features the library computes (no workflow run).

    python benchmarks/curation_noise.py --data ../shared/data             # every case, about 5 min on 2 cores
    python benchmarks/curation_noise.py --data ../shared/data --cases digits outliers
    python benchmarks/curation_noise.py --gallery-dir DIR                  # also the Fashion-MNIST test-set gallery

Cases (each seeded):

* ``digits``, ``fashion``, ``rocks``: 5 % of the training labels flipped to another class (uniformly), then the
  probes (:func:`imagespace.evaluation.probe_feature_set`) and :func:`imagespace.curation.curate` on pixel PCA (and,
  for the rocks, the ``stats`` descriptors); precision and recall of the flagged training images against the
  flipped ones. Splits: digits 25 % validation, Fashion-MNIST (the 10,000 test images) 10 % validation and 20 %
  test, the rocks their own Training / Validation folders (the configs' splits).
* ``outliers``: 20 Fashion-MNIST items resized to 8 x 8 mixed into the digits (pixel PCA, as the default config
  probes): how many are in the top 40 scores, with the outlier score of this version (every candidate set and the
  images' appearance descriptor, k = 50) and the one before it (the chosen sets only, k = 10).
* ``outliers_fashion``: 20 Chinese-MNIST characters (64 x 64 resized to 28 x 28) mixed into 3,000 Fashion-MNIST
  test images (pixel PCA and bb_efficientnet_lite0, as configs/fashion_mnist.yaml): the top 40, before and after.
* ``outliers_fashion_digits``: 20 digits (8 x 8 upscaled to 28 x 28) mixed into the same 3,000 Fashion-MNIST images.
* ``outliers_shapes``: 10 Chinese-MNIST characters (32 x 32, grey as RGB) mixed into the synthetic shapes (pixel PCA,
  stats and the backbone, as config.yaml): the top 20.
* ``clean``: the synthetic shapes (240 images, pixel PCA and stats): the share flagged, and whether the summary warns.
* ``fashion_clean``, ``rocks_clean``: Fashion-MNIST's test set and the rocks as they are: the count flagged and the
  top 20.

Writes ``benchmarks/results/curation.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "scripts"))

from imagespace import curation, evaluation  # noqa: E402
from imagespace import pca as ispca  # noqa: E402
from imagespace.io import FeatureFile  # noqa: E402
from imagespace.sampling import stratified_holdout  # noqa: E402

SEED = 0
#: seed of the label flips (--flip-seed): another seed checks that MIN_ODDS was not fitted to one draw
FLIP_SEED = [0]
SETTINGS = {"feature_sets": [], "k": 50, "train_split": "train", "folds": 5, "seed": SEED}
#: the outlier score before this version: the sets chosen for the label issues only, k = 10, no appearance view
BEFORE_K = 10


def manifest_of(labels, splits, names=None) -> pd.DataFrame:
    n = len(labels)
    names = [f"{i:06d}" for i in range(n)] if names is None else list(names)
    return pd.DataFrame(
        {
            "index": np.arange(n),
            "id": [f"{s}/{m}" for s, m in zip(splits, names)],
            "split": splits,
            "name": names,
            "label": np.asarray(labels).astype(str),
            "path": "",
        }
    )


def splits_of(labels, validation: float, test: float = 0.0) -> np.ndarray:
    """Stratified, seeded splits (test first, then validation of the rest), as fractions of every class."""
    split = np.full(len(labels), "train", dtype=object)
    if test:
        split[stratified_holdout(labels, test, SEED)] = "test"
    rest = np.flatnonzero(split == "train")
    val = stratified_holdout(np.asarray(labels)[rest], validation / (1 - test), SEED + 1)
    split[rest[val]] = "validation"
    return split.astype(str)


def pixel_pca(images, threshold: float = 0.9) -> np.ndarray:
    X = np.ascontiguousarray(images).reshape(len(images), -1)
    res = ispca.fit(X, None, 1.0 / 255.0, threshold=threshold, min_store=10)
    return res.fit_scores[:, : res.n_components_for(threshold)]


def flip(labels, splits, rate: float = 0.05, seed: int | None = None):
    """Noisy labels: *rate* of the training images get another class (uniformly); returns (labels, flipped rows)."""
    rng = np.random.default_rng(FLIP_SEED[0] if seed is None else seed)
    labels = np.asarray(labels).astype(str).copy()
    classes = np.unique(labels)
    tr = np.flatnonzero(splits == "train")
    rows = np.sort(rng.choice(tr, size=int(round(rate * len(tr))), replace=False))
    for i in rows:
        labels[i] = rng.choice(classes[classes != labels[i]])
    return labels, rows


def run_curation(feats: dict, manifest: pd.DataFrame, images=None, **settings) -> dict:
    """The probes and :func:`imagespace.curation.curate` on the given feature sets (and, with *images*, the outlier
    score's appearance view, as the workflow computes it)."""
    ids = manifest["id"].to_numpy()
    kind = {"pca": "pca", "stats": "stats"}
    features = {
        fs: FeatureFile(np.asarray(X, np.float32), ids, {"kind": kind.get(fs, "backbone")}) for fs, X in feats.items()
    }
    probes = {
        fs: evaluation.probe_feature_set(f.X, ids, manifest, evaluation.PROBES, "train", SETTINGS["folds"], SEED)
        for fs, f in features.items()
    }
    return curation.curate(features, probes, manifest, settings={**SETTINGS, **settings}, images=images)


def noise_case(name: str, images, labels, splits, feats_of, names=None) -> dict:
    t = time.time()
    noisy, rows = flip(labels, splits)
    manifest = manifest_of(noisy, splits, names)
    res = run_curation(feats_of(images), manifest)
    s = res["scores"]
    flagged = np.flatnonzero(s["label_issue"].to_numpy() & (s["split"].to_numpy() == "train"))
    hit = len(np.intersect1d(flagged, rows))
    out = {
        "n_images": int(len(labels)),
        "n_train": int((splits == "train").sum()),
        "flipped": int(len(rows)),
        "flagged_train": int(len(flagged)),
        "true_positives": int(hit),
        "precision": round(hit / max(len(flagged), 1), 4),
        "recall": round(hit / max(len(rows), 1), 4),
        "feature_sets": {fs: "+".join(v["classifiers"]) for fs, v in res["info"]["feature_sets"].items()},
        "noise_rate": round(res["info"]["noise_rate"], 4),
        "seconds": round(time.time() - t, 1),
    }
    print(name, out, flush=True)
    return out


def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.rint(d.images * (255.0 / 16.0)).astype(np.uint8)[..., None]  # as ingest's sklearn_digits
    return images, d.target.astype(str)


def fashion(data: Path, which: str = "test"):
    with np.load(data / "fashion_mnist" / f"fashion_mnist_{which}.npz", allow_pickle=False) as z:
        x, y, names = z[f"x_{which}"], z[f"y_{which}"], z["class_names"]
    return x[..., None], np.asarray(names).astype(str)[y]


def rocks(data: Path):
    from imagespace.images import load_image

    imgs, labels, splits, names = [], [], [], []
    for split, folder in (("train", "Training"), ("validation", "Validation")):
        for p in sorted((data / "rocks" / folder).glob("*.jpg")):
            img = load_image(p, (64, 64), "rgb", "pad", "lanczos", background=(255, 255, 255))[0]
            imgs.append(img)
            labels.append(p.name.split("_")[0])
            splits.append(split)
            names.append(p.name)
    return np.stack(imgs), np.asarray(labels), np.asarray(splits), names


def backbone_features(images) -> np.ndarray:
    """The default backbone (bb_efficientnet_lite0, PyTorch, packaged weights) with the config's settings."""
    import yaml

    from imagespace import config as iscfg
    from imagespace.nets import backbones_torch

    with open(HERE.parent / "config.yaml", encoding="utf-8") as fh:
        cfg = yaml.safe_load(fh)
    iscfg.validate(cfg)
    spec = {
        k: v for k, v in iscfg.stage(cfg, "synthetic", "backbones")["efficientnet_lite0"].items() if k != "variants"
    }
    backbones_torch.configure(1)
    return backbones_torch.extract(images, "efficientnet_lite0", spec)[0]


def stats_features(images) -> np.ndarray:
    from imagespace.image_stats import describe_all

    return describe_all(list(images), background=(255, 255, 255))


def chinese_characters(data: Path, n: int, size: int, seed: int) -> np.ndarray:
    """*n* Chinese-MNIST characters (seeded), resized to *size* x *size* (box filter), uint8 (n, size, size)."""
    from PIL import Image

    files = sorted((data / "chinese_mnist" / "data").glob("*.jpg"))
    pick = np.sort(np.random.default_rng(seed).choice(len(files), size=n, replace=False))
    return np.stack(
        [np.asarray(Image.open(files[i]).convert("L").resize((size, size), Image.Resampling.BOX)) for i in pick]
    )


def ranks_of(score) -> np.ndarray:
    order = np.argsort(-np.asarray(score), kind="stable")
    rank = np.empty(len(order), int)
    rank[order] = np.arange(1, len(order) + 1)
    return rank


def foreign_case(name: str, images, labels, foreign, feats: dict) -> dict:
    """Where the *foreign* rows rank among the outlier scores, with this version's score and the one before."""
    t = time.time()
    splits = splits_of(labels, 0.25)
    res = run_curation(feats, manifest_of(labels, splits), images=images)
    s, top = res["scores"], 2 * len(foreign)
    train = splits == "train"
    chosen = list(res["info"]["feature_sets"])
    before, _, _ = curation.outlier_scores(
        {fs: feats[fs] for fs in chosen}, train, k=BEFORE_K, standardize={"stats"} & set(chosen)
    )
    out = {"n_images": int(len(labels)), "foreign": int(len(foreign)), "top": top}
    for when, score, flagged, views, k in (
        ("before", before, None, chosen, BEFORE_K),
        ("after", s["outlier_score"].to_numpy(), s["outlier"].to_numpy(), res["info"]["outlier_views"], SETTINGS["k"]),
    ):
        rank = ranks_of(score)
        out[when] = {
            "views": views,
            "k": k,
            f"foreign_in_top_{top}": int((rank[foreign] <= top).sum()),
            "worst_rank_of_foreign": int(rank[foreign].max()),
        }
        if flagged is not None:
            out[when] |= {"flagged_outliers": int(flagged.sum()), "foreign_flagged": int(flagged[foreign].sum())}
    out["foreign_in_top"] = out["after"][f"foreign_in_top_{top}"]
    out["seconds"] = round(time.time() - t, 1)
    print(name, out, flush=True)
    return out


def outliers_case(data: Path) -> dict:
    """20 Fashion-MNIST items at 8 x 8 among the digits (given digit labels, as a mix-up would)."""
    from PIL import Image

    images, labels = digits()
    x, _ = fashion(data)
    pick = np.sort(np.random.default_rng(SEED).choice(len(x), size=20, replace=False))
    small = np.stack([np.asarray(Image.fromarray(x[i, :, :, 0]).resize((8, 8), Image.Resampling.BOX)) for i in pick])
    allimg = np.concatenate([images, small[..., None]])
    alllab = np.concatenate([labels, np.asarray(["0"] * 10 + ["1"] * 10)])
    foreign = np.arange(len(images), len(allimg))
    return foreign_case("outliers", allimg, alllab, foreign, {"pca": pixel_pca(allimg)})


def fashion_subset(data: Path, n: int = 3000):
    x, y = fashion(data)
    keep = np.sort(np.random.default_rng(SEED + 1).choice(len(x), size=n, replace=False))
    return x[keep], y[keep]


def outliers_fashion_case(data: Path, *, foreign_digits: bool = False) -> dict:
    """20 foreign images among 3,000 Fashion-MNIST test images (pixel PCA and the default backbone, as the Fashion
    config): Chinese-MNIST characters, or digits upscaled from 8 x 8."""
    from PIL import Image

    x, y = fashion_subset(data)
    if foreign_digits:
        d, _ = digits()
        pick = np.sort(np.random.default_rng(SEED + 2).choice(len(d), size=20, replace=False))
        alien = np.stack(
            [np.asarray(Image.fromarray(d[i, :, :, 0]).resize((28, 28), Image.Resampling.BILINEAR)) for i in pick]
        )
    else:
        alien = chinese_characters(data, 20, 28, SEED + 2)
    allimg = np.concatenate([x, alien[..., None]])
    alllab = np.concatenate([y, y[:20]])  # filed under Fashion-MNIST classes
    feats = {"pca": pixel_pca(allimg), "bb_efficientnet_lite0": backbone_features(allimg)}
    name = "outliers_fashion_digits" if foreign_digits else "outliers_fashion"
    return foreign_case(name, allimg, alllab, np.arange(len(x), len(allimg)), feats)


def outliers_shapes_case(data: Path) -> dict:
    """10 Chinese-MNIST characters (grey as RGB) among the synthetic shapes (pixel PCA, stats and the backbone)."""
    from imagespace.ingest import synthetic

    g = synthetic.generate(n_per_class=80, size=32, seed=0)
    alien = np.repeat(chinese_characters(data, 10, 32, SEED + 3)[..., None], 3, axis=-1)
    allimg = np.concatenate([g["images"], alien])
    labels = np.asarray(g["labels"]).astype(str)
    alllab = np.concatenate([labels, labels[:10]])
    feats = {"pca": pixel_pca(allimg), "stats": stats_features(allimg)}
    feats["bb_efficientnet_lite0"] = backbone_features(allimg)
    return foreign_case("outliers_shapes", allimg, alllab, np.arange(len(labels), len(allimg)), feats)


def clean_case() -> dict:
    from imagespace.ingest import synthetic

    g = synthetic.generate(n_per_class=80, size=32, seed=0)
    splits = splits_of(g["labels"], 0.25)
    manifest = manifest_of(g["labels"], splits, g["names"])
    feats = {"pca": pixel_pca(g["images"]), "stats": stats_features(g["images"])}
    feats["bb_efficientnet_lite0"] = backbone_features(g["images"])
    res = run_curation(feats, manifest)
    s = res["scores"]
    issues = curation.issues_table(s, res["labels"])
    section = curation.summary_section(issues, s, res["info"], warn_above=0.02)
    flagged = int((s["label_issue"] | s["outlier"]).sum())
    out = {
        "n_images": int(len(s)),
        "label_issues": int(s["label_issue"].sum()),
        "outliers": int(s["outlier"].sum()),
        "flagged_share": round(flagged / len(s), 4),
        "noise_rate": round(res["info"]["noise_rate"], 4),
        "warnings": section["warnings"],
    }
    print("clean", out, flush=True)
    return out


def fashion_clean_case(data: Path, gallery_dir: Path | None, *, rocks_data: bool = False) -> dict:
    if rocks_data:
        images, labels, splits, names = rocks(data)
        manifest = manifest_of(labels, splits, names)
        res = run_curation({"pca": pixel_pca(images), "stats": stats_features(images)}, manifest)
    else:
        images, labels = fashion(data)
        splits = splits_of(labels, 0.1, 0.2)
        manifest = manifest_of(labels, splits)
        res = run_curation({"pca": pixel_pca(images)}, manifest, images=images)  # outliers: pixels and appearance
    s = res["scores"]
    top = s[s["label_issue"]].sort_values("label_issue_score", ascending=False, kind="mergesort").head(20)
    if gallery_dir is not None:
        gallery_dir.mkdir(parents=True, exist_ok=True)
        rows = np.arange(len(s))
        stem = "rocks" if rocks_data else "fashion_test"
        curation.plot_label_issues(s, images, image_rows=rows, path=gallery_dir / f"{stem}_label_issues.png", n=20)
        curation.plot_outliers(s, images, image_rows=rows, path=gallery_dir / f"{stem}_outliers.png")
    out = {
        "n_images": int(len(s)),
        "label_issues": int(s["label_issue"].sum()),
        "label_issues_by_split": {k: int(v) for k, v in s[s["label_issue"]]["split"].value_counts().items()},
        "outliers": int(s["outlier"].sum()),
        "noise_rate": round(res["info"]["noise_rate"], 4),
        "feature_sets": {fs: "+".join(v["classifiers"]) for fs, v in res["info"]["feature_sets"].items()},
        "top20": [
            {
                "index": int(i),
                "name": r["name"],
                "split": r["split"],
                "given": r["label"],
                "suggested": r["suggested"],
                "score": round(float(r["label_issue_score"]), 4),
            }
            for i, r in top.iterrows()
        ],
    }
    print("fashion_clean", {k: v for k, v in out.items() if k != "top20"}, flush=True)
    return out


CASES = (
    "digits",
    "fashion",
    "rocks",
    "outliers",
    "outliers_fashion",
    "outliers_fashion_digits",
    "outliers_shapes",
    "clean",
    "fashion_clean",
    "rocks_clean",
)


def run_case(case: str, data: Path, gallery_dir: Path | None) -> dict:
    if case == "digits":
        images, labels = digits()
        return noise_case(case, images, labels, splits_of(labels, 0.25), lambda im: {"pca": pixel_pca(im)})
    if case == "fashion":
        images, labels = fashion(data)
        return noise_case(case, images, labels, splits_of(labels, 0.1, 0.2), lambda im: {"pca": pixel_pca(im)})
    if case == "rocks":
        images, labels, splits, names = rocks(data)
        return noise_case(
            case, images, labels, splits, lambda im: {"pca": pixel_pca(im), "stats": stats_features(im)}, names
        )
    if case == "outliers":
        return outliers_case(data)
    if case in ("outliers_fashion", "outliers_fashion_digits"):
        return outliers_fashion_case(data, foreign_digits=case == "outliers_fashion_digits")
    if case == "outliers_shapes":
        return outliers_shapes_case(data)
    if case == "clean":
        return clean_case()
    return fashion_clean_case(data, gallery_dir, rocks_data=case == "rocks_clean")


def checks(results: dict) -> list[dict]:
    """The targets of issue 32 that the measured cases can be held to."""
    out = []

    def add(check, value, target, ok):
        out.append({"check": check, "value": value, "target": target, "ok": bool(ok)})

    for case, floor in (("digits", 0.75), ("fashion", 0.6)):
        if case in results:
            for m in ("precision", "recall"):
                add(f"{case} {m}", results[case][m], f">= {floor}", results[case][m] >= floor)
    if "outliers" in results:
        v = results["outliers"]["foreign_in_top"]
        add("foreign images in the top 40 outlier scores", v, "20 of 20", v == 20)
    for case, what in (
        ("outliers_fashion", "Chinese-MNIST characters among Fashion-MNIST"),
        ("outliers_fashion_digits", "digits among Fashion-MNIST"),
        ("outliers_shapes", "Chinese-MNIST characters among the synthetic shapes"),
    ):
        if case in results:
            r = results[case]
            n, v = r["foreign"], r["foreign_in_top"]
            add(f"{what} in the top {r['top']} outlier scores (second case)", v, f"{n} of {n}", v == n)
    if "clean" in results:
        c = results["clean"]
        add("clean synthetic shapes flagged", c["flagged_share"], "< 0.01", c["flagged_share"] < 0.01)
        add("clean synthetic shapes warnings", len(c["warnings"]), "0", not c["warnings"])
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data", help="the shared data folder")
    ap.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    ap.add_argument("--gallery-dir", type=Path, default=None, help="where the Fashion-MNIST test-set galleries go")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "curation.json")
    ap.add_argument("--flip-seed", type=int, default=0, help="seed of the injected label flips")
    a = ap.parse_args(argv)
    FLIP_SEED[0] = a.flip_seed
    old = json.loads(a.out.read_text()) if a.out.exists() else {}
    results = dict(old.get("cases", {}))
    for case in a.cases:
        results[case] = run_case(case, a.data, a.gallery_dir)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=HERE).stdout.strip()
    doc = {
        "scenario": "curation",
        "description": "Curation (issue 32): seeded 5 % label flips found by confident learning on out-of-fold "
        "probe probabilities (precision, recall), foreign images among the outlier scores (before and after the "
        "outlier score of this version), and clean data.",
        "cores": 2,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "commit": commit or None,
        "flip_seed": a.flip_seed,
        "cases": results,
        "checks": checks(results),
    }
    doc["all_ok"] = all(c["ok"] for c in doc["checks"])
    a.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc["checks"], indent=1))


if __name__ == "__main__":
    main()
