"""Moved to imagespace.report.degeneracy: an alias until every import is updated."""

import sys

from imagespace.report import degeneracy as _moved

sys.modules[__name__] = _moved
