"""Pilot tests of the replay TUI (pause, step, jump, speed) and of R in the live TUI."""

from __future__ import annotations

import math
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from tsmon.app import TsmonApp
from tsmon.commands._replay_tui import ReplayApp
from tsmon.commands.record import recorder_factory
from tsmon_core.backends.replay import ReplayBackend
from tsmon_core.backends.sim import SimulatedBackend
from tsmon_core.sampler import Sampler, Snapshot
from tsmon_core.session import SessionReader, SessionWriter

SIZE = (150, 42)
FRAMES = 60


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[int, Any]]]:
    """A one-second-interval recording of the simulator and the cpu_pct every frame showed."""
    path = tmp_path_factory.mktemp("replay") / "s.jsonl.gz"
    live = SimulatedBackend(seed=2, tasks=150, clock="virtual")
    sampler = Sampler(live)
    shown = []
    with SessionWriter(path, info=live.info, interval=1.0, keyframe_every=8) as writer:
        for _ in range(FRAMES):
            live.advance(1.0)
            snapshot = sampler.poll()
            writer.write_snapshot(snapshot)
            shown.append({r.tid: r.value("cpu_pct") for r in snapshot.threads})
    live.close()
    return path, shown


async def until(pilot: Pilot[Any], predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return
        await pilot.pause(0.02)
    raise AssertionError("timed out waiting for the app")


def cpu(snapshot: Snapshot | None) -> dict[int, Any]:
    assert snapshot is not None
    return {r.tid: r.value("cpu_pct") for r in snapshot.threads}


def app_for(path: Path, **options: Any) -> ReplayApp:
    options.setdefault("cgroup2_dirs", [])
    return ReplayApp(ReplayBackend(path), **options)


async def test_pause_and_step(session: tuple[Path, list[dict[int, Any]]]) -> None:
    path, shown = session
    app = app_for(path, paused=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.shown == 0)
        await pilot.pause(0.3)
        assert app.shown == 0 and app.paused  # paused: nothing moves
        await pilot.press("right_square_bracket")
        await until(pilot, lambda: app.shown == 1)
        assert cpu(app.snapshot) == shown[1]  # rates over the recorded interval
        await pilot.press("right_curly_bracket")
        await until(pilot, lambda: app.shown == 11)
        assert cpu(app.snapshot) == shown[11]
        await pilot.press("left_square_bracket")
        await until(pilot, lambda: app.shown == 10)
        assert cpu(app.snapshot) == shown[10]  # a step back shows what live showed
        await pilot.press("left_curly_bracket", "left_curly_bracket")
        await until(pilot, lambda: app.shown == 0)
        bar = str(app.query_one("#replay-bar").render())
        assert "frame 1/60" in bar and "❚❚" in bar
        # space plays: frames follow each other at the recorded pace (x16 here)
        await pilot.press(*[">"] * 4)
        assert app.speed == 16.0
        await pilot.press("space")
        assert not app.paused
        await until(pilot, lambda: app.shown >= 5)
        await pilot.press("space")
        assert app.paused
        stopped = app.shown
        await pilot.pause(0.4)
        assert app.shown == stopped
        assert cpu(app.snapshot) == shown[stopped]


async def test_jump_to_a_time_or_a_frame(session: tuple[Path, list[dict[int, Any]]]) -> None:
    path, shown = session
    app = app_for(path, paused=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.shown == 0)
        await pilot.press("g")
        await pilot.press(*"#42", "enter")
        await until(pilot, lambda: app.shown == 41)  # frames are numbered from 1 in the bar
        await pilot.press("g")
        await pilot.press(*"42", "enter")  # 42 s into the recording
        await until(pilot, lambda: app.shown == 42)
        assert cpu(app.snapshot) == shown[42]
        assert "frame 43/60" in str(app.query_one("#replay-bar").render())
        await pilot.press("g")
        await pilot.press(*"-5", "enter")  # five seconds before the end
        await until(pilot, lambda: app.shown == 54)
        t_wall = app.replay.frame_time(20)
        assert t_wall is not None
        clock = time.strftime("%H:%M:%S", time.localtime(math.ceil(t_wall[1])))
        await pilot.press("g")
        await pilot.press(*clock, "enter")
        await until(pilot, lambda: app.shown == 20)
        assert cpu(app.snapshot) == shown[20]
        await pilot.press("g")
        await pilot.press(*"whenever", "enter")  # not a time: a notice, no move
        await pilot.pause(0.3)
        assert app.shown == 20
        assert any("not a time" in str(n.message) for n in app._notifications)


async def test_speed_steps_and_pace(session: tuple[Path, list[dict[int, Any]]]) -> None:
    path, _ = session
    app = app_for(path, speed=0.25, paused=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.shown == 0)
        await pilot.press("less_than_sign")
        assert app.speed == 0.25  # the slowest
        await pilot.press("space")
        await pilot.pause(1.0)
        await pilot.press("space")
        assert app.shown <= 1  # x0.25: a recorded second takes four
        await pilot.press(*[">"] * 10)
        assert app.speed == 16.0  # the fastest
        assert app.interval == pytest.approx(1 / 16)
        start = app.shown
        await pilot.press("space")
        await pilot.pause(1.5)
        await pilot.press("space")
        moved = app.shown - start
        assert moved >= 8, moved  # ~24 frames at x16 (generous for a loaded machine)
        await pilot.press("minus")  # - slows a replay down too
        assert app.speed == 8.0


async def test_replay_runs_to_the_end_and_stops(session: tuple[Path, list[dict[int, Any]]]) -> None:
    path, shown = session
    app = app_for(path, speed=16.0, start=50)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.shown == FRAMES - 1, timeout=20)
        await until(pilot, lambda: app.paused)
        assert "END" in str(app.query_one("#replay-bar").render())
        assert cpu(app.snapshot) == shown[-1]
        await pilot.press("space")  # again, from the start
        assert not app.paused
        await until(pilot, lambda: app.shown < FRAMES - 1)
        await pilot.press("space")  # stop before closing: no refresh in flight at exit
        await pilot.pause(0.3)


async def test_every_tab_and_detail_work_on_a_replay(session: tuple[Path, Any]) -> None:
    path, _ = session
    app = app_for(path, paused=True, start=30)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.shown == 30)
        for key in ("2", "3", "1"):
            await pilot.press(key)
            await pilot.pause(0.1)
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert type(app.screen).__name__ == "DetailScreen"
        await pilot.press("escape")
        await pilot.press("D")  # refused politely: a replay cannot switch delay accounting
        await pilot.pause(0.1)
        assert any("cannot change" in str(n.message) for n in app._notifications)


async def test_R_records_the_live_view(tmp_path: Path) -> None:
    backend = SimulatedBackend(seed=5, tasks=120, clock="virtual")
    app = TsmonApp(
        backend=backend,
        sampler=Sampler(backend),
        manual=True,
        cgroup2_dirs=[],
        recorder_factory=recorder_factory(backend, 1.0, directory=str(tmp_path)),
    )
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.generation >= 1)
        for _ in range(2):  # history before the recording starts
            backend.advance(1.0)
            app.request_sample()
            await until(pilot, lambda n=app.generation: app.generation > n)
        await pilot.press("R")
        assert app.recorder is not None
        path = Path(app.recorder.path)
        for _ in range(5):
            backend.advance(1.0)
            app.request_sample()
            await until(pilot, lambda n=app.generation: app.generation > n)
        await pilot.press("R")
        assert app.recorder is None
    backend.close()
    assert path.parent == tmp_path and path.name.endswith(".jsonl.gz")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    reader = SessionReader(path)
    frames = list(reader)
    assert len(frames) == 5 and reader.ended_cleanly
    first = frames[0]
    assert set(first.tgids.values()) <= set(first.cmdlines) | {t for t in first.tasks}
    assert len(first.cmdlines) > 3  # every command line known, not only the new ones


def test_tsmon_top_gives_R_a_recorder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The top command hands the app a recorder factory that writes where it is told."""
    from click.testing import CliRunner

    from tsmon.commands.top import top

    seen: dict[str, Any] = {}

    def run(self: TsmonApp, *args: Any, **kwargs: Any) -> None:
        seen["factory"] = self.recorder_factory
        recorder = self.recorder_factory()
        seen["path"] = recorder.path
        recorder.close()

    monkeypatch.setattr(TsmonApp, "run", run)
    monkeypatch.setenv("TSMON_RECORD_DIR", str(tmp_path))
    done = CliRunner().invoke(top, ["--backend", "sim", "-d", "2"])
    assert done.exit_code == 0, done.output
    assert seen["factory"] is not None
    path = Path(seen["path"])
    assert path.parent == tmp_path
    assert SessionReader(path).header.interval == 2.0
