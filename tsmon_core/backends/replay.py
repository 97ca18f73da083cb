"""The replay backend: frames of a recorded session, served as a live backend serves them.

``collect()`` returns the next recorded frame, so the sampler and every view run unchanged on
a recording. The player controls (seek by frame or time, step, frame count) are methods of the
backend; pacing and pausing belong to whoever calls ``collect()`` (the TUI's timer, or a batch
loop that does not wait at all).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from .. import abi
from ..errors import BackendError, CgroupPathError, EndOfRecordingError, TaskGoneError
from ..model import CgroupStats, ExitEvent, TaskStats
from ..session import SessionHeader, SessionReader
from . import BackendInfo, ExitListener, RawFrame

if TYPE_CHECKING:
    from ..sampler import Sampler, Snapshot

__all__ = ["ReplayBackend", "ReplayListener"]

#: Fields a TGID reply sums over the live threads (kernel/taskstats.c fill_stats_for_tgid).
_TGID_SUMS = (
    *(f"{kind}_{end}" for kind, _ in abi.DELAY_KINDS for end in ("count", "delay_total")),
    "ac_etime",
    "ac_utime",
    "ac_stime",
    "nvcsw",
    "nivcsw",
)


class ReplayListener:
    """The listener of a replay: recorded exits come inside the frames, so it hears nothing."""

    def __init__(self, backend: ReplayBackend, cpumask: str) -> None:
        self._backend = backend
        self._cpumask = cpumask

    @property
    def lost(self) -> int:
        """Events the recorded listener had lost by the current frame."""
        frame = self._backend.current
        return frame.lost if frame is not None else 0

    @property
    def cpumask(self) -> str:
        """The recorded machine's CPUs."""
        return self._cpumask

    def fileno(self) -> int | None:
        """None: nothing to wait on."""
        return None

    def read(self, timeout: float | None = 0.0) -> list[ExitEvent]:
        """Nothing: the exits of a replay are in its frames."""
        return []

    def close(self) -> None:
        """Nothing to release."""


class ReplayBackend:
    """A Backend reading a session file recorded by ``tsmon record`` or the TUI's ``R``.

    Args:
        path: the session file (``.gz`` or not: the content decides).
        reason: shown in ``info.reason`` (default: where and when it was recorded).

    Raises:
        SessionFormatError: the file is not a session tsmon can read (one-line message).
        OSError: the file cannot be opened.
    """

    def __init__(self, path: str | os.PathLike[str], *, reason: str = "") -> None:
        self.path = os.fspath(path)
        self._reader = SessionReader(self.path)
        header = self._reader.header
        if not reason:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(header.started_wall))
            host = header.hostname or "an unknown host"
            reason = f"replay of {os.path.basename(self.path)}: {host}, {header.backend}, {when}"
        self._info = header.backend_info("replay", reason)
        self._lock = threading.RLock()
        self._frame: RawFrame | None = None
        self._position = -1
        self._fresh = True
        self._closed = False

    # -- what it is -----------------------------------------------------------------------

    @property
    def info(self) -> BackendInfo:
        """The recorded machine, with kind "replay"."""
        return self._info

    @property
    def header(self) -> SessionHeader:
        """The recording's header."""
        return self._reader.header

    @property
    def reader(self) -> SessionReader:
        """The session reader underneath (problems, index)."""
        return self._reader

    @property
    def current(self) -> RawFrame | None:
        """The frame ``collect()`` returned last."""
        return self._frame

    @property
    def position(self) -> int:
        """Number of the frame ``collect()`` returned last (-1 before the first)."""
        return self._position

    @property
    def frame_count(self) -> int:
        """Frames in the recording (indexes the whole file the first time)."""
        with self._lock:
            return self._reader.frame_count

    @property
    def at_end(self) -> bool:
        """The last frame has been served (or the file holds none)."""
        with self._lock:
            return self._position >= self._reader.frame_count - 1

    def problems(self) -> list[str]:
        """One line per problem found in the file so far (truncated, corrupt lines...)."""
        return self._reader.problems()

    def frame_time(self, number: int) -> tuple[float, float] | None:
        """(t_mono, t_wall) of a frame, once indexed."""
        with self._lock:
            self._reader.scan(until=number)
            return self._reader.frame_time(number)

    def elapsed(self, number: int | None = None) -> float:
        """Seconds from the first frame to frame ``number`` (default: the current one)."""
        number = self._position if number is None else number
        first = self.frame_time(0)
        here = self.frame_time(max(number, 0))
        if first is None or here is None:
            return 0.0
        return here[0] - first[0]

    @property
    def duration(self) -> float:
        """Seconds from the first frame to the last."""
        return self.elapsed(self.frame_count - 1) if self.frame_count else 0.0

    def interval_after(self, number: int | None = None) -> float | None:
        """Recorded seconds between frame ``number`` (default: current) and the next one."""
        number = self._position if number is None else number
        here, after = self.frame_time(number), self.frame_time(number + 1)
        if here is None or after is None:
            return None
        return after[0] - here[0]

    # -- playing ---------------------------------------------------------------------------

    def collect(
        self, listener: ExitListener | None = None, cgroups: Sequence[str] = ()
    ) -> RawFrame:
        """The next recorded frame (EndOfRecordingError after the last).

        The first frame after opening or seeking carries every command line recorded so far,
        as a live backend's first frame does.
        """
        with self._lock:
            frame = self._reader.read()
            if frame is None:
                raise EndOfRecordingError(self._reader.frame_count)
            if self._fresh:
                self._fresh = False
                live = set(frame.tgids.values()) | set(frame.tasks)
                known = {g: c for g, c in self._reader.known_cmdlines().items() if g in live}
                if known.keys() - frame.cmdlines.keys():
                    frame = replace(frame, cmdlines={**known, **frame.cmdlines})
            self._frame = frame
            self._position = self._reader.position
            return frame

    def seek(self, number: int) -> int:
        """Make ``collect()`` return frame ``number`` next; returns the frame that will come.

        Numbers are clamped to the recording; a frame that cannot be rebuilt (a corrupt line)
        gives the next good one.
        """
        with self._lock:
            self._fresh = True
            return self._reader.seek(number)

    def seek_time(self, t: float, *, clock: str = "elapsed") -> int:
        """Seek to the last frame at or before ``t`` (see SessionReader.seek_time)."""
        with self._lock:
            self._fresh = True
            return self._reader.seek_time(t, clock=clock)

    def restart_at(
        self, number: int, sampler: Callable[[ReplayBackend], Sampler] | None = None
    ) -> tuple[Sampler, Snapshot]:
        """A fresh sampler showing frame ``number`` with the rates live showed then.

        The sampler is fed the frame before ``number`` first, so rates and percentages cover
        the recorded interval (accumulated figures start there). Returns the sampler and the
        snapshot of frame ``number`` (or of the next good one).
        """
        from ..sampler import Sampler

        make = sampler or (lambda backend: Sampler(backend, listen=False))
        with self._lock:
            start = self.seek(max(number - 1, 0))
            fresh = make(self)
            snapshot = fresh.poll()
            if start < number and not self.at_end:
                snapshot = fresh.poll()
            return fresh, snapshot

    # -- queries, answered from the current frame ----------------------------------------------

    def _current(self) -> RawFrame:
        frame = self._frame
        if frame is None:  # asked before the first collect: answer from the first frame
            with self._lock:
                if self._frame is None:
                    self.collect()
                    self.seek(0)
                    self._position = -1
                frame = self._frame
        assert frame is not None
        return frame

    def now(self) -> float:
        """The recorded monotonic time of the current frame (of the first before any)."""
        frame = self._frame
        if frame is not None:
            return frame.t_mono
        first = self.frame_time(0)
        return first[0] if first else 0.0

    def query_pid(self, tid: int) -> TaskStats:
        """A thread's record in the current frame (TaskGoneError when it is not there)."""
        frame = self._current()
        record = frame.tasks.get(tid)
        if record is None:
            raise TaskGoneError(tid)
        return record

    def query_tgid(self, tgid: int) -> TaskStats:
        """A TGID record rebuilt from the current frame's threads of ``tgid``.

        As the kernel's, it sums delays, elapsed, user and system time and context switches
        and leaves the other fields 0, but over the recorded threads only: the recording
        does not hold the totals of threads that had already exited.
        """
        frame = self._current()
        members = [
            rec
            for tid, rec in frame.tasks.items()
            if frame.tgids.get(tid, rec.ac_tgid or tid) == tgid
        ]
        if not members:
            raise TaskGoneError(tgid)
        layout = type(members[0]).layout
        names = set(layout.names)
        sums = {
            name: sum(getattr(rec, name) or 0 for rec in members)
            for name in _TGID_SUMS
            if name in names
        }
        return TaskStats.from_fields(layout.version, **sums)

    def query_many(self, tids: Sequence[int]) -> dict[int, TaskStats]:
        """Records of the current frame's threads among ``tids``."""
        tasks = self._current().tasks
        return {tid: tasks[tid] for tid in tids if tid in tasks}

    def list_tasks(self) -> dict[int, int]:
        """The current frame's threads: tid -> tgid."""
        return dict(self._current().tgids)

    def cgroup_stats(self, path: str) -> CgroupStats:
        """A cgroup's counts in the current frame (CgroupPathError when none were recorded)."""
        stats = self._current().cgroups.get(path)
        if stats is None:
            raise CgroupPathError(
                path, 2, f"{path}: no cgroupstats of this directory in the recording"
            )
        return stats

    def open_listener(
        self, cpumask: str | None = None, rcvbuf: int | None = None
    ) -> ReplayListener:
        """A listener that hears nothing: recorded exits arrive inside the frames."""
        return ReplayListener(self, self._info.cpus if cpumask is None else cpumask)

    def cmdline(self, tgid: int) -> str | None:
        """A process's command line as recorded up to the current frame."""
        return self._reader.cmdline(tgid)

    def delayacct(self) -> bool | None:
        """Whether delay accounting was on at the current frame."""
        return self._reader.delayacct

    def set_delayacct(self, enabled: bool) -> None:
        """Refused: a replay shows what was recorded."""
        raise BackendError(
            "a replay cannot switch kernel.task_delayacct: it shows what was recorded"
        )

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._reader.close()

    def __enter__(self) -> ReplayBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
