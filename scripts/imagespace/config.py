"""Resolving the effective settings of one dataset from config.yaml.

Global stage blocks (``pca``, ``embeddings``, ``clustering``, ``compare``) apply
to every dataset; a dataset may override any key of them under the same name
(``datasets.<name>.pca.threshold: 0.95``).
"""

from __future__ import annotations

import copy
import functools
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
    """Effective settings of stage *name* for *dataset* (global block + dataset override), keys sorted."""
    ds = config["datasets"][dataset]
    return canonical(deep_merge(config.get(name, {}), ds.get(name)))


def human_splits(config: dict, dataset: str) -> dict:
    """{split: human-space spec} for the splits of *dataset* that have a human space."""
    ds = config["datasets"][dataset]
    human = ds.get("human") or {}
    if ds["source"]["type"] == "synthetic" and human.get("builtin"):
        splits = (
            ["train"]
            + (["validation"] if ds.get("validation_fraction") else [])
            + (["test"] if ds.get("test_fraction") else [])
        )
        splits = splits if len(splits) > 1 else ["all"]
        return {s: {"builtin": "synthetic", "dims": int(human.get("dims", 4))} for s in splits}
    return {k: v for k, v in human.items() if k != "builtin"}


def image_options(cfg: dict | None) -> dict:
    """The ``images:`` block of a dataset config, defaults (from the schema) filled in and size as (height, width)."""
    o = fill_defaults(copy.deepcopy(cfg or {}), _schema()["$defs"]["dataset"]["properties"]["images"], {})
    size = o["size"]
    if size is not None and not isinstance(size, (list, tuple)):
        size = [size, size]
    return {
        "size": None if size is None else (int(size[0]), int(size[1])),
        "color": o["color"],
        "resize": o["resize"],
        "resample": o["resample"],
        "exif_transpose": bool(o["exif_transpose"]),
        "background": tuple(o["background"]),
        "upscale_small": None if o["upscale_small"] is None else [[float(b), int(f)] for b, f in o["upscale_small"]],
        "max_pixels": int(o["max_pixels"]),
        "large": o["large"],
    }


# --------------------------------------------------------------------------- validation
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """An invalid configuration. The message names the key path, the problem and the config file."""


def load_schema(path: str | Path = SCHEMA_PATH) -> dict:
    """The configuration schema (a fresh copy: callers may modify it)."""
    return copy.deepcopy(_read_schema(str(path)))


def _schema() -> dict:
    """The schema itself, for reading only (no copy: the workflow asks for it once per dataset and stage)."""
    return _read_schema(str(SCHEMA_PATH))


@functools.lru_cache(maxsize=4)
def _read_schema(path: str) -> dict:
    import yaml

    with open(path, encoding="utf-8") as fh:  # libyaml's loader where PyYAML has it: 6x faster at parse time
        return yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def stage_names(schema: dict) -> list[str]:
    """The stage blocks: top-level blocks a dataset may override under the same name."""
    ds = schema["$defs"]["dataset"]["properties"]
    return [k for k in schema["properties"] if k in ds]


def _resolve(schema: dict, root: dict) -> dict:
    while isinstance(schema, dict) and "$ref" in schema:
        node = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _object_schema(schema: dict, root: dict, value) -> dict:
    """The branch of a oneOf/anyOf that describes a mapping (for the key walk)."""
    schema = _resolve(schema, root)
    if isinstance(value, dict):
        for key in ("oneOf", "anyOf"):
            for branch in schema.get(key, []):
                b = _resolve(branch, root)
                if b.get("type") == "object" or "properties" in b:
                    return b
    return schema


def _children(schema: dict, root: dict, value):
    """(key, value, subschema or None if unknown, valid keys) for each key of a mapping."""
    schema = _object_schema(schema, root, value)
    props = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for k, v in value.items():
        if k in props:
            yield k, v, props[k], None
        elif isinstance(extra, dict):
            yield k, v, extra, None
        elif extra is False:
            yield k, v, None, sorted(props)
        else:
            yield k, v, {}, None


def unknown_keys(value, schema: dict, root: dict | None = None, path: tuple = ()) -> list[tuple[tuple, list[str]]]:
    """Every key the schema does not allow: [(key path, valid keys at that place)]."""
    root = root if root is not None else schema
    out = []
    if isinstance(value, dict):
        for k, v, sub, valid in _children(schema, root, value):
            if sub is None:
                out.append((path + (str(k),), valid))
            else:
                out += unknown_keys(v, sub, root, path + (str(k),))
    elif isinstance(value, list):
        items = _resolve(schema, root).get("items")
        if isinstance(items, dict):
            for i, v in enumerate(value):
                out += unknown_keys(v, items, root, path + (str(i),))
    return out


def _types(schema: dict) -> set:
    t = schema.get("type", ())
    return {t} if isinstance(t, str) else set(t)


def coerce_numbers(value, schema: dict, root: dict):
    """Integers where the schema asks for a number (not an integer) become floats, in place: 30 == 30.0 in params."""
    schema = _resolve(schema, root)
    if isinstance(value, dict):
        for k, v, sub, _ in _children(schema, root, value):
            if sub is None:
                continue
            sub_r = _resolve(sub, root)
            if (
                isinstance(v, int)
                and not isinstance(v, bool)
                and "number" in _types(sub_r)
                and "integer" not in _types(sub_r)
            ):
                value[k] = float(v)
            else:
                coerce_numbers(v, sub, root)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        items = _resolve(schema["items"], root)
        for i, v in enumerate(value):
            if isinstance(v, int) and not isinstance(v, bool) and _types(items) == {"number"}:
                value[i] = float(v)
            else:
                coerce_numbers(v, schema["items"], root)
    return value


def _is_override(sub: dict) -> bool:
    """A block of overrides (dataset stage blocks, CNN and backbone variants: a reference to a top-level block, or
    marked ``x-overrides``): no defaults there."""
    return isinstance(sub, dict) and (
        str(sub.get("$ref", "")).startswith("#/properties/") or bool(sub.get("x-overrides"))
    )


def fill_defaults(value, schema: dict, root: dict):
    """Insert the schema's defaults for missing keys, recursively (not inside override blocks), in place."""
    if not isinstance(value, dict):
        return value
    schema = _object_schema(schema, root, value)
    for k, sub in schema.get("properties", {}).items():
        if k not in value and not _is_override(sub) and "default" in _resolve(sub, root):
            value[k] = copy.deepcopy(_resolve(sub, root)["default"])
    for k, v, sub, _ in _children(schema, root, value):
        if sub is not None and not _is_override(sub):
            fill_defaults(v, sub, root)
    return value


def with_defaults(value: dict | None, block: str) -> dict:
    """A copy of the settings *value* of *block* with the schema's defaults filled in.

    *block*: a dotted path from a top-level block or a ``$defs`` entry, e.g. ``cnn``,
    ``cnn.schedule``, ``dataset.source``, ``human_spec``. Library functions called
    with partial settings (tests, interactive use) get the workflow's defaults this
    way; the schema is their only copy.
    """
    schema = _schema()
    first, *rest = block.split(".")
    node = schema["properties"].get(first) or schema["$defs"][first]
    for part in rest:
        node = _resolve(node, schema)["properties"][part]
    return fill_defaults(copy.deepcopy(value or {}), node, schema)


def defaults(schema: dict, block: str) -> dict:
    """The defaults of one top-level block (or of a $defs entry), as a filled dict."""
    root = schema
    sub = schema["properties"].get(block) or schema["$defs"][block]
    return fill_defaults({}, sub, root)


def _where(path: tuple, files: dict) -> str:
    """The config file that sets *path* (files: {name: parsed content}, highest precedence first)."""
    for name, content in files.items():
        if _get(content, path) is not None:
            return f" (in {name})"
    return " (set on the command line)" if files else ""


def _short(obj, limit: int = 80) -> str:
    text = repr(obj)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _schema_errors(instance, root: dict) -> list[tuple[tuple, str]]:
    """(key path, short message) for each schema violation of *instance* (unknown keys aside)."""
    import jsonschema

    out = []
    for e in sorted(
        jsonschema.Draft202012Validator(root).iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path]
    ):
        path = tuple(str(p) for p in e.absolute_path)
        if e.validator == "additionalProperties":
            continue  # unknown keys are reported by unknown_keys, with a suggestion
        if e.validator == "pattern" and "propertyNames" in e.schema_path:  # a name (dataset, split) that is not allowed
            out.append((path, f"name {e.instance!r} is not allowed: {e.schema.get('description') or e.message}"))
            continue
        if e.validator in ("oneOf", "anyOf") and e.context:
            ctx = e.context
            if isinstance(e.instance, (dict, list)):  # a mapping or list: the branch of its own type says what is wrong
                ctx = [c for c in ctx if not (c.validator == "type" and not c.relative_path)] or ctx
            best = jsonschema.exceptions.best_match(ctx)
            if isinstance(e.instance, (dict, list)) and best.relative_path:
                path += tuple(str(p) for p in best.relative_path)
            value = best.instance if len(path) > len(e.absolute_path) else e.instance
            msg = f"{_short(value)} is not valid here ({best.message[:200]})"
        else:
            msg = e.message if len(e.message) <= 240 else e.message[:237] + "..."
        out.append((path, msg))
    return out


def validate(config: dict, schema: dict | None = None, files: dict | None = None) -> dict:
    """Check *config* against the schema, fill in its defaults and coerce numbers; in place.

    * Unknown keys anywhere (top level, stage blocks, dataset overrides, CNN
      variants) are errors that name the key path, the nearest valid key and the
      config file that sets it.
    * Every stage block is validated again after a dataset's overrides are merged in.
    * Integers given for number-typed keys become floats (``perplexity: 30`` is the
      default 30.0), so that rule params do not change with the spelling.

    *files*: {config file name: its parsed content}, to say where a bad key is set.
    Raises :class:`ConfigError` with one line per problem.
    """
    import difflib

    schema = schema or load_schema()
    files = files or {}
    problems = []
    for path, valid in unknown_keys(config, schema):
        near = difflib.get_close_matches(path[-1], valid, n=1, cutoff=0.6)
        hint = f"; did you mean `{near[0]}`?" if near else f"; valid keys here: {', '.join(valid)}"
        problems.append(f"{key_path(path)}: unknown key{hint}{_where(path, files)}")
    if not problems:
        problems += [
            f"{key_path(p) or '(top level)'}: {m}{_where(p, files)}" for p, m in _schema_errors(config, schema)
        ]
    if not problems:
        fill_defaults(config, schema, schema)
        coerce_numbers(config, schema, schema)
        stages = stage_names(schema)
        for name, ds in (config.get("datasets") or {}).items():
            for st in stages:
                merged = deep_merge(config.get(st, {}), ds.get(st))
                for p, m in _schema_errors({st: merged}, schema):
                    p = p[1:]
                    full = ("datasets", name, st) + p if _get(ds.get(st), p) is not None else (st,) + p
                    problems.append(
                        f"{key_path(full)}: {m} (after merging {key_path(('datasets', name, st))}){_where(full, files)}"
                    )
        if not problems:
            problems += [
                f"{p}{_where(tuple(p.split(': ')[0].split('.')), files)}" for p in cross_field_problems(config)
            ]
    if problems:  # one line per problem, whatever a value or name holds
        raise ConfigError("\n".join(["invalid configuration:"] + [f"  {' '.join(p.split())}" for p in problems]))
    return config


def validate_cached(config: dict, *, files: dict | None = None, cache_dir=None, code_key: str = "") -> dict:
    """:func:`validate`, remembered: the validated config is kept in ``<cache_dir>/imagespace-config.pickle``
    under a hash of the config as given, the schema file and *code_key* (the content hash of the code that
    validates), so a parse of an unchanged config skips the schema checks (about 0.1 s of every Snakemake call).

    Parameters
    ----------
    config : dict
        The config as Snakemake merged it; validated and filled in place, as by :func:`validate`.
    files : dict or callable, optional
        {config file name: its parsed content}, to say where a bad key is set; or a function that returns it,
        called only when the config is validated (a cache hit reads no config file).
    cache_dir : str or Path, optional
        The workflow's ``.snakemake``; None validates without a cache.
    code_key : str
        Changes whenever the validating code may have changed.

    Returns
    -------
    dict
        *config*.
    """
    if cache_dir is None:
        return validate(config, files=files() if callable(files) else files)
    import hashlib
    import os
    import pickle

    h = hashlib.sha256(code_key.encode() + b"\0" + SCHEMA_PATH.read_bytes() + b"\0")
    h.update(pickle.dumps(config, protocol=4))
    key = h.hexdigest()
    path = Path(cache_dir) / "imagespace-config.pickle"
    try:
        with open(path, "rb") as fh:
            cached_key, validated = pickle.load(fh)
        if cached_key == key and isinstance(validated, dict):
            config.clear()
            config.update(validated)
            return config
    except (OSError, EOFError, ValueError, TypeError, AttributeError, pickle.UnpicklingError):
        pass
    validate(config, files=files() if callable(files) else files)  # an invalid config raises, is never cached
    try:  # atomic: cluster jobs parse the workflow side by side
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(pickle.dumps((key, config), protocol=4))
        os.replace(tmp, path)
    except OSError:
        pass
    return config


def key_path(path) -> str:
    """A key path as config messages print it: ``a.b.c``; a part that is not a plain printable name
    (a dataset called ``..`` or one with a line break) is quoted, so that every problem stays on one line."""
    return ".".join(
        p if isinstance(p, str) and p.isprintable() and p and "." not in p and " " not in p else repr(p)
        for p in map(lambda x: x if isinstance(x, str) else str(x), path)
    )


def _min_max_pairs(node, path: tuple = ()):
    """(key path of the smaller, its value, key path of the larger, its value) for every pair of numbers named
    ``x_min``/``x_max`` or ``min_x``/``max_x`` side by side in a mapping, recursively."""
    if not isinstance(node, dict):
        return
    for k, v in node.items():
        if not isinstance(k, str):  # e.g. class_names {0: ...}
            continue
        for lo, hi in (("_min", "_max"), ("min_", "max_")):
            other = (
                (k[: -len(lo)] + hi)
                if lo == "_min" and k.endswith(lo)
                else (hi + k[len(lo) :] if lo == "min_" and k.startswith(lo) else None)
            )
            w = node.get(other) if other else None
            if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (v, w)):
                yield path + (k,), v, path + (other,), w
        yield from _min_max_pairs(v, path + (k,))


def cross_field_problems(config: dict) -> list[str]:
    """Rules that tie several keys together, checked before any job runs (a bad value must never get as
    far as a job, whose start removes the outputs it would rewrite): the targets are defined datasets,
    a dataset's held-out fractions leave training images, and every ``min``/``max`` pair is in order.
    Returns one line per problem, starting with the key path."""
    import difflib

    out = []
    names = list(config.get("datasets") or {})
    for t in config.get("targets") or []:
        if t not in names:
            near = difflib.get_close_matches(str(t), names, n=1)
            out.append(
                f"targets: dataset {t!r} is not defined under datasets"
                + (f"; did you mean {near[0]!r}?" if near else f" (defined: {', '.join(names) or 'none'})")
            )
    stages = stage_names(_schema())
    for name, ds in (config.get("datasets") or {}).items():
        at = key_path(("datasets", name))
        v, t = float(ds.get("validation_fraction") or 0), float(ds.get("test_fraction") or 0)
        if v + t >= 1:
            out.append(
                f"{at}.validation_fraction: {v:g} + test_fraction {t:g} = {v + t:g} leaves no training images "
                "(the two together must be below 1)"
            )
        merged = {k: val for k, val in ds.items() if k not in stages}
        merged.update({st: deep_merge(config.get(st, {}), ds.get(st)) for st in stages})
        for lo_path, lo, hi_path, hi in _min_max_pairs(merged):
            if lo > hi:
                own = lo_path[0] not in stages or _get(ds, lo_path) is not None or _get(ds, hi_path) is not None
                out.append(
                    f"{at + '.' if own else ''}{'.'.join(lo_path)}: {lo:g} is larger than {hi_path[-1]} = {hi:g}"
                )
    return out


def _get(node, path: tuple):
    """The value at key path *path* (list items by index), or None."""
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and str(part).isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def canonical(obj):
    """Dicts with their keys sorted, recursively: params that compare equal whatever the key order of the config."""
    if isinstance(obj, dict):
        return {k: canonical(obj[k]) for k in sorted(obj, key=str)}
    if isinstance(obj, (list, tuple)):
        return [canonical(v) for v in obj]
    return obj
