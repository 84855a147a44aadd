"""Moved to imagespace.report.explore: an alias until every import is updated."""

import sys

from imagespace.report import explore as _moved

sys.modules[__name__] = _moved
