# ruff: noqa: UP031  (the printf formats are getdelays.c's own, kept comparable line by line)
"""getdelays' text layout of taskstats and cgroupstats records, and their JSON form.

Pure functions: records in, strings or JSON-ready dicts out. The text is that of the kernel's
``tools/accounting/getdelays.c`` (Linux 7.x) line for line, chosen by the record's ``version``
exactly as getdelays chooses it:

* version >= 16: the delay rows carry ``delay max`` and ``delay min`` columns;
* version >= 17: and a ``delay max timestamp`` column (local time, ``N/A`` when never set);
* older versions: ``count``, totals and ``delay average`` only;
* COMPACT from v11, WPCOPY from v13, IRQ from v14 (the rows getdelays prints by version).

A field the record's version lacks prints as 0, as getdelays would print it from a zeroed
buffer; the JSON form leaves it out.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from .abi import DELAY_KINDS
from .model import CgroupStats, TaskStats

__all__ = [
    "ECHO_LINES",
    "cgroup_json",
    "delay_average_ms",
    "format_cgroupstats",
    "format_context_switches",
    "format_delayacct",
    "format_ioacct",
    "format_record",
    "format_timespec_ns",
    "merge_thread_records",
    "record_json",
]

#: The line getdelays echoes on stdout when it parses each option (``-w``/``-r``/``-m`` take
#: their argument through ``str.format``).
ECHO_LINES: dict[str, str] = {
    "d": "print delayacct stats ON",
    "i": "printing IO accounting",
    "q": "printing task/process context switch rates",
    "w": "write to file {}",
    "r": "receive buf size {}",
    "m": "cpumask {} maskset 1",
    "v": "debug on",
    "l": "listen forever",
}

_LABEL = "%-10s"
_VALUES = " " * 10  # the values line starts with ten spaces
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S"


def _u64(value: int | None) -> int:
    return value or 0


def delay_average_ms(total_ns: int | None, count: int | None) -> float:
    """getdelays' ``average_ms``: total / 1e6 / count in double precision (count 0 -> /1)."""
    return (total_ns or 0) / 1000000 / (count or 1)


def format_timespec_ns(ns: int | None) -> str:
    """A ``*_delay_max_ts`` as getdelays prints it: local ``%Y-%m-%dT%H:%M:%S`` or ``N/A``."""
    if not ns:
        return "N/A"
    try:
        return time.strftime(_TS_FORMAT, time.localtime(ns // 1_000_000_000))
    except (OverflowError, OSError, ValueError):
        return "N/A"


def _delay_rows(t: TaskStats) -> list[tuple[str, str]]:
    """The delay kinds getdelays prints for this version: (kind, label)."""
    version = t.version or 0
    rows = []
    for kind, label in DELAY_KINDS:
        if kind == "compact" and version < 11:
            continue
        if kind == "wpcopy" and version < 13:
            continue
        if kind == "irq" and version < 14:
            continue
        rows.append((kind, label))
    return rows


def format_delayacct(t: TaskStats) -> str:
    """The ``-d`` block: two empty lines, then a header and a values line per delay kind."""
    version = t.version or 0
    has_minmax = version >= 16
    has_ts = version >= 17
    out = ["", ""]
    for kind, label in _delay_rows(t):
        count = _u64(getattr(t, "cpu_count" if kind == "cpu" else f"{kind}_count"))
        total = _u64(getattr(t, f"{kind}_delay_total"))
        heads = ["count"]
        values = "%15d" % count
        if kind == "cpu":
            heads += ["real total", "virtual total"]
            values += "%15d%15d" % (_u64(t.cpu_run_real_total), _u64(t.cpu_run_virtual_total))
        heads += ["delay total", "delay average"]
        values += "%15d%15.3fms" % (total, delay_average_ms(total, count))
        if has_minmax:
            heads += ["delay max", "delay min"]
            values += "%13.6fms%13.6fms" % (
                _u64(getattr(t, f"{kind}_delay_max")) / 1000000,
                _u64(getattr(t, f"{kind}_delay_min")) / 1000000,
            )
        header = _LABEL % label + "".join("%15s" % h for h in heads)
        if has_ts:
            header += "%25s" % "delay max timestamp"
            values += "%23s" % format_timespec_ns(getattr(t, f"{kind}_delay_max_ts"))
        out.append(header)
        out.append(_VALUES + values)
    return "\n".join(out)


def format_ioacct(t: TaskStats) -> str:
    """The ``-i`` line: ``comm: read=N, write=N, cancelled_write=N``."""
    return "%s: read=%d, write=%d, cancelled_write=%d" % (
        t.ac_comm or "",
        _u64(t.read_bytes),
        _u64(t.write_bytes),
        _u64(t.cancelled_write_bytes),
    )


def format_context_switches(t: TaskStats) -> str:
    """The ``-q`` block: two empty lines, ``Task voluntary nonvoluntary`` and the counts."""
    return "\n\nTask   %15s%15s\n       %15d%15d" % (
        "voluntary",
        "nonvoluntary",
        _u64(t.nvcsw),
        _u64(t.nivcsw),
    )


def format_cgroupstats(c: CgroupStats) -> str:
    """The ``-C`` line (``blocked`` is ``nr_io_wait``)."""
    return "sleeping %d, blocked %d, running %d, stopped %d, uninterruptible %d" % (
        c.nr_sleeping,
        c.nr_io_wait,
        c.nr_running,
        c.nr_stopped,
        c.nr_uninterruptible,
    )


def format_record(
    kind: str,
    task_id: int,
    t: TaskStats,
    *,
    delays: bool = False,
    io: bool = False,
    switches: bool = False,
    verbose: bool = False,
) -> str:
    """One record as getdelays prints a STATS attribute, without a trailing newline.

    Args:
        kind: "PID" or "TGID" (the nest the record came in).
        task_id: the id the kernel echoed.
        t: the record.
        delays, io, switches: the ``-d``, ``-i`` and ``-q`` sections.
        verbose: add getdelays' ``-v`` line ``version N``.

    Returns:
        The lines (empty string when no section is asked for and not verbose).
    """
    lines: list[str] = []
    if delays:
        lines.append(f"{kind}\t{task_id}")
    if verbose:
        lines.append(f"version {t.version}")
    if delays:
        lines.append(format_delayacct(t))
    if io:
        lines.append(format_ioacct(t))
    if switches:
        lines.append(format_context_switches(t))
    return "\n".join(lines)


def _extremes(kind: str, records: Iterable[TaskStats]) -> tuple[int | None, int | None]:
    """Largest max and smallest non-zero min of one delay kind over records."""
    highest: int | None = None
    lowest: int | None = None
    for r in records:
        high = getattr(r, f"{kind}_delay_max")
        low = getattr(r, f"{kind}_delay_min")
        if high is not None and (highest is None or high > highest):
            highest = high
        if low and (lowest is None or low < lowest):
            lowest = low
    return highest, lowest


def merge_thread_records(group: TaskStats, threads: Iterable[TaskStats]) -> TaskStats:
    """A TGID record completed from its threads' PID records.

    The kernel's TGID reply sums the delays of all threads (live and dead) but holds only one
    thread's ``*_delay_max/min/max_ts`` (the last one it iterated), and no comm, ids or I/O.
    This keeps the kernel's sums and counts and takes from the live threads:

    * ``*_delay_max``: the largest of the threads' and the reply's own (with its timestamp);
    * ``*_delay_min``: the smallest non-zero one;
    * ``ac_comm``, ``ac_pid``, ``ac_uid``, ``ac_gid``, ``ac_ppid``, ``ac_tgid``, ``ac_btime``,
      ``ac_btime64``, ``ac_nice``, ``ac_sched``: the leader's (the first record);
    * ``read_bytes``, ``write_bytes``, ``cancelled_write_bytes``, ``read_char``,
      ``write_char``, ``read_syscalls``, ``write_syscalls``, ``ac_minflt``, ``ac_majflt``:
      summed over the live threads (threads that already exited are not included);
    * ``hiwater_rss``, ``hiwater_vm``: the largest.
    """
    threads = list(threads)
    if not threads:
        return group
    names = set(group.layout.names)
    changes: dict[str, object] = {}
    every = [group, *threads]
    for kind, _ in DELAY_KINDS:
        if f"{kind}_delay_max" not in names:
            continue
        highest, lowest = _extremes(kind, every)
        changes[f"{kind}_delay_max"] = highest or 0
        changes[f"{kind}_delay_min"] = lowest or 0
        ts_name = f"{kind}_delay_max_ts"
        if ts_name in names:
            owner = next((r for r in every if getattr(r, f"{kind}_delay_max") == highest), group)
            changes[ts_name] = getattr(owner, ts_name) or 0
    leader = threads[0]
    for name in (
        "ac_comm",
        "ac_pid",
        "ac_uid",
        "ac_gid",
        "ac_ppid",
        "ac_tgid",
        "ac_btime",
        "ac_btime64",
        "ac_nice",
        "ac_sched",
        "ac_exe_dev",
        "ac_exe_inode",
    ):
        if name in names and not getattr(group, name):
            changes[name] = getattr(leader, name)
    for name in (
        "read_bytes",
        "write_bytes",
        "cancelled_write_bytes",
        "read_char",
        "write_char",
        "read_syscalls",
        "write_syscalls",
        "ac_minflt",
        "ac_majflt",
    ):
        if name in names and not getattr(group, name):
            changes[name] = sum(getattr(r, name) or 0 for r in threads)
    for name in ("hiwater_rss", "hiwater_vm"):
        if name in names and not getattr(group, name):
            changes[name] = max(getattr(r, name) or 0 for r in threads)
    return group.replace(**changes)


def record_json(
    t: TaskStats,
    *,
    kind: str,
    task_id: int,
    backend: str,
    extra: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """A record as a JSON-ready dict.

    Keys: ``type`` ("pid" or "tgid"), ``id``, ``backend``, ``struct_version``, every field of
    the record's version under the kernel's name and unit (``*_delay_max_ts`` in ns since the
    epoch), and ``<kind>_delay_average_ms`` for every delay kind the version has (getdelays'
    ``delay average``, unrounded). ``extra`` is merged in last.
    """
    data: dict[str, object] = {
        "type": kind.lower(),
        "id": task_id,
        "backend": backend,
        "struct_version": t.version,
    }
    if t.unknown_version:
        data["struct_version_unknown"] = True
    fields = t.as_dict()
    data.update(fields)
    for kind_name, _ in DELAY_KINDS:
        count_name = "cpu_count" if kind_name == "cpu" else f"{kind_name}_count"
        if count_name in fields:
            data[f"{kind_name}_delay_average_ms"] = delay_average_ms(
                getattr(t, f"{kind_name}_delay_total"), getattr(t, count_name)
            )
    if extra:
        data.update(extra)
    return data


def cgroup_json(
    c: CgroupStats, *, path: str, backend: str, struct_version: int | None
) -> dict[str, object]:
    """cgroupstats as a JSON-ready dict with the kernel's field names."""
    return {
        "type": "cgroup",
        "path": path,
        "backend": backend,
        "struct_version": struct_version,
        **c._asdict(),
    }
