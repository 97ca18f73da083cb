"""One metric for every thread row of a snapshot at once.

The figures are those of ``TaskRow.value``, ``delta`` and ``accum``, computed list-wise: the
record fields are read with ``map`` over the layout's own getters instead of a chain of
method calls per row, which is what lets a view sort and paint 10,000 rows per refresh.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from .metrics import METRICS, Metric

if TYPE_CHECKING:
    from .sampler import TaskRow

__all__ = ["thread_amounts", "thread_values"]

_NS_PER_S = 1_000_000_000
_ZERO = (0,) * 512  # a stand-in baseline record: every field getter on it reads 0
_STATS, _PREV, _BASE, _BORN, _DT, _T_MONO, _SEEN = map(itemgetter, (2, 3, 4, 5, 7, 8, 9))


def _getter(rows: Sequence[TaskRow], name: str, bases: list[Any]) -> Callable[[Any], Any] | None:
    """The field getter of the one record class of ``rows`` and their baselines, else None."""
    classes = set(map(type, map(_STATS, rows)))
    classes.update(map(type, bases))
    classes.discard(type(None))
    if len(classes) != 1:
        return None
    prop = classes.pop().__dict__.get(name)
    if not isinstance(prop, property):
        return _none  # the struct version lacks the field
    return prop.fget


def _none(_record: Any) -> None:
    return None


def _grown(
    get: Callable[[Any], Any], stats: list[Any], bases: list[Any], born: list[bool] | None
) -> list[int | None]:
    """How much a counter grew against ``bases`` (None where unknown or gone backwards).

    Without a baseline the whole count is the growth when accumulating (``born`` is None), or
    when the thread was born during the interval.
    """
    now = list(map(get, stats))
    before = list(map(get, [_ZERO if b is None else b for b in bases]))
    if born is None:
        return [
            (n if b is None else (n - v if v is not None and n is not None and n >= v else None))
            for n, v, b in zip(now, before, bases, strict=True)
        ]
    return [
        (
            (n if o else None)
            if b is None
            else (n - v if v is not None and n is not None and n >= v else None)
        )
        for n, v, b, o in zip(now, before, bases, born, strict=True)
    ]


def thread_amounts(
    rows: Sequence[TaskRow], field: str, accumulated: bool = False
) -> list[int | None]:
    """Each row's ``delta(field)``, or ``accum(field)`` when accumulated."""
    bases = list(map(_BASE if accumulated else _PREV, rows))
    get = _getter(rows, field, bases)
    if get is None:  # records of several layouts: row by row
        return [r.accum(field) if accumulated else r.delta(field) for r in rows]
    stats = list(map(_STATS, rows))
    return _grown(get, stats, bases, None if accumulated else list(map(_BORN, rows)))


def thread_values(
    rows: Sequence[TaskRow], metric: Metric | str, accumulated: bool = False
) -> list[float | None]:
    """Each row's ``value(metric, accumulated)``."""
    m = METRICS[metric] if isinstance(metric, str) else metric
    if not rows:
        return []
    stats = list(map(_STATS, rows))
    if m.kind == "gauge":
        get = _getter(rows, m.field, [])
        if get is None:
            return [r.value(m) for r in rows]
        return list(map(get, stats))
    bases = list(map(_BASE if accumulated else _PREV, rows))
    get = _getter(rows, m.field, bases)
    if get is None:
        return [r.value(m, accumulated) for r in rows]
    born = None if accumulated else list(map(_BORN, rows))
    amounts = _grown(get, stats, bases, born)
    if m.kind == "avg":
        count_get = _getter(rows, m.count_field, bases)
        assert count_get is not None  # same classes as above
        counts = _grown(count_get, stats, bases, born)
        return [
            (0.0 if a is not None else None) if not c or a is None else a / c
            for a, c in zip(amounts, counts, strict=True)
        ]
    percent = m.kind == "percent"
    if accumulated:  # as _Rates.value: over the time since tsmon first saw each thread
        spans = [(t - s) or dt for t, s, dt in zip(
            map(_T_MONO, rows), map(_SEEN, rows), map(_DT, rows), strict=True
        )]  # fmt: skip
        if percent:
            return [
                a * 100.0 / (t * _NS_PER_S) if a is not None and t else None
                for a, t in zip(amounts, spans, strict=True)
            ]
        return [a / t if a is not None and t else None for a, t in zip(amounts, spans, strict=True)]
    # as TaskRow.value's interval path, to the last bit
    scale = 100.0 / _NS_PER_S if percent else 1.0
    dts = set(map(_DT, rows))
    if len(dts) == 1:  # one interval for every row (the usual case)
        dt = dts.pop()
        if not dt:
            return [None] * len(rows)
        return [None if a is None else a * scale / dt for a in amounts]
    return [
        a * scale / t if a is not None and t else None
        for a, t in zip(amounts, map(_DT, rows), strict=True)
    ]
