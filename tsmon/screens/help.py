"""The help screen (``?``): every key and column, from the same data as the bindings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ..columns import COLUMNS
from ..keys import KeySpec

__all__ = ["HelpScreen", "help_table"]


def help_table(keys: Sequence[KeySpec]) -> Table:
    """The keys as a table (key, what it does)."""
    table = Table(title="Keys", expand=True, title_justify="left", show_header=False)
    table.add_column("key", style="bold", no_wrap=True)
    table.add_column("action")
    for spec in keys:
        table.add_row(Text(spec.display), Text(spec.help))
    return table


def columns_table() -> Table:
    """The columns the table can show."""
    table = Table(title="Columns (k chooses)", expand=True, title_justify="left")
    table.add_column("column", no_wrap=True)
    table.add_column("meaning")
    for spec in COLUMNS.values():
        table.add_row(Text(spec.label), Text(spec.description))
    return table


class HelpScreen(ModalScreen[None]):
    """Keys and columns; any of escape, q, ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close"),
    ]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90%; height: 90%; border: thick $primary; background: $surface; padding: 0 1;
    }
    """

    def __init__(self, keys: Sequence[KeySpec]) -> None:
        super().__init__()
        self.keys = keys

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(help_table(self.keys), id="help-keys")
            yield Static(columns_table(), id="help-columns")
            yield Static(
                Text(
                    "Untrusted names are shown literally: control characters are removed and "
                    "markup is never interpreted. NO_COLOR=1 turns colours off."
                )
            )

    def action_dismiss(self, result: None = None) -> None:  # type: ignore[override]
        self.dismiss(None)
