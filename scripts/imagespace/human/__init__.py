"""The human side: the human similarity space of a split, and every comparison of a representation with it.

Plain library code (no Snakemake), one module per concern; the public names are re-exported here
(``from imagespace import human; human.join(...)``), the rest is reached through its module
(``human.paired.bootstrap``):

* ``coordinates``: read a coordinate matrix and join its rows to images by an explicit key (:func:`join`), the
  synthetic set's built-in space, and the check that a space belongs to its images (:func:`label_structure`);
* ``procrustes``: the one Procrustes (:func:`disparity`, :func:`fast_disparity`, :func:`procrustes_disparity`)
  and the reduction of a feature matrix to the human space's dimensions (:func:`reduce_to`); its convention
  on constant input: a constant compared matrix scores exactly 1, a constant human space is an error;
* ``comparison``: the statistics of one (feature set, human space) pair: Procrustes with a shuffled-row
  baseline (:func:`compare`), bootstrap, CKA, all of it in :func:`statistics`;
* ``kinds``: human data as researchers collect it (``human.<split>.kind``): dissimilarity/similarity matrices,
  ratings tables, triplets, read and joined to images;
* ``spaces``: a human space from any kind (MDS, ordinal embedding), :func:`join_data`;
* ``direct``: RDM correlations on observed pairs, triplet accuracy, bootstrap CIs (item resamples shared by every
  feature set), noise ceilings;
* ``splithalf``: the triplet ceiling without repeated triplets (split-half, Spearman–Brown corrected);
* ``scores``: the direct comparisons of one split for every feature set, their paired tests, and the summary's
  part of them;
* ``simulate``: simulated human data of every kind from a known space;
* ``rdm``: RDM correlations (Mantel test), Kendall's tau-a and Spearman's rho-a, category RDMs;
* ``figures``: the permutation histogram and the aligned spaces;
* ``paired``: paired bootstrap inference between feature sets on the same images (``human.paired``);
* ``alignment``: supervised maps from a feature set into the human space (:func:`cross_val_map`);
* ``ensemble``: ensembles of such predictions (greedy selection, ``human.ensemble``);
* ``_resampling``: permutations, chunks, p-values shared by the tests above.
"""

# the entry points re-exported for convenience; those in __all__ meet the standard of a split package
# (numpydoc Parameters/Returns, at most three positional parameters), the others are still to be brought to it
from imagespace._lazy import attach

# every public name and module, loaded from its module on first use (importing the package loads none)
_NAMES = {
    "apply_map": "alignment",
    "cross_val_map": "alignment",
    "extreme_rows": "alignment",
    "floor_scaler": "alignment",
    "make_model": "alignment",
    "principal_axes": "alignment",
    "ARRAY_KEYS": "comparison",
    "bootstrap_disparity": "comparison",
    "compare": "comparison",
    "constant_result": "comparison",
    "linear_cka": "comparison",
    "permutation_test": "comparison",
    "statistics": "comparison",
    "builtin_synthetic": "coordinates",
    "join": "coordinates",
    "label_structure": "coordinates",
    "own_images": "coordinates",
    "read_matrix": "coordinates",
    "item_draws": "direct",
    "noise_ceiling": "direct",
    "rdm_draws": "direct",
    "rdm_scores": "direct",
    "triplet_ceiling": "direct",
    "triplet_draws": "direct",
    "triplet_hits": "direct",
    "triplet_scores": "direct",
    "plot_aligned": "figures",
    "plot_permutation": "figures",
    "CONSTANT_DISPARITY": "procrustes",
    "as_finite_matrix": "procrustes",
    "disparity": "procrustes",
    "fast_disparity": "procrustes",
    "is_constant": "procrustes",
    "procrustes_disparity": "procrustes",
    "reduce_to": "procrustes",
    "thin_svd": "procrustes",
    "category_rdm": "rdm",
    "category_rdms": "rdm",
    "category_tau_a_max": "rdm",
    "kendall_tau_a": "rdm",
    "rdm_compare": "rdm",
    "spearman_rho_a": "rdm",
    "direct_bootstrap": "scores",
    "observed": "scores",
    "paired_markdown": "scores",
    "paired_rows": "scores",
    "split_markdown": "scores",
    "split_scores": "scores",
    "summary_markdown": "scores",
    "summary_section": "scores",
    "versus_runner_up": "scores",
    "declared_dims": "spaces",
    "join_data": "spaces",
    "mds": "scaling",
    "soe": "ordinal",
    "stress_curve": "scaling",
    "triplet_accuracy": "ordinal",
    "corrected_ceiling": "splithalf",
    "triplet_split_half": "splithalf",
}
__getattr__, __dir__ = attach(__name__, _NAMES, globals())

__all__ = [
    # the one Procrustes
    "CONSTANT_DISPARITY",
    "disparity",
    # human data as researchers collect it -> a human space
    "join_data",
    "declared_dims",
    "mds",
    "soe",
    "stress_curve",
    "triplet_accuracy",
    # direct comparisons and noise ceilings
    "noise_ceiling",
    "rdm_scores",
    "triplet_ceiling",
    "triplet_scores",
    "triplet_split_half",
    "corrected_ceiling",
    "observed",
    "split_scores",
    # the paired tests of the direct statistic, on item resamples shared by every feature set
    "item_draws",
    "rdm_draws",
    "triplet_hits",
    "triplet_draws",
    "direct_bootstrap",
    "paired_rows",
    # what the summary shows of them
    "summary_section",
    "summary_markdown",
    "versus_runner_up",
    "paired_markdown",
    "split_markdown",
]
