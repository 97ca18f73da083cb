"""Numbers and names for people: sizes, rates, percentages, durations, users, commands.

Shared by ``tsmon batch``, ``tsmon report`` and the TUI. Every formatter takes the value in the
unit the core hands out (bytes, bytes per second, ns, µs, seconds, a wait status) and renders
``None`` as ``NA``. Nothing here imports Rich or Textual (markup escaping belongs to the TUI),
and humanize is imported only by the two functions that use it, so the command-line paths
start fast.

Stable names, for the TUI and anyone else:
``NA``, ``human_size``, ``format_bytes``, ``format_rate``, ``format_percent``, ``format_ns``,
``format_ms``, ``format_duration``, ``format_count``, ``format_number``, ``format_clock``,
``format_timestamp``, ``format_wall_ns``, ``format_exit``, ``ioprio_string``, ``user_name``,
``sanitize``, ``sanitize_cmdline``, ``format_command``, ``natural_size``, ``natural_delta``.
"""

from __future__ import annotations

import math
import signal as _signal
import time

__all__ = [
    "NA",
    "format_bytes",
    "format_clock",
    "format_command",
    "format_count",
    "format_duration",
    "format_exit",
    "format_ms",
    "format_ns",
    "format_number",
    "format_percent",
    "format_rate",
    "format_timestamp",
    "format_wall_ns",
    "human_size",
    "ioprio_string",
    "natural_delta",
    "natural_size",
    "sanitize",
    "sanitize_cmdline",
    "user_name",
]

#: What a figure that cannot be known (no baseline, no privilege, field absent) shows.
NA = "N/A"

_UNITS = ("B", "K", "M", "G", "T", "P", "E")


def human_size(size: float) -> str:
    """iotop's human_size: two decimals and a binary unit letter (``0.00 B``, ``1.50 M``).

    The unit is the largest in which the value is at least 2 (iotop's rule): 1536 prints
    ``1536.00 B`` and 2048 prints ``2.00 K``.
    """
    if size == 0:
        return "0.00 B"
    sign = "-" if size < 0 else ""
    size = abs(size)
    expo = min(len(_UNITS) - 1, max(0, int(math.log2(size / 2) / 10))) if size >= 2 else 0
    return f"{sign}{size / (1 << (10 * expo)):.2f} {_UNITS[expo]}"


def format_bytes(size: float | None, *, kilobytes: bool = False) -> str:
    """An amount of bytes as iotop shows it (``-k``: always in K)."""
    if size is None:
        return NA
    if kilobytes:
        return f"{size / 1024.0:.2f} K"
    return human_size(size)


def format_rate(bytes_per_s: float | None, *, kilobytes: bool = False) -> str:
    """A byte rate as iotop shows it: ``12.34 K/s``, ``0.00 B/s`` (``-k``: always K/s)."""
    if bytes_per_s is None:
        return NA
    return format_bytes(bytes_per_s, kilobytes=kilobytes) + "/s"


def format_percent(pct: float | None, *, cap: float | None = 99.99) -> str:
    """A percentage as iotop shows it: ``12.34 %``, capped at 99.99 like iotop by default."""
    if pct is None:
        return NA
    if cap is not None:
        pct = min(pct, cap)
    return f"{pct:.2f} %"


def format_ns(ns: float | None) -> str:
    """A duration given in ns, in the unit that keeps 3 significant digits.

    ``850 ns``, ``12.3 µs``, ``4.56 ms``, ``1.23 s``, then ``2m03s``, ``1h02m``, ``3d04h``.
    """
    if ns is None:
        return NA
    if ns < 0:
        return "-" + format_ns(-ns)
    if ns < 1_000:
        return f"{ns:.0f} ns"
    if ns < 1_000_000:
        return f"{_sig3(ns / 1_000)} µs"
    if ns < 1_000_000_000:
        return f"{_sig3(ns / 1_000_000)} ms"
    return format_duration(ns / 1_000_000_000)


def _sig3(value: float) -> str:
    """Three significant digits for 1 <= value < 1000 (``1.23``, ``12.3``, ``123``)."""
    if value < 9.995:
        return f"{value:.2f}"
    if value < 99.95:
        return f"{value:.1f}"
    return f"{value:.0f}"


def format_ms(ns: float | None, digits: int = 3) -> str:
    """A duration given in ns as milliseconds with fixed decimals, getdelays style (``0.065ms``)."""
    if ns is None:
        return NA
    return f"{ns / 1_000_000:.{digits}f}ms"


def format_duration(seconds: float | None) -> str:
    """A span of seconds: ``0.25 s``, ``12.3 s``, ``2m03s``, ``1h02m``, ``3d04h``."""
    if seconds is None:
        return NA
    if seconds < 0:
        return "-" + format_duration(-seconds)
    if seconds < 60:
        return (_sig3(seconds) if seconds >= 1 else f"{seconds:.2f}") + " s"
    whole = int(seconds)
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def format_count(count: float | None) -> str:
    """A count compactly: ``950``, ``12.3k``, ``4.56M``, ``7.89G``."""
    if count is None:
        return NA
    value = float(count)
    if value < 0:
        return "-" + format_count(-value)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= limit:
            scaled = value / limit
            return (_sig3(scaled) if scaled < 1000 else f"{scaled:.0f}") + suffix
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


def format_number(value: float | None) -> str:
    """A count in full with thousands separators (``1,234,567``)."""
    if value is None:
        return NA
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"


def format_clock(t_wall: float | None) -> str:
    """Local wall-clock time of day, ``HH:MM:SS`` (iotop ``-t``)."""
    if t_wall is None:
        return NA
    return time.strftime("%H:%M:%S", time.localtime(t_wall))


def format_timestamp(t_wall: float | None) -> str:
    """Local date and time, ``YYYY-MM-DDTHH:MM:SS`` (getdelays' timestamp format)."""
    if not t_wall:
        return NA
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t_wall))
    except (OverflowError, OSError, ValueError):
        return NA


def format_wall_ns(ns: int | None) -> str:
    """A wall-clock time in ns since the epoch (``*_delay_max_ts``); 0 means never: ``NA``."""
    if not ns:
        return NA
    return format_timestamp(ns / 1_000_000_000)


def format_exit(status: int | None) -> str:
    """A wait status (``ac_exitcode``) for people: ``exit 0``, ``exit 3``, ``SIGKILL``.

    A core dump adds `` (core)``.
    """
    if status is None:
        return NA
    sig = status & 0x7F
    if not sig:
        return f"exit {(status >> 8) & 0xFF}"
    try:
        name = _signal.Signals(sig).name
    except ValueError:
        name = f"signal {sig}"
    return name + (" (core)" if status & 0x80 else "")


_IOPRIO_CLASSES = {1: "rt", 2: "be", 3: "idle"}
_SCHED_FIFO, _SCHED_RR, _SCHED_IDLE = 1, 2, 5


def ioprio_string(ioprio: int | None, nice: int | None = 0, policy: int | None = 0) -> str:
    """An I/O priority as iotop shows it: ``be/4``, ``rt/0``, ``idle``.

    ``ioprio`` is what ioprio_get(2) returned (None when unknown); a task with no class of its
    own gets the one the kernel derives from its scheduling policy and nice value (iotop's
    rule: ``be/((nice + 20) // 5)``, ``rt/...`` for FIFO/RR, ``idle`` for SCHED_IDLE).
    """
    if ioprio is not None and ioprio >= 0:
        klass = _IOPRIO_CLASSES.get(ioprio >> 13)
        if klass == "idle":
            return "idle"
        if klass is not None:
            return f"{klass}/{ioprio & 0x1FFF}"
    level = (max(-20, min(19, nice or 0)) + 20) // 5
    if policy in (_SCHED_FIFO, _SCHED_RR):
        return f"rt/{level}"
    if policy == _SCHED_IDLE:
        return "idle"
    return f"be/{level}"


_users: dict[int, str] = {}


def user_name(uid: int | None) -> str:
    """The login name of a uid (cached), the number when it has none, ``NA`` for None."""
    if uid is None:
        return NA
    name = _users.get(uid)
    if name is None:
        import pwd

        try:
            name = sanitize(pwd.getpwuid(uid).pw_name)
        except (KeyError, OverflowError):
            name = str(uid)
        if len(_users) > 4096:
            _users.clear()
        _users[uid] = name
    return name


# C0 controls, DEL and C1 controls, plus the Unicode line and paragraph separators and the
# bidirectional overrides: nothing that can move the cursor or reorder what follows.
_CONTROL = dict.fromkeys(
    [
        *range(0x20),
        *range(0x7F, 0xA0),
        0x2028,
        0x2029,
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
    ]
)
_SPACES = dict.fromkeys([0x00, 0x09, 0x0A, 0x0B, 0x0C, 0x0D], " ")


def sanitize(text: str | bytes | None) -> str:
    """Untrusted text (a name, a path, an argument) with every control character removed."""
    if text is None:
        return ""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "replace")
    return text.translate(_CONTROL)


def sanitize_cmdline(raw: str | bytes | None) -> str:
    """A command line from /proc (NUL-separated, or already joined) safe to print on one line.

    NULs, tabs and newlines become spaces, other control characters are removed, and trailing
    separators are dropped.
    """
    if raw is None:
        return ""
    if isinstance(raw, (bytes, bytearray)):
        raw = bytes(raw).decode("utf-8", "replace")
    return raw.translate(_SPACES).translate(_CONTROL).strip()


def format_command(cmdline: str | None, comm: str, *, thread_name: str | None = None) -> str:
    """A COMMAND cell as iotop builds it, sanitised.

    The command line with the directory of its first word removed; ``[comm]`` when there is
    none (a kernel thread); `` [thread name]`` appended when a thread's name differs from its
    process's.
    """
    text = sanitize_cmdline(cmdline)
    if not text:
        text = f"[{sanitize(comm)}]" if comm else "{no name}"
    else:
        first, sep, rest = text.partition(" ")
        if first.startswith("/"):
            text = first.rsplit("/", 1)[1] + sep + rest
    if thread_name:
        text += f" [{sanitize(thread_name)}]"
    return text


def natural_size(size: float | None) -> str:
    """A size for reading rather than aligning (``1.2 MiB``), through humanize."""
    if size is None:
        return NA
    import humanize

    return str(humanize.naturalsize(size, binary=True))


def natural_delta(seconds: float | None) -> str:
    """An age for reading (``3 minutes``), through humanize."""
    if seconds is None:
        return NA
    import datetime

    import humanize

    return str(humanize.naturaldelta(datetime.timedelta(seconds=seconds)))
