"""The tsmon TUI: a Textual app fed by a sampler running in a thread worker.

``TsmonApp(backend=..., sampler=...)`` takes any Backend (netlink, sim, replay) and the Sampler
over it; the CLI builds both. The worker polls the sampler every ``interval`` seconds, folds
the snapshot into bounded state (histories, exit log, cgroup rows) and posts ``SampleReady``;
the UI thread only sorts the visible list and paints.

Hooks for record/replay (issue 5):

- ``recorder_factory``: a callable returning a ``Recorder`` (``write(snapshot)``, ``close()``,
  ``path``); ``R`` starts and stops it. The worker thread calls ``write`` after each poll.
- ``pause(bool)``, ``request_sample()`` (one poll now, even when paused),
  ``set_refresh_interval()``, ``set_status_extra(text)`` (a slot in the header, e.g. a
  replay position), and the ``SampleReady`` handler ``on_sample_ready`` for subclasses.
  Subclasses may add keys with ``EXTRA_KEYS`` (KeySpec tuples: help and palette list them).
"""

from __future__ import annotations

import contextlib
import gc
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, Protocol

from textual import work
from textual.app import App, SystemCommand
from textual.binding import BindingType
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Input, TabbedContent
from textual.worker import get_current_worker

from tsmon_core.backends import Backend
from tsmon_core.errors import TsmonError
from tsmon_core.sampler import Sampler, Snapshot

from .columns import ColumnSpec
from .keys import KEYS, KeySpec, bindings
from .messages import SampleFailed, SampleReady, TrackedUpdated
from .resources import theme_file
from .screens.detail import DetailScreen
from .screens.dialogs import ColumnChooser, Confirm
from .screens.help import HelpScreen
from .screens.main import MainScreen
from .themes import DEFAULT_THEME, TSMON_THEMES, register_all, resolve_name
from .tracking import Tracked, default_cgroup_dirs
from .widgets.summary import SummaryBar
from .widgets.table import VirtualTable
from .widgets.task_table import TaskTable, sorted_threads

__all__ = ["INTERVALS", "Recorder", "TsmonApp"]

#: The refresh intervals + and - step through (seconds).
INTERVALS = (0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0)


class Recorder(Protocol):
    """What ``R`` drives: something that writes snapshots (see tsmon.commands.record)."""

    path: str

    def write(self, snapshot: Snapshot) -> None:
        """Store one snapshot (called from the sampler worker thread)."""

    def close(self) -> None:
        """Finish the recording."""


class TsmonApp(App[int]):
    """The live (or simulated, or replayed) task monitor."""

    CSS_PATH = str(theme_file("tsmon.tcss"))
    TITLE = "tsmon"
    BINDINGS: ClassVar[list[BindingType]] = bindings()  # type: ignore[assignment]
    EXTRA_KEYS: ClassVar[tuple[KeySpec, ...]] = ()
    ENABLE_COMMAND_PALETTE = True

    def __init__(
        self,
        backend: Backend,
        sampler: Sampler | None = None,
        interval: float = 1.0,
        theme: str | None = None,
        *,
        processes: bool = False,
        only_active: bool = False,
        accumulated: bool = False,
        pids: Iterable[int] = (),
        cgroup2_dirs: Sequence[str] | None = None,
        manual: bool = False,
        recorder_factory: Callable[[], Recorder] | None = None,
    ) -> None:
        """Args:
        backend: where records come from (the app does not close it; the caller does).
        sampler: the sampler over ``backend`` (one is made when omitted).
        interval: seconds between refreshes.
        theme: a theme name (tsmon's or Textual's).
        processes, only_active, accumulated: the initial view (p, o, a).
        pids: show only these processes/threads (-p).
        cgroup2_dirs: cgroup2 directories for the cgroups tab (default: the top level).
        manual: sample only when ``request_sample()`` is called (tests, replay stepping).
        recorder_factory: makes a Recorder when R is pressed.
        """
        super().__init__()
        for spec in self.EXTRA_KEYS:
            if spec.keys:
                self.bind(spec.keys, spec.action, description=spec.footer or spec.help)
        self.backend = backend
        self.sampler = sampler if sampler is not None else Sampler(backend)
        self.interval = float(interval)
        self.initial_theme = resolve_name(theme) if theme else DEFAULT_THEME
        self.manual = manual
        self.paused = False
        self.recorder_factory = recorder_factory
        self.recorder: Recorder | None = None
        if cgroup2_dirs is None:
            cgroup2_dirs = default_cgroup_dirs() if backend.info.kind == "netlink" else []
        self.tracked = Tracked(cgroup2_dirs)
        self.snapshot: Snapshot | None = None
        self.generation = 0  # snapshots shown so far
        self.tracked_generation = 0  # snapshots folded into histories and totals
        self.status_extra = ""
        self.cgroups_visible = False  # read by the worker: derive cgroup rows only when shown
        self.last_error: str | None = None
        self._last_error_shown = 0.0
        # seconds from a snapshot posted to its frame painted (wall, and UI-thread CPU)
        self.paint_times: deque[float] = deque(maxlen=512)
        self.paint_cpu_times: deque[float] = deque(maxlen=512)
        # How the task table orders every thread, when it is shown so (column, accumulated,
        # descending): the sampling thread sorts each new snapshot so
        self._table_order: tuple[ColumnSpec, bool, bool] | None = None
        self.frames_painted = 0
        self._initial = (processes, only_active, accumulated, frozenset(pids))
        self._wake = threading.Event()
        self._requests = 0
        self._req_lock = threading.Lock()
        self._frozen = False
        self._painted = threading.Event()
        self._retired: list[object] = []

    # --- set-up -------------------------------------------------------------------------

    @property
    def keys(self) -> tuple[KeySpec, ...]:
        """Every key (the App's and a subclass's extra ones)."""
        return (*KEYS, *self.EXTRA_KEYS)

    def get_default_screen(self) -> Screen[Any]:
        return MainScreen(id="main")

    @property
    def main(self) -> MainScreen:
        """The main screen."""
        screen = self.screen_stack[0]
        assert isinstance(screen, MainScreen)
        return screen

    @property
    def table(self) -> TaskTable:
        """The task table."""
        return self.main.query_one(TaskTable)

    def on_mount(self) -> None:
        register_all(self)  # type: ignore[arg-type]
        try:
            self.theme = self.initial_theme
        except Exception:  # an unknown name: keep the default and say so
            self.theme = DEFAULT_THEME
            self.notify(f"unknown theme {self.initial_theme!r}", severity="warning")

    def main_ready(self) -> None:
        """Called by MainScreen once it is composed: apply the initial view, start sampling."""
        processes, only_active, accumulated, pids = self._initial
        table = self.table
        table.ctx.processes = processes
        table.ctx.accumulated = accumulated
        table.only_active = only_active
        table.pids = set(pids)
        table.refilter()
        summary = self.main.query_one(SummaryBar)
        summary.show_info(self.backend.info)
        self._show_state()
        self.request_sample()
        self._sampler_loop()

    # --- the worker ---------------------------------------------------------------------

    def request_sample(self) -> None:
        """Poll once as soon as possible (even when paused or in manual mode)."""
        with self._req_lock:
            self._requests += 1
        self._wake.set()

    def pause(self, paused: bool) -> None:
        """Stop or resume periodic refreshes."""
        self.paused = paused
        self._wake.set()
        self._show_state()

    def set_refresh_interval(self, seconds: float) -> None:
        """Change the refresh interval."""
        self.interval = max(0.05, float(seconds))
        self._wake.set()
        self._show_state()

    def set_status_extra(self, text: str) -> None:
        """Text for the header's free slot (a replay position, for example)."""
        self.status_extra = text
        self._show_state()

    @work(
        thread=True,
        exclusive=True,
        group="sampler",
        exit_on_error=False,
        description="taskstats sampler",
    )
    def _sampler_loop(self) -> None:
        worker = get_current_worker()
        next_due = 0.0
        while not worker.is_cancelled:
            now = time.monotonic()
            with self._req_lock:
                forced = self._requests > 0
                if forced:
                    self._requests -= 1
            if forced or (not self.manual and not self.paused and now >= next_due):
                next_due = now + self.interval
                self._sample_once()
                continue
            wait = 0.25 if self.manual or self.paused else min(max(next_due - now, 0.0), 0.25)
            self._wake.wait(wait)
            self._wake.clear()

    def _sample_once(self) -> None:
        """One poll (worker thread): sampler, bounded state, recorder, then post."""
        try:
            snapshot = self.sampler.poll()
            t_new = time.perf_counter()  # the snapshot exists: latency is measured from here
            order = self._table_order
            if order is not None:
                # The table's row order, sorted here while the records are fresh in the
                # caches (the snapshot keeps it for the UI thread, which then only paints)
                sorted_threads(snapshot, *order)
        except TsmonError as exc:
            self.post_message(SampleFailed(str(exc)))
            return
        except Exception as exc:  # never let a bad refresh kill the worker silently
            self.post_message(SampleFailed(f"{type(exc).__name__}: {exc}"))
            return
        self.tracked.add_exits(snapshot)
        recorder = self.recorder
        if recorder is not None:
            try:
                recorder.write(snapshot)
            except Exception as exc:
                self.recorder = None
                self.post_message(SampleFailed(f"recording stopped: {exc}"))
        self._painted.clear()
        self.post_message(SampleReady(snapshot, self.tracked, t_new))
        # The per-thread pass (histories, totals, cgroups) waits for the frame to be painted,
        # so it does not compete with the UI thread for the GIL; the header and the charts
        # then catch up with a small second update.
        self._painted.wait(2.0)
        retired, self._retired = self._retired, []
        del retired  # the previous refresh's records are freed here, off the UI thread
        # cgroup rows read /proc and /sys for every member thread: only while they are shown
        self.tracked.update_history(snapshot, with_cgroups=self.cgroups_visible)
        self.post_message(TrackedUpdated(self.tracked.generation))
        if not self._frozen and snapshot.index >= 1:
            # Move everything alive after start-up out of the collector's sight: full
            # collections then scan only what refreshes create (tens of ms saved on a
            # 10,000-task machine). Objects are still freed by reference counting.
            gc.collect()
            gc.freeze()
            self._frozen = True

    # --- the UI thread ------------------------------------------------------------------

    def on_sample_ready(self, message: SampleReady) -> None:
        """Show a new snapshot on whatever is visible."""
        cpu_start = time.thread_time()
        if not self._main_ready():  # shutting down, or not composed yet
            self.snapshot = message.snapshot
            self._painted.set()
            return
        # Hand the previous snapshot's rows to the worker to free: deallocating 10,000
        # records costs ~15 ms, which the UI thread should not pay before painting.
        table = self.table
        self._retired.append((self.snapshot, table.rows, table.snapshot))
        self.snapshot = message.snapshot
        self.generation += 1
        self.refresh_view()
        start = message.t_ready

        def painted() -> None:
            self.paint_times.append(time.perf_counter() - start)
            self.paint_cpu_times.append(time.thread_time() - cpu_start)
            self.frames_painted += 1
            self._painted.set()

        self.call_after_refresh(painted)

    def on_tracked_updated(self, message: TrackedUpdated) -> None:
        """Histories and totals caught up: refresh the header, charts and cgroups."""
        self.tracked_generation = message.generation
        snapshot = self.snapshot
        if snapshot is None or not self._main_ready():
            return
        self._show_totals(snapshot)
        screen = self.screen
        if isinstance(screen, DetailScreen):
            screen.update_from(snapshot, self.tracked)
        elif screen is self.main and self.main.query_one(TabbedContent).active == "cgroups":
            self.main.query_one("#cgroup-pane").show(self.tracked)  # type: ignore[attr-defined]

    def _show_totals(self, snapshot: Snapshot) -> None:
        tracked = self.tracked
        self.main.query_one(SummaryBar).show_totals(
            snapshot,
            tracked.read_bps,
            tracked.write_bps,
            tracked.exits_per_s,
            tracked.processes,
            len(self.table.rows),
        )

    def on_sample_failed(self, message: SampleFailed) -> None:
        """Say why a refresh failed (the same reason at most every 10 s, not every refresh)."""
        now = time.monotonic()
        if message.error == self.last_error and now - self._last_error_shown < 10:
            return
        self.last_error = message.error
        self._last_error_shown = now
        self.notify(message.error, title="refresh failed", severity="error", timeout=6)

    def _main_ready(self) -> bool:
        """The main screen is up (not yet composed, or already torn down at exit)."""
        try:
            self.main.query_one(SummaryBar).query_one("#totals")
        except (NoMatches, IndexError, AssertionError):
            return False
        return True

    def refresh_view(self) -> None:
        """Redraw what is on screen from the last snapshot."""
        snapshot = self.snapshot
        if snapshot is None or not self._main_ready():
            return
        screen = self.screen
        tracked = self.tracked
        main = self.main
        if isinstance(screen, DetailScreen):
            screen.update_from(snapshot, tracked)
            return
        if screen is not main:
            return
        active = main.query_one(TabbedContent).active
        if active == "tasks":
            table = self.table
            table.show(snapshot)
            self._table_order = table.order_wanted()
            self._show_totals(snapshot)  # "shown" counts the rows just derived
        elif active == "exits":
            main.query_one("#exit-pane").show(tracked, self.sampler.listener_error)  # type: ignore[attr-defined]
        elif active == "cgroups":
            main.query_one("#cgroup-pane").show(tracked)  # type: ignore[attr-defined]

    def _show_state(self) -> None:
        with contextlib.suppress(Exception):
            self.main.query_one(SummaryBar).show_state(
                self.interval,
                self.paused,
                self.recorder.path if self.recorder else None,
                self.status_extra,
            )

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        was_visible = self.cgroups_visible
        self.cgroups_visible = event.pane.id == "cgroups"
        if self.cgroups_visible and not was_visible and not self.paused:
            self.request_sample()  # fresh cgroup rows now rather than at the next refresh
        self.refresh_view()
        pane = event.pane
        with contextlib.suppress(Exception):
            pane.query_one(VirtualTable).focus()

    def on_virtual_table_header_clicked(self, event: VirtualTable.HeaderClicked) -> None:
        if isinstance(event.table, TaskTable):
            event.table.set_sort(event.column)

    def on_virtual_table_selected(self, event: VirtualTable.Selected) -> None:
        if isinstance(event.table, TaskTable):
            self.open_detail(int(event.key))  # type: ignore[call-overload]

    def open_detail(self, key: int) -> None:
        """Open the detail screen of a thread (or a process in process mode)."""
        table = self.table
        screen = DetailScreen(table.ctx.processes, key, table.ctx.accumulated)
        self.push_screen(screen)  # it shows self.snapshot once mounted

    # --- actions ------------------------------------------------------------------------

    def _on_tasks(self) -> bool:
        return self.screen is self.main

    def action_sort_move(self, step: int) -> None:
        if self._on_tasks():
            self.table.move_sort(step)

    def action_reverse(self) -> None:
        if self._on_tasks():
            self.table.toggle_reverse()

    def action_toggle_processes(self) -> None:
        table = self.table
        table.set_processes(not table.ctx.processes)
        self.notify("processes" if table.ctx.processes else "threads", timeout=1.5)

    def action_toggle_active(self) -> None:
        table = self.table
        table.only_active = not table.only_active
        table.refilter()

    def action_toggle_accumulated(self) -> None:
        table = self.table
        table.ctx.accumulated = not table.ctx.accumulated
        table.refilter()

    def action_filter(self) -> None:
        self.main.query_one(TabbedContent).active = "tasks"
        box = self.main.query_one(Input)
        box.remove_class("hidden")
        box.focus()

    def action_choose_columns(self) -> None:
        def apply(chosen: list[str] | None) -> None:
            if chosen:
                self.table.set_columns_visible(chosen)

        self.push_screen(ColumnChooser(self.table.shown), apply)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.keys))

    def action_tab(self, name: str) -> None:
        if self.screen is not self.main:
            return
        self.main.query_one(TabbedContent).active = name

    def action_interval(self, step: int) -> None:
        current = self.interval
        if step > 0:
            bigger = [i for i in INTERVALS if i > current + 1e-9]
            new = bigger[0] if bigger else INTERVALS[-1]
        else:
            smaller = [i for i in INTERVALS if i < current - 1e-9]
            new = smaller[-1] if smaller else INTERVALS[0]
        self.set_refresh_interval(new)

    def action_pause(self) -> None:
        self.pause(not self.paused)

    def action_next_theme(self) -> None:
        names = TSMON_THEMES
        index = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(index + 1) % len(names)]
        self.notify(f"theme {self.theme}", timeout=1.5)

    def action_delayacct(self) -> None:
        state = self.backend.delayacct()
        if state:
            self.notify("delay accounting is already on")
            return
        if self.backend.info.kind == "netlink" and os.geteuid() != 0:
            self.notify(
                "switching delay accounting on needs root (sudo sysctl kernel.task_delayacct=1)",
                severity="warning",
            )
            return

        def answer(yes: bool | None) -> None:
            if not yes:
                return
            try:
                self.backend.set_delayacct(True)
            except (TsmonError, OSError) as exc:
                self.notify(str(exc), title="delay accounting", severity="error")
                return
            self.notify(
                "delay accounting is on: tasks started before now still get no I/O delays",
                timeout=6,
            )
            self.request_sample()

        self.push_screen(
            Confirm(
                "Switch delay accounting on (sysctl kernel.task_delayacct=1)?\n\n"
                "It costs a little on every context switch. Tasks already running will "
                "still never report I/O, swap or memory delays; new ones will."
            ),
            answer,
        )

    def action_record(self) -> None:
        if self.recorder is not None:
            recorder, self.recorder = self.recorder, None
            try:
                recorder.close()
            except Exception as exc:
                self.notify(f"closing the recording failed: {exc}", severity="error")
            else:
                self.notify(f"recording saved to {recorder.path}")
            self._show_state()
            return
        if self.recorder_factory is None:
            self.notify("recording is not available in this build", severity="warning")
            return
        try:
            self.recorder = self.recorder_factory()
        except (TsmonError, OSError) as exc:
            self.notify(str(exc), title="recording", severity="error")
            return
        self.notify(f"recording to {self.recorder.path}")
        self._show_state()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for spec in self.keys:
            if spec.palette and spec.action:
                yield SystemCommand(
                    spec.help,
                    f"key {spec.display}",
                    lambda action=spec.action: self.call_later(self.run_action, action),
                )

    async def action_quit(self) -> None:
        if self.recorder is not None:
            with contextlib.suppress(Exception):
                self.recorder.close()
            self.recorder = None
        self.exit(0)
