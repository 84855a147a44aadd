"""Image statistics: a hand-crafted descriptor per image (feature set ``stats``).

Interpretable, fitting-free numbers of the kind people use when they judge
materials: lightness and colour (opponent channels, saturation), gradient and
Laplacian energy over scales (roughness, grain size), orientation coherence
(banding, layering), local contrast and colour variety, uniform local binary
pattern histograms (micro-texture), histograms of oriented gradients (edge
directions, rotation-aligned), grey-level co-occurrence statistics (texture
contrast, homogeneity, regularity), the radial power spectrum (coarseness), a
grey-level granulometry (size of bright and dark grains), the object's
silhouette (fill, elongation, solidity, boundary roughness) and specular
highlights (shine).

LBP, HOG, GLCM and the silhouette measures are scikit-image's
(``local_binary_pattern``, ``hog``, ``graycomatrix``/``graycoprops``,
``regionprops``); the rest is scipy.ndimage.

Statistics are taken over the *object* pixels: those that differ from the
background colour the images were padded with (all pixels when that would leave
too few). Nothing is fitted, so the descriptor of a new image never depends on
other images, and a map trained on one collection applies to another.
"""

from __future__ import annotations

import contextlib

import numpy as np

GROUPS = (
    "colour",
    "gradient",
    "orientation",
    "local",
    "lbp",
    "hog",
    "glcm",
    "spectrum",
    "granulometry",
    "shape",
    "highlights",
)
# the workflow's default (schema stats.groups): hog is opt-in, see the schema's note on its cost
DEFAULT_GROUPS = tuple(g for g in GROUPS if g != "hog")
_PCT = (5, 25, 50, 75, 95)
LBP_RADII = (1, 2, 4)
HOG_ORIENTATIONS = 8  # 22.5 degree bins: a quarter turn is a shift by exactly 4 bins
HOG_GRIDS = (32, 8)  # cells across the shorter image side: fine and coarse edge structure at any image size
GLCM_LEVELS = 32
GLCM_DISTANCES = (1, 2, 4, 8)
GLCM_ANGLES = (0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4)
GLCM_PROPS = ("contrast", "dissimilarity", "homogeneity", "energy", "correlation", "ASM")


def object_mask(
    img: np.ndarray, background=(255, 255, 255), tol: float = 0.08, min_fraction: float = 0.05
) -> np.ndarray:
    """Pixels farther than *tol* (0..1 scale, max over channels) from the background colour."""
    bg = np.asarray(background, dtype=np.float32)[: img.shape[-1]] / 255.0
    if img.shape[-1] == 1:
        bg = np.array([np.mean(np.asarray(background, dtype=np.float32)) / 255.0], dtype=np.float32)
    mask = np.abs(img - bg).max(axis=-1) > tol
    if mask.mean() < min_fraction:
        mask = np.ones(mask.shape, dtype=bool)
    return mask


def _to_uint8(gray: np.ndarray) -> np.ndarray:
    return np.round(np.clip(gray, 0, 1) * 255).astype(np.uint8)


def lbp_codes(gray8: np.ndarray, radius: float, points: int = 8) -> np.ndarray:
    """Rotation-invariant uniform LBP codes (0..P = number of brighter neighbours, P + 1 = non-uniform).

    scikit-image's ``local_binary_pattern(method="uniform")``: neighbours on a circle,
    bilinearly interpolated. Outside the image it reads zeros, which would turn every
    border pixel's outer neighbours dark; the image is mirrored out by ``radius + 1``
    pixels first (numpy ``reflect``), so border pixels see the image's own texture,
    never the opposite border.
    """
    from skimage.feature import local_binary_pattern

    gray8 = np.asarray(gray8)
    pad = int(np.ceil(radius)) + 1
    padded = np.pad(gray8, pad, mode="reflect")
    codes = local_binary_pattern(padded, points, radius, method="uniform")[pad:-pad, pad:-pad]
    return codes.astype(np.int64)


def _laplacian(gray: np.ndarray, sigma: float) -> np.ndarray:
    """Laplacian of Gaussian with zero response to a constant image.

    scipy's truncated discrete kernel does not sum to zero at small sigma (0.53 on
    a constant 0.47 image at sigma 0.5), which would leak lightness into a texture
    measure; its response to a constant is subtracted.
    """
    from scipy import ndimage

    bias = ndimage.gaussian_laplace(np.ones((33, 33)), sigma)[16, 16]
    return ndimage.gaussian_laplace(gray, sigma) - bias * gray


def _stats(v: np.ndarray) -> list[float]:
    return [float(v.mean()), float(v.std()), *map(float, np.percentile(v, _PCT))]


def describe(img: np.ndarray, background=(255, 255, 255), groups=GROUPS) -> dict[str, list[float]]:
    """Descriptor groups of one image (``H x W x C`` uint8 or float in 0..1; C = 1 or 3); *background* None takes
    every statistic over the whole image (no object mask)."""
    from scipy import ndimage

    img = np.asarray(img, dtype=np.float32)
    if img.ndim == 2:
        img = img[..., None]
    if img.max(initial=0) > 1.0:
        img = img / 255.0
    mask = np.ones(img.shape[:2], dtype=bool) if background is None else object_mask(img, background)
    gray = img.mean(axis=-1)
    gray8 = _to_uint8(gray)
    mx, mn = img.max(axis=-1), img.min(axis=-1)
    sat = (mx - mn) / (mx + 1e-6)
    chans = [gray]
    if img.shape[-1] == 3:
        r, g, b = img[..., 0], img[..., 1], img[..., 2]
        chans += [r - g, (r + g) / 2 - b, sat]
    out: dict[str, list[float]] = {}
    if "colour" in groups:
        out["colour"] = [x for c in chans for x in _stats(c[mask])]
    if "gradient" in groups:
        f = []
        for s in (0.5, 1, 2, 4, 8):
            gm = ndimage.gaussian_gradient_magnitude(gray, s)[mask]
            lap = _laplacian(gray, s)[mask]
            f += [
                float(gm.mean()),
                float(gm.std()),
                float(np.percentile(gm, 90)),
                float(np.abs(lap).mean()),
                float(lap.std()),
            ]
        out["gradient"] = f
    if "orientation" in groups:
        gx, gy = ndimage.sobel(gray, axis=1), ndimage.sobel(gray, axis=0)
        f = []
        for s in (1, 4, 8):
            jxx = ndimage.gaussian_filter(gx * gx, s)
            jyy = ndimage.gaussian_filter(gy * gy, s)
            jxy = ndimage.gaussian_filter(gx * gy, s)
            coh = (np.sqrt((jxx - jyy) ** 2 + 4 * jxy**2) / (jxx + jyy + 1e-6))[mask]
            f += [float(coh.mean()), float(coh.std())]
        out["orientation"] = f
    if "local" in groups:
        f = []
        for s in (2, 6, 12):
            mu = ndimage.gaussian_filter(gray, s)
            sd = np.sqrt(np.clip(ndimage.gaussian_filter(gray**2, s) - mu**2, 0, None))[mask]
            f += [float(sd.mean()), float(sd.std())]
            local_means = np.stack([ndimage.gaussian_filter(c, s) for c in chans], axis=-1)[mask]
            f += [float(x) for x in local_means.std(axis=0)]
        out["local"] = f
    if "lbp" in groups:
        f = []
        for radius in LBP_RADII:
            h = np.bincount(lbp_codes(gray8, radius)[mask], minlength=10)[:10].astype(float)
            f += [float(x) for x in h / max(h.sum(), 1.0)]
        out["lbp"] = f
    if "hog" in groups:
        out["hog"] = hog_features(gray, mask)
    if "glcm" in groups:
        out["glcm"] = glcm_features(gray8, mask)
    if "spectrum" in groups:
        filled = np.where(mask, gray, gray[mask].mean())
        power = np.abs(np.fft.fftshift(np.fft.fft2(filled - filled.mean()))) ** 2
        yy, xx = np.indices(power.shape)
        rr = np.hypot(yy - power.shape[0] / 2, xx - power.shape[1] / 2)
        edges = np.geomspace(1, min(power.shape) / 2, 9)
        total = power.sum() + 1e-9
        out["spectrum"] = [
            float(np.log(power[(rr >= a) & (rr < b)].sum() / total + 1e-12)) for a, b in zip(edges[:-1], edges[1:])
        ]
    if "granulometry" in groups:
        f = []
        for s in (1, 2, 4, 8):
            size = (2 * s + 1, 2 * s + 1)
            f += [
                float((gray - ndimage.grey_opening(gray, size=size))[mask].mean()),
                float((ndimage.grey_closing(gray, size=size) - gray)[mask].mean()),
            ]
        out["granulometry"] = f
    if "shape" in groups:
        out["shape"] = _shape(mask)
    if "highlights" in groups:
        v, s_ = gray[mask], sat[mask]
        bright = (v > np.percentile(v, 50) + 0.25) & (s_ < 0.15)
        out["highlights"] = [
            float(bright.mean()),
            float(np.percentile(v, 99) - np.percentile(v, 50)),
            float(np.percentile(v, 99.5)),
        ]
    return out


def hog_features(gray: np.ndarray, mask: np.ndarray) -> list[float]:
    """Histograms of oriented gradients pooled over the object, per grid in :data:`HOG_GRIDS`.

    scikit-image's ``hog`` (8 unsigned orientations, 2x2-cell blocks, L2-Hys block
    normalisation, so contrast does not matter) with cells of ``min(H, W) / grid``
    pixels, hence the same coarse-to-fine meaning and length at any image size. The
    block histograms of blocks mostly on the object are averaged into one
    distribution over orientations, rolled so that the dominant orientation comes
    first (a rotated photograph gives the same numbers). Per grid: the 8 aligned
    orientation fractions, their normalised entropy (1 = no preferred direction) and
    the mean total-variation distance of a block's histogram from the pooled one
    (how much the local edge direction varies over the object).
    """
    from skimage.feature import hog

    f: list[float] = []
    n_or = HOG_ORIENTATIONS
    for grid in HOG_GRIDS:
        cell = max(2, int(round(min(gray.shape) / grid)))
        ncy, ncx = gray.shape[0] // cell, gray.shape[1] // cell
        if ncy < 2 or ncx < 2:
            f += [1.0 / n_or] * n_or + [1.0, 0.0]
            continue
        blocks = hog(
            gray,
            orientations=n_or,
            pixels_per_cell=(cell, cell),
            cells_per_block=(2, 2),
            block_norm="L2-Hys",
            feature_vector=False,
        ).sum(axis=(2, 3))  # (ncy-1, ncx-1, n_or)
        cells = mask[: ncy * cell, : ncx * cell].reshape(ncy, cell, ncx, cell).mean(axis=(1, 3))
        on = (cells[:-1, :-1] + cells[1:, :-1] + cells[:-1, 1:] + cells[1:, 1:]) / 4 >= 0.5
        h = blocks[on] if on.any() else blocks.reshape(-1, n_or)
        h = h[h.sum(axis=1) > 0]  # flat blocks have no direction
        h = h / h.sum(axis=1, keepdims=True) if len(h) else np.full((1, n_or), 1.0 / n_or)
        pooled = h.mean(axis=0)
        aligned = np.roll(pooled, -int(np.argmax(pooled)))
        p = pooled[pooled > 0]
        entropy = float(-(p * np.log(p)).sum() / np.log(n_or)) if p.size else 1.0
        variety = float(0.5 * np.abs(h - pooled).sum(axis=1).mean())
        f += [float(x) for x in aligned] + [entropy, variety]
    return f


def glcm_features(gray8: np.ndarray, mask: np.ndarray) -> list[float]:
    """Grey-level co-occurrence statistics of the object's pixel pairs.

    scikit-image's ``graycomatrix`` (symmetric) of the lightness in
    :data:`GLCM_LEVELS` absolute levels, at each distance in :data:`GLCM_DISTANCES`
    and the four directions 0, 45, 90, 135 degrees. Background pixels get a level of
    their own whose row and column are dropped, so only pairs of two object pixels
    count. Per distance: ``graycoprops`` contrast, dissimilarity (both in lightness
    units: divided by (levels - 1)^2 and levels - 1), homogeneity, energy,
    correlation and ASM averaged over the directions (a quarter turn of the
    image permutes the directions, so it changes nothing), then per distance the
    contrast anisotropy (max - min) / (max + min) over the directions (banding).
    """
    from skimage.feature import graycomatrix, graycoprops

    q = (gray8.astype(np.int64) * GLCM_LEVELS) // 256
    q = np.where(mask, q, GLCM_LEVELS).astype(np.uint8)
    P = graycomatrix(q, list(GLCM_DISTANCES), list(GLCM_ANGLES), levels=GLCM_LEVELS + 1, symmetric=True)
    P = P[:GLCM_LEVELS, :GLCM_LEVELS].astype(np.float64)  # pairs of object pixels only
    props = {p: graycoprops(P, p) for p in GLCM_PROPS}  # each (n_distances, n_angles)
    # grey-level differences in lightness units (0..1), as everywhere else in the descriptor: in
    # level units contrast reaches hundreds and would swamp every other column of an unscaled PCA
    props["contrast"] = props["contrast"] / (GLCM_LEVELS - 1) ** 2
    props["dissimilarity"] = props["dissimilarity"] / (GLCM_LEVELS - 1)
    f: list[float] = []
    for i in range(len(GLCM_DISTANCES)):
        f += [float(props[p][i].mean()) for p in GLCM_PROPS]
    for i in range(len(GLCM_DISTANCES)):
        c = props["contrast"][i]
        f.append(float((c.max() - c.min()) / max(c.max() + c.min(), 1e-12)))
    return f


def _shape(mask: np.ndarray) -> list[float]:
    """Silhouette of the largest connected object region (scikit-image ``regionprops``).

    Fill (area / image area), minor/major axis ratio, eccentricity, solidity (area /
    convex area), extent (area / bounding-box area), isoperimetric ratio P^2 / (4 pi A)
    (1 for a disc; Crofton perimeter estimate, within 1% of 2 pi r for discs of a few
    dozen pixels), convexity (convex hull perimeter / perimeter: boundary roughness
    apart from elongation) and equivalent diameter / maximum Feret diameter.
    """
    from scipy import ndimage
    from skimage.measure import label, perimeter_crofton, regionprops

    # closed on an edge-padded copy: scipy's closing would otherwise erode an object touching the frame
    m = ndimage.binary_fill_holes(ndimage.binary_closing(np.pad(mask, 2, mode="edge"), iterations=2)[2:-2, 2:-2])
    regions = regionprops(label(m, connectivity=2))
    if not regions:
        return [0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    r = max(regions, key=lambda x: x.area)
    area = float(r.area)
    per = float(r.perimeter_crofton)
    if area < 3 or per <= 0 or r.axis_major_length <= 0:
        return [area / m.size, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    hull_per = float(perimeter_crofton(r.image_convex))
    return [
        area / m.size,
        float(r.axis_minor_length / r.axis_major_length),
        float(r.eccentricity),
        float(r.solidity),
        float(r.extent),
        per**2 / (4 * np.pi * area),
        min(hull_per / per, 1.0),
        float(r.equivalent_diameter_area / max(r.feret_diameter_max, 1e-9)),
    ]


def feature_names(n_channels: int = 3, groups=GROUPS) -> list[str]:
    """Column names matching :func:`describe` for images with *n_channels* channels."""
    probe = np.full((32, 32, n_channels), 0.5, dtype=np.float32)
    probe[8:24, 8:24] = 0.2
    d = describe(probe, background=(255, 255, 255), groups=groups)
    return [f"{g}_{i}" for g in d for i in range(len(d[g]))]


def describe_all(images, background=(255, 255, 255), groups=GROUPS) -> np.ndarray:
    """One descriptor row per image (an iterable of arrays)."""
    from imagespace.io import Progress

    rows = []
    # progress every 30 s when the number of images is known (the workers' chunks of files are counted by their caller)
    known = hasattr(images, "__len__")
    with (
        Progress(f"image statistics of {len(images)} images", len(images))
        if known
        else contextlib.nullcontext() as prog
    ):
        for img in images:
            d = describe(img, background, groups)
            rows.append([x for g in d for x in d[g]])
            if prog is not None:
                prog.add(1)
    return np.asarray(rows, dtype=np.float64)


def _describe_files(args) -> np.ndarray:
    paths, size, opts, groups = args
    from imagespace import images

    def decoded():
        for p in paths:
            yield images.load_image(
                p,
                tuple(size),
                opts["color"],
                opts["resize"],
                opts["resample"],
                opts["exif_transpose"],
                opts["background"],
                opts.get("upscale_small"),
            )[0]

    return describe_all(decoded(), opts["background"], groups)


def describe_files(paths, size, opts: dict, *, groups=GROUPS, n_jobs: int = 1, chunk: int = 16) -> np.ndarray:
    """Descriptors of image files decoded at *size* with the dataset's image options, in *n_jobs* processes."""
    paths = list(paths)
    tasks = [(paths[i : i + chunk], size, opts, tuple(groups)) for i in range(0, len(paths), chunk)]
    from imagespace.io import Progress, process_map

    with Progress(
        f"image statistics of {len(paths)} files ({n_jobs} process{'es' if n_jobs > 1 else ''})", len(paths)
    ) as prog:
        parts = process_map(_describe_files, tasks, n_jobs, costs=[len(t[0]) for t in tasks], progress=prog)
    return np.vstack(parts) if parts else np.empty((0, 0))
