"""Rule leaderboard: the representations ranked by their match with the human space (table and figure)."""

import sys

from imagespace.io import logged_errors, read_json, setup_logging, write_table
from imagespace.report import plots


def main(snakemake):
    setup_logging(snakemake.log[0], rule_stderr=True)
    with logged_errors():
        import pandas as pd

        s = read_json(snakemake.input.summary)
        if not s["alignment"]:
            raise ValueError(f"{snakemake.input.summary}: no comparison with a human space to rank")
        write_table(snakemake.output.table, pd.DataFrame(s["alignment"]))
        plots.plot_leaderboard(
            s["alignment"],
            snakemake.output.figure,
            title=f"{s['dataset']}: representations vs humans",
            splits=s["alignment_splits"],
        )


if __name__ == "__main__":
    if "snakemake" not in globals():  # started by hand: the job's inputs, outputs and params from the workflow
        from imagespace.mock import from_command_line

        snakemake = from_command_line(__file__, sys.argv[1:])
    main(snakemake)  # noqa: F821
