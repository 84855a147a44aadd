"""One pixel scale for a whole dataset of in-memory images (NumPy archives, pixel CSVs): never per image."""

from __future__ import annotations

import logging

import numpy as np

from imagespace.io import InputError

log = logging.getLogger("imagespace.datasets")


def to_uint8(values: np.ndarray, where) -> np.ndarray:
    """Bring a whole stack of images to uint8 with ONE scale for the dataset (never per image).

    uint8 passes through; bool -> 0/255; values within [0, 1] are scaled by 255 (as
    :func:`imagespace.images.from_array` does); values within [0, 255] are rounded;
    non-negative whole numbers up to 65535 are 16-bit (divided by 257); anything else
    is scaled linearly from the dataset's range. Callers skip rows with NaN first.

    Parameters
    ----------
    values
        The stack of images (any numeric or bool dtype).
    where
        Named in messages (the file and array).

    Returns
    -------
    numpy.ndarray
        The stack as uint8.
    """
    return stacks_to_uint8([values], where)[0]


def _as_float(a: np.ndarray) -> np.ndarray:
    return np.nan_to_num(a.astype(np.float64), copy=False)


def stacks_to_uint8(arrays: list, where) -> list[np.ndarray]:
    """:func:`to_uint8` for several stacks of one dataset (e.g. its train and test files) with ONE
    scale decided from all of them together: a test file in 0..255 next to a train file whose
    values happen to stay within 0..1 is not stretched differently.

    Parameters
    ----------
    arrays
        The stacks.
    where
        Named in messages (the files).

    Returns
    -------
    list[numpy.ndarray]
        One uint8 array per stack.
    """
    arrays = [np.asarray(a) for a in arrays]
    if all(a.dtype == np.uint8 for a in arrays):
        return arrays
    if all(a.dtype == bool for a in arrays):
        return [a.astype(np.uint8) * 255 for a in arrays]
    for a in arrays:
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
            raise InputError(f"{where}: image array has non-numeric dtype {a.dtype}")
    lo, hi, whole = np.inf, -np.inf, True
    for a in arrays:  # one pass for the range, a second for the conversion: one float copy at a time
        if not a.size:
            continue
        f = _as_float(a)
        lo, hi = min(lo, float(f.min())), max(hi, float(f.max()))
        whole = whole and (np.issubdtype(a.dtype, np.integer) or a.dtype == bool or np.array_equal(f, np.rint(f)))
    if lo > hi:  # nothing but empty stacks
        lo = hi = 0.0
    if lo >= 0 and hi <= 1.0:

        def scale(f):
            return f * 255.0
    elif lo >= 0 and hi <= 255:

        def scale(f):
            return f
    elif lo >= 0 and hi <= 65535 and whole:

        def scale(f):
            return f / 257.0
    else:
        log.warning("%s: pixel values span [%g, %g]; scaled linearly to 0..255", where, lo, hi)

        def scale(f):
            return (f - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(f)

    return [np.clip(np.rint(scale(_as_float(a))), 0, 255).astype(np.uint8) for a in arrays]
