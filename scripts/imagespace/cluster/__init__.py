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

from imagespace._lazy import attach

# every public name and module, loaded from its module on first use (importing the package loads none)
_NAMES = {
    "NOISE_LABEL": "_base",
    "ClusterResult": "_base",
    "DBSCAN_CRITERIA": "_dbscan_eps",
    "DBSCAN_MIN_SAMPLES": "_dbscan_eps",
    "EPS_QUANTILES": "_dbscan_eps",
    "PRECOMPUTE_MAX": "_dbscan_eps",
    "SCAN_COLUMNS": "_dbscan_eps",
    "choose_eps": "_dbscan_eps",
    "core_distances": "_dbscan_eps",
    "dbscan_candidate": "_dbscan_eps",
    "dbscan_scan": "_dbscan_eps",
    "kdistance": "_dbscan_eps",
    "min_samples_grid": "_dbscan_eps",
    "null_scan_score": "_dbscan_eps",
    "fit_dbscan": "_density",
    "fit_dbscan_auto": "_density",
    "fit_hdbscan": "_density",
    "fit_hdbscan_large": "_density",
    "plot_dbscan_scan": "_figures",
    "plot_dendrogram": "_figures",
    "plot_gmm_scan": "_figures",
    "plot_kdistance": "_figures",
    "plot_kmeans_scan": "_figures",
    "plot_silhouette_diagram": "_figures",
    "plot_silhouette_grid": "_figures",
    "plot_silhouette_scan": "_figures",
    "GALLERY_CLUSTERS": "_gallery",
    "MEDOID_SAMPLE": "_gallery",
    "gallery": "_gallery",
    "medoid_rows": "_gallery",
    "plot_cluster_sizes": "_gallery",
    "plot_medoids": "_gallery",
    "agglomerative_scan": "_hierarchical",
    "build_tree": "_hierarchical",
    "cut_tree": "_hierarchical",
    "fit_agglomerative": "_hierarchical",
    "fit_agglomerative_large": "_hierarchical",
    "fit_kmeans": "_kmeans",
    "kmeans_scan": "_kmeans",
    "kmeans_scan_models": "_kmeans",
    "fit_gmm": "_mixture",
    "gmm_samples": "_mixture",
    "gmm_scan": "_mixture",
    "gmm_scan_models": "_mixture",
    "gmm_scan_row": "_mixture",
    "METHODS": "_run",
    "WORKING_MEMORY_MB": "_run",
    "Context": "_run",
    "Method": "_run",
    "finish": "_run",
    "load_rows": "_run",
    "nearest_rows": "_run",
    "run": "_run",
    "SCALINGS": "_scaling",
    "scale_features": "_scaling",
    "scaling_record": "_scaling",
    "unscale_features": "_scaling",
    "SELECT_CRITERIA": "_scoring",
    "hungarian_accuracy": "_scoring",
    "k_range": "_scoring",
    "majority_accuracy": "_scoring",
    "majority_mapping": "_scoring",
    "resolve_k": "_scoring",
    "score_clustering": "_scoring",
    "select_k": "_scoring",
}
__getattr__, __dir__ = attach(__name__, _NAMES, globals())

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
