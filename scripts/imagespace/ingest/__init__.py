"""Ingest: a dataset's images, from its source to the manifest and one uint8 image array.

Plain library code (no Snakemake; importing it loads neither matplotlib, scikit-learn, TensorFlow nor PyTorch),
one module per concern; the public names are re-exported here (``from imagespace.ingest import collect``):

* sources, one module per ``source.type``, each with ``read(src, dataset) -> (records, skips)``:
  ``_filename_labels`` (labels from file names), ``_class_folders`` (``root/<class>/*.png``), ``_csv_manifest``
  (a CSV naming image files), ``_pixel_csv`` (one row of pixels per image), ``_npz`` (a NumPy archive),
  ``_sklearn_digits`` (scikit-learn's bundled digits) and :mod:`~imagespace.ingest.synthetic` (shapes drawn from
  known latent factors, and their reference human space);
* ``_sources``: the table of source types :data:`SOURCES` (what each reads, from which folders and files) and
  :func:`source_fingerprint` (the digest of those files: a param of the ingest rule);
* ``_records``: :class:`Record` (one candidate image) and :class:`Skip` (one file or row left out, and why);
* ``_paths``: what a source may read (:class:`Roots`, :func:`walk_files`: symlinks only inside the dataset's
  folders, never hidden files);
* ``_pixels`` and ``_class_names``: one pixel scale per dataset of arrays, class names for label values;
* ``_collect``, ``_selection``, ``_splits``: a dataset's records (:func:`collect`), the images it keeps
  (:func:`select`), its held-out splits (:func:`assign_split`, :func:`carve_from_train`);
* decoding and resizing one image (any mode, any size) to uint8 is :mod:`imagespace.images`, outside the package:
  the backbones and the image statistics decode files with it, and a rule that imports a sub-package depends on
  all of its modules (:mod:`imagespace.deps`), so theirs would need ingest's ``imagehash`` otherwise;
* :mod:`~imagespace.ingest.duplicates`: identical and near-identical images;
* :mod:`~imagespace.ingest.balance`: class balancing of the training split (augmented copies, samples);
* ``_job``: the ingest job itself (:func:`ingest`, writing :class:`IngestOutputs`).

Outputs (all written atomically):

* ``manifest.tsv``: one row per image, columns index, id, split, name, label, subtype, path, orig_width,
  orig_height, orig_mode, augmented_from, augmentation (the last two: the source id and the transform of a copy
  made by ``balance``; empty otherwise);
* ``images.npy``: uint8 array (N, H, W, C) in manifest order; open with ``np.load(..., mmap_mode="r")``;
* ``skipped.tsv``: every file or row that was not ingested, with the reason;
* ``duplicates.tsv``: groups of identical or near-identical images.

Adding a source type
--------------------
One module and its table entry: write ``ingest/_<type>.py`` with ``read(src: dict, dataset: str)`` returning
``(records, skips)`` (a :class:`Record` per candidate image, with ``path`` for a file or ``array`` for an
in-memory image; a :class:`Skip` per file or row left out; an :class:`~imagespace.io.InputError` naming the file
or config key for what makes the dataset meaningless), plus ``folders(src)`` if it reads image folders (walk
them with :func:`walk_files` and the roots of :func:`roots_for`) or ``data_files(src)`` if it reads data files
(they become the rule's inputs). Add ``"<type>": Source(read, folders=..., data_files=...)`` to
:data:`SOURCES` in ``_sources.py``, and the ``source`` block's keys to the config schema. Selection, splits,
decoding, duplicates, balancing and the fingerprint then work for it unchanged.
"""

from imagespace.images import IMAGE_EXTENSIONS, TooLarge
from imagespace.io import MANIFEST_COLUMNS, SKIP_COLUMNS

from . import balance, duplicates, synthetic
from ._collect import collect, origin_warnings
from ._job import SKIP_NOTES, IngestOutputs, ingest
from ._paths import NOT_DATA, Roots, is_hidden, roots_for, walk_files
from ._pixels import stacks_to_uint8, to_uint8
from ._records import Record, Skip, is_image_file
from ._selection import select
from ._sources import (
    FOLDER_SOURCES,
    SOURCES,
    Source,
    source_data_files,
    source_fingerprint,
    source_folders,
    source_roots,
)
from ._splits import assign_split, carve_from_train
from .synthetic import source_kwargs as synthetic_kwargs

__all__ = [
    # the job
    "ingest",
    "IngestOutputs",
    "MANIFEST_COLUMNS",
    "SKIP_COLUMNS",
    "SKIP_NOTES",
    # sources
    "SOURCES",
    "Source",
    "FOLDER_SOURCES",
    "source_folders",
    "source_data_files",
    "source_roots",
    "source_fingerprint",
    "synthetic_kwargs",
    "Record",
    "Skip",
    # what a source may read
    "Roots",
    "roots_for",
    "walk_files",
    "is_hidden",
    "is_image_file",
    "NOT_DATA",
    "IMAGE_EXTENSIONS",
    "TooLarge",
    # one pixel scale per dataset
    "to_uint8",
    "stacks_to_uint8",
    # selection and splits
    "collect",
    "origin_warnings",
    "select",
    "assign_split",
    "carve_from_train",
    # the modules with an API of their own
    "synthetic",
    "duplicates",
    "balance",
]
