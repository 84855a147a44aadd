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
* ``direct``: RDM correlations on observed pairs, triplet accuracy, bootstrap CIs, noise ceilings;
* ``scores``: the direct comparisons of one split for every feature set, and the summary's part of them;
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
from .alignment import apply_map, cross_val_map, extreme_rows, floor_scaler, make_model, principal_axes  # noqa: F401
from .comparison import (  # noqa: F401
    ARRAY_KEYS,
    bootstrap_disparity,
    compare,
    constant_result,
    linear_cka,
    permutation_test,
    statistics,
)
from .coordinates import builtin_synthetic, join, label_structure, own_images, read_matrix  # noqa: F401
from .direct import noise_ceiling, rdm_scores, triplet_ceiling, triplet_scores
from .figures import plot_aligned, plot_permutation  # noqa: F401
from .procrustes import (  # noqa: F401
    CONSTANT_DISPARITY,
    as_finite_matrix,
    disparity,
    fast_disparity,
    is_constant,
    procrustes_disparity,
    reduce_to,
    thin_svd,
)
from .rdm import category_rdm, category_rdms, category_tau_a_max, kendall_tau_a, rdm_compare, spearman_rho_a  # noqa: F401
from .scores import observed, split_scores, summary_markdown, summary_section
from .spaces import declared_dims, join_data, mds, soe, stress_curve, triplet_accuracy

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
    "observed",
    "split_scores",
    # what the summary shows of them
    "summary_section",
    "summary_markdown",
]
