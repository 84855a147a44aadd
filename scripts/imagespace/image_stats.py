"""Image statistics: a hand-crafted descriptor per image (feature set ``stats``).

Interpretable, fitting-free numbers of the kind people use when they judge
materials: lightness and colour (opponent channels, saturation), gradient and
Laplacian energy over scales (roughness, grain size), orientation coherence
(banding, layering), local contrast and colour variety, uniform local binary
pattern histograms (micro-texture), the radial power spectrum (coarseness), a
grey-level granulometry (size of bright and dark grains), the object's
silhouette (fill, elongation, solidity, boundary roughness) and specular
highlights (shine).

Statistics are taken over the *object* pixels: those that differ from the
background colour the images were padded with (all pixels when that would leave
too few). Nothing is fitted, so the descriptor of a new image never depends on
other images, and a map trained on one collection applies to another.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

GROUPS = ("colour", "gradient", "orientation", "local", "lbp", "spectrum", "granulometry", "shape", "highlights")
_PCT = (5, 25, 50, 75, 95)


def object_mask(img: np.ndarray, background=(255, 255, 255), tol: float = 0.08, min_fraction: float = 0.05) -> np.ndarray:
    """Pixels farther than *tol* (0..1 scale, max over channels) from the background colour."""
    bg = np.asarray(background, dtype=np.float32)[: img.shape[-1]] / 255.0
    if img.shape[-1] == 1:
        bg = np.array([np.mean(np.asarray(background, dtype=np.float32)) / 255.0], dtype=np.float32)
    mask = np.abs(img - bg).max(axis=-1) > tol
    if mask.mean() < min_fraction:
        mask = np.ones(mask.shape, dtype=bool)
    return mask


def _uniform_lbp(gray: np.ndarray, radius: int) -> np.ndarray:
    """Rotation-invariant uniform LBP code (0..8 = number of brighter neighbours, 9 = non-uniform)."""
    n = 8
    bits = []
    for k in range(n):
        a = 2 * np.pi * k / n
        dy, dx = int(round(-radius * np.sin(a))), int(round(radius * np.cos(a)))
        shifted = np.roll(np.roll(gray, dy, axis=0), dx, axis=1)
        bits.append(shifted >= gray)
    bits = np.stack(bits, axis=-1)
    transitions = (bits != np.roll(bits, 1, axis=-1)).sum(axis=-1)
    return np.where(transitions <= 2, bits.sum(axis=-1), n + 1)


def _laplacian(gray: np.ndarray, sigma: float) -> np.ndarray:
    """Laplacian of Gaussian with zero response to a constant image.

    scipy's truncated discrete kernel does not sum to zero at small sigma (0.53 on
    a constant 0.47 image at sigma 0.5), which would leak lightness into a texture
    measure; its response to a constant is subtracted.
    """
    bias = ndimage.gaussian_laplace(np.ones((33, 33)), sigma)[16, 16]
    return ndimage.gaussian_laplace(gray, sigma) - bias * gray


def _stats(v: np.ndarray) -> list[float]:
    return [float(v.mean()), float(v.std()), *map(float, np.percentile(v, _PCT))]


def describe(img: np.ndarray, background=(255, 255, 255), groups=GROUPS) -> dict[str, list[float]]:
    """Descriptor groups of one image (``H x W x C`` uint8 or float in 0..1; C = 1 or 3)."""
    img = np.asarray(img, dtype=np.float32)
    if img.ndim == 2:
        img = img[..., None]
    if img.max(initial=0) > 1.0:
        img = img / 255.0
    mask = object_mask(img, background)
    gray = img.mean(axis=-1)
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
            f += [float(gm.mean()), float(gm.std()), float(np.percentile(gm, 90)), float(np.abs(lap).mean()), float(lap.std())]
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
        for radius in (1, 2, 4):
            h = np.bincount(_uniform_lbp(gray, radius)[mask], minlength=10)[:10].astype(float)
            f += [float(x) for x in h / max(h.sum(), 1.0)]
        out["lbp"] = f
    if "spectrum" in groups:
        filled = np.where(mask, gray, gray[mask].mean())
        power = np.abs(np.fft.fftshift(np.fft.fft2(filled - filled.mean()))) ** 2
        yy, xx = np.indices(power.shape)
        rr = np.hypot(yy - power.shape[0] / 2, xx - power.shape[1] / 2)
        edges = np.geomspace(1, min(power.shape) / 2, 9)
        total = power.sum() + 1e-9
        out["spectrum"] = [float(np.log(power[(rr >= a) & (rr < b)].sum() / total + 1e-12)) for a, b in zip(edges[:-1], edges[1:])]
    if "granulometry" in groups:
        f = []
        for s in (1, 2, 4, 8):
            size = (2 * s + 1, 2 * s + 1)
            f += [float((gray - ndimage.grey_opening(gray, size=size))[mask].mean()),
                  float((ndimage.grey_closing(gray, size=size) - gray)[mask].mean())]
        out["granulometry"] = f
    if "shape" in groups:
        out["shape"] = _shape(mask)
    if "highlights" in groups:
        v, s_ = gray[mask], sat[mask]
        bright = (v > np.percentile(v, 50) + 0.25) & (s_ < 0.15)
        out["highlights"] = [float(bright.mean()), float(np.percentile(v, 99) - np.percentile(v, 50)), float(np.percentile(v, 99.5))]
    return out


def _shape(mask: np.ndarray) -> list[float]:
    """Silhouette: fill fraction, minor/major axis ratio, solidity, boundary roughness, bounding-box fill."""
    from scipy.spatial import ConvexHull, QhullError

    m = ndimage.binary_fill_holes(ndimage.binary_closing(mask, iterations=2))
    ys, xs = np.nonzero(m)
    if len(ys) < 3:
        return [float(m.mean()), 1.0, 1.0, 1.0, 1.0]
    ev = np.sort(np.linalg.eigvalsh(np.cov(np.vstack([ys, xs]))))
    area = float(m.sum())
    perimeter = float((m ^ ndimage.binary_erosion(m)).sum())
    box = float((ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1))
    try:
        hull = ConvexHull(np.c_[ys, xs]).volume
    except QhullError:
        hull = area
    return [float(m.mean()), float(np.sqrt(ev[0] / max(ev[1], 1e-9))), area / max(hull, 1.0),
            perimeter**2 / area / (4 * np.pi), area / box]


def feature_names(n_channels: int = 3, groups=GROUPS) -> list[str]:
    """Column names matching :func:`describe` for images with *n_channels* channels."""
    probe = np.full((32, 32, n_channels), 0.5, dtype=np.float32)
    probe[8:24, 8:24] = 0.2
    d = describe(probe, background=(255, 255, 255), groups=groups)
    return [f"{g}_{i}" for g in d for i in range(len(d[g]))]


def describe_all(images, background=(255, 255, 255), groups=GROUPS) -> np.ndarray:
    """One descriptor row per image (an iterable of arrays)."""
    rows = []
    for img in images:
        d = describe(img, background, groups)
        rows.append([x for g in d for x in d[g]])
    return np.asarray(rows, dtype=np.float64)


def _describe_files(args) -> np.ndarray:
    paths, size, opts, groups = args
    from imagespace import images

    def decoded():
        for p in paths:
            yield images.load_image(p, tuple(size), opts["color"], opts["resize"], opts["resample"],
                                    opts["exif_transpose"], opts["background"], opts.get("upscale_small"))[0]

    return describe_all(decoded(), opts["background"], groups)


def describe_files(paths, size, opts: dict, groups=GROUPS, n_jobs: int = 1, chunk: int = 16) -> np.ndarray:
    """Descriptors of image files decoded at *size* with the dataset's image options, in *n_jobs* processes."""
    paths = list(paths)
    tasks = [(paths[i:i + chunk], size, opts, tuple(groups)) for i in range(0, len(paths), chunk)]
    if n_jobs <= 1 or len(tasks) <= 1:
        parts = [_describe_files(t) for t in tasks]
    else:
        import os
        from concurrent.futures import ProcessPoolExecutor

        from imagespace.util import die_with_parent

        with ProcessPoolExecutor(max_workers=n_jobs, initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
            parts = list(pool.map(_describe_files, tasks))
    return np.vstack(parts) if parts else np.empty((0, 0))
