"""Moved to imagespace.nets.backbones_torch: an alias until every import is updated."""

import sys

from .nets import backbones_torch as _moved

sys.modules[__name__] = _moved
