"""Class names for label values (``class_names``, ``class_names_key``): 3, "3", "03" and 3.0 are one label."""

from __future__ import annotations

import numpy as np

from imagespace.io import InputError, short_repr

from ._records import is_missing


def label_key(value) -> str:
    """The text a label value is matched on in ``class_names``: 3, "3", "03", "3.0" and 3.0 are all "3"."""
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    s = str(value).strip()
    try:
        return str(int(s))
    except ValueError:
        pass
    try:
        f = float(s)
    except ValueError:
        return s
    return str(int(f)) if f.is_integer() else repr(f)


def class_name_map(names, where: str) -> dict[str, str]:
    """{label key: class name} from ``class_names``: a list indexed by the label value, or a
    {label value: name} mapping (keys may be numbers or text). Two labels may share a name
    (their classes are merged); one label with two names is an error."""
    if isinstance(names, dict):
        items = list(names.items())
    elif isinstance(names, (list, tuple, np.ndarray)):
        items = list(enumerate(names))
    else:
        raise InputError(
            f"{where}: class_names must be a list or a {{label: name}} mapping, not {type(names).__name__}"
        )
    out: dict[str, str] = {}
    for k, v in items:
        if is_missing(v):
            continue  # no name: an error only where that label occurs
        key, name = label_key(k), str(v).strip()
        if out.get(key, name) != name:
            raise InputError(f"{where}: class_names gives label {k!r} two names, {out[key]!r} and {name!r}")
        out[key] = name
    return out


def name_labels(labels, table: dict[str, str], names_given, where) -> list[str]:
    """The class name of every label value; a value without a name is an InputError naming *where* (the labels file)."""
    labels = list(labels)
    keys = {v: label_key(v) for v in dict.fromkeys(labels)}
    missing = [v for v, k in keys.items() if k not in table]
    if missing:
        shown = ", ".join(repr(str(v)) for v in missing[:10]) + (
            f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        )
        raise InputError(f"{where}: label value(s) {shown} have no name in class_names {short_repr(names_given)}")
    return [table[keys[v]] for v in labels]
