"""What can be derived from a record, declared once for the sampler, the CLI and the TUI.

A metric names the kernel counter it comes from, its unit and how it becomes a figure:
a counter's rate per second, a delay total as a percentage of wall time, or a gauge as is.
"""

from __future__ import annotations

from dataclasses import dataclass

from .abi import DELAY_KINDS

__all__ = [
    "COUNTER_FIELDS",
    "DELAY_KIND_NAMES",
    "METRICS",
    "Metric",
    "delay_count_field",
    "delay_total_field",
]

DELAY_KIND_NAMES: tuple[str, ...] = tuple(kind for kind, _ in DELAY_KINDS)


def delay_total_field(kind: str) -> str:
    """The record field holding a delay kind's total (ns)."""
    return f"{kind}_delay_total"


def delay_count_field(kind: str) -> str:
    """The record field holding a delay kind's event count."""
    return f"{kind}_count"


#: Record fields that only grow over a task's life (deltas and accumulations make sense).
COUNTER_FIELDS: tuple[str, ...] = (
    *(f for kind in DELAY_KIND_NAMES for f in (delay_count_field(kind), delay_total_field(kind))),
    "cpu_run_real_total",
    "cpu_run_virtual_total",
    "ac_utime",
    "ac_stime",
    "ac_minflt",
    "ac_majflt",
    "read_char",
    "write_char",
    "read_syscalls",
    "write_syscalls",
    "read_bytes",
    "write_bytes",
    "cancelled_write_bytes",
    "nvcsw",
    "nivcsw",
)


@dataclass(frozen=True, slots=True)
class Metric:
    """A figure derived from records.

    Attributes:
        name: stable identifier (used by --columns, sort keys, JSON).
        field: the record field it reads.
        kind: "rate" (Δfield per second), "percent" (Δns per Δwall ns, times 100), "avg"
            (Δtotal ns per Δcount events) or "gauge" (the value itself).
        unit: unit of the figure: "B/s", "%", "ns", "/s", "KB".
        label: short column label.
        count_field: the event-count field of an "avg" metric.
    """

    name: str
    field: str
    kind: str
    unit: str
    label: str
    count_field: str = ""


def _build() -> dict[str, Metric]:
    names: set[str] = set()
    metrics = [
        Metric("read_bps", "read_bytes", "rate", "B/s", "DISK READ"),
        Metric("write_bps", "write_bytes", "rate", "B/s", "DISK WRITE"),
        Metric("cancelled_write_bps", "cancelled_write_bytes", "rate", "B/s", "CANCELLED"),
        Metric("rchar_bps", "read_char", "rate", "B/s", "RCHAR"),
        Metric("wchar_bps", "write_char", "rate", "B/s", "WCHAR"),
        Metric("cpu_pct", "cpu_run_virtual_total", "percent", "%", "CPU"),
        Metric("nvcsw_ps", "nvcsw", "rate", "/s", "VCSW/s"),
        Metric("nivcsw_ps", "nivcsw", "rate", "/s", "ICSW/s"),
        Metric("minflt_ps", "ac_minflt", "rate", "/s", "MINFLT/s"),
        Metric("majflt_ps", "ac_majflt", "rate", "/s", "MAJFLT/s"),
        Metric("hiwater_rss", "hiwater_rss", "gauge", "KB", "RSS MAX"),
        Metric("hiwater_vm", "hiwater_vm", "gauge", "KB", "VM MAX"),
    ]
    labels = dict(DELAY_KINDS)
    for kind in DELAY_KIND_NAMES:
        label = {"blkio": "IO>", "swapin": "SWAPIN"}.get(kind, labels[kind])
        metrics.append(Metric(f"{kind}_delay_pct", delay_total_field(kind), "percent", "%", label))
        metrics.append(
            Metric(
                f"{kind}_delay_avg",
                delay_total_field(kind),
                "avg",
                "ns",
                f"{labels[kind]} AVG",
                delay_count_field(kind),
            )
        )
    for m in metrics:
        if m.name in names:
            raise AssertionError(f"metric {m.name} declared twice")
        names.add(m.name)
    return {m.name: m for m in metrics}


#: Every metric by name.
METRICS: dict[str, Metric] = _build()
