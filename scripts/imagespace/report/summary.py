"""The per-dataset summary's data: :func:`build` reads the result files and returns one dict (summary.json).

The dict is made by the section builders of :data:`SECTIONS`, in order: each takes ``(out, inputs, settings)``
and adds its keys (and warnings) to *out*. The Markdown page is made from that dict by
:mod:`imagespace.report.page`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from imagespace.report import checks, ranking, sections


@dataclass(frozen=True)
class SummaryInputs:
    """The result files one dataset's summary reads (paths; every list may be empty).

    ``maps``: the maps' descriptions (maps/<method>.json, and the CNN feature maps' json); ``paired``: the
    paired-bootstrap tables (compare/paired_<split>.tsv), None = those next to the *compare* results, where they
    exist; ``backbones``: the backbones' features.json; ``ensembles``: the weights files of greedy ensembles
    (alignment/ensemble_<name>.json); ``finetune``: the fine-tuned networks' training.json; ``retrieval``: the
    retrieval results (json); ``explore``: the interactive map's description (explore/map.json, next to
    map.html); ``more``: the files of sections added later, by a name of the section's choosing.
    """

    ingest: str
    pca: str
    embed: Sequence[str] = ()
    maps: Sequence[str] = ()
    clustering: Sequence[str] = ()
    compare: Sequence[str] = ()
    human: Sequence[str] = ()
    cnn: Sequence[str] = ()
    maps_human: Sequence[str] = ()
    predicted: Sequence[str] = ()
    evaluation: Sequence[str] = ()
    probes: Sequence[str] = ()
    paired: Sequence[str] | None = None
    backbones: Sequence[str] = ()
    ensembles: Sequence[str] = ()
    finetune: Sequence[str] = ()
    retrieval: Sequence[str] = ()
    explore: Sequence[str] = ()
    more: Mapping[str, Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class SummarySettings:
    """The settings that decide what the summary says.

    ``train_split``: the split the maps into the human space are trained on; the leaderboard's chosen
    representation is the one with the lowest out-of-fold disparity there
    (:func:`imagespace.report.select_representation`), so no held-out split ever selects. ``fitted_on``: {feature
    set: why its *train_split* score is not held out}; those are not chosen. ``predicted_from``: the dataset whose
    models predicted this one's human space (None: its own). Classes with fewer than ``small_class_warning`` images
    (augmented copies not counted) and maps with a trustworthiness under ``min_trustworthiness`` are warnings.
    ``fixed``: settings fixed in the config that a user may have tuned ({name: value}), listed under ``choices`` as
    "fixed in the config". ``notes``: what the defaults left out and why (a backbone skipped), listed atop
    summary.md after the warnings. ``degeneracy``: the warning thresholds of ``embeddings.degeneracy``
    (min_spread_ratio, max_far_share, max_spot_share) applied to every map's and embedding's stored degeneracy
    numbers (:func:`imagespace.report.degeneracy.problems`). ``human_kinds``: {split: the kind of its human data}
    (a split given as coordinates has no noise ceiling, and the summary says so). ``curation_warn_above``: the
    estimated label-noise rate above which the curation section warns (``curation.warn_above``).
    """

    train_split: str = "train"
    predicted_from: str | None = None
    fitted_on: Mapping[str, str] | None = None
    small_class_warning: int = 0
    min_trustworthiness: float = 0.0
    fixed: Mapping | None = None
    notes: Sequence[str] = ()
    degeneracy: Mapping | None = None
    human_kinds: Mapping[str, str] | None = None
    curation_warn_above: float = 0.02


#: a section builder: adds its keys (and warnings) to the summary being built
Section = Callable[[dict, SummaryInputs, SummarySettings], None]

#: the section builders, in summary.json's order; a new section is one function here (and, for the page, one
#: renderer in :data:`imagespace.report.page.RENDERERS`)
SECTIONS: list[Section] = [
    sections.overview,
    sections.backbones,
    sections.ensemble_weights,
    sections.finetune,
    sections.classification,
    sections.probes,
    sections.retrieval,
    sections.interactive_map,
    sections.predicted_human_space,
    sections.human_maps,
    sections.cnn,
    sections.embeddings_and_maps,
    sections.clustering,
    sections.compare,
    sections.human_checks,
    ranking.alignment,
    ranking.choices_section,
    sections.human_data,
    sections.curation,
    checks.ingest_warnings,
    checks.quality_warnings,
    sections.headline,
]


def build(dataset: str, inputs: SummaryInputs, settings: SummarySettings | None = None) -> dict:
    """The summary of one dataset: every section of :data:`SECTIONS`, in order.

    Parameters
    ----------
    dataset : str
        The dataset's name.
    inputs : SummaryInputs
        The result files to read.
    settings : SummarySettings, optional
        What decides the choices and warnings (defaults: :class:`SummarySettings`).

    Returns
    -------
    dict
        The summary (summary.json): one key per section, ``warnings`` (degenerate or doubtful results, one line
        each), ``notes`` and the ``headline`` the page leads with.
    """
    settings = settings or SummarySettings()
    out = {"dataset": dataset}
    for section in SECTIONS:
        section(out, inputs, settings)
    return out
