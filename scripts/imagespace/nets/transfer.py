"""Transfer learning in the Keras CNN: a ``keras.applications`` backbone as one layer of an architecture.

A CNN variant's layer list may start with ``{type: backbone, backbone: <name>, unfreeze: N}``:

* the image (0..255, after the CNN's own augmentation) goes through :class:`BackboneInput`,
  the preprocessing that :func:`imagespace.nets.backbones_keras.preprocess` applies to the ``bb_<name>``
  feature set: grey repeated to RGB, a bilinear antialiased resize to the network's input size,
  and the network's own ``preprocess_input``, here inside the graph;
* then the network up to ``backbones.<name>.layer``, pooled (:func:`imagespace.nets.backbones_keras.feature_model`),
  with the weights ``backbones.<name>`` names (ImageNet from the Keras cache or ``weights_path``, or a
  seeded random initialisation), always run in inference mode (``training=False``: its batch
  normalisation keeps the pretrained statistics, as Keras' transfer-learning guide does);
* ``unfreeze``: how many of the network's last weight-carrying layers are trained (0: a frozen
  feature extractor under a trained head); its batch-normalisation layers stay frozen.

The layers after it (dense, dropout, the penultimate layer) are the head, trained from scratch.
Keras and TensorFlow are imported with this module: only the CNN jobs import it.
"""

from __future__ import annotations

import importlib
import logging

import keras
from keras import ops

from .backbone_table import BACKBONES, BackboneError

log = logging.getLogger(__name__)


@keras.saving.register_keras_serializable(package="imagespace")
class BackboneInput(keras.layers.Layer):
    """Images scaled by ``scale`` back to 0..255 -> the input of backbone ``backbone`` at ``size``:
    RGB, resized (bilinear, antialiased), clipped to 0..255, the network's ``preprocess_input``."""

    def __init__(self, backbone: str, size, scale: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if backbone not in BACKBONES or BACKBONES[backbone].framework != "keras":
            raise BackboneError(f"backbone {backbone!r} is not a keras.applications backbone")
        self.backbone, self.size, self.scale = backbone, tuple(int(s) for s in size), float(scale)
        self._pre = importlib.import_module(f"keras.applications.{BACKBONES[backbone].module}").preprocess_input

    def call(self, x):
        x = ops.cast(x, "float32") * self.scale
        if x.shape[-1] == 1:
            x = ops.repeat(x, 3, axis=-1)
        if tuple(x.shape[1:3]) != self.size:
            x = ops.image.resize(x, self.size, interpolation="bilinear", antialias=True)
        return self._pre(ops.clip(x, 0.0, 255.0))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.size, 3)

    def get_config(self):
        return {**super().get_config(), "backbone": self.backbone, "size": list(self.size), "scale": self.scale}


def weighted_layers(model) -> list:
    """The layers of *model* that carry weights, in order, batch normalisation left out (it stays frozen).

    Parameters
    ----------
    model : keras.Model
        A backbone.

    Returns
    -------
    list
        Its layers.
    """
    return [layer for layer in model.layers if layer.weights and not isinstance(layer, keras.layers.BatchNormalization)]


def freeze(fmodel, unfreeze: int) -> list[str]:
    """Everything of *fmodel* frozen but its last *unfreeze* weight-carrying layers.

    Parameters
    ----------
    fmodel : keras.Model
        A backbone (its layers' ``trainable`` is set in place).
    unfreeze : int
        How many of its last weight-carrying layers are trained.

    Returns
    -------
    list of str
        The names of the trained layers.
    """
    fmodel.trainable = True
    train = weighted_layers(fmodel)[-int(unfreeze) :] if int(unfreeze) > 0 else []
    names = {id(layer) for layer in train}
    for layer in fmodel.layers:
        layer.trainable = id(layer) in names
    return [layer.name for layer in train]


def backbone_block(x, layer: dict, backbones: dict, *, scale: float):
    """The backbone layer *layer* of an architecture applied to the tensor *x*; what was built is logged.

    Parameters
    ----------
    x : tensor
        Images times 1 / *scale*.
    layer : dict
        The layer: backbone, unfreeze.
    backbones : dict
        name -> (the ``backbones.<name>`` settings, the Keras cache file of its ImageNet weights or None), as
        the train_cnn rule passes them.
    scale : float
        What brings *x* back to 0..255.

    Returns
    -------
    tensor
        The backbone's pooled output.
    """
    from . import backbones_keras as bb

    name = layer["backbone"]
    if name not in backbones:
        raise BackboneError(f"CNN layer backbone {name!r}: its settings (backbones.{name}) were not passed")
    spec, cached = backbones[name]
    size = bb.input_size(name, spec)
    model, weights = bb.build(name, spec, cached)
    fmodel, out_layer, _ = bb.feature_model(name, spec, model)
    trained = freeze(fmodel, int(layer.get("unfreeze", 0)))
    x = BackboneInput(name, size, scale=scale, name=f"{name}_input")(x)
    x = fmodel(x, training=False)
    n_weighted = len(weighted_layers(fmodel))
    desc = f"{name} ({weights}) up to {out_layer}, input {size[0]}x{size[1]}; " + (
        f"last {len(trained)} of {n_weighted} weight layers trained" if trained else "frozen"
    )
    log.info("CNN backbone layer: %s", desc)
    return x
