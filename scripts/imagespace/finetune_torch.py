"""Moved to imagespace.nets.finetune: an alias until every import is updated."""

import sys

from .nets import finetune as _moved

sys.modules[__name__] = _moved
