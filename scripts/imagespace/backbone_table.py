"""Moved to imagespace.nets.backbone_table: an alias until every import is updated."""

import sys

from .nets import backbone_table as _moved

sys.modules[__name__] = _moved
