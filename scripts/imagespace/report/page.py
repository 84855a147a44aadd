"""The summary page (summary.md) from the summary's data: the header (headline, images, classes, PCA), the
warnings and notes, then one block per renderer of :data:`RENDERERS`, in order."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from imagespace.report import headline, md_leaderboard, md_sections
from imagespace.report.checks import CHOSEN_SKIPS
from imagespace.report.md_format import num, selection_line, some


def header(s: dict) -> list[str]:
    """Renderer: the title, the headline, the images, classes, duplicates, selection and PCA."""
    pc = s["pca"]
    d = s.get("ingest") or {}
    sel = d.get("selection") or {}
    chosen = sum(v for k, v in s["skipped_by_kind"].items() if k in CHOSEN_SKIPS)
    return [
        f"# imagespace summary: {s['dataset']}",
        "",
        *headline.markdown(s.get("headline") or {}),
        f"- images: **{s['n_images']}** ({', '.join(f'{k}: {v}' for k, v in s['splits'].items())}), "
        f"shape {s['image_shape']}, skipped {s['n_skipped']}"
        + (f" ({chosen} of them left out by the selection settings)" if chosen else ""),
        f"- classes: {', '.join(f'{k} ({v})' for k, v in s['classes'].items())}",
        *(
            [
                f"- duplicates: {d['duplicate_groups']} groups ({d['duplicate_images']} images), "
                f"{d['cross_split_duplicates']} spanning splits, {d['mixed_label_duplicates']} with different labels, "
                f"{d['dropped']} dropped (ingest/duplicates.tsv)"
            ]
            if d.get("duplicate_groups") is not None
            else []
        ),
        *([f"- selection: {selection_line(sel)}"] if sel and selection_line(sel) else []),
        f"- PCA ({pc['method']}, fitted on {pc['fit_split']}, {pc['n_fit']} × {pc['n_features']}): "
        f"**{pc['n_components_for_threshold']}** components for > {pc['threshold']:.0%} variance; "
        f"PC1 {pc['pc1_variance_ratio']:.3f}, PC2 {num(pc['pc2_variance_ratio'])}",
        "",
    ]


def warnings_and_notes(s: dict) -> list[str]:
    """Renderer: every warning, then the notes (what the defaults left out and why)."""
    lines = []
    if s["warnings"]:
        lines += ["## Warnings", ""] + [f"- {w}" for w in s["warnings"]] + [""]
    if s.get("notes"):
        lines += ["## Notes", ""] + [f"- {n}" for n in s["notes"]] + [""]
    return lines


def interactive_map(s: dict) -> list[str]:
    """Renderer: a link to the interactive page and what it shows."""
    im = s.get("interactive_map")
    if not im:
        return []
    page = Path(im["page"]).name
    return [
        f"**Interactive map: [{page}](explore/{page})** (open it in a browser, "
        f"offline): {im['n_points']} images on {len(im['maps'])} maps ({some(im['maps'])}), coloured by any of "
        f"{len(im['colourings'])} variables ({some(im['colourings'])}); hover a point for its image "
        f"({im['n_thumbnails']} with a thumbnail), highlight a class or cluster.",
        "",
    ]


#: a renderer: the summary in, the page's lines of one section out (none when the section is empty)
Renderer = Callable[[dict], list]

#: the page's blocks, in order; a new section's block is one function here
RENDERERS: list[Renderer] = [
    header,
    warnings_and_notes,
    interactive_map,
    md_leaderboard.alignment,
    md_sections.human_data,
    md_sections.curation,
    md_sections.backbones,
    md_sections.finetune,
    md_sections.probes,
    md_sections.retrieval,
    md_sections.classification,
    md_sections.compare,
    md_sections.clustering,
    md_sections.human_checks,
    md_sections.cnn,
    md_sections.predicted_human_space,
    md_sections.trustworthiness,
    md_sections.embeddings,
]


def markdown(s: dict) -> str:
    """The summary page: every block of :data:`RENDERERS`, in order.

    Parameters
    ----------
    s : dict
        The summary (:func:`imagespace.report.build`).

    Returns
    -------
    str
        The Markdown text (without a final newline).
    """
    lines = []
    for render in RENDERERS:
        lines += render(s)
    return "\n".join(lines)
