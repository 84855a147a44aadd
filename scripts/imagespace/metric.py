"""Moved to imagespace.nets.metric: an alias until every import is updated."""

import sys

from .nets import metric as _moved

sys.modules[__name__] = _moved
