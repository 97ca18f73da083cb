"""The task table's columns as data: label, width, formatter and sort key, built from METRICS.

Every view (the table, its header, the column chooser, the help screen) reads this one table,
so adding a metric to ``tsmon_core.metrics`` is enough for it to be offered as a column.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.markup import escape

from tsmon_core.figures import ThreadColumns
from tsmon_core.metrics import METRICS, Metric
from tsmon_core.sampler import Snapshot, TaskRow

from .formatting import (
    format_bytes,
    format_count,
    format_ns,
    format_percent,
    format_rate,
    sanitize,
    user_name,
)

__all__ = [
    "COLUMNS",
    "DEFAULT_COLUMNS",
    "ColumnSpec",
    "RowContext",
    "clean_text",
    "fmt_bytes",
    "fmt_duration_ns",
    "fmt_percent",
    "markup_safe",
    "sort_values",
    "user_name",
]


def clean_text(text: str | None) -> str:
    """Untrusted text (a command name or line) with every control character removed.

    Lone surrogates (undecodable bytes smuggled through) become U+FFFD, so writing the
    screen can never fail on them.
    """
    text = sanitize(text)
    if not text.isascii():
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def markup_safe(text: str | None) -> str:
    """Untrusted text made safe to place inside Rich/Textual markup."""
    return escape(sanitize(text))


def fmt_bytes(value: float | None, suffix: str = "") -> str:
    """Bytes as iotop shows them (``1.50 K``); ``suffix="/s"`` for a rate; None -> N/A."""
    return format_rate(value) if suffix == "/s" else format_bytes(value)


def fmt_percent(value: float | None) -> str:
    """A percentage (``12.35 %``); None -> N/A."""
    return format_percent(value, cap=None)


def fmt_duration_ns(value: float | None) -> str:
    """A duration in ns for people (``850 ns``, ``12.3 µs``, ``4.56 ms``, ``2m03s``)."""
    return format_ns(value)


def fmt_count(value: float | None) -> str:
    """An event count or rate (``12``, ``3.5``, ``12.3k``)."""
    return format_count(value)


# --- columns ---------------------------------------------------------------------------


@dataclass(slots=True)
class RowContext:
    """What formatting a row needs besides the row: the mode and the snapshot's extras."""

    accumulated: bool = False
    processes: bool = False
    cmdline: Callable[[int], str | None] = lambda tgid: None


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One column of the task table.

    Attributes:
        key: stable identifier (a metric name for metric columns).
        label: header text.
        width: cells the column takes (the last, flexible column takes what is left).
        text: a text column (aligned left, sorted ascending first) rather than a number.
        default: shown without asking.
        metric: the metric it shows, when it shows one.
        description: one line for the column chooser and the help screen.
        value: row, context -> the raw figure (used for sorting and by formatters).
        fmt: figure, context -> the cell's text.
        flex: takes the remaining width.
    """

    key: str
    label: str
    width: int
    text: bool
    default: bool
    description: str
    value: Callable[[Any, RowContext], Any]
    fmt: Callable[[Any, RowContext], str]
    metric: str | None = None
    flex: bool = False
    labels: tuple[str, str] = field(default=("", ""))

    def header(self, ctx: RowContext) -> str:
        """The header label in the current mode (TID becomes PID for processes)."""
        if self.labels[0]:
            return self.labels[1] if ctx.processes else self.labels[0]
        return self.label

    def sort_key(self, row: Any, ctx: RowContext) -> Any:
        """A key that sorts rows by this column; missing figures sort as the smallest."""
        value = self.value(row, ctx)
        if self.text:
            return value.lower() if isinstance(value, str) else ""
        return -1.0 if value is None else value

    def cell(self, row: Any, ctx: RowContext) -> str:
        """The cell's text for one row."""
        return self.fmt(self.value(row, ctx), ctx)


def _metric_value(m: Metric) -> Callable[[Any, RowContext], float | None]:
    name = m.name
    if m.kind == "rate":
        field_name = m.field

        def value(row: Any, ctx: RowContext) -> float | None:
            if ctx.accumulated:
                amount = row.accum(field_name)
                return None if amount is None else float(amount)
            result: float | None = row.value(name)
            return result

        return value

    def plain(row: Any, ctx: RowContext) -> float | None:
        result: float | None = row.value(name, ctx.accumulated)
        return result

    return plain


def _metric_fmt(m: Metric) -> Callable[[Any, RowContext], str]:
    if m.unit == "B/s":
        return lambda v, ctx: fmt_bytes(v, "" if ctx.accumulated else "/s")
    if m.unit == "%":
        return lambda v, ctx: fmt_percent(v)
    if m.unit == "ns":
        return lambda v, ctx: fmt_duration_ns(v)
    if m.unit == "KB":
        return lambda v, ctx: fmt_bytes(None if v is None else v * 1024)
    return lambda v, ctx: fmt_count(v)


_LABELS = {
    "cpu_delay_pct": "CPU WAIT",
    "blkio_delay_pct": "IO>",
    "swapin_delay_pct": "SWAPIN",
    "freepages_delay_pct": "RECLAIM",
    "thrashing_delay_pct": "THRASH",
    "compact_delay_pct": "COMPACT",
    "wpcopy_delay_pct": "WPCOPY",
    "irq_delay_pct": "IRQ",
}

_DESCRIPTIONS = {
    "read_bps": "bytes read from storage per second",
    "write_bps": "bytes written to storage per second",
    "cancelled_write_bps": "written bytes cancelled (truncated before writeback) per second",
    "rchar_bps": "bytes read through read() and friends per second",
    "wchar_bps": "bytes written through write() and friends per second",
    "cpu_pct": "CPU time used, % of wall time",
    "nvcsw_ps": "voluntary context switches per second",
    "nivcsw_ps": "involuntary context switches per second",
    "minflt_ps": "minor page faults per second",
    "majflt_ps": "major page faults per second",
    "hiwater_rss": "peak resident memory of the process",
    "hiwater_vm": "peak virtual memory of the process",
}

_DEFAULT_METRICS = (
    "read_bps",
    "write_bps",
    "swapin_delay_pct",
    "blkio_delay_pct",
    "cpu_pct",
    "cpu_delay_pct",
)


def _width(m: Metric) -> int:
    if m.unit in ("B/s", "KB"):
        width = 12
    elif m.unit == "ns":
        width = 11
    else:
        width = 9
    return max(width, len(m.label) + 1)


def _command(row: Any, ctx: RowContext) -> str:
    comm = row.comm
    if ctx.processes:
        line = ctx.cmdline(row.tgid)
        if line:
            return line
    return comm  # type: ignore[no-any-return]


def _build() -> dict[str, ColumnSpec]:
    cols: list[ColumnSpec] = [
        ColumnSpec(
            "tid",
            "TID",
            8,
            False,
            True,
            "thread id (process id in process mode)",
            lambda row, ctx: row.tid,
            lambda v, ctx: str(v),
            labels=("TID", "PID"),
        ),
        ColumnSpec(
            "user",
            "USER",
            10,
            True,
            True,
            "the owner's login name",
            lambda row, ctx: user_name(row.uid),
            lambda v, ctx: v,
        ),
    ]
    # the defaults in iotop's order, then the other delays, the other rates, the averages
    pct = [n for n in METRICS if n.endswith("_delay_pct") and n not in _DEFAULT_METRICS]
    avg = [n for n in METRICS if n.endswith("_delay_avg")]
    rest = [n for n in METRICS if n not in _DEFAULT_METRICS and n not in pct and n not in avg]
    for name in [*_DEFAULT_METRICS, *pct, *rest, *avg]:
        m = METRICS[name]
        label = _LABELS.get(name, m.label)
        if m.kind == "avg":
            desc = f"average {m.label.split()[0].lower()} delay per event"
        elif name.endswith("_delay_pct"):
            kind = name.removesuffix("_delay_pct")
            desc = f"{kind} delay: time spent waiting, % of wall time"
        else:
            desc = _DESCRIPTIONS.get(name, m.label.lower())
        cols.append(
            ColumnSpec(
                name,
                label,
                _width(m),
                False,
                name in _DEFAULT_METRICS,
                desc,
                _metric_value(m),
                _metric_fmt(m),
                metric=name,
            )
        )
    cols.append(
        ColumnSpec(
            "command",
            "COMMAND",
            20,
            True,
            True,
            "command name (the command line in process mode)",
            _command,
            lambda v, ctx: clean_text(v),
            flex=True,
        )
    )
    return {c.key: c for c in cols}


#: Every column by key, in display order.
COLUMNS: dict[str, ColumnSpec] = _build()

#: The columns shown at start.
DEFAULT_COLUMNS: tuple[str, ...] = tuple(k for k, c in COLUMNS.items() if c.default)


# --- bulk sort keys --------------------------------------------------------------------


def _metric_keys(m: Metric, accumulated: bool, threads: ThreadColumns | Snapshot) -> list[Any]:
    """A metric column's sort keys from the figures of thread rows (the amounts of a rate
    when accumulated: the table shows those, not averages); -1 where there is none."""
    if accumulated and m.kind == "rate":
        figures: list[Any] = threads.amounts(m.field, True)
    else:
        figures = threads.values(m, accumulated)
    return [-1.0 if v is None else v for v in figures]


def snapshot_sort_values(
    spec: ColumnSpec, snapshot: Snapshot, accumulated: bool
) -> list[Any] | None:
    """Every thread's sort key for a metric column, in the snapshot's order, kept by the
    snapshot (a second call costs a copy); None for other columns."""
    if not spec.metric:
        return None
    return _metric_keys(METRICS[spec.metric], accumulated, snapshot)


def sort_values(spec: ColumnSpec, rows: Sequence[Any], ctx: RowContext) -> list[Any]:
    """Every row's sort key for one column, list-wise for thread rows of metric columns."""
    if spec.metric and rows and type(rows[0]) is TaskRow:
        return _metric_keys(METRICS[spec.metric], ctx.accumulated, ThreadColumns(rows))
    if spec.key == "tid":
        return [r.tid for r in rows]
    sort_key = spec.sort_key
    return [sort_key(r, ctx) for r in rows]
