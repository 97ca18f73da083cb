"""Bounded state: histories forget gone tasks, rings and the exit log have fixed sizes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tsmon.themes import TSMON_THEMES, load_themes
from tsmon.tracking import History, Tracked
from tsmon_core.sampler import Sampler

from .fake import FakeBackend, FakeTask

REPO = Path(__file__).resolve().parents[2]


def test_history_rings_are_bounded_and_forget_gone_tasks() -> None:
    history = History(length=5)
    for i in range(12):
        history.update({("t", 1): (100, float(i), 1.0), ("t", 2): (100, 2.0, 2.0)})
    io, delay = history.get(("t", 1))
    assert io == [7.0, 8.0, 9.0, 10.0, 11.0] and len(delay) == 5
    history.update({("t", 2): (100, 3.0, 3.0)})
    assert history.get(("t", 1)) == ([], []) and len(history) == 1
    # a reused id (another start time) starts a fresh ring
    history.update({("t", 2): (999, 4.0, 4.0)})
    assert history.get(("t", 2)) == ([4.0], [4.0])


def test_exit_log_keeps_the_newest_entries_only() -> None:
    backend = FakeBackend([])
    sampler = Sampler(backend)
    tracked = Tracked(exit_log_len=10)
    sampler.poll()
    tid = 1000
    for _ in range(5):
        for _ in range(7):
            backend.spawn(FakeTask(tid, tid, f"t{tid}"))
            backend.kill(tid, status=tid % 3 << 8)
            tid += 1
        backend.advance(1.0)
        tracked.update(sampler.poll())
    entries = tracked.exit_entries()
    assert len(entries) == 10 and tracked.exits_total == 35
    assert [e.tid for e in entries] == list(range(1034, 1024, -1))  # newest first
    assert entries[0].status == f"exit {1034 % 3}"
    assert tracked.exits_per_s == 7.0


def test_history_follows_live_tasks_through_churn() -> None:
    backend = FakeBackend([FakeTask(1, 1, "init", write_bps=10)])
    sampler = Sampler(backend)
    tracked = Tracked(history_len=4)
    tid = 100
    for _ in range(20):
        backend.spawn(FakeTask(tid, tid, "short", read_bps=5))
        if tid > 100:
            backend.kill(tid - 1)
        tid += 1
        backend.advance(1.0)
        tracked.update(sampler.poll())
    # init, the live short task and the one that exited in this interval (its last row),
    # each as a thread and as a process: 20 tasks came and went, 6 rings remain
    assert len(tracked.history) == 6
    io, _ = tracked.series(("t", 1))
    assert io == [10.0, 10.0, 10.0, 10.0]


def test_theme_files_define_three_themes_with_their_colours() -> None:
    themes = load_themes()
    assert set(TSMON_THEMES) <= set(themes)
    assert themes["tsmon-light"].dark is False
    assert themes["tsmon-high-contrast"].background == "#000000"


def test_top_rejects_an_unknown_theme_in_one_line() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "tsmon", "top", "--backend", "sim", "--theme", "nope"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("tsmon: unknown theme 'nope'")
    assert "tsmon-high-contrast" in lines[0]


def test_report_and_batch_do_not_import_the_tui() -> None:
    code = (
        "import sys; import tsmon.cli as c; "
        "[c.cli.get_command(None, n) for n in ('report', 'batch')]; "
        "print(sorted(m for m in sys.modules if m in ('tsmon.commands.top', 'tsmon.app', "
        "'textual')))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.stdout.strip() == "[]", done.stderr


@pytest.mark.parametrize("version", [4, 8, 15, 16, 17])
def test_thread_samples_equal_the_rows_own_figures(version: int) -> None:
    # The one-call reader (and, for versions lacking some delay kinds, the careful path)
    # gives each thread's I/O rates and summed delay % as the row computes them.
    from tsmon.tracking import thread_samples
    from tsmon_core.backends.sim import SimulatedBackend
    from tsmon_core.metrics import DELAY_KIND_NAMES

    backend = SimulatedBackend(seed=3, clock="virtual", version=version)
    sampler = Sampler(backend)
    sampler.poll()
    for _ in range(3):
        backend.advance(1.0)
        snapshot = sampler.poll()
    rows = snapshot.threads
    samples = thread_samples(rows)
    busy = 0
    for row, (rd, wr, delay) in zip(rows, samples, strict=True):
        if row.prev is None and not row.born:
            assert (rd, wr, delay) == (0.0, 0.0, 0.0)
            continue
        assert rd == pytest.approx(max(row.value("read_bps") or 0.0, 0.0))
        assert wr == pytest.approx(max(row.value("write_bps") or 0.0, 0.0))
        pcts = [row.value(f"{kind}_delay_pct") or 0.0 for kind in DELAY_KIND_NAMES]
        assert delay == pytest.approx(sum(pcts), abs=1e-9)
        busy += rd + wr + delay > 0
    assert busy > 10
