"""Moved to imagespace.human.paired: an alias until every import is updated."""

import sys

from .human import paired as _moved

sys.modules[__name__] = _moved
