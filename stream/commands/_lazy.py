"""A click group whose sub-commands are imported on first use.

Keeps ``twinwatch --help`` fast: torch, numba and faust load only for the
commands that need them. A sub-command whose module is not installed is
hidden rather than broken.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from typing import Any

import click

__all__ = ["LazyGroup"]


class LazyGroup(click.Group):
    """Click group resolving ``name -> "module:attribute"`` lazily.

    Parameters
    ----------
    lazy_commands
        Map of sub-command name to the ``"module:attribute"`` of a click
        command or group.
    """

    def __init__(self, *args: Any, lazy_commands: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(
            name
            for name, target in self.lazy_commands.items()
            if importlib.util.find_spec(target.partition(":")[0]) is not None
        )

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.lazy_commands.get(cmd_name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            return None
        return getattr(mod, attr, None)
