"""What a rule reads, writes and logs: the manifest, feature files, atomic writes, the rule log.

Plain library code (no Snakemake, nothing heavier than NumPy imported at module level), one private module per
concern; the public names are re-exported here (``from imagespace.io import load_manifest``):

* ``_manifest``: what ingest writes and every later rule reads: :func:`load_manifest` (and its columns
  :data:`MANIFEST_COLUMNS`), :func:`load_images`, :func:`own_image_mask` (the collection's own images, not
  ``balance``'s augmented copies), :func:`own_rows`, :func:`load_human_table`;
* ``_features``: feature files (``results/<dataset>/features/<name>.npz``): :class:`FeatureFile`,
  :func:`save_features`, :func:`load_features`, :func:`rows_all_equal` (the registry of which feature sets
  exist is :mod:`imagespace.featuresets`);
* ``_atomic``: atomic writes (:func:`atomic_path` and the writers built on it), :func:`read_json`;
* ``_log``: the rule log (:func:`setup_logging`, :func:`logged_errors`, :func:`console`) and :class:`Progress`;
* ``_processes``: :func:`process_map`, worker processes that end with their parent;
* ``_text``: :class:`InputError` (bad input: the message names the file or config key), :func:`short_repr`,
  :func:`natural_key`.
"""

from ._atomic import atomic_path, read_json, save_figure, save_npz, to_jsonable, write_json, write_table, write_text
from ._features import FeatureFile, load_features, rows_all_equal, save_features
from ._log import Progress, console, console_cause, logged_errors, setup_logging
from ._manifest import (
    MANIFEST_COLUMNS,
    SKIP_COLUMNS,
    load_human_table,
    load_images,
    load_manifest,
    own_image_mask,
    own_rows,
)
from ._processes import die_with_parent, process_map
from ._text import InputError, natural_key, short_repr

__all__ = [
    # the manifest and the image array
    "load_manifest",
    "load_images",
    "own_image_mask",
    "own_rows",
    "load_human_table",
    "MANIFEST_COLUMNS",
    "SKIP_COLUMNS",
    # feature files
    "FeatureFile",
    "save_features",
    "load_features",
    "rows_all_equal",
    # atomic writes
    "atomic_path",
    "write_text",
    "write_json",
    "read_json",
    "write_table",
    "save_figure",
    "save_npz",
    "to_jsonable",
    # the rule log
    "setup_logging",
    "logged_errors",
    "console",
    "console_cause",
    "Progress",
    "process_map",
    "die_with_parent",
    # messages
    "InputError",
    "short_repr",
    "natural_key",
]
