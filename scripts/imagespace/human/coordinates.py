"""Human similarity spaces: read a coordinate matrix and join its rows to images by an explicit key.

Join keys (``datasets.<name>.human.<split>``):

* ``order: sorted_filenames`` – row i belongs to the i-th image file of the split
  in sorted (code point) file-name order. Files that could not be ingested still
  occupy their row, so one corrupt image never shifts the others.
* ``id_column: <col>`` – a CSV/TSV column whose values are the image file names
  (the manifest's ``name``) of that split.

Row-count mismatches, duplicate keys and ids that match no image are hard errors
naming the file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: pandas loads in the functions that use it
    import pandas as pd

import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from imagespace.io import InputError

from ._resampling import _chunks, _p_value, _permutations, _z
from .procrustes import as_finite_matrix

log = logging.getLogger("imagespace.human.coordinates")


def read_matrix(path, spec: dict) -> pd.DataFrame:
    """Read a whitespace- or comma/tab-separated matrix; header only when an id column is used."""
    import pandas as pd

    from imagespace.config import with_defaults

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: human space file does not exist")
    spec = with_defaults(spec, "human_spec")
    fmt = spec["format"]
    text = path.read_text(encoding="utf-8", errors="replace")
    comment = spec["comment"]
    # sniff the first data line: comment lines (skipped by the parser too) say nothing about the separator
    first = next(
        (ln for ln in text.splitlines() if ln.strip() and not (comment and ln.lstrip().startswith(comment))), ""
    )
    if fmt == "auto":
        fmt = "csv" if "," in first else ("tsv" if "\t" in first else "whitespace")
    sep = {"csv": ",", "tsv": "\t", "whitespace": r"\s+"}[fmt]
    header = 0 if spec.get("id_column") else None
    try:
        # ids stay text: file names or zero-padded row names like "000007" must not become numbers
        dtype = {spec["id_column"]: str} if spec.get("id_column") else None
        df = pd.read_csv(path, sep=sep, header=header, engine="python", comment=comment, dtype=dtype)
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"{path}: cannot parse human space ({fmt}): {exc}") from exc
    id_col = spec.get("id_column")
    if id_col is not None and id_col not in df.columns:
        raise InputError(f"{path}: id column {id_col!r} not found; columns are {list(df.columns)}")
    values = df.drop(columns=[id_col]) if id_col else df
    num = values.apply(pd.to_numeric, errors="coerce")
    bad = np.argwhere(num.isna().to_numpy())
    if len(bad):
        r, c = bad[0]
        raise InputError(
            f"{path}: non-numeric or missing value at data row {r + 1}, column {c + 1} ({values.iat[r, c]!r})"
        )
    if num.shape[1] == 0 or len(num) == 0:
        raise InputError(f"{path}: human space is empty")
    if id_col:
        num.insert(0, id_col, df[id_col].astype(str))
    return num


def own_images(manifest: pd.DataFrame) -> pd.DataFrame:
    """The rows of *manifest* that are images of the collection, not augmented copies made by ``balance``
    (those have no human data)."""
    from imagespace.io import own_image_mask as own

    return manifest[own(manifest)]


def join(spec: dict, split: str, manifest: pd.DataFrame, skipped: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Return (table with columns id, name, dim_1..dim_k for ingested images of *split*, notes).

    Rows belonging to images that were skipped at ingest are dropped (and noted).
    """
    import pandas as pd

    path = Path(spec["path"])
    df = read_matrix(path, spec)
    kept = own_images(manifest[manifest["split"] == split])
    notes: list[str] = []
    if spec.get("id_column"):
        id_col = spec["id_column"]
        keys = df[id_col].astype(str)
        dups = keys[keys.duplicated()].unique().tolist()
        if dups:
            raise InputError(f"{path}: duplicate ids in column {id_col!r}: {dups[:5]}")
        values = df.drop(columns=[id_col]).to_numpy(dtype=np.float64)
        known = set(kept["name"]) | set(skipped.loc[skipped["split"] == split, "name"])
        unmatched = [k for k in keys if k not in known]
        if unmatched:
            raise InputError(f"{path}: {len(unmatched)} ids match no image of split {split!r} (e.g. {unmatched[:3]})")
        missing = sorted(set(kept["name"]) - set(keys))
        if missing:
            raise InputError(f"{path}: {len(missing)} images of split {split!r} have no row (e.g. {missing[:3]})")
        names = keys.tolist()
    elif spec.get("order") == "sorted_filenames":
        sk = skipped[(skipped["split"] == split) & skipped["is_image_file"].astype(str).str.lower().eq("true")]
        names = sorted(set(kept["name"]) | set(sk["name"]))
        values = df.to_numpy(dtype=np.float64)
        if len(values) != len(names):
            raise InputError(
                f"{path}: {len(values)} rows but split {split!r} has {len(names)} image files "
                f"(join by sorted file names needs exactly one row per image file)"
            )
    else:
        raise InputError(f"{path}: human space of split {split!r} needs 'order: sorted_filenames' or 'id_column'")
    table = pd.DataFrame(values, columns=[f"dim_{i + 1}" for i in range(values.shape[1])])
    table.insert(0, "name", names)
    by_name = dict(zip(kept["name"], kept["id"]))
    dropped = [n for n in names if n not in by_name]
    if dropped:
        notes.append(f"{len(dropped)} rows dropped because their images were skipped at ingest: {dropped[:5]}")
        log.warning("%s: %s", path, notes[-1])
    table = table[table["name"].isin(by_name)].copy()
    table.insert(0, "id", table["name"].map(by_name))
    return table.reset_index(drop=True), notes


def builtin_synthetic(ds_cfg: dict, split: str, manifest: pd.DataFrame, dims: int) -> pd.DataFrame:
    """The synthetic dataset's reference space, derived from its generating latent factors."""
    import pandas as pd

    from imagespace.ingest import synthetic, synthetic_kwargs

    kw = synthetic_kwargs(ds_cfg["source"])
    g = synthetic.generate(**kw)
    H = synthetic.human_space(g["latent"], g["labels"], k=dims, seed=int(kw.get("seed") or 0))
    by_name = {str(n): i for i, n in enumerate(g["names"])}
    kept = own_images(manifest[manifest["split"] == split])
    rows = [by_name[n] for n in kept["name"]]
    table = pd.DataFrame(H[rows], columns=[f"dim_{i + 1}" for i in range(dims)])
    table.insert(0, "name", kept["name"].to_numpy())
    table.insert(0, "id", kept["id"].to_numpy())
    return table


# --------------------------------------------------------------------------- does the space belong to these images?
def _structure_verdict(significant: bool, observed: float, mean: float, sd: float, p: float, c: int) -> str:
    """The sentence of :func:`label_structure` (logged: info when the rows cluster by label, else a warning)."""
    if significant:
        verdict = (
            f"Rows cluster by label: within/between distance ratio {observed:.3f} vs shuffled "
            f"{mean:.3f} ± {sd:.3f} (p={p:.3g}, {c} labels)."
        )
        log.info(verdict)
    else:
        verdict = (
            f"WARNING: within/between distance ratio {observed:.3f} is within the shuffled-label "
            f"baseline {mean:.3f} ± {sd:.3f} (p={p:.2g}, {c} labels): the rows do not cluster by "
            f"label — check that they are joined to the right images."
        )
        log.warning(verdict)
    return verdict


def label_structure(H, labels: Sequence, n_perm: int = 1000, seed=0, alpha: float = 0.05) -> dict:
    """Check that the rows of ``H`` cluster by *labels* (does ``H`` belong to these images?).

    Statistic: ``ratio`` = mean Euclidean distance between rows with the same
    label / mean distance between rows with different labels (over unordered
    pairs). Clustered data give ratio < 1. The labels are shuffled ``n_perm``
    times (``default_rng(seed)``) and
    ``permutation_p = (1 + #{null ratio <= observed}) / (1 + n_perm)``.
    Labels may be any hashable values (strings are typical: class labels or
    subtypes). Needs O(n^2) memory for the distance matrix.

    Returns ``n``, ``n_labels``, ``within_mean``, ``between_mean``, ``ratio``,
    ``permutation_mean``, ``permutation_sd``, ``permutation_p``, ``z``,
    ``significant``, ``verdict`` and ``null``.
    """
    from scipy.spatial.distance import pdist, squareform

    H = as_finite_matrix(H, "human space H")
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != H.shape[0]:
        raise ValueError(f"labels has shape {labels.shape} but H has {H.shape[0]} rows")
    uniq, codes = np.unique(labels.astype(str), return_inverse=True)
    n, c = H.shape[0], uniq.size
    counts = np.bincount(codes, minlength=c)
    n_within = float(np.sum(counts * (counts - 1)))  # ordered pairs
    n_between = float(n * (n - 1)) - n_within
    if c < 2 or n_within == 0:
        raise ValueError(
            f"label_structure needs >= 2 labels and a label with >= 2 rows (got {c} labels, sizes {counts.tolist()})"
        )
    D = squareform(pdist(H))
    total = float(D.sum())
    eye = np.eye(c)

    def within_sums(code_rows: np.ndarray) -> np.ndarray:
        """Sum of D over ordered same-label pairs, for each labelling in *code_rows*."""
        out = np.empty(code_rows.shape[0])
        for sl in _chunks(code_rows.shape[0], n * c * 2):
            L = eye[code_rows[sl].T].reshape(n, -1)  # (n, p*c): one-hot labellings side by side
            out[sl] = (L * (D @ L)).reshape(n, -1, c).sum(axis=(0, 2))  # one GEMM per chunk
        return out

    def ratio(within: np.ndarray) -> np.ndarray:
        return (within / n_within) / ((total - within) / n_between)

    within_obs = float(within_sums(codes[None, :])[0])
    observed = float(ratio(within_obs))
    perms = _permutations(n, int(n_perm), seed)
    null = ratio(within_sums(codes[perms]))
    mean, sd, z = _z(observed, null)
    p = _p_value(null, observed)
    within_mean = within_obs / n_within
    between_mean = (total - within_obs) / n_between
    significant = bool(p < alpha)
    verdict = _structure_verdict(significant, observed, mean, sd, p, c)
    return {
        "n": int(n),
        "n_labels": int(c),
        "within_mean": float(within_mean),
        "between_mean": float(between_mean),
        "ratio": observed,
        "permutation_mean": mean,
        "permutation_sd": sd,
        "permutation_p": p,
        "z": z,
        "n_perm": int(n_perm),
        "seed": seed,
        "alpha": float(alpha),
        "significant": significant,
        "verdict": verdict,
        "null": null,
    }
