"""Curation: likely mislabelled images, outliers and near-duplicates, ranked for review.

Plain library code (no Snakemake), one private module per concern; the public names are re-exported here
(``from imagespace import curation; curation.label_issues(...)``). cleanlab, scikit-learn and matplotlib are
imported inside the functions that use them.

* ``_select``: which feature sets the verdicts rest on (:func:`choose_feature_sets`: the probed sets not at chance)
  and the best probe classifier of each;
* ``_probs``: class probabilities, out of fold on the training split with the probes' folds and seed, from
  models fitted on it for the held-out splits (:func:`probabilities`);
* ``_labels``: cleanlab's confident learning on the sets' mean probabilities (:func:`label_issues`);
* ``_outliers``: k-nearest-neighbour distances (cleanlab's ``OutOfDistribution`` feature score, :func:`outlier_scores`)
  over the candidate sets and the images' appearance descriptor (:func:`appearance_features`);
* ``_table``: the review table ``issues.tsv`` and the per-image ``scores.tsv``;
* ``_gallery``: the galleries ``label_issues.png`` and ``outliers.png``;
* ``_summary``: the section of summary.json and summary.md;
* ``_act``: the opt-in actions, the curated manifest the fits read (:func:`curated_manifest`;
  ``curation.exclude``: :func:`exclude_flagged`; ``curation.relabel``: :func:`read_relabel`, :func:`apply_relabel`);
* ``_run``: what the rule ``label_issues`` runs (:func:`curate`, :func:`write_outputs`).
"""

from imagespace._lazy import attach

# every public name and module, loaded from its module on first use (importing the package loads none)
_NAMES = {
    "CURATED": "_act",
    "EXCLUDE": "_act",
    "apply_relabel": "_act",
    "curated_manifest": "_act",
    "exclude_flagged": "_act",
    "read_relabel": "_act",
    "GALLERY_OUTLIERS": "_gallery",
    "GALLERY_ROWS": "_gallery",
    "plot_label_issues": "_gallery",
    "plot_outliers": "_gallery",
    "typical_examples": "_gallery",
    "LABEL_COLUMNS": "_labels",
    "MIN_ODDS": "_labels",
    "label_issues": "_labels",
    "noise_rate": "_labels",
    "APPEARANCE": "_outliers",
    "FENCE_IQR": "_outliers",
    "appearance_features": "_outliers",
    "outlier_scores": "_outliers",
    "relative_knn_distance": "_outliers",
    "labels_and_splits": "_probs",
    "out_of_fold": "_probs",
    "probabilities": "_probs",
    "common_ids": "_run",
    "curate": "_run",
    "outlier_views": "_run",
    "write_outputs": "_run",
    "BLENDED": "_select",
    "CHANCE_MARGIN": "_select",
    "DEFAULT_KINDS": "_select",
    "NEAR_BEST": "_select",
    "choose_feature_sets": "_select",
    "probe_verdict": "_select",
    "summary_markdown": "_summary",
    "summary_section": "_summary",
    "ISSUE_COLUMNS": "_table",
    "KINDS": "_table",
    "SCORE_COLUMNS": "_table",
    "issues_table": "_table",
    "scores_table": "_table",
}
__getattr__, __dir__ = attach(__name__, _NAMES, globals())

__all__ = [
    "APPEARANCE",
    "BLENDED",
    "CHANCE_MARGIN",
    "CURATED",
    "DEFAULT_KINDS",
    "EXCLUDE",
    "FENCE_IQR",
    "GALLERY_OUTLIERS",
    "GALLERY_ROWS",
    "ISSUE_COLUMNS",
    "KINDS",
    "LABEL_COLUMNS",
    "MIN_ODDS",
    "NEAR_BEST",
    "SCORE_COLUMNS",
    "appearance_features",
    "apply_relabel",
    "choose_feature_sets",
    "common_ids",
    "curate",
    "curated_manifest",
    "exclude_flagged",
    "issues_table",
    "label_issues",
    "labels_and_splits",
    "noise_rate",
    "out_of_fold",
    "outlier_scores",
    "outlier_views",
    "plot_label_issues",
    "plot_outliers",
    "probabilities",
    "probe_verdict",
    "read_relabel",
    "relative_knn_distance",
    "scores_table",
    "summary_markdown",
    "summary_section",
    "typical_examples",
    "write_outputs",
]
