"""Source ``sklearn_digits``: scikit-learn's bundled 8x8 digits (no download; sklearn imported only when read)."""

from __future__ import annotations

import numpy as np

from ._records import Record, Skip, array_records


def read(src: dict, dataset: str) -> tuple[list[Record], list[Skip]]:
    """scikit-learn's bundled 8x8 digits (no download), scaled from 0..16 to 0..255; ``n_images``: the first n."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.rint(d.images * (255.0 / 16.0)).astype(np.uint8)
    n = src.get("n_images")
    if n:
        images, target = images[:n], d.target[:n]
    else:
        target = d.target
    return array_records(images, target.astype(str)), []
