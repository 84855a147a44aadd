"""Adding a method: in a copy of the project, a new embedding method or clustering method touches three
files (its library function and table entry, its schema block, a test) and reaches every stage of a real run."""

from __future__ import annotations

import filecmp
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, copy_project, snakemake

pytestmark = pytest.mark.workflow

TOY_FUNCTION = """
def _randproj(k, p, seed, n_jobs):
    from sklearn.random_projection import GaussianRandomProjection

    return GaussianRandomProjection(n_components=k, random_state=seed, **p)


"""
TOY_ENTRY = '        Method("randproj", "random projection", _randproj, transform=True),\n'
TOY_SCHEMA = """      randproj:
        type: object
        default: {}
        description: scikit-learn GaussianRandomProjection parameters.
        additionalProperties: false
        properties:
          eps: {type: number, default: 0.1, description: Distortion bound (used only without n_components).}
"""
TOY_TEST = """import numpy as np
from imagespace import embed


def test_randproj_embeds_and_transforms():
    X = np.random.default_rng(0).normal(size=(40, 30))
    Y, Y_other, info = embed.embed("randproj", X[:30], 3, embed.params_for("randproj", {}), seed=0, X_other=X[30:])
    assert Y.shape == (30, 3) and Y_other.shape == (10, 3) and info["n_transformed"] == 10
"""


def _changed_files(work: Path) -> list[str]:
    out = []
    for path in sorted(p for p in work.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        rel = path.relative_to(work)
        if rel.parts[0] in (".snakemake", "results", "logs", "benchmarks", "input") or rel.name == "config.yaml":
            continue
        if not (ROOT / rel).exists() or not filecmp.cmp(path, ROOT / rel, shallow=False):
            out.append(rel.as_posix())
    return out


def _add_method(
    work: Path, lib: str, function: str, entry: str, anchor: str, schema_edits, test_name: str, test: str
) -> None:
    """Add a method as a developer would, in three files: its function and table entry in *lib* (the entry
    before the line *anchor*), the schema (*schema_edits*: (old, new, times old occurs)) and a test; check
    that nothing else changed and that the new test passes."""
    path = work / lib
    text = path.read_text()
    assert text.count("METHODS: dict[str, Method] = {") == 1 and text.count(anchor) == 1
    text = text.replace("METHODS: dict[str, Method] = {", function.lstrip("\n") + "METHODS: dict[str, Method] = {")
    path.write_text(text.replace(anchor, entry + anchor))
    schema = work / "workflow/schemas/config.schema.yaml"
    text = schema.read_text()
    for old, new, times in schema_edits:
        assert text.count(old) == times, old
        text = text.replace(old, new)
    schema.write_text(text)
    (work / "tests").mkdir()
    (work / "tests" / test_name).write_text(test)
    assert _changed_files(work) == sorted([lib, f"tests/{test_name}", "workflow/schemas/config.schema.yaml"])
    unit = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(work / "tests" / test_name)],
        cwd=work,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(work / "scripts"), "PATH": "/usr/bin:/bin"},
    )
    assert unit.returncode == 0, unit.stdout + unit.stderr


def test_a_new_embedding_method_needs_three_files_and_reaches_every_stage(tmp_path):
    work = copy_project(tmp_path / "project")
    _add_method(
        work,
        "scripts/imagespace/embed.py",
        TOY_FUNCTION,
        TOY_ENTRY,
        '        Method("mds",',
        [
            (
                "enum: [tsne, lle, mds, isomap, umap, opentsne]",
                "enum: [tsne, lle, mds, isomap, umap, opentsne, randproj]",
                1,
            ),
            ("\n  clustering:\n", "\n" + TOY_SCHEMA + "  clustering:\n", 1),
        ],
        "test_randproj.py",
        TOY_TEST,
    )

    cfg = {
        "datasets": {
            "shapes": {
                "source": {"type": "synthetic", "n_per_class": 12, "size": 16, "seed": 2},
                "images": {"size": None, "color": "gray"},
                "validation_fraction": 0.25,
                "human": {"builtin": True, "dims": 3},
            }
        },
        "embeddings": {"methods": ["randproj"], "fit_split": "train"},
        "clustering": {
            "feature_sets": ["pca", "randproj"],
            "methods": ["kmeans"],
            "kmeans": {"k_max": 4},
            "on_maps": False,
        },
        "compare": {"n_permutations": 99, "n_bootstrap": 50},
        "retrieval": {"enabled": False},
        "explore": {"enabled": False},
    }
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    snakemake(work)
    res = work / "results/shapes"
    for f in (
        "maps/randproj_labels.png",
        "maps/randproj_thumbnails.png",
        "features/randproj.npz",
        "compare/randproj/comparison.json",
        "clustering/randproj/kmeans/result.json",
    ):
        assert (res / f).is_file(), f
    summary = json.loads((res / "summary.json").read_text())
    assert "randproj" in summary["compare"]
    assert any(row["feature_set"] == "randproj" for row in summary["alignment"]), summary["alignment"]
    assert "randproj" in (res / "summary.md").read_text()


TOY_CLUSTER_FUNCTION = """
def _run_birch(X, rows, o, ctx):
    from sklearn.cluster import Birch

    k = resolve_k(o["k"], rows)
    return Birch(n_clusters=k, threshold=o["threshold"]).fit_predict(X), {"params": dict(o)}


"""
TOY_CLUSTER_ENTRY = '        Method("birch", "BIRCH", _run_birch),\n'
TOY_CLUSTER_SCHEMA = """      birch:
        type: object
        default: {}
        description: scikit-learn Birch parameters.
        additionalProperties: false
        properties:
          threshold: {type: number, default: 0.5, description: Subcluster radius.}
          k: {anyOf: [{type: integer, minimum: 1}, {const: n_classes}], default: n_classes, description: Final k.}
"""
TOY_CLUSTER_TEST = """import numpy as np
from imagespace import cluster


def test_birch_finds_two_blobs():
    X = np.vstack([np.zeros((20, 2)), np.full((20, 2), 10.0)]) + np.random.default_rng(0).normal(size=(40, 2))
    labels, extra = cluster.METHODS["birch"].run(X, None, {"k": 2, "threshold": 0.5}, None)
    assert len(set(labels[:20])) == 1 and len(set(labels[20:])) == 1 and labels[0] != labels[-1]
"""


def test_a_new_clustering_method_needs_three_files_and_runs(tmp_path):
    work = copy_project(tmp_path / "project")
    _add_method(
        work,
        "scripts/imagespace/cluster/_run.py",
        TOY_CLUSTER_FUNCTION,
        TOY_CLUSTER_ENTRY,
        '        Method(\n            "kmeans",',
        [
            (
                "enum: [kmeans, gmm, dbscan, agglomerative, hdbscan]",
                "enum: [birch, kmeans, gmm, dbscan, agglomerative, hdbscan]",
                1,
            ),
            ("\n  stats:\n", "\n" + TOY_CLUSTER_SCHEMA + "  stats:\n", 1),
        ],
        "test_birch.py",
        TOY_CLUSTER_TEST,
    )

    cfg = {
        "datasets": {
            "shapes": {
                "source": {"type": "synthetic", "n_per_class": 12, "size": 16, "seed": 2},
                "images": {"size": None, "color": "gray"},
            }
        },
        "embeddings": {"methods": ["lle"]},
        "clustering": {"methods": ["birch", "kmeans"], "kmeans": {"k_max": 4}},
    }
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    snakemake(work)
    res = work / "results/shapes/clustering/pca/birch"
    for f in ("assignments.tsv", "result.json", "sizes.png", "gallery.png"):
        assert (res / f).is_file(), f
    summary = json.loads((work / "results/shapes/summary.json").read_text())
    assert 0 <= summary["clustering"]["birch"]["accuracy"] <= 1 and summary["clustering"]["birch"]["k"] == 3
