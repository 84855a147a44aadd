"""Fuzzing the inputs a hostile or careless user controls (Hypothesis): manifest entries, dataset names and
numeric settings. Whatever they are, ingest opens no file outside the dataset's folders, a run writes
nothing outside results/, logs/ and benchmarks/, and every failure is a one-line message per problem."""

from __future__ import annotations

import csv
import itertools
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import snakemake
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from test_safety import OpenAudit

from imagespace import config as iscfg
from imagespace.featuresets import Registry, RegistryError
from imagespace.ingest import ingest
from imagespace.io import InputError

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


def fuzz(n: int):
    """Seeded (derandomized: the same examples on every run and machine), no deadline, n examples."""
    return settings(
        max_examples=n,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """data/imgs/{a,b}/*.png, a file and a folder outside, and links from inside to both sides."""
    root = tmp_path_factory.mktemp("fuzz")
    imgs, outside = root / "data" / "imgs", root / "outside"
    rng = np.random.default_rng(0)
    for c, cls in enumerate("ab"):
        (imgs / cls).mkdir(parents=True)
        for i in range(4):
            Image.fromarray((rng.random((12, 12)) * 50 + 120 * c).astype(np.uint8)).save(imgs / cls / f"{cls}{i}.png")
    (outside / "o").mkdir(parents=True)
    Image.fromarray(np.zeros((12, 12), np.uint8)).save(outside / "o" / "secret.png")
    (imgs / "a" / "link_out.png").symlink_to(outside / "o" / "secret.png")
    (imgs / "a" / "link_in.png").symlink_to(imgs / "b" / "b0.png")
    (imgs / "dir_out").symlink_to(outside / "o", target_is_directory=True)
    return root


def entries(root: Path):
    inside = [f"{c}/{c}{i}.png" for c in "ab" for i in range(4)]
    return st.one_of(
        st.sampled_from(inside),  # real images
        st.sampled_from(["a/link_out.png", "a/link_in.png", "dir_out/secret.png", "a/../../imgs/b/b1.png"]),
        st.sampled_from(
            [str(root / "outside/o/secret.png"), str(root / "data/imgs/a/a0.png"), "/etc/passwd", "/etc/hostname"]
        ),
        st.integers(1, 12).map(lambda n: "../" * n + "outside/o/secret.png"),
        st.integers(1, 12).map(lambda n: "../" * n + "etc/passwd"),
        st.text(st.characters(codec="utf-8", exclude_characters="\r\n\x00"), max_size=12),  # unicode, empty, junk
        st.just(""),
    )


COUNTER = itertools.count()


@fuzz(60)
@given(data=st.data())
def test_fuzzed_manifests_never_open_a_file_outside(tree, data):
    rows = data.draw(st.lists(st.tuples(entries(tree), st.sampled_from(["a", "b", ""])), min_size=1, max_size=10))
    case = tree / "cases" / str(next(COUNTER))
    case.mkdir(parents=True)
    with open(case / "m.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "label"])
        w.writerows(rows)
    ds = {
        "source": {
            "type": "csv_manifest",
            "csv": str(case / "m.csv"),
            "image_dir": str(tree / "data/imgs"),
            "file_column": "file",
            "label_column": "label",
        },
        "images": {"size": [12, 12]},
        "on_error": data.draw(st.sampled_from(["skip", "fail"])),
        "duplicates": {"check": data.draw(st.booleans())},
    }
    out = case / "out"
    out.mkdir()
    with OpenAudit() as audit:
        try:
            m = ingest("fz", ds, out / "manifest.tsv", out / "images.npy", out / "skipped.tsv", out / "ingest.json")
        except InputError as e:
            assert "\n" not in str(e) and str(e)  # one line
            m = None
    assert audit.outside([tree / "data", case]) == []
    if m is not None:
        imgs = os.path.realpath(tree / "data/imgs") + os.sep
        assert all(os.path.realpath(p).startswith(imgs) for p in m["path"])


numbers = st.one_of(st.integers(-3, 40), st.floats(-1, 2, allow_nan=False), st.none())


@fuzz(200)
@given(
    name=st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=10)
    | st.from_regex(NAME, fullmatch=True),
    size=st.one_of(st.none(), st.integers(-4, 40), st.lists(st.integers(-4, 40), min_size=1, max_size=3)),
    vfrac=numbers,
    tfrac=numbers,
    k_min=numbers,
    k_max=numbers,
    n_neighbors=numbers,
    perplexity=numbers,
)
def test_fuzzed_names_and_numbers_are_valid_or_refused_in_one_line_each(
    name, size, vfrac, tfrac, k_min, k_max, n_neighbors, perplexity
):
    ds = {"source": {"type": "sklearn_digits"}, "images": {"size": size, "color": "gray"}, "cnn": {"enabled": True}}
    for key, v in (("validation_fraction", vfrac), ("test_fraction", tfrac)):
        if v is not None:
            ds[key] = v
    km = {k: v for k, v in (("k_min", k_min), ("k_max", k_max)) if v is not None}
    c = {
        "datasets": {name: ds},
        "targets": [name],
        "clustering": {"kmeans": km},
        "embeddings": {
            "lle": {k: v for k, v in (("n_neighbors", n_neighbors),) if v is not None},
            "tsne": {k: v for k, v in (("perplexity", perplexity),) if v is not None},
        },
    }
    try:
        iscfg.validate(c, files={"fuzz.yaml": yaml.safe_load(yaml.safe_dump(c))})
        Registry(c)
    except iscfg.ConfigError as e:
        head, *lines = str(e).splitlines()
        assert head == "invalid configuration:" and lines
        keys = ("datasets", "targets", "clustering", "embeddings")
        assert all(ln.startswith("  ") and ln.strip().split(".")[0].split(":")[0] in keys for ln in lines), str(e)
        return
    except RegistryError as e:
        assert "\n" not in str(e) and str(e).startswith(f"datasets.{name}.")
        return
    # accepted: the name cannot leave results/, and the values are in their ranges
    assert NAME.match(name)
    results = os.path.realpath("results")
    assert os.path.realpath(os.path.join("results", name)).startswith(results + os.sep)
    d = c["datasets"][name]
    assert float(d.get("validation_fraction") or 0) + float(d.get("test_fraction") or 0) < 1
    s = d["images"]["size"]
    assert s is None or (min(s) if isinstance(s, list) else s) >= 1
    k = iscfg.deep_merge(c["clustering"], {})["kmeans"]
    assert 1 <= k["k_min"] <= k["k_max"]


@pytest.mark.workflow
@fuzz(3)
@given(name=st.from_regex(NAME, fullmatch=True).filter(lambda n: len(n) <= 24), side=st.integers(4, 16))
def test_fuzzed_runs_write_only_where_they_should(tmp_path_factory, name, side):
    work = tmp_path_factory.mktemp("run")
    rng = np.random.default_rng(side)
    for c in "ab":
        (work / "imgs" / c).mkdir(parents=True)
        for i in range(5):
            Image.fromarray((rng.random((side, side)) * 60 + (100 if c == "b" else 0)).astype(np.uint8)).save(
                work / "imgs" / c / f"{c}{i}.png"
            )
    cfg = {
        "targets": [name],
        "datasets": {name: {"source": {"type": "class_folders", "root": "imgs"}, "images": {"size": [side, side]}}},
        "embeddings": {"methods": []},
        "clustering": {"methods": ["kmeans"]},
        "compare": {"feature_sets": []},
        "explore": {"enabled": False},
        "retrieval": {"enabled": False},
        "probes": {"enabled": False},
    }
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    above = sorted(os.listdir(work.parent))
    r = snakemake(work, "--until", "pca", check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    assert sorted(os.listdir(work.parent)) == above
    top = {p.name for p in work.iterdir()}
    assert top <= {"imgs", "config.yaml", "results", "logs", "benchmarks", ".snakemake"}, top
    assert {p.name for p in (work / "results").iterdir()} == {name}
    assert sys.executable  # the run used this interpreter's Snakemake
