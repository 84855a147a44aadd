"""Run a rule's script outside Snakemake, with the inputs, outputs and params Snakemake would give it.

Every script in ``scripts/`` has a ``main(snakemake)``; run directly it builds its
``snakemake`` object here, from the real workflow (Snakefile, config, rule, wildcards):

    python scripts/pca.py dataset=digits
    python scripts/embed.py dataset=rocks method=tsne --configfile configs/rocks.yaml

Nothing is scheduled: only that one job's script runs, in the project folder, on
inputs an earlier run made. Handy in a debugger or a notebook:

    from imagespace.mock import mock_snakemake
    snakemake = mock_snakemake("pca", dataset="digits")
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def mock_snakemake(rule: str, configfiles: list[str] | None = None, root: str | Path = ROOT, **wildcards):
    """The ``snakemake`` object a rule's script gets, for one job of *rule* with *wildcards*."""
    import snakemake as sm
    from snakemake.api import Workflow
    from snakemake.logging import LoggerManager
    from snakemake.script import Snakemake
    from snakemake.settings.types import (
        ConfigSettings,
        DAGSettings,
        OutputSettings,
        ResourceSettings,
        StorageSettings,
        WorkflowSettings,
    )

    root = Path(root).resolve()
    configfiles = [Path(f).resolve() for f in (configfiles or [])]
    for f in configfiles:
        if not f.is_file():
            raise FileNotFoundError(f"config file {f} does not exist")
    here = Path.cwd()
    os.chdir(root)
    try:
        workflow = Workflow(
            config_settings=ConfigSettings(configfiles=configfiles),
            resource_settings=ResourceSettings(),
            workflow_settings=WorkflowSettings(),
            logger_manager=LoggerManager(logger=logging.getLogger("snakemake"), settings=OutputSettings()),
            storage_settings=StorageSettings(),
            dag_settings=DAGSettings(rerun_triggers=[]),
            storage_provider_settings={},
        )
        workflow.include(root / "Snakefile")
        workflow.global_resources = {}
        r = workflow.get_rule(rule)
        missing = sorted(set(r.wildcard_names) - set(wildcards))
        if missing:
            raise ValueError(f"rule {rule}: give the wildcard(s) {missing} (e.g. {missing[0]}=...)")
        job = sm.jobs.Job(r, sm.dag.DAG(workflow, rules=[r]), wildcards)
        for files in (job.input, job.output, job.log):
            for i, f in enumerate(files):
                files[i] = os.path.abspath(f)
        out = Snakemake(
            job.input,
            job.output,
            job.params,
            job.wildcards,
            job.threads,
            job.resources,
            job.log,
            workflow.config,
            r.name,
            None,
            scriptdir=str(root / "scripts"),
        )
        for f in list(out.log) + list(out.output):
            Path(f).parent.mkdir(parents=True, exist_ok=True)
        return out
    finally:
        os.chdir(here)


def from_command_line(script: str, argv: list[str]):
    """``python scripts/<rule>.py name=value ... [--rule R] [--configfile F ...]``: the job's snakemake object.

    The rule defaults to the script's name (``map_embed`` shares ``embed.py``: pass ``--rule``).
    """
    p = argparse.ArgumentParser(
        prog=Path(script).name, description="Run this rule's script on one job, outside Snakemake."
    )
    p.add_argument("wildcards", nargs="*", help="wildcard values, e.g. dataset=digits method=tsne")
    p.add_argument("--rule", default=Path(script).stem, help="rule name (default: the script's name)")
    p.add_argument("--configfile", nargs="+", default=[], help="config files, as for snakemake")
    a = p.parse_args(argv)
    wc = {}
    for item in a.wildcards:
        if "=" not in item:
            p.error(f"wildcard {item!r}: write name=value")
        k, v = item.split("=", 1)
        wc[k] = v
    return mock_snakemake(a.rule, a.configfile, **wc)
