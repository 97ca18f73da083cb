"""One metric for every thread row of a snapshot at once.

The figures are those of ``TaskRow.value``, ``delta`` and ``accum``, computed list-wise: the
record fields are read with ``map`` over C-level readers of the layout instead of a chain
of method calls per row, which is what lets a view sort and paint 10,000 rows per refresh.
``ThreadColumns`` holds what every metric needs (the records, their baselines, the one record
class), so a snapshot gathers it once for all its columns.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import compress, repeat
from operator import attrgetter, is_, ne
from typing import Any

from .metrics import METRICS, Metric
from .model import TaskStats, read_column, same_column
from .sampler import TaskRow, row_field

__all__ = ["ThreadColumns", "thread_amounts", "thread_values"]

_NS_PER_S = 1_000_000_000
_STATS, _PREV, _BASE, _BORN, _DT, _T_MONO, _SEEN = map(
    row_field, ("stats", "prev", "base", "born", "dt", "t_mono", "seen")
)


class _ZeroCounters:
    """The baseline of a thread born since tsmon started: every counter was 0."""

    def __getattr__(self, name: str) -> int:
        return 0


_ZERO_COUNTERS = _ZeroCounters()


Column = Callable[[Sequence[Any]], Iterable[Any]]
"""Reads one field of many records of one class."""


def _none(records: Sequence[Any]) -> Iterable[None]:
    return repeat(None, len(records))


def _moved(news: list[int], olds: list[int]) -> Iterator[int]:
    """The places where a counter differs from its baseline (compared in C, no Python step
    for the rest)."""
    return compress(range(len(news)), map(ne, news, olds))


class _BufferPool:
    """Buffers the records are joined in, kept for the next ThreadColumns: a fresh megabyte
    costs ~250 page faults to touch (measured: five figures of 2,080 threads in 4.2 ms with
    reused buffers, 6.5 ms with fresh ones)."""

    def __init__(self, kept: int) -> None:
        self._kept = kept
        self._free: list[io.BytesIO] = []

    def take(self) -> io.BytesIO:
        """An empty buffer (its memory already touched, when one was given back)."""
        try:
            joined = self._free.pop()
        except IndexError:
            return io.BytesIO()
        joined.seek(0)
        return joined

    def give(self, joined: io.BytesIO) -> None:
        """A buffer no longer used."""
        if len(self._free) < self._kept:
            self._free.append(joined)


_POOL = _BufferPool(kept=4)


class ThreadColumns:
    """What the figures of a list of thread rows are computed from, gathered once."""

    __slots__ = ("_accum_base", "_joined", "_klass", "_never", "_since", "dts", "rows", "stats")

    def __init__(
        self,
        rows: Sequence[TaskRow],
        klass: type[TaskStats] | None = None,
        dts: set[float | None] | None = None,
    ) -> None:
        """What the caller knows already, each a pass over cold memory saved at 10,000
        threads: ``klass``, the one class of every record and baseline (~5 ms: it touches
        every record), and ``dts``, the rows' intervals (~1 ms)."""
        self.rows = rows
        self.stats = list(map(_STATS, rows))
        self.dts = set(map(_DT, rows)) if dts is None else dts
        prevs = list(map(_PREV, rows))
        # The interval's baseline of each row: its previous record, else zero for a thread
        # born during the interval (its whole life is the delta), else no figure.
        if klass is None:
            classes = set(map(type, self.stats))
            classes.update(map(type, prevs))
            classes.discard(type(None))
            klass = classes.pop() if len(classes) == 1 else None
        self._klass: type[TaskStats] | None = klass
        # A row without a previous record reads its baseline from a record of zeros: right
        # for a thread born during the interval (its whole life is the delta); the others
        # (``_never``) get no figure.
        self._never: list[int] = []
        self._since: list[Any] = prevs
        # The rows without one (pointers compared: no record is read)
        missing = list(compress(range(len(prevs)), map(is_, prevs, repeat(None))))
        if missing:
            zero = self._klass(bytes(self._klass.layout.size)) if self._klass else None
            self._since = prevs.copy()
            for i in missing:  # a few: the threads new since the last refresh
                self._since[i] = zero
            self._never = [i for i in missing if not _BORN(rows[i])]
        self._accum_base: list[Any] | None = None
        # Each record list joined into one buffer on first use: a field of every row is then
        # one strided read in C.
        self._joined: dict[int, tuple[list[Any], io.BytesIO]] = {}

    def _buffer(self, records: list[Any]) -> io.BytesIO:
        """``records`` (self.stats or the interval baselines) joined, once."""
        held = self._joined.get(id(records))
        if held is None:
            joined = _POOL.take()
            joined.writelines(records)
            joined.truncate()
            held = self._joined[id(records)] = (records, joined)
        return held[1]

    def _read(self, records: list[Any], name: str) -> list[int]:
        """Field ``name`` of each of ``records`` (self.stats or the interval baselines)."""
        assert self._klass is not None
        with self._buffer(records).getbuffer() as view:
            return read_column(self._klass, view, name)

    def _unmoved(self, name: str) -> bool:
        """Whether field ``name`` of every record equals its interval baseline's: compared as
        two strided views in C, no int made (most counters of a quiet machine: none moved)."""
        assert self._klass is not None
        new, old = self._buffer(self.stats), self._buffer(self._since)
        with new.getbuffer() as a, old.getbuffer() as b:
            return same_column(self._klass, a, b, name)

    def __del__(self, pool: _BufferPool = _POOL) -> None:  # bound now: no globals at exit
        for _, joined in self._joined.values():
            pool.give(joined)

    def _bases(self) -> list[Any]:
        """Each row's accumulation baseline: its first counters, else zero (all since birth)."""
        if self._accum_base is None:
            self._accum_base = [_ZERO_COUNTERS if b is None else b for b in map(_BASE, self.rows)]
        return self._accum_base

    def column(self, name: str) -> Column | None:
        """The reader of one numeric field shared by every record and interval baseline, or
        None (several layouts, or not a plain number)."""
        klass = self._klass
        if klass is None:
            return None
        if name not in klass.offsets:
            return _none  # the struct version lacks the field
        if klass.codes[name] in ("T", "32s"):
            return None  # a name or a timespec: not a plain number, row by row

        def column(records: Sequence[Any]) -> list[int]:
            return self._read(records, name)  # type: ignore[arg-type]

        return column

    def _no_figure(self, figures: list[Any]) -> list[Any]:
        """``figures`` with None for the rows that have no interval baseline."""
        for i in self._never:
            figures[i] = None
        return figures

    def amounts(self, field: str, accumulated: bool = False) -> list[int | None]:
        """Each row's ``delta(field)``, or ``accum(field)`` when accumulated."""
        read = self.column(field)
        if read is None:  # records of several layouts: row by row
            return [r.accum(field) if accumulated else r.delta(field) for r in self.rows]
        if read is _none:
            return [None] * len(self.rows)
        if accumulated:  # baselines are read by name: packed counters, or whole records
            bases = map(attrgetter(field), self._bases())
            return [
                None if v is None or n < v else n - v
                for n, v in zip(read(self.stats), bases, strict=True)
            ]
        return self._interval(field, 0, None)

    def _interval(
        self, field: str, zero: float, figure: Callable[[int], float] | None
    ) -> list[Any]:
        """Each row's growth of a plain numeric ``field`` over the interval, as ``figure``
        makes it of the amount (None: the amount itself); None where it went backwards or
        there is no baseline. A row whose counter did not move gets ``zero`` (what ``figure``
        makes of 0) without a Python step: most tasks of a quiet machine."""
        count = len(self.rows)
        if self._unmoved(field):
            return self._no_figure([zero] * count)
        news, olds = self._read(self.stats, field), self._read(self._since, field)
        out: list[Any] = [zero] * count
        for i in _moved(news, olds):
            amount = news[i] - olds[i]
            out[i] = None if amount < 0 else amount if figure is None else figure(amount)
        return self._no_figure(out)

    def values(self, metric: Metric | str, accumulated: bool = False) -> list[float | None]:
        """Each row's ``value(metric, accumulated)``."""
        m = METRICS[metric] if isinstance(metric, str) else metric
        rows = self.rows
        if not rows:
            return []
        read = self.column(m.field)
        if read is None:
            return [r.value(m, accumulated) for r in rows]
        if m.kind == "gauge":
            return list(read(self.stats))
        if m.kind == "avg":
            amounts = self.amounts(m.field, accumulated)
            counts = self.amounts(m.count_field, accumulated)
            return [
                (0.0 if a is not None else None) if not c or a is None else a / c
                for a, c in zip(amounts, counts, strict=True)
            ]
        if read is _none:
            return [None] * len(rows)
        percent = m.kind == "percent"
        if accumulated:  # as _Rates.value: over the time since tsmon first saw each thread
            amounts = self.amounts(m.field, True)
            spans = [(t - s) or dt for t, s, dt in zip(
                map(_T_MONO, rows), map(_SEEN, rows), map(_DT, rows), strict=True
            )]  # fmt: skip
            if percent:
                return [
                    a * 100.0 / (t * _NS_PER_S) if a is not None and t else None
                    for a, t in zip(amounts, spans, strict=True)
                ]
            return [
                a / t if a is not None and t else None for a, t in zip(amounts, spans, strict=True)
            ]
        # as TaskRow.value's interval path, to the last bit
        scale = 100.0 / _NS_PER_S if percent else 1.0
        if len(self.dts) == 1:  # one interval for every row (the usual case)
            dt = next(iter(self.dts))
            if not dt:
                return [None] * len(rows)
            return self._interval(m.field, 0.0, lambda amount: amount * scale / dt)
        return [
            a * scale / t if a is not None and t else None
            for a, t in zip(self.amounts(m.field), map(_DT, rows), strict=True)
        ]


def thread_amounts(
    rows: Sequence[TaskRow], field: str, accumulated: bool = False
) -> list[int | None]:
    """Each row's ``delta(field)``, or ``accum(field)`` when accumulated."""
    return ThreadColumns(rows).amounts(field, accumulated)


def thread_values(
    rows: Sequence[TaskRow], metric: Metric | str, accumulated: bool = False
) -> list[float | None]:
    """Each row's ``value(metric, accumulated)``."""
    return ThreadColumns(rows).values(metric, accumulated)
