"""Rule map_pca: the 2-D PCA map is the first two components of the pca feature set."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821

from imagespace.util import load_features, logged_errors, save_features, setup_logging  # noqa: E402

setup_logging(snakemake.log[0], rule_stderr=True)
with logged_errors():
    fs = load_features(snakemake.input.features)
    save_features(snakemake.output.features, fs.X[:, :2], fs.ids, method="pca", n_components=2)
