"""What a run reports: the per-dataset summary (summary.json and summary.md), its headline, the leaderboard, the
interactive page, the figures of the maps and the checks of degenerate results.

Plain library code (no Snakemake): paths, arrays and settings in; dicts, text and figures out. The public names are
re-exported here (``from imagespace import report; report.build(...)``); importing the package imports neither
matplotlib, bokeh, scikit-learn, TensorFlow nor PyTorch (the functions that draw or fit import them).

* ``summary``: :func:`build` (:class:`SummaryInputs` and :class:`SummarySettings` in, the summary dict out) and the
  section registry :data:`SECTIONS`;
* ``sections``: the section builders (one per section of summary.json), ``checks``: the warnings about inputs and
  results, ``ranking``: the leaderboard, the chosen representation, the paired comparisons and the choices;
* ``page``: the page (:func:`markdown`) and its renderer registry :data:`RENDERERS`; ``md_leaderboard``,
  ``md_sections``: the renderers; ``md_format``: how numbers and p-values are written;
* ``headline``: the answer the page leads with; ``degeneracy``: collapsed or far-point-dominated maps;
* ``plots``: the figures of the PCA and the maps, the leaderboard figure, :func:`display_image`;
* ``explore``: the interactive page (Bokeh); ``clustermaps``: clusterings drawn on the 2-D maps.

Adding a section
----------------
A section (say, the human data's noise ceilings) is one builder and one renderer:

1. ``def noise_ceilings(out, inputs, settings) -> None`` in :mod:`.sections`: read the section's files (a new
   field of :class:`SummaryInputs`, or ``inputs.more["noise_ceilings"]``), put its data under its own key of *out*
   and append its warnings (one line each) to ``out["warnings"]``; then one entry in :data:`SECTIONS` (its place
   there is its place in summary.json; the warnings' checks come after every section that fills what they read).
2. ``def noise_ceilings(s) -> list[str]`` in :mod:`.md_sections`: the section's lines of summary.md (none when it
   is empty); then one entry in :data:`RENDERERS` (its place there is its place on the page).

The rule script (scripts/summary.py) passes the rule's input files to :class:`SummaryInputs`.
"""

from imagespace._lazy import attach

# every public name and module, loaded from its module on first use (importing the package loads none)
_NAMES = {
    "clustermaps": "",
    "degeneracy": "",
    "explore": "",
    "headline": "",
    "plots": "",
    "CHOSEN_SKIPS": "checks",
    "clustering_warnings": "checks",
    "degeneracy_warnings": "checks",
    "degenerate_clustering": "checks",
    "duplicate_warnings": "checks",
    "small_class_warnings": "checks",
    "trustworthiness_warnings": "checks",
    "selection_line": "md_format",
    "markdown_paired": "md_leaderboard",
    "RENDERERS": "page",
    "markdown": "page",
    "display_image": "plots",
    "plot_leaderboard": "plots",
    "choices": "ranking",
    "leaderboard": "ranking",
    "paired_summary": "ranking",
    "paired_tables": "ranking",
    "select_representation": "ranking",
    "split_order": "ranking",
    "SECTIONS": "summary",
    "SummaryInputs": "summary",
    "SummarySettings": "summary",
    "build": "summary",
}
__getattr__, __dir__ = attach(__name__, _NAMES, globals())

__all__ = [
    "CHOSEN_SKIPS",
    "RENDERERS",
    "SECTIONS",
    "SummaryInputs",
    "SummarySettings",
    "build",
    "choices",
    "clustering_warnings",
    "clustermaps",
    "degeneracy",
    "degeneracy_warnings",
    "degenerate_clustering",
    "display_image",
    "duplicate_warnings",
    "explore",
    "headline",
    "leaderboard",
    "markdown",
    "markdown_paired",
    "paired_summary",
    "paired_tables",
    "plot_leaderboard",
    "plots",
    "select_representation",
    "selection_line",
    "small_class_warnings",
    "split_order",
    "trustworthiness_warnings",
]
