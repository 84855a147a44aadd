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


def test_tsne_above_fft_above_runs_opentsne_fft_with_the_tsne_blocks_settings():
    """Above tsne.fft_above rows a 2-D t-SNE map is openTSNE's FFT t-SNE with the same perplexity, exaggeration,
    iterations and initialisation, says so in its strategy, and is as faithful; at or below it, and in 3+ dimensions,
    scikit-learn's t-SNE runs."""
    X, y = _clusters()
    p = embed.params_for("tsne", {"fft_above": len(X) - 1, "max_iter": 500})
    Y, _, info = embed.embed("tsne", X, 2, p, seed=3)
    assert info["strategy"]["solver"] == "openTSNE FFT" and info["method"] == "tsne"
    assert embed.tsne_as_opentsne(p, 6000) == {
        "perplexity": 30.0,
        "early_exaggeration": 12.0,
        "early_exaggeration_iter": 250,
        "n_iter": 250,
        "learning_rate": 500.0,
        "initialization": "pca",
    }
    assert embed.tsne_as_opentsne({**p, "learning_rate": 100.0}, 6000)["learning_rate"] == 400.0  # openTSNE's scale
    Y2, _, _ = embed.embed("tsne", X, 2, p, seed=3)
    np.testing.assert_allclose(Y, Y2, atol=1e-5)  # seeded
    assert embed.trustworthiness(X, Y, n_neighbors=5, max_rows=1000, seed=0)["value"] > 0.9
    cent = np.array([Y[y == c].mean(axis=0) for c in range(4)])  # every point nearest its own class's centre
    assert (np.argmin(((Y[:, None, :] - cent[None]) ** 2).sum(-1), axis=1) == y).mean() >= 0.95
    _, _, exact = embed.embed("tsne", X, 2, embed.params_for("tsne", {"fft_above": len(X), "max_iter": 500}), seed=3)
    assert exact["strategy"]["solver"] == "barnes_hut"
    _, _, three = embed.embed("tsne", X, 3, p, seed=3)
    assert three["strategy"]["solver"] == "barnes_hut"


def test_opentsne_refuses_more_than_three_dimensions_naming_the_key():
    X, _ = _clusters(n_per=20)
    with pytest.raises(
        ValueError, match=r"'opentsne' embeds into at most 3 dimensions, not 8 \(embeddings.n_components\)"
    ):
        embed.embed("opentsne", X, 8, embed.params_for("opentsne", None), seed=0)


def test_unknown_umap_parameter_is_an_error():
    with pytest.raises(ValueError, match=r"embeddings.umap: unknown parameter\(s\) \['n_neighbours'\]"):
        embed.params_for("umap", {"n_neighbours": 5})


def test_lle_variants_with_too_few_neighbours_fail_with_one_line_naming_the_key():
    X, _ = _clusters(n_per=20)
    with pytest.raises(
        ValueError, match=r"embeddings.lle: method 'modified' into 8 dimensions needs n_neighbors >= 8, not 6"
    ):
        embed.embed("lle", X, 8, embed.params_for("lle", {"method": "modified", "n_neighbors": 6}), seed=0)
    with pytest.raises(ValueError, match=r"method 'hessian' into 2 dimensions needs n_neighbors >= 6, not 5"):
        embed.embed("lle", X, 2, embed.params_for("lle", {"method": "hessian", "n_neighbors": 5}), seed=0)


def test_lle_on_a_disconnected_neighbour_graph_is_flagged_with_its_cause():
    """Four far-apart clusters: the 5-nearest-neighbour graph falls into 4 components and LLE (the default, modified)
    piles whole clusters onto single spots; the check counts them and names the disconnected graph as the cause."""
    from imagespace.report import degeneracy

    X, _ = _clusters(n_per=60, k=4)
    g = degeneracy.neighbour_components(X, 15)
    assert g == {"n_neighbors": 15, "n_components": 4, "sizes": [60, 60, 60, 60]}
    Y, _, info = embed.embed("lle", X, 2, embed.params_for("lle", None), seed=0)
    assert info["params"]["method"] == "modified"
    c = {**degeneracy.check(Y), "method": "lle", "neighbour_graph": g}
    assert c["largest_spot"] >= 60 and c["spot_share"] >= 0.5
    found = degeneracy.problems(
        c, **{k: degeneracy.settings()[k] for k in ("min_spread_ratio", "max_far_share", "max_spot_share")}
    )
    assert "piled onto" in found[0] and "disconnected: 4 components" in found[-1]
