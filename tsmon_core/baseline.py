"""What accumulated figures start from: a thread's counters when tsmon first saw it, packed.

Every thread alive at tsmon's first refresh keeps this for as long as it lives. A whole
record is 300 to 700 bytes; the counters (``COUNTER_FIELDS``) packed are under 300.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, ClassVar

from .abi import RECORD_FIELDS
from .metrics import COUNTER_FIELDS
from .model import TaskStats, fields_reader, number_property

__all__ = ["Baseline", "baseline_of"]


class Baseline(bytes):
    """The counters of one record, read by their field names; any other field, and a counter
    the record's version lacks, reads as None."""

    __slots__ = ()
    fields: ClassVar[tuple[str, ...]]
    _values: ClassVar[Callable[[TaskStats], Any]]
    _struct: ClassVar[struct.Struct]

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={getattr(self, n)}" for n in self.fields)
        return f"Baseline({shown})"


def _make_class(record_class: type[TaskStats]) -> type[Baseline]:
    offsets = record_class.offsets
    fields = tuple(sorted((n for n in COUNTER_FIELDS if n in offsets), key=offsets.__getitem__))
    codes = {name: code for name, code, _ in record_class.layout.fields}
    layout = struct.Struct("=" + "".join(codes[name] for name in fields))
    namespace: dict[str, object] = {
        "__slots__": (),
        "fields": fields,
        "_struct": layout,
        "_values": fields_reader(record_class, fields),  # v1 already has 8 counters
    }
    namespace.update(dict.fromkeys(RECORD_FIELDS))
    offset = 0
    for name in fields:
        namespace[name] = number_property(offset, codes[name])
        offset += struct.calcsize("=" + codes[name])
    name = "Baseline" + record_class.__name__.removeprefix("TaskStats")
    return type(name, (Baseline,), namespace)


_CLASSES: dict[type[TaskStats], type[Baseline]] = {}


def baseline_of(record: TaskStats) -> Baseline:
    """The counters of ``record``, packed."""
    klass = _CLASSES.get(type(record))
    if klass is None:
        klass = _CLASSES[type(record)] = _make_class(type(record))
    return bytes.__new__(klass, klass._struct.pack(*klass._values(record)))
