import sys
from pathlib import Path

# imagespace: images -> arrays -> PCA / manifold embeddings -> clusters -> comparison with a human space -> report
#
#   snakemake --cores 2                                    # the embedded default (digits + synthetic)
#   snakemake --cores 2 --configfile configs/rocks.yaml    # the rocks
#   snakemake --report report.html                         # every figure and table, browsable


configfile: "config.yaml"


# the method tables of the library name the methods a wildcard may take
sys.path.insert(0, str(Path(workflow.basedir) / "scripts"))
from imagespace.embed import METHODS as EMBEDDINGS  # noqa: E402
from imagespace.cluster import METHODS as CLUSTER_METHODS  # noqa: E402


wildcard_constraints:
    # the schema's rule for names too: a letter first, so no name climbs out of results/
    dataset=r"[A-Za-z][A-Za-z0-9_\-]*",
    split=r"[A-Za-z][A-Za-z0-9_\-]*",
    fs=r"[A-Za-z0-9_]+",
    method="|".join(EMBEDDINGS),
    mapmethod="|".join(["pca", *EMBEDDINGS]),
    variant=r"cnn(_[A-Za-z0-9]+)?",
    base=r"[A-Za-z0-9_]+",
    name=r"[A-Za-z0-9]+",
    clm="|".join(CLUSTER_METHODS),


include: "workflow/rules/common.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/pca.smk"
include: "workflow/rules/embed.smk"
include: "workflow/rules/stats.smk"
include: "workflow/rules/cnn.smk"
include: "workflow/rules/backbones.smk"
include: "workflow/rules/finetune.smk"
include: "workflow/rules/cluster.smk"
include: "workflow/rules/clustermaps.smk"
include: "workflow/rules/alignment.smk"
include: "workflow/rules/compare.smk"
include: "workflow/rules/human_data.smk"
include: "workflow/rules/probes.smk"
include: "workflow/rules/curation.smk"
include: "workflow/rules/retrieval.smk"
include: "workflow/rules/explore.smk"
include: "workflow/rules/report.smk"


report: "workflow/report/workflow.rst"


rule all:
    default_target: True
    input:
        all_targets(),
