"""Built-in synthetic image set with known latent factors and a reference "human" space.

The set lets the whole pipeline, including the comparison with a human
similarity space, run on real pixels with a known answer and without any
download:

* :func:`generate` draws coloured shapes (``circle``, ``square``,
  ``triangle``) on a smooth, noisy grey background. Each image is produced
  from continuous latent factors (object size, hue, brightness, x/y position)
  that are returned alongside the pixels.
* :func:`human_space` turns those factors into a k-dimensional "human"
  similarity space with a fixed, documented function: shape category weighs
  most, then hue, then size, then brightness; position is ignored.
  Representations that capture shape and colour therefore have a low
  Procrustes disparity against it, and shuffled rows do not.
* :func:`write_folder` writes the images as PNGs into class subfolders.
* :func:`read` is the dataset source ``synthetic`` (its settings: :func:`source_kwargs`).

Everything is deterministic for a given seed.
"""

from __future__ import annotations

import colorsys
import logging
import os
from pathlib import Path

import numpy as np

from imagespace.io import atomic_path

from ._records import Record, Skip, array_records

log = logging.getLogger("imagespace.ingest.synthetic")

#: Shape classes, in output order.
CLASSES = ("circle", "square", "triangle")
#: Names of the columns of ``generate()["latent"]``.
LATENT_NAMES = ("size", "hue_cos", "hue_sin", "brightness", "x", "y")
#: Colour bins (name, centre hue in degrees); each bin spans ±30°.
COLOUR_BINS = (("red", 0), ("yellow", 60), ("green", 120), ("cyan", 180), ("blue", 240), ("magenta", 300))

#: Range of the ``size`` factor: half the object's bounding-box side, as a fraction of the image side.
SIZE_RANGE = (0.14, 0.30)
#: Range of the ``brightness`` factor: HSV value of the object's colour.
BRIGHTNESS_RANGE = (0.45, 1.0)
#: Saturation of every object colour.
SATURATION = 0.85
#: Supersampling factor used when drawing (anti-aliasing).
_SUPERSAMPLE = 4

# Attribute weights of the human space (see human_space()).
W_SHAPE, W_COLOUR, W_SIZE, W_BRIGHTNESS = 1.0, 0.7, 0.4, 0.3


def colour_name(hue_deg) -> np.ndarray:
    """Binned colour name(s) for hue angle(s) in degrees (see :data:`COLOUR_BINS`)."""
    hue = np.mod(np.asarray(hue_deg, dtype=float), 360.0)
    idx = np.floor((hue + 30.0) / 60.0).astype(int) % len(COLOUR_BINS)
    return np.array([COLOUR_BINS[i][0] for i in np.atleast_1d(idx)])


def _background(rng: np.random.Generator, size: int, noise: float) -> np.ndarray:
    """Smooth random grey texture (size x size x 3, floats in [0, 1])."""
    from PIL import Image

    coarse = rng.normal(size=(4, 4)).astype(np.float32)
    field = np.asarray(Image.fromarray(coarse).resize((size, size), Image.BICUBIC), dtype=float)
    field /= max(1e-6, float(np.abs(field).max()))
    level = rng.uniform(0.22, 0.38)
    tint = rng.normal(0.0, 0.02, size=3)
    bg = level + 0.08 * field[:, :, None] + tint[None, None, :]
    return np.clip(bg, 0.0, 1.0)


def _clutter(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth random colour field of high contrast (size x size x 3, floats in [0, 1]): 2-5 x 2-5 random RGB
    values, bicubically interpolated. Every image gets its own, so the background's pixels outweigh the object's."""
    from PIL import Image

    coarse = rng.uniform(0.0, 1.0, size=(int(rng.integers(2, 6)), int(rng.integers(2, 6)), 3)).astype(np.float32)
    field = np.stack(
        [
            np.asarray(Image.fromarray(coarse[:, :, c]).resize((size, size), Image.BICUBIC), dtype=float)
            for c in range(3)
        ],
        axis=-1,
    )
    return np.clip(field, 0.0, 1.0)


BACKGROUNDS = ("grey", "clutter")


def _shape_mask(label: str, size: int, half: float, cx: float, cy: float) -> np.ndarray:
    """Anti-aliased coverage mask (size x size, floats in [0, 1]) of one shape.

    *half* is half the bounding-box side, *cx*, *cy* the centre, all as
    fractions of the image side. The triangle is inscribed in the bounding
    box, pointing up.
    """
    from PIL import Image, ImageDraw

    S = size * _SUPERSAMPLE
    m = Image.new("L", (S, S), 0)
    d = ImageDraw.Draw(m)
    x, y, r = cx * S, cy * S, half * S
    box = [x - r, y - r, x + r, y + r]
    if label == "circle":
        d.ellipse(box, fill=255)
    elif label == "square":
        d.rectangle(box, fill=255)
    elif label == "triangle":
        d.polygon([(x, y - r), (x - r, y + r), (x + r, y + r)], fill=255)
    else:  # pragma: no cover - CLASSES is fixed
        raise ValueError(f"unknown shape {label!r}")
    m = m.resize((size, size), Image.BOX)
    return np.asarray(m, dtype=float) / 255.0


def generate(
    n_per_class: int = 60, size: int = 32, seed: int = 0, noise: float = 0.05, background: str = "grey"
) -> dict:
    """Draw ``3 * n_per_class`` images of coloured shapes from known latent factors.

    Per image, independently: ``size`` ~ U(:data:`SIZE_RANGE`) (half the
    bounding-box side / image side), hue ~ U(0°, 360°) (saturation fixed at
    :data:`SATURATION`), ``brightness`` ~ U(:data:`BRIGHTNESS_RANGE`) (HSV
    value), centre ``x``, ``y`` uniform such that the shape stays inside the
    image (fractions of the image side, x to the right, y down). The shape is
    drawn anti-aliased on a smooth random grey background and Gaussian pixel
    noise with standard deviation *noise* (fraction of full scale) is added.

    *background* ``clutter`` draws the shapes on a smooth random colour field of high contrast instead
    (:func:`_clutter`, a new one per image): the object's identity is still there for a network that
    sees shapes, but the pixels carry no linear trace of it (pixel PCA probes score near chance while a
    pretrained backbone's score above 0.9; tests/test_synthetic.py).

    Images are ordered by class (:data:`CLASSES`), then by index.

    Returns a dict with

    * ``images``: uint8 array (n, size, size, 3), RGB;
    * ``labels``: str array, the shape class;
    * ``subtypes``: str array, class + "_" + binned colour name (e.g. "circle_red");
    * ``names``: unique file names, e.g. "circle_0007.png";
    * ``latent``: float array (n, 6), columns :data:`LATENT_NAMES`
      (size, cos and sin of the hue angle, brightness, x, y);
    * ``latent_names``: list of the column names.
    """
    n_per_class, size = int(n_per_class), int(size)
    if n_per_class < 1 or size < 8:
        raise ValueError(f"need n_per_class >= 1 and size >= 8 (got {n_per_class}, {size})")
    if background not in BACKGROUNDS:
        raise ValueError(f"source.background: {background!r} is not one of {BACKGROUNDS}")
    rng = np.random.default_rng(seed)
    n = n_per_class * len(CLASSES)
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    latent = np.empty((n, len(LATENT_NAMES)))
    labels, subtypes, names = [], [], []
    margin = 1.0 / size
    row = 0
    for label in CLASSES:
        for i in range(n_per_class):
            half = rng.uniform(*SIZE_RANGE)
            hue = rng.uniform(0.0, 360.0)
            value = rng.uniform(*BRIGHTNESS_RANGE)
            lo, hi = half + margin, 1.0 - half - margin
            cx, cy = rng.uniform(lo, hi), rng.uniform(lo, hi)
            bg = _background(rng, size, noise) if background == "grey" else _clutter(rng, size)
            alpha = _shape_mask(label, size, half, cx, cy)[:, :, None]
            rgb = np.array(colorsys.hsv_to_rgb(hue / 360.0, SATURATION, value))
            img = bg * (1.0 - alpha) + rgb[None, None, :] * alpha
            img = img + rng.normal(0.0, noise, size=img.shape)
            images[row] = np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)
            theta = np.deg2rad(hue)
            latent[row] = (half, np.cos(theta), np.sin(theta), value, cx, cy)
            labels.append(label)
            subtypes.append(f"{label}_{colour_name(hue)[0]}")
            names.append(f"{label}_{i:04d}.png")
            row += 1
    log.info(
        "generated %d synthetic images (%d per class, %dpx, seed %s, %s background)",
        n,
        n_per_class,
        size,
        seed,
        background,
    )
    return {
        "images": images,
        "labels": np.array(labels),
        "subtypes": np.array(subtypes),
        "names": np.array(names),
        "latent": latent,
        "latent_names": list(LATENT_NAMES),
    }


def human_attributes(latent, labels) -> np.ndarray:
    """The weighted perceptual attributes behind :func:`human_space` (n x 6, no noise).

    Columns, with their weights (the attribute's spread in the space):

    1-2. shape category: the class's point on the unit circle (classes in
         sorted order at 90° + 360°·i/C), times ``W_SHAPE`` = 1.0;
    3-4. hue on the colour circle, ``(cos h, sin h)``, times ``W_COLOUR`` = 0.7
         and a saliency factor ``0.6 + 0.4·b`` (dark colours are harder to
         tell apart), where ``b`` in [0, 1] is the perceived brightness below;
    5.   size, saturating: ``W_SIZE`` = 0.4 × tanh(1.5·u), where ``u`` maps
         :data:`SIZE_RANGE` linearly onto [-1, 1];
    6.   perceived brightness (Stevens power law, exponent 0.5): ``W_BRIGHTNESS``
         = 0.3 × (2·b - 1) with ``b = (sqrt(v) - sqrt(lo)) / (sqrt(hi) - sqrt(lo))``
         over :data:`BRIGHTNESS_RANGE`.

    Position (``x``, ``y``) is deliberately ignored.
    *latent* must have the columns :data:`LATENT_NAMES`, in that order.
    """
    latent = np.asarray(latent, dtype=float)
    labels = np.asarray(labels).astype(str)
    if latent.ndim != 2 or latent.shape[1] != len(LATENT_NAMES):
        raise ValueError(f"latent must be (n, {len(LATENT_NAMES)}) with columns {LATENT_NAMES}, got {latent.shape}")
    if labels.shape != (latent.shape[0],):
        raise ValueError(f"labels has shape {labels.shape}, expected ({latent.shape[0]},)")
    col = {name: latent[:, i] for i, name in enumerate(LATENT_NAMES)}
    classes, codes = np.unique(labels, return_inverse=True)
    angle = np.deg2rad(90.0 + 360.0 * codes / len(classes))
    lo, hi = BRIGHTNESS_RANGE
    v = np.clip(col["brightness"], 0.0, None)
    b = (np.sqrt(v) - np.sqrt(lo)) / (np.sqrt(hi) - np.sqrt(lo))
    s_lo, s_hi = SIZE_RANGE
    u = (col["size"] - (s_lo + s_hi) / 2) / ((s_hi - s_lo) / 2)
    salience = W_COLOUR * (0.6 + 0.4 * b)
    return np.column_stack(
        [
            W_SHAPE * np.cos(angle),
            W_SHAPE * np.sin(angle),
            salience * col["hue_cos"],
            salience * col["hue_sin"],
            W_SIZE * np.tanh(1.5 * u),
            W_BRIGHTNESS * (2.0 * b - 1.0),
        ]
    )


def human_space(latent, labels, k: int = 4, seed: int = 0, noise: float = 0.1) -> np.ndarray:
    """Reference "human" similarity space (n x k) derived from the latent factors.

    Model of a human observer: each image is judged by the weighted
    perceptual attributes of :func:`human_attributes` (shape category
    strongly, then hue, size and brightness; position ignored), each perturbed
    by independent Gaussian judgement noise of standard deviation *noise*
    (``default_rng(seed)``). The space is the classical MDS embedding of the
    resulting Euclidean dissimilarities: the first *k* principal-component
    scores (centred; each component's sign fixed so that its largest loading
    is positive). With the default weights the first two dimensions encode
    shape, the next two hue, then size (k=5) and brightness (k=6).
    """
    k = int(k)
    G = human_attributes(latent, labels)
    if not 1 <= k <= G.shape[1]:
        raise ValueError(f"k must be between 1 and {G.shape[1]}, got {k}")
    rng = np.random.default_rng(seed)
    G = G + rng.normal(0.0, noise, size=G.shape)
    Gc = G - G.mean(axis=0)
    U, S, Vt = np.linalg.svd(Gc, full_matrices=False)
    signs = np.sign(Vt[np.arange(k), np.argmax(np.abs(Vt[:k]), axis=1)])
    signs[signs == 0] = 1.0
    return U[:, :k] * (S[:k] * signs)


def write_folder(out_dir: str | os.PathLike, **generate_kwargs) -> list[str]:
    """Generate a set (:func:`generate` arguments) and write it as ``out_dir/<class>/<name>.png``.

    Returns the list of file names, in generation order.
    """
    from PIL import Image

    data = generate(**generate_kwargs)
    out = Path(out_dir)
    for img, label, name in zip(data["images"], data["labels"], data["names"]):
        path = out / str(label) / str(name)
        with atomic_path(path, suffix=".png") as tmp:
            Image.fromarray(img).save(tmp, format="PNG")
    log.info("wrote %d PNGs to %s", len(data["names"]), out)
    return [str(x) for x in data["names"]]


def source_kwargs(src: dict) -> dict:
    """The arguments of :func:`generate` that a ``synthetic`` source block sets.

    Parameters
    ----------
    src
        The ``source`` block.

    Returns
    -------
    dict
        Those of ``n_per_class``, ``size``, ``seed``, ``noise`` and ``background`` it gives.
    """
    return {k: src[k] for k in ("n_per_class", "size", "seed", "noise", "background") if k in src}


def read(src: dict, dataset: str) -> tuple[list[Record], list[Skip]]:
    """The dataset source ``synthetic``: the images of :func:`generate`, in memory (names as its file names)."""
    g = generate(**source_kwargs(src))
    return array_records(g["images"], g["labels"], g["subtypes"], g["names"]), []
