"""Packed baselines read as the record they were made from, for every counter of every version."""

from __future__ import annotations

import sys

import pytest

from tsmon_core import abi
from tsmon_core.baseline import Baseline, baseline_of
from tsmon_core.metrics import COUNTER_FIELDS
from tsmon_core.model import TaskStats
from tsmon_core.sampler import TaskRow


def numbered(version: int) -> TaskStats:
    """A record of ``version`` whose every counter holds its own large value."""
    names = set(abi.LAYOUTS[version].names)
    values = {n: (i + 1) * 1_000_003 for i, n in enumerate(COUNTER_FIELDS) if n in names}
    if "ac_pid" in names:
        values["ac_pid"] = 4242
    return TaskStats.from_fields(version, **values)


@pytest.mark.parametrize("version", sorted(abi.LAYOUTS))
def test_a_baseline_reads_the_counters_of_its_record(version: int) -> None:
    record = numbered(version)
    base = baseline_of(record)
    assert isinstance(base, Baseline)
    for name in COUNTER_FIELDS:
        assert getattr(base, name) == getattr(record, name), name  # None where v lacks it
    assert base.ac_pid is None and base.ac_comm is None  # not a counter: not kept
    assert sys.getsizeof(base) <= sys.getsizeof(record)


def test_a_baseline_keeps_the_full_64_bits() -> None:
    record = TaskStats.from_fields(17, read_bytes=2**64 - 1, cpu_delay_total=2**63)
    base = baseline_of(record)
    assert base.read_bytes == 2**64 - 1 and base.cpu_delay_total == 2**63


@pytest.mark.parametrize("version", [1, 9, 16, 17])
def test_a_row_accumulates_from_a_baseline_as_from_its_record(version: int) -> None:
    first = numbered(version)
    later = first.replace(
        **{n: getattr(first, n) * 3 for n in COUNTER_FIELDS if getattr(first, n) is not None}
    )
    with_record = TaskRow(1, 1, later, first, first, dt=1.0, t_mono=5.0, seen=1.0)
    with_baseline = TaskRow(1, 1, later, first, baseline_of(first), dt=1.0, t_mono=5.0, seen=1.0)
    for name in COUNTER_FIELDS:
        assert with_baseline.accum(name) == with_record.accum(name), name
    assert with_baseline.accum("read_char") in (None, 2 * first.read_char if first.read_char else 0)
