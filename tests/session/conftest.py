"""Shared helpers for session tests: simulated recordings and snapshot fingerprints."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tsmon_core.backends import RawFrame
from tsmon_core.backends.sim import SimulatedBackend
from tsmon_core.metrics import METRICS
from tsmon_core.sampler import Snapshot
from tsmon_core.session import SessionWriter


def simulate(
    path: Path | None,
    *,
    frames: int = 20,
    version: int = 17,
    tasks: int = 120,
    seed: int = 1,
    keyframe_every: int = 7,
    keyframe_budget: float = 1.0,
    churn: float = 1.0,
    cgroups: tuple[str, ...] = (),
) -> list[RawFrame]:
    """Run the simulator on its virtual clock; record its frames to ``path`` if given."""
    backend = SimulatedBackend(
        seed=seed, version=version, tasks=tasks, clock="virtual", churn=churn
    )
    listener = backend.open_listener()
    writer = (
        SessionWriter(
            path,
            info=backend.info,
            interval=1.0,
            keyframe_every=keyframe_every,
            keyframe_budget=keyframe_budget,
        )
        if path is not None
        else None
    )
    out: list[RawFrame] = []
    for _ in range(frames):
        backend.advance(1.0)
        frame = backend.collect(listener, cgroups)
        out.append(frame)
        if writer is not None:
            writer.write(frame, delayacct=backend.delayacct())
    if writer is not None:
        writer.close()
    backend.close()
    return out


def fingerprint(snapshot: Snapshot) -> dict[str, object]:
    """Everything a view shows of a snapshot, as plain values (rates, percentages, rows)."""

    def row(r: object, processes: bool) -> tuple[object, ...]:
        values = tuple(r.value(m) for m in METRICS)  # type: ignore[attr-defined]
        accum = tuple(r.value(m, accumulated=True) for m in METRICS)  # type: ignore[attr-defined]
        return (r.tid, r.comm, r.uid, r.exited, r.exit_code, values, accum, processes)  # type: ignore[attr-defined]

    return {
        "threads": [row(r, False) for r in snapshot.threads],
        "processes": [row(r, True) for r in snapshot.processes()],
        "exits": [
            (e.tid, e.tgid, e.comm, e.status, e.t_wall, e.t_mono, e.largest_delay())
            for e in snapshot.exits
        ],
        "dt": snapshot.dt,
        "lost": snapshot.lost,
        "delayacct": snapshot.delayacct,
        "elapsed": snapshot.elapsed,
        "cmdlines": snapshot.cmdlines,
        "cgroups": snapshot.cgroups,
        "totals": {m: snapshot.total(m) for m in METRICS},
    }


def assert_same_frames(expected: list[RawFrame], got: list[RawFrame]) -> None:
    """Frame by frame: equal content, same task order, same record classes."""
    assert len(got) == len(expected)
    for i, (a, b) in enumerate(zip(expected, got, strict=True)):
        assert b == a, f"frame {i} differs"
        assert list(b.tasks) == list(a.tasks), f"frame {i}: task order differs"
        for tid, rec in a.tasks.items():
            assert type(b.tasks[tid]) is type(rec), f"frame {i}: tid {tid} record class"


@pytest.fixture
def recording(tmp_path: Path) -> Callable[..., tuple[Path, list[RawFrame]]]:
    """Make a simulated recording: returns its path and the frames written."""

    def make(name: str = "s.jsonl", **options: object) -> tuple[Path, list[RawFrame]]:
        path = tmp_path / name
        return path, simulate(path, **options)  # type: ignore[arg-type]

    return make
