"""The stats descriptor's scikit-image parts: LBP, HOG, GLCM and the silhouette (regionprops)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from conftest import ROOT
from scipy import ndimage
from skimage.feature import local_binary_pattern

from imagespace import image_stats


def _texture(n=64, seed=0, blur=(1.0, 1.0)):
    """Grey texture filling the frame (no white: every pixel is object), uint8 RGB."""
    rng = np.random.default_rng(seed)
    g = ndimage.gaussian_filter(rng.random((n, n)), blur)
    g = 40 + 160 * (g - g.min()) / (g.max() - g.min())
    return np.repeat(g[..., None], 3, axis=2).round().astype(np.uint8)


def _disc(r, margin=20, value=80):
    n = 2 * r + 2 * margin
    yy, xx = np.indices((n, n))
    img = np.full((n, n, 3), 255, np.uint8)
    img[np.hypot(yy - (n - 1) / 2, xx - (n - 1) / 2) <= r] = value
    return img


# --- LBP ------------------------------------------------------------------------------------------


def test_lbp_of_a_checkerboard_is_interpolated_and_border_free():
    # 1-pixel checkerboard, R = 1: the diagonal neighbours are interpolated (0.41 of the other colour),
    # so a dark pixel sees 8 brighter-or-equal neighbours (code 8) and a bright one none (code 0).
    # Nearest-pixel sampling (the old implementation) read the same-coloured diagonal pixel:
    # bright pixels became non-uniform (code 9).
    board = np.where(np.add.outer(np.arange(24), np.arange(24)) % 2, 200, 30).astype(np.uint8)
    codes = image_stats.lbp_codes(board, 1)
    assert codes.shape == board.shape
    assert (codes[board == 30] == 8).all() and (codes[board == 200] == 0).all()  # border pixels included


@pytest.mark.parametrize("radius", image_stats.LBP_RADII)
def test_lbp_equals_scikit_image_inside_and_never_wraps_around(radius):
    g = _texture(48, seed=1)[..., 0]
    codes = image_stats.lbp_codes(g, radius)
    ref = local_binary_pattern(g, 8, radius, method="uniform")
    k = radius + 1  # pixels whose neighbours all lie inside the image
    assert np.array_equal(codes[k:-k, k:-k], ref[k:-k, k:-k])
    assert codes.min() >= 0 and codes.max() <= 9
    # change the right border only: the left border's codes must not change (np.roll mixed the two)
    g2 = g.copy()
    g2[:, -8:] = 255 - g2[:, -8:]
    codes2 = image_stats.lbp_codes(g2, radius)
    assert np.array_equal(codes2[:, : 48 - 8 - k], codes[:, : 48 - 8 - k])
    assert not np.array_equal(codes2[:, -8:], codes[:, -8:])


def test_lbp_histogram_ignores_monotone_lightness_changes_and_quarter_turns():
    img = _texture(64, seed=2, blur=(2.0, 0.5))
    img = (img.astype(int) * 100 // 255).astype(np.uint8)  # 0..100: the map below is exact in uint8
    lbp = image_stats.describe(img, groups=("lbp",))["lbp"]
    brighter = image_stats.describe((2 * img.astype(int) + 20).astype(np.uint8), groups=("lbp",))["lbp"]
    turned = image_stats.describe(np.rot90(img).copy(), groups=("lbp",))["lbp"]
    assert lbp == pytest.approx(brighter, abs=1e-12)
    assert lbp == pytest.approx(turned, abs=1e-3)  # up to a rare interpolation tie (1 pixel in 4096 at R = 4)
    assert sum(lbp[:10]) == pytest.approx(1.0)


# --- silhouette -----------------------------------------------------------------------------------


@pytest.mark.parametrize("r", [20, 40, 80])
def test_disc_perimeter_is_close_to_2_pi_r(r):
    img = _disc(r)
    fill, axis_ratio, ecc, solidity, extent, iso, convexity, round_ = image_stats.describe(img, groups=("shape",))[
        "shape"
    ]
    area = fill * img.shape[0] * img.shape[1]
    assert area == pytest.approx(np.pi * r * r, rel=0.02)
    perimeter = np.sqrt(iso * 4 * np.pi * area)  # the isoperimetric ratio is P^2 / (4 pi A)
    # within 2%: the old count of boundary pixels gave 0.89 * 2 pi r
    assert perimeter == pytest.approx(2 * np.pi * r, rel=0.02)
    assert iso == pytest.approx(1.0, abs=0.04)
    assert axis_ratio == pytest.approx(1.0, abs=0.01) and ecc < 0.15
    assert solidity > 0.95 and extent == pytest.approx(np.pi / 4, abs=0.03)
    assert convexity == pytest.approx(1.0, abs=0.02) and round_ == pytest.approx(1.0, abs=0.05)


def test_shape_tracks_elongation_and_a_ragged_outline():
    n = 200
    yy, xx = np.indices((n, n)) - (n - 1) / 2
    ellipse = np.full((n, n, 3), 255, np.uint8)
    ellipse[(yy / 40) ** 2 + (xx / 80) ** 2 <= 1] = 80
    s = image_stats.describe(ellipse, groups=("shape",))["shape"]
    assert s[1] == pytest.approx(0.5, abs=0.02) and s[2] == pytest.approx(np.sqrt(1 - 0.25), abs=0.02)
    # a disc with a serrated rim: same area, less solid, longer perimeter than its hull's
    theta = np.arctan2(yy, xx)
    star = np.full((n, n, 3), 255, np.uint8)
    star[np.hypot(yy, xx) <= 60 + 12 * np.sign(np.sin(24 * theta))] = 80
    st = image_stats.describe(star, groups=("shape",))["shape"]
    disc = image_stats.describe(_disc(60), groups=("shape",))["shape"]
    assert st[3] < disc[3] - 0.05 and st[5] > disc[5] + 0.3 and st[6] < disc[6] - 0.2


def test_object_touching_the_frame_keeps_its_full_silhouette():
    # closing used to erode a frame-filling object by 2 pixels on each side (fill 0.88 at 64 px)
    assert image_stats.describe(_texture(64), groups=("shape",))["shape"][0] == pytest.approx(1.0)


# --- HOG and GLCM ---------------------------------------------------------------------------------


@pytest.mark.parametrize("group", ["hog", "glcm"])
def test_hog_and_glcm_have_a_fixed_length_at_any_size(group):
    n = len(image_stats.feature_names(3, groups=(group,)))
    assert (
        n
        == {
            "hog": 10 * len(image_stats.HOG_GRIDS),
            "glcm": (len(image_stats.GLCM_PROPS) + 1) * len(image_stats.GLCM_DISTANCES),
        }[group]
    )
    rng = np.random.default_rng(3)
    for shape in [(8, 8), (16, 40), (64, 64), (97, 300), (256, 256)]:
        for img in (
            rng.integers(0, 256, (*shape, 3)).astype(np.uint8),
            np.full((*shape, 1), 128, np.uint8),  # flat: no gradient, one grey level
            np.full((*shape, 3), 255, np.uint8),
        ):  # nothing but background
            f = image_stats.describe(img, groups=(group,))[group]
            assert len(f) == n and np.isfinite(f).all(), (shape, img.shape)


def test_hog_is_rotation_aligned_contrast_free_and_sees_directions():
    stripes = _texture(128, seed=4, blur=(0.5, 6.0))  # bands along x: one dominant gradient direction
    iso = _texture(128, seed=4, blur=(2.0, 2.0))
    h = image_stats.describe(stripes, groups=("hog",))["hog"]
    turned = image_stats.describe(np.rot90(stripes).copy(), groups=("hog",))["hog"]
    assert h == pytest.approx(turned, abs=1e-6)
    low = (stripes / 255.0 - 0.5) * 0.3 + 0.5  # a third of the contrast (float image: no re-quantisation)
    # up to gradients on an orientation-bin boundary (integer steps: 0, 45, 90 degrees) that float rounding moves
    assert image_stats.describe(low, groups=("hog",))["hog"] == pytest.approx(h, abs=5e-3)
    hi = image_stats.describe(iso, groups=("hog",))["hog"]
    # per grid: 8 aligned fractions (dominant first), entropy, block variety
    assert h[0] > hi[0] + 0.2 and h[8] < hi[8] - 0.2
    assert sum(h[:8]) == pytest.approx(1.0) and h[0] == max(h[:8])
    flat = image_stats.describe(np.full((64, 64, 3), 128, np.uint8), groups=("hog",))["hog"]
    assert flat[:10] == pytest.approx([1 / 8] * 8 + [1.0, 0.0])  # no edges: no direction, no variety


def test_glcm_measures_texture_of_object_pairs_only():
    fine, coarse = _texture(64, seed=5, blur=(0.5, 0.5)), _texture(64, seed=5, blur=(3.0, 3.0))
    names = image_stats.GLCM_PROPS
    f = dict(zip(names, image_stats.describe(fine, groups=("glcm",))["glcm"]))  # distance 1
    c = dict(zip(names, image_stats.describe(coarse, groups=("glcm",))["glcm"]))
    assert f["contrast"] > 3 * c["contrast"] and f["homogeneity"] < c["homogeneity"]
    assert c["correlation"] > f["correlation"] + 0.3
    assert f["ASM"] == pytest.approx(f["energy"] ** 2, rel=0.2)
    # lightness units like every other column (in grey-level units contrast swamped an unscaled PCA)
    assert 0 < f["contrast"] < 1 and 0 < f["dissimilarity"] < 1
    # a quarter turn swaps the 0/90 and 45/135 degree directions: nothing changes
    g = image_stats.describe(fine, groups=("glcm",))["glcm"]
    assert image_stats.describe(np.rot90(fine).copy(), groups=("glcm",))["glcm"] == pytest.approx(g, abs=1e-12)
    # the same patch on a wider white margin: background pairs are not counted
    framed = np.full((64, 64, 3), 255, np.uint8)
    framed[8:56, 8:56] = fine[:48, :48]
    wider = np.full((112, 112, 3), 255, np.uint8)
    wider[32:80, 32:80] = fine[:48, :48]
    assert image_stats.describe(framed, groups=("glcm",))["glcm"] == pytest.approx(
        image_stats.describe(wider, groups=("glcm",))["glcm"], abs=1e-12
    )
    # banding: contrast anisotropy over the directions (at distance 1: after the 6 x 4 averages)
    bands = _texture(64, seed=5, blur=(0.5, 8.0))
    aniso = 6 * len(image_stats.GLCM_DISTANCES)
    assert image_stats.describe(bands, groups=("glcm",))["glcm"][aniso] > g[aniso] + 0.3


# --- names and configuration ----------------------------------------------------------------------


def test_names_follow_groups_and_the_schema_lists_every_group():
    for channels in (1, 3):
        names = image_stats.feature_names(channels)
        row = image_stats.describe_all([np.full((40, 40, channels), 90, np.uint8)])
        assert len(names) == row.shape[1] == len(set(names))
        groups = list(dict.fromkeys(n.rsplit("_", 1)[0] for n in names))
        assert groups == list(image_stats.GROUPS)
        sub = image_stats.feature_names(channels, groups=("glcm", "lbp"))
        assert sub == [n for n in names if n.startswith(("lbp_", "glcm_"))]
    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    groups = schema["properties"]["stats"]["properties"]["groups"]
    assert groups["items"]["enum"] == list(image_stats.GROUPS)
    assert groups["default"] == list(image_stats.DEFAULT_GROUPS)
