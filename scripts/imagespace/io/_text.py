"""Messages and names: the error type of bad input, a short repr for messages, the natural sort key."""

from __future__ import annotations

import re


class InputError(Exception):
    """Bad user input. The message always names the offending file and the problem."""


def short_repr(obj, limit: int = 200) -> str:
    """``repr(obj)`` cut to *limit* characters (ending in ``...`` when cut), for one-line messages.

    Parameters
    ----------
    obj
        Anything.
    limit
        The longest text returned.

    Returns
    -------
    str
        The repr, at most *limit* characters long.
    """
    text = repr(obj)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def natural_key(text) -> tuple:
    """Sort key that puts '2' before '10' (class names that are numbers).

    Parameters
    ----------
    text
        A name (anything with a ``str``).

    Returns
    -------
    tuple
        A key for ``sorted``: digit runs compare as numbers, the rest as text.
    """
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", str(text)) if t)
