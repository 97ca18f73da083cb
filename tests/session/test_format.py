"""The session format: every frame rebuilt exactly, keyframes and deltas, gzip, seeking."""

from __future__ import annotations

import builtins
import gzip
import json
import os
import random
import stat
import zlib
from array import array
from base64 import b64decode, b64encode
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from tsmon_core import abi
from tsmon_core.backends import BackendInfo, RawFrame
from tsmon_core.model import CgroupStats, ExitEvent, TaskStats, layout_class
from tsmon_core.session import (
    FORMAT_NAME,
    SCHEMA_VERSION,
    SessionReader,
    SessionWriter,
    _Encoder,
    _layout_fields,
    read_header,
)

from .conftest import assert_same_frames, simulate

INFO = BackendInfo(
    kind="netlink",
    kernel_release="6.18.0-test",
    struct_version=17,
    cpus="0-3",
    nr_cpus=4,
    delayacct=True,
    reason="",
    hostname="testhost",
)


def rec(tid: int, version: int = 17, **fields: object) -> TaskStats:
    """A record of a sleeping-looking task."""
    base: dict[str, object] = {
        "ac_comm": f"task{tid}",
        "ac_pid": tid,
        "ac_tgid": tid,
        "ac_btime": 1_700_000_000,
        "ac_btime64": 1_700_000_000,
        "ac_etime": 5_000_000,
        "ac_tgetime": 5_000_000,
        "cpu_count": 3,
        "cpu_run_real_total": 123_456_789,
        "hiwater_rss": 2048,
    }
    base.update(fields)
    names = set(layout_class(version, False).layout.names)
    return TaskStats.from_fields(version, **{k: v for k, v in base.items() if k in names})


def aged(record: TaskStats, us: int, btime: int = 0) -> TaskStats:
    """The record a second later for a task that slept."""
    changes: dict[str, object] = {"ac_etime": record.ac_etime + us}
    if record.ac_tgetime is not None:
        changes["ac_tgetime"] = record.ac_tgetime + us
    if btime and record.ac_btime is not None:
        changes["ac_btime"] = record.ac_btime + btime
        if record.ac_btime64 is not None:
            changes["ac_btime64"] = record.ac_btime64 + btime
    return record.replace(**changes)


def frame(t: float, tasks: dict[int, TaskStats], **extra: object) -> RawFrame:
    tgids = {tid: r.ac_tgid or tid for tid, r in tasks.items()}
    return RawFrame(t_mono=t, t_wall=1_700_000_000.0 + t, tasks=tasks, tgids=tgids, **extra)  # type: ignore[arg-type]


def write(path: Path, frames: list[RawFrame], **options: object) -> None:
    with SessionWriter(path, info=INFO, interval=1.0, **options) as writer:  # type: ignore[arg-type]
        for f in frames:
            writer.write(f, delayacct=True)


def file_lines(path: Path) -> list[dict[str, Any]]:
    """A plain session file's lines, parsed (to inspect or hand-edit them)."""
    return [json.loads(line) for line in path.read_text().splitlines()]


def rewrite(path: Path, lines: list[dict[str, Any]]) -> None:
    """Write hand-edited lines back as the file."""
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def deltas_of(path: Path) -> list[dict[str, Any]]:
    """A plain session file's delta lines, parsed."""
    return [line for line in file_lines(path) if "delta" in line]


def replays_as_schema(
    schema: int, path: Path, lines: list[dict[str, Any]], frames: list[RawFrame]
) -> SessionReader:
    """Write ``lines``, rewritten the way an older ``schema`` wrote them, as a file of that
    schema; it must replay ``frames`` exactly. Returns its reader, read to the end."""
    lines[0]["schema"] = schema
    rewrite(path, lines)
    got, reader = read_all(path)
    assert reader.header.schema == schema
    assert_same_frames(frames, got)
    return reader


def read_all(path: Path) -> tuple[list[RawFrame], SessionReader]:
    reader = SessionReader(path)
    return list(reader), reader


# --- round trips --------------------------------------------------------------------------


@pytest.mark.parametrize("version", range(1, abi.LATEST_VERSION + 1))
def test_every_struct_version_survives(tmp_path: Path, version: int) -> None:
    path = tmp_path / f"v{version}.jsonl"
    frames = simulate(path, frames=12, version=version, tasks=60, keyframe_every=5)
    got, reader = read_all(path)
    assert_same_frames(frames, got)
    assert reader.problems() == []
    assert reader.header.struct_version == version
    assert all(type(r).layout.version == version for f in got for r in f.tasks.values())


@pytest.mark.parametrize("name", ["s.jsonl", "s.jsonl.gz"])
def test_simulator_round_trip_with_exits_and_cgroups(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    frames = simulate(path, frames=40, tasks=150, churn=3.0, cgroups=("/sys/fs/cgroup/cpu",))
    assert sum(len(f.exits) for f in frames) > 0, "the workload should have exits"
    assert any(f.cgroups for f in frames)
    got, reader = read_all(path)
    assert_same_frames(frames, got)
    assert reader.ended_cleanly and reader.problems() == []
    assert reader.frame_count == 40


def test_header_names_the_recording(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    write(path, [frame(1.0, {1: rec(1)})])
    first = json.loads(path.read_text().splitlines()[0])
    assert first["format"] == FORMAT_NAME and first["schema"] == SCHEMA_VERSION
    assert list(first["layouts"]) == ["17"]
    assert ["cpu_delay_max_ts", "T"] in first["layouts"]["17"]
    header = read_header(path)
    assert header.hostname == "testhost"
    assert header.kernel_release == "6.18.0-test"
    assert header.struct_version == 17
    assert header.interval == 1.0
    assert header.backend == "netlink"
    assert header.tsmon_version
    assert header.started_wall > 1_000_000_000
    # no field name repeated per task: the frame holds arrays
    key = path.read_text().splitlines()[1]
    assert '"ac_comm"' not in key and '"task1"' in key


def test_sleeping_tasks_cost_a_few_bytes(tmp_path: Path) -> None:
    tasks = {tid: rec(tid, ac_etime=tid * 1000, ac_tgetime=tid * 1000) for tid in range(1, 501)}
    frames = [frame(0.0, tasks)]
    for i in range(1, 30):
        prev = frames[-1].tasks
        frames.append(frame(float(i), {t: aged(r, 1_000_000 + t % 7) for t, r in prev.items()}))
    path = tmp_path / "sleep.jsonl"
    write(path, frames, keyframe_every=30)
    lines = path.read_text().splitlines()
    deltas = [line for line in lines if line.startswith('{"delta"')]
    per_task = max(len(line) for line in deltas) / 500
    assert per_task < 40, per_task  # four clock fields, 28 bytes, in base64
    assert all('"c"' not in line for line in deltas)  # no task took the slow path
    got, _ = read_all(path)
    assert_same_frames(frames, got)


def test_tasks_that_stay_while_others_come_and_go_cost_a_few_bytes(tmp_path: Path) -> None:
    # Each frame one task exits and another starts: the order of the frame changes, and the
    # tasks that stayed are still found equal outside their clock fields.
    tasks = {tid: rec(tid, ac_etime=tid * 1000, ac_tgetime=tid * 1000) for tid in range(1, 301)}
    frames = [frame(0.0, tasks)]
    for i in range(1, 20):
        prev = dict(frames[-1].tasks)
        del prev[min(prev)]
        now = {t: aged(r, 1_000_000 + t % 5) for t, r in prev.items()}
        now[1000 + i] = rec(1000 + i)
        frames.append(frame(float(i), now))
    path = tmp_path / "churn.jsonl"
    write(path, frames, keyframe_every=30)
    deltas = [json.loads(line) for line in path.read_text().splitlines()[2:-1]]
    assert len(deltas) == 19
    assert all("c" not in d and len(d["n"]) == 1 and len(d["g"]) == 1 for d in deltas)
    # every task that stayed, aged only: its ages' steps (8 + 8 bytes), and no more
    assert all(len(zlib.decompress(b64decode(d["ck"]))) == 16 * 299 for d in deltas)
    assert not any("cs" in d or "cj" in d for d in deltas)
    got, _ = read_all(path)
    assert_same_frames(frames, got)


def test_a_schema_1_file_is_read_as_ever(tmp_path: Path) -> None:
    # Schema 1 wrote the clock fields of the tasks that stayed as ``e`` rows (tid step,
    # ac_etime, ac_tgetime - ac_etime) and ``j`` rows (and ac_btime, ac_btime64 - ac_btime):
    # a file of that schema replays exactly.
    tasks = {tid: rec(tid) for tid in range(1, 6)}
    frames = [frame(0.0, tasks)]
    frames.append(frame(1.0, {t: aged(r, 1_000_000) for t, r in tasks.items() if t != 3}))
    frames.append(
        frame(2.0, {t: aged(r, 1_000_001, btime=t == 4) for t, r in frames[1].tasks.items()})
    )
    path = tmp_path / "schema1.jsonl"
    write(path, frames)
    lines = file_lines(path)
    assert lines[0]["schema"] == SCHEMA_VERSION == 4
    for delta, now in zip(lines[2:4], frames[1:], strict=True):
        del delta["ck"]
        tids = list(now.tasks)
        aged_only = [t for t in tids if t != 4 or delta["delta"] == 1]
        steps = [aged_only[0]] + [b - a for a, b in pairwise(aged_only)]
        delta["e"] = [
            x
            for t, step in zip(aged_only, steps, strict=True)
            for x in (step, now.tasks[t].ac_etime, 0)
        ]
        assert "c" not in delta  # task 4's start time moved in ck, which schema 1 wrote in j
        if delta["delta"] == 2:
            r = now.tasks[4]
            delta["j"] = [4, r.ac_etime, 0, r.ac_btime, r.ac_btime64 - r.ac_btime]
    replays_as_schema(1, path, lines, frames)


def test_a_schema_2_file_is_read_as_ever(tmp_path: Path) -> None:
    # Schema 2 wrote the ages themselves in ``ck``, not how much they grew, and the start
    # times of every task in ``cj`` when one wobbled (task 2 in frame 2).
    first = {tid: rec(tid, ac_etime=tid * 7, ac_tgetime=tid * 9) for tid in range(1, 6)}
    frames = [frame(0.0, first)]
    frames.append(frame(1.0, {t: aged(r, 1_000_000 + t) for t, r in first.items() if t != 3}))
    frames.append(
        frame(2.0, {t: aged(r, 999_000, btime=-(t == 2)) for t, r in frames[1].tasks.items()})
    )
    path = tmp_path / "schema2.jsonl"
    write(path, frames)
    lines = file_lines(path)
    for delta, now in zip(lines[2:4], frames[1:], strict=True):
        ages = [r.ac_etime for r in now.tasks.values()] + [r.ac_tgetime for r in now.tasks.values()]
        delta["ck"] = b64encode(zlib.compress(array("Q", ages).tobytes())).decode()
        if delta["delta"] == 2:
            starts = array("I", [r.ac_btime for r in now.tasks.values()]).tobytes()
            starts += array("Q", [r.ac_btime64 for r in now.tasks.values()]).tobytes()
            delta["cj"] = b64encode(zlib.compress(starts)).decode()
    assert "cj" in lines[3]
    replays_as_schema(2, path, lines, frames)


def test_a_schema_3_file_is_read_as_ever(tmp_path: Path) -> None:
    # Schema 3 wrote a start time that wobbled as a change in ``c``, not in ``cs``, and the
    # ages' steps in ``ck`` as they are.
    first = {tid: rec(tid, ac_etime=tid * 7, ac_tgetime=tid * 9) for tid in range(1, 5)}
    frames = [frame(0.0, first)]
    for i, wobble in enumerate((1, -1, 0), start=1):
        last = frames[-1].tasks
        aged_tasks = {t: aged(r, 999_999, btime=wobble * (t > 2)) for t, r in last.items()}
        frames.append(frame(float(i), aged_tasks))
    path = tmp_path / "schema3.jsonl"
    write(path, frames)
    lines = file_lines(path)
    positions = type(first[1]).positions
    for delta, before, now in zip(lines[2:5], frames[:-1], frames[1:], strict=True):
        assert "c" not in delta
        delta.pop("cs", None)
        steps = _decode_ages(zlib.decompress(b64decode(delta["ck"])), 4)  # not coded then
        delta["ck"] = b64encode(zlib.compress(steps)).decode()
        moved = []
        for tid, record in now.tasks.items():
            step = record.ac_btime - before.tasks[tid].ac_btime
            if step:
                moved.append([tid, positions["ac_btime"], step, positions["ac_btime64"], step])
        if moved:
            delta["c"] = moved
    assert [len(d.get("c", ())) for d in lines[2:5]] == [2, 2, 0]
    reader = replays_as_schema(3, path, lines, frames)
    for n in (3, 1, 2):
        assert reader.seek(n) == n and reader.read() == frames[n]


def test_ages_that_went_back_are_rebuilt_exactly(tmp_path: Path) -> None:
    # A step is a column's difference taken as one number: a task younger than before
    # (a borrow into the next task's lane) is still exact.
    tasks = {tid: rec(tid, ac_etime=10**12, ac_tgetime=2**63) for tid in range(1, 5)}
    frames = [frame(0.0, tasks)]
    frames.append(
        frame(
            1.0,
            {
                1: tasks[1].replace(ac_etime=0, ac_tgetime=2**64 - 10),
                2: aged(tasks[2], 5),
                3: tasks[3].replace(ac_etime=10**12 - 1),
                4: aged(tasks[4], 2**40),
            },
        )
    )
    frames.append(frame(2.0, {t: aged(r, 1) for t, r in frames[1].tasks.items()}))
    path = tmp_path / "back.jsonl"
    write(path, frames, keyframe_every=30)
    got, _ = read_all(path)
    assert_same_frames(frames, got)


def test_ages_stepped_from_edits_a_seek_left_pending_are_exact(tmp_path: Path) -> None:
    # Frames of two layouts get no ``ck`` (their ages go in ``c``, held as pending edits
    # while a seek passes over them); the next ``ck`` steps from those ages.
    tasks = {tid: rec(tid) for tid in range(1, 5)}
    frames = [frame(0.0, tasks)]
    mixed = {t: aged(r, 1_000_000 + t) for t, r in tasks.items()}
    frames.append(frame(1.0, {**mixed, 9: rec(9, version=16)}))
    frames.append(frame(2.0, {t: aged(r, 1_000_000) for t, r in mixed.items()}))  # no ck yet
    for i in (3, 4, 5):
        frames.append(frame(float(i), {t: aged(r, 999_999) for t, r in frames[-1].tasks.items()}))
    path = tmp_path / "pending.jsonl"
    write(path, frames, keyframe_every=30)
    deltas = deltas_of(path)
    assert ["ck" in d for d in deltas] == [False, False, True, True, True]
    for n in range(len(frames)):
        reader = SessionReader(path)
        assert reader.seek(n) == n
        assert reader.read() == frames[n]


def test_a_new_task_of_another_layout_after_ages_held_by_a_seek_is_exact(
    tmp_path: Path,
) -> None:
    # A hand-made delta with ck adds a task of another layout: a seek passing over it
    # writes the ages it held before that record joins, as reading frame by frame does.
    tasks = {tid: rec(tid) for tid in (1, 2, 3)}
    frames = [frame(0.0, tasks)]
    frames.append(frame(1.0, {t: aged(r, 1_000_000) for t, r in tasks.items()}))
    frames.append(frame(2.0, {**{t: aged(r, 1) for t, r in frames[1].tasks.items()}, 9: rec(9)}))
    frames.append(frame(3.0, dict(frames[2].tasks)))
    path = tmp_path / "layouts.jsonl"
    write(path, frames, keyframe_every=30)
    lines = file_lines(path)
    assert "ck" in lines[3] and [e[0] for e in lines[3]["n"]] == [9]
    lines[3]["n"] = [[9, *_Encoder("17").values(rec(9, version=16))]]  # "16", values...
    lines[4] = {"delta": 3, "tm": 3.0, "tw": lines[4]["tw"]}  # no ck: the frame before, again
    layout = {"layout": "16", "fields": [list(f) for f in _layout_fields(abi.LAYOUTS[16])]}
    lines.insert(1, layout)
    rewrite(path, lines)
    sequential, _ = read_all(path)
    assert [f.t_mono for f in sequential] == [0.0, 1.0, 2.0, 3.0]
    assert type(sequential[3].tasks[9]) is type(rec(9, version=16))
    for n in (3, 2, 3, 1):
        reader = SessionReader(path)
        assert reader.seek(n) == n and reader.read() == sequential[n]


def test_start_times_held_by_a_seek_are_exact(tmp_path: Path) -> None:
    # Seeks hold cs steps like ck's: start times that wobble in some deltas and not in
    # others, while tasks come and go, rebuild each frame as reading frame by frame does.
    frames = [frame(0.0, {tid: rec(tid) for tid in range(1, 6)})]
    wobbles = [0, 1, 0, -1, 1, 0, 0, -1]
    for i, wobble in enumerate(wobbles, start=1):
        now = {t: aged(r, 999_999, btime=wobble * (t % 2)) for t, r in frames[-1].tasks.items()}
        if i == 3:
            del now[2]
            now[7] = rec(7)  # joins while the ages are held
        if i == 5:
            now[8] = rec(8)  # joins once start times are held too
        frames.append(frame(float(i), now))
    path = tmp_path / "starts.jsonl"
    write(path, frames, keyframe_every=30)
    deltas = deltas_of(path)
    assert ["cs" in d for d in deltas] == [bool(w) for w in wobbles]
    assert_same_frames(frames, read_all(path)[0])
    reader = SessionReader(path)
    for n in [*range(len(frames)), 4, 8, 2, 6, 1]:
        assert reader.seek(n) == n
        assert reader.read() == frames[n], n


@pytest.mark.parametrize("version", [2, 10, 12, 17])  # ages and start times: 1+1, 1+2, 2+2
def test_start_times_that_wobble_in_every_clock_layout_are_exact(
    tmp_path: Path, version: int
) -> None:
    frames = [frame(0.0, {tid: rec(tid, version) for tid in range(1, 5)})]
    for i, wobble in enumerate([1, 0, -1, 1, -1, 0], start=1):
        last = frames[-1].tasks
        frames.append(
            frame(float(i), {t: aged(r, 10**6, btime=wobble * (t != 2)) for t, r in last.items()})
        )
    path = tmp_path / f"v{version}.jsonl"
    write(path, frames, keyframe_every=30)
    deltas = deltas_of(path)
    assert sum("cs" in d for d in deltas) == 4 and not any("c" in d for d in deltas)
    assert_same_frames(frames, read_all(path)[0])
    reader = SessionReader(path)
    for n in (6, 2, 5, 3):
        assert reader.seek(n) == n and reader.read() == frames[n]


def test_a_change_to_an_age_after_ages_held_by_a_seek_is_exact(tmp_path: Path) -> None:
    # A hand-made c row that changes a clock field after ck: a seek writes the ages held
    # first, then the change, as reading frame by frame does.
    tasks = {tid: rec(tid) for tid in (1, 2, 3)}
    frames = [frame(0.0, tasks)]
    for i in (1, 2, 3):
        frames.append(frame(float(i), {t: aged(r, 1_000_000) for t, r in frames[-1].tasks.items()}))
    path = tmp_path / "edited.jsonl"
    write(path, frames, keyframe_every=30)
    lines = file_lines(path)
    etime = type(tasks[1]).positions["ac_etime"]
    lines[3]["c"] = [[2, etime, 5]]  # frame 2: task 2 five us older than its ck says
    rewrite(path, lines)
    sequential, reader = read_all(path)
    assert sequential[2].tasks[2].ac_etime == frames[2].tasks[2].ac_etime + 5
    for n in (3, 2, 1, 3):
        assert reader.seek(n) == n and reader.read() == sequential[n]


def _decode_ages(data: bytes, count: int) -> bytes:
    """A ``ck`` row's steps of ac_etime and ac_tgetime, decoded as the README says: the
    etime column (one number) holds each step less the one before it, the tgetime column
    its steps less etime's, modulo 2^(8 x length). Solved here by iterating x = d + x << 64,
    not the reader's way."""
    bits, total = 64 * count, 128 * count
    code = int.from_bytes(data, "little")
    differences = code & ((1 << bits) - 1)
    etime = differences
    for _ in range(count):
        etime = (differences + (etime << 64)) & ((1 << bits) - 1)
    steps = code - differences + etime + (etime << bits)
    return (steps % (1 << total)).to_bytes(total // 8, "little")


def _clock_columns(delta: dict[str, object], count: int) -> list[list[int]]:
    """``ck`` and ``cs`` read back: the steps of ac_etime, ac_tgetime (and of ac_btime,
    ac_btime64)."""
    columns = []
    for name, codes in (("ck", "QQ"), ("cs", "IQ")):
        if name not in delta:
            continue
        data = zlib.decompress(b64decode(str(delta[name])))
        assert len(data) == count * sum(array(code).itemsize for code in codes)
        if name == "ck":
            data = _decode_ages(data, count)
        at = 0
        for code in codes:
            column = array(code, data[at : at + count * array(code).itemsize])
            at += count * column.itemsize
            columns.append(column.tolist())
    return columns


def test_a_busy_task_has_its_age_in_ck_and_only_its_other_changes_in_c(tmp_path: Path) -> None:
    f0 = frame(0.0, {1: rec(1), 2: rec(2), 3: rec(3)})
    busy = aged(f0.tasks[2], 1_000_000).replace(read_bytes=8192)
    f1 = frame(1.0, {1: aged(f0.tasks[1], 1_000_000), 2: busy, 3: aged(f0.tasks[3], 999_999)})
    path = tmp_path / "busy.jsonl"
    write(path, [f0, f1])
    delta = json.loads(path.read_text().splitlines()[2])
    read_bytes = type(busy).positions["read_bytes"]
    assert delta["c"] == [[2, read_bytes, 8192]]
    etime, tgetime = _clock_columns(delta, 3)  # every task, in frame order: how much it aged
    assert etime == tgetime == [1_000_000, 1_000_000, 999_999]
    assert "cs" not in delta  # no start time wobbled
    assert_same_frames([f0, f1], read_all(path)[0])


def test_a_start_time_that_wobbled_is_a_step_in_cs(tmp_path: Path) -> None:
    # The kernel's start times (now - etime, in whole seconds) wobble for every thread of a
    # pool started in one burst at once: steps in cs, not a change per task in c.
    f0 = frame(0.0, {1: rec(1), 2: rec(2), 3: rec(3)})
    f1 = frame(1.0, {t: aged(r, 1_000_000, btime=(t == 2) - (t == 3)) for t, r in f0.tasks.items()})
    path = tmp_path / "wobble.jsonl"
    write(path, [f0, f1])
    delta = json.loads(path.read_text().splitlines()[2])
    assert "c" not in delta and "cj" not in delta
    _, _, btime, btime64 = _clock_columns(delta, 3)
    # each column's step taken as one number: task 3's -1 borrows nothing (task 2's +1 first)
    assert btime == [0, 1, 2**32 - 1] and btime64 == [0, 1, 2**64 - 1]
    assert_same_frames([f0, f1], read_all(path)[0])


def test_clock_columns_follow_the_order_a_reader_holds(tmp_path: Path) -> None:
    # Tasks came, went and changed places: the clock fields are those of the tasks that
    # stayed, in the last frame's order (the reader applies them before the new order).
    f0 = frame(0.0, {t: rec(t, ac_etime=t, ac_tgetime=t) for t in (1, 2, 3, 4)})
    moved = {t: aged(f0.tasks[t], 1_000_000 + t) for t in (4, 2, 1)}  # 3 went, order changed
    f1 = frame(1.0, {**moved, 9: rec(9)})
    path = tmp_path / "order.jsonl"
    write(path, [f0, f1])
    delta = json.loads(path.read_text().splitlines()[2])
    assert delta["g"] == [3] and delta["o"] == [4, 2, 1, 9]
    assert _clock_columns(delta, 3)[0] == [1_000_001, 1_000_002, 1_000_004]  # tasks 1, 2, 4
    assert_same_frames([f0, f1], read_all(path)[0])


@pytest.mark.parametrize(
    "text",
    [
        b64encode(zlib.compress(bytes(16 * 2))).decode(),  # too short for three tasks
        b64encode(zlib.compress(bytes(16 * 4))).decode(),  # too long
        b64encode(zlib.compress(bytes(16 * 3)) + b"x").decode(),  # more after the end
        b64encode(zlib.compress(bytes(16 * 3))[:-3]).decode(),  # cut short
        b64encode(bytes(16 * 3)).decode(),  # not compressed
        "not base64!",
        28 * 3,  # not a string
        ["AAAA"],
    ],
)
# (a cs row holds 12 bytes a task: none of these fits; cj, schema 2's, has no place in 4)
@pytest.mark.parametrize("row", ["ck", "cs", "cj"])
def test_a_bad_clock_row_is_a_corrupt_line(tmp_path: Path, text: object, row: str) -> None:
    f0 = frame(0.0, {1: rec(1), 2: rec(2), 3: rec(3)})
    f1 = frame(1.0, {t: aged(r, 1_000_000) for t, r in f0.tasks.items()})
    f2 = frame(2.0, {t: aged(r, 1_000_000) for t, r in f1.tasks.items()})
    path = tmp_path / "bad_ck.jsonl"
    write(path, [f0, f1, f2])
    lines = path.read_text().splitlines()
    delta = json.loads(lines[2])
    delta[row] = text
    lines[2] = json.dumps(delta)
    path.write_text("\n".join(lines) + "\n")
    got, reader = read_all(path)
    assert [f.t_mono for f in got] == [0.0]  # frame 1 is skipped, frame 2 waits for a keyframe
    assert reader.corrupt_lines == 1


def test_ages_too_big_for_the_width_a_header_claims_are_a_corrupt_line(tmp_path: Path) -> None:
    # A hand-edited header narrows ac_etime to 32 bits: the ages held do not fit the steps.
    f0 = frame(0.0, {1: rec(1, ac_etime=5 * 10**9), 2: rec(2, ac_etime=6 * 10**9)})
    f1 = frame(1.0, {t: aged(r, 1_000_000) for t, r in f0.tasks.items()})
    path = tmp_path / "narrow.jsonl"
    write(path, [f0, f1])
    lines = file_lines(path)
    fields = lines[0]["layouts"][lines[0]["default_layout"]]
    fields[[name for name, _ in fields].index("ac_etime")][1] = "I"
    lines[2]["ck"] = b64encode(zlib.compress(bytes(4 * 2 + 8 * 2))).decode()
    rewrite(path, lines)
    got, reader = read_all(path)
    assert [f.t_mono for f in got] == [0.0]
    assert reader.corrupt_lines == 1


@pytest.mark.parametrize(("seed", "churn"), [(s, 1.0) for s in range(6)] + [(6, 0.1), (7, 0.1)])
def test_random_changes_are_rebuilt_exactly(tmp_path: Path, seed: int, churn: float) -> None:
    # Tasks that sleep, run, wobble, come, go and swap places, with keyframes every few
    # frames: whatever path each task takes through the writer, the reader rebuilds it.
    # With little churn most frames are quiet refreshes (``d`` rows).
    rng = random.Random(seed)
    counters = ("read_bytes", "cpu_count", "nvcsw", "ac_minflt", "blkio_delay_total")
    tasks = {tid: rec(tid, ac_etime=tid, ac_tgetime=tid) for tid in range(1, 81)}
    frames = [frame(0.0, tasks)]
    next_tid = 100
    for i in range(1, 40):
        now: dict[int, TaskStats] = {}
        for tid, r in frames[-1].tasks.items():
            if rng.random() < 0.03 * churn:
                continue  # exited
            r = aged(r, 1_000_000 + rng.randrange(3), btime=rng.choice((0, 0, 0, 1, -1)))
            if rng.random() < 0.05:  # the group's age drifts from the thread's
                r = r.replace(ac_tgetime=r.ac_tgetime + rng.choice((-1, 1)))
            if rng.random() < 0.15:
                name = rng.choice(counters)
                r = r.replace(**{name: getattr(r, name) + rng.randrange(1, 10**6)})
            now[tid] = r
        for _ in range(rng.randrange(3) if rng.random() < churn else 0):
            now[next_tid] = rec(next_tid)
            next_tid += 1
        if rng.random() < 0.2 * churn:  # the listing order changes
            order = list(now)
            rng.shuffle(order)
            now = {t: now[t] for t in order}
        frames.append(frame(float(i), now))
    path = tmp_path / f"random{seed}.jsonl"
    write(path, frames, keyframe_every=rng.choice((3, 7, 30)))
    got, reader = read_all(path)
    assert_same_frames(frames, got)
    for number in rng.sample(range(len(frames)), 8):  # passing over deltas: edits pending
        assert reader.seek(number) == number
        assert_same_frames([frames[number]], [reader.read()])
    if churn < 1:
        deltas = [json.loads(line) for line in path.read_text().splitlines()[2:-1]]
        assert sum("g" not in d and "n" not in d for d in deltas) >= 10  # quiet refreshes


def test_start_time_that_wobbles_back_is_rebuilt_exactly(tmp_path: Path) -> None:
    # The kernel derives ac_btime from now - etime, so it moves by a second and back; a task
    # whose start time returns to its first value must not be written as merely aged.
    first = rec(5, ac_etime=1_000, ac_tgetime=1_000)
    wobbled = aged(first, 1_000_000, btime=-1)
    back = aged(wobbled, 1_000_000, btime=+1)
    again = aged(back, 1_000_000)
    frames = [frame(float(i), {5: r}) for i, r in enumerate((first, wobbled, back, again))]
    assert frames[2].tasks[5].ac_btime == first.ac_btime
    path = tmp_path / "wobble.jsonl"
    write(path, frames, keyframe_every=30)
    got, _ = read_all(path)
    assert_same_frames(frames, got)


def test_start_time_that_wobbled_into_a_keyframe_and_back_is_rebuilt_exactly(
    tmp_path: Path,
) -> None:
    # The writer compares start times with the last frame written: after a keyframe, that
    # is the keyframe's, not the frame before it.
    first = rec(5, ac_etime=1_000, ac_tgetime=1_000)
    still = aged(first, 1_000_000)
    wobbled = aged(still, 1_000_000, btime=-1)  # frame 2: a keyframe (every 2 frames)
    back = aged(wobbled, 1_000_000, btime=+1)
    records = (first, still, wobbled, back, aged(back, 1_000_000))
    frames = [frame(float(i), {5: r}) for i, r in enumerate(records)]
    path = tmp_path / "wobble-key.jsonl"
    write(path, frames, keyframe_every=2)
    got, _ = read_all(path)
    assert_same_frames(frames, got)
    assert got[3].tasks[5].ac_btime == first.ac_btime != got[2].tasks[5].ac_btime


def test_a_tid_reused_in_place_by_another_group_is_regrouped(tmp_path: Path) -> None:
    # The same tids in the same order, but tid 6 now belongs to a new process: the quiet
    # path (tgids compared alone) must still write the new group.
    leader, thread = rec(5), rec(6, ac_tgid=5)
    reused = rec(6, ac_tgid=6, ac_etime=10, ac_btime=thread.ac_btime + 100)
    frames = [
        frame(0.0, {5: leader, 6: thread}),
        frame(1.0, {5: aged(leader, 1_000_000), 6: aged(thread, 1_000_000)}),
        frame(2.0, {5: aged(leader, 2_000_000), 6: reused}),
    ]
    path = tmp_path / "regroup.jsonl"
    write(path, frames, keyframe_every=30)
    got, _ = read_all(path)
    assert_same_frames(frames, got)
    assert got[2].tgids == {5: 5, 6: 6} and got[1].tgids == {5: 5, 6: 5}


def test_deltas_cover_every_kind_of_change(tmp_path: Path) -> None:
    a, b, c = rec(10), rec(11, ac_tgid=10), rec(20)
    f0 = frame(0.0, {10: a, 11: b, 20: c})
    # b's start time wobbles, c runs, a thread 12 joins process 10 in the middle, 20 execs
    b1 = aged(b, 1_000_003, btime=1)
    c1 = aged(c, 999_000).replace(cpu_count=9, read_bytes=4096, ac_comm="renamed")
    f1 = frame(
        1.0,
        {10: aged(a, 1_000_000), 11: b1, 12: rec(12, ac_tgid=10), 20: c1},
        exits=[ExitEvent(tid=30, stats=rec(30, ac_exitcode=256), tgid=30, lost=2, t_mono=0.5)],
        lost=2,
        cmdlines={10: "a --b", 20: "renamed x"},
        cgroups={"/sys/fs/cgroup/cpu": CgroupStats(1, 2, 3, 4, 5)},
    )
    # 11 goes, the order changes, a record of another layout, a tgid that moves
    f2 = frame(
        2.0,
        {20: aged(c1, 1_000_000), 12: aged(f1.tasks[12], 1), 10: rec(10, version=16)},
        exits=[
            ExitEvent(
                tid=11,
                stats=rec(11, ac_exitcode=9, ac_flag=abi.AGROUP),
                tgid=10,
                group_stats=rec(10, version=17, ac_comm=""),
                t_mono=1.5,
            )
        ],
    )
    f2.tgids[12] = 99
    f2.tgids[77] = 77  # listed but did not answer
    f3 = frame(3.0, dict(f2.tasks))  # nothing changed at all
    f3.tgids.update(f2.tgids)
    del f3.tgids[77]
    frames = [f0, f1, f2, f3]
    path = tmp_path / "kinds.jsonl"
    write(path, frames, keyframe_every=100)
    lines = file_lines(path)
    d1, d2 = lines[2], next(obj for obj in lines if obj.get("delta") == 2)
    assert {"ck", "c", "n", "a", "exits", "cmd", "cg", "lost"} <= d1.keys()
    assert {"g", "o", "n", "tg", "exits"} <= d2.keys()
    assert any(obj.get("layout") == "16" for obj in lines)
    got, reader = read_all(path)
    assert_same_frames(frames, got)
    assert got[3].tgids == f3.tgids and 77 not in got[3].tgids
    assert reader.delayacct is True
    every = tmp_path / "keys.jsonl"  # the same frames as keyframes: layouts mixed in one
    write(every, frames, keyframe_every=1)
    assert_same_frames(frames, read_all(every)[0])


def test_every_task_changing_layout_at_once_is_rebuilt_exactly(tmp_path: Path) -> None:
    # A frame whose tasks all moved to another struct layout (a recording spliced across
    # kernels): no clock columns of the old layout are applied to them.
    f0 = frame(0.0, {t: rec(t, version=16) for t in (1, 2, 3)})
    f1 = frame(1.0, {t: rec(t, version=17, ac_etime=6_000_000) for t in (1, 2, 3)})
    f2 = frame(2.0, {t: aged(r, 1_000_000) for t, r in f1.tasks.items()})
    path = tmp_path / "layouts.jsonl"
    write(path, [f0, f1, f2])
    got, reader = read_all(path)
    assert reader.corrupt_lines == 0
    assert_same_frames([f0, f1, f2], got)


def test_newer_kernel_records_keep_their_flag(tmp_path: Path) -> None:
    newer = layout_class(17, True)
    record = newer.from_values((18, *rec(1).values()[1:]))
    info = BackendInfo("netlink", "7.9", 18, "0", 1, True)
    path = tmp_path / "newer.jsonl"
    with SessionWriter(path, info=info, interval=1.0) as writer:
        writer.write(frame(0.0, {1: record}))
        writer.write(frame(1.0, {1: aged(record, 5)}))
    got, _ = read_all(path)
    assert type(got[0].tasks[1]) is newer and got[0].tasks[1].version == 18
    assert got[1].tasks[1].ac_etime == record.ac_etime + 5
    assert read_header(path).default_layout == "17+"


def test_command_names_survive_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    weird = b"\xff\xfe[red]x\x1b[2J\0junk".ljust(32, b"\0")
    r1 = type(rec(1)).from_values([weird if i == 12 else v for i, v in enumerate(rec(1).values())])
    path = tmp_path / "comm.jsonl"
    write(path, [frame(0.0, {1: r1})])
    got, _ = read_all(path)
    assert got[0].tasks[1].values()[12] == weird


def test_command_names_with_percent_signs_survive_keyframes_of_sleeping_tasks(
    tmp_path: Path,
) -> None:
    """Keyframes write a sleeping task from a %-template of its text: its own % stay text."""
    names = ["%d", "%s%%", "100%", "%(x)s", "%"]
    first = {t: rec(t, ac_comm=name) for t, name in enumerate(names, start=1)}
    frames = [frame(0.0, first)]
    for i in range(1, 7):  # keyframes at 0, 3 and 6: the later ones from templates
        frames.append(frame(float(i), {t: aged(r, 1_000_000 * i) for t, r in first.items()}))
    path = tmp_path / "percent.jsonl"
    write(path, frames, keyframe_every=3)
    got, _ = read_all(path)
    assert_same_frames(frames, got)
    assert [got[6].tasks[t].ac_comm for t in first] == names


def test_fields_listed_in_another_order_are_mapped_by_name(tmp_path: Path) -> None:
    """A file from a tsmon whose field table differs still reads, by field name."""
    path = tmp_path / "plain.jsonl"
    r0 = rec(5, read_bytes=100)
    r1 = aged(r0, 1_000_000).replace(read_bytes=300)
    r2 = aged(r1, 1_000_000, btime=1)
    write(path, [frame(0.0, {5: r0}), frame(1.0, {5: r1}), frame(2.0, {5: r2})])
    lines = file_lines(path)
    fields = lines[0]["layouts"]["17"]
    names = []
    for name, code in fields:
        names += [f"{name}.sec", f"{name}.nsec"] if code == "T" else [name]
    order = list(range(len(fields)))
    order[1], order[-1] = order[-1], order[1]  # swap ac_exitcode and the last timespec
    reordered = [fields[i] for i in order]
    new_names: list[str] = []
    for name, code in reordered:
        new_names += [f"{name}.sec", f"{name}.nsec"] if code == "T" else [name]
    where = [names.index(n) for n in new_names]
    lines[0]["layouts"]["17"] = reordered
    for obj in lines[1:]:
        for entry in obj.get("tasks", []):
            entry[1:] = [entry[1:][i] for i in where]
        for entry in obj.get("c", []):
            for k in range(1, len(entry), 2):
                entry[k] = new_names.index(names[entry[k]])
    path.write_text("".join(json.dumps(obj) + "\n" for obj in lines))
    got, reader = read_all(path)
    assert reader.problems() == []
    assert [f.tasks[5] for f in got] == [r0, r1, r2]


# --- files ----------------------------------------------------------------------------------


def test_file_is_private_even_when_it_existed(tmp_path: Path) -> None:
    path = tmp_path / "old.jsonl"
    path.write_text("something\n")
    path.chmod(0o644)
    write(path, [frame(0.0, {1: rec(1)})])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    fresh = tmp_path / "new.jsonl.gz"
    old_umask = os.umask(0)
    try:
        write(fresh, [frame(0.0, {1: rec(1)})])
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600


@pytest.mark.parametrize("name", ["f.jsonl", "f.jsonl.gz"])
def test_each_frame_is_on_disk_as_soon_as_it_is_written(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    frames = simulate(None, frames=5, tasks=40)
    writer = SessionWriter(path, info=INFO, interval=1.0, keyframe_every=2)
    try:
        for n, f in enumerate(frames, 1):
            writer.write(f)
            got, reader = read_all(path)  # another process would see the same bytes
            assert_same_frames(frames[:n], got)
            assert not reader.ended_cleanly
            assert reader.problems() == [
                "the recording has no end line (the recorder did not stop cleanly)"
            ]
    finally:
        writer.close()
    assert SessionReader(path).ended_cleanly


def test_gzip_is_transparent_and_standard(tmp_path: Path) -> None:
    plain, packed = tmp_path / "a.jsonl", tmp_path / "a.jsonl.gz"
    frames = simulate(None, frames=25, tasks=80)
    write(plain, frames, keyframe_every=6)
    write(packed, frames, keyframe_every=6)
    assert packed.read_bytes()[:2] == b"\x1f\x8b"
    assert packed.stat().st_size < plain.stat().st_size / 2
    # any gzip tool reads it (a member per keyframe, one for the deltas after it)
    text = gzip.decompress(packed.read_bytes()).decode()
    assert [json.loads(x).get("key") for x in text.splitlines() if '"key"' in x[:8]] == [
        0,
        6,
        12,
        18,
        24,
    ]
    assert_same_frames(frames, read_all(packed)[0])
    # members: the header, then each keyframe alone, then the deltas up to the next keyframe
    members, data = [], packed.read_bytes()
    while data:
        inflate = zlib.decompressobj(31)
        members.append([json.loads(x) for x in inflate.decompress(data).splitlines()])
        assert inflate.eof
        data = inflate.unused_data
    firsts = [next(iter(m[0])) for m in members]
    assert firsts == ["format"] + ["key", "delta"] * 4 + ["key", "end"]  # frame 24: a keyframe
    assert all(len(m) == 1 for m in members[1::2])
    # compressed with another tool: one member, still read; the name does not matter
    other = tmp_path / "renamed.data"
    other.write_bytes(gzip.compress(plain.read_bytes()))
    assert_same_frames(frames, read_all(other)[0])
    reader = SessionReader(other)
    assert reader.seek(17) == 17 and reader.read() == frames[17]


# --- seeking ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["k.jsonl", "k.jsonl.gz"])
def test_seek_to_any_frame(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    frames = simulate(path, frames=45, tasks=60, keyframe_every=8)
    reader = SessionReader(path)
    assert reader.frames_indexed == 0  # nothing read yet
    order = list(range(45))
    random.Random(3).shuffle(order)
    for number in [*order, 44, 0, 44]:
        assert reader.seek(number) == number
        got = reader.read()
        assert got == frames[number] and list(got.tasks) == list(frames[number].tasks)
        assert reader.position == number
    assert reader.frame_count == 45
    assert reader.seek(1000) == 44  # clamped
    assert reader.read() == frames[44]
    assert reader.read() is None


def test_seek_by_time(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    frames = simulate(path, frames=20, tasks=30)
    reader = SessionReader(path)
    assert reader.seek_time(5.5) == 5  # elapsed seconds from the first frame
    assert reader.read() == frames[5]
    assert reader.seek_time(frames[12].t_mono, clock="mono") == 12
    assert reader.seek_time(frames[3].t_wall + 0.2, clock="wall") == 3
    assert reader.seek_time(-10) == 0
    assert reader.seek_time(1e9) == 19


# --- damaged and foreign files ------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_last_line_replays_every_complete_frame(tmp_path: Path, gz: bool) -> None:
    plain = tmp_path / "t.jsonl"
    frames = simulate(plain, frames=15, tasks=50, keyframe_every=4)
    data = plain.read_bytes()
    lines = data.splitlines(keepends=True)
    cut = b"".join(lines[:-2]) + lines[-2][: len(lines[-2]) // 2]  # frame 14 cut, no end line
    path = tmp_path / ("cut.jsonl.gz" if gz else "cut.jsonl")
    if gz:
        whole = gzip.compress(data)
        # a gzip stream cut in the middle of the last frame's bytes
        path.write_bytes(whole[: len(gzip.compress(cut)) - 8])
        reader = SessionReader(path)
        got = list(reader)
        assert 10 <= len(got) <= 14
        assert_same_frames(frames[: len(got)], got)
    else:
        path.write_bytes(cut)
        reader = SessionReader(path)
        got = list(reader)
        assert_same_frames(frames[:14], got)
    assert reader.truncated
    problems = reader.problems()
    assert len(problems) == 1 and "truncated" in problems[0] and "\n" not in problems[0]


def test_corrupt_line_in_the_middle_is_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    frames = simulate(path, frames=30, tasks=50, keyframe_every=10, keyframe_budget=1e9)
    lines = path.read_text().splitlines(keepends=True)
    numbers = {}
    for i, line in enumerate(lines):
        obj = json.loads(line)
        for kind in ("key", "delta"):
            if kind in obj:
                numbers[obj[kind]] = i
    lines[numbers[13]] = lines[numbers[13]][:40] + "#garbage#" + lines[numbers[13]][60:]
    lines[numbers[25]] = "this is not json at all\n"
    lines.insert(numbers[5], '{"delta": "what", "tm": 1}\n')
    path.write_text("".join(lines))
    reader = SessionReader(path)
    got = list(reader)
    keys = sorted(
        n for n, i in numbers.items() if lines[i + (i >= numbers[5])].startswith('{"key"')
    )
    assert 13 not in keys and 25 not in keys, keys

    def lost_from(n: int) -> set[int]:
        return set(range(n, min([k for k in keys if k > n] + [30])))

    lost = lost_from(13) | lost_from(25)
    kept = [n for n in range(30) if n not in lost]
    assert_same_frames([frames[n] for n in kept], got)
    assert reader.corrupt_lines == 3
    assert reader.skipped_frames == len(lost) - 2  # the deltas after each lost frame
    assert any("3 corrupt lines skipped" in p for p in reader.problems())
    after = min(n for n in kept if n > 13)
    assert reader.seek(14) == after  # a lost frame: the next good one comes
    assert reader.read() == frames[after]


def test_a_frame_that_lies_about_its_types_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "types.jsonl"
    write(path, [frame(0.0, {1: rec(1)}), frame(1.0, {1: aged(rec(1), 10)})])
    lines = path.read_text().splitlines(keepends=True)
    key = json.loads(lines[1])
    key["tasks"][0][5] = "__import__('os').system('touch pwned')"
    lines[1] = json.dumps(key) + "\n"
    path.write_text("".join(lines))
    reader = SessionReader(path)
    assert list(reader) == []
    assert reader.corrupt_lines == 1 and reader.skipped_frames == 1
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("value", [-1, 2**64, 2**200])
def test_a_value_out_of_its_fields_range_is_corrupt(tmp_path: Path, value: int) -> None:
    # A hand-edited number that no struct field can hold: in a keyframe, in a delta's change
    path = tmp_path / "range.jsonl"
    r0 = rec(1, read_bytes=10)
    frames = [frame(float(i), {1: aged(r0, i).replace(read_bytes=10 + i)}) for i in range(4)]
    write(path, frames, keyframe_every=2)
    lines = path.read_text().splitlines(keepends=True)
    key = json.loads(lines[1])
    key["tasks"][0][5] = value
    lines[1] = json.dumps(key) + "\n"
    delta = json.loads(lines[4])
    assert delta["delta"] == 3 and delta["c"][0][0] == 1
    delta["c"][0][2] = value if value > 0 else value - 1000  # read_bytes out of range
    lines[4] = json.dumps(delta) + "\n"
    path.write_text("".join(lines))
    reader = SessionReader(path)
    got = list(reader)
    assert [f.t_mono for f in got] == [2.0]  # frame 1 follows a bad keyframe; 3 is bad
    assert reader.corrupt_lines == 2 and reader.skipped_frames == 1


def test_nothing_from_the_file_is_evaluated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "e.jsonl"
    frames = simulate(path, frames=8, tasks=30)

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the reader evaluated something")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    assert_same_frames(frames, list(SessionReader(path)))


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "empty file"),
        (b"\n\n", "empty file"),
        (b"time,pid,comm\n1,2,x\n", "not a tsmon session"),
        (b'{"format": "pcap-ng", "schema": 1}\n', "'pcap-ng'"),
        (b'{"hello": "world"}\n', 'no "format"'),
        (b'{"format": "tsmon-session", "schema": 99, "layouts": {}}\n', "schema 99 is newer"),
        (
            b'{"format": "tsmon-session", "schema": "one", "layouts": {}}\n',
            "unknown session schema",
        ),
        (b'{"key":0,"tm":1,"tw":2,"tasks":[]}\n', "header is missing"),
        (b"\x7fELF\x02\x01\x01" + bytes(range(256)) * 40, "not a tsmon session"),
        (gzip.compress(b'{"format": "other"}\n'), "'other'"),
    ],
)
def test_foreign_files_are_a_one_line_error(tmp_path: Path, content: bytes, words: str) -> None:
    from tsmon_core.errors import SessionFormatError

    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(SessionFormatError) as info:
        SessionReader(path)
    message = str(info.value)
    assert words in message and "\n" not in message and str(path) in message


def test_keyframes_come_sooner_when_deltas_are_heavy(tmp_path: Path) -> None:
    """The seek cost stays bounded: a keyframe once the deltas outweigh the last one."""
    tasks = {tid: rec(tid) for tid in range(1, 201)}
    frames = []
    for i in range(40):  # every task busy: every counter moves every frame
        tasks = {
            t: r.replace(cpu_count=r.cpu_count + 1 + t, read_bytes=(r.read_bytes or 0) + 4096 * i)
            for t, r in tasks.items()
        }
        frames.append(frame(float(i), tasks))
    busy, capped = tmp_path / "busy.jsonl", tmp_path / "capped.jsonl"
    write(busy, frames, keyframe_every=30, seek_bytes=0)  # small tasks: no byte floor
    write(capped, frames, keyframe_every=30, keyframe_budget=1e9)

    def keys(path: Path) -> list[int]:
        return [
            json.loads(x)["key"] for x in path.read_text().splitlines() if x.startswith('{"key"')
        ]

    assert keys(capped) == [0, 30]
    counted = tmp_path / "counted.jsonl"
    with SessionWriter(counted, info=INFO, interval=1.0, keyframe_every=30, seek_bytes=0) as w:
        for f in frames:
            w.write(f)
    assert (w.frames, w.keyframes) == (40, len(keys(counted))) and w.keyframes >= 3
    spaced = keys(busy)
    assert len(spaced) >= 3 and max(b - a for a, b in pairwise(spaced)) < 30
    assert_same_frames(frames, read_all(busy)[0])


def test_start_time_that_wobbles_at_a_keyframe_then_back(tmp_path: Path) -> None:
    """A keyframe holding a wobbled start time: the frames after it must not keep the old."""
    first = rec(5, ac_etime=1_000, ac_tgetime=1_000)
    records = [first, aged(first, 1_000_000)]
    records.append(aged(records[-1], 1_000_000, btime=-1))  # keyframe 2 holds the wobble
    records.append(aged(records[-1], 1_000_000, btime=+1))  # and back
    records.append(aged(records[-1], 1_000_000))
    frames = [frame(float(i), {5: r}) for i, r in enumerate(records)]
    path = tmp_path / "wobble-key.jsonl"
    write(path, frames, keyframe_every=2)
    lines = path.read_text().splitlines()
    assert [json.loads(x).get("key") for x in lines if x.startswith('{"key"')] == [0, 2, 4]
    got, _ = read_all(path)
    assert_same_frames(frames, got)
    write(path, frames, keyframe_every=3)  # the wobble in a delta, back at a keyframe
    assert_same_frames(frames, read_all(path)[0])
