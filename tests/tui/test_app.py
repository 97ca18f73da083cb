"""Pilot tests of every key and tab on a scripted backend with exact, known figures."""

from __future__ import annotations

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, SelectionList, Static, TabbedContent

from tsmon.app import TsmonApp
from tsmon.keys import KEYS
from tsmon.screens.detail import DetailScreen
from tsmon.screens.dialogs import ColumnChooser, Confirm
from tsmon.screens.help import HelpScreen
from tsmon.widgets.summary import SummaryBar
from tsmon.widgets.table import VirtualTable

from .fake import FakeTask
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


async def detail_open(pilot: Pilot[TsmonApp]) -> DetailScreen:
    """Wait until the detail screen is up and shows its task."""
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.row)
    assert isinstance(app.screen, DetailScreen)
    return app.screen


async def test_header_shows_backend_kernel_version_and_totals() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        bar = app.main.query_one(SummaryBar)
        assert "SIMULATED" in static_text(bar.query_one("#badge", Static))
        source = static_text(bar.query_one("#source", Static))
        assert "test double" in source and "6.18.0-fake" in source and "v17" in source
        totals = static_text(bar.query_one("#totals", Static))
        # read: 1000 + 400000 B/s; write: 50000 + 20000 + 5000 B/s
        assert "DISK READ: 391.60 K/s" in totals
        assert "DISK WRITE: 73.24 K/s" in totals
        assert "threads 5" in totals and "processes 4" in totals
        assert "every 1 s" in static_text(bar.query_one("#state", Static))


async def test_default_sort_is_disk_write_descending_and_r_reverses() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        assert app.table.sort_key == "write_bps"
        assert [r.tid for r in app.table.rows][:4] == [101, 102, 300, 200]
        writes = column_values(app, "write_bps")
        assert writes == sorted(writes, reverse=True)
        await pilot.press("r")
        writes = column_values(app, "write_bps")
        assert writes == sorted(writes)
        assert app.table.rows[-1].tid == 101


async def test_left_right_move_the_sort_column_numeric_and_text() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("left")  # DISK READ
        assert app.table.sort_key == "read_bps"
        assert [r.tid for r in app.table.rows][:2] == [200, 101]
        await pilot.press("left")  # USER (text, A..Z first)
        assert app.table.sort_key == "user"
        users = column_values(app, "user")
        assert users == sorted(users)
        await pilot.press("left")  # TID: numbers sort biggest first
        assert app.table.sort_key == "tid"
        assert [r.tid for r in app.table.rows] == [400, 300, 200, 102, 101]
        await pilot.press("left")  # wraps to COMMAND (text)
        assert app.table.sort_key == "command"
        assert [r.comm for r in app.table.rows] == [
            "alpha",
            "alpha-worker",
            "bravo",
            "charlie",
            "delta",
        ]
        await pilot.press("r")
        assert app.table.rows[0].comm == "delta"
        # the header marks the sorted column and its direction (Z..A: descending)
        assert "COMMAND▼" in table_lines(app.table)[0]
        await pilot.press("r")
        assert "COMMAND▲" in table_lines(app.table)[0]


async def test_clicking_a_header_sorts_and_a_second_click_reverses() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        table = app.table
        header = table_lines(table)[0]
        x = header.index("CPU ") + 1
        await pilot.click(VirtualTable, offset=(x, 0))
        assert table.sort_key == "cpu_pct"
        assert table.rows[0].tid == 200
        await pilot.click(VirtualTable, offset=(x, 0))
        assert table.reverse and table.rows[-1].tid == 200


async def test_cursor_follows_its_task_across_refreshes_and_resorts() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("down", "down")  # third row: charlie (300)
        assert app.table.cursor_key == 300
        # charlie becomes the biggest writer: it moves to the top, the cursor goes with it
        app.backend.tasks[300].write_bps = 10_000_000
        await step(pilot)
        assert app.table.rows[0].tid == 300
        assert app.table.cursor_row == 0 and app.table.cursor_key == 300
        await pilot.press("left")  # re-sort by read: charlie reads nothing, goes down
        assert app.table.cursor_key == 300
        assert app.table.rows[app.table.cursor_row].tid == 300
        assert app.table.cursor_row > 0


async def test_an_untouched_cursor_stays_on_the_top_row_as_the_order_changes() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        first, last = app.table.rows[0].tid, app.table.rows[-1].tid
        app.backend.tasks[last].write_bps = 10_000_000  # the last row becomes the top writer
        await step(pilot)
        assert app.table.rows[0].tid == last and app.table.rows[1].tid == first
        assert app.table.cursor_row == 0 and app.table.cursor_key == last
        assert app.table.scroll_y == 0
        assert table_lines(app.table)[1].split()[0] == str(last)  # what the screen shows on top
        await pilot.press("down", "up")  # back on the first row: still the top of the list
        app.backend.tasks[first].write_bps = 20_000_000
        await step(pilot)
        assert app.table.cursor_key == first and app.table.cursor_row == 0


async def test_clicking_a_row_moves_the_cursor_and_a_second_click_opens_detail() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.click(VirtualTable, offset=(3, 3))  # header is line 0: third row
        assert app.table.cursor_row == 2
        key = app.table.cursor_key
        await pilot.click(VirtualTable, offset=(3, 3))
        await detail_open(pilot)
        assert app.screen.key == key


async def test_p_toggles_processes_and_keeps_the_cursor_on_the_task() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        assert len(app.table.rows) == 5
        await pilot.press("down")  # alpha-worker (102), in process 101
        assert app.table.cursor_key == 102
        await pilot.press("p")
        assert app.table.ctx.processes
        assert sorted(r.tid for r in app.table.rows) == [101, 200, 300, 400]
        assert app.table.cursor_key == 101
        # the process row sums its threads: 50000 + 20000 B/s
        alpha = next(r for r in app.table.rows if r.tid == 101)
        assert alpha.value("write_bps") == pytest.approx(70_000)
        assert "PID" in table_lines(app.table)[0]
        await pilot.press("p")
        assert len(app.table.rows) == 5 and app.table.cursor_key == 101


async def test_o_shows_only_tasks_doing_io_or_waiting() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("o")
        assert sorted(r.tid for r in app.table.rows) == [101, 102, 200, 300]
        app.backend.tasks[200].read_bps = 0
        await step(pilot)
        assert sorted(r.tid for r in app.table.rows) == [101, 102, 300]
        await pilot.press("o")
        assert len(app.table.rows) == 5


async def test_a_switches_to_totals_accumulated_since_start() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await step(pilot)
        await step(pilot)  # three seconds watched
        row = next(r for r in app.table.rows if r.tid == 101)
        assert "48.83 K/s" in " ".join(app.table._cells_of(row))
        await pilot.press("a")
        assert app.table.ctx.accumulated
        row = next(r for r in app.table.rows if r.tid == 101)
        cells = app.table._cells_of(row)
        # 3 s x 50,000 B/s = 150,000 B written since tsmon started watching
        assert "146.48 K" in cells and not any("K/s" in c for c in cells)


async def test_slash_filters_by_command_user_and_pid_and_escape_clears() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("slash")
        box = app.main.query_one(Input)
        assert box.has_focus
        await pilot.press(*"alpha")
        assert sorted(r.tid for r in app.table.rows) == [101, 102]
        box.value = "nobody"  # the user of bravo (uid 65534)
        await pilot.pause()
        assert [r.tid for r in app.table.rows] == [200]
        box.value = "300"
        await pilot.pause()
        assert [r.tid for r in app.table.rows] == [300]
        box.value = "101"  # a PID matches its threads too
        await pilot.pause()
        assert sorted(r.tid for r in app.table.rows) == [101, 102]
        # the filter holds across refreshes
        await step(pilot)
        assert sorted(r.tid for r in app.table.rows) == [101, 102]
        await pilot.press("escape")
        assert len(app.table.rows) == 5 and app.table.has_focus


async def test_pid_option_limits_the_rows() -> None:
    app = make_app(pids=[200, 300])
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        assert sorted(r.tid for r in app.table.rows) == [200, 300]


async def test_k_column_chooser_adds_and_removes_columns() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        assert "hiwater_rss" not in app.table.shown
        await pilot.press("k")
        await wait_for(pilot, lambda: isinstance(app.screen, ColumnChooser))
        chooser = app.screen.query_one(SelectionList)
        chooser.select("hiwater_rss")
        chooser.deselect("swapin_delay_pct")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is app.main)
        assert "hiwater_rss" in app.table.shown
        assert "swapin_delay_pct" not in app.table.shown
        header = table_lines(app.table)[0]
        assert "RSS MAX" in header and "SWAPIN" not in header
        # the scripted RSS high-water is tid MB: the biggest tid sorts first
        app.table.set_sort("hiwater_rss")
        assert app.table.rows[0].tid == 400


async def test_enter_opens_detail_with_that_tasks_numbers() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("down")  # alpha-worker 102: 30 % block I/O delay
        await pilot.press("enter")
        await detail_open(pilot)
        screen = app.screen
        await step(pilot)
        title = static_text(screen.query_one("#title", Static))
        assert "thread 102" in title and "alpha-worker" in title and "pid 101" in title
        delays = static_text(screen.query_one("#delays", Static))
        io_line = next(line for line in delays.splitlines() if "│ IO " in line)
        assert "30.00 %" in io_line  # block I/O delay now
        assert "2.00 ms" in io_line and "1.00 ms" in io_line  # max and min
        assert "600 ms" in io_line  # total: 30 % of two seconds
        assert "2023-11-14" in io_line  # v17: when the max happened (fake: 1700000000 s)
        counters = static_text(screen.query_one("#counters", Static))
        assert "19.53 K/s" in counters  # storage write rate of 102 (20,000 B/s)
        # history charts: one sample per refresh
        io_series, delay_series = app.tracked.series(("t", 102))
        assert io_series[-1] == pytest.approx(20_000)
        assert delay_series[-1] == pytest.approx(30, rel=0.01)
        assert "delay 30" in static_text(screen.query_one("#delay-label", Static))
        await pilot.press("escape")
        assert app.screen is app.main


async def test_detail_of_a_process_sums_threads_and_takes_max_over_them() -> None:
    app = make_app(processes=True)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.open_detail(101)
        await detail_open(pilot)
        title = static_text(app.screen.query_one("#title", Static))
        assert "process 101" in title and "threads 2" in title
        counters = static_text(app.screen.query_one("#counters", Static))
        assert "68.36 K/s" in counters  # 70,000 B/s written by the two threads


async def test_exit_log_receives_exits_newest_first() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.backend.kill(300, status=3 << 8)
        await step(pilot)
        app.backend.spawn(FakeTask(500, 500, "shortlived", write_bps=1))
        app.backend.kill(500, status=9)  # never seen in a table refresh
        await step(pilot)
        await pilot.press("2")
        assert app.main.query_one(TabbedContent).active == "exits"
        table = app.main.query_one("#exit-table", VirtualTable)
        assert [e.tid for e in table.rows] == [500, 300]
        lines = table_lines(table)
        assert "SIGKILL" in lines[1] and "shortlived" in lines[1]
        assert "exit 3" in lines[2] and "charlie" in lines[2]
        assert app.tracked.exits_total == 2
        assert 300 not in [r.tid for r in app.table.rows if not r.exited]


async def test_cgroups_tab_shows_cgroupstats() -> None:
    app = make_app(cgroups=["/sim/cgroup/v1/cpu/app"])
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("3")
        table = app.main.query_one("#cgroup-table", VirtualTable)
        await wait_for(pilot, lambda: bool(table.rows))
        line = table_lines(table)[1]
        assert "cgroupstats" in line and "/sim/cgroup/v1/cpu/app" in line
        assert table.rows[0].counts == (5, 1, 0, 0, 0)


async def test_plus_minus_change_the_interval_and_space_pauses() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("plus")
        assert app.interval == 2.0
        await pilot.press("minus", "minus")
        assert app.interval == 0.5
        state = app.main.query_one("#state", Static)
        assert "every 0.5 s" in static_text(state)
        await pilot.press("space")
        assert app.paused and "PAUSED" in static_text(state)
        await pilot.press("space")
        assert not app.paused


async def test_t_cycles_themes_and_colours_change() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        assert app.theme == "tsmon-dark"
        dark_bg = app.get_css_variables()["background"]
        await pilot.press("t")
        assert app.theme == "tsmon-light"
        assert app.get_css_variables()["background"] != dark_bg
        assert app.get_css_variables()["background"].lower() == "#f7f7f5"
        await pilot.press("t")
        assert app.theme == "tsmon-high-contrast"
        assert app.get_css_variables()["background"] == "#000000"
        await pilot.press("t")
        assert app.theme == "tsmon-dark"


@pytest.mark.parametrize(
    ("name", "theme"),
    [("tsmon-high-contrast", "tsmon-high-contrast"), ("light", "tsmon-light"), ("nord", "nord")],
)
async def test_theme_option_picks_a_theme(name: str, theme: str) -> None:
    app = make_app(theme=name)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        assert app.theme == theme


async def test_no_color_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    from textual.filter import Monochrome, NoColor

    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        assert app.no_color
        assert any(isinstance(f, (Monochrome, NoColor)) for f in app._filters)


async def test_hostile_process_name_renders_literally() -> None:
    hostile = "[red]x\x1b[2J\x1b]0;pwn\x07[/]"
    app = make_app(tasks=[FakeTask(666, 666, hostile, write_bps=1e9)])
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        line = table_lines(app.table)[1]
        assert "[red]x[2J]0;pwn[/]" in line
        assert "\x1b" not in line and "\x07" not in line
        await pilot.press("enter")
        await detail_open(pilot)
        title = static_text(app.screen.query_one("#title", Static))
        assert "[red]x[2J]0;pwn[/]" in title
        await pilot.press("escape")
        app.backend.kill(666)
        await step(pilot)
        await pilot.press("2")
        exit_line = table_lines(app.main.query_one("#exit-table", VirtualTable))[1]
        assert "[red]x[2J]0;pwn[/]" in exit_line and "\x1b" not in exit_line


async def test_help_lists_every_key_from_the_binding_table() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = static_text(app.screen.query_one("#help-keys", Static))
        for spec in KEYS:
            assert spec.help in text
        # and every bound key is an App binding
        bound = {b.key for b in app.BINDINGS}  # type: ignore[union-attr]
        for spec in KEYS:
            if spec.keys:
                assert spec.keys in bound
        await pilot.press("escape")
        assert app.screen is app.main


async def test_command_palette_offers_the_actions() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        titles = {c.title: c for c in app.get_system_commands(app.screen)}
        assert "Reverse the sort order" in titles
        assert "Show processes or threads" in titles
        titles["Show processes or threads"].callback()
        await wait_for(pilot, lambda: app.table.ctx.processes)


async def test_capital_d_asks_then_switches_delay_accounting_on() -> None:
    app = make_app()
    app.backend.delay_on = False
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        warning = app.main.query_one("#warning", Static)
        assert not warning.has_class("hidden")
        assert "tasks started before" in static_text(warning)
        await pilot.press("D")
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm))
        await pilot.press("n")
        assert app.backend.delay_on is False
        await pilot.press("D")
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm))
        await pilot.press("y")
        assert app.backend.delay_on is True
        await step(pilot)
        assert warning.has_class("hidden")


async def test_capital_r_records_through_the_factory() -> None:
    written = []

    class Recorder:
        path = "/tmp/x.jsonl"
        closed = False

        def write(self, snapshot: object) -> None:
            written.append(snapshot)

        def close(self) -> None:
            Recorder.closed = True

    app = make_app(recorder_factory=Recorder)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("R")
        await step(pilot)
        await step(pilot)
        assert len(written) == 2
        assert "REC /tmp/x.jsonl" in static_text(app.main.query_one("#state", Static))
        await pilot.press("R")
        assert Recorder.closed
        await step(pilot)
        assert len(written) == 2


async def test_backend_error_is_a_notification_not_a_crash() -> None:
    from tsmon_core.errors import PermissionDeniedError

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)

        def boom(*args: object, **kwargs: object) -> None:
            raise PermissionDeniedError()

        app.backend.collect = boom
        app.request_sample()
        await wait_for(pilot, lambda: app.last_error is not None)
        assert "CAP_NET_ADMIN" in app.last_error
        assert app.is_running
        # the same failure again is not a new notification on every refresh
        shown = len(app._notifications)
        for _ in range(3):
            app.request_sample()
            await pilot.pause(0.05)
        assert len(app._notifications) == shown


async def test_wide_tables_scroll_sideways_with_shift_arrows() -> None:
    from tsmon.columns import COLUMNS

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.table.set_columns_visible(list(COLUMNS))
        await pilot.pause()
        assert app.table.virtual_size.width > SIZE[0]
        before = table_lines(app.table)[0]
        await pilot.press("shift+right", "shift+right")
        assert app.table.scroll_x == 16
        after = table_lines(app.table)[0]
        assert after != before and after.startswith(before[16:26])
        await pilot.press("shift+left", "shift+left", "shift+left")
        assert app.table.scroll_x == 0


async def test_a_refresh_repaints_only_the_lines_that_changed() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await step(pilot)
        table = app.table
        painted: list[int] = []
        original = table.render_line

        def counting(y: int):  # type: ignore[no-untyped-def]
            painted.append(y)
            return original(y)

        table.render_line = counting  # type: ignore[method-assign]
        await step(pilot)  # constant rates: every figure on screen stays the same
        assert painted == []
        app.backend.tasks[300].write_bps = 7_000  # charlie's DISK WRITE changes, same place
        await step(pilot)
        assert painted and set(painted) == {3}  # header is line 0: charlie is the third row
