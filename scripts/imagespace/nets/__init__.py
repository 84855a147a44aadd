"""Neural networks: the Keras CNN (architecture, training, evaluation, features), pretrained backbones (Keras and
PyTorch), fine-tuning, metric learning and Keras transfer learning.

Plain library code (no Snakemake). Importing this package imports no deep-learning framework: every name is
loaded from its module on first use (``from imagespace import nets; nets.build_model(...)`` imports Keras
then). The modules:

* ``cnn_layers``: the CNN's layer presets, the check of a layer list, :func:`build_model`, :func:`load_model`;
* ``cnn_train``: seeded resumable training (:func:`train`) with per-epoch checkpoints;
* ``cnn_schedule``: learning-rate schedules, early stopping, the choice of the checkpoint (:func:`choose_epoch`);
* ``cnn_data``: the rows and targets a CNN trains and validates on (:func:`training_targets`);
* ``cnn_features``: batch-norm recalibration, penultimate features, the human head's predictions, curves;
* ``cnn_eval``: a trained CNN as a classifier on every held-out split (:func:`evaluate`);
* ``metric``: metric learning (triplet and contrastive losses, class-balanced batches, an L2-normalised
  embedding head, classifiers on the embedding); imports Keras;
* ``transfer``: a ``keras.applications`` backbone as the first layer of a CNN; imports Keras;
* ``backbone_table``: the table of pretrained backbones (:data:`BACKBONES`), framework-free (read at DAG time);
* ``backbones_keras``: ``keras.applications`` backbones as feature sets ``bb_<name>`` (``fetch_weights``,
  ``build``, ``extract``);
* ``backbones_torch``: PyTorch backbones as feature sets (EfficientNet-Lite0: ``build``, ``extract``);
* ``finetune``: fine-tuning a PyTorch backbone to the human space, the classes or an embedding
  (``finetune``, ``predict``, ``save``, ``load``, ``settings``); its private parts ``_finetune_net`` (the
  network split into a frozen cache and a trained part) and ``_finetune_fit`` (losses, one seed's training).

The backbone and fine-tuning modules share names (``build``, ``extract``, ``predict``, ...): use them through
their module (``nets.backbones_torch.extract``); the names re-exported here are unique.
"""

from __future__ import annotations

from imagespace._lazy import attach

# module -> its names re-exported here
_EXPORTS = {
    "cnn_layers": (
        "PENULTIMATE",
        "TARGETS",
        "NOTEBOOK_LAYERS",
        "DEFAULT_LAYERS",
        "FASHION_LAYERS",
        "VGG_LAYERS",
        "PRESETS",
        "LAYER_KEYS",
        "LAYER_REQUIRED",
        "spatial_problem",
        "check_architecture",
        "backbone_layers",
        "build_model",
        "load_model",
        "count_parameters",
        "model_summary",
    ),
    "cnn_train": (
        "configure_tensorflow",
        "fingerprint",
        "balanced_class_weights",
        "train",
        "validation_scores",
        "reseed",
    ),
    "cnn_schedule": ("learning_rate_for", "resolve_monitor", "stop_early", "choose_epoch"),
    "cnn_data": ("split_rows", "training_targets"),
    "cnn_features": (
        "recalibrate_batchnorm",
        "inference_batch",
        "penultimate_model",
        "features",
        "human_predictions",
        "dead_units",
        "plot_curves",
    ),
    "cnn_eval": ("MODE_GAP", "batch_statistics_mode", "softmax_outputs", "embeddings", "evaluate"),
    "metric": (
        "pairwise_distances",
        "semihard_triplet_loss",
        "contrastive_loss",
        "TripletSemiHardLoss",
        "ContrastiveLoss",
        "LOSSES",
        "make_loss",
        "class_balanced_batches",
        "L2Normalize",
        "add_embedding_head",
        "nearest_centroid_fit",
        "nearest_centroid_predict",
        "nearest_centroid_with_confidence",
        "nearest_centroid_accuracy",
        "mlp_classifier",
    ),
    "transfer": ("BackboneInput", "weighted_layers", "freeze", "backbone_block"),
    "backbone_table": (
        "Backbone",
        "BACKBONES",
        "BackboneError",
        "FileImages",
        "backbone_images",
        "check_features",
        "input_size",
    ),
    "finetune": ("finetune_out_of_fold", "FinetuneError", "FrozenFeatures", "frozen_features"),
}
_MODULES = (
    "cnn_layers",
    "cnn_train",
    "cnn_schedule",
    "cnn_data",
    "cnn_features",
    "cnn_eval",
    "metric",
    "transfer",
    "backbone_table",
    "backbones_keras",
    "backbones_torch",
    "finetune",
)
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [*_MODULES, *_WHERE]


# every module and re-exported name, loaded on first use (the same mechanism as the other packages)
__getattr__, __dir__ = attach(__name__, {**dict.fromkeys(_MODULES, ""), **_WHERE}, globals())
