"""Pilot tests on the simulator (virtual clock): the app behaves on a realistic workload."""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import Input, Static

from tsmon.columns import COLUMNS, RowContext, sort_values
from tsmon.screens.detail import DetailScreen, delay_rows
from tsmon.widgets.summary import SummaryBar
from tsmon.widgets.table import VirtualTable
from tsmon_core.metrics import METRICS
from tsmon_core.sampler import Sampler

from .helpers import (
    SIZE,
    column_values,
    make_app,
    started,
    static_text,
    step,
    table_lines,
    wait_for,
)

sim = pytest.importorskip("tsmon_core.backends.sim", reason="the simulator is not in this tree")


def sim_backend(**options: Any) -> Any:
    opts = {"seed": 1, "version": 17, "tasks": 300, "clock": "virtual", **options}
    return sim.SimulatedBackend(**opts)


def sim_app(**options: Any) -> Any:
    backend_options = {
        k: options.pop(k) for k in ("tasks", "hostile_names", "version", "reason") if k in options
    }
    return make_app(sim_backend(**backend_options), **options)


async def test_simulator_badge_and_reason_are_visible() -> None:
    app = sim_app(reason="auto: simulated, because permission denied")
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        bar = app.main.query_one(SummaryBar)
        assert static_text(bar.query_one("#badge", Static)).strip() == "SIMULATED"
        source = static_text(bar.query_one("#source", Static))
        assert "not this machine's data" in source
        assert "because permission denied" in source
        assert "taskstats v17" in source
        assert len(app.table.rows) > 250


@pytest.mark.parametrize("key", ["write_bps", "read_bps", "cpu_pct", "cpu_delay_pct", "tid"])
async def test_numeric_sort_orders_rows_biggest_first_and_r_reverses(key: str) -> None:
    app = sim_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await step(pilot)
        app.table.set_sort(key, reverse=False)
        values = [-1.0 if v is None else v for v in column_values(app, key)]
        assert values == sorted(values, reverse=True)
        assert len(set(values)) > 1  # the column does discriminate rows
        await pilot.press("r")
        values = [-1.0 if v is None else v for v in column_values(app, key)]
        assert values == sorted(values)


@pytest.mark.parametrize("key", ["command", "user"])
async def test_text_sort_orders_rows_a_to_z(key: str) -> None:
    app = sim_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.table.set_sort(key, reverse=False)
        values = [v.lower() for v in column_values(app, key)]
        assert values == sorted(values) and values[0] != values[-1]
        await pilot.press("r")
        values = [v.lower() for v in column_values(app, key)]
        assert values == sorted(values, reverse=True)


async def test_cursor_follows_its_task_through_refreshes() -> None:
    app = sim_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.table.set_sort("cpu_pct", reverse=False)
        await pilot.press("down", "down", "down", "down", "down")
        key = app.table.cursor_key
        moved = 0
        for _ in range(6):
            before = app.table.cursor_row
            await step(pilot)
            row = app.table.cursor_value
            if row is None or row.tid != key:  # the task exited and is gone: nothing to follow
                break
            assert app.table.cursor_key == key
            moved += app.table.cursor_row != before
        assert app.table.cursor_key == key or key not in [r.tid for r in app.table.rows]


async def test_toggles_and_filter_change_rows_as_expected() -> None:
    app = sim_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        threads = len(app.table.rows)
        await pilot.press("p")
        procs = app.table.rows
        assert len(procs) == len({r.tgid for r in app.snapshot.threads})
        assert len(procs) < threads
        await pilot.press("p", "o")
        active = app.table.rows
        assert 0 < len(active) < threads
        for row in active:
            grew = [row.delta(f) for f in ("read_bytes", "write_bytes", "blkio_delay_total")]
            others = [
                row.delta(f"{k}_delay_total")
                for k in ("swapin", "freepages", "thrashing", "compact", "wpcopy")
            ]
            assert any(grew) or any(others)
        await pilot.press("o")
        comm = app.table.rows[len(app.table.rows) // 2].comm
        await pilot.press("slash")
        app.main.query_one(Input).value = comm
        await pilot.pause()
        assert app.table.rows and all(
            comm.lower() in r.comm.lower()
            or comm.lower() in (app.snapshot.cmdline(r.tgid) or "").lower()
            for r in app.table.rows
        )


async def test_detail_shows_the_selected_tasks_numbers() -> None:
    app = sim_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.table.set_sort("cpu_pct", reverse=False)
        await pilot.press("home", "down", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.row)
        screen = app.screen
        row = screen.row
        assert row.tid == app.table.rows[1].tid
        title = static_text(screen.query_one("#title", Static))
        assert f"thread {row.tid} " in title and row.comm in title
        delays = static_text(screen.query_one("#delays", Static))
        cpu = next(line for line in delays.splitlines() if "│ CPU " in line)
        label, count, total, *_ = delay_rows(row)[0]
        assert label == "CPU" and count == row.stats.cpu_count
        from tsmon.columns import fmt_count, fmt_duration_ns

        assert fmt_count(count) in cpu and fmt_duration_ns(total) in cpu
        counters = static_text(screen.query_one("#counters", Static))
        assert "voluntary ctx switches" in counters
        assert fmt_count(row.stats.nvcsw) in counters


async def test_exit_log_receives_simulated_exits_newest_first() -> None:
    app = sim_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        for _ in range(5):
            await step(pilot)
        assert app.tracked.exits_total > 0
        await pilot.press("2")
        table = app.main.query_one("#exit-table", VirtualTable)
        await wait_for(pilot, lambda: bool(table.rows))
        times = [e.t_wall for e in table.rows]
        assert times == sorted(times, reverse=True)
        lines = table_lines(table)
        first = table.rows[0]
        assert str(first.tid) in lines[1] and first.status in lines[1]


async def test_cgroups_tab_on_the_simulators_v1_hierarchy() -> None:
    backend = sim_backend()
    app = make_app(backend, cgroups=["/sys/fs/cgroup/cpu,cpuacct"])
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("3")
        table = app.main.query_one("#cgroup-table", VirtualTable)
        await wait_for(pilot, lambda: bool(table.rows))
        row = table.rows[0]
        assert row.source == "cgroupstats"
        stats = app.snapshot.cgroups["/sys/fs/cgroup/cpu,cpuacct"]
        assert row.counts == tuple(stats) and sum(row.counts) > 0
        assert "cgroupstats" in table_lines(table)[1]


async def test_hostile_names_render_literally_everywhere() -> None:
    app = sim_app(hostile_names=True)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.table.set_sort("command", reverse=False)
        hostile = [r for r in app.table.rows if "[" in r.comm or "\\" in r.comm]
        assert hostile, "the simulator offers hostile names"
        raw_lines = [app.snapshot.cmdline(r.tgid) or "" for r in app.table.rows]
        assert any(any(ord(c) < 0x20 for c in line) for line in raw_lines) or hostile
        for processes in (False, True):  # comm in thread mode, command lines in process mode
            app.table.set_processes(processes)
            for row in app.table.rows:
                text = " ".join(app.table._cells_of(row))
                assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in text)
        app.table.set_processes(False)
        # a name with markup shows its brackets on screen, in the table and in the detail
        app.table.filter_text = "[red]x"
        app.table.refilter()
        await pilot.pause()
        line = table_lines(app.table)[1]
        assert "[red]x[/red]" in line
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.row)
        assert "[red]x[/red]" in static_text(app.screen.query_one("#title", Static))
        # command lines with escape sequences, tabs, bidi overrides and bad bytes, in detail
        await pilot.press("escape")
        await pilot.press("p")
        for row in app.table.rows:
            line = app.table._cells_of(row)[-1]
            assert "\x1b" not in line and "\u202e" not in line and "\udcc3" not in line


@pytest.mark.parametrize("version", [17, 8])
@pytest.mark.parametrize("accumulated", [False, True])
def test_fast_sort_keys_equal_the_row_figures(version: int, accumulated: bool) -> None:
    backend = sim_backend(version=version)
    sampler = Sampler(backend)
    sampler.poll()
    for _ in range(3):
        backend.advance(1.0)
        snapshot = sampler.poll()
    ctx = RowContext(accumulated=accumulated)
    rows = snapshot.threads
    for name in METRICS:
        spec = COLUMNS[name]
        fast = sort_values(spec, rows, ctx)
        slow = [spec.sort_key(r, ctx) for r in rows]
        assert fast == pytest.approx(slow), name
    sampler.close()
