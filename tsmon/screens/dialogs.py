"""Small modal dialogs: the column chooser and a yes/no question."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, SelectionList, Static
from textual.widgets.selection_list import Selection

from ..columns import COLUMNS

__all__ = ["ColumnChooser", "Confirm"]


class ColumnChooser(ModalScreen[list[str] | None]):
    """Tick the columns to show; Enter applies, Escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("enter", "apply", "Apply", priority=True),
    ]

    DEFAULT_CSS = """
    ColumnChooser { align: center middle; }
    ColumnChooser > Vertical {
        width: 70; height: 80%; border: thick $primary; background: $surface;
    }
    ColumnChooser SelectionList { height: 1fr; }
    ColumnChooser #chooser-help { height: 1; padding: 0 1; }
    """

    def __init__(self, visible: Sequence[str]) -> None:
        super().__init__()
        self.initial = set(visible)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("space ticks, Enter applies, Escape cancels", id="chooser-help")
            yield SelectionList[str](
                *(
                    Selection(
                        Text(f"{spec.label:<14} {spec.description}"),
                        key,
                        key in self.initial,
                        disabled=key in ("tid", "command"),
                    )
                    for key, spec in COLUMNS.items()
                ),
                id="chooser",
            )

    def action_apply(self) -> None:
        chosen = self.query_one("#chooser", SelectionList).selected
        self.dismiss([k for k in COLUMNS if k in chosen or k in ("tid", "command")])

    def action_cancel(self) -> None:
        self.dismiss(None)


class Confirm(ModalScreen[bool]):
    """A yes/no question (y / n keys, or the buttons)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    DEFAULT_CSS = """
    Confirm { align: center middle; }
    Confirm > Vertical {
        width: 72; height: auto; border: thick $warning; background: $surface; padding: 1 2;
    }
    Confirm Horizontal { height: auto; align: center middle; }
    Confirm Button { margin: 1 2 0 2; }
    """

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.question))
            with Horizontal():
                yield Button("Yes (y)", id="yes", variant="warning")
                yield Button("No (n)", id="no", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
