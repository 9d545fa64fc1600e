"""Command-line interface: presents what the library computes.

Every command prints either a human-readable table (default), JSON (``--format json``: the
same numbers as data) or CSV, all through :class:`featmech.tables.Table`. The commands live in
one module per group (:mod:`~featmech.cli.exact`, :mod:`~featmech.cli.analysis`,
:mod:`~featmech.cli.nets`, :mod:`~featmech.cli.sweeps`, :mod:`~featmech.cli.report`); this module
holds the ``featmech`` group and :func:`main`, which maps user mistakes to exit status 2 and
one line on stderr:

- :class:`featmech.errors.InputError` (a value out of its range, a malformed file, …);
- click usage errors (an unknown option, a value click cannot read);
- I/O errors a user can fix: no such file, permission denied, is (not) a directory, disk full,
  read-only file system (the message names the path).

A missing optional extra (``pip install 'featmech[torch]'`` and the like) and a sweep ended by a
fault (:class:`~featmech.sweeps.executors.SweepAborted`: a lost Dask scheduler, no worker left)
are one line and exit status 1. Ctrl-C and SIGTERM stop a command cleanly — its ``finally``
blocks run: pool workers are ended, the store is closed — with one line and exit status 130 or
143 (128 + the signal).
Anything else is a bug: it propagates with its traceback (exit status 1).
"""

from __future__ import annotations

import errno
import signal
import sys
import threading
from typing import Any, Sequence

import click

from featmech import __version__
from featmech.cli.analysis import phase, presets, scaling
from featmech.cli.docs import docs
from featmech.cli.exact import canonical, explain, simulate, trajectory
from featmech.cli.explore import explore
from featmech.cli.linear import linear, linear_phase
from featmech.cli.nets import experiment
from featmech.cli.report import reproduce
from featmech.cli.sweeps import sweep
from featmech.errors import InputError
from featmech.sweeps.executors import SweepAborted

__all__ = ["cli", "main", "IO_ERRORS", "explain_os_error", "Terminated"]


class Terminated(BaseException):
    """Raised in the main thread when the process receives SIGINT (Ctrl-C) or SIGTERM while
    :func:`main` runs: the command stops and its ``finally`` blocks run (pool workers ended, stores
    closed). A ``BaseException``, like ``KeyboardInterrupt``: no ``except Exception`` swallows it.

    Attributes:
        signum: the signal.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _on_signal(signum: int, frame: Any) -> None:
    raise Terminated(signum)


#: the signals :func:`main` turns into :class:`Terminated`, each with the handler it replaces
#: (a signal set to be ignored, as in a background job, stays ignored)
_SIGNALS = ((signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, signal.SIG_DFL))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="featmech")
def cli() -> None:
    """featmech: exact learning dynamics of a two-layer linear network, and whether it learns features.

    \b
    Model: f(x) = κ Σ_i u_i w_i x, loss ½V(κ u·w − k)², gradient flow with
    du/dt = −η_u ∂L/∂u, dw/dt = −η_w ∂L/∂w.
    \b
    Documentation (installed with the package):
      featmech docs            the topics: theory, exact, simulate, regimes, phase, cli, …
      featmech docs theory     print a page (markdown), e.g. the theory
      featmech docs --path     the folder with the pages, figures and examples/
    Each command's --help has examples.
    """


for _command in (trajectory, simulate, canonical, explain, phase, scaling, presets, experiment, sweep, reproduce,
                 linear, linear_phase, explore):
    cli.add_command(_command)
cli.add_command(docs)


#: errno -> what a user reads: the I/O errors the command line explains (exit 2) instead of a traceback
IO_ERRORS = {
    errno.ENOENT: "no such file or directory",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EISDIR: "is a directory",
    errno.ENOTDIR: "not a directory",
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
}


def explain_os_error(exc: OSError) -> str | None:
    """One line for an I/O error a user can fix, naming the path; ``None`` for any other.

    Arguments:
        exc: the error.

    Returns:
        ``"'PATH': permission denied"`` and the like, or ``None`` (not a user's I/O error).
    """
    why = IO_ERRORS.get(exc.errno) if exc.errno is not None else None
    if why is None:
        return None
    if exc.filename is None:
        return why
    where = repr(str(exc.filename)) + (f" -> {str(exc.filename2)!r}" if exc.filename2 is not None else "")
    return f"{where}: {why}"


def _error(message: str) -> int:
    click.echo("featmech: error: " + " ".join(message.split()), err=True)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Arguments:
        argv: the arguments after ``featmech`` (default ``sys.argv[1:]``).

    Returns:
        The exit status: 0 on success, 2 (and one ``featmech: error: …`` line on stderr) on a user
        mistake or an explainable I/O error, 1 when a sweep ended by a fault or an optional extra
        is missing, 130 on Ctrl-C, 143 on SIGTERM.

    Raises:
        Exception: any other exception is a bug and propagates with its traceback.
    """
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig, default in _SIGNALS:
            if signal.getsignal(sig) is default:
                previous[sig] = signal.signal(sig, _on_signal)
    try:
        return _main(argv)
    except Terminated as exc:
        click.echo("featmech: " + ("interrupted (Ctrl-C)" if exc.signum == signal.SIGINT else "terminated (SIGTERM)"),
                   err=True)
        return 128 + exc.signum
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _main(argv: Sequence[str] | None) -> int:
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="featmech", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:  # click >= 8.2: a group without a command
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        return 0
    except click.ClickException as exc:  # usage errors (exit 2) and ClickException's (their exit code)
        click.echo("featmech: error: " + " ".join(exc.format_message().split()), err=True)
        return int(exc.exit_code)
    except InputError as exc:
        return _error(str(exc) or "invalid input")
    except SweepAborted as exc:
        _error(str(exc) or "the sweep was aborted")
        return 1
    except BrokenPipeError:
        return 0
    except ImportError as exc:  # an optional extra that is not installed: the library says which
        if "pip install" not in str(exc):
            raise
        click.echo("featmech: error: " + " ".join(str(exc).split()), err=True)
        return 1
    except OSError as exc:
        why = explain_os_error(exc)
        if why is None:
            raise
        return _error(why)
    except click.exceptions.Abort:
        click.echo("featmech: aborted", err=True)
        return 1
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
