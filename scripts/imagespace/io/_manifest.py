"""What ingest writes and every later rule reads: the manifest table, the image array, the joined human table."""

from __future__ import annotations

import numpy as np

#: the columns of ``manifest.tsv``, in order (the last two: the source id and the transform of a copy made by
#: ``balance``; empty otherwise)
MANIFEST_COLUMNS = [
    "index",
    "id",
    "split",
    "name",
    "label",
    "subtype",
    "path",
    "orig_width",
    "orig_height",
    "orig_mode",
    "augmented_from",
    "augmentation",
]
#: the columns of ``skipped.tsv``: every file or row that was not ingested, with the reason
SKIP_COLUMNS = ["split", "name", "path", "kind", "reason", "is_image_file"]


def load_manifest(path):
    """The manifest table written by ingest.

    Parameters
    ----------
    path
        ``manifest.tsv``.

    Returns
    -------
    pandas.DataFrame
        Its rows; ids, names, labels, subtypes and splits as text (empty cells as empty text).
    """
    import pandas as pd

    return pd.read_csv(
        path,
        sep="\t",
        dtype={"id": str, "name": str, "label": str, "subtype": str, "split": str},
        keep_default_na=False,
    )


def own_image_mask(manifest) -> np.ndarray:
    """Boolean mask of the manifest rows that are images of the collection, not augmented copies made by ``balance``.

    The copies are training material only: the CNN and the probes train on them; PCA, embeddings, clustering
    and the human comparison describe the collection's own images.

    Parameters
    ----------
    manifest
        The manifest table (:func:`load_manifest`).

    Returns
    -------
    numpy.ndarray
        One writable bool per row.
    """
    if "augmented_from" not in manifest.columns:
        return np.ones(len(manifest), dtype=bool)
    return np.array(manifest["augmented_from"].fillna("").astype(str) == "", dtype=bool)  # a writable copy


def own_rows(ids, manifest) -> np.ndarray:
    """Boolean mask over *ids* (rows of a feature set or map): True for the collection's own images.

    Parameters
    ----------
    ids
        Image ids.
    manifest
        The manifest table (:func:`load_manifest`).

    Returns
    -------
    numpy.ndarray
        One bool per id: False for ``balance``'s augmented copies (see :func:`own_image_mask`).
    """
    own_ids = set(manifest.loc[own_image_mask(manifest), "id"].astype(str))
    return np.array([str(i) in own_ids for i in ids], dtype=bool)


def load_images(path) -> np.ndarray:
    """The ingested array, memory-mapped read-only (no copy in RAM).

    Parameters
    ----------
    path
        ``images.npy``.

    Returns
    -------
    numpy.ndarray
        uint8 (N, H, W, C), in manifest order.
    """
    return np.load(path, mmap_mode="r")


def load_human_table(path) -> tuple[np.ndarray, np.ndarray]:
    """(ids, H) from a joined human-space table written by the human_space rule.

    Parameters
    ----------
    path
        The table (TSV with an ``id`` column and ``dim_*`` columns).

    Returns
    -------
    tuple
        The ids (text) and the coordinates (float64, one row per id).
    """
    import pandas as pd

    df = pd.read_csv(path, sep="\t", dtype={"id": str, "name": str}, keep_default_na=False)
    return df["id"].to_numpy(dtype=str), df[[c for c in df.columns if c.startswith("dim_")]].to_numpy(dtype=np.float64)
