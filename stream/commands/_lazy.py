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

__all__ = ["LazyGroup", "refuse_repeated_options"]


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
        cmd = getattr(mod, attr, None)
        if isinstance(cmd, click.Command):
            _refuse_everywhere(cmd)
        return cmd


def _refuse_everywhere(cmd: click.Command) -> None:
    """:func:`refuse_repeated_options` on a command, or on every command of a plain (eager) group."""
    if isinstance(cmd, LazyGroup):
        return  # it applies it to the commands it loads
    if isinstance(cmd, click.Group):
        for sub in cmd.commands.values():
            _refuse_everywhere(sub)
        return
    refuse_repeated_options(cmd)


def _repeats(cmd: click.Command, args: list[str]) -> list[tuple[click.Option, list[str]]]:
    """Single-value options of ``cmd`` that ``args`` gives more than once, with the spellings used."""
    single: dict[str, click.Option] = {}
    for p in cmd.params:
        if isinstance(p, click.Option) and not (p.multiple or p.count or p.is_flag):
            for name in (*p.opts, *p.secondary_opts):
                single[name] = p
    seen: dict[str, tuple[click.Option, list[str]]] = {}
    expect_value = False
    for tok in args:
        if expect_value:  # the value of the previous option, whatever it looks like
            expect_value = False
            continue
        if tok == "--":
            break
        name = tok.split("=", 1)[0] if tok.startswith("--") else tok
        opt = single.get(name)
        if opt is None:
            continue
        seen.setdefault(opt.name or name, (opt, []))[1].append(name)
        expect_value = "=" not in tok and opt.nargs == 1
    return [v for v in seen.values() if len(v[1]) > 1]


def refuse_repeated_options(cmd: click.Command) -> click.Command:
    """Make a single-value option given twice a usage error (exit 2) instead of click's silent "last wins".

    ``--model qt --model gnn`` would otherwise run gnn without a word. Flags and options declared
    ``multiple`` or ``count`` are left alone. Applied to every sub-command the lazy groups load.

    >>> @click.command()
    ... @click.option("--model", "-m", default="gnn")
    ... def cmd(model: str) -> None:
    ...     click.echo(model)
    >>> from click.testing import CliRunner
    >>> _ = refuse_repeated_options(cmd)
    >>> CliRunner().invoke(cmd, ["-m", "qt"]).output
    'qt\\n'
    >>> res = CliRunner().invoke(cmd, ["-m", "qt", "--model", "gnn"])
    >>> res.exit_code, "given 2 times (-m, --model)" in res.output
    (2, True)
    """
    if getattr(cmd, "_twinwatch_repeats_refused", False):
        return cmd
    parse = cmd.parse_args

    def parse_args(ctx: click.Context, args: list[str]) -> list[str]:
        for opt, used in _repeats(cmd, list(args)):
            raise click.UsageError(f"option {opt.opts[-1]} given {len(used)} times ({', '.join(used)}); "
                                   "it takes one value", ctx=ctx)
        return parse(ctx, args)

    cmd.parse_args = parse_args  # type: ignore[method-assign]
    cmd._twinwatch_repeats_refused = True  # type: ignore[attr-defined]
    return cmd
