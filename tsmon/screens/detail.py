"""Detail of one task (Enter on a row): everything the kernel reports, with history charts."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Sparkline, Static

from tsmon_core.abi import DELAY_KINDS
from tsmon_core.sampler import ProcessRow, Snapshot

from ..columns import (
    clean_text,
    fmt_bytes,
    fmt_count,
    fmt_duration_ns,
    fmt_percent,
    user_name,
)
from ..formatting import format_exit
from ..tracking import Tracked

__all__ = ["DetailScreen", "delay_rows", "find_row"]


def find_row(snapshot: Snapshot, processes: bool, key: int) -> Any | None:
    """The row of a thread (tid) or a process (tgid) in a snapshot, or None."""
    for row in snapshot.rows(processes):
        if row.tid == key:
            return row
    return None


def _ts(ns: int | None) -> str:
    if not ns:
        return "-"
    seconds = ns / 1e9
    try:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))
    except (OverflowError, OSError, ValueError):
        return "-"
    return f"{stamp}.{int(ns % 1_000_000_000 // 1_000_000):03d}"


def delay_rows(row: Any) -> list[tuple[str, int | None, int | None, int | None, int | None, Any]]:
    """Per delay kind: (label, count, total ns, max ns, min ns, max timestamp ns).

    A process sums counts and totals over its threads and takes max/min over them (the
    kernel's TGID record keeps only the last thread's max/min).
    """
    threads = row.threads if isinstance(row, ProcessRow) else [row]
    out = []
    for kind, label in DELAY_KINDS:
        counts = [t.stats and getattr(t.stats, f"{kind}_count") for t in threads]
        totals = [getattr(t.stats, f"{kind}_delay_total") for t in threads]
        maxes = [
            (getattr(t.stats, f"{kind}_delay_max"), getattr(t.stats, f"{kind}_delay_max_ts"))
            for t in threads
        ]
        mins = [getattr(t.stats, f"{kind}_delay_min") for t in threads]
        count = None if all(c is None for c in counts) else sum(c or 0 for c in counts)
        total = None if all(v is None for v in totals) else sum(v or 0 for v in totals)
        known_max = [m for m in maxes if m[0] is not None]
        mx, mx_ts = max(known_max, key=lambda m: m[0]) if known_max else (None, None)
        known_min = [m for m in mins if m]
        mn = min(known_min) if known_min else (0 if any(m == 0 for m in mins) else None)
        out.append((label, count, total, mx, mn, mx_ts))
    return out


def _field(row: Any, name: str) -> int | None:
    value: int | None = row.current(name)
    return value


class DetailScreen(Screen[None]):
    """One task's full record, refreshed with every snapshot."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("backspace", "app.pop_screen", "Back", show=False),
    ]

    DEFAULT_CSS = """
    DetailScreen { background: $background; }
    DetailScreen #title { height: auto; padding: 0 1; background: $panel; text-style: bold; }
    DetailScreen #cmdline { height: auto; padding: 0 1; color: $foreground 80%; }
    DetailScreen .chart-row { height: 3; padding: 0 1; }
    DetailScreen .chart-label { width: 28; }
    DetailScreen Sparkline { width: 1fr; height: 2; }
    DetailScreen #io-chart > .sparkline--max-color { color: $success; }
    DetailScreen #delay-chart > .sparkline--max-color { color: $error; }
    DetailScreen .section { height: auto; padding: 0 1; }
    """

    def __init__(self, processes: bool, key: int, accumulated: bool = False) -> None:
        super().__init__()
        self.processes = processes
        self.key = key
        self.accumulated = accumulated
        self.row: Any | None = None
        self.gone = False

    def compose(self) -> ComposeResult:
        yield Static("", id="title", markup=False)
        yield Static("", id="cmdline", markup=False)
        with VerticalScroll():
            with Horizontal(classes="chart-row"):
                yield Static("", id="io-label", classes="chart-label", markup=False)
                yield Sparkline([], id="io-chart")
            with Horizontal(classes="chart-row"):
                yield Static("", id="delay-label", classes="chart-label", markup=False)
                yield Sparkline([], id="delay-chart")
            yield Static("", id="delays", classes="section")
            yield Static("", id="counters", classes="section")
        yield Footer()

    def on_mount(self) -> None:
        self.call_after_refresh(self._first_update)

    def _first_update(self) -> None:
        snapshot = getattr(self.app, "snapshot", None)
        if snapshot is not None:
            self.update_from(snapshot, getattr(self.app, "tracked", None))

    def update_from(self, snapshot: Snapshot, tracked: Tracked | None) -> None:
        """Show the task as of this snapshot (keeps the last figures once it is gone)."""
        row = find_row(snapshot, self.processes, self.key)
        if row is None:
            self.gone = self.row is not None
        else:
            self.row, self.gone = row, False
        if self.row is None:
            what = "process" if self.processes else "thread"
            self.query_one("#title", Static).update(Text(f"{what} {self.key}: not in this refresh"))
            return
        self._render_row(self.row, snapshot)
        if tracked is not None:
            io, delay = tracked.series(("p" if self.processes else "t", self.key))
            self.query_one("#io-chart", Sparkline).data = io or [0.0]
            self.query_one("#delay-chart", Sparkline).data = delay or [0.0]
            last_io = io[-1] if io else 0.0
            last_delay = delay[-1] if delay else 0.0
            self.query_one("#io-label", Static).update(
                Text(f"I/O {fmt_bytes(last_io, '/s')}\nmax {fmt_bytes(max(io or [0]), '/s')}")
            )
            self.query_one("#delay-label", Static).update(
                Text(
                    f"delay {fmt_percent(last_delay)}\n"
                    f"max {fmt_percent(max(delay or [0]))} ({len(delay)} samples)"
                )
            )

    def _render_row(self, row: Any, snapshot: Snapshot) -> None:
        stats = row.stats
        what = "process" if self.processes else "thread"
        state = "running"
        if self.gone:
            state = "gone (last figures shown)"
        if row.exited:
            state = f"exited ({format_exit(stats.ac_exitcode or 0)})"
        title = Text(
            f"{what} {row.tid}  pid {row.tgid}  {clean_text(row.comm)}  "
            f"user {user_name(row.uid)}  {state}"
        )
        if isinstance(row, ProcessRow):
            title.append(f"  threads {len(row.threads)}")
        self.query_one("#title", Static).update(title)
        line = snapshot.cmdline(row.tgid)
        self.query_one("#cmdline", Static).update(Text(clean_text(line) or "(no command line)"))

        delays = Table(title="Delays (since the task started)", expand=False, title_justify="left")
        for name in ("kind", "count", "total", "average", "max", "min", "max at", "now"):
            delays.add_column(name, justify="left" if name in ("kind", "max at") else "right")
        kinds = dict((label, kind) for kind, label in DELAY_KINDS)
        for label, count, total, mx, mn, mx_ts in delay_rows(row):
            avg = total / count if total is not None and count else None
            now = row.value(f"{kinds[label]}_delay_pct")
            delays.add_row(
                Text(label),
                Text(fmt_count(count)),
                Text(fmt_duration_ns(total)),
                Text(fmt_duration_ns(avg)),
                Text(fmt_duration_ns(mx)),
                Text(fmt_duration_ns(mn)),
                Text(_ts(mx_ts) if mx_ts is not None else "n/a (before v17)"),
                Text(fmt_percent(now)),
            )
        self.query_one("#delays", Static).update(delays)

        table = Table(title="CPU, memory, I/O", expand=False, title_justify="left")
        table.add_column("figure")
        table.add_column("total", justify="right")
        table.add_column("now", justify="right")

        def add(label: str, total: str, now: str = "") -> None:
            table.add_row(Text(label), Text(total), Text(now))

        us = 1_000
        utime, stime = _field(row, "ac_utime"), _field(row, "ac_stime")
        add("user CPU time", fmt_duration_ns(None if utime is None else utime * us))
        add("system CPU time", fmt_duration_ns(None if stime is None else stime * us))
        add(
            "CPU run (real)",
            fmt_duration_ns(_field(row, "cpu_run_real_total")),
            fmt_percent(row.value("cpu_pct")),
        )
        add("CPU run (virtual)", fmt_duration_ns(_field(row, "cpu_run_virtual_total")))
        add(
            "voluntary ctx switches",
            fmt_count(_field(row, "nvcsw")),
            fmt_count(row.value("nvcsw_ps")) + "/s",
        )
        add(
            "involuntary ctx switches",
            fmt_count(_field(row, "nivcsw")),
            fmt_count(row.value("nivcsw_ps")) + "/s",
        )
        add(
            "minor faults",
            fmt_count(_field(row, "ac_minflt")),
            fmt_count(row.value("minflt_ps")) + "/s",
        )
        add(
            "major faults",
            fmt_count(_field(row, "ac_majflt")),
            fmt_count(row.value("majflt_ps")) + "/s",
        )
        rss, vm = _field(row, "hiwater_rss"), _field(row, "hiwater_vm")
        add("RSS high-water", fmt_bytes(None if rss is None else rss * 1024))
        add("VM high-water", fmt_bytes(None if vm is None else vm * 1024))
        for label, name, metric in (
            ("storage read", "read_bytes", "read_bps"),
            ("storage write", "write_bytes", "write_bps"),
            ("cancelled write", "cancelled_write_bytes", "cancelled_write_bps"),
            ("read() bytes", "read_char", "rchar_bps"),
            ("write() bytes", "write_char", "wchar_bps"),
        ):
            add(label, fmt_bytes(_field(row, name)), fmt_bytes(row.value(metric), "/s"))
        add("read syscalls", fmt_count(_field(row, "read_syscalls")))
        add("write syscalls", fmt_count(_field(row, "write_syscalls")))
        etime = stats.ac_etime
        add("elapsed", fmt_duration_ns(None if etime is None else etime * us))
        started = stats.ac_btime64 or stats.ac_btime
        add(
            "started",
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if started else "-",
        )
        add("nice / ppid / gid", f"{stats.ac_nice} / {stats.ac_ppid} / {stats.ac_gid}")
        if row.exited:
            add("exit status", f"{format_exit(stats.ac_exitcode or 0)} ({stats.ac_exitcode})")
        add("struct version", str(stats.version))
        self.query_one("#counters", Static).update(table)
