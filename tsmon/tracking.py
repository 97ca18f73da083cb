"""Bounded state the TUI keeps across snapshots: histories, the exit log, cgroup views.

The sampler worker updates it (off the UI thread) right after each poll; screens only read.
Everything here has a fixed ceiling so 30 minutes of 10,000 churning tasks stay flat in memory:
a history ring per live task (dropped when the task goes), an exit log of at most
``EXIT_LOG_LEN`` entries, and cgroup rows rebuilt on each refresh.
"""

from __future__ import annotations

import functools
import os
import threading
from array import array
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path

from tsmon_core.abi import DELAY_KINDS
from tsmon_core.figures import ThreadColumns
from tsmon_core.metrics import DELAY_KIND_NAMES, delay_total_field
from tsmon_core.model import TaskStats, reader_for
from tsmon_core.sampler import ExitRecord, Snapshot, TaskRow

from .columns import clean_text
from .formatting import format_exit

__all__ = [
    "EXIT_LOG_LEN",
    "HISTORY_LEN",
    "CgroupRow",
    "ExitEntry",
    "History",
    "Tracked",
    "cgroup_version",
]

HISTORY_LEN = 180  # samples per series: three minutes at the default 1 s interval
EXIT_LOG_LEN = 5000  # exits kept, newest first
_DELAY_FIELDS = tuple(delay_total_field(k) for k in DELAY_KIND_NAMES)
_NS = 1_000_000_000
_LABELS = dict(DELAY_KINDS)


class History:
    """Per-task rings of (I/O bytes/s, delay %) samples, keyed by ("t", tid) or ("p", tgid).

    A task is remembered with its start time, so a reused id starts a fresh ring. Rings of
    tasks that are gone are dropped at the next update, so the store is bounded by the number
    of live tasks times ``length``.
    """

    def __init__(self, length: int = HISTORY_LEN) -> None:
        self.length = length
        self._rings: dict[tuple[str, int], tuple[int, array[float], array[float]]] = {}

    def __len__(self) -> int:
        return len(self._rings)

    def update(self, samples: dict[tuple[str, int], tuple[int, float, float]]) -> None:
        """Append one sample per task (start time, io, delay); forget tasks not listed."""
        old = self._rings
        fresh: dict[tuple[str, int], tuple[int, array[float], array[float]]] = {}
        length = self.length
        for key, (start, io, delay) in samples.items():
            ring = old.get(key)
            if ring is None or ring[0] != start:
                ring = (start, array("f"), array("f"))
            ios, delays = ring[1], ring[2]
            ios.append(io)
            delays.append(delay)
            if len(ios) > length:
                del ios[0]
                del delays[0]
            fresh[key] = ring
        self._rings = fresh

    def get(self, key: tuple[str, int]) -> tuple[list[float], list[float]]:
        """The I/O-rate and delay-% series of a task, oldest first (empty when unknown)."""
        ring = self._rings.get(key)
        if ring is None:
            return [], []
        return list(ring[1]), list(ring[2])


_IO_GET = attrgetter("read_bytes", "write_bytes")
_DELAY_GET = attrgetter(*_DELAY_FIELDS)
_SAMPLE_FIELDS = ("read_bytes", "write_bytes", *_DELAY_FIELDS)


def _zero(values: tuple[int | None, ...]) -> tuple[int, ...]:
    return tuple(v or 0 for v in values)


@functools.cache
def _sample_reader(klass: type[TaskStats]) -> Callable[[bytes], tuple[int, ...]] | None:
    """One C-level call reading _SAMPLE_FIELDS (cached by class alone: it runs per record)."""
    return reader_for(klass, _SAMPLE_FIELDS)


def _io_and_delay(stats: TaskStats) -> tuple[int, int, int]:
    """(read bytes, write bytes, sum of delay totals) of a record; absent fields count 0."""
    read = _sample_reader(type(stats))
    if read is not None:
        values = read(stats)
        rd, wr = values[0], values[1]
        return rd, wr, sum(values) - rd - wr
    rd, wr = _zero(_IO_GET(stats))
    return rd, wr, sum(_zero(_DELAY_GET(stats)))


def thread_samples(rows: Sequence[TaskRow]) -> list[tuple[float, float, float]]:
    """(read bytes/s, write bytes/s, sum of delay %) of each thread over the interval.

    Reads each record's fields with one C-level call (this runs on every refresh for every
    thread). A thread without a baseline (first sight, or a reused id) gives zeros.
    """
    out: list[tuple[float, float, float]] = []
    append = out.append
    none3 = (0.0, 0.0, 0.0)
    for r in rows:
        dt = r[7]
        prev = r[3]
        if not dt or (prev is None and not r[5]):
            append(none3)
            continue
        rd, wr, delay = _io_and_delay(r[2])
        if prev is not None:
            prd, pwr, pdelay = _io_and_delay(prev)
            rd -= prd
            wr -= pwr
            delay -= pdelay
        append(
            (
                rd / dt if rd > 0 else 0.0,
                wr / dt if wr > 0 else 0.0,
                delay * 100.0 / (dt * _NS) if delay > 0 else 0.0,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class ExitEntry:
    """One line of the exit log (derived once from an ExitRecord; the record is not kept)."""

    t_wall: float
    tid: int
    tgid: int
    comm: str
    lifetime_s: float
    exit_code: int | None
    signal: int
    cpu_s: float
    read_bytes: int
    write_bytes: int
    largest_kind: str
    largest_ns: int
    group_exit: bool
    wait_status: int = 0

    @classmethod
    def from_record(cls, rec: ExitRecord) -> ExitEntry:
        """Derive the log line of an exit."""
        s = rec.stats
        kind, total = rec.largest_delay()
        return cls(
            t_wall=rec.t_wall,
            tid=rec.tid,
            tgid=rec.tgid,
            comm=clean_text(rec.comm),
            lifetime_s=rec.lifetime_us / 1e6,
            exit_code=rec.exit_code,
            signal=rec.signal,
            cpu_s=((s.ac_utime or 0) + (s.ac_stime or 0)) / 1e6,
            read_bytes=s.read_bytes or 0,
            write_bytes=s.write_bytes or 0,
            largest_kind=_LABELS.get(kind, kind),
            largest_ns=total,
            group_exit=rec.group_exit,
            wait_status=rec.status,
        )

    @property
    def status(self) -> str:
        """'exit 0', 'exit 3', 'SIGKILL' or 'SIGSEGV (core)'."""
        return format_exit(self.wait_status)


# --- cgroups ---------------------------------------------------------------------------

CGROUP_STATES = ("sleeping", "running", "stopped", "uninterruptible", "io_wait")


def cgroup_version(path: str) -> int | None:
    """1 or 2 for a cgroup directory on this machine, None when it is not one here."""
    p = Path(path)
    if (p / "tasks").is_file():
        return 1
    if (p / "cgroup.threads").is_file():
        return 2
    return None


def _pressure(path: Path) -> dict[str, float]:
    """avg10 of the 'some' (and 'full') lines of cpu, io and memory pressure files."""
    out: dict[str, float] = {}
    for res in ("cpu", "io", "memory"):
        try:
            text = (path / f"{res}.pressure").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            parts = line.split()
            if parts and parts[0] in ("some", "full"):
                for part in parts[1:]:
                    if part.startswith("avg10="):
                        out[f"{res} {parts[0]}"] = float(part[6:])
    return out


def _members(path: Path, limit: int = 2000) -> set[int]:
    """Thread ids in a cgroup2 directory and its descendants (walk bounded to ``limit`` dirs)."""
    tids: set[int] = set()
    seen = 0
    for root, _dirs, _files in os.walk(path):
        seen += 1
        if seen > limit:
            break
        try:
            with open(os.path.join(root, "cgroup.threads")) as fh:
                tids.update(int(x) for x in fh.read().split())
        except (OSError, ValueError):
            continue
    return tids


_STATE_INDEX = {"R": 1, "S": 0, "I": 0, "T": 2, "t": 2, "D": 3}


def _task_state(tid: int) -> str | None:
    try:
        with open(f"/proc/{tid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    end = data.rfind(b")")
    return data[end + 2 : end + 3].decode() if end >= 0 else None


@dataclass(slots=True)
class CgroupRow:
    """One cgroup as the cgroups tab shows it.

    Attributes:
        path: the directory.
        source: "cgroupstats" (the kernel's counts, v1), "derived" (cgroup2: counted from
            member tasks) or "unavailable".
        counts: sleeping, running, stopped, uninterruptible, io_wait (None when unknown).
        pressure: "cpu some" -> avg10 %, ... (cgroup2 only).
        members: threads in the cgroup that tsmon sees (None when unknown).
        read_bps, write_bps, blkio_pct, cpu_delay_pct: sums over member threads.
        note: why figures are missing.
    """

    path: str
    source: str
    counts: tuple[int | None, ...] = (None,) * 5
    pressure: dict[str, float] = field(default_factory=dict)
    members: int | None = None
    read_bps: float | None = None
    write_bps: float | None = None
    blkio_pct: float | None = None
    cpu_delay_pct: float | None = None
    note: str = ""


_SUM_METRICS = ("read_bps", "write_bps", "blkio_delay_pct", "cpu_delay_pct")


def _sums(rows: Sequence[TaskRow]) -> tuple[int, float, float, float, float]:
    """Members, and the sums of their read/write rates and block-I/O and CPU delay %."""
    columns = ThreadColumns(rows)  # gathered once for the four figures
    totals = [
        sum(v for v in columns.values(name) if v is not None and v > 0) for name in _SUM_METRICS
    ]
    return len(rows), totals[0], totals[1], totals[2], totals[3]


#: Seconds between re-deriving cgroup2 state counts (/proc/TID/stat costs ~0.1 ms a thread).
STATE_EVERY = 5.0


def build_cgroup_rows(
    snapshot: Snapshot,
    v2_dirs: Sequence[str],
    cache: dict[str, tuple[float, set[int], tuple[int, ...]]] | None = None,
) -> list[CgroupRow]:
    """Rows for the kernel's cgroupstats (v1) and for cgroup2 directories (derived).

    cgroup2 membership and state counts are re-read at most every ``STATE_EVERY`` seconds
    when a ``cache`` is given (the I/O and delay sums follow every refresh).
    """
    out: list[CgroupRow] = []
    for path, stats in snapshot.cgroups.items():
        members: list[TaskRow] = []
        v = cgroup_version(path)
        if v == 1:
            try:
                tids = {int(x) for x in Path(path, "tasks").read_text().split()}
                members = [r for r in snapshot.threads if r.tid in tids]
            except (OSError, ValueError):
                members = []
        row = CgroupRow(
            path,
            "cgroupstats",
            (
                stats.nr_sleeping,
                stats.nr_running,
                stats.nr_stopped,
                stats.nr_uninterruptible,
                stats.nr_io_wait,
            ),
        )
        if members:
            row.members, row.read_bps, row.write_bps, row.blkio_pct, row.cpu_delay_pct = _sums(
                members
            )
        out.append(row)
    by_tid = {r.tid: r for r in snapshot.threads}
    states: dict[int, str | None] = {}  # each thread's /proc state read once per refresh
    for path in v2_dirs:
        if path in snapshot.cgroups:
            continue
        p = Path(path)
        if cgroup_version(path) != 2:
            out.append(CgroupRow(path, "unavailable", note="not a cgroup directory here"))
            continue
        cached = cache.get(path) if cache is not None else None
        if cached is not None and snapshot.t_mono - cached[0] < STATE_EVERY:
            _, tids, counted = cached
            member_rows = [r for r in map(by_tid.get, tids) if r is not None]
        else:
            tids = _members(p)
            counts = [0, 0, 0, 0, 0]
            member_rows = []
            for tid in tids:
                if tid not in states:
                    states[tid] = _task_state(tid)
                state = states[tid]
                if state is None:
                    continue
                idx = _STATE_INDEX.get(state)
                if idx is not None:
                    counts[idx] += 1
                row_ = by_tid.get(tid)
                if row_ is not None:
                    member_rows.append(row_)
                    # the kernel's io_wait is "in D state waiting on I/O": approximate it with
                    # threads in D whose block-I/O delay grew during the interval
                    if state == "D" and (row_.delta("blkio_delay_total") or 0) > 0:
                        counts[4] += 1
            counted = tuple(counts)
            if cache is not None:
                cache[path] = (snapshot.t_mono, tids, counted)
        row = CgroupRow(path, "derived", counted, _pressure(p))
        row.members, row.read_bps, row.write_bps, row.blkio_pct, row.cpu_delay_pct = _sums(
            member_rows
        )
        out.append(row)
    return out


def default_cgroup_dirs(root: str = "/sys/fs/cgroup", limit: int = 24) -> list[str]:
    """The top-level cgroup2 groups of this machine, for the tab when none are named.

    The cgroup2 mount is ``root`` itself (unified mode) or ``root/unified`` (hybrid mode).
    """
    if cgroup_version(root) != 2:
        root = f"{root}/unified"
        if cgroup_version(root) != 2:
            return []
    p = Path(root)
    try:
        children = sorted(str(c) for c in p.iterdir() if (c / "cgroup.threads").is_file())
    except OSError:
        return []
    return [root, *children[: limit - 1]]


# --- everything together ---------------------------------------------------------------


class Tracked:
    """What the worker keeps across snapshots for the screens (thread-safe reads via lock).

    Attributes:
        history: I/O and delay rings of live threads and processes.
        exits: the exit log, newest first, at most ``EXIT_LOG_LEN`` entries.
        exits_total: exits heard since start (the log itself is bounded).
        exits_per_s: exits per second over the last interval.
        read_bps, write_bps: disk totals of the last interval (every thread, exited included).
        processes: thread groups in the last snapshot.
        cgroups: rows of the cgroups tab from the last refresh.
    """

    def __init__(
        self,
        cgroup2_dirs: Sequence[str] = (),
        history_len: int = HISTORY_LEN,
        exit_log_len: int = EXIT_LOG_LEN,
    ) -> None:
        self.lock = threading.Lock()
        self.history = History(history_len)
        self.exits: deque[ExitEntry] = deque(maxlen=exit_log_len)
        self.exits_total = 0
        self.exits_per_s = 0.0
        self.cgroup2_dirs = list(cgroup2_dirs)
        self.cgroups: list[CgroupRow] = []
        self._cgroup_cache: dict[str, tuple[float, set[int], tuple[int, ...]]] = {}
        self.generation = 0
        self.read_bps = 0.0
        self.write_bps = 0.0
        self.processes = 0

    def add_exits(self, snapshot: Snapshot) -> None:
        """Log the snapshot's exits (cheap: done before the frame is painted)."""
        entries = [ExitEntry.from_record(rec) for rec in snapshot.exits]
        with self.lock:
            self.exits.extendleft(entries)
            self.exits_total += len(entries)
            self.exits_per_s = len(entries) / snapshot.dt if snapshot.dt else 0.0

    def update_history(self, snapshot: Snapshot, with_cgroups: bool = True) -> None:
        """Histories, totals and cgroup rows (a per-thread pass: done after the paint)."""
        samples: dict[tuple[str, int], tuple[int, float, float]] = {}
        procs: dict[int, list[float]] = {}
        total_read = total_write = 0.0
        threads = snapshot.threads
        for row, (rd, wr, delay) in zip(threads, thread_samples(threads), strict=True):
            total_read += rd
            total_write += wr
            io = rd + wr
            stats = row[2]
            samples[("t", row[0])] = (stats.ac_btime64 or stats.ac_btime or 0, io, delay)
            acc = procs.get(row[1])
            if acc is None:
                procs[row[1]] = [io, delay]
            else:
                acc[0] += io
                acc[1] += delay
        for tgid, (io, delay) in procs.items():
            samples[("p", tgid)] = (0, io, delay)
        cgroups = (
            build_cgroup_rows(snapshot, self.cgroup2_dirs, self._cgroup_cache)
            if with_cgroups and (snapshot.cgroups or self.cgroup2_dirs)
            else []
        )
        with self.lock:
            self.history.update(samples)
            self.read_bps, self.write_bps = total_read, total_write
            self.processes = len(procs)
            if with_cgroups:
                self.cgroups = cgroups
            self.generation += 1

    def update(self, snapshot: Snapshot, with_cgroups: bool = True) -> None:
        """Fold one snapshot in: exits, then histories, totals and cgroups."""
        self.add_exits(snapshot)
        self.update_history(snapshot, with_cgroups)

    def exit_entries(self) -> list[ExitEntry]:
        """The exit log now, newest first (a copy)."""
        with self.lock:
            return list(self.exits)

    def series(self, key: tuple[str, int]) -> tuple[list[float], list[float]]:
        """A task's history (a copy)."""
        with self.lock:
            return self.history.get(key)
