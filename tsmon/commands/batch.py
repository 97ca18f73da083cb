"""``tsmon batch``: ``iotop -b``'s options, header and columns, plus more columns and JSON.

Every report covers the interval before it: tsmon takes a baseline, waits ``-d`` seconds, and
prints what happened meanwhile, ``-n`` times. Tasks that lived and died inside an interval are
included (from the exit listener) and marked ``<exited: ...>``. Columns as ``iotop -b``:
TID (PID with ``-P``), PRIO, USER, DISK READ, DISK WRITE, SWAPIN, IO, COMMAND; ``--columns``
adds any metric of ``tsmon_core.metrics`` before COMMAND.
"""

from __future__ import annotations

import functools
import json
import operator
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import click

from tsmon_core.metrics import METRICS, Metric
from tsmon_core.model import reader_for

from ..formatting import (
    NA,
    format_bytes,
    format_clock,
    format_command,
    format_count,
    format_exit,
    format_ns,
    format_percent,
    format_rate,
    ioprio_string,
    user_name,
)
from ._common import (
    OneLineCommand,
    announce_backend,
    backend_option,
    handle_errors,
    note,
    open_backend_or_exit,
    stop_on_signals,
    usage_error,
)

__all__ = ["COLUMN_ALIASES", "BatchOptions", "BatchRenderer", "batch", "resolve_columns"]

#: Short names accepted by --columns for the delay kinds (as percentages of the interval).
COLUMN_ALIASES: dict[str, str] = {
    "cpu": "cpu_delay_pct",
    "io": "blkio_delay_pct",
    "blkio": "blkio_delay_pct",
    "swapin": "swapin_delay_pct",
    "swap": "swapin_delay_pct",
    "reclaim": "freepages_delay_pct",
    "freepages": "freepages_delay_pct",
    "thrashing": "thrashing_delay_pct",
    "compact": "compact_delay_pct",
    "wpcopy": "wpcopy_delay_pct",
    "irq": "irq_delay_pct",
}
_WIDTH = {"%": 8, "B/s": 11, "/s": 9, "ns": 9, "KB": 10}
_NEEDS_DELAYACCT = {m.field for m in METRICS.values() if m.field.endswith("_delay_total")} - {
    "cpu_delay_total"
}


def resolve_columns(text: str | None) -> list[Metric]:
    """The metrics named by ``--columns`` (comma-separated metric names or delay kinds)."""
    if not text:
        return []
    chosen: list[Metric] = []
    for raw in text.split(","):
        name = raw.strip().lower()
        if not name:
            continue
        metric = METRICS.get(COLUMN_ALIASES.get(name, name))
        if metric is None:
            valid = ", ".join([*COLUMN_ALIASES, *METRICS])
            usage_error(f"--columns: unknown column {raw.strip()!r} (choose from {valid})")
            raise AssertionError  # pragma: no cover - usage_error raises
        if metric not in chosen:
            chosen.append(metric)
    return chosen


@dataclass
class _Options:
    iterations: int | None
    delay: float
    only: bool
    processes: bool
    accumulated: bool
    kilobytes: bool
    timestamps: bool
    quiet: int
    pids: frozenset[int]
    uids: frozenset[int] | None
    columns: list[Metric]
    as_json: bool


def _uids(users: Sequence[str]) -> frozenset[int] | None:
    if not users:
        return None
    import pwd

    found = set()
    for user in users:
        try:
            found.add(pwd.getpwnam(user).pw_uid)
        except KeyError:
            if user.isdigit():
                found.add(int(user))
            else:
                usage_error(f"-u: unknown user {user!r} (give a login name or a numeric uid)")
    return frozenset(found)


@click.command("batch", cls=OneLineCommand)
@click.option("-b", "--batch", "batch_mode", is_flag=True, help="Batch mode (always on here).")
@click.option(
    "-n",
    "--iter",
    "iterations",
    type=click.IntRange(min=1),
    metavar="NUM",
    help="Number of reports before ending [infinite].",
)
@click.option(
    "-d",
    "--delay",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    metavar="SEC",
    help="Seconds between reports [1].",
)
@click.option("-o", "--only", is_flag=True, help="Only tasks doing I/O or waiting for it.")
@click.option("-P", "--processes", is_flag=True, help="Processes, not threads.")
@click.option("-a", "--accumulated", is_flag=True, help="Amounts since start, not rates.")
@click.option("-k", "--kilobytes", is_flag=True, help="Kilobytes instead of a human unit.")
@click.option("-t", "--time", "timestamps", is_flag=True, help="A timestamp on each line.")
@click.option("-q", "--quiet", count=True, help="Fewer header lines (once, twice, three times).")
@click.option(
    "-p", "--pid", "pids", type=int, multiple=True, metavar="PID", help="Only these (repeat)."
)
@click.option(
    "-u", "--user", "users", multiple=True, metavar="USER", help="Only these users (repeat)."
)
@click.option(
    "--columns",
    metavar="LIST",
    help="More columns before COMMAND: delay kinds (cpu, reclaim, thrashing, compact, "
    "wpcopy, irq) or metric names (rchar_bps, cpu_pct, nvcsw_ps, cpu_delay_avg, ...).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per report.")
@backend_option
@handle_errors
def batch(
    batch_mode: bool,
    iterations: int | None,
    delay: float,
    only: bool,
    processes: bool,
    accumulated: bool,
    kilobytes: bool,
    timestamps: bool,
    quiet: int,
    pids: tuple[int, ...],
    users: tuple[str, ...],
    columns: str | None,
    as_json: bool,
    backend_kind: str,
    seed: int,
) -> None:
    """Print what tasks read, write and wait for, as iotop -b does.

    \b
    tsmon batch -o -n 3             three reports of the tasks doing I/O
    tsmon batch -P -a -k -t         per process, accumulated, in K, timestamped
    tsmon batch -o --columns cpu,irq,cpu_pct
    tsmon batch --json -n 1
    """
    opts = _Options(
        iterations=iterations,
        delay=delay,
        only=only,
        processes=processes,
        accumulated=accumulated,
        kilobytes=kilobytes,
        timestamps=timestamps,
        quiet=quiet,
        pids=frozenset(pids),
        uids=_uids(users),
        columns=resolve_columns(columns),
        as_json=as_json,
    )
    from tsmon_core.sampler import Sampler

    backend = open_backend_or_exit(backend_kind, seed)
    sampler = None
    try:
        announce_backend(backend)
        sampler = Sampler(backend, listen=True)
        if sampler.listener_error:
            note(
                f"no exit listener ({sampler.listener_error}): "
                "tasks that live shorter than an interval are not shown"
            )
        with stop_on_signals():
            _run(sampler, backend, opts)
    except KeyboardInterrupt:
        pass  # the normal end of a run without -n
    finally:
        if sampler is not None:
            sampler.close()
        backend.close()
    sys.stdout.flush()


class _VmStat:
    """Bytes paged in and out (/proc/vmstat pgpgin/pgpgout): iotop's "Actual DISK" figures."""

    def __init__(self, live: bool) -> None:
        self.live = live
        self.last = self._read() if live else None

    def _read(self) -> tuple[int, int] | None:
        values = {}
        try:
            with open("/proc/vmstat", encoding="ascii") as f:
                for line in f:
                    if line.startswith(("pgpgin ", "pgpgout ")):
                        name, value = line.split()
                        values[name] = int(value) * 1024
                        if len(values) == 2:
                            break
        except (OSError, ValueError):
            return None
        if len(values) != 2:
            return None
        return values["pgpgin"], values["pgpgout"]

    def delta(self) -> tuple[int, int] | None:
        now = self._read() if self.live else None
        before, self.last = self.last, now
        if now is None or before is None:
            return None
        return max(0, now[0] - before[0]), max(0, now[1] - before[1])


def _ioprio_reader(live: bool) -> Callable[[int], int | None]:
    """ioprio_get(IOPRIO_WHO_PROCESS, tid) on this kernel, or a reader that knows nothing."""
    numbers = {"x86_64": 252, "aarch64": 31, "i686": 290, "i386": 290, "armv7l": 315}
    number = numbers.get(os.uname().machine)
    if not live or number is None:
        return lambda tid: None
    try:
        import ctypes

        syscall = ctypes.CDLL(None, use_errno=True).syscall
    except (OSError, AttributeError):
        return lambda tid: None

    def read(tid: int) -> int | None:
        value = int(syscall(number, 1, tid))
        return value if value >= 0 else None

    return read


def _uid_text(uid: int | None) -> str:
    return NA if uid is None else "root" if uid == 0 else str(uid)


def _pid_width() -> int:
    try:
        with open("/proc/sys/kernel/pid_max", encoding="ascii") as f:
            return len(f.read().strip())
    except OSError:
        return 5


_ZERO5 = (0, 0, 0, 0, 0)
_IdleLine = tuple[str, str | None, int, str, str]
#: Refreshes between two ioprio_get calls for the same thread.
_IOPRIO_EVERY = 5


_FIGURE_FIELDS = (
    "read_bytes",
    "write_bytes",
    "cancelled_write_bytes",
    "swapin_delay_total",
    "blkio_delay_total",
)
_IDENTITY_FIELDS = (*_FIGURE_FIELDS, "ac_uid", "ac_comm", "ac_nice", "ac_sched")


@functools.cache
def _getter(klass: type) -> Callable[[Any], tuple[int, ...]]:
    """One C-level call reading the five figures of a record class (0 for absent fields)."""
    getter = reader_for(klass, _FIGURE_FIELDS)
    if getter is None:

        def getter(record: Any) -> tuple[int, ...]:
            return tuple(getattr(record, name) or 0 for name in _FIGURE_FIELDS)

    return getter


def _identity_getter(klass: type) -> Callable[[Any], Any] | None:
    """One C-level call reading the five figures plus what an idle thread's line shows
    (owner, name, nice, policy): equal for two records = nothing to redraw."""
    return reader_for(klass, _IDENTITY_FIELDS)


def _idle_flags(threads: Sequence[Any]) -> list[bool]:
    """Per thread: still alive, and its figures and what its line shows are as at the last
    refresh (compared list-wise when every record has one layout)."""
    from tsmon_core.sampler import row_field  # loaded with the sampler, not for --help

    stats = list(map(row_field("stats"), threads))
    prevs = list(map(row_field("prev"), threads))
    classes = set(map(type, stats))
    classes.update(map(type, filter(None, prevs)))
    getter = _identity_getter(classes.pop()) if len(classes) == 1 else None
    if getter is None:
        return [
            p is not None and not r[6] and (g := _identity_getter(type(s))) is not None
            and type(p) is type(s) and g(s) == g(p)
            for r, s, p in zip(threads, stats, prevs, strict=True)
        ]  # fmt: skip
    same = [
        p is not None and now == getter(p) for now, p in zip(map(getter, stats), prevs, strict=True)
    ]
    exited = map(row_field("exited"), threads)
    return [quiet and not gone for quiet, gone in zip(same, exited, strict=True)]


def _thread_figures(row: Any) -> tuple[int, ...]:
    """read, write, cancelled bytes and swap-in, block I/O delay ns of a thread's interval.

    The fast path of ``TaskRow.delta`` for the five figures every report needs: a counter
    that went backwards counts 0, a thread born in the interval counts its whole life.
    """
    s, p = row[2], row[3]
    if p is None:
        return _getter(type(s))(s) if row[5] else _ZERO5
    now = _getter(type(s))(s)
    before = _getter(type(p))(p)
    if now == before:
        return _ZERO5
    deltas = tuple(map(operator.sub, now, before))
    if min(deltas) < 0:
        return tuple(max(d, 0) for d in deltas)
    return deltas


class _Leaders(dict[int, str]):
    """tgid -> the leader thread's name, computed on first use (idle lines rarely need it)."""

    def __init__(self, threads: Sequence[Any]) -> None:
        super().__init__()
        self._threads: Sequence[Any] | None = threads

    def get(self, key: int, default: Any = None) -> Any:  # type: ignore[override]
        if self._threads is not None:
            self.update((r[0], r.comm) for r in self._threads if r[0] == r[1])
            self._threads = None
        return super().get(key, default)


class _Renderer:
    """Turns snapshots into iotop's lines or JSON objects."""

    def __init__(self, backend: Any, opts: _Options) -> None:
        self.opts = opts
        self.live = backend.info.kind == "netlink"
        self.vmstat = _VmStat(self.live)
        self.ioprio = _ioprio_reader(self.live)
        self.width = _pid_width()
        # Login names are this machine's: simulated or recorded uids are shown as numbers.
        self.user = user_name if self.live else _uid_text
        self.first = True
        self.lost = 0
        self._commands: dict[tuple[Any, ...], str] = {}
        self._prios: dict[tuple[Any, ...], str] = {}
        self._ioprios: dict[int, tuple[int | None, int]] = {}
        self._prio_text: dict[int, tuple[str, int]] = {}
        # tid -> an idle thread's line: (line, the command line it was made with, refresh, its
        # priority text, its command text)
        self._idle_lines: dict[int, _IdleLine] = {}
        self._reuse: dict[int, _IdleLine] = {}
        self._renew: dict[int, _IdleLine] = {}
        self._off: bool | None = None
        self.refreshes = 0

    # --- figures -------------------------------------------------------------------------
    def _amount(self, row: Any, name: str) -> int:
        value = row.accum(name) if self.opts.accumulated else row.delta(name)
        return value or 0

    def _figures(self, row: Any) -> tuple[int, ...]:
        if not self.opts.accumulated and not self.opts.processes:
            return _thread_figures(row)
        amount = self._amount
        return (
            amount(row, "read_bytes"),
            amount(row, "write_bytes"),
            amount(row, "cancelled_write_bytes"),
            amount(row, "swapin_delay_total"),
            amount(row, "blkio_delay_total"),
        )

    def _percent(self, row: Any, field: str, span: float | None) -> float | None:
        if not span:
            return None
        return self._amount(row, field) * 100.0 / (span * 1e9)

    def _thread_prio(self, thread: Any) -> str:
        stats = thread.stats
        value = None if thread.exited else self._ioprio_of(thread)
        key = (value, stats.ac_nice, stats.ac_sched)
        text = self._prios.get(key)
        if text is None:
            text = self._prios[key] = ioprio_string(value, stats.ac_nice, stats.ac_sched)
        return text

    def _ioprio_of(self, thread: Any) -> int | None:
        """ioprio_get of a live thread, re-read every few refreshes (it changes only through
        ionice) and whenever the tid is a new task."""
        tid = thread[0]
        cached = self._ioprios.get(tid)
        if cached is None or thread[3] is None or self.refreshes - cached[1] >= _IOPRIO_EVERY:
            if len(self._ioprios) > 200_000:
                self._ioprios.clear()
                self._prio_text.clear()
            value = self.ioprio(tid)
            self._ioprios[tid] = (value, self.refreshes)
            return value
        return cached[0]

    def _prio(self, row: Any) -> str:
        if not self.opts.processes:
            tid = row[0]
            cached = self._prio_text.get(tid)
            if cached is not None and row[3] is not None and not row[6]:
                text, when = cached
                if self.refreshes - when < _IOPRIO_EVERY:
                    return text
            text = self._thread_prio(row)
            self._prio_text[tid] = (text, self.refreshes)
            return text
        seen = {self._thread_prio(thread) for thread in row.threads}
        return seen.pop() if len(seen) == 1 else "?dif"

    def _command(self, row: Any, snap: Any, leaders: dict[int, str]) -> str:
        tgid, tid, comm = row.tgid, row.tid, row.comm
        thread_name = None
        if not self.opts.processes and tid != tgid:
            leader_comm = leaders.get(tgid)
            if leader_comm is not None and leader_comm != comm:
                thread_name = comm
        cmdline = snap.cmdline(tgid)
        key = (cmdline, comm, thread_name)
        text = self._commands.get(key)
        if text is None:
            if len(self._commands) > 65536:
                self._commands.clear()
            text = self._commands[key] = format_command(cmdline, comm, thread_name=thread_name)
        if row.exited:
            status = row.stats.ac_exitcode if not self.opts.processes else row.exit_code
            text += f" <exited: {format_exit(status)}>"
        return text

    def _extra(self, row: Any, metric: Metric, span: float | None) -> float | None:
        acc = self.opts.accumulated
        if metric.kind == "rate" and acc:
            return float(self._amount(row, metric.field))
        if metric.kind == "percent":
            return self._percent(row, metric.field, span)
        value: float | None = row.value(metric, acc)
        return value

    def _extra_text(self, metric: Metric, value: float | None, off: bool) -> str:
        if off and metric.field in _NEEDS_DELAYACCT:
            return NA
        if value is None:
            return NA
        unit = metric.unit
        if unit == "%":
            return format_percent(value, cap=None)
        if unit == "B/s":
            if self.opts.accumulated:
                return format_bytes(value, kilobytes=self.opts.kilobytes)
            return format_rate(value, kilobytes=self.opts.kilobytes)
        if unit == "ns":
            return format_ns(value)
        if unit == "KB":
            return format_bytes(value * 1024, kilobytes=self.opts.kilobytes)
        return format_count(value) if self.opts.accumulated else f"{value:.1f}"

    # --- one report ----------------------------------------------------------------------
    def rows(
        self, snap: Any, thread_figures: list[tuple[tuple[int, ...], Any]] | None = None
    ) -> list[tuple[tuple[int, ...], Any]]:
        """(figures, row) of the rows to show, sorted as iotop sorts (IO, then bytes moved).

        Idle rows all tie, so they are kept in tid order without going through the sort key.
        """
        opts = self.opts
        if thread_figures is not None and not opts.processes and not opts.accumulated:
            rows = []
        else:
            rows = snap.processes() if opts.processes else snap.threads
            if opts.pids:
                rows = [r for r in rows if r.tid in opts.pids or r.tgid in opts.pids]
            if opts.uids is not None:
                rows = [r for r in rows if r.uid in opts.uids]
        if thread_figures is not None and not opts.processes and not opts.accumulated:
            pairs = thread_figures
            if opts.pids:
                pairs = [p for p in pairs if p[1][0] in opts.pids or p[1][1] in opts.pids]
            if opts.uids is not None:
                pairs = [p for p in pairs if p[1][2].ac_uid in opts.uids]
        else:
            figures = self._figures
            pairs = [(figures(r), r) for r in rows]
        busy = [pair for pair in pairs if pair[0] != _ZERO5]
        busy.sort(key=lambda p: (p[0][4], p[0][0] + p[0][1], -p[1].tid), reverse=True)
        if opts.only:
            return busy
        idle = [pair for pair in pairs if pair[0] == _ZERO5]
        idle.sort(key=lambda p: p[1].tid)
        return busy + idle

    def render(self, snap: Any) -> list[str] | dict[str, object]:
        """Text lines (or a JSON object) for one snapshot."""
        opts = self.opts
        dt = snap.dt
        threads = snap.threads
        off = snap.delayacct is False
        if off != self._off:
            self._idle_lines = {}  # SWAPIN and IO change between 0.00 % and N/A
            self._off = off
        figures = self._all_figures(snap)
        total_read = sum(f[0][0] for f in figures)
        total_write = sum(f[0][1] for f in figures)
        actual = self.vmstat.delta()
        if actual is None:
            actual = (total_read, total_write)
        pairs = self.rows(snap, figures)
        leaders = _Leaders(threads)
        if snap.lost > self.lost:
            note(f"the exit listener lost {snap.lost - self.lost} exit events in this interval")
            self.lost = snap.lost
        total = (total_read, total_write)
        self.refreshes += 1
        if opts.as_json:
            return self._json(snap, pairs, leaders, dt, total, actual, off)
        return self._text(snap, pairs, leaders, dt, total, actual, off)

    def _quick_idle(self) -> bool:
        opts = self.opts
        return not (opts.columns or opts.accumulated or opts.processes or opts.as_json)

    def _all_figures(self, snap: Any) -> list[tuple[tuple[int, ...], Any]]:
        """(figures, row) of every thread; idle threads whose line can be reused are noted in
        ``self._reuse`` (tid -> line) on the way, so the text pass only appends them; those
        whose priority is due to be read again go in ``self._renew``."""
        self._reuse = reuse = {}
        self._renew = renew = {}
        if not self._quick_idle():
            return [(_thread_figures(row), row) for row in snap.threads]
        threads = snap.threads
        idle = _idle_flags(threads)
        # A thread's line names its leader's name when it differs: a leader renamed (not idle,
        # so few are looked at) makes its threads' lines again.
        renamed = {
            row[1]
            for row, quiet in zip(threads, idle, strict=True)
            if not quiet and row[0] == row[1] and row[3] is not None
            and row[2].ac_comm != row[3].ac_comm
        }  # fmt: skip
        out = []
        append = out.append
        idle_lines = self._idle_lines
        cmdlines = snap.cmdlines
        refresh = self.refreshes
        for row, quiet in zip(threads, idle, strict=True):
            if quiet:
                append((_ZERO5, row))
                cached = idle_lines.get(row[0])
                if (
                    cached is not None
                    and cached[1] is cmdlines.get(row[1])
                    and (not renamed or row[1] not in renamed)
                ):
                    if refresh - cached[2] < _IOPRIO_EVERY:
                        reuse[row[0]] = cached
                    else:
                        renew[row[0]] = cached
                continue
            append((_thread_figures(row), row))
        return out

    def _spans(self, row: Any, dt: float | None) -> float | None:
        return row.span(True) if self.opts.accumulated else dt

    def _text(
        self,
        snap: Any,
        pairs: list[tuple[tuple[int, ...], Any]],
        leaders: dict[int, str],
        dt: float | None,
        total: tuple[int, int],
        actual: tuple[int, int],
        off: bool,
    ) -> list[str]:
        opts = self.opts
        k = opts.kilobytes
        acc = opts.accumulated

        def bw(amount: int) -> str:
            return format_rate(amount / dt if dt else None, kilobytes=k)

        stamp = format_clock(snap.t_wall) + " " if opts.timestamps else ""
        lines: list[str] = []
        if opts.quiet <= 2:
            lines.append(
                f"{stamp}Total DISK READ : {bw(total[0]):>14} | "
                f"Total DISK WRITE : {bw(total[1]):>14}"
            )
            lines.append(
                f"{stamp}Actual DISK READ: {bw(actual[0]):>14} | "
                f"Actual DISK WRITE: {bw(actual[1]):>14}"
            )
        if opts.quiet <= int(self.first):
            title = " " * max(0, self.width - 3) + ("PID" if opts.processes else "TID")
            titles = [title, "  PRIO", "  USER", "     DISK READ", "  DISK WRITE"]
            titles += ["  SWAPIN", "      IO"]
            titles += [f" {m.label:>{_WIDTH.get(m.unit, 9)}}" for m in opts.columns]
            titles.append("    COMMAND")
            lines.append(("    TIME" if opts.timestamps else "") + "".join(titles))
        width = self.width
        user = self.user
        prio = self._prio
        command = self._command
        columns = opts.columns
        zero = format_rate(0, kilobytes=k) if not acc else format_bytes(0, kilobytes=k)
        zero_pct = format_percent(0.0)
        span0 = dt
        quick = self._quick_idle()
        reuse, renew = self._reuse, self._renew
        fresh_idle: dict[int, _IdleLine] = {}
        cmdlines = snap.cmdlines
        for figures, row in pairs:
            if quick and figures == _ZERO5 and not row[6]:
                # An idle thread's line changes only with its name, owner, priority or command
                # line: reuse it while none changed (the priority is read again every few).
                tid = row[0]
                cached = reuse.get(tid)
                if cached is None:
                    # Its priority is read again; the line is made again only if it or the
                    # command text (the leader's name may have changed) differ.
                    prio_text, command_text = prio(row), command(row, snap, leaders)
                    old = renew.get(tid)
                    if old is not None and old[3] == prio_text and old[4] == command_text:
                        line = old[0]
                    else:
                        line = self._line(
                            row, prio_text, zero, zero, off, span0, zero_pct, command_text
                        )
                    cached = (line, cmdlines.get(row[1]), self.refreshes, prio_text, command_text)
                fresh_idle[tid] = cached
                lines.append(stamp + cached[0] if stamp else cached[0])
                continue
            read_b, write_b, cancelled_b, swapin_ns, blkio_ns = figures
            written = max(0, write_b - cancelled_b)
            if acc:
                read = format_bytes(read_b, kilobytes=k) if read_b else zero
                write = format_bytes(written, kilobytes=k) if written else zero
                span = row.span(True)
            else:
                read = (format_rate(read_b / dt, kilobytes=k) if dt else NA) if read_b else zero
                write = (format_rate(written / dt, kilobytes=k) if dt else NA) if written else zero
                span = dt
            if off or not span:
                swapin = io = NA
            else:
                swapin = format_percent(swapin_ns * 100.0 / (span * 1e9)) if swapin_ns else zero_pct
                io = format_percent(blkio_ns * 100.0 / (span * 1e9)) if blkio_ns else zero_pct
            extras = ""
            for m in columns:
                cell = self._extra_text(m, self._extra(row, m, span), off)
                extras += f" {cell:>{_WIDTH.get(m.unit, 9)}}"
            lines.append(
                f"{stamp}{row.tid:>{width}d} {prio(row):>4} {user(row.uid)[:8]:<8} "
                f"{read:>11} {write:>11} {swapin:>7} {io:>7}{extras} "
                f"{command(row, snap, leaders)}"
            )
        if quick:  # lines without an interval (N/A) are not kept for the next
            self._idle_lines = fresh_idle if dt else {}
        self.first = False
        return lines

    def _line(
        self,
        row: Any,
        prio: str,
        read: str,
        write: str,
        off: bool,
        span: float | None,
        zero_pct: str,
        command: str,
    ) -> str:
        """The line of a thread that did nothing in the interval (without the timestamp)."""
        swapin = io = NA if off or not span else zero_pct
        return (
            f"{row.tid:>{self.width}d} {prio:>4} {self.user(row.uid)[:8]:<8} "
            f"{read:>11} {write:>11} {swapin:>7} {io:>7} {command}"
        )

    def _json(
        self,
        snap: Any,
        pairs: list[tuple[tuple[int, ...], Any]],
        leaders: dict[int, str],
        dt: float | None,
        total: tuple[int, int],
        actual: tuple[int, int],
        off: bool,
    ) -> dict[str, object]:
        opts = self.opts
        acc = opts.accumulated

        def rate(amount: int) -> float | None:
            return amount / dt if dt else None

        def pct(ns: int, span: float | None) -> float | None:
            return None if off or not span else ns * 100.0 / (span * 1e9)

        tasks = []
        for (read, write_b, cancelled_b, swapin_ns, blkio_ns), row in pairs:
            span = self._spans(row, dt)
            written = max(0, write_b - cancelled_b)
            item: dict[str, object] = {
                ("pid" if opts.processes else "tid"): row.tid,
                "tgid": row.tgid,
                "prio": self._prio(row),
                "uid": row.uid,
                "user": self.user(row.uid),
            }
            if acc:
                item["read_bytes"] = read
                item["write_bytes"] = written
            else:
                item["read_bps"] = rate(read)
                item["write_bps"] = rate(written)
            item["swapin_delay_pct"] = pct(swapin_ns, span)
            item["blkio_delay_pct"] = pct(blkio_ns, span)
            for m in opts.columns:
                value = self._extra(row, m, span)
                if off and m.field in _NEEDS_DELAYACCT:
                    value = None
                item[m.field if (acc and m.kind == "rate") else m.name] = value
            item["comm"] = row.comm
            item["command"] = self._command(row, snap, leaders)
            item["exited"] = bool(row.exited)
            if row.exited:
                status = row.stats.ac_exitcode if not opts.processes else row.exit_code
                item["exit_status"] = status
            tasks.append(item)
        info = snap.info
        return {
            "time": snap.t_wall,
            "interval": dt,
            "backend": info.kind,
            "struct_version": info.struct_version,
            "delayacct": snap.delayacct,
            "accumulated": acc,
            "total": {"read_bps": rate(total[0]), "write_bps": rate(total[1])},
            "actual": {"read_bps": rate(actual[0]), "write_bps": rate(actual[1])},
            "lost": snap.lost,
            "tasks": tasks,
        }


#: Public names for the replay's --batch path (and anyone printing snapshots as batch does).
BatchOptions = _Options
BatchRenderer = _Renderer


def _run(sampler: Any, backend: Any, opts: _Options) -> None:
    """Baseline, then one report per interval until -n is reached or a signal arrives."""
    renderer = _Renderer(backend, opts)
    sampler.poll()  # the baseline every first report is measured against
    start = time.monotonic()
    done = 0
    write = sys.stdout.write
    while opts.iterations is None or done < opts.iterations:
        wait = start + (done + 1) * opts.delay - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        snap = sampler.poll()
        result = renderer.render(snap)
        if isinstance(result, dict):
            write(json.dumps(result) + "\n")
        elif result:
            write("\n".join(result) + "\n")
        sys.stdout.flush()
        done += 1
