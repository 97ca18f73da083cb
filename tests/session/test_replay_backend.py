"""The replay backend: a recording replayed gives the snapshots the live run gave."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from tsmon_core.backends import Backend, RawFrame, open_backend
from tsmon_core.backends.replay import ReplayBackend
from tsmon_core.backends.sim import SimulatedBackend
from tsmon_core.errors import BackendError, CgroupPathError, EndOfRecordingError, TaskGoneError
from tsmon_core.sampler import Sampler
from tsmon_core.session import SessionWriter

from .conftest import fingerprint

Recording = Callable[..., tuple[Path, list[RawFrame]]]


@pytest.mark.parametrize("name", ["live.jsonl", "live.jsonl.gz"])
def test_replayed_snapshots_equal_the_live_ones(tmp_path: Path, name: str) -> None:
    """Frame by frame: the same rows, rates, percentages, exits and totals."""
    path = tmp_path / name
    live = SimulatedBackend(seed=1, version=17, tasks=300, clock="virtual", churn=2.0)
    sampler = Sampler(live)
    expected = []
    with SessionWriter(path, info=live.info, interval=1.0, keyframe_every=10) as writer:
        for _ in range(25):
            live.advance(1.0)
            snapshot = sampler.poll()
            writer.write_snapshot(snapshot)
            expected.append(fingerprint(snapshot))
    live.close()
    assert sum(len(f["exits"]) for f in expected) > 0  # type: ignore[arg-type]
    assert any(v for f in expected for v in f["totals"].values())  # type: ignore[union-attr]

    replay = ReplayBackend(path)
    replayed = Sampler(replay)
    for n, want in enumerate(expected):
        got = fingerprint(replayed.poll())
        for key in want:
            assert got[key] == want[key], f"frame {n}: {key} differs"
    with pytest.raises(EndOfRecordingError):
        replayed.poll()
    assert replay.problems() == []


def test_info_and_player_facts(recording: Recording) -> None:
    path, frames = recording(frames=12, tasks=50)
    replay = open_backend("replay", path=str(path))
    assert isinstance(replay, ReplayBackend) and isinstance(replay, Backend)
    info = replay.info
    assert info.kind == "replay" and info.simulated
    assert info.hostname == "tsmon-sim" and info.struct_version == 17
    assert path.name in info.reason and "sim" in info.reason
    assert replay.frame_count == 12 and replay.position == -1
    assert replay.now() == frames[0].t_mono
    assert replay.duration == pytest.approx(11.0)
    assert replay.collect() == frames[0] and replay.position == 0
    assert replay.interval_after() == pytest.approx(1.0)
    assert replay.elapsed() == 0.0
    assert replay.seek(11) == 11
    last = replay.collect()
    assert replace(last, cmdlines=frames[11].cmdlines) == frames[11] and replay.at_end
    assert frames[11].cmdlines.items() <= last.cmdlines.items()  # plus every one known
    with pytest.raises(EndOfRecordingError, match="no more frames"):
        replay.collect()
    replay.close()


def test_queries_come_from_the_current_frame(recording: Recording) -> None:
    path, frames = recording(frames=6, tasks=60, cgroups=("/sys/fs/cgroup/cpu",))
    replay = ReplayBackend(path)
    replay.seek(3)
    frame = replay.collect()
    assert replace(frame, cmdlines=frames[3].cmdlines) == frames[3]
    tid = next(iter(frame.tasks))
    assert replay.query_pid(tid) == frames[3].tasks[tid]
    assert replay.list_tasks() == frames[3].tgids
    assert replay.query_many([tid, 999_999]) == {tid: frames[3].tasks[tid]}
    with pytest.raises(TaskGoneError):
        replay.query_pid(999_999)
    tgid = frame.tgids[tid]
    members = [r for t, r in frame.tasks.items() if frame.tgids[t] == tgid]
    group = replay.query_tgid(tgid)
    assert group.cpu_delay_total == sum(r.cpu_delay_total for r in members)
    assert group.ac_utime == sum(r.ac_utime for r in members)
    assert group.read_bytes == 0 and group.ac_comm == ""  # as the kernel's TGID reply
    assert replay.cgroup_stats("/sys/fs/cgroup/cpu") == frames[3].cgroups["/sys/fs/cgroup/cpu"]
    with pytest.raises(CgroupPathError):
        replay.cgroup_stats("/nowhere")
    assert replay.delayacct() is True
    some = next(iter(frame.cmdlines or {1: ""}))
    assert replay.cmdline(some) is not None or not frame.cmdlines
    with pytest.raises(BackendError, match="cannot switch"):
        replay.set_delayacct(False)
    listener = replay.open_listener()
    assert listener.read(1.0) == [] and listener.fileno() is None
    assert listener.lost == frames[3].lost


def test_first_frame_after_a_seek_knows_every_command_line(recording: Recording) -> None:
    path, frames = recording(frames=20, tasks=80, keyframe_every=6)
    replay = ReplayBackend(path)
    replay.seek(15)
    frame = replay.collect()
    live_tgids = set(frame.tgids.values())
    known = {g for f in frames[:16] for g in f.cmdlines if g in live_tgids}
    assert known and known <= set(frame.cmdlines)
    following = replay.collect()
    assert following == frames[16]  # the rest as recorded


def test_restart_at_shows_the_rates_live_showed(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    live = SimulatedBackend(seed=4, tasks=100, clock="virtual")
    sampler = Sampler(live)
    shown = []
    with SessionWriter(path, info=live.info, interval=1.0, keyframe_every=5) as writer:
        for _ in range(15):
            live.advance(1.0)
            snapshot = sampler.poll()
            writer.write_snapshot(snapshot)
            shown.append(snapshot)
    replay = ReplayBackend(path)
    for number in (9, 2, 13, 0):
        fresh, snapshot = replay.restart_at(number)
        assert replay.position == number
        assert replace(snapshot.frame, cmdlines={}) == replace(shown[number].frame, cmdlines={})
        want = {r.tid: r.value("cpu_pct") for r in shown[number].threads}
        got = {r.tid: r.value("cpu_pct") for r in snapshot.threads}
        if number:
            assert got == want and any(v for v in got.values())
        else:
            assert all(v is None for v in got.values())
        assert fresh.poll().frame == shown[number + 1].frame
