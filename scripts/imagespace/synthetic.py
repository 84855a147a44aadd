"""Moved to imagespace.ingest.synthetic: an alias until every import is updated."""

import sys

from imagespace.ingest import synthetic as _moved

sys.modules[__name__] = _moved
