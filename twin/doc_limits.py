"""Bounds on parsed YAML/JSON documents before they are validated or walked.

YAML aliases let a few hundred bytes expand into billions of values (``&a [*b, *b, ...]`` nested, or an
alias that contains itself); a validator that walks or prints such a document hangs or floods its
message. Readers count the values first and refuse a document beyond their limit, and an error message
quotes a value through :func:`short_repr`, bounded whatever the value holds.

>>> too_many_values({"a": [1, 2, {"b": 3}]}, 5), too_many_values({"a": [1, 2, {"b": 3}]}, 6)
(True, False)
>>> short_repr(list(range(1000)))
'[0, 1, 2, 3, 4, 5, ...]'
>>> a = []; a.append(a); short_repr(a)
'[[[[...]]]]'
"""

from __future__ import annotations

import reprlib
from collections.abc import Mapping

__all__ = ["short_repr", "too_many_values"]

_SHORT = reprlib.Repr()  # keyword arguments need Python 3.12
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 3, 80, 80
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = _SHORT.maxset = _SHORT.maxfrozenset = _SHORT.maxdeque = 6

_SCALARS = frozenset({str, int, float, bool, type(None)})


def too_many_values(doc: object, limit: int) -> bool:
    """Whether ``doc`` holds more than ``limit`` values (scalars, lists and mappings, counted after alias
    expansion); stops counting as soon as the limit is passed, so a self-containing alias ends too."""
    count, stack = 0, [doc]
    while stack:
        v = stack.pop()
        count += 1
        if count > limit:
            return True
        t = type(v)
        if t is dict or (t is not list and t not in _SCALARS and isinstance(v, Mapping)):  # exact types first:
            stack.extend(v.values())  # the ABC check costs ~10× an identity test, on every value
        elif t is list or (t not in _SCALARS and isinstance(v, list)):
            stack.extend(v)
    return False


def short_repr(value: object) -> str:
    """``repr(value)`` bounded for an error message: strings and other reprs cut to about 80 characters,
    containers to 6 items and 3 levels (a huge or self-containing value stays one short line)."""
    return _SHORT.repr(value)
