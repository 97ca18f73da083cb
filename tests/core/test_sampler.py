"""The sampler: rates over the measured interval, reused tids, counters going backwards, exits."""

from __future__ import annotations

import pytest

from tsmon_core.backends import BackendInfo, RawFrame
from tsmon_core.model import ExitEvent, TaskStats
from tsmon_core.sampler import Sampler

NS = 1_000_000_000


class FrameSource:
    """Just enough of a backend for Sampler.feed(): frames come from the test."""

    info = BackendInfo("sim", "test", 17, "0-1", 2, True)

    def delayacct(self) -> bool:
        return True


def task(tid: int, tgid: int, etime_us: int, btime: int = 1_000, **fields: int) -> TaskStats:
    return TaskStats.from_fields(
        17,
        ac_pid=tid,
        ac_tgid=tgid,
        ac_etime=etime_us,
        ac_btime64=btime,
        ac_comm=f"t{tid}",
        **fields,
    )


def frame(t: float, *records: TaskStats, exits: tuple[ExitEvent, ...] = ()) -> RawFrame:
    tasks = {r.ac_pid: r for r in records}
    return RawFrame(t, 1.7e9 + t, tasks, {r.ac_pid: r.ac_tgid for r in records}, list(exits))


@pytest.fixture
def sampler() -> Sampler:
    return Sampler(FrameSource(), listen=False)  # type: ignore[arg-type]


def test_first_snapshot_has_no_rates(sampler: Sampler) -> None:
    snap = sampler.feed(frame(10.0, task(1, 1, 100, write_bytes=5000)))
    assert snap.dt is None
    assert snap.threads[0].value("write_bps") is None


def test_rates_use_the_measured_interval(sampler: Sampler) -> None:
    sampler.feed(frame(10.0, task(1, 1, 100, write_bytes=0, cpu_run_virtual_total=0)))
    snap = sampler.feed(
        frame(10.5, task(1, 1, 600_100, write_bytes=4096, cpu_run_virtual_total=NS // 4))
    )
    [row] = snap.threads
    assert snap.dt == pytest.approx(0.5)
    assert row.value("write_bps") == pytest.approx(8192.0)
    assert row.value("cpu_pct") == pytest.approx(50.0)


def test_delay_percentage_and_average(sampler: Sampler) -> None:
    sampler.feed(frame(0.0, task(1, 1, 1, blkio_delay_total=0, blkio_count=0)))
    snap = sampler.feed(frame(2.0, task(1, 1, 2, blkio_delay_total=NS // 2, blkio_count=4)))
    row = snap.threads[0]
    assert row.value("blkio_delay_pct") == pytest.approx(25.0)  # 0.5 s of 2 s
    assert row.value("blkio_delay_avg") == pytest.approx(NS / 8)


def test_counter_going_backwards_gives_no_rate(sampler: Sampler) -> None:
    sampler.feed(frame(0.0, task(1, 1, 10, read_bytes=10_000)))
    snap = sampler.feed(frame(1.0, task(1, 1, 20, read_bytes=5_000)))
    assert snap.threads[0].value("read_bps") is None


def test_reused_tid_starts_fresh(sampler: Sampler) -> None:
    sampler.feed(frame(0.0, task(7, 7, 5_000_000, btime=1_000, write_bytes=10**9)))
    # Same tid, a different start time, younger: another task.
    snap = sampler.feed(frame(1.0, task(7, 7, 200_000, btime=1_006, write_bytes=100)))
    row = snap.threads[0]
    assert row.prev is None and row.born
    assert row.value("write_bps") == pytest.approx(100.0)  # its whole life is in the interval


def test_btime_jitter_of_a_second_is_the_same_task(sampler: Sampler) -> None:
    sampler.feed(frame(0.0, task(3, 3, 1_000, btime=1_000, write_bytes=0)))
    snap = sampler.feed(frame(1.0, task(3, 3, 1_001_000, btime=1_001, write_bytes=10)))
    assert snap.threads[0].prev is not None
    assert snap.threads[0].value("write_bps") == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("aged_by", "btime", "same"),
    [
        (1_000_000, 1_000, True),  # aged a second
        (1_000_000, 1_001, True),  # the kernel's second of jitter in now - etime
        (1_000_000, 999, True),
        (1_000_000, 1_002, False),  # started two seconds later: another task
        (-1_000, 1_000, False),  # younger than before: another task
    ],
)
def test_one_task_reused_in_place_among_many_starts_fresh(
    sampler: Sampler, aged_by: int, btime: int, same: bool
) -> None:
    # The same tids in the same order (a quiet refresh, checked a column at a time): only
    # the task whose clocks say it is another starts fresh.
    sampler.feed(frame(0.0, *[task(tid, 1, 2_000 + tid, write_bytes=tid) for tid in range(1, 50)]))
    later = [task(tid, 1, 1_002_000 + tid, write_bytes=tid + 100) for tid in range(1, 50)]
    later[20] = task(21, 1, 2_021 + aged_by, btime=btime, write_bytes=21 + 100)
    snap = sampler.feed(frame(1.0, *later))
    assert [row.tid for row in snap.threads if row.prev is None] == ([] if same else [21])
    rates = {row.tid: row.value("write_bps") for row in snap.threads}
    assert rates[21] == (100.0 if same else 121.0)  # a new task's whole life is the interval
    assert {rate for tid, rate in rates.items() if tid != 21} == {100.0}


def test_short_lived_task_between_refreshes_is_counted(sampler: Sampler) -> None:
    sampler.feed(frame(0.0, task(1, 1, 10)))
    short = task(50, 50, 5_000, write_bytes=65_536, ac_exitcode=768, ac_flag=0x20)
    snap = sampler.feed(frame(1.0, task(1, 1, 1_000_010), exits=(ExitEvent(50, short),)))
    rows = {r.tid: r for r in snap.threads}
    assert rows[50].exited and rows[50].exit_code == 768
    assert rows[50].value("write_bps") == pytest.approx(65_536.0)
    assert snap.total("write_bps") == pytest.approx(65_536.0)
    [record] = snap.exits
    assert record.exit_code == 3 and record.signal == 0 and record.lifetime_us == 5_000


def test_exit_of_a_known_task_counts_only_the_interval(sampler: Sampler) -> None:
    sampler.feed(frame(0.0, task(9, 9, 10, read_bytes=1_000)))
    final = task(9, 9, 900_000, read_bytes=1_500, ac_exitcode=9, ac_flag=0x30)
    snap = sampler.feed(frame(1.0, final, exits=(ExitEvent(9, final),)))
    [row] = snap.threads  # the zombie still listed is replaced by the exit row
    assert row.exited and row.value("read_bps") == pytest.approx(500.0)
    assert snap.exits[0].signal == 9 and snap.exits[0].exit_code is None


def test_process_rows_sum_threads(sampler: Sampler) -> None:
    sampler.feed(frame(0.0, task(1, 1, 1, write_bytes=0), task(2, 1, 1, write_bytes=0)))
    snap = sampler.feed(frame(1.0, task(1, 1, 2, write_bytes=100), task(2, 1, 2, write_bytes=300)))
    [proc] = snap.processes()
    assert proc.tgid == 1 and len(proc.threads) == 2
    assert proc.value("write_bps") == pytest.approx(400.0)
    assert proc.comm == "t1"


def test_accumulated_totals_keep_threads_that_exited(sampler: Sampler) -> None:
    sampler.feed(frame(0.0, task(1, 1, 1, write_bytes=0), task(2, 1, 1, write_bytes=0)))
    dying = task(2, 1, 5, write_bytes=700, ac_flag=0)
    sampler.feed(frame(1.0, task(1, 1, 2, write_bytes=100), exits=(ExitEvent(2, dying),)))
    snap = sampler.feed(frame(2.0, task(1, 1, 3, write_bytes=300)))
    [proc] = snap.processes()
    assert proc.accum("write_bytes") == 300 + 700
    assert [r.tid for r in proc.threads] == [1]


def test_memory_of_gone_tasks_is_bounded(sampler: Sampler) -> None:
    for i in range(200):
        sampler.feed(frame(float(i), task(1000 + i, 1000 + i, 10 + i)))
    assert len(sampler._known) <= 2


def test_record_class_is_named_only_when_every_record_and_baseline_has_it(
    sampler: Sampler,
) -> None:
    def v16(tid: int, etime_us: int, **fields: int) -> TaskStats:
        return TaskStats.from_fields(
            16, ac_pid=tid, ac_tgid=1, ac_etime=etime_us, ac_btime64=1_000, **fields
        )

    first = sampler.feed(frame(10.0, task(1, 1, 100), task(2, 1, 100)))
    assert first.record_class is type(task(1, 1, 0))
    quiet = sampler.feed(frame(11.0, task(1, 1, 1_000_100), task(2, 1, 1_000_100, read_bytes=9)))
    assert quiet.record_class is type(task(1, 1, 0))
    assert quiet.values("read_bps") == [0.0, 9.0]
    # A v16 record among v17 ones (and then v17 baselines under v16 records): no one class,
    # and the figures are still right, read row by row.
    mixed = sampler.feed(frame(12.0, task(1, 1, 2_000_100), v16(2, 2_000_100, read_bytes=29)))
    assert mixed.record_class is None
    assert mixed.values("read_bps") == [0.0, 20.0]
    after = sampler.feed(frame(13.0, v16(1, 3_000_100), v16(2, 3_000_100, read_bytes=30)))
    assert after.record_class is None  # task 1's baseline is a v17 record
    assert after.values("read_bps") == [0.0, 1.0]  # fields read by name across layouts


def test_the_sampler_names_the_record_class_of_a_churning_machine() -> None:
    from tsmon_core.backends.sim import SimulatedBackend

    sim = SimulatedBackend(seed=9, tasks=400, clock="virtual", churn=1.0)
    sampler = Sampler(sim)
    named = exits = 0
    for _ in range(8):
        sim.advance(1.0)
        snap = sampler.poll()
        exits += len(snap.exits)
        if snap.record_class is not None:
            named += 1
            assert {type(r.stats) for r in snap.threads} == {snap.record_class}
            assert {type(r.prev) for r in snap.threads if r.prev is not None} <= {snap.record_class}
            assert {r.dt for r in snap.threads} == {snap.dt}
        for name in ("read_bps", "write_bps", "cpu_delay_pct"):
            assert snap.values(name) == [r.value(name) for r in snap.threads]
    assert named == 8 and exits > 0  # exit rows included
    sim.close()
