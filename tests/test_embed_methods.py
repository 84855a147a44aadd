"""UMAP (umap-learn) and openTSNE as embedding methods: seeded, faithful on data with a known answer, and with a
transform that places held-out images where the images they resemble are."""

from __future__ import annotations

import numpy as np
import pytest

from imagespace import embed


def _clusters(n_per=60, k=4, dims=20, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, dims)) * 6
    y = np.repeat(np.arange(k), n_per)
    return centres[y] + rng.normal(size=(len(y), dims)), y


@pytest.mark.parametrize("name", ["umap", "opentsne"])
def test_new_methods_are_seeded_faithful_and_place_new_rows(name):
    X, y = _clusters()
    held = np.arange(len(X)) % 5 == 0
    p = embed.params_for(name, None)
    Y, Y_new, info = embed.embed(name, X[~held], 2, p, seed=3, X_other=X[held])
    Y2, Y_new2, _ = embed.embed(name, X[~held], 2, p, seed=3, X_other=X[held])
    np.testing.assert_allclose(Y, Y2, atol=1e-5)  # same seed, same map
    np.testing.assert_allclose(Y_new, Y_new2, atol=1e-5)
    assert info["n_transformed"] == held.sum() and Y.shape == ((~held).sum(), 2)
    # faithful: trustworthiness of well-separated clusters (a random layout scores about 0.5)
    tw = embed.trustworthiness(X[~held], Y, n_neighbors=5, max_rows=1000, seed=0)["value"]
    assert tw > 0.9, tw
    # a held-out point lands nearest to the centroid of its own class's fitted points
    cent = np.array([Y[y[~held] == c].mean(axis=0) for c in range(4)])
    nearest = np.argmin(((Y_new[:, None, :] - cent[None]) ** 2).sum(-1), axis=1)
    assert (nearest == y[held]).mean() >= 0.95


def test_opentsne_refuses_more_than_three_dimensions_naming_the_key():
    X, _ = _clusters(n_per=20)
    with pytest.raises(ValueError, match=r"'opentsne' embeds into at most 3 dimensions, not 8 \(embeddings.n_components\)"):
        embed.embed("opentsne", X, 8, embed.params_for("opentsne", None), seed=0)


def test_unknown_umap_parameter_is_an_error():
    with pytest.raises(ValueError, match=r"embeddings.umap: unknown parameter\(s\) \['n_neighbours'\]"):
        embed.params_for("umap", {"n_neighbours": 5})
