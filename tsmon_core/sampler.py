"""Raw frames to snapshots: per-thread and per-process rows with rates, exits merged in.

The sampler keeps the previous record of every task so that a refresh yields deltas over the
measured interval. A task is identified by its tid and start time, so a reused tid starts
fresh; a counter that goes backwards gives no rate rather than a negative one. Exit events
heard during the interval are merged in, so a task that lived 5 ms between two refreshes is
still counted. Rows compute their figures lazily: a refresh costs one small object per task.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter, le, sub
from typing import TYPE_CHECKING, Any, cast

from .abi import DELAY_KINDS
from .backends import Backend, BackendInfo, ExitListener, RawFrame
from .baseline import Baseline, baseline_of
from .errors import ListenerOverflowError, TsmonError
from .metrics import COUNTER_FIELDS, METRICS, Metric
from .model import CgroupStats, ExitEvent, TaskStats, reader_for

if TYPE_CHECKING:
    from .figures import ThreadColumns

__all__ = [
    "ExitRecord",
    "ProcessRow",
    "Sampler",
    "Snapshot",
    "TaskRow",
    "row_field",
    "start_time",
]

_NS_PER_S = 1_000_000_000
_GAUGE_FIELDS = frozenset(m.field for m in METRICS.values() if m.kind == "gauge")
# Rates and percentages over the interval: metric name -> (field getter, scale).
_INTERVAL: dict[str, tuple[Callable[[TaskStats], int | None], float]] = {
    m.name: (attrgetter(m.field), 100.0 / _NS_PER_S if m.kind == "percent" else 1.0)
    for m in METRICS.values()
    if m.kind in ("rate", "percent")
}


def start_time(stats: TaskStats) -> int:
    """The task's start time in seconds since the epoch (0 when the record has none)."""
    return stats.ac_btime64 or stats.ac_btime or 0


_CLOCK_FIELDS = ("ac_etime", "ac_btime64")
# A frame's tids, its one record class and their (ac_etime, ac_btime64) as columns
_Clocks = tuple[list[int], type[TaskStats], Sequence[int], Sequence[int]]


def _clock_columns(
    records: list[TaskStats],
) -> tuple[type[TaskStats], Sequence[int], Sequence[int]] | None:
    """The one class of ``records`` with their ac_etime and ac_btime64 as columns, or None
    (several layouts, or one without those fields). Read record by record in C: joining
    the records to read them as columns held one more copy of them all (+8 MB of RSS at
    10,000 tasks)."""
    classes = set(map(type, records))
    if len(classes) != 1:
        return None
    klass: type[TaskStats] = classes.pop()
    clock = reader_for(klass, _CLOCK_FIELDS)
    if clock is None:
        return None
    if not records:
        return klass, (), ()
    ages, starts = zip(*map(clock, records), strict=True)
    return klass, ages, starts


def _aged_only(
    old_ages: Sequence[int], old_starts: Sequence[int], ages: Sequence[int], starts: Sequence[int]
) -> bool:
    """Whether every task, place by place, is no younger than before and started at the same
    time (give or take the kernel's second of jitter in now - etime): checked in C."""
    if not all(map(le, old_ages, ages)):
        return False
    if old_starts == starts:
        return True
    moved: list[int] = list(map(sub, old_starts, starts))
    return min(moved) >= -1 and max(moved) <= 1


def _same_task(old: TaskStats, new: TaskStats) -> bool:
    """Whether two records of one tid belong to the same task (not a reused tid)."""
    old_start, new_start = start_time(old), start_time(new)
    if old_start and new_start and abs(old_start - new_start) > 1:
        return False  # the kernel derives btime from now - etime: allow a second of jitter
    old_etime, new_etime = old.ac_etime, new.ac_etime
    return old_etime is None or new_etime is None or new_etime >= old_etime


class _Rates:
    """Figures shared by thread and process rows, from their delta(), accum(), current(), span()."""

    __slots__ = ()

    @abstractmethod
    def delta(self, name: str) -> int | None:
        """How much a counter grew during the interval."""

    @abstractmethod
    def accum(self, name: str) -> int | None:
        """How much a counter grew since tsmon first saw the task."""

    @abstractmethod
    def current(self, name: str) -> int | None:
        """A field's value now."""

    @abstractmethod
    def span(self, accumulated: bool) -> float | None:
        """Seconds the figures cover."""

    def value(self, metric: Metric | str, accumulated: bool = False) -> float | None:
        """A metric's figure over the interval, or over tsmon's lifetime when accumulated.

        Accumulated rates and percentages are averages over the time since tsmon started
        watching the task; None when there is no baseline yet.
        """
        m = METRICS[metric] if isinstance(metric, str) else metric
        if m.kind == "gauge":
            return self.current(m.field)
        get = self.accum if accumulated else self.delta
        if m.kind == "avg":
            total, count = get(m.field), get(m.count_field)
            if total is None or not count:
                return None if total is None else 0.0
            return total / count
        amount = get(m.field)
        span = self.span(accumulated)
        if amount is None or not span:
            return None
        if m.kind == "percent":
            return amount * 100.0 / (span * _NS_PER_S)
        return amount / span


class TaskRow(tuple, _Rates):  # type: ignore[type-arg]
    """One thread in one snapshot (a tuple: cheap to make for every thread on every refresh).

    Attributes:
        tid, tgid: thread and thread-group ids.
        stats: the record now (the final record for a thread that exited).
        prev: the record at the previous refresh; None when there is none to compare with.
        base: the counters when tsmon first saw the thread (a Baseline, or any record); None
            when it was born since.
        born: the thread started after the previous refresh (its whole life is in the delta).
        exited: the thread exited during the interval (from the exit listener).
        dt: seconds since the previous refresh (None for the first).
        t_mono: the refresh's time; seen: when tsmon first saw the thread (backend clock).
    """

    __slots__ = ()

    tid: int = property(itemgetter(0))  # type: ignore[assignment]
    tgid: int = property(itemgetter(1))  # type: ignore[assignment]
    stats: TaskStats = property(itemgetter(2))  # type: ignore[assignment]
    prev: TaskStats | None = property(itemgetter(3))  # type: ignore[assignment]
    base: TaskStats | Baseline | None = property(itemgetter(4))  # type: ignore[assignment]
    born: bool = property(itemgetter(5))  # type: ignore[assignment]
    exited: bool = property(itemgetter(6))  # type: ignore[assignment]
    dt: float | None = property(itemgetter(7))  # type: ignore[assignment]
    t_mono: float = property(itemgetter(8))  # type: ignore[assignment]
    seen: float = property(itemgetter(9))  # type: ignore[assignment]

    def __new__(
        cls,
        tid: int,
        tgid: int,
        stats: TaskStats,
        prev: TaskStats | None = None,
        base: TaskStats | Baseline | None = None,
        born: bool = False,
        exited: bool = False,
        dt: float | None = None,
        t_mono: float = 0.0,
        seen: float = 0.0,
    ) -> TaskRow:
        return tuple.__new__(cls, (tid, tgid, stats, prev, base, born, exited, dt, t_mono, seen))

    def value(self, metric: Metric | str, accumulated: bool = False) -> float | None:
        """A metric's figure over the interval, or over tsmon's lifetime when accumulated.

        The interval case of rates and percentages (what every refresh shows for every row)
        takes a short path; everything else goes through _Rates.value.
        """
        name = metric if isinstance(metric, str) else metric.name
        spec = _INTERVAL.get(name) if not accumulated else None
        if spec is None:
            return _Rates.value(self, metric, accumulated)
        get, scale = spec
        now = get(self[2])
        if now is None:
            return None
        prev = self[3]
        before = 0
        if prev is not None:
            earlier = get(prev)
            if earlier is None or now < earlier:
                return None
            before = earlier
        elif not self[5]:
            return None
        dt: float | None = self[7]
        return float((now - before) * scale / dt) if dt else None

    @property
    def watched(self) -> float | None:
        """Seconds since tsmon first saw the thread (at least one interval)."""
        watched: float | None = (self[8] - self[9]) or self[7]
        return watched

    @property
    def comm(self) -> str:
        """The command name (clean of control characters; not escaped for markup)."""
        return self[2].ac_comm or ""

    @property
    def uid(self) -> int | None:
        """The owner's uid."""
        uid: int | None = self[2].ac_uid
        return uid

    @property
    def exit_code(self) -> int | None:
        """The wait status of an exited thread."""
        code: int | None = self[2].ac_exitcode
        return code if self[6] else None

    def current(self, name: str) -> int | None:
        """A field's value now."""
        value: int | None = getattr(self[2], name)
        return value

    def delta(self, name: str) -> int | None:
        """How much a counter grew during the interval (None without a baseline or backwards)."""
        now = getattr(self[2], name)
        if now is None:
            return None
        prev = self[3]
        if prev is None:
            return int(now) if self[5] else None
        before = getattr(prev, name)
        if before is None or now < before:
            return None
        return int(now - before)

    def accum(self, name: str) -> int | None:
        """How much a counter grew since tsmon first saw the thread."""
        now = getattr(self[2], name)
        if now is None:
            return None
        base = self[4]
        if base is None:
            return int(now)
        before = getattr(base, name)
        return None if before is None or now < before else int(now - before)

    def span(self, accumulated: bool) -> float | None:
        """Seconds the figures cover."""
        return self.watched if accumulated else self[7]

    def __repr__(self) -> str:
        flag = " exited" if self[6] else ""
        return f"TaskRow(tid={self[0]}, tgid={self[1]}, comm={self.comm!r}{flag})"

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)


def row_field(name: str) -> Callable[[TaskRow], Any]:
    """The C-level getter of one TaskRow field, for ``map`` over many rows."""
    prop = TaskRow.__dict__[name]
    assert isinstance(prop, property) and prop.fget is not None
    return prop.fget


_TGID, _STATS_OF = row_field("tgid"), row_field("stats")


class ProcessRow(_Rates):
    """One thread group in one snapshot: the sum of its threads (live and exited)."""

    __slots__ = ("_dead", "dt", "tgid", "threads", "watched")

    def __init__(
        self,
        tgid: int,
        threads: list[TaskRow],
        dead: dict[str, int],
        dt: float | None,
        watched: float | None,
    ) -> None:
        self.tgid = tgid
        self.threads = threads
        self._dead = dead
        self.dt = dt
        self.watched = watched

    @property
    def leader(self) -> TaskRow:
        """The leader thread's row, or the first thread's when the leader is gone."""
        for row in self.threads:
            if row.tid == self.tgid:
                return row
        return self.threads[0]

    @property
    def tid(self) -> int:
        """The process id (rows of both kinds have a ``tid`` to key on)."""
        return self.tgid

    @property
    def stats(self) -> TaskStats:
        """The leader's record (for comm, uid, times)."""
        return self.leader.stats

    @property
    def comm(self) -> str:
        """The leader's command name."""
        return self.leader.comm

    @property
    def uid(self) -> int | None:
        """The owner's uid."""
        return self.leader.uid

    @property
    def exited(self) -> bool:
        """Every thread seen in this interval has exited."""
        return all(row.exited for row in self.threads)

    @property
    def exit_code(self) -> int | None:
        """The leader's wait status when the process exited."""
        return self.leader.exit_code if self.exited else None

    def current(self, name: str) -> int | None:
        """Gauges are the maximum over threads (they share one mm); counters the sum."""
        values = [v for v in (row.current(name) for row in self.threads) if v is not None]
        if not values:
            return None
        return max(values) if name in _GAUGE_FIELDS else sum(values)

    def delta(self, name: str) -> int | None:
        """Sum of the threads' deltas (threads without a baseline are left out)."""
        total = None
        for row in self.threads:
            value = row.delta(name)
            if value is not None:
                total = value if total is None else total + value
        return total

    def accum(self, name: str) -> int | None:
        """Sum of the threads' accumulations, including threads that already exited."""
        total = self._dead.get(name)
        for row in self.threads:
            value = row.accum(name)
            if value is not None:
                total = value if total is None else total + value
        return total

    def span(self, accumulated: bool) -> float | None:
        """Seconds the figures cover."""
        return self.watched if accumulated else self.dt


@dataclass(frozen=True, slots=True)
class ExitRecord:
    """A task that exited, as the exit log shows it.

    Attributes:
        tid, tgid: ids of the thread (and its group).
        comm: command name.
        stats: the thread's final record.
        group_stats: the group's accumulated record when the group died with this thread.
        status: the wait status (``ac_exitcode``): exit code << 8, or the signal number.
        t_wall: wall-clock time the exit was heard (seconds since the epoch).
        t_mono: the backend's monotonic time it was heard.
    """

    tid: int
    tgid: int
    comm: str
    stats: TaskStats
    group_stats: TaskStats | None
    status: int
    t_wall: float
    t_mono: float

    @property
    def exit_code(self) -> int | None:
        """The code passed to exit(), or None when a signal ended the task."""
        return None if self.signal else (self.status >> 8) & 0xFF

    @property
    def signal(self) -> int:
        """The signal that ended the task (0 for a normal exit)."""
        return self.status & 0x7F

    @property
    def lifetime_us(self) -> int:
        """How long the thread lived, µs."""
        return self.stats.ac_etime or 0

    @property
    def group_exit(self) -> bool:
        """This exit ended the thread group."""
        return self.stats.is_group_exit

    def largest_delay(self) -> tuple[str, int]:
        """The delay kind with the largest total over the task's life, and that total (ns)."""
        best = ("cpu", 0)
        for kind, _ in DELAY_KINDS:
            total = getattr(self.stats, f"{kind}_delay_total") or 0
            if total > best[1]:
                best = (kind, total)
        return best


@dataclass(slots=True)
class Snapshot:
    """Everything one refresh produced.

    Attributes:
        frame: the raw frame it was computed from (what a recording stores).
        info: the backend's description.
        dt: seconds since the previous snapshot (None for the first).
        threads: one row per live thread, plus the threads that exited during the interval.
        exits: the exits heard during the interval, oldest first.
        lost: exit events lost by the listener so far.
        delayacct: whether delay accounting is on.
        index: the snapshot's number, from 0.
        elapsed: seconds since the sampler's first snapshot.
    """

    frame: RawFrame
    info: BackendInfo
    dt: float | None
    threads: list[TaskRow]
    exits: list[ExitRecord]
    lost: int
    delayacct: bool | None
    index: int
    elapsed: float
    cmdlines: dict[int, str]
    _dead: dict[int, dict[str, int]] = field(default_factory=dict, repr=False)
    _processes: list[ProcessRow] | None = field(default=None, repr=False)
    _columns: ThreadColumns | None = field(default=None, repr=False)
    #: The one class of every thread's record and baseline, when the sampler knows it (its
    #: rows then all carry the snapshot's ``dt``)
    record_class: type[TaskStats] | None = field(default=None, repr=False)
    #: What viewers derive from the snapshot, kept with it (computed once, by any thread)
    memo: dict[Hashable, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def t_mono(self) -> float:
        """The backend's monotonic time of the refresh."""
        return self.frame.t_mono

    @property
    def t_wall(self) -> float:
        """Wall-clock time of the refresh."""
        return self.frame.t_wall

    @property
    def cgroups(self) -> dict[str, CgroupStats]:
        """cgroupstats of the directories watched."""
        return self.frame.cgroups

    def processes(self) -> list[ProcessRow]:
        """One row per thread group (computed once per snapshot)."""
        if self._processes is None:
            groups: dict[int, list[TaskRow]] = {}
            for row in self.threads:
                groups.setdefault(row.tgid, []).append(row)
            self._processes = [
                ProcessRow(tgid, rows, self._dead.get(tgid, {}), self.dt, _longest(rows))
                for tgid, rows in groups.items()
            ]
        return self._processes

    def rows(self, processes: bool = False) -> Sequence[TaskRow | ProcessRow]:
        """Thread rows, or process rows."""
        return self.processes() if processes else self.threads

    def values(
        self, metric: Metric | str, accumulated: bool = False, processes: bool = False
    ) -> list[float | None]:
        """Every row's ``value(metric, accumulated)``, in the order of ``rows(processes)``."""
        if processes:
            return [r.value(metric, accumulated) for r in self.processes()]
        name = metric if isinstance(metric, str) else metric.name
        figures = self.memo.get(("values", name, accumulated))
        if figures is None:
            figures = self._thread_columns().values(metric, accumulated)
            self.memo["values", name, accumulated] = figures
        return list(figures)  # a copy: the one kept stays as computed

    def amounts(
        self, field: str, accumulated: bool = False, processes: bool = False
    ) -> list[int | None]:
        """Every row's ``delta(field)`` (``accum`` when accumulated), in the order of ``rows``."""
        if processes:
            rows: Sequence[_Rates] = self.processes()
            return [r.accum(field) if accumulated else r.delta(field) for r in rows]
        figures = self.memo.get(("amounts", field, accumulated))
        if figures is None:
            figures = self._thread_columns().amounts(field, accumulated)
            self.memo["amounts", field, accumulated] = figures
        return list(figures)

    def _thread_columns(self) -> ThreadColumns:
        if self._columns is None:
            from .figures import ThreadColumns  # it reads TaskRow: imported once sampler is

            klass = self.record_class
            # A sampler's snapshot (the one to know the class) made every row with its dt
            dts = None if klass is None else {self.dt}
            self._columns = ThreadColumns(self.threads, klass, dts)
        return self._columns

    def total(self, metric: str, accumulated: bool = False) -> float:
        """A rate or percentage summed over every thread (exited ones included)."""
        return sum(filter(None, self.values(metric, accumulated)))

    def cmdline(self, tgid: int) -> str | None:
        """The command line of a process, when the backend knew it."""
        return self.cmdlines.get(tgid)


def _longest(rows: Iterable[TaskRow]) -> float | None:
    spans = [r.watched for r in rows if r.watched is not None]
    return max(spans) if spans else None


class Sampler:
    """Turns a backend's frames into snapshots.

    ``poll()`` collects one frame from the backend and returns its snapshot; ``feed(frame)``
    does the same for a frame from elsewhere (a recording). ``listen`` opens an exit listener
    when the backend allows it (without one, tasks that live between two refreshes are missed).
    """

    def __init__(
        self,
        backend: Backend,
        *,
        listen: bool = True,
        cpumask: str | None = None,
        cgroups: Sequence[str] = (),
    ) -> None:
        self.backend = backend
        self.cgroups = list(cgroups)
        self.listener: ExitListener | None = None
        self.listener_error: str | None = None
        if listen:
            try:
                self.listener = backend.open_listener(cpumask)
            except TsmonError as exc:
                self.listener_error = str(exc)
        self._known: dict[int, TaskRow] = {}
        self._missing: dict[int, TaskRow] = {}
        # Tasks whose exit was heard, while their zombie is still listed (until it is reaped).
        self._exited: dict[int, TaskStats] = {}
        self._dead: dict[int, dict[str, int]] = {}
        self._cmdlines: dict[int, str] = {}
        self._last: RawFrame | None = None
        # The last frame's tids, record class, ac_etime and ac_btime64 columns (one layout)
        self._last_clock: _Clocks | None = None
        self._first_t: float | None = None
        self._index = 0

    def poll(self) -> Snapshot:
        """Collect one frame from the backend and compute its snapshot."""
        try:
            frame = self.backend.collect(self.listener, self.cgroups)
        except ListenerOverflowError:
            frame = self.backend.collect(self.listener, self.cgroups)
        return self.feed(frame)

    def _dt(self, frame: RawFrame) -> float | None:
        """Seconds between the last frame and this one (None for the first or a non-advance)."""
        if self._last is None:
            return None
        dt = frame.t_mono - self._last.t_mono
        return dt if dt > 0 else None

    def feed(self, frame: RawFrame) -> Snapshot:
        """Compute the snapshot of a frame (the next one after the last fed or polled)."""
        last = self._last
        dt = self._dt(frame)
        if self._first_t is None:
            self._first_t = frame.t_mono
        now = frame.t_mono
        first = last is None
        known = self._known
        tgids = frame.tgids
        exited_tids = {event.tid for event in frame.exits}
        new_row = tuple.__new__
        heard = self._exited
        tasks = frame.tasks
        shown = tasks  # the listed tasks less zombies whose exit was already reported
        if heard and not heard.keys().isdisjoint(tasks):
            zombies = {t for t, st in heard.items() if t in tasks and _same_task(st, tasks[t])}
            shown = {t: st for t, st in tasks.items() if t not in zombies}
        tids = list(shown)
        news = list(shown.values())
        olds = list(map(known.get, tids))
        # The usual case, a comprehension: a task seen before, with the same start time (give
        # or take the kernel's second of jitter) and no younger than before.
        made: list[TaskRow | None] | None = None
        quiet = False  # the last frame's tasks in its order, each the same task as before
        one_class: type[TaskStats] | None = None  # of every record and baseline, when known
        columns = _clock_columns(news)
        before = self._last_clock
        self._last_clock = None if columns is None else (tids, *columns)
        if columns is not None:
            klass, ages, starts = columns
            if (
                before is not None
                and before[1] is klass
                and before[0] == tids
                and all(olds)  # the last frame's tasks, in its order: a quiet refresh
                and _aged_only(before[2], before[3], ages, starts)
            ):
                quiet = True
                one_class = klass
                made = [
                    new_row(TaskRow, (tid, o[1], st, o[2], o[4], False, False, dt, now, o[9]))
                    for tid, st, o in zip(tids, news, cast("list[TaskRow]", olds), strict=True)
                ]
            elif set(map(type, map(_STATS_OF, filter(None, olds)))) <= {klass}:
                one_class = klass  # the baselines below are old records (or none)
                # One layout, old and new: each old record's clocks in one C call; a new
                # task's own record stands in for its missing one (its row is made anew).
                clock = reader_for(klass, _CLOCK_FIELDS)
                assert clock is not None  # the columns were read with it
                old_stats: Iterable[TaskStats] = (
                    map(_STATS_OF, cast("list[TaskRow]", olds))
                    if all(olds)  # rows are non-empty tuples
                    else [st if o is None else o[2] for st, o in zip(news, olds, strict=True)]
                )
                made = [
                    new_row(TaskRow, (tid, o[1], st, o[2], o[4], False, False, dt, now, o[9]))
                    if o is not None and -1 <= old_start - new_start <= 1 and old_age <= new_age
                    else None
                    for tid, st, o, new_age, new_start, (old_age, old_start) in zip(
                        tids, news, olds, ages, starts, map(clock, old_stats), strict=True
                    )
                ]
        if made is None:
            made = [None] * len(tids)
        for i in [] if quiet else [i for i, row in enumerate(made) if row is None]:
            tid, stats, old = tids[i], news[i], olds[i]
            # Same task unless the start time moved (beyond the kernel's one-second jitter of
            # now - etime) or it is younger than before: then the tid was reused.
            if old is not None and _same_task(old[2], stats):
                made[i] = new_row(
                    TaskRow, (tid, old[1], stats, old[2], old[4], False, False, dt, now, old[9])
                )
                continue
            tgid = stats.ac_tgid or tgids.get(tid, tid)
            base = baseline_of(stats) if first else None
            made[i] = new_row(
                TaskRow, (tid, tgid, stats, None, base, not first, False, dt, now, now)
            )
        rows = cast("list[TaskRow]", made)
        fresh = dict(zip(tids, rows, strict=True))

        if exited_tids:
            # A zombie still listed is replaced by its exit row, which has the final record.
            rows = [row for row in rows if row[0] not in exited_tids]
        # Threads that exited before this frame count in their process's accumulated totals.
        dead_before = {g: dict(d) for g, d in self._dead.items()}
        exits = [self._exit_row(event, rows, known, fresh, frame) for event in frame.exits]
        if one_class is not None and exits:  # their rows, appended last: records, baselines
            exit_rows = rows[-len(exits) :]
            kinds = set(map(type, map(_STATS_OF, exit_rows)))
            kinds.update(type(row[3]) for row in exit_rows if row[3] is not None)
            if kinds != {one_class}:
                one_class = None

        # Keep threads that vanished without an exit event for one refresh (the event may come
        # late); drop them after that so memory stays bounded. In a quiet refresh none did:
        # the tasks known are the last frame's (less exits) and those kept from before it.
        missing: dict[int, TaskRow] = {}
        if not quiet:
            gone = known.keys() - fresh.keys()
            gone -= exited_tids
            gone -= self._missing.keys()
            missing = {tid: known[tid] for tid in gone}
        self._missing = missing
        fresh.update(missing)
        self._exited = {tid: st for tid, st in heard.items() if tid in tasks}
        self._exited.update((event.tid, event.stats) for event in frame.exits)
        self._known = fresh
        self._cmdlines.update(frame.cmdlines)
        if self._dead or len(self._cmdlines) > 1024:  # else there is nothing to drop
            live_tgids = set(map(_TGID, fresh.values()))
            self._dead = {g: d for g, d in self._dead.items() if g in live_tgids}
            if len(self._cmdlines) > 2 * len(live_tgids) + 1024:
                self._cmdlines = {g: c for g, c in self._cmdlines.items() if g in live_tgids}
        self._last = frame
        snapshot = Snapshot(
            frame=frame,
            info=self.backend.info,
            dt=dt,
            threads=rows,
            exits=exits,
            lost=frame.lost,
            delayacct=self.backend.delayacct(),
            index=self._index,
            elapsed=now - self._first_t,
            cmdlines=dict(self._cmdlines),
            _dead=dead_before,
            record_class=one_class,
        )
        self._index += 1
        return snapshot

    def _exit_row(
        self,
        event: ExitEvent,
        rows: list[TaskRow],
        known: dict[int, TaskRow],
        fresh: dict[int, TaskRow],
        frame: RawFrame,
    ) -> ExitRecord:
        stats = event.stats
        now = frame.t_mono
        old = known.get(event.tid)
        if old is not None and not _same_task(old.stats, stats):
            old = None
        tgid = stats.ac_tgid or (old.tgid if old else event.tgid or event.tid)
        row = TaskRow(
            event.tid,
            tgid,
            stats,
            old.stats if old else None,
            old.base if old else None,
            old is None,
            True,
            self._dt(frame),
            now,
            old.seen if old else now,
        )
        rows.append(row)
        fresh.pop(event.tid, None)
        if not stats.is_group_exit:
            dead = self._dead.setdefault(tgid, {})
            for name in COUNTER_FIELDS:
                value = row.accum(name)
                if value:
                    dead[name] = dead.get(name, 0) + value
        return ExitRecord(
            tid=event.tid,
            tgid=tgid,
            comm=stats.ac_comm or "",
            stats=stats,
            group_stats=event.group_stats,
            status=stats.ac_exitcode or 0,
            t_wall=frame.t_wall - (now - event.t_mono if event.t_mono else 0.0),
            t_mono=event.t_mono or now,
        )

    def close(self) -> None:
        """Close the listener (the backend stays open: it belongs to the caller)."""
        if self.listener is not None:
            self.listener.close()
            self.listener = None

    def __iter__(self) -> Iterator[Snapshot]:
        while True:
            yield self.poll()
