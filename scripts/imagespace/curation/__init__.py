"""Curation: likely mislabelled images, outliers and near-duplicates, ranked for review.

Plain library code (no Snakemake), one private module per concern; the public names are re-exported here
(``from imagespace import curation; curation.label_issues(...)``). cleanlab, scikit-learn and matplotlib are
imported inside the functions that use them.

* ``_select``: which feature sets the verdicts rest on (:func:`choose_feature_sets`: the probed sets not at chance)
  and the best probe classifier of each;
* ``_probs``: class probabilities, out of fold on the training split with the probes' folds and seed, from
  models fitted on it for the held-out splits (:func:`probabilities`);
* ``_labels``: cleanlab's confident learning on the sets' mean probabilities (:func:`label_issues`);
* ``_outliers``: k-nearest-neighbour distances (cleanlab's ``OutOfDistribution`` feature score, :func:`outlier_scores`);
* ``_table``: the review table ``issues.tsv`` and the per-image ``scores.tsv``;
* ``_gallery``: the galleries ``label_issues.png`` and ``outliers.png``;
* ``_summary``: the section of summary.json and summary.md;
* ``_act``: the opt-in actions (``curation.exclude``: :func:`exclude_flagged`; ``curation.relabel``:
  :func:`read_relabel`, :func:`apply_relabel`);
* ``_run``: what the rule ``label_issues`` runs (:func:`curate`, :func:`write_outputs`).
"""

from ._act import EXCLUDE, apply_relabel, exclude_flagged, read_relabel
from ._gallery import GALLERY_OUTLIERS, GALLERY_ROWS, plot_label_issues, plot_outliers, typical_examples
from ._labels import LABEL_COLUMNS, MIN_ODDS, label_issues, noise_rate
from ._outliers import FENCE_IQR, outlier_scores, relative_knn_distance
from ._probs import labels_and_splits, out_of_fold, probabilities
from ._run import common_ids, curate, write_outputs
from ._select import BLENDED, CHANCE_MARGIN, DEFAULT_KINDS, NEAR_BEST, choose_feature_sets, probe_verdict
from ._summary import summary_markdown, summary_section
from ._table import ISSUE_COLUMNS, KINDS, SCORE_COLUMNS, issues_table, scores_table

__all__ = [
    "BLENDED",
    "CHANCE_MARGIN",
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
    "apply_relabel",
    "choose_feature_sets",
    "common_ids",
    "curate",
    "exclude_flagged",
    "issues_table",
    "label_issues",
    "labels_and_splits",
    "noise_rate",
    "out_of_fold",
    "outlier_scores",
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
