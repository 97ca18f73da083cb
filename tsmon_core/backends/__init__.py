"""The Backend protocol and the factory that picks one: netlink (live), sim or replay.

A backend returns raw kernel records (kernel field names and units). Everything derived
(rates, percentages, strings) is computed above it, by the sampler and the views.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ..model import CgroupStats, ExitEvent, TaskStats

__all__ = [
    "Backend",
    "BackendInfo",
    "ExitListener",
    "RawFrame",
    "open_backend",
]


@dataclass(frozen=True, slots=True)
class BackendInfo:
    """What a backend is and what it runs on.

    Attributes:
        kind: "netlink", "sim" or "replay".
        kernel_release: ``uname -r`` of the (real, simulated or recorded) kernel.
        struct_version: the taskstats struct version the kernel answers with, if known.
        cpus: the possible CPUs as a cpulist ("0-1").
        nr_cpus: how many CPUs are possible.
        delayacct: whether ``kernel.task_delayacct`` was on when the backend opened.
        reason: why ``auto`` chose this backend ("" when it was asked for by name).
        hostname: the machine's (or the recording's) host name.
    """

    kind: str
    kernel_release: str
    struct_version: int | None
    cpus: str
    nr_cpus: int
    delayacct: bool | None
    reason: str = ""
    hostname: str = ""

    @property
    def simulated(self) -> bool:
        """True when the data do not come from this machine's kernel now."""
        return self.kind != "netlink"


@dataclass(frozen=True, slots=True)
class RawFrame:
    """One refresh's raw data: what the kernel said, before any arithmetic.

    Attributes:
        t_mono: the backend's monotonic clock, seconds.
        t_wall: wall-clock time, seconds since the epoch.
        tasks: tid -> that thread's record, for every live thread that answered.
        tgids: tid -> thread group id, from the enumeration (records before v12 lack ac_tgid).
        exits: exit events heard since the previous frame, oldest first.
        lost: exit events lost by the listener so far (0 without a listener).
        cmdlines: tgid -> command line, for thread groups first seen in this frame.
        cgroups: cgroup directory -> its cgroupstats, for the directories asked for.
    """

    t_mono: float
    t_wall: float
    tasks: dict[int, TaskStats]
    tgids: dict[int, int]
    exits: list[ExitEvent] = field(default_factory=list)
    lost: int = 0
    cmdlines: dict[int, str] = field(default_factory=dict)
    cgroups: dict[str, CgroupStats] = field(default_factory=dict)


@runtime_checkable
class ExitListener(Protocol):
    """A cpumask listener: hears every task that exits on its CPUs."""

    @property
    def lost(self) -> int:
        """Events lost to overflow so far (exact: the kernel's drop count)."""
        ...

    @property
    def cpumask(self) -> str:
        """The cpulist registered."""
        ...

    def fileno(self) -> int | None:
        """A descriptor to wait on with select/poll, or None (simulator, replay)."""
        ...

    def read(self, timeout: float | None = 0.0) -> list[ExitEvent]:
        """Every event available now, waiting up to ``timeout`` seconds for the first.

        ``None`` waits until at least one event arrives. Raises ListenerOverflowError once per
        overflow episode (after which reading goes on; ``lost`` says how many were dropped).
        """
        ...

    def close(self) -> None:
        """Deregister the cpumask and close the socket."""
        ...


@runtime_checkable
class Backend(Protocol):
    """Where raw taskstats records come from."""

    @property
    def info(self) -> BackendInfo:
        """What this backend is; see BackendInfo."""
        ...

    def now(self) -> float:
        """The backend's monotonic clock in seconds (virtual in the simulator)."""
        ...

    def query_pid(self, tid: int) -> TaskStats:
        """The record of one thread. Raises TaskGoneError (ESRCH) or PermissionDeniedError."""
        ...

    def query_tgid(self, tgid: int) -> TaskStats:
        """The kernel's TGID record: live threads plus the dead threads' accumulated stats."""
        ...

    def query_many(self, tids: Sequence[int]) -> dict[int, TaskStats]:
        """Records of many threads at once; threads that are gone are left out."""
        ...

    def list_tasks(self) -> dict[int, int]:
        """Every live thread: tid -> tgid."""
        ...

    def cgroup_stats(self, path: str) -> CgroupStats:
        """Task-state counts of a cgroup v1 directory (CgroupUnsupportedError on cgroup2)."""
        ...

    def open_listener(self, cpumask: str | None = None, rcvbuf: int | None = None) -> ExitListener:
        """Register a listener on ``cpumask`` (default: every possible CPU)."""
        ...

    def collect(
        self, listener: ExitListener | None = None, cgroups: Sequence[str] = ()
    ) -> RawFrame:
        """One refresh: enumerate, query every thread, drain ``listener``, read ``cgroups``."""
        ...

    def cmdline(self, tgid: int) -> str | None:
        """The command line of a process, or None when it is gone or has none."""
        ...

    def delayacct(self) -> bool | None:
        """Whether ``kernel.task_delayacct`` is on now (None when unknown)."""
        ...

    def set_delayacct(self, enabled: bool) -> None:
        """Switch ``kernel.task_delayacct`` (PermissionDeniedError without root)."""
        ...

    def close(self) -> None:
        """Release sockets and listeners."""
        ...


def open_backend(kind: str = "auto", **options: object) -> Backend:
    """Open a backend by name: "netlink", "sim", "replay" or "auto".

    ``auto`` opens netlink when a PID query works and the simulator otherwise, and records
    why in ``info.reason``. Options go to the backend's constructor (``seed``, ``version``,
    ``tasks`` for the simulator; ``path`` for replay).
    """
    if kind == "netlink":
        from .live import NetlinkBackend

        return NetlinkBackend(**options)  # type: ignore[arg-type]
    if kind == "sim":
        from .sim import SimulatedBackend

        return SimulatedBackend(**options)  # type: ignore[arg-type]
    if kind == "replay":
        from .replay import ReplayBackend

        return ReplayBackend(**options)  # type: ignore[arg-type]
    if kind == "auto":
        from ..errors import TsmonError
        from .live import NetlinkBackend

        try:
            return NetlinkBackend(reason="auto: the kernel's taskstats interface answered")
        except TsmonError as exc:
            from .sim import SimulatedBackend  # only when needed: importing it costs ~40 ms

            return SimulatedBackend(reason=f"auto: simulated, because {exc}", **options)  # type: ignore[arg-type]
    raise ValueError(f"unknown backend {kind!r} (choose netlink, sim, replay or auto)")
