"""Resolving the effective settings of one dataset from config.yaml.

Global stage blocks (``pca``, ``embeddings``, ``clustering``, ``compare``) apply
to every dataset; a dataset may override any key of them under the same name
(``datasets.<name>.pca.threshold: 0.95``).
"""

from __future__ import annotations

import copy
from pathlib import Path

def deep_merge(base: dict, override: dict | None) -> dict:
    out = copy.deepcopy(base)
    for k, v in (override or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def stage(config: dict, dataset: str, name: str) -> dict:
    """Effective settings of stage *name* for *dataset* (global block + dataset override)."""
    ds = config["datasets"][dataset]
    return deep_merge(config.get(name, {}), ds.get(name))


def human_splits(config: dict, dataset: str) -> dict:
    """{split: human-space spec} for the splits of *dataset* that have a human space."""
    ds = config["datasets"][dataset]
    human = ds.get("human") or {}
    if ds["source"]["type"] == "synthetic" and human.get("builtin"):
        splits = ["train"] + (["validation"] if ds.get("validation_fraction") else []) + (["test"] if ds.get("test_fraction") else [])
        splits = splits if len(splits) > 1 else ["all"]
        return {s: {"builtin": "synthetic", "dims": int(human.get("dims", 4))} for s in splits}
    return {k: v for k, v in human.items() if k != "builtin"}


def human_dims(config: dict, dataset: str) -> int | None:
    """Number of columns of the dataset's human space(s), read from the files at DAG time.

    An unreadable file gives None here (the default k is used) so that the rest
    of the workflow still runs; its human_space job then fails naming the file.
    """
    from imagespace.util import InputError

    dims = set()
    for split, spec in human_splits(config, dataset).items():
        if spec.get("builtin"):
            dims.add(int(spec["dims"]))
            continue
        path = Path(spec["path"])
        if not path.is_file():
            continue  # the human rule reports the missing file
        from imagespace.human import read_matrix

        try:
            df = read_matrix(path, spec)
        except InputError:
            continue
        dims.add(df.shape[1] - (1 if spec.get("id_column") else 0))
    if len(dims) > 1:
        raise ValueError(f"dataset {dataset!r}: human spaces of different splits have different dimensions {sorted(dims)}")
    return dims.pop() if dims else None


def n_components(config: dict, dataset: str) -> int:
    """k for the k-D embeddings: configured, or the human space's dimensionality, or 8."""
    k = stage(config, dataset, "embeddings").get("n_components", "auto")
    if k == "auto":
        return human_dims(config, dataset) or 8
    return int(k)


def image_options(cfg: dict) -> dict:
    """The ``images:`` block of a dataset config with defaults filled in."""
    o = dict(cfg or {})
    size = o.get("size", [64, 64])
    if size is not None and not isinstance(size, (list, tuple)):
        size = [size, size]
    return {
        "size": None if size is None else (int(size[0]), int(size[1])),
        "color": o.get("color", "gray"),
        "resize": o.get("resize", "pad"),
        "resample": o.get("resample", "lanczos"),
        "exif_transpose": bool(o.get("exif_transpose", True)),
        "background": tuple(o.get("background", [255, 255, 255])),
    }
