"""Moved to imagespace.nets.cnn_eval: an alias until every import is updated."""

import sys

from .nets import cnn_eval as _moved

sys.modules[__name__] = _moved
