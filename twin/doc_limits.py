"""Bounds on parsed YAML/JSON documents before they are validated or walked.

YAML aliases let a few hundred bytes expand into billions of values (``&a [*b, *b, ...]`` nested, or an
alias that contains itself); a validator that walks or prints such a document hangs or floods its
message. Readers count the values first and refuse a document beyond their limit.

>>> too_many_values({"a": [1, 2, {"b": 3}]}, 5), too_many_values({"a": [1, 2, {"b": 3}]}, 6)
(True, False)
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["too_many_values"]

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
