"""Class balancing of the training images: augmented copies for small classes, a seeded sample of large ones.

The plan is computed from the manifest's labels and splits alone (no pixels), so it
can be tested and reported before any image is written. Only the training rows
(split ``train``, or ``all`` for a dataset without splits) take part: validation
and test rows are left exactly as they are, and a copy is never made of, or put
into, a held-out split.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger("imagespace.ingest.balance")

# name -> function of an (H, W, C) array; rot* are counter-clockwise quarter turns
TRANSFORMS = {
    "hflip": lambda a: a[:, ::-1],
    "vflip": lambda a: a[::-1],
    "rot90": lambda a: np.rot90(a, 1, axes=(0, 1)),
    "rot180": lambda a: np.rot90(a, 2, axes=(0, 1)),
    "rot270": lambda a: np.rot90(a, 3, axes=(0, 1)),
}
QUARTER_TURNS = ("rot90", "rot270")


def apply(image: np.ndarray, transform: str) -> np.ndarray:
    """*image* transformed by *transform* (a name of :data:`TRANSFORMS`), as a contiguous array."""
    return np.ascontiguousarray(TRANSFORMS[transform](image))


def training_split(splits) -> str | None:
    """The split that is balanced: ``train`` if there is one, ``all`` for a dataset without splits."""
    present = set(splits)
    return "train" if "train" in present else ("all" if "all" in present else None)


def resolve_target(spec, counts: dict) -> int:
    """Images per class for *spec* (a count, or median / max / mean of the class sizes *counts*)."""
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        return int(spec)
    sizes = np.array(list(counts.values()), dtype=float)
    value = {"median": np.median, "max": np.max, "mean": np.mean}[spec](sizes)
    return max(1, int(round(float(value))))


@dataclass
class Plan:
    """Which training rows stay, which are dropped, and which copies are added."""

    split: str
    target: int
    keep: np.ndarray  # row positions kept, ascending
    copies: list[tuple[int, str]] = field(default_factory=list)  # (source row position, transform)
    per_class: dict = field(default_factory=dict)  # class -> {before, dropped, added, after}
    short: dict = field(default_factory=dict)  # class -> copies still missing (too few sources x transforms)

    def info(self) -> dict:
        return {
            "split": self.split,
            "target": self.target,
            "dropped": int(sum(v["dropped"] for v in self.per_class.values())),
            "added": len(self.copies),
            "per_class": self.per_class,
            "short_of_target": self.short,
        }


def plan(labels, splits, target, *, augment, drop: bool, seed: int, square: bool) -> Plan:
    """The balancing plan for rows with *labels* and *splits* (equal-length sequences).

    * Classes of the training split with more than the target keep a seeded sample of
      ``target`` rows when *drop* is true.
    * Classes with fewer get ``target - n`` copies, made from the class's training rows
      with the transforms of *augment* (``rot90``/``rot270`` only when *square*): in seeded
      rounds, each source image gets one more transform it has not had per round, so the
      copies spread over the sources; a class whose sources x transforms run out stays
      short of the target and is listed in ``Plan.short``.

    Parameters
    ----------
    labels, splits
        The label and split of every row.
    target
        Images per class: a count, or ``median``, ``max`` or ``mean`` of the training class sizes.
    augment
        The transforms copies may use (names of :data:`TRANSFORMS`).
    drop
        Whether classes over the target keep a sample of *target* rows.
    seed
        The seed of the samples and of the copies' order.
    square
        Whether the images are square (quarter turns keep their shape).

    Returns
    -------
    Plan
        The rows kept and the copies added.
    """
    labels = np.asarray(labels, dtype=object)
    splits = np.asarray(splits, dtype=object)
    split = training_split(splits)
    if split is None:
        raise ValueError(
            f"balance needs a 'train' split (or a dataset without splits); splits are {sorted(set(splits))}"
        )
    transforms = [t for t in augment if square or t not in QUARTER_TURNS]
    rng = np.random.default_rng(seed)
    train = np.flatnonzero(splits == split)
    classes = sorted(set(labels[train]), key=str)
    counts = {c: int((labels[train] == c).sum()) for c in classes}
    tgt = resolve_target(target, counts)
    keep = np.ones(len(labels), dtype=bool)
    out = Plan(split, tgt, np.array([], dtype=np.int64))
    for c in classes:
        rows = train[labels[train] == c]
        n = len(rows)
        dropped, added = 0, 0
        if n > tgt and drop:
            gone = rng.choice(rows, size=n - tgt, replace=False)
            keep[gone] = False
            dropped = n - tgt
        elif n < tgt and transforms:
            # round by round: every source image gets one more (not yet used) transform per round,
            # so copies spread over the sources before any image is copied twice
            orders = {int(r): list(rng.permutation(transforms)) for r in rows}
            sources = [int(r) for r in rng.permutation(rows)]
            pairs = [(r, orders[r][k]) for k in range(len(transforms)) for r in sources]
            chosen = pairs[: tgt - n]
            out.copies += chosen
            added = len(chosen)
            if n + added < tgt:
                out.short[str(c)] = tgt - n - added
        out.per_class[str(c)] = {"before": n, "dropped": dropped, "added": added, "after": n - dropped + added}
    out.keep = np.flatnonzero(keep)
    if out.short:
        log.warning(
            "balance: %d classes stay short of %d training images (each image x %d transforms is not enough): %s",
            len(out.short),
            tgt,
            len(transforms),
            out.short,
        )
    return out
