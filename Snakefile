# imagespace: images -> arrays -> PCA / manifold embeddings -> clusters -> comparison with a human space -> report
#
#   snakemake --cores 2                                    # the embedded default (digits + synthetic)
#   snakemake --cores 2 --configfile configs/rocks.yaml    # the rocks
#   snakemake --report report.html                         # every figure and table, browsable


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/pca.smk"
include: "workflow/rules/embed.smk"
include: "workflow/rules/cluster.smk"
include: "workflow/rules/compare.smk"
include: "workflow/rules/report.smk"


report: "workflow/report/workflow.rst"


rule all:
    input:
        all_targets(),
    default_target: True
