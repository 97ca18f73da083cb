"""The exit log tab: every task the exit listener heard, newest first (bounded)."""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from ..columns import clean_text, fmt_bytes, fmt_duration_ns
from ..tracking import ExitEntry, Tracked
from ..widgets.table import TableColumn, VirtualTable

__all__ = ["EXIT_COLUMNS", "ExitLogPane", "exit_cells"]

EXIT_COLUMNS = (
    TableColumn("time", "TIME", 8),
    TableColumn("tid", "TID", 8, right=True),
    TableColumn("tgid", "PID", 8, right=True),
    TableColumn("lifetime", "LIFETIME", 10, right=True),
    TableColumn("status", "STATUS", 14),
    TableColumn("cpu", "CPU", 9, right=True),
    TableColumn("read", "READ", 10, right=True),
    TableColumn("write", "WRITE", 10, right=True),
    TableColumn("delay", "LARGEST DELAY", 20),
    TableColumn("command", "COMMAND", 16, flex=True),
)


def _seconds(value: float) -> str:
    if value < 1:
        return f"{value * 1000:.1f} ms"
    if value < 120:
        return f"{value:.2f} s"
    return f"{value / 60:.1f} min"


def exit_cells(entry: ExitEntry) -> list[str]:
    """The exit log's cells for one entry."""
    delay = f"{entry.largest_kind} {fmt_duration_ns(entry.largest_ns)}" if entry.largest_ns else "-"
    return [
        time.strftime("%H:%M:%S", time.localtime(entry.t_wall)),
        str(entry.tid),
        str(entry.tgid),
        _seconds(entry.lifetime_s),
        entry.status,
        _seconds(entry.cpu_s),
        fmt_bytes(entry.read_bytes),
        fmt_bytes(entry.write_bytes),
        delay,
        clean_text(entry.comm) + (" (group)" if entry.group_exit else ""),
    ]


class ExitLogPane(Vertical):
    """A caption and the exit table."""

    DEFAULT_CSS = """
    ExitLogPane #exit-caption { height: 1; padding: 0 1; color: $foreground 70%; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="exit-caption", markup=False)
        yield VirtualTable[ExitEntry](
            exit_cells, lambda e: (e.tid, e.t_wall), lambda e: e.signal != 0, id="exit-table"
        )

    def on_mount(self) -> None:
        table = self.query_one("#exit-table", VirtualTable)
        table.set_columns(EXIT_COLUMNS, None, False)

    def show(self, tracked: Tracked, listener_error: str | None = None) -> None:
        """Show the log as it is now."""
        entries = tracked.exit_entries()
        caption = (
            f"{tracked.exits_total} exits heard since start, newest first "
            f"(the last {tracked.exits.maxlen} kept)"
        )
        if listener_error:
            caption += f"; no exit listener: {clean_text(listener_error)}"
        self.query_one("#exit-caption", Static).update(caption)
        self.query_one("#exit-table", VirtualTable).set_rows(entries)
