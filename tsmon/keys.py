"""Every key of the TUI, declared once: the bindings, the help screen and the command palette
are all generated from this table."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding

__all__ = ["KEYS", "KeySpec", "bindings"]


@dataclass(frozen=True, slots=True)
class KeySpec:
    """One key.

    Attributes:
        keys: Textual key names, comma-separated ("left", "plus,equals_sign").
        action: the App action it runs ("" for keys handled by a widget).
        help: what it does, for the help screen and the command palette.
        display: how the help screen names the key.
        footer: label in the footer ("" hides it there).
        palette: offered in the command palette.
    """

    keys: str
    action: str
    help: str
    display: str
    footer: str = ""
    palette: bool = True


KEYS: tuple[KeySpec, ...] = (
    KeySpec("q", "quit", "Quit tsmon", "q", "Quit"),
    KeySpec("question_mark", "help", "Show this help", "?", "Help"),
    KeySpec("left", "sort_move(-1)", "Sort by the column to the left", "←", palette=False),
    KeySpec("right", "sort_move(1)", "Sort by the column to the right", "→", palette=False),
    KeySpec("r", "reverse", "Reverse the sort order", "r", "Reverse"),
    KeySpec("p", "toggle_processes", "Show processes or threads", "p", "Procs"),
    KeySpec("o", "toggle_active", "Only tasks doing I/O or waiting", "o", "Active"),
    KeySpec("a", "toggle_accumulated", "Totals since start instead of rates", "a", "Accum"),
    KeySpec("slash", "filter", "Filter by command, user or PID", "/", "Filter"),
    KeySpec("k", "choose_columns", "Choose the columns", "k", "Columns"),
    KeySpec("", "", "Details of the task under the cursor", "Enter", palette=False),
    KeySpec("", "", "Scroll wide tables sideways", "shift+← →", palette=False),
    KeySpec("1", "tab('tasks')", "Tasks tab", "1", palette=True),
    KeySpec("2", "tab('exits')", "Exit log tab", "2", "Exits", palette=True),
    KeySpec("3", "tab('cgroups')", "Cgroups tab", "3", "Cgroups", palette=True),
    KeySpec("plus,equals_sign", "interval(1)", "Refresh less often (+)", "+"),
    KeySpec("minus", "interval(-1)", "Refresh more often (-)", "-"),
    KeySpec("space", "pause", "Pause or resume refreshing", "space", "Pause"),
    KeySpec("t", "next_theme", "Next colour theme", "t", "Theme"),
    KeySpec("D", "delayacct", "Switch delay accounting on (root; asks first)", "D"),
    KeySpec("R", "record", "Start or stop recording the live view", "R"),
    KeySpec("", "", "Command palette", "ctrl+p", palette=False),
)


def bindings() -> list[Binding]:
    """The App's bindings, from KEYS."""
    return [
        Binding(spec.keys, spec.action, spec.footer or spec.help, show=bool(spec.footer))
        for spec in KEYS
        if spec.keys
    ]
