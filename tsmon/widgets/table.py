"""A table on Textual's Line API: renders only the visible rows of a sorted list.

``DataTable`` rebuilds every cell when rows change (about 1.8 s at 10,000 rows). This widget
holds a plain list of rows that its owner has already filtered and sorted, and formats only
the rows in view when Textual asks for a line. The cursor is a row *key*, so it stays on the
same task when the list is re-sorted or refreshed. The header is line 0 of the widget (it does
not scroll vertically) and clicking a header cell asks the owner to sort by that column.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

__all__ = ["TableColumn", "VirtualTable"]

RowT = TypeVar("RowT")


@dataclass(frozen=True, slots=True)
class TableColumn:
    """A column as the table draws it.

    Attributes:
        key: the owner's column key (reported back on header clicks).
        label: header text.
        width: cells (a flexible column gets at least this).
        right: right-aligned (numbers).
        flex: takes the width left over.
    """

    key: str
    label: str
    width: int
    right: bool = False
    flex: bool = False


class VirtualTable(ScrollView, Generic[RowT], can_focus=True, inherit_bindings=False):
    """A scrolling table drawing rows on demand (see module docstring)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "cursor_to(0)", "First row", show=False),
        Binding("end", "cursor_to(-1)", "Last row", show=False),
        Binding("enter", "select", "Details", show=False),
        Binding("shift+left", "hscroll(-8)", "Scroll left", show=False),
        Binding("shift+right", "hscroll(8)", "Scroll right", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "vtable--header",
        "vtable--header-sorted",
        "vtable--cursor",
        "vtable--cursor-focus",
        "vtable--dim",
        "vtable--odd",
    }

    DEFAULT_CSS = """
    VirtualTable {
        height: 1fr;
        background: $surface;
        scrollbar-size-vertical: 1;
    }
    VirtualTable > .vtable--header { background: $panel; color: $foreground; text-style: bold; }
    VirtualTable > .vtable--header-sorted { background: $primary; color: $text; text-style: bold; }
    VirtualTable > .vtable--cursor { background: $primary 40%; }
    VirtualTable > .vtable--cursor-focus { background: $primary 70%; text-style: bold; }
    VirtualTable > .vtable--dim { color: $foreground 50%; }
    VirtualTable > .vtable--odd { background: $surface-lighten-1 40%; }
    """

    class Selected(Message):
        """Enter (or a second click) on a row."""

        def __init__(self, table: VirtualTable[Any], key: Hashable) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> VirtualTable[Any]:
            return self.table

    class HeaderClicked(Message):
        """A click on a column's header."""

        def __init__(self, table: VirtualTable[Any], column: str) -> None:
            super().__init__()
            self.table = table
            self.column = column

        @property
        def control(self) -> VirtualTable[Any]:
            return self.table

    def __init__(
        self,
        cells: Callable[[RowT], Sequence[str]],
        key: Callable[[RowT], Hashable],
        dim: Callable[[RowT], bool] | None = None,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        """``cells(row)`` gives a row's cell texts in column order; ``key(row)`` its identity."""
        super().__init__(name=name, id=id, classes=classes)
        self._cells = cells
        self._key = key
        self._dim = dim
        self.columns: list[TableColumn] = []
        self.rows: Sequence[RowT] = []
        self.sort_column: str | None = None
        self.sort_descending = True
        self.cursor_key: Hashable | None = None
        self.cursor_row = 0
        # Whether the cursor follows its row's task: once the user puts it below the first
        # row. Until then (and back on the first row) it stays on top, so the top of the
        # sort is what a new view shows, whichever task that is from one refresh to the next.
        self.cursor_pinned = False
        self._widths: list[int] = []
        self._styles: dict[str, Style] = {}
        self._geometry: tuple[object, ...] = ()
        self._painted_lines: dict[int, tuple[object, ...]] = {}
        # id(row) -> (row, its cells) for the rows shown since set_rows: a line's cells are
        # formatted once, not for its signature and again to draw it
        self._cells_memo: dict[int, tuple[RowT, tuple[str, ...]]] = {}

    # --- data ---------------------------------------------------------------------------

    def set_columns(
        self, columns: Sequence[TableColumn], sort_column: str | None, descending: bool
    ) -> None:
        """Change the columns (and which one is sorted, which way: ▼ or ▲); keeps the rows."""
        self.columns = list(columns)
        self._cells_memo = {}
        self.sort_column = sort_column
        self.sort_descending = descending
        self._layout()
        self.refresh()

    def set_rows(self, rows: Sequence[RowT]) -> None:
        """Show a new (already sorted) list; a pinned cursor stays on its row's key if
        present, else the cursor is on the first row."""
        offset = self.cursor_row - int(self.scroll_y)
        self.rows = rows
        self._cells_memo = {}
        index = None
        if self.cursor_key is not None and self.cursor_pinned:
            index = self._index_of(self.cursor_key)
        if index is None:
            index = min(self.cursor_row, max(len(rows) - 1, 0)) if self.cursor_pinned else 0
            self.cursor_key = self._key(rows[index]) if rows else None
        self.cursor_row = index
        self._layout()
        # keep the cursor at the same height on screen, so the eye does not lose it
        self.scroll_to(y=max(index - offset, 0), animate=False, immediate=True)
        self._scroll_cursor_visible()
        self._refresh_changed()

    def _line_signature(self, y: int) -> tuple[object, ...]:
        """What screen line ``y`` shows (the header is line 0): equal signatures, same pixels."""
        if y == 0:
            return (tuple(self.columns), self.sort_column, self.sort_descending)
        index = int(self.scroll_y) + y - 1
        if index >= len(self.rows):
            return ()
        row = self.rows[index]
        dim = self._dim(row) if self._dim is not None else False
        memo = self._cells_memo.get(id(row))
        if memo is None or memo[0] is not row:
            memo = self._cells_memo[id(row)] = (row, tuple(self._cells(row)))
        return (index % 2, dim, index == self.cursor_row, memo[1])

    def _refresh_changed(self) -> None:
        """Repaint only the lines whose content changed (most rows of a refresh do not).

        A scroll, a resize or new column widths repaint everything.
        """
        height = self.scrollable_content_region.height
        geometry = (
            int(self.scroll_x),
            int(self.scroll_y),
            self.scrollable_content_region.width,
            height,
            tuple(self._widths),
            self.has_focus,
        )
        if geometry != self._geometry:
            self._geometry = geometry
            self._painted_lines = {}
            self.refresh()
            return
        width = max(self.virtual_size.width, self.size.width)
        painted = self._painted_lines
        for y in range(height):
            signature = self._line_signature(y)
            if painted.get(y) != signature:
                painted[y] = signature
                self.refresh(Region(0, y, width, 1))

    def _index_of(self, key: Hashable) -> int | None:
        keyf = self._key
        for i, row in enumerate(self.rows):
            if keyf(row) == key:
                return i
        return None

    def move_cursor_to_key(self, key: Hashable) -> bool:
        """Put the cursor on the row with ``key``; False when no row has it."""
        index = self._index_of(key)
        if index is None:
            return False
        self._set_cursor(index)
        return True

    @property
    def cursor_value(self) -> RowT | None:
        """The row under the cursor."""
        if 0 <= self.cursor_row < len(self.rows):
            return self.rows[self.cursor_row]
        return None

    def _layout(self) -> None:
        avail = max(self.scrollable_content_region.width, 20)
        fixed = sum(c.width + 1 for c in self.columns if not c.flex)
        widths = []
        for c in self.columns:
            widths.append(max(c.width, avail - fixed - 1) if c.flex else c.width)
        self._widths = widths
        total = sum(w + 1 for w in widths)
        self.virtual_size = Size(total, len(self.rows) + 1)

    def on_resize(self, event: events.Resize) -> None:
        self._layout()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # --- cursor -------------------------------------------------------------------------

    @property
    def _page(self) -> int:
        return max(self.scrollable_content_region.height - 1, 1)

    def _set_cursor(self, index: int) -> None:
        if not self.rows:
            self.cursor_row, self.cursor_key = 0, None
            return
        index = max(0, min(index, len(self.rows) - 1))
        self.cursor_row = index
        self.cursor_key = self._key(self.rows[index])
        self.cursor_pinned = index > 0
        self._scroll_cursor_visible()
        self.refresh()

    def _scroll_cursor_visible(self) -> None:
        top = int(self.scroll_y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False, immediate=True)
        elif self.cursor_row >= top + self._page:
            self.scroll_to(y=self.cursor_row - self._page + 1, animate=False, immediate=True)

    def action_cursor(self, step: int) -> None:
        self._set_cursor(self.cursor_row + step)

    def action_page(self, step: int) -> None:
        self._set_cursor(self.cursor_row + step * self._page)

    def action_cursor_to(self, index: int) -> None:
        self._set_cursor(len(self.rows) - 1 if index < 0 else index)

    def action_hscroll(self, step: int) -> None:
        self.scroll_to(x=max(self.scroll_x + step, 0), animate=False)

    def action_select(self) -> None:
        if self.cursor_key is not None and self.rows:
            self.post_message(self.Selected(self, self.cursor_key))

    # --- mouse --------------------------------------------------------------------------

    def column_at(self, x: int) -> str | None:
        """The column key under a content x coordinate (scroll included)."""
        pos = 0
        for col, width in zip(self.columns, self._widths, strict=False):
            if pos <= x < pos + width + 1:
                return col.key
            pos += width + 1
        return None

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        x, y = offset.x + int(self.scroll_x), offset.y
        if y == 0:
            column = self.column_at(x)
            if column is not None:
                self.post_message(self.HeaderClicked(self, column))
            return
        index = int(self.scroll_y) + y - 1
        if index < len(self.rows):
            again = index == self.cursor_row
            self._set_cursor(index)
            if again or event.chain > 1:
                self.action_select()

    def _on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self.scroll_to(y=self.scroll_y + 3, animate=False)
        event.stop()

    def _on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self.scroll_to(y=max(self.scroll_y - 3, 0), animate=False)
        event.stop()

    # --- drawing ------------------------------------------------------------------------

    def _line_text(self, texts: Sequence[str]) -> str:
        parts = []
        for text, col, width in zip(texts, self.columns, self._widths, strict=False):
            size = cell_len(text)
            if size > width:
                text = set_cell_size(text, width - 1) + "…"
            elif col.right:
                text = " " * (width - size) + text
            elif size < width:
                text = text + " " * (width - size)
            parts.append(text)
        return " ".join(parts) + " "

    def notify_style_update(self) -> None:
        self._styles.clear()  # a theme or CSS change: recompute the cached styles
        self._geometry = ()  # and repaint every line
        super().notify_style_update()

    def _style(self, name: str) -> Style:
        """The widget's base style, or a component's partial style (cached per theme)."""
        style = self._styles.get(name)
        if style is None:
            if name == "base":
                style = self.rich_style
            else:
                style = self.get_component_rich_style(name, partial=True)
            self._styles[name] = style
        return style

    def render_line(self, y: int) -> Strip:
        signature = self._line_signature(y)
        self._painted_lines[y] = signature
        scroll_x = int(self.scroll_x)
        width = self.scrollable_content_region.width
        base = self._style("base")
        if y == 0:
            return self._header_strip(base).crop(scroll_x, scroll_x + width)
        if not signature:
            return Strip.blank(width, base)
        odd, dim, cursor, cells = signature
        style = base
        if odd:
            style += self._style("vtable--odd")
        if dim:
            style += self._style("vtable--dim")
        if cursor:
            style += self._style("vtable--cursor-focus" if self.has_focus else "vtable--cursor")
        line = self._line_text(cells)  # type: ignore[arg-type]
        line = set_cell_size(line, max(self.virtual_size.width, width))
        strip = Strip([Segment(line, style)], cell_len(line))
        return strip.crop(scroll_x, scroll_x + width)

    def _header_strip(self, base: Style) -> Strip:
        header = base + self._style("vtable--header")
        sorted_style = base + self._style("vtable--header-sorted")
        segments = []
        for col, width in zip(self.columns, self._widths, strict=False):
            label = col.label
            if col.key == self.sort_column:
                label = f"{label}{'▼' if self.sort_descending else '▲'}"
            pad = " " * max(width - cell_len(label), 0)
            text = set_cell_size(pad + label if col.right else label, width)
            segments.append(Segment(text, sorted_style if col.key == self.sort_column else header))
            segments.append(Segment(" ", header))
        width_total = max(self.virtual_size.width, self.scrollable_content_region.width)
        used = sum(w + 1 for w in self._widths)
        if used < width_total:
            segments.append(Segment(" " * (width_total - used), header))
        return Strip(segments)
