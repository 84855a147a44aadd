"""Moved to imagespace.report (build in report.summary, the page in report.page, the leaderboard in
report.ranking, the warnings in report.checks): an alias of the package until every import is updated."""

import sys

import imagespace.report as _moved

sys.modules[__name__] = _moved
