"""A tiny scripted backend for TUI tests that need exact numbers (the simulator covers the rest).

Each task has fixed per-second rates; ``advance(seconds)`` moves a virtual clock and grows the
counters; ``spawn``/``kill`` make tasks start and exit (exits are heard by the listener).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from tsmon_core.backends import BackendInfo, RawFrame
from tsmon_core.model import CgroupStats, ExitEvent, TaskStats

_NS = 1_000_000_000


@dataclass
class FakeTask:
    tid: int
    tgid: int
    comm: str
    uid: int = 0
    read_bps: float = 0.0
    write_bps: float = 0.0
    cpu_pct: float = 0.0
    blkio_pct: float = 0.0
    exit_status: int = 0
    counters: dict[str, float] = field(default_factory=dict)
    born: float = 0.0

    def record(self, now: float, version: int) -> TaskStats:
        c = self.counters
        fields = dict(
            ac_pid=self.tid,
            ac_tgid=self.tgid,
            ac_ppid=1,
            ac_uid=self.uid,
            ac_comm=self.comm.encode(),
            ac_btime=int(1_700_000_000 + self.born),
            ac_btime64=int(1_700_000_000 + self.born),
            ac_etime=int((now - self.born) * 1e6),
            read_bytes=int(c.get("read_bytes", 0)),
            write_bytes=int(c.get("write_bytes", 0)),
            read_char=int(c.get("read_bytes", 0)),
            write_char=int(c.get("write_bytes", 0)),
            cpu_run_virtual_total=int(c.get("cpu", 0)),
            cpu_run_real_total=int(c.get("cpu", 0)),
            ac_utime=int(c.get("cpu", 0) / 1000),
            blkio_delay_total=int(c.get("blkio", 0)),
            blkio_count=int(c.get("blkio", 0) // 1_000_000),
            blkio_delay_max=2_000_000 if c.get("blkio") else 0,
            blkio_delay_min=1_000_000 if c.get("blkio") else 0,
            blkio_delay_max_ts=1_700_000_000 * _NS if c.get("blkio") else 0,
            cpu_count=int(c.get("cpu", 0) // 1_000_000),
            cpu_delay_total=int(c.get("cpu", 0) // 10),
            nvcsw=int(now * 10),
            hiwater_rss=1024 * self.tid,
            ac_exitcode=self.exit_status,
        )
        return TaskStats.from_fields(version, **fields)

    def grow(self, seconds: float) -> None:
        c = self.counters
        c["read_bytes"] = c.get("read_bytes", 0) + self.read_bps * seconds
        c["write_bytes"] = c.get("write_bytes", 0) + self.write_bps * seconds
        c["cpu"] = c.get("cpu", 0) + self.cpu_pct / 100 * seconds * _NS
        c["blkio"] = c.get("blkio", 0) + self.blkio_pct / 100 * seconds * _NS


class FakeListener:
    def __init__(self, backend: FakeBackend) -> None:
        self.backend = backend

    @property
    def lost(self) -> int:
        return 0

    @property
    def cpumask(self) -> str:
        return "0"

    def fileno(self) -> int | None:
        return None

    def read(self, timeout: float | None = 0.0) -> list[ExitEvent]:
        events, self.backend.pending_exits = self.backend.pending_exits, []
        return events

    def close(self) -> None:
        pass


class FakeBackend:
    """Scripted tasks on a virtual clock."""

    def __init__(self, tasks: Sequence[FakeTask] = (), version: int = 17) -> None:
        self.version = version
        self.t = 100.0
        self.tasks = {t.tid: t for t in tasks}
        self.pending_exits: list[ExitEvent] = []
        self.delay_on: bool | None = True
        self._info = BackendInfo(
            kind="sim",
            kernel_release="6.18.0-fake",
            struct_version=version,
            cpus="0",
            nr_cpus=1,
            delayacct=True,
            reason="test double",
            hostname="fakehost",
        )

    @property
    def info(self) -> BackendInfo:
        return self._info

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds
        for task in self.tasks.values():
            task.grow(seconds)

    def spawn(self, task: FakeTask) -> None:
        task.born = self.t
        self.tasks[task.tid] = task

    def kill(self, tid: int, status: int = 0) -> None:
        task = self.tasks.pop(tid)
        task.exit_status = status
        self.pending_exits.append(
            ExitEvent(tid=tid, stats=task.record(self.t, self.version), t_mono=self.t)
        )

    def query_pid(self, tid: int) -> TaskStats:
        return self.tasks[tid].record(self.t, self.version)

    def query_tgid(self, tgid: int) -> TaskStats:
        return self.query_pid(tgid)

    def query_many(self, tids: Sequence[int]) -> dict[int, TaskStats]:
        return {t: self.query_pid(t) for t in tids if t in self.tasks}

    def list_tasks(self) -> dict[int, int]:
        return {t.tid: t.tgid for t in self.tasks.values()}

    def cgroup_stats(self, path: str) -> CgroupStats:
        return CgroupStats(len(self.tasks), 1, 0, 0, 0)

    def open_listener(self, cpumask: str | None = None, rcvbuf: int | None = None) -> FakeListener:
        return FakeListener(self)

    def collect(
        self, listener: FakeListener | None = None, cgroups: Sequence[str] = ()
    ) -> RawFrame:
        return RawFrame(
            t_mono=self.t,
            t_wall=time.time(),
            tasks={t.tid: t.record(self.t, self.version) for t in self.tasks.values()},
            tgids=self.list_tasks(),
            exits=listener.read() if listener else [],
            cgroups={c: self.cgroup_stats(c) for c in cgroups},
            cmdlines={t.tgid: f"/usr/bin/{t.comm} --flag" for t in self.tasks.values()},
        )

    def cmdline(self, tgid: int) -> str | None:
        return None

    def delayacct(self) -> bool | None:
        return self.delay_on

    def set_delayacct(self, enabled: bool) -> None:
        self.delay_on = enabled

    def close(self) -> None:
        pass
