"""Moved to imagespace.human.comparison: an alias until every import is updated."""

import sys

from .human import comparison as _moved

sys.modules[__name__] = _moved
