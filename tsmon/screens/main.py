"""The main screen: the header, the tabs (tasks, exit log, cgroups), the filter line, the footer."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Input, TabbedContent, TabPane

from ..widgets.summary import SummaryBar
from ..widgets.task_table import TaskTable
from .cgroups import CgroupsPane
from .exits import ExitLogPane

__all__ = ["MainScreen"]


class FilterInput(Input):
    """The ``/`` filter line: Escape clears and hides it, Enter keeps it and returns."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "clear_filter", "Clear filter"),
    ]

    def action_clear_filter(self) -> None:
        self.value = ""
        self.add_class("hidden")
        self.screen.query_one(TaskTable).focus()


class MainScreen(Screen[None]):
    """Header, tabs and footer; the App drives it with each snapshot."""

    DEFAULT_CSS = """
    MainScreen FilterInput { dock: bottom; height: 3; margin-bottom: 1; }
    MainScreen FilterInput.hidden { display: none; }
    MainScreen TabbedContent { height: 1fr; }
    MainScreen TabPane { padding: 0; }
    """

    def compose(self) -> ComposeResult:
        yield SummaryBar(id="summary")
        with TabbedContent(initial="tasks", id="tabs"):
            with TabPane("Tasks", id="tasks"):
                yield TaskTable(id="task-table")
            with TabPane("Exit log", id="exits"):
                yield ExitLogPane(id="exit-pane")
            with TabPane("Cgroups", id="cgroups"):
                yield CgroupsPane(id="cgroup-pane")
        yield FilterInput(placeholder="filter: command, user or PID (Esc clears)", classes="hidden")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(TaskTable).focus()
        ready = getattr(self.app, "main_ready", None)
        if ready is not None:
            ready()

    def on_screen_resume(self) -> None:
        refresh = getattr(self.app, "refresh_view", None)
        if refresh is not None:
            refresh()

    @property
    def table(self) -> TaskTable:
        """The task table."""
        return self.query_one(TaskTable)

    def on_input_changed(self, event: Input.Changed) -> None:
        table = self.table
        table.filter_text = event.value
        table.refilter()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if not event.value:
            event.input.add_class("hidden")
        self.table.focus()
