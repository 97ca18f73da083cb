"""The writer's bulk work on two frames' records: the same answer as one task at a time."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from tsmon_core.model import TaskStats, layout_class
from tsmon_core.session import (
    _CLOCK,
    _age_code,
    _differing_runs,
    _runs,
    _scan,
    _step,
    _steps_of_code,
)

SIZE = 24


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(0, 300),
    seed=st.randoms(use_true_random=False),
    p_differ=st.sampled_from((0.0, 0.01, 0.2, 1.0)),
)
def test_bulk_comparison_matches_record_by_record(n: int, seed: object, p_differ: float) -> None:
    rng = seed  # a random.Random
    old = bytearray(rng.randbytes(n * SIZE))  # type: ignore[attr-defined]
    # The new frame: some of the old records (some changed), in another order, some new.
    picks = [k for k in range(n) if rng.random() < 0.9]  # type: ignore[attr-defined]
    if rng.random() < 0.5:  # type: ignore[attr-defined]
        rng.shuffle(picks)  # type: ignore[attr-defined]
    olds: list[int | None] = list(picks)
    for _ in range(rng.randrange(4)):  # type: ignore[attr-defined]
        olds.insert(rng.randrange(len(olds) + 1), None)  # type: ignore[attr-defined]
    new = bytearray()
    for k in olds:
        record = bytearray(old[k * SIZE : (k + 1) * SIZE]) if k is not None else bytearray(SIZE)
        if k is not None and rng.random() < p_differ:  # type: ignore[attr-defined]
            record[rng.randrange(SIZE)] ^= 1 + rng.randrange(255)  # type: ignore[attr-defined]
        new += record
    expected = [
        k is not None and new[i * SIZE : (i + 1) * SIZE] == old[k * SIZE : (k + 1) * SIZE]
        for i, k in enumerate(olds)
    ]
    runs = _runs(list(range(len(olds))), olds)
    assert sum(length for _, _, length in runs) == len(olds)
    assert _differing_runs(new, old, SIZE, runs) == [
        i for i, same in enumerate(expected) if not same
    ]


def test_runs_follow_records_consecutive_in_both_frames() -> None:
    assert _runs([0, 1, 2, 3, 4], [5, 6, None, 7, 9]) == [
        (0, 5, 2),
        (2, None, 1),
        (3, 7, 1),
        (4, 9, 1),
    ]
    assert _runs([], []) == []


def _records(klass: type[TaskStats], n: int, base: int, *, aged: bool = True) -> list[TaskStats]:
    return [
        klass.from_fields(
            version=16, ac_pid=base + i, ac_etime=10_000 + i if aged else 0, ac_utime=base * i
        )
        for i in range(n)
    ]


def test_a_scan_stays_as_made_when_its_stage_is_joined_into_again() -> None:
    """The masked bytes are the stage's buffer, shared until the stage is written again."""
    klass = layout_class(16, False)
    stage = io.BytesIO()
    first = _scan(klass, _records(klass, 50, 1), stage)
    kept = bytes(first.masked)
    second = _scan(klass, _records(klass, 80, 7), stage)  # a bigger frame
    third = _scan(klass, _records(klass, 3, 9), stage)  # then a much smaller one
    assert first.masked == kept
    assert second.masked == b"".join(_records(klass, 80, 7, aged=False))
    assert third.masked == b"".join(_records(klass, 3, 9, aged=False))
    etime = _CLOCK[klass].names.index("ac_etime")
    assert memoryview(third.columns[etime]).cast("Q").tolist() == [10_000, 10_001, 10_002]


@settings(max_examples=300, deadline=None)
@given(
    count=st.integers(1, 40),
    codes=st.sampled_from(("QQ", "Q", "IQ", "QI")),
    seed=st.randoms(use_true_random=False),
    spread=st.sampled_from((0, 3, 2**20, 2**64)),
)
def test_the_age_code_gives_back_every_columns_steps(
    count: int, codes: str, seed: object, spread: int
) -> None:
    # Whatever the ages do (grow alike, wrap, go back): decoding gives each column's step.
    rng = seed  # a random.Random
    new: list[bytes] = []
    old: list[bytes] = []
    base = rng.randrange(1 << 32)  # type: ignore[attr-defined]  # what every task aged, about
    for code in codes:
        width = 4 if code == "I" else 8
        top = 1 << 8 * width
        before = [rng.randrange(top) for _ in range(count)]  # type: ignore[attr-defined]
        after = [(v + base + rng.randrange(spread + 1)) % top for v in before]  # type: ignore[attr-defined]
        new.append(b"".join(v.to_bytes(width, "little") for v in after))
        old.append(b"".join(v.to_bytes(width, "little") for v in before))
    numbers = [int.from_bytes(column, "little") for column in new]
    coded = _age_code(numbers, [int.from_bytes(c, "little") for c in old], list(map(len, new)))
    assert len(coded) == sum(map(len, new))
    steps = b"".join(map(_step, new, old))
    assert _steps_of_code(coded, len(new[0])) == steps
    if spread == 0 and codes == "QQ":  # every task aged alike: all but the first lane zero
        assert coded[8:] == bytes(len(coded) - 8) or count == 1
