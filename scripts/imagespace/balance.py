"""Moved to imagespace.ingest.balance: an alias until every import is updated."""

import sys

from imagespace.ingest import balance as _moved

sys.modules[__name__] = _moved
