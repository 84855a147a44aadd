"""Moved to imagespace.report.clustermaps: an alias until every import is updated."""

import sys

from imagespace.report import clustermaps as _moved

sys.modules[__name__] = _moved
