"""The sampler end to end on the simulated kernel: bytes -> decoder -> backend -> snapshots."""

from __future__ import annotations

import pytest

from tsmon_core.backends.sim import SimulatedBackend
from tsmon_core.sampler import Sampler


@pytest.fixture
def backend() -> SimulatedBackend:
    sim = SimulatedBackend(seed=3, tasks=120, clock="virtual", churn=0.0)
    yield sim
    sim.close()


def test_a_task_living_5_ms_between_refreshes_is_counted(backend: SimulatedBackend) -> None:
    sampler = Sampler(backend)
    sampler.poll()
    backend.advance(0.2)
    tgid = backend.spawn("blink", profile="shortcmd", lifetime=0.005, exit_code=3)
    backend.advance(0.8)
    snap = sampler.poll()
    [record] = [e for e in snap.exits if e.tid == tgid]
    assert record.exit_code == 3 and record.comm == "blink"
    assert record.lifetime_us == pytest.approx(5_000, abs=1_000)
    row = next(r for r in snap.threads if r.tid == tgid)
    assert row.exited and row.born
    # Its whole (short) life is in this interval: every counter counts from zero.
    assert row.value("cpu_pct") is not None
    for name in ("cpu_run_virtual_total", "read_char", "nvcsw", "cpu_delay_total"):
        assert row.delta(name) == getattr(row.stats, name)
    # Not listed again once gone.
    backend.advance(1.0)
    assert all(r.tid != tgid for r in sampler.poll().threads)


def test_writer_rate_matches_its_counters(backend: SimulatedBackend) -> None:
    tgid = backend.spawn("writer", profile="writer")
    sampler = Sampler(backend)
    first = sampler.poll()
    backend.advance(2.0)
    second = sampler.poll()
    a = next(r for r in first.threads if r.tid == tgid).stats
    b = next(r for r in second.threads if r.tid == tgid)
    expected = (b.stats.write_bytes - a.write_bytes) / second.dt
    assert second.dt == pytest.approx(2.0)
    assert b.value("write_bps") == pytest.approx(expected)
    assert b.value("write_bps") > 0


def test_process_of_threads_that_exit_keeps_its_totals(backend: SimulatedBackend) -> None:
    tgid = backend.spawn("pool", threads=4, profile="writer")
    sampler = Sampler(backend)
    sampler.poll()
    backend.advance(1.0)
    snap = sampler.poll()
    proc = next(p for p in snap.processes() if p.tgid == tgid)
    assert len(proc.threads) == 4
    worker = next(r.tid for r in proc.threads if r.tid != tgid)
    backend.exit_thread(worker)
    backend.advance(1.0)
    snap = sampler.poll()
    proc = next(p for p in snap.processes() if p.tgid == tgid)
    gone = next(r for r in proc.threads if r.tid == worker)
    assert gone.exited
    before_exit = proc.accum("write_bytes")
    backend.advance(1.0)
    snap = sampler.poll()
    proc = next(p for p in snap.processes() if p.tgid == tgid)
    assert worker not in {r.tid for r in proc.threads}
    assert proc.accum("write_bytes") >= before_exit  # the dead thread's bytes are kept


def test_group_exit_carries_the_group_record(backend: SimulatedBackend) -> None:
    tgid = backend.spawn("job", threads=3, profile="daemon")
    sampler = Sampler(backend)
    sampler.poll()
    backend.advance(0.5)
    backend.kill(tgid, 9)
    backend.advance(0.1)
    snap = sampler.poll()
    mine = [e for e in snap.exits if e.tgid == tgid]
    assert len(mine) == 3
    assert all(e.signal == 9 for e in mine)
    last = [e for e in mine if e.group_exit]
    assert len(last) == 1 and last[0].group_stats is not None


def test_no_listener_without_privilege_is_reported_not_raised() -> None:
    sim = SimulatedBackend(seed=1, tasks=20, clock="virtual", privileged=False)
    sampler = Sampler(sim)
    assert sampler.listener is None
    assert "CAP_NET_ADMIN" in (sampler.listener_error or "")


def test_snapshot_columns_equal_the_rows_figures_to_the_bit() -> None:
    """Snapshot.values/amounts (list-wise) give exactly what each row's value/delta/accum give."""
    from tsmon_core.metrics import COUNTER_FIELDS, METRICS

    sim = SimulatedBackend(seed=11, tasks=300, clock="virtual", churn=0.3)
    sampler = Sampler(sim)
    checked = 0
    for step in range(5):
        sim.advance(0.25 + 0.5 * step)
        snap = sampler.poll()
        for processes in (False, True):
            rows = snap.rows(processes)
            for accumulated in (False, True):
                for name, metric in METRICS.items():
                    want = [r.value(name, accumulated) for r in rows]
                    assert snap.values(name, accumulated, processes) == want, name
                    assert snap.values(metric, accumulated, processes) == want, name
                    checked += sum(v is not None for v in want)
                for field in COUNTER_FIELDS:
                    want_amounts = [r.accum(field) if accumulated else r.delta(field) for r in rows]
                    assert snap.amounts(field, accumulated, processes) == want_amounts, field
    assert checked > 10_000 and any(r.exited for r in snap.threads)
    sim.close()


def test_snapshot_columns_of_rows_in_several_layouts() -> None:
    from tsmon_core.model import TaskStats
    from tsmon_core.sampler import Snapshot, TaskRow

    old = TaskStats.from_fields(16, read_bytes=1000, cpu_delay_total=10, cpu_count=1)
    new = TaskStats.from_fields(16, read_bytes=5000, cpu_delay_total=50, cpu_count=3)
    v17 = TaskStats.from_fields(17, read_bytes=700, cpu_delay_total=8, cpu_count=2)
    rows = [
        TaskRow(1, 1, new, old, old, dt=2.0, t_mono=10.0, seen=8.0),
        TaskRow(2, 2, v17, None, None, born=True, dt=2.0, t_mono=10.0, seen=10.0),
        TaskRow(3, 3, old, new, new, dt=2.0, t_mono=10.0, seen=4.0),  # went backwards
    ]
    snap = Snapshot(None, None, 2.0, rows, [], 0, True, 1, 2.0, {})  # type: ignore[arg-type]
    assert snap.values("read_bps") == [2000.0, 350.0, None]
    assert snap.values("cpu_delay_avg") == [20.0, 4.0, None]
    assert snap.amounts("read_bytes", accumulated=True) == [4000, 700, None]
    assert snap.values("hiwater_rss") == [0, 0, 0]


def test_columns_reuse_their_buffers_and_exit_quietly() -> None:
    # Snapshots' columns join their records into pooled buffers: the figures stay exact from
    # one snapshot to the next, and a process that exits holding them prints nothing.
    import subprocess
    import sys

    code = """
from tsmon_core.backends.sim import SimulatedBackend
from tsmon_core.sampler import Sampler
backend = SimulatedBackend(seed=5, clock="virtual")
sampler = Sampler(backend)
sampler.poll()
for _ in range(6):
    backend.advance(1.0)
    snapshot = sampler.poll()
    columns = snapshot.values("write_bps")
    rows = [row.value("write_bps") for row in snapshot.threads]
    assert columns == rows, "columns differ from rows"
    assert any(rows)
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == "ok\n", done.stderr
    assert done.stderr == ""
