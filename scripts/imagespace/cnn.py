"""Moved to imagespace.nets (cnn_layers, cnn_train, cnn_data, cnn_features): an alias until every import is
updated; the package re-exports every public name of the old module."""

import sys

from . import nets as _moved

sys.modules[__name__] = _moved
