"""What every subcommand shares: the --backend option, opening it, and turning errors into
one-line messages with distinct exit statuses."""

from __future__ import annotations

import contextlib
import errno
import functools
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import click

from tsmon_core.errors import (
    CgroupPathError,
    CgroupUnsupportedError,
    CpumaskError,
    FamilyUnavailableError,
    KernelError,
    PermissionDeniedError,
    SessionFormatError,
    TaskGoneError,
    TsmonError,
)

F = TypeVar("F", bound=Callable[..., Any])

# Exit statuses (documented in the man page).
EXIT_OK = 0
EXIT_ERROR = 1  # any other failure
EXIT_USAGE = 2  # bad options or arguments (click's own)
EXIT_PERMISSION = 3  # EPERM: needs CAP_NET_ADMIN
EXIT_UNAVAILABLE = 4  # no TASKSTATS family in this kernel
EXIT_NO_TASK = 5  # ESRCH: no such task
EXIT_BAD_INPUT = 6  # a cpumask, cgroup directory or recording tsmon cannot use
EXIT_CANNOT_RUN = 126  # report -c: the command was found but could not be run (as env(1))
EXIT_NOT_FOUND = 127  # report -c: no such command (as env(1) and the shells)

BACKEND_CHOICES = ("auto", "netlink", "sim")


def backend_option(func: F) -> F:
    """Add ``--backend auto|netlink|sim`` and ``--seed`` (for the simulator)."""
    func = click.option(
        "--seed",
        type=int,
        default=1,
        show_default=True,
        help="Seed of the simulated workload (--backend sim).",
    )(func)
    func = click.option(
        "--backend",
        "backend_kind",
        type=click.Choice(BACKEND_CHOICES),
        default="auto",
        show_default=True,
        envvar="TSMON_BACKEND",
        help="Where data come from: the kernel (netlink), the bundled simulator (sim), or "
        "netlink when it can be used and sim otherwise (auto).",
    )(func)
    return func


def exit_status(exc: TsmonError) -> int:
    """The exit status for an error."""
    if isinstance(exc, PermissionDeniedError):
        return EXIT_PERMISSION
    if isinstance(exc, FamilyUnavailableError):
        return EXIT_UNAVAILABLE
    if isinstance(exc, TaskGoneError):
        return EXIT_NO_TASK
    if isinstance(exc, (CpumaskError, CgroupUnsupportedError, CgroupPathError, SessionFormatError)):
        return EXIT_BAD_INPUT
    if isinstance(exc, KernelError) and exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return EXIT_BAD_INPUT
    return EXIT_ERROR


def fail(message: str, status: int = EXIT_ERROR) -> None:
    """Print ``tsmon: message`` on stderr as one line and exit with ``status``."""
    click.echo(f"tsmon: {' '.join(str(message).split())}", err=True)
    sys.exit(status)


def handle_errors(func: F) -> F:
    """Turn TsmonError and OSError into a one-line message and an exit status, not a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except TsmonError as exc:
            fail(str(exc), exit_status(exc))
        except BrokenPipeError:
            quiet_stdout()
            sys.exit(EXIT_OK)
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            fail(f"{where}{exc.strerror or exc}", EXIT_ERROR)
        except KeyboardInterrupt:
            sys.exit(130)
        except (click.exceptions.ClickException, click.exceptions.Exit):
            raise
        except Exception as exc:
            # A bug, not bad input: still one line (TSMON_DEBUG=1 shows the traceback).
            import os

            if os.environ.get("TSMON_DEBUG"):
                raise
            fail(
                f"internal error: {type(exc).__name__}: {exc} (a bug in tsmon: please report "
                "it; TSMON_DEBUG=1 shows where it happened)",
                EXIT_ERROR,
            )

    return wrapper  # type: ignore[return-value]


def quiet_stdout() -> None:
    """Point stdout at /dev/null (its reader went away), so exiting flushes nothing."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def open_backend_or_exit(kind: str, seed: int = 1, **options: Any) -> Any:
    """Open the backend; on failure print one line with the reason and the fix, and exit.

    A simulated backend is announced once on stderr (JSON output carries a ``backend`` key).
    """
    from tsmon_core.backends import open_backend

    if kind in ("sim", "auto"):
        options.setdefault("seed", seed)
    try:
        backend = open_backend(kind, **options)
    except TsmonError as exc:
        fail(str(exc), exit_status(exc))
    return backend


def announce_backend(backend: Any, *, quiet: bool = False) -> None:
    """Say on stderr when the data are simulated, and when delay accounting is off."""
    if quiet:
        return
    info = backend.info
    if info.kind == "sim":
        why = f" ({info.reason})" if info.reason else ""
        click.echo(f"tsmon: data are SIMULATED, not from this machine's kernel{why}", err=True)
    elif info.kind == "replay":
        why = f" ({info.reason})" if info.reason else ""
        click.echo(f"tsmon: data are REPLAYED from a recording, not live{why}", err=True)
    if backend.delayacct() is False:
        click.echo(DELAYACCT_OFF_MESSAGE, err=True)


DELAYACCT_OFF_MESSAGE = (
    "tsmon: delay accounting is off (kernel.task_delayacct=0): only CPU delay is counted, and "
    "tasks started before it is switched on never get I/O, swap and memory delays; "
    "switch it on with `tsmon delayacct on` (root)"
)


class OneLineUsageError(click.UsageError):
    """A usage error shown as one line with the fix (``--help``), not click's usage block."""

    def show(self, file: Any = None) -> None:
        where = self.ctx.command_path if self.ctx is not None else "tsmon"
        message = " ".join(self.format_message().split())
        click.echo(f"tsmon: {message} (see '{where} --help')", err=True)


class OneLineCommand(click.Command):
    """A command whose parsing errors (unknown option, bad value) print one line on stderr."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            if isinstance(exc, OneLineUsageError):
                raise
            raise OneLineUsageError(exc.format_message(), exc.ctx) from None


def usage_error(message: str) -> None:
    """Fail with a one-line usage error (exit status 2) naming the current command."""
    raise OneLineUsageError(message, click.get_current_context(silent=True))


def note(message: str) -> None:
    """One line on stderr, prefixed ``tsmon:``."""
    click.echo(f"tsmon: {' '.join(str(message).split())}", err=True)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP end the run like Ctrl-C (KeyboardInterrupt), so a
    listening or endless command cleans up (deregisters its listener) and exits 0."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    saved = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(ValueError, OSError):
            saved[sig] = signal.signal(sig, interrupt)
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
