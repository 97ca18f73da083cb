"""The cgroups tab: cgroupstats on cgroup v1, counts derived from member tasks on cgroup2."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from ..columns import clean_text, fmt_bytes, fmt_percent
from ..tracking import CgroupRow, Tracked
from ..widgets.table import TableColumn, VirtualTable

__all__ = ["CGROUP_COLUMNS", "CgroupsPane", "cgroup_cells"]

CGROUP_COLUMNS = (
    TableColumn("source", "SOURCE", 11),
    TableColumn("sleeping", "SLEEP", 6, right=True),
    TableColumn("running", "RUN", 5, right=True),
    TableColumn("stopped", "STOP", 5, right=True),
    TableColumn("uninterruptible", "UNINT", 6, right=True),
    TableColumn("io_wait", "IOWAIT", 6, right=True),
    TableColumn("members", "TASKS", 6, right=True),
    TableColumn("read", "READ", 11, right=True),
    TableColumn("write", "WRITE", 11, right=True),
    TableColumn("blkio", "IO>", 8, right=True),
    TableColumn("cpuwait", "CPU WAIT", 9, right=True),
    TableColumn("pressure", "PRESSURE avg10 (cpu/io/mem some)", 32),
    TableColumn("path", "CGROUP", 20, flex=True),
)


def _n(value: int | float | None) -> str:
    return "-" if value is None else str(value)


def cgroup_cells(row: CgroupRow) -> list[str]:
    """The cgroup table's cells for one row."""
    p = row.pressure
    pressure = (
        " / ".join(f"{p[k]:.2f}" if k in p else "-" for k in ("cpu some", "io some", "memory some"))
        if p
        else "-"
    )
    return [
        row.source,
        *(_n(c) for c in row.counts),
        _n(row.members),
        "-" if row.read_bps is None else fmt_bytes(row.read_bps, "/s"),
        "-" if row.write_bps is None else fmt_bytes(row.write_bps, "/s"),
        "-" if row.blkio_pct is None else fmt_percent(row.blkio_pct),
        "-" if row.cpu_delay_pct is None else fmt_percent(row.cpu_delay_pct),
        pressure,
        clean_text(row.path) + (f"  ({clean_text(row.note)})" if row.note else ""),
    ]


class CgroupsPane(Vertical):
    """A caption explaining the sources, and the cgroup table."""

    DEFAULT_CSS = """
    CgroupsPane #cgroup-caption { height: auto; padding: 0 1; color: $foreground 70%; }
    """

    def compose(self) -> ComposeResult:
        yield Static(
            "cgroupstats: the kernel's task-state counts (cgroup v1 directories). "
            "derived: cgroup2 has no cgroupstats, so the counts are derived from member "
            "tasks' /proc states, with the cgroup's own pressure files. IO/delay sums are "
            "over member threads tsmon sees. Name directories with --cgroup DIR.",
            id="cgroup-caption",
            markup=False,
        )
        yield VirtualTable[CgroupRow](
            cgroup_cells, lambda r: r.path, lambda r: r.source == "unavailable", id="cgroup-table"
        )

    def on_mount(self) -> None:
        self.query_one("#cgroup-table", VirtualTable).set_columns(CGROUP_COLUMNS, None, False)

    def show(self, tracked: Tracked) -> None:
        """Show the cgroups of the last refresh."""
        with tracked.lock:
            rows = list(tracked.cgroups)
        self.query_one("#cgroup-table", VirtualTable).set_rows(rows)
