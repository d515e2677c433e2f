"""Errors and warnings of the network-model file.

Every problem names the file, the element (a path into the document such as
``links[3].a.interface``) and the rule that was broken. One
:class:`NetworkModelError` carries *all* the problems found in a file (schema
and semantic checks run to the end), so that an operator fixes a file in one
pass; its message shows the first one and how many more there are.

>>> err = NetworkModelError("net.yaml", [("links[3].a.device", "unknown device 'Foo'")])
>>> str(err)
"net.yaml: links[3].a.device: unknown device 'Foo'"
>>> err.path, isinstance(err, ValueError)
('links[3].a.device', True)
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["NetworkModelError", "NetworkModelWarning", "Problem"]

Problem = tuple[str, str]
"""``(path, message)``: where in the document (``""`` for the whole file) and what is wrong."""


class NetworkModelError(ValueError):
    """A network-model file (or document) is invalid.

    Parameters
    ----------
    file
        The file (or ``"<name>"`` for an in-memory document).
    problems
        ``(path, message)`` pairs, in document order; at least one.

    Attributes ``file``, ``problems``; ``path`` and ``message`` are those of the
    first problem.
    """

    def __init__(self, file: str, problems: Sequence[Problem]) -> None:
        if not problems:
            problems = [("", "invalid network model")]
        self.file = file
        self.problems: list[Problem] = list(problems)
        self.path, self.message = self.problems[0]
        more = len(self.problems) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        super().__init__(f"{self._line(self.problems[0])}{suffix}")

    def _line(self, problem: Problem) -> str:
        path, msg = problem
        return f"{self.file}: {path}: {msg}" if path else f"{self.file}: {msg}"

    def lines(self) -> list[str]:
        """One ``file: path: message`` line per problem."""
        return [self._line(p) for p in self.problems]


class NetworkModelWarning(UserWarning):
    """A network model is valid but probably not what the operator meant (e.g. it is disconnected)."""
