"""Clustering of feature matrices: fits, model-selection scans, scoring and figures.

Plain library code (no Snakemake), one private module per concern, as scikit-learn's ``sklearn/cluster``;
the public names are re-exported here (``from imagespace import cluster; cluster.fit_kmeans(...)``):

* ``_kmeans``: K-Means (:func:`fit_kmeans`, the scan over k);
* ``_mixture``: Gaussian mixtures (:func:`fit_gmm`, the scan over k, samples);
* ``_density``: DBSCAN (with eps chosen by a label-free scan: :func:`fit_dbscan_auto`) and HDBSCAN;
* ``_dbscan_eps``: how DBSCAN's eps is chosen (the k-distance knee, the scan over core-distance quantiles);
* ``_hierarchical``: agglomerative clustering (one SciPy tree cut at k);
* ``_scoring``: scores against class labels, the choice of k from a scan;
* ``_scaling``: the matrix that is clustered (as given or standardized);
* ``_figures``: the figures of model selection and cluster quality (scans, silhouettes, dendrograms);
* ``_gallery``: the figures of what the clusters hold (sizes by class, example images, medoids);
* ``_run``: what a rule ``cluster_<method>`` runs (the method table :data:`METHODS` and :func:`run`);
* ``_base``: :class:`ClusterResult`, :data:`NOISE_LABEL` and the input checks.

Conventions
-----------
* Every ``fit_*`` function returns a :class:`ClusterResult` (labels, model, scan, extra).
* Every function takes a float feature matrix ``X`` of shape ``(n, d)`` (float32 or float64 are used as
  given; any other dtype is converted to float64 once). Everything that involves randomness takes an
  explicit ``seed``, so a given seed always gives identical results.
* The noise label :data:`NOISE_LABEL` (-1) of DBSCAN and HDBSCAN is never treated as a cluster when
  matching clusters to classes (noise points always count as wrongly labelled).
* Labels are never used to choose anything: scans (k, DBSCAN's eps and min_samples) are scored by
  unsupervised criteria only.
"""

from ._base import NOISE_LABEL, ClusterResult
from ._dbscan_eps import (
    DBSCAN_CRITERIA,
    DBSCAN_MIN_SAMPLES,
    EPS_QUANTILES,
    PRECOMPUTE_MAX,
    SCAN_COLUMNS,
    choose_eps,
    core_distances,
    dbscan_candidate,
    dbscan_scan,
    kdistance,
    min_samples_grid,
    null_scan_score,
)
from ._density import fit_dbscan, fit_dbscan_auto, fit_hdbscan, fit_hdbscan_large
from ._figures import (
    plot_dbscan_scan,
    plot_dendrogram,
    plot_gmm_scan,
    plot_kdistance,
    plot_kmeans_scan,
    plot_silhouette_diagram,
    plot_silhouette_grid,
    plot_silhouette_scan,
)
from ._gallery import GALLERY_CLUSTERS, MEDOID_SAMPLE, gallery, medoid_rows, plot_cluster_sizes, plot_medoids
from ._hierarchical import agglomerative_scan, build_tree, cut_tree, fit_agglomerative, fit_agglomerative_large
from ._kmeans import fit_kmeans, kmeans_scan, kmeans_scan_models
from ._mixture import fit_gmm, gmm_samples, gmm_scan, gmm_scan_models, gmm_scan_row
from ._run import METHODS, WORKING_MEMORY_MB, Context, Method, finish, load_rows, nearest_rows, run
from ._scaling import SCALINGS, scale_features, scaling_record, unscale_features
from ._scoring import (
    SELECT_CRITERIA,
    hungarian_accuracy,
    k_range,
    majority_accuracy,
    majority_mapping,
    resolve_k,
    score_clustering,
    select_k,
)

__all__ = [
    # the result and the noise label
    "ClusterResult",
    "NOISE_LABEL",
    # K-Means
    "fit_kmeans",
    "kmeans_scan",
    "kmeans_scan_models",
    # Gaussian mixtures
    "fit_gmm",
    "gmm_scan",
    "gmm_scan_models",
    "gmm_scan_row",
    "gmm_samples",
    # density: DBSCAN, its eps choice, HDBSCAN
    "fit_dbscan",
    "fit_dbscan_auto",
    "fit_hdbscan",
    "fit_hdbscan_large",
    "kdistance",
    "choose_eps",
    "core_distances",
    "dbscan_candidate",
    "dbscan_scan",
    "min_samples_grid",
    "null_scan_score",
    "EPS_QUANTILES",
    "DBSCAN_MIN_SAMPLES",
    "DBSCAN_CRITERIA",
    "PRECOMPUTE_MAX",
    "SCAN_COLUMNS",
    # agglomerative
    "fit_agglomerative",
    "fit_agglomerative_large",
    "build_tree",
    "cut_tree",
    "agglomerative_scan",
    # scoring and the choice of k
    "hungarian_accuracy",
    "majority_mapping",
    "majority_accuracy",
    "score_clustering",
    "select_k",
    "resolve_k",
    "k_range",
    "SELECT_CRITERIA",
    # scaling
    "scale_features",
    "unscale_features",
    "scaling_record",
    "SCALINGS",
    # figures
    "plot_kmeans_scan",
    "plot_silhouette_diagram",
    "plot_gmm_scan",
    "plot_kdistance",
    "plot_dbscan_scan",
    "plot_dendrogram",
    "plot_cluster_sizes",
    "plot_silhouette_scan",
    "plot_silhouette_grid",
    "gallery",
    "medoid_rows",
    "plot_medoids",
    "GALLERY_CLUSTERS",
    "MEDOID_SAMPLE",
    # the rules
    "METHODS",
    "Method",
    "Context",
    "run",
    "finish",
    "load_rows",
    "nearest_rows",
    "WORKING_MEMORY_MB",
]
