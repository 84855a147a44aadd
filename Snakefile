# imagespace: images -> arrays -> PCA / manifold embeddings -> clusters -> comparison with a human space -> report
#
#   snakemake --cores 2                                    # the embedded default (digits + synthetic)
#   snakemake --cores 2 --configfile configs/rocks.yaml    # the rocks
#   snakemake --report report.html                         # every figure and table, browsable


configfile: "config.yaml"


wildcard_constraints:
    dataset=r"[A-Za-z0-9_.\-]+",
    split=r"[A-Za-z0-9_.\-]+",
    fs=r"[A-Za-z0-9_]+",
    method=r"tsne|lle|mds|isomap",
    mapmethod=r"pca|tsne|lle|mds|isomap",
    variant=r"cnn(_[A-Za-z0-9]+)?",
    base=r"[A-Za-z0-9_]+",
    name=r"[A-Za-z0-9]+",


include: "workflow/rules/common.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/pca.smk"
include: "workflow/rules/embed.smk"
include: "workflow/rules/stats.smk"
include: "workflow/rules/cnn.smk"
include: "workflow/rules/cluster.smk"
include: "workflow/rules/alignment.smk"
include: "workflow/rules/compare.smk"
include: "workflow/rules/probes.smk"
include: "workflow/rules/report.smk"


report: "workflow/report/workflow.rst"


rule all:
    default_target: True
    input:
        all_targets(),
