"""Moved to imagespace.nets.backbones_keras: an alias until every import is updated."""

import sys

from .nets import backbones_keras as _moved

sys.modules[__name__] = _moved
