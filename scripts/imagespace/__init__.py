"""imagespace: the analysis library behind the workflow's rules (importable without Snakemake)."""

__version__ = "0.1.0"
