"""One metric for every thread row of a snapshot at once.

The figures are those of ``TaskRow.value``, ``delta`` and ``accum``, computed list-wise: the
record fields are read with ``map`` over the layout's own getters instead of a chain of
method calls per row, which is what lets a view sort and paint 10,000 rows per refresh.
``ThreadColumns`` holds what every metric needs (the records, their baselines, the one record
class), so a snapshot gathers it once for all its columns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter, itemgetter
from typing import Any

from .metrics import METRICS, Metric
from .sampler import TaskRow, row_field

__all__ = ["ThreadColumns", "thread_amounts", "thread_values"]

_NS_PER_S = 1_000_000_000
_STATS, _PREV, _BASE, _BORN, _DT, _T_MONO, _SEEN = map(
    row_field, ("stats", "prev", "base", "born", "dt", "t_mono", "seen")
)
# Stand-in baselines: every field getter reads 0 from the first (the whole count is the
# growth); nothing is ever >= what it reads from the second (no figure).
_ZERO = (0,) * 512
_NEVER = (float("inf"),) * 512


class _ZeroCounters:
    """The baseline of a thread born since tsmon started: every counter was 0."""

    def __getattr__(self, name: str) -> int:
        return 0


_ZERO_COUNTERS = _ZeroCounters()


def _none(_record: Any) -> None:
    return None


class ThreadColumns:
    """What the figures of a list of thread rows are computed from, gathered once."""

    __slots__ = ("_accum_base", "_klass", "_since", "dts", "rows", "stats")

    def __init__(self, rows: Sequence[TaskRow]) -> None:
        self.rows = rows
        self.stats = list(map(_STATS, rows))
        self.dts = set(map(_DT, rows))
        prevs = list(map(_PREV, rows))
        # The interval's baseline of each row: its previous record, else zero for a thread
        # born during the interval (its whole life is the delta), else no figure.
        self._since = [
            p if p is not None else (_ZERO if born else _NEVER)
            for p, born in zip(prevs, map(_BORN, rows), strict=True)
        ]
        self._accum_base: list[Any] | None = None
        classes = set(map(type, self.stats))
        classes.update(map(type, prevs))
        classes.discard(type(None))
        self._klass: type | None = classes.pop() if len(classes) == 1 else None

    def _bases(self) -> list[Any]:
        """Each row's accumulation baseline: its first counters, else zero (all since birth)."""
        if self._accum_base is None:
            self._accum_base = [_ZERO_COUNTERS if b is None else b for b in map(_BASE, self.rows)]
        return self._accum_base

    def getter(self, name: str) -> Callable[[Any], Any] | None:
        """The field getter shared by every record and interval baseline, or None (several
        layouts)."""
        klass = self._klass
        if klass is None:
            return None
        prop = klass.__dict__.get(name)
        if not isinstance(prop, property):
            return _none  # the struct version lacks the field
        if not isinstance(prop.fget, itemgetter):
            return None  # a name or a timespec: not a plain number, row by row
        return prop.fget

    def amounts(self, field: str, accumulated: bool = False) -> list[int | None]:
        """Each row's ``delta(field)``, or ``accum(field)`` when accumulated."""
        get = self.getter(field)
        if get is None:  # records of several layouts: row by row
            return [r.accum(field) if accumulated else r.delta(field) for r in self.rows]
        if get is _none:
            return [None] * len(self.rows)
        if accumulated:  # baselines are read by name: packed counters, or whole records
            bases = map(attrgetter(field), self._bases())
            return [
                None if v is None or n < v else n - v
                for n, v in zip(map(get, self.stats), bases, strict=True)
            ]
        return [
            n - v if n >= v else None
            for n, v in zip(map(get, self.stats), map(get, self._since), strict=True)
        ]

    def values(self, metric: Metric | str, accumulated: bool = False) -> list[float | None]:
        """Each row's ``value(metric, accumulated)``."""
        m = METRICS[metric] if isinstance(metric, str) else metric
        rows = self.rows
        if not rows:
            return []
        get = self.getter(m.field)
        if get is None:
            return [r.value(m, accumulated) for r in rows]
        if m.kind == "gauge":
            return list(map(get, self.stats))
        if m.kind == "avg":
            amounts = self.amounts(m.field, accumulated)
            counts = self.amounts(m.count_field, accumulated)
            return [
                (0.0 if a is not None else None) if not c or a is None else a / c
                for a, c in zip(amounts, counts, strict=True)
            ]
        if get is _none:
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
            return [
                (n - v) * scale / dt if n >= v else None
                for n, v in zip(map(get, self.stats), map(get, self._since), strict=True)
            ]
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
