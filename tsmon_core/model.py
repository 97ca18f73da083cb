"""Records as the kernel reports them: kernel field names, kernel units.

Units (kernel/tsacct.c, kernel/delayacct.c): every ``*_delay_total/max/min`` and
``cpu_run_*_total`` in ns; ``ac_etime``, ``ac_utime``, ``ac_stime``, ``ac_tgetime`` and
``ac_*timescaled`` in µs; ``ac_btime``/``ac_btime64`` in seconds since the epoch;
``hiwater_rss``/``hiwater_vm`` in KB; ``coremem``/``virtmem`` in MB·µs; ``*_delay_max_ts`` in ns
since the epoch (0 when never set). A field the struct version lacks is ``None``.
"""

from __future__ import annotations

import functools
import struct
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, ClassVar, NamedTuple

from . import abi

__all__ = [
    "CgroupStats",
    "ExitEvent",
    "TaskStats",
    "TaskstatsMessage",
    "clean_comm",
    "column_bytes",
    "column_code",
    "fields_reader",
    "layout_class",
    "number_property",
    "read_column",
    "reader_for",
    "record_class",
    "record_slices",
    "same_column",
    "write_column",
    "zero_column",
]


class TaskStats(bytes):
    """One ``struct taskstats`` decoded: a PID (thread) or TGID (process) record.

    A record is the struct's own bytes in its version's layout (the known prefix for a newer
    version), read through the kernel's field names: every field of RECORD_FIELDS is an
    attribute, ``None`` where the version lacks it. Bytes, not a tuple of ints: a v17 record
    is 721 bytes instead of about 1.7 KB of Python objects, and two records compare at memcmp
    speed. There is one subclass per layout (``record_class``); build records with
    ``decode_taskstats``, ``TaskStats.from_fields`` or ``from_values``.
    """

    __slots__ = ()
    layout: ClassVar[abi.Layout]
    unknown_version: ClassVar[bool] = False
    """True when ``version`` is newer than tsmon knows: only the known prefix was decoded."""
    positions: ClassVar[dict[str, int]]
    """Each field's place in ``values()`` (a timespec takes two places: seconds, then ns)."""
    offsets: ClassVar[dict[str, int]]
    """Each field's byte offset in the record."""
    codes: ClassVar[dict[str, str]]
    """Each field's struct code ("T": a timespec, two int64)."""

    version: int | None
    ac_exitcode: int | None
    ac_flag: int | None
    ac_nice: int | None
    cpu_count: int | None
    cpu_delay_total: int | None
    blkio_count: int | None
    blkio_delay_total: int | None
    swapin_count: int | None
    swapin_delay_total: int | None
    cpu_run_real_total: int | None
    cpu_run_virtual_total: int | None
    ac_comm: str | None
    ac_sched: int | None
    ac_uid: int | None
    ac_gid: int | None
    ac_pid: int | None
    ac_ppid: int | None
    ac_btime: int | None
    ac_etime: int | None
    ac_utime: int | None
    ac_stime: int | None
    ac_minflt: int | None
    ac_majflt: int | None
    coremem: int | None
    virtmem: int | None
    hiwater_rss: int | None
    hiwater_vm: int | None
    read_char: int | None
    write_char: int | None
    read_syscalls: int | None
    write_syscalls: int | None
    read_bytes: int | None
    write_bytes: int | None
    cancelled_write_bytes: int | None
    nvcsw: int | None
    nivcsw: int | None
    ac_utimescaled: int | None
    ac_stimescaled: int | None
    cpu_scaled_run_real_total: int | None
    freepages_count: int | None
    freepages_delay_total: int | None
    thrashing_count: int | None
    thrashing_delay_total: int | None
    ac_btime64: int | None
    compact_count: int | None
    compact_delay_total: int | None
    ac_tgid: int | None
    ac_tgetime: int | None
    ac_exe_dev: int | None
    ac_exe_inode: int | None
    wpcopy_count: int | None
    wpcopy_delay_total: int | None
    irq_count: int | None
    irq_delay_total: int | None
    cpu_delay_max: int | None
    cpu_delay_min: int | None
    blkio_delay_max: int | None
    blkio_delay_min: int | None
    swapin_delay_max: int | None
    swapin_delay_min: int | None
    freepages_delay_max: int | None
    freepages_delay_min: int | None
    thrashing_delay_max: int | None
    thrashing_delay_min: int | None
    compact_delay_max: int | None
    compact_delay_min: int | None
    wpcopy_delay_max: int | None
    wpcopy_delay_min: int | None
    irq_delay_max: int | None
    irq_delay_min: int | None
    cpu_delay_max_ts: int | None
    blkio_delay_max_ts: int | None
    swapin_delay_max_ts: int | None
    freepages_delay_max_ts: int | None
    thrashing_delay_max_ts: int | None
    compact_delay_max_ts: int | None
    wpcopy_delay_max_ts: int | None
    irq_delay_max_ts: int | None

    @classmethod
    def from_fields(cls, version: int = abi.LATEST_VERSION, **values: object) -> TaskStats:
        """A record of ``version`` from field values; absent fields are 0 (or empty)."""
        klass = record_class(version)
        raw: list[object] = []
        for name, code, _ in klass.layout.fields:
            value = version if name == "version" else values.pop(name, None)
            raw.extend(_to_raw(code, value))
        if values:
            known = set(abi.RECORD_FIELDS)
            unknown = [k for k in values if k not in known]
            if unknown:
                raise TypeError(f"unknown taskstats fields: {', '.join(unknown)}")
        return klass.from_values(raw)

    @classmethod
    def from_values(cls, raw: Sequence[object]) -> TaskStats:
        """A record of this class from its layout's raw values (``values()``'s inverse).

        Raises ValueError when a value does not fit its field.
        """
        try:
            packed = cls.layout.struct.pack(*raw)
        except struct.error as exc:
            raise ValueError(f"taskstats values do not fit v{cls.layout.version}: {exc}") from None
        return bytes.__new__(cls, packed)

    def values(self) -> tuple[Any, ...]:
        """The raw values in layout order: ints, the command name as 32 raw bytes, and a
        timespec as two ints (seconds, ns)."""
        return self.layout.struct.unpack_from(self)

    def __iter__(self) -> Iterator[int]:
        raise TypeError("a record is not a sequence of values: iterate record.values()")

    def replace(self, **values: object) -> TaskStats:  # type: ignore[override]
        """A copy with some fields changed (each must exist in this version); not
        ``bytes.replace``."""
        fields = {name: getattr(self, name) for name in self.layout.names}
        for name in values:
            if name not in fields:
                raise TypeError(f"v{self.layout.version} has no field {name}")
        fields.update(values)
        fields.pop("version")
        return self.from_fields(self.version or 0, **fields)

    def as_dict(self) -> dict[str, object]:
        """Kernel field names to values, for the fields this version has."""
        return {name: getattr(self, name) for name in self.layout.names}

    @property
    def is_group_exit(self) -> bool:
        """The AGROUP flag: this thread's exit ended its thread group."""
        return bool((self.ac_flag or 0) & abi.AGROUP)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.as_dict().items() if v)
        return f"TaskStats({shown})"

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (self.layout.version, self.unknown_version, bytes(self)))


_NS = 1_000_000_000


def _to_raw(code: str, value: object) -> tuple[object, ...]:
    if code == "32s":
        text = value if isinstance(value, (bytes, bytearray)) else str(value or "").encode()
        return (bytes(text[: abi.TS_COMM_LEN - 1]).ljust(abi.TS_COMM_LEN, b"\0"),)
    if code == "T":
        ns = int(value or 0)  # type: ignore[call-overload]
        return (ns // _NS, ns % _NS)
    return (value or 0,)


def _comm_getter(read: Callable[[bytes], tuple[Any, ...]]) -> Callable[[bytes], str]:
    def comm(self: bytes) -> str:
        return clean_comm(read(self)[0])

    return comm


def _timespec_getter(read: Callable[[bytes], tuple[Any, ...]]) -> Callable[[bytes], int]:
    def timespec_ns(self: bytes) -> int:
        sec, nsec = read(self)
        return int(sec * _NS + nsec)

    return timespec_ns


def _number_getter(read: Callable[[bytes], tuple[Any, ...]]) -> Callable[[bytes], int]:
    def number(self: bytes) -> int:
        return read(self)[0]  # type: ignore[no-any-return]

    return number


def _field_reader(offset: int, code: str) -> Callable[[bytes], tuple[Any, ...]]:
    """A C-level call reading one field (a 1-tuple; a timespec gives 2) from record bytes."""
    return struct.Struct(f"={offset}x{'qq' if code == 'T' else code}").unpack_from


def number_property(offset: int, code: str) -> property:
    """A property reading the number of struct code ``code`` at byte ``offset``."""
    return property(_number_getter(_field_reader(offset, code)))


def _make_class(layout: abi.Layout, unknown: bool) -> type[TaskStats]:
    positions: dict[str, int] = {}
    offsets: dict[str, int] = {}
    codes: dict[str, str] = {}
    namespace: dict[str, object] = {
        "__slots__": (),
        "layout": layout,
        "unknown_version": unknown,
        "positions": positions,
        "offsets": offsets,
        "codes": codes,
    }
    index = 0
    for name, code, offset in layout.fields:
        positions[name] = index
        offsets[name] = offset
        codes[name] = code
        if code not in ("T", "32s"):  # read_column reads it as a strided native view
            width = struct.calcsize(code)
            if offset % width or layout.size % width or struct.calcsize("=" + code) != width:
                raise AssertionError(f"v{layout.version}: {name} does not suit read_column")
        if code == "32s":
            namespace[name] = property(_comm_getter(_field_reader(offset, code)))
        elif code == "T":
            namespace[name] = property(_timespec_getter(_field_reader(offset, code)))
            index += 1
        else:
            namespace[name] = number_property(offset, code)
        index += 1
    for name in abi.RECORD_FIELDS:
        if name not in positions:
            namespace[name] = None
    suffix = "Newer" if unknown else ""
    return type(f"TaskStatsV{layout.version}{suffix}", (TaskStats,), namespace)


_CLASSES: dict[tuple[int, bool], type[TaskStats]] = {
    (version, unknown): _make_class(layout, unknown)
    for version, layout in abi.LAYOUTS.items()
    for unknown in (False, True)
}


def record_class(version: int) -> type[TaskStats]:
    """The record class that reads ``version`` (newer versions read as the newest known)."""
    klass = _CLASSES.get((version, False))
    if klass is not None:
        return klass
    if version > abi.LATEST_VERSION:
        return _CLASSES[(abi.LATEST_VERSION, True)]
    raise ValueError(f"unknown taskstats version {version}")


def layout_class(layout_version: int, unknown: bool) -> type[TaskStats]:
    """The record class of one layout, flagged or not as a newer version."""
    return _CLASSES[(layout_version, unknown)]


def _rebuild(layout_version: int, unknown: bool, raw: bytes) -> TaskStats:
    return bytes.__new__(_CLASSES[(layout_version, unknown)], raw)


def fields_reader(
    klass: type[TaskStats], names: Sequence[str]
) -> Callable[[bytes], tuple[Any, ...]]:
    """A call reading the fields ``names`` (in that order) from records of ``klass``: ints,
    and the command name as its 32 raw bytes. One C-level call when ``names`` are in layout
    order. Raises ValueError for a field the layout lacks, twice, or a timespec."""
    where = {n: (c, o) for n, c, o in klass.layout.fields}
    if not set(names) <= where.keys() or len(set(names)) != len(names):
        raise ValueError(f"v{klass.layout.version} lacks one of {', '.join(names)}")
    ordered = sorted(names, key=lambda n: where[n][1])
    fmt = ["="]
    pos = 0
    for name in ordered:
        code, offset = where[name]
        if code == "T":
            raise ValueError(f"{name} is a timespec")
        fmt += [f"{offset - pos}x", code]
        pos = offset + struct.calcsize("=" + code)
    read = struct.Struct("".join(fmt)).unpack_from
    if ordered == list(names):
        return read
    arrange = itemgetter(*(ordered.index(n) for n in names))

    def reader(record: bytes) -> tuple[Any, ...]:
        return arrange(read(record))  # type: ignore[no-any-return]

    return reader


@functools.cache
def reader_for(
    klass: type[TaskStats], names: tuple[str, ...]
) -> Callable[[bytes], tuple[Any, ...]] | None:
    """``fields_reader(klass, names)``, made once per class; None when the layout lacks one
    of ``names`` (or it is a timespec)."""
    try:
        return fields_reader(klass, names)
    except ValueError:
        return None


def _column_of(klass: type[TaskStats], name: str) -> tuple[str, slice]:
    """The struct code of a numeric field and where it lies in records joined back to back,
    as a slice of a view cast to that code (every numeric field is aligned for it)."""
    code = klass.codes.get(name)
    if code is None or code in ("T", "32s"):
        raise ValueError(f"v{klass.layout.version} has no numeric field {name}")
    width = struct.calcsize(code)
    return code, slice(klass.offsets[name] // width, None, klass.layout.size // width)


def read_column(
    klass: type[TaskStats], joined: bytes | bytearray | memoryview, name: str
) -> list[int]:
    """Field ``name`` of every record in ``joined`` (records of ``klass`` back to back, as
    ``bytearray().join(records)`` makes them), read in C through a strided view.

    Raises ValueError for a field the layout lacks, the command name or a timespec.
    """
    code, place = _column_of(klass, name)
    with memoryview(joined) as raw, raw.cast(code) as typed:  # type: ignore[call-overload]
        return typed[place].tolist()  # type: ignore[no-any-return]


def record_slices(
    count: int, size: int, stride: int | None = None, offset: int = 0
) -> Iterator[slice]:
    """Where ``count`` records of ``size`` bytes lie in a buffer: every ``stride`` bytes (by
    default back to back) from ``offset``."""
    step = size if stride is None else stride
    starts = range(offset, offset + count * step, step)
    return map(slice, starts, map(size.__add__, starts))


def same_column(
    klass: type[TaskStats],
    a: bytes | bytearray | memoryview,
    b: bytes | bytearray | memoryview,
    name: str,
) -> bool:
    """Whether field ``name`` is equal record by record in ``a`` and ``b`` (records of
    ``klass`` joined alike), compared in C through strided views."""
    code, place = _column_of(klass, name)
    with (
        memoryview(a) as raw_a,
        raw_a.cast(code) as typed_a,  # type: ignore[call-overload]
        memoryview(b) as raw_b,
        raw_b.cast(code) as typed_b,  # type: ignore[call-overload]
    ):
        return typed_a[place] == typed_b[place]  # type: ignore[no-any-return]


def column_code(klass: type[TaskStats], name: str) -> str:
    """The typecode (struct, memoryview and array alike) of a numeric field."""
    return _column_of(klass, name)[0]


def column_bytes(
    klass: type[TaskStats], joined: bytes | bytearray | memoryview, name: str
) -> bytes:
    """Field ``name`` of every record in ``joined`` as one packed array (native byte order):
    ``read_column`` without making an int per record."""
    code, place = _column_of(klass, name)
    with memoryview(joined) as raw, raw.cast(code) as typed:  # type: ignore[call-overload]
        return typed[place].tobytes()  # type: ignore[no-any-return]


def write_column(klass: type[TaskStats], joined: bytearray, name: str, values: array[int]) -> None:
    """Set field ``name`` of every record in ``joined`` from ``values`` (of its typecode)."""
    code, place = _column_of(klass, name)
    with memoryview(joined) as raw, raw.cast(code) as typed, memoryview(values) as packed:  # type: ignore[call-overload]
        typed[place] = packed


def zero_column(klass: type[TaskStats], joined: bytearray | memoryview, name: str) -> None:
    """Set field ``name`` to 0 in every record of ``joined`` (as ``read_column`` reads it)."""
    code, place = _column_of(klass, name)
    count = len(joined) // klass.layout.size
    with memoryview(joined) as raw, raw.cast(code) as typed:  # type: ignore[call-overload]
        typed[place] = memoryview(bytes(struct.calcsize(code) * count)).cast(code)  # type: ignore[call-overload]


# C0 controls, DEL and C1 controls: never shown, whoever named the process.
_CONTROL = dict.fromkeys([*range(0x20), *range(0x7F, 0xA0)])
_comm_cache: dict[bytes, str] = {}


def clean_comm(raw: bytes | str) -> str:
    """A command name up to its NUL, decoded, with control characters removed."""
    cached = _comm_cache.get(raw)  # type: ignore[arg-type]
    if cached is not None:
        return cached
    if isinstance(raw, str):
        text = raw.split("\0", 1)[0].translate(_CONTROL)
    else:
        text = raw.split(b"\0", 1)[0].decode("utf-8", "replace").translate(_CONTROL)
    if len(_comm_cache) >= 8192:
        _comm_cache.clear()
    _comm_cache[raw] = text  # type: ignore[index]
    return text


class CgroupStats(NamedTuple):
    """``struct cgroupstats``: task-state counts of one cgroup v1 directory."""

    nr_sleeping: int
    nr_running: int
    nr_stopped: int
    nr_uninterruptible: int
    nr_io_wait: int


@dataclass(frozen=True, slots=True)
class TaskstatsMessage:
    """One TASKSTATS_CMD_NEW message: a query reply or an exit event.

    ``pid``/``pid_stats`` come from an AGGR_PID nest, ``tgid``/``tgid_stats`` from AGGR_TGID;
    an exit message of a thread group's last thread carries both.
    """

    pid: int | None = None
    pid_stats: TaskStats | None = None
    tgid: int | None = None
    tgid_stats: TaskStats | None = None
    seq: int = 0
    portid: int = 0


@dataclass(frozen=True, slots=True)
class ExitEvent:
    """A task's exit heard by a cpumask listener.

    Attributes:
        tid: the exiting thread's id (init pid namespace).
        stats: its final per-thread record (``ac_exitcode`` is a wait status).
        tgid: the thread group's id when the group died with this thread, else None.
        group_stats: the group's accumulated record, when the group died (multi-threaded only).
        lost: events lost by this listener so far (overflow), at the time this one was read.
        t_mono: ``time.monotonic()`` (or the simulator's clock) when it was received.
    """

    tid: int
    stats: TaskStats
    tgid: int | None = None
    group_stats: TaskStats | None = None
    lost: int = 0
    t_mono: float = 0.0
