"""Safe by construction: a dataset reads nothing outside its folders, no name escapes results/, no config
value destroys finished results, a huge image costs no memory, one run per folder. Generated data only."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, snakemake
from PIL import Image

from imagespace import config as iscfg
from imagespace import runlock
from imagespace.ingest import ingest, source_fingerprint
from imagespace.io import InputError


def save(path: Path, value: int, size: int = 24) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(value)
    Image.fromarray((rng.random((size, size)) * 40 + value).astype(np.uint8)).save(path)


@pytest.fixture
def hostile(tmp_path):
    """A class-folder tree and a CSV manifest laced with paths that lead out of the dataset."""
    data, outside = tmp_path / "data", tmp_path / "outside"
    for c, cls in enumerate("abc"):
        for i in range(6):
            save(data / "imgs" / cls / f"{cls}_{i}.png", 60 * c + i)
    save(outside / "secret.png", 250)
    save(outside / "cls_x" / "x_0.png", 200)
    save(data / "imgs" / ".ipynb_checkpoints" / "z.png", 10)
    save(data / "imgs" / "__MACOSX" / "a" / "._a_0.png", 10)
    (data / "imgs" / "Thumbs.db").write_bytes(b"x")
    (data / "imgs" / "b" / "desktop.ini").write_bytes(b"x")
    (data / "imgs" / "a" / "passwd.png").symlink_to("/etc/passwd")
    (data / "imgs" / "a" / "secret.png").symlink_to(outside / "secret.png")
    (data / "imgs" / "linked_out").symlink_to(outside / "cls_x", target_is_directory=True)
    (data / "imgs" / "c" / "again_a0.png").symlink_to(data / "imgs" / "a" / "a_0.png")  # inside: fine
    rows = ["file,label"] + [f"{c}/{c}_{i}.png,{c}" for c in "abc" for i in range(6)]
    rows += [
        f"{outside / 'secret.png'},a",
        "../../outside/secret.png,b",
        "../../../../../../../../etc/passwd,c",
        "a/passwd.png,a",
    ]
    (data / "manifest.csv").write_text("\n".join(rows) + "\n")
    return tmp_path


class OpenAudit:
    """Every path opened by this process while active (sys.addaudithook on open; hooks cannot be removed,
    so this one records only while switched on)."""

    active: OpenAudit | None = None
    installed = False

    def __init__(self):
        self.paths: list[str] = []

    def __enter__(self):
        if not OpenAudit.installed:
            sys.addaudithook(OpenAudit._hook)
            OpenAudit.installed = True
        OpenAudit.active = self
        return self

    def __exit__(self, *exc):
        OpenAudit.active = None

    @staticmethod
    def _hook(event, args):
        a = OpenAudit.active
        if a is not None and event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
            a.paths.append(os.fsdecode(args[0]))

    def outside(self, allowed: list[Path]) -> list[str]:
        """The opened paths that resolve outside *allowed* (and outside Python's own installation)."""
        ok = [os.path.realpath(p) for p in allowed] + [os.path.realpath(p) for p in (sys.prefix, sys.base_prefix)]
        ok += [os.path.realpath(p) for p in sys.path if p]
        bad = []
        for p in self.paths:
            r = os.path.realpath(p)
            if r.startswith("/proc/") or r.startswith("/sys/") or r.startswith("/dev/"):
                continue
            if not any(r == o or r.startswith(o.rstrip("/") + "/") for o in ok):
                bad.append(r)
        return bad


def run_ingest(tmp_path, cfg, name="ds"):
    out = tmp_path / f"out_{name}"
    out.mkdir(exist_ok=True)
    m = ingest(name, cfg, out / "manifest.tsv", out / "images.npy", out / "skipped.tsv", out / "ingest.json")
    return (
        m,
        pd.read_csv(out / "skipped.tsv", sep="\t", keep_default_na=False),
        json.loads((out / "ingest.json").read_text()),
    )


# --------------------------------------------------------------------------- path confinement
def test_manifest_rows_outside_the_image_folder_are_never_opened(hostile):
    src = {
        "type": "csv_manifest",
        "csv": str(hostile / "data/manifest.csv"),
        "image_dir": str(hostile / "data/imgs"),
        "file_column": "file",
        "label_column": "label",
    }
    with OpenAudit() as audit:
        m, skipped, info = run_ingest(hostile, {"source": src, "images": {"size": [24, 24]}})
    assert audit.outside([hostile / "data", hostile / "out_ds"]) == []
    out = skipped[skipped["kind"] == "outside_root"]
    assert len(out) == 4  # absolute, two climbing out, one symlink inside image_dir pointing at /etc/passwd
    for line in (20, 21, 22, 23):
        assert out["reason"].str.contains(f"line {line}:").sum() == 1
    imgs = os.path.realpath(hostile / "data/imgs") + "/"
    assert len(m) == 18 and all(os.path.realpath(p).startswith(imgs) for p in m["path"])
    assert any("4 files or rows that resolve outside" in w for w in info["warnings"])
    with pytest.raises(
        InputError, match=r"manifest.csv line 20: .*secret.png.* outside the dataset's folders.*on_error: fail"
    ):
        run_ingest(hostile, {"source": src, "images": {"size": [24, 24]}, "on_error": "fail"}, name="fail")


def test_allow_outside_admits_a_named_folder(hostile):
    src = {
        "type": "csv_manifest",
        "csv": str(hostile / "data/manifest.csv"),
        "image_dir": str(hostile / "data/imgs"),
        "file_column": "file",
        "label_column": "label",
        "allow_outside": [str(hostile / "outside")],
    }
    m, skipped, _ = run_ingest(hostile, {"source": src, "images": {"size": [24, 24]}})
    # the two rows naming outside/secret.png are read now; /etc/passwd stays out
    assert (m["path"].str.endswith("secret.png")).sum() == 2
    assert set(skipped.loc[skipped["kind"] == "outside_root", "name"]) == {
        "../../../../../../../../etc/passwd",
        "a/passwd.png",
    }


def test_class_folders_hidden_entries_and_links_out(hostile):
    with OpenAudit() as audit:
        m, skipped, _ = run_ingest(
            hostile,
            {"source": {"type": "class_folders", "root": str(hostile / "data/imgs")}, "images": {"size": [24, 24]}},
        )
    assert audit.outside([hostile / "data", hostile / "out_ds"]) == []
    assert sorted(m["label"].unique()) == ["a", "b", "c"]  # no .ipynb_checkpoints, __MACOSX or linked_out class
    kinds = dict(zip(skipped["name"], skipped["kind"]))
    assert (
        kinds[".ipynb_checkpoints/"] == kinds["__MACOSX/"] == kinds["Thumbs.db"] == kinds["b/desktop.ini"] == "hidden"
    )
    assert kinds["linked_out"] == kinds["a/passwd.png"] == kinds["a/secret.png"] == "outside_root"
    assert "c/again_a0.png" in set(m["name"])  # a link that stays inside is an image like any other


def test_fingerprint_follows_links_inside_and_covers_the_manifest(hostile, tmp_path):
    elsewhere = tmp_path / "lists"
    elsewhere.mkdir()
    csv = elsewhere / "m.csv"
    csv.write_text("file,label\na/a_0.png,a\n")
    root = hostile / "data/imgs"
    (root / "d_linked").symlink_to(root / "a", target_is_directory=True)
    folders = {"type": "class_folders", "root": str(root)}
    manifest = {
        "type": "csv_manifest",
        "csv": str(csv),
        "image_dir": str(root),
        "file_column": "file",
        "label_column": "label",
    }
    before = source_fingerprint(folders), source_fingerprint(manifest)
    img = root / "a" / "a_1.png"
    st = img.stat()
    save(img, 99)  # a change seen through the linked folder too
    os.utime(img, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    csv.write_text("file,label\na/a_0.png,b\n")
    after = source_fingerprint(folders), source_fingerprint(manifest)
    assert before[0] != after[0] and before[1] != after[1]
    # the same size and modification time: only a content fingerprint sees the change
    content = source_fingerprint(folders, "content")
    st = img.stat()
    data = bytearray(img.read_bytes())
    data[-1] ^= 0xFF
    img.write_bytes(bytes(data))
    os.utime(img, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert source_fingerprint(folders) == after[0]
    assert source_fingerprint(folders, "content") != content


# --------------------------------------------------------------------------- names, ranges, cross-field rules
def cfg(**ds):
    return {"datasets": {"d": {"source": {"type": "sklearn_digits"}, **ds}}, "targets": ["d"]}


@pytest.mark.parametrize("name", ["..", "../escape", ".", "1st", "a/b", "a b", "", "-x"])
def test_dataset_names_that_could_leave_results_are_refused(name):
    c = {"datasets": {name: {"source": {"type": "sklearn_digits"}}}, "targets": [name]}
    with pytest.raises(
        iscfg.ConfigError, match=r"datasets: name .* is not allowed: a dataset name starts with a letter"
    ):
        iscfg.validate(c)


def test_unknown_target_is_refused_with_a_suggestion():
    c = cfg()
    c["targets"] = ["dd"]
    with pytest.raises(
        iscfg.ConfigError, match=r"targets: dataset 'dd' is not defined under datasets; did you mean 'd'\?"
    ):
        iscfg.validate(c)


@pytest.mark.parametrize(
    "ds, key",
    [
        ({"images": {"size": [0, 0]}}, "datasets.d.images.size.0: 0 is less than the minimum of 1"),
        ({"images": {"size": [-24, 24]}}, "datasets.d.images.size.0: -24 is less than the minimum of 1"),
        ({"images": {"size": 0}}, "datasets.d.images.size: 0 is less than the minimum of 1"),
        (
            {"validation_fraction": 0.6, "test_fraction": 0.6},
            "datasets.d.validation_fraction: 0.6 + test_fraction 0.6 = 1.2 leaves no",
        ),
        (
            {"clustering": {"kmeans": {"k_max": -3}}},
            "datasets.d.clustering.kmeans.k_max: -3 is less than the minimum of 1",
        ),
        (
            {"clustering": {"kmeans": {"k_min": 5, "k_max": 3}}},
            "datasets.d.clustering.kmeans.k_min: 5 is larger than k_max = 3",
        ),
        ({"min_per_class": 20, "max_per_class": 10}, "datasets.d.min_per_class: 20 is larger than max_per_class = 10"),
        ({"images": {"max_pixels": 0}}, "datasets.d.images.max_pixels: 0 is less than the minimum of 1"),
    ],
)
def test_bad_values_name_their_key(ds, key):
    with pytest.raises(iscfg.ConfigError) as e:
        iscfg.validate(cfg(**ds))
    assert key in str(e.value)


def test_global_min_max_pair_is_named_at_its_own_place():
    c = cfg()
    c["clustering"] = {"gmm": {"k_min": 9, "k_max": 4}}
    with pytest.raises(iscfg.ConfigError, match=r"\n  clustering.gmm.k_min: 9 is larger than k_max = 4"):
        iscfg.validate(c)


def test_every_numeric_setting_has_a_range():
    """Every integer or number key of the schema has a lower bound (or an enum): no count, size, seed or
    rate may be negative by accident."""
    schema = iscfg.load_schema()
    missing = []

    def walk(node, path):
        if isinstance(node, dict):
            t = node.get("type")
            types = {t} if isinstance(t, str) else set(t or [])
            numeric = types & {"integer", "number"} and "string" not in types  # a class label may be 3 or "rock"
            if numeric and not ({"minimum", "exclusiveMinimum", "enum", "const"} & set(node)):
                missing.append(".".join(path))
            for k, v in node.items():
                if k in ("properties", "$defs"):
                    for kk, vv in v.items():
                        walk(vv, path + [kk])
                elif k in ("items", "additionalProperties") and isinstance(v, dict):
                    walk(v, path + ["[]"])
                elif k in ("oneOf", "anyOf"):
                    for b in v:
                        walk(b, path)

    walk(schema, [])
    # a rating scale may lie anywhere on the number line (e.g. -3..3): its two ends are checked against each other
    # and against every rating instead
    assert missing == ["human_spec.scale.[]"]


def test_cnn_needs_room_for_its_pooling_layers():
    from imagespace.featuresets import Registry, RegistryError

    c = iscfg.validate(cfg(images={"size": [3, 3]}, cnn={"enabled": True}))
    with pytest.raises(
        RegistryError, match=r"datasets.d.images.size: \[3, 3\] is too small for CNN variant 'cnn': layer 4 "
    ):
        Registry(c)
    Registry(iscfg.validate(cfg(images={"size": [4, 4]}, cnn={"enabled": True})))  # two poolings of 2: 4 px is enough
    # the notebook's network (valid convolutions) needs more; digits are 8x8 natively
    with pytest.raises(
        RegistryError, match=r"datasets.d.images.size: \[8, 8\] is too small for CNN variant 'cnn': layer 3 "
    ):
        Registry(iscfg.validate(cfg(images={"size": None}, cnn={"enabled": True, "architecture": "notebook"})))


# --------------------------------------------------------------------------- huge images
@pytest.fixture(scope="module")
def huge_png(tmp_path_factory):
    d = tmp_path_factory.mktemp("huge")
    # written by a child process, so that this process never holds the 169 MB array
    code = (
        "import numpy as np; from PIL import Image; import sys; "
        "Image.fromarray(np.zeros((13000, 13000), np.uint8)).save(sys.argv[1] + '/a/a_big.png', optimize=False)"
    )
    for cls in "ab":
        for i in range(3):
            save(d / cls / f"{cls}_{i}.png", 40 * i + (100 if cls == "b" else 0))
    subprocess.run([sys.executable, "-c", code, str(d)], check=True)
    return d


def _ingest_peak(folder, out, large):
    """Ingest *folder* in a fresh interpreter; (its peak RSS in MB, skipped.tsv, images.npy shape)."""
    code = textwrap.dedent(f"""
        import sys, json
        sys.path.insert(0, {str(ROOT / "scripts")!r})
        from imagespace.ingest import ingest
        cfg = {{"source": {{"type": "class_folders", "root": {str(folder)!r}}},
               "images": {{"size": [24, 24], "large": {large!r}}}, "duplicates": {{"check": False}}}}
        ingest("huge", cfg, {str(out / "m.tsv")!r}, {str(out / "i.npy")!r}, {str(out / "s.tsv")!r}, threads=2)
        # VmHWM is this interpreter's own peak: ru_maxrss would carry the parent's peak across fork and exec
        hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
        print(json.dumps(int(hwm.split()[1]) / 1024))
    """)
    out.mkdir(parents=True, exist_ok=True)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return (
        float(r.stdout.strip().splitlines()[-1]),
        pd.read_csv(out / "s.tsv", sep="\t"),
        np.load(out / "i.npy").shape,
        r.stderr,
    )


def test_huge_image_is_skipped_from_its_header(huge_png, tmp_path):
    peak, skipped, shape, stderr = _ingest_peak(huge_png, tmp_path / "skip", "skip")
    assert peak <= 300, f"peak RSS {peak:.0f} MB"
    row = skipped[skipped["kind"] == "too_large"].iloc[0]
    assert row["name"] == "a/a_big.png" and "13000x13000 px = 169.0 megapixels" in row["reason"]
    assert shape == (6, 24, 24, 1)
    assert "1 images over images.max_pixels" in stderr  # counted on the console


def test_huge_image_reduced_when_asked(huge_png, tmp_path):
    peak, skipped, shape, _ = _ingest_peak(huge_png, tmp_path / "reduce", "reduce")
    assert "too_large" not in set(skipped["kind"]) and shape == (7, 24, 24, 1)
    assert peak <= 450, f"peak RSS {peak:.0f} MB"  # one decode of the 169 MB image at a time


# --------------------------------------------------------------------------- warnings
def test_single_class_and_single_folder_classes_warn(tmp_path):
    for i in range(6):
        save(tmp_path / "one" / "only" / f"o_{i}.png", i * 10)
    _, _, info = run_ingest(
        tmp_path, {"source": {"type": "class_folders", "root": str(tmp_path / "one")}, "images": {"size": [24, 24]}}
    )
    assert any("one class only ('only')" in w for w in info["warnings"])
    for split in ("train", "validation"):
        for cls in ("a", "b") if split == "train" else ("a",):
            for i in range(4):
                save(tmp_path / split / cls / f"{cls}_{i}.png", i * 20 + (90 if cls == "b" else 0))
    src = {
        "type": "class_folders",
        "splits": {"train": str(tmp_path / "train"), "validation": str(tmp_path / "validation")},
    }
    _, _, info = run_ingest(tmp_path, {"source": src, "images": {"size": [24, 24]}}, name="two")
    assert [w for w in info["warnings"] if "come from one folder" in w] == [
        "dataset two: all 4 images of class 'b' come from one folder ('train') of the source's 2; scores may "
        "measure the folder as much as the class"
    ]


# --------------------------------------------------------------------------- whole runs
def tree_digest(root: Path, exclude=(".snakemake",)) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if p.is_file() and rel.parts[0] not in exclude:
            out[str(rel)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


SMALL = {
    "targets": ["small"],
    "datasets": {
        "small": {
            "source": {"type": "class_folders", "root": "imgs"},
            "images": {"size": [24, 24]},
            "validation_fraction": 0.25,
        }
    },
    "embeddings": {"methods": []},
    "clustering": {"methods": ["kmeans"]},
    "compare": {"feature_sets": []},
    "explore": {"enabled": False},
    "retrieval": {"enabled": False},
}


def small_project(work: Path, classes: str, n: int, step: int) -> None:
    """*n* images of every class in *classes* under work/imgs, and the SMALL config beside them."""
    for c, cls in enumerate(classes):
        for i in range(n):
            save(work / "imgs" / cls / f"{cls}_{i}.png", step * c + i)
    (work / "config.yaml").write_text(yaml.safe_dump(SMALL))


@pytest.mark.workflow
def test_bad_values_after_a_complete_run_leave_every_output_in_place(tmp_path):
    small_project(tmp_path, "abc", 10, 70)
    snakemake(tmp_path)
    before = tree_digest(tmp_path)
    assert "results/small/summary.json" in before and "results/small/ingest/images.npy" in before
    bad = [
        ({"images": {"size": [0, 0]}}, "datasets.small.images.size.0"),
        ({"images": {"size": [-24, 24]}}, "datasets.small.images.size.0"),
        ({"validation_fraction": 0.6, "test_fraction": 0.6}, "datasets.small.validation_fraction"),
        ({"clustering": {"kmeans": {"k_max": -3}}}, "datasets.small.clustering.kmeans.k_max"),
        ({"clustering": {"kmeans": {"k_min": 6, "k_max": 3}}}, "datasets.small.clustering.kmeans.k_min"),
        ({"images": {"size": [3, 3]}, "cnn": {"enabled": True}}, "datasets.small.images.size"),
    ]
    for override, key in bad:
        c = json.loads(json.dumps(SMALL))
        c["datasets"]["small"] = iscfg.deep_merge(c["datasets"]["small"], override)
        (tmp_path / "bad.yaml").write_text(yaml.safe_dump(c))
        r = snakemake(tmp_path, "--configfile", str(tmp_path / "bad.yaml"), check=False)
        assert r.returncode != 0, override
        lines = [ln for ln in r.stderr.splitlines() if ln.strip() and "is extended by additional config" not in ln]
        # a header, then one line per problem, each naming the key (size [0, 0]: both sides)
        assert lines[0] == "invalid configuration:" and 2 <= len(lines) <= 3, r.stderr
        assert all(ln.strip().startswith(key.rsplit(".", 1)[0] if len(lines) == 3 else key) for ln in lines[1:]), (
            r.stderr
        )
        assert tree_digest(tmp_path, exclude=(".snakemake", "bad.yaml")) == {k: v for k, v in before.items()}, override
    # a dataset named ".." is refused before anything is written, in the folder or above it
    c = json.loads(json.dumps(SMALL))
    c["datasets"] = {"..": c["datasets"]["small"]}
    c["targets"] = [".."]
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(c))
    above = sorted(os.listdir(tmp_path.parent))
    r = snakemake(tmp_path, "--configfile", str(tmp_path / "bad.yaml"), check=False)
    assert r.returncode != 0 and "datasets: name '..' is not allowed" in r.stderr
    assert sorted(os.listdir(tmp_path.parent)) == above
    assert tree_digest(tmp_path, exclude=(".snakemake", "bad.yaml")) == before


@pytest.mark.workflow
def test_a_second_run_in_the_same_folder_is_refused(tmp_path):
    small_project(tmp_path, "ab", 6, 90)
    # a real holder: another process that took the run lock of this folder and is still alive
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT / "scripts")!r})
        from imagespace import runlock
        lock = runlock.acquire(
            {str(tmp_path / ".snakemake" / "imagespace.lock")!r}, command=["snakemake", "--cores", "2"]
        )
        print("held", flush=True)
        time.sleep(120)
    """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        r = snakemake(tmp_path, check=False)
        assert r.returncode != 0
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith(f"another run holds this folder: process {holder.pid} on "), (
            r.stderr
        )
        assert "`snakemake --cores 2`" in lines[0] and not (tmp_path / "results").exists()
        assert snakemake(tmp_path, "-n").returncode == 0  # a dry run is never refused
    finally:
        holder.kill()
        holder.wait()
    snakemake(tmp_path, "--until", "ingest")  # the holder is gone: its lock went with it
    assert (tmp_path / "results/small/ingest/images.npy").exists()


def test_runs_jobs_reads_the_command_line():
    assert runlock.runs_jobs(["snakemake", "--cores", "2"])
    assert runlock.runs_jobs(["snakemake", "-c2", "--configfile", "x.yaml"])
    for flags in (["-n"], ["-np"], ["--dry-run"], ["--unlock"], ["--report", "r.html"], ["--lint"], ["--summary"]):
        assert not runlock.runs_jobs(["snakemake", "--cores", "2", *flags]), flags
