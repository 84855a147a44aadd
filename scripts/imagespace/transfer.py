"""Moved to imagespace.nets.transfer: an alias until every import is updated."""

import sys

from .nets import transfer as _moved

sys.modules[__name__] = _moved
