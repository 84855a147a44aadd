"""Moved to imagespace.human.alignment: an alias until every import is updated."""

import sys

from .human import alignment as _moved

sys.modules[__name__] = _moved
