"""The task table: snapshot rows filtered, sorted and drawn through VirtualTable.

The view state (sort column and direction, threads or processes, only active, accumulated,
the filter, the visible columns) lives here; a new snapshot or a key press re-derives the row
list once, and VirtualTable formats only what is on screen.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from operator import attrgetter
from typing import Any

from tsmon_core.metrics import delay_total_field
from tsmon_core.sampler import Snapshot, TaskRow, row_field

from ..columns import (
    COLUMNS,
    DEFAULT_COLUMNS,
    ColumnSpec,
    RowContext,
    snapshot_sort_values,
    sort_values,
    user_name,
)
from .table import TableColumn, VirtualTable

__all__ = ["ACTIVE_FIELDS", "TaskTable", "row_matches"]

#: A task is "active" (``o``) when one of these grew: it did I/O or waited on something.
ACTIVE_FIELDS: tuple[str, ...] = (
    "read_bytes",
    "write_bytes",
    *(
        delay_total_field(k)
        for k in ("blkio", "swapin", "freepages", "thrashing", "compact", "wpcopy")
    ),
)

_ACTIVE_GET = attrgetter(*ACTIVE_FIELDS)
_tid = attrgetter("tid")
_THREAD_TID = row_field("tid")


def row_matches(row: Any, needle: str, ctx: RowContext) -> bool:
    """Whether a row matches a filter: a PID/TID (exact), or text in command, line or user."""
    if needle.isdigit():
        number = int(needle)
        if row.tid == number or row.tgid == number:
            return True
    if needle in row.comm.lower():
        return True
    if needle in user_name(row.uid).lower():
        return True
    line = ctx.cmdline(row.tgid)
    return bool(line) and needle in line.lower()


def rows_by_tid(snapshot: Snapshot, processes: bool) -> tuple[list[Any], list[int]]:
    """The snapshot's thread (or process) rows in task-id order, which ties of any sort keep,
    and where each is in the snapshot's own order; kept by the snapshot."""
    key = ("rows by tid", processes)
    got: tuple[list[Any], list[int]] | None = snapshot.memo.get(key)
    if got is None:
        unsorted = snapshot.rows(processes)
        tids = list(map(_tid if processes else _THREAD_TID, unsorted))
        places = sorted(range(len(unsorted)), key=tids.__getitem__)
        got = snapshot.memo[key] = (list(map(unsorted.__getitem__, places)), places)
    return got


def sorted_threads(
    snapshot: Snapshot, spec: ColumnSpec, accumulated: bool, descending: bool
) -> list[TaskRow]:
    """Every thread of the snapshot sorted by a metric column's figures (ties in task-id
    order); kept by the snapshot, so the sampling thread can sort a new snapshot before the UI
    shows it (at 10,000 threads the UI thread took ~25 ms for this, with cold caches)."""
    key = ("sorted threads", spec.key, accumulated, descending)
    got: list[TaskRow] | None = snapshot.memo.get(key)
    if got is None:
        rows, places = rows_by_tid(snapshot, False)
        figures = snapshot_sort_values(spec, snapshot, accumulated)
        assert figures is not None, "a metric column"
        keys = list(map(figures.__getitem__, places))
        order = sorted(range(len(rows)), key=keys.__getitem__, reverse=descending)
        got = snapshot.memo[key] = list(map(rows.__getitem__, order))
    return got


class TaskTable(VirtualTable[Any]):
    """The per-thread or per-process table of a snapshot."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(self._cells_of, self._key_of, self._is_dim, id=id)
        self.ctx = RowContext()
        self.shown: list[str] = list(DEFAULT_COLUMNS)
        self.sort_key = "write_bps"
        self.reverse = False
        self.only_active = False
        self.filter_text = ""
        self.pids: set[int] = set()
        self.snapshot: Snapshot | None = None
        self._specs: list[ColumnSpec] = []
        self._apply_columns()

    # --- rows ---------------------------------------------------------------------------

    @staticmethod
    def _key_of(row: Any) -> Hashable:
        return row.tid  # type: ignore[no-any-return]

    @staticmethod
    def _is_dim(row: Any) -> bool:
        return bool(row.exited)

    def _cells_of(self, row: Any) -> list[str]:
        ctx = self.ctx
        return [spec.cell(row, ctx) for spec in self._specs]

    def _apply_columns(self) -> None:
        self.shown = [k for k in COLUMNS if k in self.shown]  # keep the table's order
        if self.sort_key not in self.shown:
            self.sort_key = next((k for k in self.shown if k != "command"), self.shown[0])
        self._specs = [COLUMNS[k] for k in self.shown]
        columns = [
            TableColumn(s.key, s.header(self.ctx), s.width, right=not s.text, flex=s.flex)
            for s in self._specs
        ]
        self.set_columns(columns, self.sort_key, descending=self._descending())

    def sorted_rows(self, snapshot: Snapshot) -> list[Any]:
        """The snapshot's rows after the filter and the only-active toggle, in sort order."""
        ctx = self.ctx
        ctx.cmdline = snapshot.cmdline
        order = self.order_wanted()
        if order is not None:  # every thread, by a figure: often sorted already (see app)
            return list(sorted_threads(snapshot, *order))
        rows, _ = rows_by_tid(snapshot, ctx.processes)
        if self.pids:
            pids = self.pids
            rows = [r for r in rows if r.tid in pids or r.tgid in pids]
        if self.only_active:
            rows = self._active(snapshot, rows)
        needle = self.filter_text.strip().lower()
        if needle:
            rows = [r for r in rows if row_matches(r, needle, ctx)]
        keys = sort_values(COLUMNS[self.sort_key], rows, ctx)  # ties keep task-id order
        positions = sorted(range(len(rows)), key=keys.__getitem__, reverse=self._descending())
        return [rows[i] for i in positions]

    def order_wanted(self) -> tuple[ColumnSpec, bool, bool] | None:
        """(column, accumulated, descending) when the table shows every thread sorted by a
        figure: ``sorted_threads`` of a snapshot with these is its row list. None otherwise."""
        ctx = self.ctx
        if self.pids or self.only_active or self.filter_text.strip() or ctx.processes:
            return None
        spec = COLUMNS[self.sort_key]
        return (spec, ctx.accumulated, self._descending()) if spec.metric else None

    def _descending(self) -> bool:
        """Whether rows sort biggest first: numbers do, text goes A..Z; r flips either."""
        return COLUMNS[self.sort_key].text == self.reverse

    def _active(self, snapshot: Snapshot, rows: Sequence[Any]) -> list[Any]:
        """Rows whose I/O or non-CPU delay counters grew (since start when accumulated)."""
        acc = self.ctx.accumulated
        base_index = 4 if acc else 3
        active_tgids: set[int] = set()
        active_tids: set[int] = set()
        for r in snapshot.threads:
            now = _ACTIVE_GET(r[2])
            base = r[base_index]
            grew = (acc or r[5]) and any(now) if base is None else now != _ACTIVE_GET(base)
            if grew:
                active_tids.add(r[0])
                active_tgids.add(r[1])
        if self.ctx.processes:
            return [r for r in rows if r.tgid in active_tgids]
        return [r for r in rows if r.tid in active_tids]

    def show(self, snapshot: Snapshot | None = None) -> None:
        """Show a new snapshot (or re-derive the rows of the current one)."""
        if snapshot is not None:
            self.snapshot = snapshot
        if self.snapshot is None:
            return
        self.set_rows(self.sorted_rows(self.snapshot))

    # --- view changes -------------------------------------------------------------------

    def set_sort(self, key: str, reverse: bool | None = None) -> None:
        """Sort by a column (a second click on the sorted column reverses)."""
        if key not in self.shown:
            return
        if reverse is None:
            reverse = not self.reverse if key == self.sort_key else False
        self.sort_key, self.reverse = key, reverse
        self._apply_columns()
        self.show()

    def move_sort(self, step: int) -> None:
        """Sort by the column left (-1) or right (+1) of the current one."""
        index = self.shown.index(self.sort_key)
        self.set_sort(self.shown[(index + step) % len(self.shown)], self.reverse)

    def toggle_reverse(self) -> None:
        """Flip the sort order."""
        self.set_sort(self.sort_key, not self.reverse)

    def set_processes(self, processes: bool) -> None:
        """Switch between threads and processes, keeping the cursor on the same task."""
        row = self.cursor_value
        if row is not None:
            self.cursor_key = row.tgid if processes else row.tid
        self.ctx.processes = processes
        self._apply_columns()
        self.show()

    def set_columns_visible(self, keys: Sequence[str]) -> None:
        """Show these columns (TID and command are always shown)."""
        wanted = set(keys) | {"tid", "command"}
        self.shown = [k for k in COLUMNS if k in wanted]
        self._apply_columns()
        self.show()

    def refilter(self) -> None:
        """Re-derive rows after a toggle or filter change."""
        self._apply_columns()
        self.show()
