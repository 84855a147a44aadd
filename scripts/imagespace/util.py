"""Moved to imagespace.io (and imagespace.sampling): an alias until every import is updated.

Two names changed: ``FeatureSet`` (a feature file's content) is :class:`imagespace.io.FeatureFile`, and
``own_images`` (a mask) is :func:`imagespace.io.own_image_mask`; both old names stay here for the code that
still imports them. Imports are absolute so that :mod:`imagespace.deps` follows them.
"""

from imagespace.io import *  # noqa: F403
from imagespace.io import FeatureFile as FeatureSet  # noqa: F401
from imagespace.io import own_image_mask as own_images  # noqa: F401
from imagespace.sampling import stratified_holdout, stratified_sample  # noqa: F401
