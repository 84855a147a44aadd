"""The README is a short front door, the manual in docs/ is complete and its links resolve, the benchmark
table is what benchmarks/table.py makes from the JSON now, and no doc names a folder of one machine."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
TABLE = ROOT / "benchmarks" / "results" / "README.md"

# every Markdown file this project ships as documentation
DOC_FILES = [README, *sorted(DOCS.glob("*.md")), ROOT / "benchmarks" / "README.md", TABLE]

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
MACHINE_FOLDER = re.compile(r"/(opt|work|tmp)/")


def _links(path):
    """Relative link targets of a Markdown file (no URLs, no in-page anchors), without their #fragment."""
    text = path.read_text()
    # code blocks and code spans are not links
    text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    text = re.sub(r"`[^`\n]*`", "", text)
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue
        yield target.split("#", 1)[0]


def test_readme_is_at_most_200_lines():
    n = len(README.read_text().splitlines())
    assert n <= 200, f"README.md has {n} lines; the manual belongs in docs/"


def test_quick_start_is_exactly_make_run_and_make_test():
    text = README.read_text()
    section = text.split("## Quick start", 1)
    assert len(section) == 2, "README.md has no '## Quick start' section"
    block = re.search(r"```[a-z]*\n(.*?)```", section[1], flags=re.DOTALL)
    assert block, "the quick start has no code block"
    commands = [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]
    assert [c for c in commands if c] == ["make run", "make test"]


def test_the_link_finder_finds_links():
    # the checks below would pass vacuously if the pattern matched nothing
    assert len(list(_links(README))) >= 10
    assert any(t == "../benchmarks/results/README.md" for t in _links(DOCS / "performance.md"))


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_existing_files(path):
    assert path.exists(), path
    missing = [t for t in _links(path) if not (path.parent / t).exists()]
    assert not missing, f"{path.relative_to(ROOT)}: links to missing files {missing}"


def test_every_page_listed_in_the_index_exists_and_every_page_is_listed():
    listed = {t for t in _links(DOCS / "index.md") if not t.startswith("..")}
    stage_pages = {
        "datasets.md",
        "embeddings.md",
        "clustering.md",
        "cnn.md",
        "backbones.md",
        "human-alignment.md",
        "exploration.md",
        "cluster-slurm.md",
        "performance.md",
    }
    assert stage_pages <= listed, f"docs/index.md does not list {sorted(stage_pages - listed)}"
    for page in listed:
        assert (DOCS / page).is_file(), f"docs/index.md lists {page}, which does not exist"
    unlisted = {p.name for p in DOCS.glob("*.md")} - listed - {"index.md"}
    assert not unlisted, f"docs pages missing from docs/index.md: {sorted(unlisted)}"


def test_benchmark_table_is_generated_from_the_json_now(tmp_path):
    out = tmp_path / "README.md"
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "table.py"), "--out", str(out)], check=True, capture_output=True
    )
    assert TABLE.read_text() == out.read_text(), "benchmarks/results/README.md is stale: run python benchmarks/table.py"
    # one row per result file
    n_json = len(list((ROOT / "benchmarks" / "results").glob("*.json")))
    rows = [line for line in out.read_text().splitlines() if line.startswith("| [`")]
    assert n_json > 0 and len(rows) == n_json


def test_benchmark_table_follows_the_json(tmp_path):
    # a changed number in a result file changes the table: the table is not a copy
    results = tmp_path / "results"
    results.mkdir()
    src = json.loads((ROOT / "benchmarks" / "results" / "dryrun_1m.json").read_text())
    src["dry_run"]["wall_s"] = 98.76
    src["commit"] = "0123456789abcdef"
    (results / "dryrun_1m.json").write_text(json.dumps(src))
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "table.py"), "--results", str(results)],
        check=True,
        capture_output=True,
    )
    table = (results / "README.md").read_text()
    assert "dry run 98.76 s" in table and "0123456789ab" in table


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_doc_names_a_folder_of_one_machine(path):
    hits = [
        f"{i}: {line.strip()}" for i, line in enumerate(path.read_text().splitlines(), 1) if MACHINE_FOLDER.search(line)
    ]
    assert not hits, f"{path.relative_to(ROOT)} names a machine-only folder:\n" + "\n".join(hits)
