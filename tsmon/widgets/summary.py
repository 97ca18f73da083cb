"""The header: which backend is live, kernel and struct version, interval, totals, warnings.

Every string here is built as ``rich.text.Text`` (never parsed as markup), so a hostile host
name or reason cannot style or break the header.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from tsmon_core.backends import BackendInfo
from tsmon_core.sampler import Snapshot

from ..columns import clean_text, fmt_bytes

__all__ = ["DELAYACCT_WARNING", "SummaryBar"]

DELAYACCT_WARNING = (
    "Delay accounting is off (kernel.task_delayacct=0): only CPU delay is counted, and tasks "
    "started before it is switched on never get I/O, swap or memory delays. "
    "Press D to switch it on (root), or run: sysctl kernel.task_delayacct=1"
)


def badge_text(info: BackendInfo) -> str:
    """LIVE, SIMULATED or REPLAY."""
    if info.kind == "netlink":
        return " LIVE "
    if info.kind == "replay":
        return " REPLAY "
    return " SIMULATED "


class SummaryBar(Vertical):
    """Three short lines above the table (the third only when delay accounting is off)."""

    DEFAULT_CSS = """
    SummaryBar { height: auto; }
    SummaryBar Horizontal { height: 1; }
    SummaryBar #badge { width: auto; text-style: bold; }
    SummaryBar #badge.live { background: $success; color: $text; }
    SummaryBar #badge.sim { background: $warning; color: $text; }
    SummaryBar #badge.replay { background: $secondary; color: $text; }
    SummaryBar #source { width: 1fr; padding: 0 1; }
    SummaryBar #state { width: auto; padding: 0 1; text-style: bold; color: $warning; }
    SummaryBar #extra { width: auto; padding: 0 1; color: $accent; }
    SummaryBar #totals { height: 1; padding: 0 1; }
    SummaryBar #warning { height: auto; background: $error 30%; color: $text; padding: 0 1; }
    SummaryBar #warning.hidden { display: none; }
    """

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Static("", id="badge", markup=False)
            yield Static("", id="source", markup=False)
            yield Static("", id="extra", markup=False)
            yield Static("", id="state", markup=False)
        yield Static("", id="totals", markup=False)
        yield Static(DELAYACCT_WARNING, id="warning", classes="hidden", markup=False)

    def show_info(self, info: BackendInfo) -> None:
        """The backend line: badge, kind, reason, kernel release, struct version."""
        badge = self.query_one("#badge", Static)
        badge.update(badge_text(info))
        badge.set_classes({"netlink": "live", "replay": "replay"}.get(info.kind, "sim"))
        parts = [info.kind]
        if info.kind == "sim":
            parts[0] = "simulated kernel: not this machine's data"
        if info.reason:
            parts.append(clean_text(info.reason))
        parts.append(f"kernel {clean_text(info.kernel_release) or '?'}")
        version = info.struct_version
        parts.append(f"taskstats v{version}" if version is not None else "taskstats v?")
        if info.hostname:
            parts.append(clean_text(info.hostname))
        self.query_one("#source", Static).update(Text(" · ".join(parts)))

    def show_state(
        self, interval: float, paused: bool, recording: str | None = None, extra: str = ""
    ) -> None:
        """Interval, pause and recording state."""
        text = Text(f"every {interval:g} s")
        if paused:
            text.append("  PAUSED")
        if recording:
            text.append(f"  ● REC {clean_text(recording)}")
        self.query_one("#state", Static).update(text)
        self.query_one("#extra", Static).update(Text(clean_text(extra)))

    def show_totals(
        self,
        snapshot: Snapshot,
        read_bps: float,
        write_bps: float,
        exits_per_s: float,
        processes: int,
        shown: int,
    ) -> None:
        """Totals of the refresh and the delay-accounting warning."""
        text = Text()
        text.append(f"Total DISK READ: {fmt_bytes(read_bps, '/s')}")
        text.append(f" | DISK WRITE: {fmt_bytes(write_bps, '/s')}")
        text.append(f" | threads {len(snapshot.threads)} | processes {processes}")
        text.append(f" | shown {shown}")
        text.append(f" | exits/s {exits_per_s:.1f}")
        lost = Text(f" | events lost {snapshot.lost}")
        if snapshot.lost:
            lost.stylize("bold")
        text.append_text(lost)
        self.query_one("#totals", Static).update(text, layout=False)  # one line, full width
        self.query_one("#warning", Static).set_class(snapshot.delayacct is not False, "hidden")
