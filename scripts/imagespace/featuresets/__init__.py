"""The feature-set registry: what every feature set of every dataset is, and which stage uses it.

A feature set is a table of image rows (``results/<dataset>/features/<name>.npz``).
The registry is built once from the validated configuration and answers every
question the rule files ask: which sets exist, what kind each is, which rule makes
it, which splits it has rows for, and which sets the comparisons, clusterings,
maps into the human space and probes use. Names are never parsed elsewhere.

Kinds:

* ``pixels``: the PCA scores of the pixel arrays (``pca``);
* ``descriptor``: hand-made image statistics (``stats``);
* ``embedding``: a manifold method of :data:`imagespace.embed.METHODS`;
* ``cnn``: the penultimate layer of a trained network (a CNN variant), or a fine-tuned pretrained network
  (``ft``, ``ft_<name>``, :mod:`imagespace.nets.finetune`): with target human its predicted coordinates;
* ``backbone``: a layer of a pretrained network (``bb_<name>``, :mod:`imagespace.nets.backbone_table`:
``keras.applications``
  in :mod:`imagespace.nets.backbones_keras`, PyTorch in :mod:`imagespace.nets.backbones_torch`);
* ``prediction``: a supervised map of another set into the human space (``human_pred_<base>``);
* ``ensemble``: the average of predictions of the human space (``ensemble_<name>``): equal weights
  (``alignment.ensembles.<name>: [members]``), or weights chosen by greedy forward selection on the
  out-of-fold predictions of the training split (``{candidates: [...], select: greedy}``,
  :mod:`imagespace.human.ensemble`).

Keywords in the ``feature_sets`` lists of compare, clustering, probes and
alignment.map_feature_sets: ``all`` (every set the stage can use), ``cnn``
(every CNN variant and fine-tuned network) and ``bb`` (every backbone and its variants);
``stats`` names the descriptors and their variants.
"""

from ._base import (
    AUTO_BACKBONES,
    ENS,
    KEYWORD_KINDS,
    KEYWORDS,
    KINDS,
    PRED,
    TORCH_HOW,
    TORCH_MODULES,
    FeatureSet,
    RegistryError,
    ensemble_settings,
    torch_available,
)
from ._registry import Registry

__all__ = [
    "Registry",
    "RegistryError",
    "FeatureSet",
    "ensemble_settings",
    "torch_available",
    "KINDS",
    "KEYWORDS",
    "KEYWORD_KINDS",
    "PRED",
    "ENS",
    "AUTO_BACKBONES",
    "TORCH_MODULES",
    "TORCH_HOW",
]
