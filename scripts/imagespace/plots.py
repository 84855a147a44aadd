"""Moved to imagespace.report.plots: an alias until every import is updated."""

import sys

from imagespace.report import plots as _moved

sys.modules[__name__] = _moved
