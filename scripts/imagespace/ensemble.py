"""Moved to imagespace.human.ensemble: an alias until every import is updated."""

import sys

from .human import ensemble as _moved

sys.modules[__name__] = _moved
