"""Strict configuration: unknown keys and bad values are errors that name the key path and the file;
defaults live in the schema only; rule params do not depend on how the config is spelled."""

from __future__ import annotations

import ast
import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from imagespace import config as iscfg  # noqa: E402

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def _base():
    with open(ROOT / "config.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _error(cfg, files=None) -> str:
    with pytest.raises(iscfg.ConfigError) as exc:
        iscfg.validate(cfg, files=files)
    return str(exc.value)


def test_typo_at_global_level_names_path_suggestion_and_file():
    cfg = _base()
    cfg["embeddings"] = {"tsne": {"perplexityy": 10}}
    msg = _error(cfg, files={"my.yaml": {"embeddings": {"tsne": {"perplexityy": 10}}}})
    assert "embeddings.tsne.perplexityy: unknown key; did you mean `perplexity`? (in my.yaml)" in msg
    assert len(msg.splitlines()) == 2, msg  # one short line per problem, no schema dump


def test_typo_at_dataset_level_and_in_a_cnn_variant():
    cfg = _base()
    cfg["datasets"]["digits"]["embeddings"] = {"tsne": {"perplexityy": 10}}
    cfg["datasets"]["digits"]["cnn"] = {"variants": {"cnn_x": {"optimiser": {"learning_rate": 0.01}}}}
    cfg["datasets"]["digits"]["clusterin"] = {}
    msg = _error(cfg)
    assert "datasets.digits.embeddings.tsne.perplexityy: unknown key; did you mean `perplexity`?" in msg
    assert "datasets.digits.cnn.variants.cnn_x.optimiser: unknown key; did you mean `optimizer`?" in msg
    assert "datasets.digits.clusterin: unknown key; did you mean `clustering`?" in msg


def test_bad_values_are_checked_after_merging_overrides():
    cfg = _base()
    cfg["datasets"]["digits"]["clustering"] = {"kmeans": {"k_max": "ten"}}
    cfg["datasets"]["digits"]["cnn"] = {"variants": {"cnn_x": {"epochs": 0}}}
    msg = _error(cfg)
    assert "datasets.digits.clustering.kmeans.k_max: 'ten' is not of type 'integer'" in msg
    assert "datasets.digits.cnn.variants.cnn_x.epochs: 0 is less than the minimum of 1" in msg


def test_defaults_fill_and_numbers_are_coerced_to_the_schema_type():
    cfg = _base()
    cfg["embeddings"] = {"tsne": {"perplexity": 30}}
    cfg["datasets"]["digits"]["embeddings"] = {"tsne": {"early_exaggeration": 12}}
    iscfg.validate(cfg)
    assert cfg["embeddings"]["tsne"]["perplexity"] == 30.0 and isinstance(
        cfg["embeddings"]["tsne"]["perplexity"], float
    )
    tsne = iscfg.stage(cfg, "digits", "embeddings")["tsne"]
    assert isinstance(tsne["early_exaggeration"], float)
    # the dataset override only holds what the user wrote: the global block's settings still apply
    assert cfg["datasets"]["digits"]["embeddings"] == {"tsne": {"early_exaggeration": 12.0}}
    assert tsne["max_iter"] == iscfg.defaults(iscfg.load_schema(), "embeddings")["tsne"]["max_iter"]


def test_canonical_params_do_not_depend_on_key_order():
    a = {"b": 1, "a": {"y": [1, {"q": 1, "p": 2}], "x": 2}}
    b = {"a": {"x": 2, "y": [1, {"p": 2, "q": 1}]}, "b": 1}
    assert repr(iscfg.canonical(a)) == repr(iscfg.canonical(b))
    cfg = _base()
    iscfg.validate(cfg)
    shuffled = _reverse_keys(_base())
    iscfg.validate(shuffled)
    for st in iscfg.stage_names(iscfg.load_schema()):
        assert repr(iscfg.stage(cfg, "synthetic", st)) == repr(iscfg.stage(shuffled, "synthetic", st))


def _reverse_keys(obj):
    if isinstance(obj, dict):
        return {k: _reverse_keys(obj[k]) for k in reversed(list(obj))}
    if isinstance(obj, list):
        return [_reverse_keys(v) for v in obj]
    return obj


def test_schema_closes_every_block_and_describes_every_stage_key():
    schema = iscfg.load_schema()
    open_blocks = []

    def walk(node, path):
        node = iscfg._resolve(node, schema)
        if "properties" in node and "additionalProperties" not in node:
            open_blocks.append(path or "(top level)")
        for k, v in node.get("properties", {}).items():
            if not iscfg._is_override(v):  # override blocks refer to a block walked on its own
                walk(v, f"{path}.{k}")
        for key in ("additionalProperties", "items"):
            if isinstance(node.get(key), dict) and not iscfg._is_override(node[key]):
                walk(node[key], f"{path}.*")
        for branch in node.get("oneOf", []) + node.get("anyOf", []):
            walk(branch, path)

    walk(schema, "")
    assert open_blocks == []
    # every key of a stage block has a description and a default (augment's keys: the block's default
    # sets the ones that apply; rounds: only with schedule type rounds)
    for st in iscfg.stage_names(schema):
        for path, sub in _keys(schema["properties"][st], schema, st):
            assert "description" in sub, path
            if not (path.startswith("cnn.augment.") or path == "cnn.schedule.rounds"):
                assert "default" in sub, path


def _keys(node, schema, path):
    node = iscfg._resolve(node, schema)
    for k, v in node.get("properties", {}).items():
        r = iscfg._resolve(v, schema)
        yield f"{path}.{k}", r
        if not iscfg._is_override(v):
            yield from _keys(v, schema, f"{path}.{k}")


# keys read with .get(key, literal) whose literal is not a second copy of a config default:
# layer specs, training-history rows and the synthetic generator's own arguments share key names
NOT_CONFIG = {
    ("train_cnn.py", "loss"),
    ("config.py", "type"),
}


def test_no_second_copy_of_the_schema_defaults():
    """Library and scripts read defaults from the schema (config.with_defaults), never from literals."""
    schema = iscfg.load_schema()
    defaults: dict[str, list] = {}

    def collect(node):
        node = iscfg._resolve(node, schema)
        for k, v in node.get("properties", {}).items():
            r = iscfg._resolve(v, schema)
            if "default" in r:
                defaults.setdefault(k, []).append(r["default"])
            if not iscfg._is_override(v):
                collect(v)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and not iscfg._is_override(extra):
            collect(extra)

    collect(schema)
    block_keys = [
        set(iscfg.defaults(schema, st)[m])
        for st in ("embeddings",)
        for m in iscfg.defaults(schema, st)
        if isinstance(iscfg.defaults(schema, st)[m], dict)
    ]
    found = []
    for path in sorted((ROOT / "scripts").glob("**/*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get"
                and len(node.args) == 2
                and isinstance(node.args[0], ast.Constant)
                and node.args[0].value in defaults
                and (path.name, node.args[0].value) not in NOT_CONFIG
            ):
                try:
                    literal = ast.literal_eval(node.args[1])
                except ValueError:
                    continue
                if literal in defaults[node.args[0].value]:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: .get({node.args[0].value!r}, {literal!r})")
            if isinstance(node, ast.Dict) and all(isinstance(k, ast.Constant) for k in node.keys):
                keys = {k.value for k in node.keys}
                if any(len(keys & b) >= 3 and keys <= b for b in block_keys):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: a dict of defaults {sorted(keys)}")
    assert found == []


def test_with_defaults_fills_partial_settings_from_the_schema():
    s = iscfg.with_defaults({"schedule": {"type": "cosine"}}, "cnn")
    d = iscfg.defaults(iscfg.load_schema(), "cnn")
    assert s["schedule"]["type"] == "cosine" and s["schedule"]["min_lr"] == d["schedule"]["min_lr"]
    assert s["epochs"] == d["epochs"] and s["early_stopping"] == d["early_stopping"]
    opts = iscfg.image_options({"size": 32})
    assert opts["size"] == (32, 32) and opts["resize"] == d_images()["resize"]


def d_images():
    schema = iscfg.load_schema()
    return iscfg.fill_defaults({}, schema["$defs"]["dataset"]["properties"]["images"], schema)


def test_snakemake_prints_the_bad_key_and_its_file(tmp_path):
    """A real dry run: the console shows the key path, the suggestion and the config file, in a few lines."""
    bad = tmp_path / "typo.yaml"
    bad.write_text("datasets:\n  digits:\n    embeddings:\n      tsne: {perplexityy: 10}\n")
    r = subprocess.run(
        [SNAKEMAKE, "-n", "--configfile", str(bad)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert f"datasets.digits.embeddings.tsne.perplexityy: unknown key; did you mean `perplexity`? (in {bad})" in out, (
        out
    )
    assert len(out.splitlines()) < 25, out


def test_a_validated_config_is_read_back_from_the_cache_until_config_or_code_changes(tmp_path, monkeypatch):
    expected = iscfg.validate(_base())
    assert iscfg.validate_cached(_base(), cache_dir=tmp_path, code_key="a") == expected
    real = iscfg.validate
    calls = []
    monkeypatch.setattr(iscfg, "validate", lambda cfg, **kw: calls.append(1) or real(cfg, **kw))
    unread = lambda: pytest.fail("a cache hit read the config files")  # noqa: E731
    assert iscfg.validate_cached(_base(), files=unread, cache_dir=tmp_path, code_key="a") == expected and calls == []
    assert iscfg.validate_cached(_base(), cache_dir=tmp_path, code_key="b") == expected and calls == [1]
    typo = _base()
    typo["datasets"]["digits"]["pca"] = {"treshold": 0.5}
    with pytest.raises(iscfg.ConfigError, match="treshold"):  # a changed config is validated again
        iscfg.validate_cached(typo, cache_dir=tmp_path, code_key="b")
    assert iscfg.validate_cached(_base(), cache_dir=tmp_path, code_key="b") == expected and calls == [1, 1]
    (tmp_path / "imagespace-config.pickle").write_bytes(b"not a pickle")
    assert iscfg.validate_cached(_base(), cache_dir=tmp_path, code_key="b") == expected and len(calls) == 3


def test_validation_leaves_the_callers_config_usable_twice():
    cfg = _base()
    once = copy.deepcopy(iscfg.validate(cfg))
    assert iscfg.validate(cfg) == once  # idempotent: filling defaults again changes nothing


def test_method_tables_and_schema_enums_match():
    """The library's tables name the methods; the schema's enums, the rules and the SLURM groups follow them."""
    import re

    from imagespace import cluster, embed, evaluation, nets

    schema = iscfg.load_schema()
    props = schema["properties"]
    assert props["embeddings"]["properties"]["methods"]["items"]["enum"] == list(embed.METHODS)
    for m in embed.METHODS:  # each method has its own closed parameter block with defaults
        block = props["embeddings"]["properties"][m]
        assert block["additionalProperties"] is False and "default" in block, m
    # one enum names the clustering methods; every list of methods refers to it
    assert schema["$defs"]["cluster_method"]["enum"] == list(cluster.METHODS)
    for block in ("clustering", "cnn", "backbones"):
        key = "methods" if block == "clustering" else "cluster_methods"
        assert props[block]["properties"][key]["items"] == {"$ref": "#/$defs/cluster_method"}, block
    assert props["probes"]["properties"]["classifiers"]["items"]["enum"] == list(evaluation.PROBES)
    assert props["cnn"]["properties"]["target"]["enum"] == list(nets.TARGETS)
    # the clustering rules are made from the table: one per method, named cluster_<method>
    smk = (ROOT / "workflow/rules/cluster.smk").read_text()
    assert "for _m in CLUSTERINGS.values():" in smk and 'f"cluster_{_m.name}"' in smk
    assert not re.findall(r"^rule \w+:", smk, flags=re.M)
    # the SLURM profile groups only rules that exist (a rule it does not name is submitted on its own)
    names = set(
        re.findall(
            r"^(?:rule|use rule \w+ as) (\w+)",
            "\n".join(p.read_text() for p in (ROOT / "workflow/rules").glob("*.smk")),
            flags=re.M,
        )
    )
    names |= {f"cluster_{m}" for m in cluster.METHODS}
    groups = yaml.safe_load((ROOT / "workflow/profiles/slurm/config.yaml").read_text())["groups"]
    assert set(groups) <= names, sorted(set(groups) - names)
    assert {f"cluster_{m}" for m in cluster.METHODS} <= set(groups)  # today's methods are grouped


def test_paired_comparisons_can_be_switched_off(tmp_path):
    """compare.paired.enabled: false plans no paired job and nothing else changes (the parity config uses it)."""
    from conftest import planned_jobs

    cfg = {
        "datasets": {
            "tiny": {
                "source": {"type": "synthetic", "n_per_class": 6, "size": 16, "seed": 1},
                "validation_fraction": 0.25,
                "human": {"builtin": True, "dims": 3},
            }
        },
        "embeddings": {"methods": []},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    on = planned_jobs(tmp_path)
    cfg["compare"] = {"paired": {"enabled": False}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    off = planned_jobs(tmp_path)
    assert ("paired", "tiny") in on
    assert sorted(j for j in on if j[0] != "paired") == sorted(off)


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_validates_as_its_usage_line_stacks_it(path):
    """Each configs/*.yaml, stacked over config.yaml as its own usage line says (--configfile a.yaml b.yaml),
    passes the strict schema, and every data file it names relative to the checkout (../shared/...) exists."""
    usage = [line for line in path.read_text(encoding="utf-8").splitlines() if "--configfile" in line]
    assert usage, f"{path.name}: no usage line (snakemake ... --configfile {path.name})"
    stack = [w for w in usage[0].split("--configfile", 1)[1].split() if w.startswith("configs/")]
    assert stack[-1] == f"configs/{path.name}", usage[0]
    merged, named = _base(), set()
    for rel in stack:
        with open(ROOT / rel, encoding="utf-8") as fh:
            extra = yaml.safe_load(fh)
        merged = iscfg.deep_merge(merged, extra)
        named |= set(extra.get("datasets", {}))
    cfg = iscfg.validate(merged)
    for name in named:
        src = cfg["datasets"][name]["source"]
        files = [src.get(k) for k in ("path", "csv", "labels_path", "root")]
        files += [f.get("path") for f in (src.get("split_files") or {}).values()]
        for f in filter(None, files):
            assert (ROOT / f).exists(), f"{path.name}: datasets.{name}.source names {f}, which does not exist"
