"""Messages the sampler worker posts to the UI thread."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from tsmon_core.sampler import Snapshot

from .tracking import Tracked

__all__ = ["SampleFailed", "SampleReady", "TrackedUpdated"]


@dataclass
class SampleReady(Message):
    """A new snapshot (its exits are already in the log; histories follow the paint).

    Attributes:
        snapshot: the sampler's snapshot.
        tracked: bounded state the worker updated from it (shared, read-only in the UI).
        t_ready: ``time.perf_counter()`` when the sampler returned it (for the benchmark).
    """

    snapshot: Snapshot
    tracked: Tracked
    t_ready: float

    def can_replace(self, message: Message) -> bool:
        """A newer snapshot replaces an older one still queued (exits are kept in tracked)."""
        return isinstance(message, SampleReady)


@dataclass
class TrackedUpdated(Message):
    """Histories, totals and cgroup rows caught up with the snapshot just painted."""

    generation: int

    def can_replace(self, message: Message) -> bool:
        """Only the latest matters."""
        return isinstance(message, TrackedUpdated)


@dataclass
class SampleFailed(Message):
    """The backend failed; the text says why (one line, no traceback)."""

    error: str
    fatal: bool = False
