"""Moved to imagespace.ingest.duplicates: an alias until every import is updated."""

import sys

from imagespace.ingest import duplicates as _moved

sys.modules[__name__] = _moved
