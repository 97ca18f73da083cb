"""Helpers for the TUI tests: app factories, stepping the virtual clock, reading the screen."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Static

from tsmon.app import TsmonApp
from tsmon.widgets.table import VirtualTable
from tsmon_core.sampler import Sampler

from .fake import FakeBackend, FakeTask

SIZE = (160, 50)


def fake_tasks() -> list[FakeTask]:
    """Five tasks with distinct, known rates (two share a process)."""
    return [
        FakeTask(101, 101, "alpha", uid=0, read_bps=1000, write_bps=50_000, cpu_pct=10),
        FakeTask(102, 101, "alpha-worker", uid=0, write_bps=20_000, blkio_pct=30),
        FakeTask(200, 200, "bravo", uid=65534, read_bps=400_000, cpu_pct=80),
        FakeTask(300, 300, "charlie", uid=0, write_bps=5_000, blkio_pct=5),
        FakeTask(400, 400, "delta", uid=0),
    ]


def make_app(
    backend: Any = None, *, tasks: Sequence[FakeTask] | None = None, **options: Any
) -> TsmonApp:
    """An app on a scripted backend (manual sampling: each ``step`` is one refresh)."""
    if backend is None:
        backend = FakeBackend(fake_tasks() if tasks is None else tasks)
    cgroups = options.pop("cgroups", ())
    sampler = Sampler(backend, cgroups=cgroups)
    options.setdefault("cgroup2_dirs", [])
    return TsmonApp(backend=backend, sampler=sampler, manual=True, **options)


def make_sim_app(**options: Any) -> TsmonApp:
    """An app on the simulator (virtual clock); skips when the simulator is not there yet."""
    sim = pytest.importorskip("tsmon_core.backends.sim", reason="simulator not landed yet")
    sim_options = {
        "seed": 1,
        "version": 17,
        "tasks": options.pop("tasks", 300),
        "clock": "virtual",
        "hostile_names": options.pop("hostile_names", False),
    }
    backend = sim.SimulatedBackend(**sim_options)
    return make_app(backend, **options)


async def wait_for(pilot: Pilot[Any], predicate: Any, timeout: float = 30.0) -> None:
    """Let the app run until ``predicate()`` holds."""
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return
        await pilot.pause(0.01)
    raise AssertionError("timed out waiting for the app")


async def started(pilot: Pilot[Any]) -> TsmonApp:
    """Wait for the first snapshot, then take one more so that rates exist."""
    app = pilot.app
    assert isinstance(app, TsmonApp)
    await wait_for(pilot, lambda: app.generation >= 1 and app.tracked_generation >= 1)
    await step(pilot)
    return app


async def step(pilot: Pilot[Any], seconds: float = 1.0) -> None:
    """Advance the virtual clock and wait for the refresh to be shown."""
    app = pilot.app
    assert isinstance(app, TsmonApp)
    target = app.generation + 1
    tracked = app.tracked.generation + 1
    app.backend.advance(seconds)  # type: ignore[attr-defined]
    app.request_sample()
    await wait_for(pilot, lambda: app.generation >= target)
    # histories and totals are folded in after the frame is painted
    await wait_for(pilot, lambda: app.tracked_generation >= tracked)
    await pilot.pause()


def table_lines(table: VirtualTable[Any]) -> list[str]:
    """The text of every line the table shows now (header first)."""
    return [table.render_line(y).text for y in range(table.scrollable_content_region.height)]


def static_text(widget: Static, width: int = 200) -> str:
    """The text a Static shows (tables included)."""
    console = Console(file=io.StringIO(), width=width, record=True, color_system=None)
    console.print(widget.content)
    return console.export_text()


def column_values(app: TsmonApp, key: str) -> list[Any]:
    """The figures of one column, in the order the table shows its rows."""
    from tsmon.columns import COLUMNS

    table = app.table
    return [COLUMNS[key].value(row, table.ctx) for row in table.rows]


__all__ = [
    "SIZE",
    "column_values",
    "fake_tasks",
    "make_app",
    "make_sim_app",
    "started",
    "static_text",
    "step",
    "table_lines",
    "wait_for",
]
