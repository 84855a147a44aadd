"""The report package's shape: a light import, the section registries, the old module paths as aliases, and the
public image helper. The summary's numbers on real runs are tested end to end in tests/test_workflow.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

from imagespace import report

HEAVY = ("matplotlib", "bokeh", "sklearn", "tensorflow", "torch")


def test_importing_the_package_imports_no_heavy_library():
    """In a fresh interpreter: the drawing and fitting libraries are imported by the functions that need them."""
    code = f"import sys, json; import imagespace.report; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "scripts")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert json.loads(out.stdout) == []
    # the check can fail: a module that imports matplotlib at its top is seen
    code = code.replace("import imagespace.report;", "import imagespace.report; import matplotlib.figure;")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert json.loads(out.stdout) == ["matplotlib"]


def _inputs(tmp_path) -> report.SummaryInputs:
    """The two files every summary reads, as a run with nothing but ingest and PCA writes them."""
    ingest = {
        "n_images": 30,
        "n_skipped": 0,
        "skipped_by_kind": {},
        "splits": {"train": 20, "test": 10},
        "classes": {"a": 15, "b": 15},
        "shape": [8, 8],
    }
    pca = {
        "method": "full",
        "fit_split": "all",
        "n_fit": 30,
        "n_features": 64,
        "n_components_for_threshold": 5,
        "threshold": 0.9,
        "pc1_variance_ratio": 0.4,
        "pc2_variance_ratio": 0.2,
    }
    (tmp_path / "ingest.json").write_text(json.dumps(ingest))
    (tmp_path / "pca.json").write_text(json.dumps(pca))
    return report.SummaryInputs(ingest=str(tmp_path / "ingest.json"), pca=str(tmp_path / "pca.json"))


def test_a_new_section_is_one_builder_and_one_renderer(tmp_path, monkeypatch):
    """A builder added to SECTIONS reads its files (``inputs.more``) and fills its key and warnings; a renderer added
    to RENDERERS puts its lines on the page, where its entry stands."""
    from imagespace.report import page as md
    from imagespace.report import summary as sm

    ceilings = tmp_path / "ceilings.json"
    ceilings.write_text(json.dumps({"train": 0.8, "test": 0.3}))

    def noise_ceilings(out, inputs, settings):
        out["noise_ceilings"] = json.loads(open(inputs.more["noise_ceilings"][0]).read())
        out["warnings"] += [f"noise ceiling {sp}: {v} < 0.5" for sp, v in out["noise_ceilings"].items() if v < 0.5]

    def render(s):
        return ["## Noise ceilings", ""] + [f"- {sp}: {v}" for sp, v in s["noise_ceilings"].items()] + [""]

    plain = report.build("d", _inputs(tmp_path))
    assert "noise_ceilings" not in plain
    monkeypatch.setattr(sm, "SECTIONS", [*sm.SECTIONS[:-1], noise_ceilings, sm.SECTIONS[-1]])
    monkeypatch.setattr(md, "RENDERERS", [*md.RENDERERS[:2], render, *md.RENDERERS[2:]])
    base = _inputs(tmp_path)
    inputs = report.SummaryInputs(ingest=base.ingest, pca=base.pca, more={"noise_ceilings": [str(ceilings)]})
    s = report.build("d", inputs)
    assert s["noise_ceilings"] == {"train": 0.8, "test": 0.3}
    assert s["warnings"] == plain["warnings"] + ["noise ceiling test: 0.3 < 0.5"]
    page = report.markdown(s)
    assert page.index("## Warnings") < page.index("## Noise ceilings")  # after the warnings, where it was put
    assert "- test: 0.3" in page
    # every key of the plain summary is still there, in the same order
    assert [k for k in s if k != "noise_ceilings"] == list(plain)


def test_the_settings_decide_the_warnings(tmp_path):
    """small_class_warning comes from SummarySettings: 15 images per class warn at 20, not at 10."""
    inputs = _inputs(tmp_path)
    warn = report.build("d", inputs, report.SummarySettings(small_class_warning=20))["warnings"]
    assert any("fewer than 20 images" in w for w in warn)
    quiet = report.build("d", inputs, report.SummarySettings(small_class_warning=10))["warnings"]
    assert not any("fewer than" in w for w in quiet)
    assert report.build("d", inputs)["dataset"] == "d"


def test_display_image_scales_each_image_by_its_own_range():
    rng = np.random.default_rng(0)
    rgb = rng.integers(10, 200, size=(6, 7, 3)).astype(np.uint8)
    img, cmap = report.display_image(rgb)
    assert cmap is None and img.shape == (6, 7, 3)
    assert img.min() == 0.0 and img.max() == 1.0
    gray, cmap = report.display_image(rgb[:, :, :1])
    assert cmap == "gray" and gray.shape == (6, 7)
    flat, _ = report.display_image(np.full((4, 4), 7.0))
    assert (flat == 0).all()


def test_direct_scores_and_their_share_of_the_ceiling_join_the_leaderboard(tmp_path):
    """A split given as ratings: each leaderboard row gets its direct RDM score and share of the noise ceiling,
    summary.md shows them beside the disparity, and a split given as coordinates says it has no ceiling."""
    import json

    from scipy.spatial.distance import squareform

    from imagespace.human import scores, simulate

    rng = np.random.default_rng(0)
    H = rng.normal(size=(24, 3))
    R = simulate.ratings_rdms(H, n_subjects=8, noise=0.5, missing=0.2, seed=0)  # (subjects, pairs), NaN = missing
    assert R.shape == (8, len(squareform(np.zeros((24, 24)))))
    obs = {"kind": "ratings", "R": R, "subjects": [f"s{i}" for i in range(len(R))]}
    features = {"good": H + rng.normal(scale=0.3, size=H.shape), "poor": rng.normal(size=(24, 5))}
    res = scores.split_scores(obs, features, n_boot=50, seed=0)
    path = tmp_path / "direct_validation.json"
    path.write_text(json.dumps({"split": "validation", "result": res, "ceiling": res["ceiling"]}))
    out = {
        "warnings": [],
        "alignment_selection": {"chosen": "good", "split": "train"},
        "alignment": [{"feature_set": "good"}, {"feature_set": "poor"}],
    }
    inputs = report.SummaryInputs(ingest="-", pca="-", more={"human_direct": [str(path)]})
    settings = report.SummarySettings(human_kinds={"train": "coordinates", "validation": "ratings"})
    report.sections.human_data(out, inputs, settings)
    good, poor = out["alignment"]
    assert good["validation_direct"] > poor["validation_direct"]
    assert good["validation_share_of_ceiling"] == pytest.approx(
        good["validation_direct"] / res["ceiling"]["lower"], rel=1e-12
    )
    assert "no ceiling" in out["human_data"]["ceilings"]["train"]["note"]
    assert out["human_data"]["headline"].startswith("good reaches")
    lines = report.md_leaderboard._table({**out, "alignment_splits": ["validation"], "alignment_paired": {}})
    header = next(ln for ln in lines if ln.startswith("| feature set"))
    assert "direct (share of ceiling)" in header
    row = next(ln for ln in lines if ln.startswith("| good"))
    assert f"{good['validation_share_of_ceiling']:.0%}" in row


def test_the_human_data_section_says_whether_the_best_direct_row_beats_the_runner_up(tmp_path):
    """Two splits given as triplets: on one the best feature set is clearly better than the runner-up, on the
    other the two are copies of one another; summary.md's human-data section says so in one line per split,
    from the paired rows of human/direct_<split>.json."""
    import json

    from imagespace.human import scores, simulate

    rng = np.random.default_rng(1)
    H = rng.normal(size=(30, 3))
    T, _, _ = simulate.triplets(H, n_triplets=3000, temperature=0.1, task="anchor_closer", seed=2)
    obs = {"kind": "triplets", "T": T, "subjects": None}
    good = H + 0.2 * rng.normal(size=H.shape)
    files = []
    for split, feats in (
        ("validation", {"good": good, "poor": rng.normal(size=(30, 4))}),
        ("test", {"good": good, "twin": good.copy()}),
    ):
        res = scores.split_scores(obs, feats, n_boot=100, seed=0)
        files.append(tmp_path / f"direct_{split}.json")
        files[-1].write_text(json.dumps({"split": split, "result": res, "ceiling": res["ceiling"]}))
    out = {"warnings": [], "alignment": [{"feature_set": "good"}]}
    inputs = report.SummaryInputs(ingest="-", pca="-", more={"human_direct": [str(f) for f in files]})
    report.sections.human_data(out, inputs, report.SummarySettings(human_kinds={}))
    lines = report.md_sections.human_data(out)
    beats = [ln for ln in lines if ln.startswith("- validation: ")]
    ties = [ln for ln in lines if ln.startswith("- test: ")]
    assert len(beats) == 1 and "good is significantly better than the runner-up poor on triplet_accuracy" in beats[0]
    assert len(ties) == 1 and "good is not significantly better than the runner-up twin" in ties[0]
    assert "+0.000" in ties[0] and "holm-adjusted p = 1 over 1 pair" in ties[0]
