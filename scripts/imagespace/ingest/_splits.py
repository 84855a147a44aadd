"""The held-out splits: drawn stratified by label and seeded, from a dataset without splits or from its train split."""

from __future__ import annotations

import logging

import numpy as np

from imagespace.io import InputError
from imagespace.sampling import stratified_holdout

from ._records import Record

log = logging.getLogger("imagespace.datasets")


def assign_split(records: list[Record], fraction: float, seed: int, *, test_fraction: float = 0.0) -> None:
    """Stratified (by label) random split into 'train', 'validation' and 'test', reproducible by seed.

    The test rows are drawn first (*test_fraction* of every class), then *fraction*
    of every class's images as validation, so adding a test split to a config
    never moves an image between validation and train unless it is taken for test.
    Without a test fraction the split is the same as before test splits existed.

    Parameters
    ----------
    records
        The records; their ``split`` is set.
    fraction
        The validation share of every class.
    seed
        The seed (the test rows are drawn with seed + 1).
    test_fraction
        The test share of every class.
    """
    labels = [r.label for r in records]
    test = stratified_holdout(labels, test_fraction, seed + 1) if test_fraction else np.zeros(len(records), bool)
    rest = np.flatnonzero(~test)
    val = np.zeros(len(records), bool)
    if fraction:
        # validation as a share of all images of the class, taken from those not in test
        share = fraction / (1.0 - test_fraction) if test_fraction else fraction
        val[rest[stratified_holdout([labels[i] for i in rest], share, seed)]] = True
    for r, v, t in zip(records, val, test):
        r.split = "test" if t else ("validation" if v else "train")


def carve_from_train(dataset: str, records: list[Record], *, vfrac: float, tfrac: float, seed: int) -> None:
    """A source with splits of its own (folders, split files, a split column): the held-out splits it
    lacks are drawn from its ``train`` split (stratified, seeded), as shares of the training images;
    a fraction whose split the source already has is ignored, with a warning.

    Parameters
    ----------
    dataset
        The dataset's name (in messages).
    records
        Its records; those of ``train`` get their new split.
    vfrac, tfrac
        The validation and test fractions.
    seed
        ``split_seed``.
    """
    present = {r.split for r in records}
    for name, frac in (("validation_fraction", vfrac), ("test_fraction", tfrac)):
        split = name.split("_")[0]
        if frac and split in present:
            log.warning("dataset %s: %s = %g ignored: the source has a %r split of its own", dataset, name, frac, split)
        elif frac and "train" not in present:
            raise InputError(
                f"dataset {dataset!r}: {name} = {frac:g} needs a 'train' split to draw from, "
                f"but the source's splits are {sorted(present)}"
            )
    vfrac = 0.0 if "validation" in present else vfrac
    tfrac = 0.0 if "test" in present else tfrac
    if not (vfrac or tfrac):
        return
    train = [r for r in records if r.split == "train"]
    assign_split(train, vfrac, seed, test_fraction=tfrac)
    log.info(
        "dataset %s: %d validation and %d test images drawn from the source's train split",
        dataset,
        sum(r.split == "validation" for r in train),
        sum(r.split == "test" for r in train),
    )
