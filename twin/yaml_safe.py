"""Helpers shared by the project's strict YAML readers (scenario files, network-model files).

Two mixin-level pieces for PyYAML's safe loaders (the C-accelerated ``CSafeLoader`` when available):

* :class:`PlainTagMemo`: the implicit tag of a plain scalar memoised per text (same tags as PyYAML's);
* :func:`repeated_key`: the first key a mapping gives twice (YAML itself keeps the last one silently).

Each reader raises its own error from what :func:`repeated_key` finds, naming the lines.

>>> import yaml
>>> class Loader(PlainTagMemo, yaml.SafeLoader):
...     _plain_tags = {}
>>> node = yaml.compose("a: 1\\nb: 2\\na: 3\\n", Loader=Loader)
>>> key, first, again = repeated_key(Loader(""), node)
>>> (key, first.start_mark.line + 1, again.start_mark.line + 1)
('a', 1, 3)
>>> repeated_key(Loader(""), yaml.compose("1: x\\n0x1: y\\n", Loader=Loader))[0]   # the same int written twice
1
"""

from __future__ import annotations

from typing import Any, ClassVar

import yaml

__all__ = ["MERGE_TAG", "STR_TAG", "PlainTagMemo", "repeated_key"]

MERGE_TAG = "tag:yaml.org,2002:merge"
STR_TAG = "tag:yaml.org,2002:str"


class PlainTagMemo:
    """Resolver mixin for PyYAML safe loaders and dumpers: the implicit tag of a plain scalar memoised per text.

    Safe loaders and dumpers have no path resolvers, so the tag of a plain scalar (``1e3`` is a str,
    ``1.0e3`` a float, ``yes`` a bool in YAML 1.1) depends on its text alone; remembering it (bounded: texts
    of at most 64 characters, 65,536 of them per class) saves PyYAML's regular-expression scan of every
    scalar. The tags, and so the loaded or written document, are exactly PyYAML's. A class using it sets its
    own ``_plain_tags = {}``.
    """

    _plain_tags: ClassVar[dict[str, str]]

    def resolve(self, kind: type[yaml.Node], value: Any, implicit: tuple[bool, bool]) -> str:
        # the attributes and super().resolve are the PyYAML resolver's this mixin is combined with
        if kind is yaml.ScalarNode and not self.yaml_path_resolvers:  # type: ignore[attr-defined]
            if not implicit[0]:
                return self.DEFAULT_SCALAR_TAG  # type: ignore[attr-defined,no-any-return]  # as Resolver.resolve
            tag = self._plain_tags.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)  # type: ignore[misc]
                if len(value) <= 64 and len(self._plain_tags) < 65_536:
                    self._plain_tags[value] = tag
            return tag  # type: ignore[no-any-return]
        return super().resolve(kind, value, implicit)  # type: ignore[misc,no-any-return]


def repeated_key(loader: yaml.constructor.BaseConstructor,
                 node: yaml.MappingNode) -> tuple[Any, yaml.Node, yaml.Node] | None:
    """The first key of mapping ``node`` given twice, as ``(key, its first key node, the repeated key node)``;
    None when every key is distinct.

    Fast path: str-tagged scalar keys with distinct texts (nearly every mapping) cannot repeat a key. The
    rest (ints, ``1`` vs ``0x1`` vs ``1.0``, quoted vs plain) are constructed and compared. Merge keys are
    skipped (merged keys may be overridden), and so are keys that are not scalars or not hashable (the base
    constructor refuses those with its own message).
    """
    if len({k.value for k, _ in node.value if k.tag == STR_TAG and isinstance(k, yaml.ScalarNode)}) == len(
            node.value):
        return None
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        if key_node.tag == MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
            continue
        key = loader.construct_object(key_node)
        try:
            first = seen.setdefault(key, key_node)
        except TypeError:
            continue
        if first is not key_node:
            return key, first, key_node
    return None
