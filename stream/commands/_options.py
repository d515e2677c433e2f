"""Shared click options: one spelling for the same idea in every ``twinwatch`` command.

=====================  ==================================================================
decorator              option(s) and the value the command receives
=====================  ==================================================================
``progress_option``    ``--progress/--no-progress`` (default: on when stderr is a
                       terminal); hidden alias ``-q/--quiet`` = ``--no-progress``.
                       Keyword ``progress: bool``.
``json_report_option`` ``--json FILE``: write a machine-readable report to FILE, ``-`` =
                       stdout; a bare ``--json`` (the old flag spelling) means ``-``.
                       Keyword ``json_report: str | None``; write it with
                       :func:`write_json_report`.
``checkpoint_option``  ``--checkpoint PATH``: a checkpoint directory or any file inside
                       it, normalised to the directory. Keyword ``checkpoint: Path | None``.
``out_file_option``    ``--out/-o FILE`` (``-`` = stdout when allowed); refused when it is
                       one of the command's input paths. Keyword ``out: str``; write it
                       with :func:`atomic_output` (nothing is replaced until success).
``out_dir_option``     ``--out/-o DIR``; refused when it is or contains an input path, or
                       is an existing file. Keyword ``out: Path``; fill it with
                       :func:`atomic_output_dir`.
=====================  ==================================================================

Exit statuses are the same everywhere (:class:`ExitCode`, :data:`EXIT_STATUS_HELP` for
``--help``): 0 success, 1 invalid input, 2 usage error, 3 partial success.

>>> import click
>>> from click.testing import CliRunner
>>> @click.command()
... @progress_option
... @json_report_option
... def cmd(progress: bool, json_report: str | None) -> None:
...     click.echo(f"{progress} {json_report}")
>>> CliRunner().invoke(cmd, ["-q", "--json", "r.json"]).output
'False r.json\\n'
>>> CliRunner().invoke(cmd, ["--progress", "--json"]).output
'True -\\n'
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from enum import IntEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import click
import orjson

from twinwatch.stream.logs import json_mode
from twinwatch.twin.models import MODELS

if TYPE_CHECKING:
    from twinwatch.stream.config import KafkaConfig

__all__ = [
    "EXIT_STATUS_HELP",
    "KAFKA_CONFIG_HELP",
    "MODEL_NAMES",
    "SERVICE_FAILED_HELP",
    "ExitCode",
    "FiniteFloatRange",
    "SingleValueOption",
    "atomic_output",
    "atomic_output_dir",
    "checkpoint_option",
    "json_report_option",
    "kafka_from_config",
    "out_dir_option",
    "out_file_option",
    "output_folder_exists",
    "progress_option",
    "write_json_report",
]

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)

MODEL_NAMES = " | ".join(MODELS)
"""The twin models a ``--model`` option takes, for its help (the registry's names, in its order)."""


class ExitCode(IntEnum):
    """Process exit statuses shared by every command."""

    OK = 0  #: everything the command was asked to do was done
    INVALID_INPUT = 1  #: the input (file, data, model) is invalid or unusable; nothing useful was produced
    USAGE = 2  #: wrong options or arguments (click's own usage errors exit 2 as well)
    PARTIAL = 3  #: done, but part of the input was rejected (counted in the summary / report)
    FAILED = 4  #: a service stopped on an error it cannot get past (no broker, a crash); the log says which


#: Paste at the end of a command's docstring (click keeps ``\\b`` blocks verbatim).
EXIT_STATUS_HELP = """\b
Exit status:
  0  success
  1  invalid input (nothing usable: a bad or empty file, every record rejected)
  2  usage error (unknown option, bad option value)
  3  partial success (output written, some input rejected and counted)"""

#: ``twinwatch run``'s own line, after :data:`EXIT_STATUS_HELP`.
SERVICE_FAILED_HELP = """
  4  the service stopped on an error: no broker within kafka.startup_timeout_s,
     or the worker crashed (the log says which)"""


def progress_option(f: F) -> F:
    """``--progress/--no-progress`` (default: on when stderr is a terminal) plus the hidden alias
    ``-q/--quiet``; the command receives ``progress: bool``.

    Under ``--log-format json`` the bar is always off (an explicit ``--progress`` is logged and
    ignored): stderr then carries only JSON lines, which a rich live display would break."""

    @functools.wraps(f)
    def wrapper(*args: Any, progress: bool | None, quiet: bool, **kwargs: Any) -> Any:
        if quiet:
            progress = False
        elif json_mode():
            # A rich bar would interleave terminal control codes with the JSON lines on stderr.
            if progress:
                log.info("progress bar off: --log-format json keeps stderr one JSON object per line")
            progress = False
        elif progress is None:
            progress = sys.stderr.isatty()
        return f(*args, progress=progress, **kwargs)

    wrapper = click.option("--quiet", "-q", "quiet", is_flag=True, hidden=True,
                           help="Old spelling of --no-progress.")(wrapper)  # fmt: skip
    wrapper = click.option("--progress/--no-progress", "progress", default=None,
                           help="Progress bar on stderr [default: on when stderr is a terminal].")(wrapper)  # fmt: skip
    return wrapper  # type: ignore[return-value]


def output_folder_exists(ctx: click.Context, param: click.Parameter, value: str | Path | None) -> str | Path | None:
    """Option callback: refuse an output FILE (``--json``, ``--report``, ...) whose folder does not exist when the
    options are parsed, not after the work; ``None`` and ``-`` (stdout) pass."""
    if value is not None and str(value) != "-" and not Path(value).parent.is_dir():
        raise click.BadParameter(f"folder {str(Path(value).parent)!r} does not exist", param_hint=param.opts[0])
    return value


def json_report_option(f: F) -> F:
    """``--json FILE`` (``-`` = stdout; a bare ``--json`` means ``-``); the command receives
    ``json_report: str | None``. A FILE in a folder that does not exist is a usage error at once."""
    return click.option(
        "--json", "json_report", metavar="FILE", default=None, is_flag=False, flag_value="-",
        type=click.Path(dir_okay=False, allow_dash=True), callback=output_folder_exists,
        help="Write a machine-readable JSON report to FILE ('-' or a bare --json: stdout).",
    )(f)  # fmt: skip


def write_json_report(dest: str | os.PathLike[str] | None, doc: Any) -> None:
    """Write ``doc`` as indented JSON to ``dest`` (``-`` = stdout; ``None`` = nothing), atomically.

    NaN and infinities are written as ``null`` (JSON has no such numbers).

    >>> import json, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.json"
    >>> write_json_report(p, {"a": 1, "b": float("nan")})
    >>> json.loads(p.read_text())
    {'a': 1, 'b': None}
    """
    if dest is None:
        return
    data = orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY, default=str) + b"\n"
    if str(dest) == "-":
        out = click.get_binary_stream("stdout")
        out.write(data)
        out.flush()
        return
    with atomic_output(dest, option="--json") as fh:
        fh.write(data)


def _checkpoint_dir(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    if value is None:
        return None
    return value.parent if value.is_file() else value


def checkpoint_option(f: F) -> F:
    """``--checkpoint PATH`` (must exist): a checkpoint directory, or a file inside one, which is
    normalised to its directory; the command receives ``checkpoint: Path | None``."""
    return click.option(
        "--checkpoint", "checkpoint", metavar="PATH", default=None, callback=_checkpoint_dir,
        type=click.Path(exists=True, path_type=Path),
        help="Checkpoint directory (or a file inside it) instead of the shipped checkpoint.",
    )(f)  # fmt: skip


def _same_path(out: Path, inp: Path) -> bool:
    """Whether ``out`` and ``inp`` name the same file (after resolving links and ``..``)."""
    try:
        o, i = out.resolve(), inp.resolve()
    except OSError:
        return False
    return o == i


def _input_paths(kwargs: dict[str, Any], names: Sequence[str]) -> list[Path]:
    paths: list[Path] = []
    for name in names:
        value = kwargs.get(name)
        values = value if isinstance(value, list | tuple) else [value]
        for v in values:
            if v is None or str(v) == "-":
                continue
            p = v if isinstance(v, str | os.PathLike) else getattr(v, "name", None)  # click.File: its .name
            if isinstance(p, str | os.PathLike):
                paths.append(Path(p))
    return paths


def out_file_option(
    *, inputs: Sequence[str] = (), allow_stdout: bool = True, required: bool = False, help: str | None = None
) -> Callable[[F], F]:
    """``--out/-o FILE`` (default ``-`` = stdout when ``allow_stdout``); refused (usage error, exit 2)
    when it names the same file as one of the parameters listed in ``inputs``. The command receives
    ``out: str``; open it with :func:`atomic_output` so a failed run leaves any old file intact."""

    def deco(f: F) -> F:
        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            out = kwargs.get("out")
            if out is not None and str(out) != "-":
                for p in _input_paths(kwargs, inputs):
                    if _same_path(Path(out), p):
                        raise click.BadParameter(
                            f"{out!s} is also an input; write the output to another file", param_hint="--out"
                        )
            return f(*args, **kwargs)

        default = "-" if allow_stdout and not required else None
        return click.option(
            "--out", "-o", "out", metavar="FILE", default=default, required=required, show_default=default is not None,
            type=click.Path(dir_okay=False, allow_dash=allow_stdout),
            help=help or ("Output file" + ("; '-' is standard output." if allow_stdout else ".")),
        )(wrapper)  # type: ignore[return-value]  # fmt: skip

    return deco


def out_dir_option(*, inputs: Sequence[str] = (), required: bool = True, help: str | None = None) -> Callable[[F], F]:
    """``--out/-o DIR``; refused (usage error, exit 2) when it is an existing file, or is (or
    contains) one of the paths of the parameters listed in ``inputs``. The command receives
    ``out: Path``; fill it with :func:`atomic_output_dir`."""

    def deco(f: F) -> F:
        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            out = kwargs.get("out")
            if out is not None:
                o = Path(out).resolve()
                for p in _input_paths(kwargs, inputs):
                    i = p.resolve()
                    if o == i or o in i.parents:
                        raise click.BadParameter(
                            f"{out!s} is (or holds) the input {p!s}; write the output elsewhere", param_hint="--out"
                        )
            return f(*args, **kwargs)

        return click.option(
            "--out", "-o", "out", metavar="DIR", default=None, required=required,
            type=click.Path(file_okay=False, path_type=Path),
            help=help or "Output directory (written under a temporary name, renamed when complete).",
        )(wrapper)  # type: ignore[return-value]  # fmt: skip

    return deco


def _umask() -> int:
    """The process's file-creation mask: from ``/proc/self/status`` where Linux gives it (no change to the
    process-wide mask while other threads create files), else by setting it and putting it back."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _usual_mode(target: Path, *, directory: bool) -> int:
    """The permission bits ``target`` gets: those of the file or folder it replaces, else what ``open`` or
    ``mkdir`` would give (0o666 / 0o777 less the umask). ``mkstemp`` and ``mkdtemp`` create 0o600 / 0o700 for
    their own safety; the renamed result should read like any other output (a model file a collector or a
    colleague reads)."""
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        return (0o777 if directory else 0o666) & ~_umask()


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], option: str = "--out") -> Iterator[IO[bytes]]:
    """A binary file handle whose content replaces ``path`` only when the block succeeds.

    ``-`` yields standard output. The data go to a temporary file in the same folder, which is
    fsynced and renamed over ``path`` (``os.replace``, atomic on POSIX); on an exception it is removed
    and ``path`` is left as it was.

    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.txt"; _ = p.write_text("old")
    >>> try:
    ...     with atomic_output(p) as fh:
    ...         _ = fh.write(b"new"); raise RuntimeError("boom")
    ... except RuntimeError:
    ...     pass
    >>> p.read_text()
    'old'
    """
    if str(path) == "-":
        out = click.get_binary_stream("stdout")
        yield out
        out.flush()
        return
    target = Path(path)
    if not target.parent.is_dir():
        raise click.BadParameter(f"folder {str(target.parent)!r} does not exist", param_hint=option)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fchmod(fh.fileno(), _usual_mode(target, directory=False))
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_output_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A fresh temporary directory beside ``path`` that becomes ``path`` when the block succeeds.

    An existing ``path`` is replaced only after the new content is complete (moved aside, the new
    directory renamed in, the old one deleted); on an exception the temporary directory is removed
    and ``path`` is untouched.

    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_output_dir(root / "ds") as d:
    ...     _ = (d / "a.txt").write_text("1")
    >>> sorted(p.name for p in (root / "ds").iterdir())
    ['a.txt']
    """
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise click.BadParameter(f"{str(target)!r} exists and is not a directory", param_hint="--out")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    os.chmod(tmp, _usual_mode(target, directory=True))
    old: Path | None = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
        old.rmdir()
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


class SingleValueOption(click.Option):
    """A single-value option that refuses to be given twice (usage error, exit 2).

    Click keeps the last of repeated single-value options silently, so ``--format gnmic
    --format influx`` would read everything as influx. Use it as
    ``@click.option("--format", cls=SingleValueOption, repeat_hint="...")``; the command still
    receives one value (or the default). ``repeat_hint`` completes the error message.

    >>> from click.testing import CliRunner
    >>> @click.command()
    ... @click.option("--fmt", cls=SingleValueOption, default="auto", show_default=True)
    ... def cmd(fmt: str) -> None:
    ...     click.echo(fmt)
    >>> CliRunner().invoke(cmd, ["--fmt", "a"]).output, CliRunner().invoke(cmd, []).output
    ('a\\n', 'auto\\n')
    >>> res = CliRunner().invoke(cmd, ["--fmt", "a", "--fmt", "b"])
    >>> res.exit_code, "given 2 times (a, b)" in res.output
    (2, True)
    """

    def __init__(self, *args: Any, repeat_hint: str = "", **kwargs: Any) -> None:
        default = kwargs.pop("default", None)
        if default is not None:
            kwargs["default"] = (default,)  # a multiple option's default is a sequence; --help shows "auto"
        kwargs["multiple"] = True  # collect every occurrence, so that a repeat can be refused
        super().__init__(*args, **kwargs)
        self.single_default = default
        self.repeat_hint = repeat_hint

    def type_cast_value(self, ctx: click.Context, value: Any) -> Any:
        """The one value given (or the default); :class:`click.BadParameter` when given more than once."""
        values = super().type_cast_value(ctx, value)
        if len(values) > 1:
            shown = ", ".join(str(v) for v in values)
            raise click.BadParameter(f"given {len(values)} times ({shown}); it takes one value. {self.repeat_hint}"
                                     .rstrip(), ctx=ctx, param=self)  # fmt: skip
        return values[0] if values else self.single_default


class FiniteFloatRange(click.FloatRange):
    """:class:`click.FloatRange` that also refuses ``nan`` and ``±inf`` (usage error, exit 2).

    ``click.FloatRange`` lets ``nan`` through every bound (comparisons with NaN are false),
    so ``--alpha nan`` or ``--window nan`` used to run with a meaningless value or end in a
    traceback deep inside the pipeline.

    >>> FiniteFloatRange(0.0, 1.0).convert("0.5", None, None)
    0.5
    >>> FiniteFloatRange(0.0, 1.0).convert("nan", None, None)
    Traceback (most recent call last):
    ...
    click.exceptions.BadParameter: 'nan' is not a finite number.
    """

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The float, checked against the range; :class:`click.BadParameter` for NaN or an infinity."""
        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return rv


def kafka_from_config(path: Path, bootstrap: str | None) -> KafkaConfig:
    """The ``kafka`` section (address; TLS, SASL) of the twinwatch configuration at ``path``, with
    ``TWINWATCH_*`` overrides, and ``bootstrap`` as its address when given; an invalid file is a usage error
    naming ``--config`` and the key."""
    import dataclasses

    from twinwatch.stream.config import ConfigError, load_config

    try:
        kafka = load_config(path).kafka
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--config") from None
    return dataclasses.replace(kafka, bootstrap=bootstrap) if bootstrap else kafka


KAFKA_CONFIG_HELP = ("A twinwatch configuration whose kafka: section (address; TLS, SASL) reaches the broker; its "
                     "address is used unless {flag} is given. Its other sections are not used.")
"""Help of the ``--config`` option of the commands that produce onto a broker (``{flag}``: their address option)."""
