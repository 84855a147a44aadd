"""Moved to imagespace.ingest (the sources, selection and splits): an alias until every import is updated."""

import sys

from imagespace import ingest as _moved

sys.modules[__name__] = _moved
