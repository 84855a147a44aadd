"""Moved to imagespace.report.headline: an alias until every import is updated."""

import sys

from imagespace.report import headline as _moved

sys.modules[__name__] = _moved
