"""The live backend: this machine's kernel, through netlink.py and /proc."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from ..errors import CgroupPathError, ListenerOverflowError, PermissionDeniedError
from ..model import CgroupStats, ExitEvent, TaskStats
from ..netlink import DEFAULT_BATCH, DEFAULT_LISTENER_RCVBUF, ExitListenerSocket, TaskstatsSocket
from ..tasklist import ThreadLister, list_threads
from . import BackendInfo, ExitListener, RawFrame

__all__ = ["NetlinkBackend", "possible_cpus"]

_DELAYACCT = "/proc/sys/kernel/task_delayacct"
_POSSIBLE = "/sys/devices/system/cpu/possible"


def possible_cpus() -> tuple[str, int]:
    """The possible CPUs as the kernel lists them ("0-1") and how many there are."""
    try:
        with open(_POSSIBLE, encoding="ascii") as f:
            cpulist = f.read().strip()
    except OSError:  # no sysfs: assume the CPUs Python can count
        cpulist = f"0-{max((os.cpu_count() or 1) - 1, 0)}"
    count = 0
    for part in cpulist.split(","):
        low, _, high = part.partition("-")
        count += int(high or low) - int(low) + 1
    return cpulist, count


class NetlinkBackend:
    """Raw taskstats records from the running kernel.

    Opening fails fast with a typed error: FamilyUnavailableError when the kernel has no
    TASKSTATS family, PermissionDeniedError when a PID query is refused (no CAP_NET_ADMIN).
    """

    def __init__(self, reason: str = "", *, batch: int = DEFAULT_BATCH) -> None:
        self._sock = TaskstatsSocket(batch=batch)
        try:
            own = self._sock.query_pid(os.getpid())
            cpus, nr_cpus = possible_cpus()
        except BaseException:
            self._sock.close()
            raise
        uname = os.uname()
        self._info = BackendInfo(
            kind="netlink",
            kernel_release=uname.release,
            struct_version=own.version,
            cpus=cpus,
            nr_cpus=nr_cpus,
            delayacct=self.delayacct(),
            reason=reason,
            hostname=uname.nodename,
        )
        self._known_tgids: set[int] = set()
        self._lister = ThreadLister()

    @property
    def info(self) -> BackendInfo:
        """What this backend is; see BackendInfo."""
        return self._info

    @property
    def family_id(self) -> int:
        """The TASKSTATS generic-netlink family id on this kernel."""
        return self._sock.family_id

    def now(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    def query_pid(self, tid: int) -> TaskStats:
        """The record of one thread. Raises TaskGoneError (ESRCH) or PermissionDeniedError."""
        return self._sock.query_pid(tid)

    def query_tgid(self, tgid: int) -> TaskStats:
        """The kernel's TGID record: live threads plus the dead threads' accumulated stats."""
        return self._sock.query_tgid(tgid)

    def query_many(self, tids: Sequence[int]) -> dict[int, TaskStats]:
        """Records of many threads at once; threads that are gone are left out."""
        return self._sock.query_many(tids)

    def list_tasks(self) -> dict[int, int]:
        """Every live thread, tid -> tgid, from /proc/*/task (vanishing entries are skipped)."""
        return list_threads()

    def cgroup_stats(self, path: str) -> CgroupStats:
        """Task-state counts of a cgroup v1 directory.

        Raises CgroupPathError when the directory cannot be opened and CgroupUnsupportedError
        on cgroup2 or a directory that is not a cgroup.
        """
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise CgroupPathError(path, exc.errno or 0) from exc
        try:
            return self._sock.cgroupstats(fd, path)
        finally:
            os.close(fd)

    def open_listener(
        self, cpumask: str | None = None, rcvbuf: int | None = None
    ) -> ExitListenerSocket:
        """Register a listener on ``cpumask`` (default: every possible CPU).

        ``rcvbuf`` defaults to 64 MiB (the kernel doubles it; SO_RCVBUFFORCE as root, else
        capped at net.core.rmem_max).
        """
        return ExitListenerSocket(
            self._sock.family_id,
            self._info.cpus if cpumask is None else cpumask,
            DEFAULT_LISTENER_RCVBUF if rcvbuf is None else rcvbuf,
        )

    def collect(
        self, listener: ExitListener | None = None, cgroups: Sequence[str] = ()
    ) -> RawFrame:
        """One refresh: enumerate, query every thread, drain ``listener``, read ``cgroups``.

        ``tgids`` holds the threads that answered; exits are drained after the queries, so a
        thread that vanished in between shows up there.
        """
        listed, reused = self._lister.listing()
        t_mono, t_wall = time.monotonic(), time.time()
        tasks = self._sock.query_many(list(listed))
        if reused:
            self._confirm(listed, reused, tasks)
        # The threads that answered (the listing is ours: when all answered, it is that)
        tgids = listed if len(listed) == len(tasks) else {tid: listed[tid] for tid in tasks}
        exits: list[ExitEvent] = []
        lost = 0
        if listener is not None:
            for _ in range(4):  # an overflow is counted in ``lost``; its events come next
                try:
                    exits = listener.read(0.0)
                    break
                except ListenerOverflowError:
                    continue
            lost = listener.lost
        groups = set(tgids.values())
        cmdlines: dict[int, str] = {}
        for tgid in groups - self._known_tgids:
            line = self.cmdline(tgid)
            if line is not None:
                cmdlines[tgid] = line
        self._known_tgids = groups
        stats = {path: self.cgroup_stats(path) for path in cgroups}
        return RawFrame(t_mono, t_wall, tasks, tgids, exits, lost, cmdlines, stats)

    def _confirm(
        self, listed: dict[int, int], reused: set[int], tasks: dict[int, TaskStats]
    ) -> None:
        """Relist and query the processes whose reused listing named a thread that is gone:
        with the same count, others came (updates ``listed`` and ``tasks`` in place)."""
        stale = {listed[tid] for tid in listed.keys() - tasks.keys()} & reused
        if not stale:
            return
        fresh = self._lister.relist(stale)
        for tid in [t for t, g in listed.items() if g in stale and t not in fresh]:
            del listed[tid]
            tasks.pop(tid, None)
        listed.update(fresh)
        tasks.update(self._sock.query_many([t for t in fresh if t not in tasks]))

    def cmdline(self, tgid: int) -> str | None:
        """The command line of a process, or None when it is gone or has none (kernel threads)."""
        try:
            with open(f"/proc/{tgid}/cmdline", "rb") as f:
                raw = f.read()
        except OSError:
            return None
        text = raw.rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", "replace")
        return text or None

    def delayacct(self) -> bool | None:
        """Whether ``kernel.task_delayacct`` is on now (None when unknown)."""
        try:
            with open(_DELAYACCT, encoding="ascii") as f:
                return f.read().strip() not in ("", "0")
        except OSError:
            return None

    def set_delayacct(self, enabled: bool) -> None:
        """Switch ``kernel.task_delayacct`` (PermissionDeniedError without root).

        Only tasks forked while it is on get non-CPU delays.
        """
        try:
            with open(_DELAYACCT, "w", encoding="ascii") as f:
                f.write("1\n" if enabled else "0\n")
        except PermissionError as exc:
            raise PermissionDeniedError(
                "permission denied: switching kernel.task_delayacct needs root"
            ) from exc

    def close(self) -> None:
        """Close the query socket (listeners are closed by their owners)."""
        self._sock.close()

    def __enter__(self) -> NetlinkBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
