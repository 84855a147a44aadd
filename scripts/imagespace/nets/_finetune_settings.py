"""Fine-tuning's settings: their defaults (the schema block ``finetune.<variant>`` mirrors them) and their check."""

from __future__ import annotations

import numpy as np

from ._finetune_net import AUGMENTS, FinetuneError
from .backbone_table import BACKBONES

TARGETS = ("human", "class", "triplet")


# the settings and their defaults (the schema block finetune.<variant> mirrors them)
DEFAULTS = {
    "backbone": "efficientnet_lite0",
    "weights": "imagenet",  # imagenet | none (random, init_seed); or weights_path
    "weights_path": None,
    "init_seed": 0,  # the random initialisation of weights: none
    "size": None,  # the network's input side; None = its own (224)
    "target": "human",
    "unfreeze": 2,  # the last MBConv blocks trained (with the head conv and a new linear head); 0 = head only
    "epochs": 15,  # a number, or "auto" (inner hold-out of the training rows, up to max_epochs)
    "max_epochs": 30,
    "inner_fraction": 0.2,
    "learning_rate": 1e-3,  # the new head
    "backbone_learning_rate": None,  # the unfrozen blocks and head conv; None = learning_rate
    "weight_decay": 1e-2,  # AdamW, on conv and linear weights (not on biases, batch-norm scale and shift)
    "batch_size": 32,
    "dropout": 0.2,  # before the new head
    # zero: the new head starts at 0 (no random gradients into the pretrained blocks); random: PyTorch's
    "head_init": "zero",
    "drop_connect": None,  # stochastic depth of the unfrozen blocks; None = the network's own (0.2)
    "augment": "dihedral",  # dihedral (all 8), or a list of AUGMENTS names (identity always included)
    "tta": True,  # predictions averaged over the augmentations
    "seed": 0,
    "seeds": None,  # a list: one network per seed, predictions averaged; None = [seed]
    "cache_batch_size": 32,  # images per forward pass of the frozen part
    "log_every": 30.0,  # seconds between progress lines
    # read by the rule script only
    "from_files": False,  # decode the image files at the network's input size instead of resizing the ingested array
    "train_split": "train",  # target class/triplet: the split whose labels train it (human: alignment.train_split)
    "embedding_dims": 64,  # target triplet: dimensions of the embedding (the new head's output, L2-normalised)
    "margin": 0.2,  # target triplet: margin of the semi-hard triplet loss (Euclidean distances of unit vectors, 0 to 2)
    "out_of_fold": False,  # target human: also one network per outer fold, for out-of-fold training-row predictions
}


# --------------------------------------------------------------------------- settings
def settings(spec: dict | None) -> dict:
    """*spec* with the defaults filled in, checked; keys not in :data:`DEFAULTS` are an error.

    Parameters
    ----------
    spec : dict or None
        A ``finetune.<variant>`` block.

    Returns
    -------
    dict
        Every setting; ``augment`` as a list of :data:`AUGMENTS` names, ``seeds`` as a list.
    """
    s = dict(DEFAULTS)
    spec = dict(spec or {})
    unknown = sorted(set(spec) - set(DEFAULTS))
    if unknown:
        raise FinetuneError(f"finetune: unknown setting(s) {unknown} (known: {sorted(DEFAULTS)})")
    s.update(spec)
    name = s["backbone"]
    if name not in BACKBONES or BACKBONES[name].framework != "torch":
        raise FinetuneError(
            f"finetune.backbone: {name!r} is not a PyTorch backbone "
            f"(known: {[n for n, b in BACKBONES.items() if b.framework == 'torch']})"
        )
    if s["target"] not in TARGETS:
        raise FinetuneError(f"finetune.target: {s['target']!r} (one of {TARGETS})")
    if s["weights"] not in ("imagenet", "none"):
        raise FinetuneError(f"finetune.weights: {s['weights']!r} (imagenet or none)")
    if not isinstance(s["unfreeze"], (int, np.integer)) or not 0 <= int(s["unfreeze"]) <= 16:
        raise FinetuneError(f"finetune.unfreeze: {s['unfreeze']!r} (0 to the number of blocks, 16)")
    if s["epochs"] != "auto" and (not isinstance(s["epochs"], (int, np.integer)) or int(s["epochs"]) < 1):
        raise FinetuneError(f"finetune.epochs: {s['epochs']!r} (a positive number, or auto)")
    if int(s["max_epochs"]) < 1:
        raise FinetuneError(f"finetune.max_epochs: {s['max_epochs']!r} (a positive number)")
    if not 0 < float(s["inner_fraction"]) < 1:
        raise FinetuneError(f"finetune.inner_fraction: {s['inner_fraction']!r} (between 0 and 1)")
    for k in ("learning_rate", "batch_size", "cache_batch_size", "log_every"):
        if not float(s[k]) > 0:
            raise FinetuneError(f"finetune.{k}: {s[k]!r} (must be positive)")
    if s["backbone_learning_rate"] is not None and not float(s["backbone_learning_rate"]) >= 0:
        raise FinetuneError(f"finetune.backbone_learning_rate: {s['backbone_learning_rate']!r} (>= 0, or null)")
    if not float(s["weight_decay"]) >= 0:
        raise FinetuneError(f"finetune.weight_decay: {s['weight_decay']!r} (>= 0)")
    if not 0 <= float(s["dropout"]) < 1:
        raise FinetuneError(f"finetune.dropout: {s['dropout']!r} (0 <= dropout < 1)")
    if s["head_init"] not in ("zero", "random"):
        raise FinetuneError(f"finetune.head_init: {s['head_init']!r} (zero or random)")
    if s["out_of_fold"] and s["target"] != "human":
        raise FinetuneError("finetune.out_of_fold: only for target human (out-of-fold predictions of the human space)")
    if int(s["embedding_dims"]) < 2:
        raise FinetuneError(f"finetune.embedding_dims: {s['embedding_dims']!r} (at least 2)")
    if not float(s["margin"]) > 0:
        raise FinetuneError(f"finetune.margin: {s['margin']!r} (must be positive)")
    if s["drop_connect"] is not None and not 0 <= float(s["drop_connect"]) < 1:
        raise FinetuneError(f"finetune.drop_connect: {s['drop_connect']!r} (0 <= p < 1, or null)")
    s["augment"] = list(augmentations(s["augment"]))
    seeds = s["seeds"] if s["seeds"] is not None else [s["seed"]]
    if not isinstance(seeds, (list, tuple)) or not seeds or len(set(int(v) for v in seeds)) != len(seeds):
        raise FinetuneError(f"finetune.seeds: {s['seeds']!r} (a non-empty list of distinct integers, or null)")
    s["seeds"] = [int(v) for v in seeds]
    s["unfreeze"] = int(s["unfreeze"])
    return s


def augmentations(augment) -> tuple[str, ...]:
    """The augmentations a setting names.

    Parameters
    ----------
    augment : str, list of str or None
        ``dihedral`` (or ``all``), one name, a list of :data:`AUGMENTS` names, or none.

    Returns
    -------
    tuple of str
        Identity first, in :data:`AUGMENTS` order.
    """
    if augment in ("dihedral", "all"):
        return AUGMENTS
    if augment in (None, "none", False):
        augment = []
    if isinstance(augment, str):
        augment = [augment]
    bad = [a for a in augment if a not in AUGMENTS]
    if bad:
        raise FinetuneError(f"finetune.augment: {bad} (known: {', '.join(AUGMENTS)}; or dihedral for all 8)")
    return tuple(a for a in AUGMENTS if a == "identity" or a in augment)
