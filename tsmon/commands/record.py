"""``tsmon record FILE``: write a session file headless; and the recorder behind the TUI's ``R``.

A session holds the raw records of every refresh (see tsmon_core.session), so ``tsmon replay``
shows it later, on any machine, through the same sampler and screens as the live view.
SIGINT and SIGTERM end the file cleanly (with its end line); each frame is on disk as soon as
it is taken.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import click

from ._common import (
    OneLineCommand,
    announce_backend,
    backend_option,
    handle_errors,
    note,
    open_backend_or_exit,
    usage_error,
)

if TYPE_CHECKING:
    from tsmon_core.backends import Backend
    from tsmon_core.sampler import Snapshot
    from tsmon_core.session import SessionWriter

__all__ = ["SessionRecorder", "default_path", "record", "recorder_factory"]


class SessionRecorder:
    """What the TUI's ``R`` drives: snapshots in, a session file out.

    ``write`` runs on the sampler's worker thread and ``close`` on the UI thread: a lock keeps
    a frame from being cut by the end line, and a write after ``close`` is dropped.
    """

    def __init__(
        self,
        path: str,
        backend: Backend,
        interval: float | None,
        *,
        keyframe_every: int | None = None,
    ) -> None:
        from tsmon_core.session import DEFAULT_KEYFRAME_EVERY, SessionWriter

        self.path = path
        self._frames = 0
        self._lock = threading.Lock()
        self._writer: SessionWriter | None = SessionWriter(
            path,
            info=backend.info,
            interval=interval,
            keyframe_every=keyframe_every or DEFAULT_KEYFRAME_EVERY,
        )

    @property
    def frames(self) -> int:
        """Frames written so far."""
        writer = self._writer
        return writer.frames if writer is not None else self._frames

    def write(self, snapshot: Snapshot) -> None:
        """Append the snapshot's frame (the first one carries every command line known)."""
        with self._lock:
            if self._writer is not None:
                self._writer.write_snapshot(snapshot)

    def close(self) -> None:
        """Write the end line and close the file."""
        with self._lock:
            writer, self._writer = self._writer, None
            if writer is not None:
                self._frames = writer.frames
                writer.close("stopped")


def default_path(directory: str | None = None, now: float | None = None) -> str:
    """A new file name for a TUI recording: ``tsmon-YYYYmmdd-HHMMSS.jsonl.gz``."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    base = os.path.join(directory or os.getcwd(), f"tsmon-{stamp}")
    path, n = f"{base}.jsonl.gz", 1
    while os.path.exists(path):
        path, n = f"{base}-{n}.jsonl.gz", n + 1
    return path


def recorder_factory(
    backend: Backend,
    interval: Callable[[], float] | float,
    directory: str | None = None,
) -> Callable[[], SessionRecorder]:
    """A factory for the TUI: each call starts a recording in a new file.

    ``interval`` is the refresh interval (or a function giving the current one); the files go
    to ``directory``, ``$TSMON_RECORD_DIR`` or the current directory.
    """

    def make() -> SessionRecorder:
        seconds = interval() if callable(interval) else interval
        where = directory or os.environ.get("TSMON_RECORD_DIR") or None
        return SessionRecorder(default_path(where), backend, seconds)

    return make


# --- the command -----------------------------------------------------------------------------


class _Stop:
    """Set by SIGINT/SIGTERM: the loop finishes the frame in hand and ends the file."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal: int | None = None

    def __call__(self, signum: int, frame: object) -> None:
        self.signal = signum
        self.event.set()
        if signum == signal.SIGINT:
            # A second Ctrl-C stops at once (the file then ends at its last whole frame).
            signal.signal(signal.SIGINT, signal.default_int_handler)


@contextlib.contextmanager
def _signals(stop: _Stop) -> Iterator[None]:
    saved = {}
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(ValueError, OSError):
            saved[sig] = signal.signal(sig, stop)
    try:
        yield
    finally:
        for sig, handler in saved.items():
            with contextlib.suppress(ValueError, OSError):
                signal.signal(sig, handler)


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


@click.command("record", cls=OneLineCommand)
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
@click.option(
    "-d",
    "--delay",
    type=click.FloatRange(min=0.05),
    default=1.0,
    show_default=True,
    metavar="SEC",
    help="Seconds between frames.",
)
@click.option(
    "-n",
    "--iter",
    "count",
    type=click.IntRange(min=1),
    metavar="COUNT",
    help="Record this many frames, then stop [until Ctrl-C].",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SEC",
    help="Record for this many seconds, then stop (frames at 0, d, 2d, ...).",
)
@click.option(
    "--cgroup",
    "cgroups",
    multiple=True,
    metavar="DIR",
    help="Also record cgroupstats of a cgroup v1 directory (repeatable).",
)
@click.option(
    "--keyframe-every",
    type=click.IntRange(min=1),
    default=60,  # session.DEFAULT_KEYFRAME_EVERY (not imported: start-up time)
    show_default=True,
    metavar="N",
    help="A full keyframe every N frames at most, sooner when much changes (smaller: faster "
    "seeks, bigger files).",
)
@click.option(
    "--gzip/--no-gzip",
    "compress",
    default=None,
    help="Compress with gzip [when FILE ends in .gz].",
)
@click.option("-q", "--quiet", is_flag=True, help="No messages on stderr, only errors.")
@backend_option
@handle_errors
def record(
    file: str,
    delay: float,
    count: int | None,
    duration: float | None,
    cgroups: tuple[str, ...],
    keyframe_every: int,
    compress: bool | None,
    quiet: bool,
    backend_kind: str,
    seed: int,
) -> None:
    """Record every task's raw counters to FILE (JSON Lines; FILE.gz is compressed).

    Replay it with `tsmon replay FILE`, or `tsmon report --from FILE -p PID`. The file is
    readable by its owner only: it names users and commands.

    \b
    tsmon record spike.jsonl.gz               until Ctrl-C, one frame a second
    tsmon record -d 0.5 --duration 600 a.jsonl
    tsmon record -n 60 --backend sim sim.jsonl
    """
    if count is not None and duration is not None:
        usage_error("-n and --duration both say when to stop: give one of them")
    from tsmon_core.errors import TsmonError
    from tsmon_core.session import SessionWriter

    backend = open_backend_or_exit(backend_kind, seed)
    listener = None
    writer: SessionWriter | None = None
    stop = _Stop()
    try:
        for path in cgroups:
            backend.cgroup_stats(path)  # a bad directory is a one-line error before we start
        writer = SessionWriter(
            file,
            info=backend.info,
            interval=delay,
            keyframe_every=keyframe_every,
            compress=compress,
        )
        announce_backend(backend, quiet=quiet)
        try:
            listener = backend.open_listener()
        except TsmonError as exc:
            if not quiet:
                note(f"no exit listener ({exc}): tasks shorter than an interval are not recorded")
        if not quiet:
            until = (
                f"{count} frames"
                if count is not None
                else f"{duration:g} s"
                if duration is not None
                else "Ctrl-C"
            )
            note(f"recording to {file} every {delay:g} s until {until}")
        with _signals(stop):
            _loop(backend, listener, cgroups, writer, delay, count, duration, stop)
        reason = "signal" if stop.signal is not None else "done"
        writer.close(reason)
        if not quiet:
            size = os.path.getsize(file)
            note(f"recorded {writer.frames} frames ({_size(size)}) to {file}")
    except KeyboardInterrupt:
        if writer is not None:
            writer.close("interrupted")
    finally:
        if writer is not None and not writer.closed:
            with contextlib.suppress(OSError):
                writer.close("error")
        if listener is not None:
            with contextlib.suppress(Exception):
                listener.close()
        backend.close()


def _loop(
    backend: Any,
    listener: Any,
    cgroups: Sequence[str],
    writer: SessionWriter,
    delay: float,
    count: int | None,
    duration: float | None,
    stop: _Stop,
) -> None:
    """One frame every ``delay`` seconds (on a fixed grid, so timing does not drift)."""
    from tsmon_core.errors import ListenerOverflowError

    start = time.monotonic()
    taken = 0
    while not stop.event.is_set():
        try:
            frame = backend.collect(listener, cgroups)
        except ListenerOverflowError:
            frame = backend.collect(listener, cgroups)  # the loss is counted in frame.lost
        writer.write(frame, delayacct=backend.delayacct())
        taken += 1
        if count is not None and taken >= count:
            return
        due = start + taken * delay
        now = time.monotonic()
        if due < now:  # a slow refresh: skip the slots already past
            due = start + (int((now - start) / delay) + 1) * delay
        if duration is not None and due - start > duration + 1e-6:
            return
        stop.event.wait(max(0.0, due - now))
